#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The README's commands set themselves up: on a fresh clone "make check",
# "make demo", "make bench" and "make deb" must install their Debian
# packages (scripts/deps.sh) before anything else runs.  Checked on make's dry run,
# so nothing is built or installed here.
. tests/lib/tap.sh
set -uo pipefail

for target in check demo bench deb; do
	first=$(make -n --no-print-directory "$target" 2>/dev/null |
		grep -v '^make' | head -n 1)
	if [[ $first == "scripts/deps.sh" ]]; then
		tap_line "ok - deps.$target.installs_first"
	else
		tap_line "not ok - deps.$target.installs_first: first step is '${first:-nothing}'"
	fi
done
# .ci/run stays a thin wrapper: make check is what sets things up.
if grep -v '^[[:space:]]*#' .ci/run | grep -q 'deps.sh'; then
	tap_line "not ok - deps.ci_run_thin: .ci/run calls scripts/deps.sh itself"
else
	tap_line "ok - deps.ci_run_thin"
fi
tap_plan

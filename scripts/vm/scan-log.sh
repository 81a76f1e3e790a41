#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# scan-log.sh LOG
#
# Look for signs of kernel trouble in a guest serial log.  Prints each
# offending line as "<line number>: <text>" and exits 1 if there is any,
# 0 if the log is clean, 2 on usage errors.
#
# Lines written by the guest's /init start with "@@ZCRX@@ " (its frames
# and, behind "@@ZCRX@@ |", every line a test prints) or "# " (its notes);
# a test is allowed to talk about "WARNING:" or "Oops" without failing the
# run, so those lines are never inspected.
set -euo pipefail

if [[ $# -ne 1 || ! -r $1 ]]; then
	echo "usage: $0 LOG (a readable guest serial log)" >&2
	exit 2
fi
log=$1

# Markers printed by the kernel for warnings, bugs, oopses, panics, the
# sanitizers, lockdep, the hung-task detector and kmemleak.  Matched
# case-sensitively: "kasan: KernelAddressSanitizer initialized" at boot is
# lower case and harmless.
markers='WARNING:|BUG:|Oops|cut here|Kernel panic|KASAN|UBSAN'
markers+='|possible circular locking|INFO: task .* blocked'
markers+='|kmemleak|general protection fault|Call Trace:'

# kmemleak announces itself at boot on debug kernels (only visible with a
# raised loglevel); those two lines are not leak reports.
benign='kmemleak: Kernel memory leak detector initialized'
benign+='|kmemleak: Automatic memory scanning thread started'

# Serial logs may carry CRs; strip them so "^# " still matches.
hits=$(tr -d '\r' <"$log" |
	grep -naE -- "$markers" |
	grep -vaE -- '^[0-9]+:(@@ZCRX@@ |# )' |
	grep -vaE -- "$benign" || true)

if [[ -n $hits ]]; then
	printf '%s\n' "$hits"
	exit 1
fi
exit 0

# SPDX-License-Identifier: MIT
# TAP for the shell tests, sourced by them (tests/unit/*.sh from the repo
# top, tests/guest/*.sh as /tests/lib/tap.sh):
#   tap_line "ok - group.name"   print one result line and count it
#   tap_plan                     at the end: the plan, "1..N"
# A script that stops early prints no plan, and check.sh reports it.  The
# count lives in a file, so results printed by subshells, pipelines and
# background jobs count too; an inner script run with TAP_COUNT set adds
# to its caller's count and leaves the plan to it.
if [ -z "${TAP_COUNT:-}" ]; then
	TAP_COUNT=$(mktemp "${TMPDIR:-/tmp}/tap.XXXXXX") || TAP_COUNT=/dev/null
	export TAP_COUNT
fi
tap_line() { printf . >>"$TAP_COUNT"; printf '%s\n' "$*"; }
tap_plan() {
	printf '1..%s\n' "$(($(wc -c <"$TAP_COUNT")))"
	[ "$TAP_COUNT" = /dev/null ] || rm -f "$TAP_COUNT"
}

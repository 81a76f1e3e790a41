#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The one parser of test output, scripts/check.sh's, fed canned guest logs
# (scripts/check.sh --parse-log): what /init forwards must come out as the
# right PASS/FAIL/SKIP lines, a crashed, timed-out or cut-off program and a
# missing or wrong plan as FAILs, and the summary must count them.  Run
# from the repo top.
. tests/lib/tap.sh
set -uo pipefail

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
M=@@ZCRX@@

# expect NAME LOG WANT: parsing LOG must print exactly the lines WANT
# (PASS/FAIL/SKIP lines and the summary; "# " notes left out).
expect() {
	local name=$1 log=$2 want=$3 got
	printf '%s\n' "$log" >"$tmp/$name.log"
	got=$(scripts/check.sh --parse-log k "$tmp/$name.log" 2>&1 | grep -v '^# ')
	if [[ $got == "$want" ]]; then
		tap_line "ok - check.$name"
	else
		tap_line "not ok - check.$name: got [$(tr '\n' '|' <<<"$got")] want [$(tr '\n' '|' <<<"$want")]"
	fi
}

expect passing "[    1.0] kernel noise outside
$M BEGIN t_a
ok - a.one
# a diagnostic
[    2.5] a kernel line inside
ok - a.two # SKIP no such thing
1..2

$M END t_a 0 0.52 300
$M DONE" "PASS  k  a.one
SKIP  k  a.two  no such thing
1 passed, 0 failed, 1 skipped"

expect not_ok_reported "$M BEGIN t_b
ok - b.one
not ok - b.two: 3 of 4 wrong
not ok - b.three
1..3
$M END t_b 1 0.10 300
$M DONE" "PASS  k  b.one
FAIL  k  b.two  3 of 4 wrong
FAIL  k  b.three  (no reason given)
1 passed, 2 failed, 0 skipped"

# Crashed: non-zero status, no failed check, no plan.
expect crash_without_plan "$M BEGIN t_c
ok - c.one
$M END t_c 139 1.00 300
$M DONE" "PASS  k  c.one
FAIL  k  t_c.exit  status=139
1 passed, 1 failed, 0 skipped"

# A failed check, then a crash: the missing plan says it stopped.
expect crash_after_not_ok "$M BEGIN t_d
not ok - d.one: bad
$M END t_d 134 1.00 300
$M DONE" "FAIL  k  d.one  bad
FAIL  k  t_d.plan  no plan (1..N) after 1 results: stopped early
0 passed, 2 failed, 0 skipped"

expect exit_0_without_plan "$M BEGIN t_e
ok - e.one
$M END t_e 0 1.00 300
$M DONE" "PASS  k  e.one
FAIL  k  t_e.plan  no plan (1..N) after 1 results: stopped early
1 passed, 1 failed, 0 skipped"

expect wrong_plan "$M BEGIN t_f
ok - f.one
1..2
$M END t_f 0 1.00 300
$M DONE" "PASS  k  f.one
FAIL  k  t_f.plan  planned 2 (1 plans), 1 results
1 passed, 1 failed, 0 skipped"

expect no_results "$M BEGIN t_g
just talk
$M END t_g 0 1.00 300
$M DONE" "FAIL  k  t_g.no-results  exit status 0 but no result line
0 passed, 1 failed, 0 skipped"

# TERM at the timeout (busybox timeout: 128 + 15).
expect timed_out "$M BEGIN t_h
ok - h.one
$M END t_h 143 300.04 300
$M DONE" "PASS  k  h.one
FAIL  k  t_h.exit  status=143 (timed out after 300 s)
1 passed, 1 failed, 0 skipped"

# The guest died in the middle of a test: what came is counted, the test
# and the run fail.
expect guest_died "$M BEGIN t_i
ok - i.one
[   9.9] Kernel panic - not syncing: panic_on_warn set ..." "PASS  k  i.one
FAIL  k  t_i.exit  status=unknown (the guest stopped during the test)
FAIL  k  guest.completed  no @@ZCRX@@ DONE in $tmp/guest_died.log
1 passed, 2 failed, 0 skipped"

# A test that prints the markers itself cannot end its frame, nor the run.
expect markers_in_output "$M BEGIN t_j
ok - j.one
$M END t_other 0 0 0
$M DONE
1..1
$M END t_j 0 1.00 300
$M DONE" "PASS  k  j.one
1 passed, 0 failed, 0 skipped"

# /init's own checks are TAP of a test named init.
expect init_checks "$M BEGIN init
not ok - module.load: insmod: invalid module format
1..1
$M END init 0 0 0
$M DONE" "FAIL  k  module.load  insmod: invalid module format
0 passed, 1 failed, 0 skipped"

# CRs from the serial console are dropped.
expect carriage_returns "$M BEGIN t_k"$'\r'"
ok - k.one"$'\r'"
1..1"$'\r'"
$M END t_k 0 1.00 300"$'\r'"
$M DONE"$'\r' "PASS  k  k.one
1 passed, 0 failed, 0 skipped"

# The exit status of check.sh --parse-log: 1 when anything failed.
printf '%s\n' "$M BEGIN t_l" "not ok - l.one: x" "1..1" "$M END t_l 1 0 300" "$M DONE" >"$tmp/st.log"
scripts/check.sh --parse-log k "$tmp/st.log" >/dev/null 2>&1
st_fail=$?
printf '%s\n' "$M BEGIN t_l" "ok - l.one" "1..1" "$M END t_l 0 0 300" "$M DONE" >"$tmp/st.log"
scripts/check.sh --parse-log k "$tmp/st.log" >/dev/null 2>&1
st_pass=$?
if [[ $st_fail == 1 && $st_pass == 0 ]]; then
	tap_line "ok - check.parse_log_status"
else
	tap_line "not ok - check.parse_log_status: $st_fail with a failure, $st_pass without"
fi
tap_plan

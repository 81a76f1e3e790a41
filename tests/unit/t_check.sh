#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The one parser of test output, scripts/check.sh's, fed canned guest logs
# (scripts/check.sh --parse-log): what /init forwards must come out as the
# right PASS/FAIL/SKIP lines, a crashed, timed-out or cut-off program and a
# missing or wrong plan as FAILs, and the summary must count them; and
# scripts/vm/scan-log.sh must tell the kernel's lines from the tests'.
# Run from the repo top.
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
$M |ok - a.one
$M |# a diagnostic
[    2.5] a kernel line inside: ok - a.not_a_result
$M |ok - a.two # SKIP no such thing
$M |1..2
$M |
$M END t_a 0 0.52 300
$M DONE" "PASS  k  a.one
SKIP  k  a.two  no such thing
1 passed, 0 failed, 1 skipped"

expect not_ok_reported "$M BEGIN t_b
$M |ok - b.one
$M |not ok - b.two: 3 of 4 wrong
$M |not ok - b.three
$M |1..3
$M END t_b 1 0.10 300
$M DONE" "PASS  k  b.one
FAIL  k  b.two  3 of 4 wrong
FAIL  k  b.three  (no reason given)
1 passed, 2 failed, 0 skipped"

# Crashed: non-zero status, no failed check, no plan.
expect crash_without_plan "$M BEGIN t_c
$M |ok - c.one
$M END t_c 139 1.00 300
$M DONE" "PASS  k  c.one
FAIL  k  t_c.exit  status=139
1 passed, 1 failed, 0 skipped"

# A failed check, then a crash: the missing plan says it stopped.
expect crash_after_not_ok "$M BEGIN t_d
$M |not ok - d.one: bad
$M END t_d 134 1.00 300
$M DONE" "FAIL  k  d.one  bad
FAIL  k  t_d.plan  no plan (1..N) after 1 results: stopped early
0 passed, 2 failed, 0 skipped"

expect exit_0_without_plan "$M BEGIN t_e
$M |ok - e.one
$M END t_e 0 1.00 300
$M DONE" "PASS  k  e.one
FAIL  k  t_e.plan  no plan (1..N) after 1 results: stopped early
1 passed, 1 failed, 0 skipped"

expect wrong_plan "$M BEGIN t_f
$M |ok - f.one
$M |1..2
$M END t_f 0 1.00 300
$M DONE" "PASS  k  f.one
FAIL  k  t_f.plan  planned 2 (1 plans), 1 results
1 passed, 1 failed, 0 skipped"

expect no_results "$M BEGIN t_g
$M |just talk
$M END t_g 0 1.00 300
$M DONE" "FAIL  k  t_g.no-results  exit status 0 but no result line
0 passed, 1 failed, 0 skipped"

# TERM at the timeout (busybox timeout: 128 + 15).
expect timed_out "$M BEGIN t_h
$M |ok - h.one
$M END t_h 143 300.04 300
$M DONE" "PASS  k  h.one
FAIL  k  t_h.exit  status=143 (timed out after 300 s)
1 passed, 1 failed, 0 skipped"

# The guest died in the middle of a test: what came is counted, the test
# and the run fail.
expect guest_died "$M BEGIN t_i
$M |ok - i.one
[   9.9] Kernel panic - not syncing: panic_on_warn set ..." "PASS  k  i.one
FAIL  k  t_i.exit  status=unknown (the guest stopped during the test)
FAIL  k  guest.completed  no @@ZCRX@@ DONE in $tmp/guest_died.log
1 passed, 2 failed, 0 skipped"

# /init lost the status: a failure even after a plan.
expect status_unknown "$M BEGIN t_m
$M |ok - m.one
$M |1..1
$M END t_m unknown 1.00 300
$M DONE" "PASS  k  m.one
FAIL  k  t_m.exit  status=unknown
1 passed, 1 failed, 0 skipped"

# A test that prints the markers itself cannot end its frame, nor the run.
expect markers_in_output "$M BEGIN t_j
$M |ok - j.one
$M |$M END t_j 0 0 0
$M |$M DONE
$M |1..1
$M END t_j 0 1.00 300" "PASS  k  j.one
FAIL  k  guest.completed  no @@ZCRX@@ DONE in $tmp/markers_in_output.log
1 passed, 1 failed, 0 skipped"

# /init's own checks are TAP of a test named init.
expect init_checks "$M BEGIN init
$M |not ok - module.load: insmod: invalid module format
$M |1..1
$M END init 0 0 0
$M DONE" "FAIL  k  module.load  insmod: invalid module format
0 passed, 1 failed, 0 skipped"

# CRs from the serial console are dropped.
expect carriage_returns "$M BEGIN t_k"$'\r'"
$M |ok - k.one"$'\r'"
$M |1..1"$'\r'"
$M END t_k 0 1.00 300"$'\r'"
$M DONE"$'\r' "PASS  k  k.one
1 passed, 0 failed, 0 skipped"

# scan-log.sh: what a test prints may name kernel trouble ("ok -
# kernel.kmemleak"); the kernel's own lines, inside a frame too, count.
printf '%s\n' "$M BEGIN t_n" "$M |ok - kernel.kmemleak" "$M |# WARNING: talk" \
	"$M |1..1" "$M END t_n 0 1 300" >"$tmp/scan.log"
scripts/vm/scan-log.sh "$tmp/scan.log" >/dev/null
st_talk=$?
printf '%s\n' "$M BEGIN t_n" "$M |ok - n.one" "WARNING: CPU: 1 PID: 77 at mm/x.c:1" \
	"$M |1..1" "$M END t_n 0 1 300" >"$tmp/scan.log"
scripts/vm/scan-log.sh "$tmp/scan.log" >/dev/null
st_warn=$?
if [[ $st_talk == 0 && $st_warn == 1 ]]; then
	tap_line "ok - check.scan_log_kernel_lines_only"
else
	tap_line "not ok - check.scan_log_kernel_lines_only: $st_talk for a test's text, $st_warn for a kernel WARNING"
fi

# The exit status of check.sh --parse-log: 1 when anything failed.
printf '%s\n' "$M BEGIN t_l" "$M |not ok - l.one: x" "$M |1..1" "$M END t_l 1 0 300" "$M DONE" >"$tmp/st.log"
scripts/check.sh --parse-log k "$tmp/st.log" >/dev/null 2>&1
st_fail=$?
printf '%s\n' "$M BEGIN t_l" "$M |ok - l.one" "$M |1..1" "$M END t_l 0 0 300" "$M DONE" >"$tmp/st.log"
scripts/check.sh --parse-log k "$tmp/st.log" >/dev/null 2>&1
st_pass=$?
if [[ $st_fail == 1 && $st_pass == 0 ]]; then
	tap_line "ok - check.parse_log_status"
else
	tap_line "not ok - check.parse_log_status: $st_fail with a failure, $st_pass without"
fi
tap_plan

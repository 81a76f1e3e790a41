#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# scripts/bench-report.py (what "make bench" aggregates its log with), fed
# a small canned guest log and its host monitor: three runs per cell, one
# of them failed and one during which the host was busy.  The figures it
# writes must be the ones worked out by hand here: medians of odd and even
# counts, the failed run counted and left out, paired ratios (not ratios of
# medians) in both targets tables, the quiet-run medians without the busy
# run, the zero-copy rows in zc-*.csv with a sender column, and an exit
# status that says a run failed.  Run from the repo top; no guest is booted.
. tests/lib/tap.sh
set -uo pipefail

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { tap_line "ok - bench_report.$1"; }
nok() { tap_line "not ok - bench_report.$1: $2"; }
# check NAME GOT WANT
check() {
	if [[ $2 == "$3" ]]; then ok "$1"; else nok "$1" "got [$2] want [$3]"; fi
}

# --- The fixture -------------------------------------------------------------------
# Every run moves 1 GiB in 2 s, so per-GiB figures are the raw ones.  The
# monitor has a sample 10 s after the one before, after each run: the host's
# other work is (busy - QEMU) / (10 s x 2 CPUs), 0% but for BUSY runs (50%).
log=$tmp/guest.log
mon=$log.monitor
hdr=link,wsize,conns,method,run,bytes,secs,mbps,guest_cpu,guest_user,guest_sys,guest_irq,guest_ticks,rx_core,rx_cpu,syscalls,copied,zerocopy,bad,extra,status
n=0 t=0 b=0 q=0
printf '%s\r\n' "@@ZCRX@@ |# BENCHINFO kernel=6.12.0-test" "@@ZCRX@@ |# BENCHINFO runs=3" \
	"@@ZCRX@@ |# BENCHINFO mem_kib=2048000" "@@ZCRX@@ |# BENCHINFO lo_mtu=61492" \
	"@@ZCRX@@ |# BENCHHDR $hdr" "@@ZCRX@@ |# BENCHMEM 1,2000.0,700.0,15000.0" \
	"@@ZCRX@@ |# warm-up: lo,64k,1,recv,0,1,1,1,1,0,1,0,1,1,1,1,1,0,0,-,ok" >"$log"
echo "0 0 0 0" >"$mon"
# run LINK WSIZE CONNS METHOD RUN MBPS CPU SYSCALLS [STATUS [BUSY [EXTRA]]]
run() {
	local zc=0 other=0
	[[ ${11:--} == *mapped=* ]] && zc=536870912
	[[ ${10:-ok} == busy ]] && other=10
	printf '@@ZCRX@@ |# BENCHCSV %s,%s,%s,%s,%s,1073741824,2.0000,%s,%s,0.1,%s,0.1,%s,%s,%s,%s,%s,%s,0,%s,%s\r\n' \
		"$1" "$2" "$3" "$4" "$5" "$6" "$7" "$7" "$7" "$7" "$7" "$8" \
		$((1073741824 - zc)) "$zc" "${11:--}" "${9:-ok}" >>"$log"
	n=$((n + 1)) t=$((t + 10)) q=$((q + 5))
	b=$((b + 5 + other))
	echo "$t $b $q $n" >>"$mon"
}
for r in 1 2 3; do
	# lo 64k 1: recv's MB/s 100/900/200 (median 200, mean 400); zcrx-poll's
	# CPU over recv's, run by run: 0.5/1 0.9/2... -> 0.5, 0.9, 0.3: median
	# 0.50, where the ratio of the medians would be 1.2/2 = 0.60.
	run lo 64k 1 recv $r "$(cut -d' ' -f$r <<<'100 900 200')" "$(cut -d' ' -f$r <<<'1 2 4')" 1000
	busy=ok
	[[ $r == 2 ]] && busy=busy
	run lo 64k 1 zcrx-poll $r "$(cut -d' ' -f$r <<<'150 250 400')" "$(cut -d' ' -f$r <<<'0.5 1.8 1.2')" 5 ok $busy
	# epoll's run 2 fails: runs_ok 2, runs_failed 1, median of 110 and 130.
	st=ok
	[[ $r == 2 ]] && st=timeout
	run lo 64k 1 epoll $r "$(cut -d' ' -f$r <<<'110 5000 130')" 1 100 $st
	# The io_uring zero-copy issue's methods: zcrx-defer's MB/s over
	# iouzcrx-batch's 300/200 330/300 320/400 -> 1.5, 1.1, 0.8: median 1.10
	# (the ratio of the medians would be 320/300 = 1.07).
	run lo 64k 1 iouzcrx-batch $r "$(cut -d' ' -f$r <<<'200 300 400')" 1 10
	run lo 64k 1 zcrx-defer $r "$(cut -d' ' -f$r <<<'300 330 320')" 1 10
	run veth 4k 16 recv $r 50 8 100000
	# A NIC link: zcrx-defer's CPU over recv's 1/2 1.2/2 2/2: median 0.60 <= 0.8.
	run nic1500-split 64k 1 recv $r 400 2 1000
	run nic1500-split 64k 1 zcrx-defer $r 450 "$(cut -d' ' -f$r <<<'1 1.2 2')" 10
done
for r in 1 2 3; do	# the zero-copy paths: link lo@SENDER
	run lo@plain 64k 1 recv $r 300 3 1000
	run lo@plain 64k 1 zcrx-map $r 600 1.5 100 ok ok "polls=1;mapped=536870912;threshold=16384"
done
printf '%s\r\n' "@@ZCRX@@ |# BENCHINFO seconds=60" "@@ZCRX@@ DONE" >>"$log"

out=$tmp/out
scripts/bench-report.py -o "$out" --accel tcg --aggregate-only --host-cpus 2 "$log" \
	>"$tmp/stdout" 2>"$tmp/stderr"
rc=$?

# FIELD FILE KEY COLUMN: COLUMN of FILE's row that begins with KEY.
field() {
	awk -F, -v key="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		index($0, key ",") == 1 { print $col[c]; exit }' "$1" 2>/dev/null
}

# --- Outcomes ---------------------------------------------------------------------
check failed_run_exit_status "$rc" 3
check median_odd_count "$(field "$out/results.csv" lo,64k,1,recv mbps_med)" 200
check median_even_count "$(field "$out/results.csv" lo,64k,1,epoll mbps_med)" 120
check failed_run_counted \
	"$(field "$out/results.csv" lo,64k,1,epoll runs_ok)/$(field "$out/results.csv" lo,64k,1,epoll runs_failed)" 2/1
check failed_run_left_out "$(field "$out/results.csv" lo,64k,1,epoll mbps_max)" 130
check host_other_per_run \
	"$(field "$out/runs.csv" lo,64k,1,zcrx-poll,1 host_other_pct)/$(field "$out/runs.csv" lo,64k,1,zcrx-poll,2 host_other_pct)" 0/50
md=$out/results.md
got=$(grep -m1 '^| lo | 64k | 1 | ' <(sed -n '/^## The issue.s targets/,$p' "$md") | cut -d'|' -f5 | sed 's/^ //; s/ $//')
check paired_ratio_targets "$got" "0.50 (0.30-0.90) (<= 0.8) met"
iou=$(sed -n '/^## The targets against io_uring/,$p' "$md")
col=$(head -n 20 <<<"$iou" | grep -m1 '^| link ' | tr '|' '\n' | grep -n 'zcrx-defer MB/s vs iouzcrx-batch' | cut -d: -f1)
got=$(grep -m1 '^| lo | 64k | 1 | ' <<<"$iou" | cut -d'|' -f"${col:-99}" | sed 's/^ //; s/ $//')
check paired_ratio_iouzcrx_table "$got" "1.10 (0.80-1.50, n=3) met"
col=$(head -n 20 <<<"$iou" | grep -m1 '^| link ' | tr '|' '\n' | grep -n 'zcrx-defer CPU vs recv (<= 0.8, nic' | cut -d: -f1)
got=$(grep -m1 '^| nic1500-split | 64k | 1 | ' <<<"$iou" | cut -d'|' -f"${col:-99}" | sed 's/^ //; s/ $//')
check nic_rule "$got" "0.60 (0.50-1.00, n=3) met"
# zcrx-poll's MB/s of the quiet runs: 150 and 400 (run 2, 250, was busy).
quiet=$(sed -n '/^MB\/s, quiet runs:/,/^whole-guest CPU s\/GiB, quiet runs:/p' "$md" | grep '^| ')
col=$(head -n 1 <<<"$quiet" | tr '|' '\n' | grep -n '^ zcrx-poll $' | cut -d: -f1)
got=$(grep -m1 '^| lo | 64k | 1 | ' <<<"$quiet" | cut -d'|' -f"${col:-99}" | sed 's/^ //; s/ $//')
check quiet_runs_drop_busy "$got" "275 (2)"

check zc_runs_sender_column "$(head -n 1 "$out/zc-runs.csv" 2>/dev/null | cut -d, -f1-3)" link,sender,wsize
check zc_results_split "$(field "$out/zc-results.csv" lo,plain,64k,1,zcrx-map mapped_pct_med)" 50
if grep -qs '@' "$out/runs.csv" "$out/zc-runs.csv" "$out/zc-results.csv"; then
	nok zc_rows_not_in_runs "a lo@ row left: $(grep -s -m1 '@' "$out/runs.csv" "$out/zc-runs.csv" "$out/zc-results.csv")"
else
	ok zc_rows_not_in_runs
fi

# The nic link's senders ran on the host (LOG.tx): a nic run whose sender
# failed (recv run 2) or left no row (zcrx-defer run 3) failed; the others
# show their sender's CPU per GiB (0.25 + 0.05 s for 1 GiB).
grep -v ',timeout' "$log" >"$tmp/nic.log"
cp "$mon" "$tmp/nic.log.monitor"
for r in 1 2 3; do
	echo "nic1500-split,64k,1,recv,$r,$([[ $r == 2 ]] && echo 1 || echo 0),2.1,0.25,0.05,1"
	[[ $r == 3 ]] || echo "nic1500-split,64k,1,zcrx-defer,$r,0,2.1,0.25,0.05,1"
done >"$tmp/nic.log.tx"
scripts/bench-report.py -o "$tmp/nic" --host-cpus 2 "$tmp/nic.log" >/dev/null 2>&1
rc=$?
check nic_sender_failed_run \
	"$rc:$(field "$tmp/nic/results.csv" nic1500-split,64k,1,recv runs_failed)/$(field "$tmp/nic/results.csv" nic1500-split,64k,1,zcrx-defer runs_failed)" 3:1/1
got=$(grep -m1 '^| nic1500-split | 64k | 1 | recv | ' "$tmp/nic/results.md" | cut -d'|' -f8 | sed 's/^ //; s/ $//')
check nic_sender_cpu "$(head -c 9 "$tmp/nic/tx.csv")/$got" "link,wsiz/0.30"

# Without the failed run: status 0; bench.sh --aggregate: status 1 with it.
grep -v ',timeout' "$log" >"$tmp/clean.log"
scripts/bench-report.py -o "$tmp/clean" --host-cpus 2 "$tmp/clean.log" >/dev/null 2>&1
check clean_exit_status "$?" 0
BENCH_OUT=$tmp/sh scripts/bench.sh --aggregate "$log" >/dev/null 2>&1
rc_sh=$?
BENCH_OUT=$tmp/sh-clean scripts/bench.sh --aggregate "$tmp/clean.log" >/dev/null 2>&1
check bench_sh_aggregate_status "$rc_sh/$?" 1/0
tap_plan

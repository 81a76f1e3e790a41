#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# check.sh: the whole test run behind "make check".
#
# Expects "make lib tests" to have built build/tests/unit/t_* (host unit
# tests) and build/tests/guest/ (guest test programs and t_*.sh scripts).
#   1. Runs the host unit tests.
#   2. For each kernel release from scripts/vm/kernels.sh: builds zcrx.ko
#      against that release's headers, packs an initramfs with the guest
#      tests, boots it under QEMU, parses the tests' output the guest's /init
#      forwards, then scans the serial log for kernel warnings.
#   The one parser of test output (TAP, tests/lib/tap.h) is tap_parse()
#   below, for host and guest tests alike: a result line per check, a plan
#   "1..N" at the end; a program that exits non-zero without a failed
#   check (crashed, timed out), that says nothing, or whose plan is missing
#   or wrong, fails too.
#   3. Prints one line per result:
#        PASS  <kernel>  <group.name>
#        FAIL  <kernel>  <group.name>  <reason>
#        SKIP  <kernel>  <group.name>  <reason>
#      ("host" is the kernel column of host tests) and ends with
#        N passed, N failed, N skipped
#      Exit status 1 if anything failed.
#
# Environment:
#   ZCRX_KERNELS="rel ..."  test only these Debian releases (no debug kernel)
#   ZCRX_DEBUG_KERNEL=0|only skip the debug kernel, or test only it
#   ZCRX_TESTS="t_a t_b"    run only these guest tests (the host test t_dkms
#                           runs only if named)
#   ZCRX_TEST_TIMEOUT=N     default per-test timeout in the guest (300 s)
#   ZCRX_GUEST_TIMEOUT=N    limit for one whole guest run (1200 s; the
#                           debug kernel's 2400 s)
#   ZCRX_CHECK_BUDGET=N     the whole run's limit (5100 s): no guest runs
#                           past it, so the summary comes within CI's 90
#                           minutes even when guests hang
#   ZCRX_APPEND="..."       extra kernel command line parameters
#   V=1                     show build commands, test diagnostics, guest log
#
# scripts/check.sh --parse-log KERNEL LOG parses one guest's serial log
# only: its result lines, whether it finished, the summary (the host test
# t_check.sh feeds it canned logs; dkms-test.sh, demo.sh and bench.sh read
# their guests' results this way).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
vm=scripts/vm
cache=${ZCRX_CACHE:-$HOME/.cache/zcrx}/kernels
verbose=${V:-0}
host_test_timeout=300
started=$SECONDS
check_budget=${ZCRX_CHECK_BUDGET:-5100}
guest_tmo=0	# this guest's limit (run_kernel)

npass=0 nfail=0 nskip=0
summarised=0

# report STATUS KERNEL NAME [REASON]: print one result line and count it.
report() {
	local status=$1 kernel=$2 name=$3 reason=${4:-}
	case $status in
	PASS) npass=$((npass + 1)); printf 'PASS  %s  %s\n' "$kernel" "$name" ;;
	FAIL) nfail=$((nfail + 1)); printf 'FAIL  %s  %s  %s\n' "$kernel" "$name" "${reason:-(no reason given)}" ;;
	SKIP) nskip=$((nskip + 1)); printf 'SKIP  %s  %s  %s\n' "$kernel" "$name" "$reason" ;;
	*) echo "check.sh: bad status '$status'" >&2; exit 2 ;;
	esac
}

# Indent a block of diagnostic text as "# " lines.
diag() { sed "/^# /!s/^/# /"; }

# --- Test output ---------------------------------------------------------------

# tap_parse KERNEL PROG STATUS NOTE SHOW <OUTPUT: the output of test
# program PROG, which exited with STATUS (empty: unknown), into result
# lines.  NOTE is added to the reason of a failed exit ("(timed out ...)");
# SHOW=1 prints the diagnostics (the lines that are no result) as "# ".
#   ok - group.name              PASS
#   ok - group.name # SKIP why   SKIP
#   not ok - group.name: why     FAIL
#   1..N                         the plan: N results, printed last
# and a program fails on its own (PROG.exit, PROG.no-results, PROG.plan)
# when it exits non-zero without a failed check, exits 0 without a result,
# or prints no plan or a wrong one.
tap_parse() {
	local kernel=$1 prog=$2 rc=$3 note=$4 show=$5
	local line body why n_res=0 n_fail=0 plan= plans=0 other= failed_self=0
	while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		"ok - "*" # SKIP"*)
			body=${line#ok - }
			why=${body#* # SKIP}
			report SKIP "$kernel" "${body%% # SKIP*}" "${why# }"
			n_res=$((n_res + 1)) ;;
		"ok - "*)
			report PASS "$kernel" "${line#ok - }"
			n_res=$((n_res + 1)) ;;
		"not ok - "*)
			body=${line#not ok - }
			if [[ $body == *": "* ]]; then
				report FAIL "$kernel" "${body%%: *}" "${body#*: }"
			else
				report FAIL "$kernel" "$body"
			fi
			n_res=$((n_res + 1)) n_fail=$((n_fail + 1)) ;;
		1..*)
			if [[ ${line#1..} =~ ^[0-9]+$ ]]; then
				plan=${line#1..} plans=$((plans + 1))
			else
				other+="$line"$'\n'
			fi ;;
		*) other+="$line"$'\n' ;;
		esac
	done

	if [[ $rc != 0 && $n_fail -eq 0 ]]; then
		report FAIL "$kernel" "$prog.exit" "status=${rc:-unknown}$note"
		failed_self=1
	elif [[ $rc == 0 && $n_res -eq 0 ]]; then
		report FAIL "$kernel" "$prog.no-results" "exit status 0 but no result line"
		failed_self=1
	fi
	if [[ $plans -eq 0 ]]; then
		# A crash already said so; after a failed check it did not.
		[[ $failed_self == 1 ]] ||
			report FAIL "$kernel" "$prog.plan" "no plan (1..N) after $n_res results: stopped early"
	elif [[ $plans -gt 1 || $plan != "$n_res" ]]; then
		report FAIL "$kernel" "$prog.plan" "planned $plan ($plans plans), $n_res results"
	fi
	# Diagnostics are noise when all went well.
	if [[ -n ${other//$'\n'/} ]] && [[ $show == 1 ]]; then
		printf '%s' "$other" | diag
	fi
}

# parse_guest_log KERNEL LOG: the results of one guest run.  /init frames
# each test's output, every line behind "@@ZCRX@@ |" (tests/guest/init):
#   @@ZCRX@@ BEGIN <name>
#   @@ZCRX@@ |<a line the test printed>
#   @@ZCRX@@ END <name> <status> <seconds> <timeout>
# and ends with "@@ZCRX@@ DONE" (sets finished=1).  Other lines (the
# kernel's, /init's own "# " notes) are no test's output.
parse_guest_log() {
	local kernel=$1 log=$2 line name= out= in=0 ename rc took tmo note
	finished=0
	while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		"@@ZCRX@@ |"*)
			if [[ $in == 1 ]]; then out+="${line#"@@ZCRX@@ |"}"$'\n'; fi ;;
		"@@ZCRX@@ BEGIN "*)
			if [[ $in == 1 ]]; then	# no footer: say so
				tap_parse "$kernel" "$name" "" " (no end: output lost)" 0 <<<"$out"
			fi
			name=${line#"@@ZCRX@@ BEGIN "} out= in=1 ;;
		"@@ZCRX@@ END "*)
			read -r ename rc took tmo <<<"${line#"@@ZCRX@@ END "}"
			if [[ $in == 1 && $ename != "$name" ]]; then
				tap_parse "$kernel" "$name" "" " (no end: output lost)" 0 <<<"$out"
				in=0
			fi
			# A footer without its header: the output was lost.
			[[ $in == 1 ]] || out=
			# TERM at the timeout: status 128 + 15 after tmo seconds.
			note=
			if [[ $rc =~ ^[0-9]+$ && $rc -ge 128 && $took =~ ^[0-9.]+$ &&
			      $tmo =~ ^[0-9]+$ && $tmo -gt 0 ]] &&
			   awk -v t="$took" -v m="$tmo" 'BEGIN { exit !(t >= m) }'; then
				note=" (timed out after $tmo s)"
			fi
			[[ $rc != unknown ]] || rc=
			tap_parse "$kernel" "$ename" "$rc" "$note" 0 <<<"$out"
			in=0 name= out= ;;
		"@@ZCRX@@ DONE")
			finished=1 ;;
		esac
	done <"$log"
	if [[ $in == 1 ]]; then
		tap_parse "$kernel" "$name" "" " (the guest stopped during the test)" 0 <<<"$out"
	fi
	return 0
}

# --- Host unit tests ----------------------------------------------------------

run_host_test() {
	local prog=$1 name out rc=0 note=
	name=$(basename "$prog")
	out=$(timeout -k 10 "$host_test_timeout" "$prog" 2>&1 </dev/null) || rc=$?
	[[ $rc -ne 124 ]] || note=" (timed out after $host_test_timeout s)"
	tap_parse host "$name" "$rc" "$note" \
		"$([[ $verbose == 1 || $rc -ne 0 ]] && echo 1 || echo 0)" <<<"$out"
}

run_host_tests() {
	local prog
	for prog in build/tests/unit/t_*; do
		[[ -f $prog && -x $prog ]] || continue
		run_host_test "$prog"
	done
}

# --- One kernel -----------------------------------------------------------------

# Copy the module sources out of the tree and build them for release $1.
# Each release gets its own copy: kbuild writes its objects next to them.
build_module() {
	local rel=$1 src=build/kernels/$1/src
	rm -rf "$src"
	mkdir -p "$src" build/logs
	cp -a Kbuild module include "$src/" 2>"build/logs/$rel.build.log" || return 1
	# Kbuild reads the version string from here.
	[[ ! -f VERSION ]] || cp VERSION "$src/"
	# The tree is Debian's headers on the host or in the chroot, or the
	# debug kernel's own (scripts/vm/kmake.sh knows which).
	if [[ $verbose == 1 ]]; then
		"$vm/kmake.sh" "$rel" M="$top/$src" modules 2>&1 |
			tee -a "build/logs/$rel.build.log"
	else
		"$vm/kmake.sh" "$rel" M="$top/$src" modules \
			>>"build/logs/$rel.build.log" 2>&1
	fi
}

# Kernel command line for the guest's /init (see tests/guest/init).
guest_append() {
	local a=${ZCRX_APPEND:-}
	[[ -n ${ZCRX_TESTS:-} ]] && a+=" zcrx_tests=$(tr -s ' ' ',' <<<"$ZCRX_TESTS" | sed 's/^,//; s/,$//')"
	[[ -n ${ZCRX_TEST_TIMEOUT:-} ]] && a+=" zcrx_timeout=$ZCRX_TEST_TIMEOUT"
	echo "$a"
}

# boot_guest REL DIR LOG: one QEMU run of the packed guest; QEMU's status.
boot_guest() {
	ZCRX_APPEND=$(guest_append) "$vm/run-guest.sh" "$cache/$1/vmlinuz" \
		"$2/initramfs.cpio.gz" "$3" "$guest_tmo"
}

# Seconds left of the run's budget.
budget_left() { echo $((check_budget - (SECONDS - started))); }

run_kernel() {
	local rel=$1 dir=build/kernels/$1 log=build/logs/$1.log
	local fails_before=$nfail t0 grc=0 reason hits

	if ! build_module "$rel"; then
		report FAIL "$rel" build.module "see build/logs/$rel.build.log"
		tail -n 30 "build/logs/$rel.build.log" | diag
		return
	fi

	if ! "$vm/initramfs.sh" "$dir/initramfs.cpio.gz" "$rel" "$dir/src/zcrx.ko" \
		build/tests/guest 2>"build/logs/$rel.initramfs.log"; then
		report FAIL "$rel" guest.initramfs "$(tail -n 1 "build/logs/$rel.initramfs.log")"
		return
	fi

	# A guest gets its own limit or what is left of the budget, whichever
	# is less; with under two minutes left it does not boot at all.
	guest_tmo=${ZCRX_GUEST_TIMEOUT:-1200}
	(($(budget_left) >= guest_tmo)) || guest_tmo=$(budget_left)
	if ((guest_tmo < 120)); then
		report FAIL "$rel" guest.budget "not booted: ${guest_tmo} s left of the run's $check_budget s (ZCRX_CHECK_BUDGET)"
		return
	fi

	t0=$SECONDS
	: >"$log"	# exists even if QEMU never starts
	boot_guest "$rel" "$dir" "$log" || grc=$?
	# A kernel that dies before /init has run (TCG once tripped over its
	# own text patching at 1 s of a loaded host) has not run a line of
	# ours: boot it once more, and say so.
	if [[ $grc -ne 124 ]] && ! grep -aq "^# zcrx guest: running" "$log" &&
	   ! grep -aq "^@@ZCRX@@ DONE" "$log"; then
		echo "# $rel: the kernel stopped before /init ran; booting it again"
		tail -n 40 "$log" | diag
		(($(budget_left) >= guest_tmo)) || guest_tmo=$(budget_left)
		if ((guest_tmo >= 120)); then
			grc=0
			: >"$log"
			boot_guest "$rel" "$dir" "$log" || grc=$?
		fi
	fi
	echo "# $rel: guest ran $((SECONDS - t0)) s"

	parse_guest_log "$rel" "$log"

	if [[ $finished -eq 0 ]]; then
		if [[ $grc -eq 124 ]]; then
			reason="guest timed out after $guest_tmo s"
		else
			reason="guest stopped early (QEMU status $grc; panic?)"
		fi
		report FAIL "$rel" guest.completed "$reason"
	fi

	if hits=$("$vm/scan-log.sh" "$log"); then
		report PASS "$rel" kernel.log_clean
	else
		report FAIL "$rel" kernel.log_clean "$(wc -l <<<"$hits") suspicious lines in $log"
		diag <<<"$hits"
	fi

	if [[ $nfail -ne $fails_before ]]; then
		echo "# --- last 60 lines of $log"
		tail -n 60 "$log" | diag
	fi
}

summary() {
	echo "# check took $((SECONDS - started)) s"
	echo "$npass passed, $nfail failed, $nskip skipped"
	summarised=1
}

# Whatever stops the script (a bug here, Ctrl-C), the output still ends with
# the summary line, and the run counts as failed.
on_exit() {
	local rc=$?
	[[ $summarised == 1 ]] && return
	report FAIL host harness.aborted "check.sh stopped early (status $rc)"
	summary
	exit 1
}
trap on_exit EXIT
# QEMU exits with status 0 on Ctrl-C; stop here rather than boot the next.
trap 'echo "# interrupted"; exit 130' INT TERM

# --- Main --------------------------------------------------------------------------

if [[ ${1:-} == --parse-log ]]; then
	[[ $# -eq 3 ]] || { echo "usage: $0 --parse-log KERNEL LOG" >&2; summarised=1; exit 2; }
	parse_guest_log "$2" "$3"
	[[ $finished -eq 1 ]] || report FAIL "$2" guest.completed "no @@ZCRX@@ DONE in $3"
	summary
	[[ $nfail -eq 0 ]]
	exit
fi

# A name in ZCRX_TESTS that is no test (renamed, split) would select
# nothing and pass: say so.
selection=${ZCRX_TESTS:-}
for want in ${selection//,/ }; do
	want=${want%.sh}
	[[ -e build/tests/guest/$want || -e build/tests/guest/$want.sh ||
	   -e build/tests/unit/$want || -e build/tests/unit/$want.sh ]] ||
		report FAIL host "selection.$want" "ZCRX_TESTS names no test in build/tests"
done

run_host_tests

if [[ ${ZCRX_DEBUG_KERNEL:-1} == only ]]; then
	:
elif releases=$("$vm/kernels.sh" --prepare); then
	for rel in $releases; do
		run_kernel "$rel"
	done
else
	report FAIL host kernels.prepare "scripts/vm/kernels.sh --prepare failed"
fi

# The third kernel: KASAN, lockdep, kmemleak, UBSAN.  ZCRX_DEBUG_KERNEL=0
# skips it, =only runs it alone; setting ZCRX_KERNELS also skips it.
if [[ ${ZCRX_DEBUG_KERNEL:-1} == only ||
      (${ZCRX_DEBUG_KERNEL:-1} != 0 && -z ${ZCRX_KERNELS:-}) ]]; then
	if rel=$("$vm/debug-kernel.sh"); then
		ZCRX_GUEST_TIMEOUT=${ZCRX_GUEST_TIMEOUT:-2400} run_kernel "$rel"
	else
		report FAIL host debug_kernel.build "scripts/vm/debug-kernel.sh failed"
	fi
fi

summary
[[ $nfail -eq 0 ]]

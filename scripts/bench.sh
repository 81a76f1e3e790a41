#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# bench.sh: what "make bench" runs (after "make bench-progs").
#
#   scripts/bench.sh                  boot a guest and run the matrix there
#   scripts/bench.sh --host           run the matrix here (zcrx.ko loaded, root)
#   scripts/bench.sh --aggregate LOG  only turn a log (guest console or the
#                                     output of scripts/bench-guest.sh) into
#                                     the results
#
# Default mode: builds zcrx.ko for the newest kernel of the host's apt
# (scripts/vm/kernels.sh --host; ZCRX_KERNELS=<release> picks another,
# 7.x too), packs an initramfs with the
# bench programs (build/bench) and scripts/bench-guest.sh as
# /tests/t_bench.sh, boots it under QEMU (2 vCPUs) and collects the
# "BENCH..." lines from the serial log.  A kernel whose headers have
# io_uring zcrx's ZCRX_REG_NODEV (Linux 7.1+) also gets
# build/bench/iouzcrx-receiver (make bench-progs-7x, in the trixie chroot):
# the receiver of the io_uring zcrx methods iouzcrx and iouzcrx-batch.
# Then scripts/bench-report.py aggregates them (medians, ratios, tables,
# chart) into $BENCH_OUT (default
# bench/results):
#   runs.csv      every run: the receiver's raw figures, the run's status and
#                 the share of the host's CPUs other work used meanwhile
#   results.csv   per cell (link, write size, connections, method): median,
#                 min and max over the runs of every figure, per GiB
#   memcpy.csv    the guest's single-thread memcpy bandwidth, per run
#   zc-runs.csv, zc-results.csv
#                 the same two for the zero-copy paths section (lo, 1
#                 connection, sender modes x receivers; its rows are the
#                 BENCHCSV lines whose link is lo@MODE), with a sender column
#                 and, in zc-results.csv, the share of bytes mapped
#   results.md    the same as tables, the targets of the issues checked
#   chart.png     throughput and whole-guest CPU per GiB (gnuplot)
#   tx.csv        the nic links' senders (on this host): per run, status,
#                 wall, user and system seconds
#
# Settings: every BENCH_* variable scripts/bench-guest.sh knows is passed
# to the guest (BENCH_QUICK=1 for a short run); ACCEL=kvm asks
# scripts/vm/run-guest.sh for KVM instead of TCG; BENCH_GUEST_TIMEOUT
# limits the guest (3000 s); BENCH_QUIET_PCT (10) is the host load up to
# which a run counts as quiet in results.md; V=1 shows the guest's console.
#   BENCH_CPU=max|default  QEMU's CPU model (max under TCG, host under
#                       KVM; default: QEMU's own, qemu64).  Copies in task
#                       context cost about 2.5x more under max, which
#                       flatters in-kernel copies: report both.  Printed as
#                       BENCHINFO qemu_cpu.
#   BENCH_NIC_OFFLOADS=off|default  the nic link's card: off (the default)
#                       turns off what would hand the guest frames larger
#                       than the MTU (guest_tso4, guest_tso6, guest_ecn,
#                       guest_ufo); default keeps QEMU's (all on)
#   BENCH_NIC_TX_CPU=N  the host CPU the nic link's sender is pinned to
#                       (the last one)
#
# The nic link (BENCH_LINKS=nic or nic<MTU>-<layout>; see bench-guest.sh):
# a network namespace of this host, zcrxb-<pid>, holds a tap device,
# zcrxt0, 169.254.77.1/30 (the guest is 169.254.77.2: link-local, and the
# namespace has nothing else, so no packet leaves it); QEMU runs in it with
# a virtio-net card on the tap (no vhost: there is no /dev/vhost-net).
# For each run the guest prints "BENCHNIC ready ..." on its console, which
# run_guest() follows (nic_serve): it sets the tap's MTU to the guest's
# and runs build/bench/sender in the namespace, pinned, under timeout; its
# CPU time goes to tx.csv, never into the guest's figures.  The console is
# the channel because it is already there, already read line by line, and
# a lost request costs one failed run (the receiver times out), not a hang.
# The namespace and tap go when this script exits, however it exits.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
vm=scripts/vm
out=${BENCH_OUT:-bench/results}
started=$SECONDS

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	else
		sudo "$@"
	fi
}

# gnuplot draws the chart; until scripts/deps.sh lists it, install it here.
need_gnuplot() {
	command -v gnuplot >/dev/null && return 0
	log "installing gnuplot-nox (for the chart)"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		-o Dpkg::Use-Pty=0 --no-install-recommends gnuplot-nox >&2 ||
		log "gnuplot-nox could not be installed: no chart"
}

bench_vars() {	# KEY=VALUE words of the BENCH_* settings for the guest
	local v
	for v in BENCH_QUICK BENCH_RUNS BENCH_MB BENCH_MB_4K BENCH_METHODS \
		BENCH_SIZES BENCH_CONNS BENCH_LINKS BENCH_VETH_MTU BENCH_RUN_TIMEOUT \
		BENCH_ZC BENCH_ZC_RUNS BENCH_ZC_MB BENCH_ZC_SIZES BENCH_ZC_SENDERS \
		BENCH_ZC_METHODS BENCH_NIC_MTUS BENCH_NIC_LAYOUTS BENCH_NIC_IRQ_CPU \
		BENCH_NIC_GUEST BENCH_NIC_OFFLOADS BENCH_CPU BENCH_PROFILE; do
		[[ -n ${!v:-} ]] && printf '%s=%s ' "$v" "${!v}"
	done
	return 0
}

# --- How busy the host is with other work --------------------------------------------
# The guest's figures are only as good as the host cores it gets, and other
# QEMU guests often share them.  While the guest runs, one line a second:
#   UPTIME HOST_BUSY QEMU_CPU NCSV
# (seconds; CPU-seconds used by the whole host, /proc/stat, and by our QEMU,
# /proc/PID/stat; BENCHCSV lines in the log so far).  bench-report.py turns
# it into the share of the host's CPU that other work took during each run.
host_busy() {
	awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}
find_qemu() {	# PID: the QEMU among its descendants (4 levels)
	local c d
	for c in $(pgrep -P "$1" || true); do
		if [[ $(cat "/proc/$c/comm" 2>/dev/null) == qemu-system* ]]; then
			echo "$c"
			return 0
		fi
		[[ ${2:-0} -ge 3 ]] || d=$(find_qemu "$c" $((${2:-0} + 1)))
		[[ -z ${d:-} ]] || { echo "$d"; return 0; }
	done
	return 0
}
monitor_guest() {	# PID_OF_RUN_GUEST LOG
	local pid=$1 log=$2 hz qpid='' q n
	hz=$(getconf CLK_TCK)
	while kill -0 "$pid" 2>/dev/null; do
		# run-guest.sh -> timeout -> qemu (behind sudo, if any)
		[[ -n $qpid ]] || qpid=$(find_qemu "$pid")
		q=0
		if [[ -n $qpid && -r /proc/$qpid/stat ]]; then
			q=$(awk -v hz="$hz" '{ print ($14 + $15) / hz }' "/proc/$qpid/stat" 2>/dev/null || echo 0)
		fi
		n=$(grep -c 'BENCHCSV' "$log" 2>/dev/null || true)
		echo "$(cut -d' ' -f1 /proc/uptime) $(host_busy) ${q:-0} ${n:-0}"
		sleep 1
	done
}
monitor_summary() {	# MONITOR_FILE: "x of y CPU-seconds (z%)" used by others
	awk -v n="$(nproc)" 'NR == 1 { t0 = $1; b0 = $2; q0 = $3 } { t = $1; b = $2; q = $3 }
		END {
			if (NR < 2 || t <= t0) { print "unknown"; exit }
			o = (b - b0) - (q - q0); if (o < 0) o = 0
			printf "%.0f of %.0f CPU-seconds (%.0f%%)", o, (t - t0) * n, 100 * o / ((t - t0) * n)
		}' "$1"
}

# --- The nic link: a tap in a namespace of our own, and the host's sender -----------
nic_ns=
nic_tap=zcrxt0
nic_host=169.254.77.1
nic_guest=169.254.77.2

wants_nic() { [[ ,${BENCH_LINKS:-}, == *,nic* ]]; }

nic_setup() {
	[[ -c /dev/net/tun ]] || die "the nic link needs /dev/net/tun"
	nic_ns=zcrxb-$$
	as_root ip netns add "$nic_ns"
	trap nic_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	as_root ip -n "$nic_ns" link set lo up
	as_root ip -n "$nic_ns" tuntap add dev "$nic_tap" mode tap
	# No IPv6 on it: its autoconfiguration would only add frames (and
	# interrupts) to the guest's count.
	as_root ip netns exec "$nic_ns" sh -c "echo 1 >/proc/sys/net/ipv6/conf/$nic_tap/disable_ipv6" 2>/dev/null || true
	as_root ip -n "$nic_ns" addr add "$nic_host/30" dev "$nic_tap"
	as_root ip -n "$nic_ns" link set "$nic_tap" up
	# romfile=: no iPXE option ROM (the guest boots with -kernel).
	local dev=virtio-net-pci,netdev=n0,mac=52:54:00:77:00:02,romfile=
	case ${BENCH_NIC_OFFLOADS:-off} in
	off) dev+=,guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off ;;
	default) ;;
	*) die "BENCH_NIC_OFFLOADS must be off or default" ;;
	esac
	nic_qemu="-netdev tap,id=n0,ifname=$nic_tap,script=no,downscript=no,vhost=off -device $dev"
	log "nic link: namespace $nic_ns, $nic_tap $nic_host/30, guest $nic_guest; QEMU: $nic_qemu"
}

nic_cleanup() {
	[[ -n $nic_ns ]] || return 0
	local p
	# Whatever still runs in our namespace is ours: QEMU, a sender.
	for p in $(as_root ip netns pids "$nic_ns" 2>/dev/null); do
		as_root kill "$p" 2>/dev/null || true
	done
	as_root ip -n "$nic_ns" link del "$nic_tap" 2>/dev/null || true
	as_root ip netns del "$nic_ns" 2>/dev/null || true
	nic_ns=
}

# nic_send "key=value ...": one sender for a guest's BENCHNIC request;
# prints a tx.csv row.  The guest names the port and sizes, never the
# address; each value must be a plain number in range.
nic_send() {
	local w k v id='' port='' conns='' bytes='' wsize='' mtu='' limit='' rc=0 t err
	for w in $1; do
		k=${w%%=*} v=${w#*=}
		case $k in
		id) [[ $v =~ ^[A-Za-z0-9@_-]+(\.[A-Za-z0-9@_-]+){4}$ ]] && id=$v ;;
		port | conns | bytes | wsize | mtu | limit) [[ $v =~ ^[0-9]{1,12}$ ]] && printf -v "$k" %s "$v" ;;
		esac
	done
	if [[ -z $id || -z $port || -z $conns || -z $bytes || -z $wsize || -z $mtu || -z $limit ]] ||
		((port < 1024 || port > 65535 || conns < 1 || conns > 64 || mtu < 576 ||
			mtu > 65535 || limit < 1 || limit > 3600)); then
		log "nic: ignoring a malformed request: $1"
		return 0
	fi
	as_root ip -n "$nic_ns" link set "$nic_tap" mtu "$mtu" ||
		log "nic: could not set $nic_tap's MTU to $mtu"
	err=$(mktemp)
	# bash's time: the sender's (and its wrappers') wall, user and
	# system seconds, from getrusage of the waited-for children.
	t=$( { TIMEFORMAT='%R,%U,%S'; time as_root timeout -k 5 $((limit + 10)) \
		ip netns exec "$nic_ns" "$top/build/bench/sender" -a "$nic_guest" -p "$port" \
		-n "$conns" -b "$bytes" -w "$wsize" -c "$nic_tx_cpu" -t "$limit" \
		>/dev/null 2>"$err" || echo "rc=$?" >>"$err"; } 2>&1)
	if [[ -s $err ]]; then
		rc=$(sed -n 's/^rc=//p' "$err" | tail -n 1)
		log "nic: sender of $id: $(grep -v '^rc=' "$err" | tr '\n' ' ')${rc:+status $rc}"
	fi
	rm -f "$err"
	echo "${id//./,},${rc:-0},$t,$nic_tx_cpu"
}

# nic_serve LOG PID TX: a sender for every request in LOG, while PID lives.
nic_serve() {
	local line
	tail -n +1 -F --pid="$2" "$1" 2>/dev/null | while IFS= read -r line; do
		case $line in
		*'BENCHNIC ready '*)
			nic_send "${line#*BENCHNIC ready }" >>"$3" &
			;;
		esac
	done
	wait
}

# --- Running the matrix ------------------------------------------------------------

# has_iouzcrx REL: do REL's headers have io_uring zcrx's device-less mode
# (ZCRX_REG_NODEV), which iouzcrx-receiver needs?  A feature check on the
# headers, as module/compat-probe.sh makes, never a version number.  The
# UAPI headers are in Debian's -common package beside the arch one.
has_iouzcrx() {
	local kind tree root=
	read -r kind tree < <("$vm/kmake.sh" --where "$1" 2>/dev/null) || return 1
	[[ $kind != chroot ]] || root=$("$vm/chroot.sh" dir)
	grep -qs ZCRX_REG_NODEV "$root$tree/include/uapi/linux/io_uring/zcrx.h" \
		"$root${tree%-*}-common/include/uapi/linux/io_uring/zcrx.h"
}

run_guest() {
	local rel dir cache grc=0 accel=${ACCEL:-tcg} gpid mpid fails
	"$top/scripts/deps.sh" >/dev/null
	need_gnuplot
	[[ -x build/bench/receiver ]] || make -s bench-progs
	if [[ -n ${ZCRX_KERNELS:-} ]]; then
		rel=$("$vm/kernels.sh" | tail -n 1)
	else
		rel=$("$vm/kernels.sh" --host | tail -n 1)
	fi
	local nic_want=0
	wants_nic && nic_want=1
	ZCRX_WANT_NIC=$nic_want ZCRX_KERNELS=$rel "$vm/kernels.sh" --prepare >/dev/null
	cache=${ZCRX_CACHE:-$HOME/.cache/zcrx}/kernels
	dir=build/bench-vm/$rel
	rm -rf "$dir"
	mkdir -p "$dir/src" "$dir/tests"
	cp -a Kbuild module include VERSION "$dir/src/"
	log "building zcrx.ko for $rel"
	"$vm/kmake.sh" "$rel" -s M="$top/$dir/src" modules \
		>"$dir/build.log" 2>&1 || { tail -n 20 "$dir/build.log" >&2; die "module build failed"; }
	cp -a build/bench/sender build/bench/receiver build/bench/memcpy build/bench/lib \
		"$dir/tests/"
	if has_iouzcrx "$rel"; then
		log "building build/bench/iouzcrx-receiver (io_uring zcrx, in the trixie chroot)"
		make -s bench-progs-7x >&2 || die "make bench-progs-7x failed"
		cp -a build/bench/iouzcrx-receiver "$dir/tests/"
	fi
	cp scripts/bench-guest.sh "$dir/tests/t_bench.sh"
	if [[ $nic_want == 1 ]]; then
		# The virtio-net driver, loaded by bench-guest.sh in this order.
		mkdir -p "$dir/tests/nic"
		cp "$cache/$rel/nic-modules/"*.ko "$dir/tests/nic/" 2>/dev/null || true
	fi
	ZCRX_GUEST_LIB_PATH=$top/build/bench/lib \
		"$vm/initramfs.sh" "$dir/initramfs.cpio.gz" "$rel" "$dir/src/zcrx.ko" "$dir/tests"

	if [[ ${BENCH_QUICK:-0} == 1 ]]; then
		log "booting $rel under QEMU ($accel, 2 vCPUs); the quick matrix takes about a minute"
	else
		log "booting $rel under QEMU ($accel, 2 vCPUs); the receive matrix and the zero-copy paths take 10 to 15 minutes under TCG"
	fi
	others=$(pgrep -c -f '^qemu-system' || true)
	[[ ${others:-0} -eq 0 ]] ||
		log "warning: $others other QEMU process(es) running on this host: the figures will suffer"
	: >"$dir/guest.log"
	rm -f "$dir/guest.log.tx"
	# run-guest.sh's own choice (max under TCG, host under KVM) unless
	# BENCH_CPU names one; the guest prints it (BENCHINFO qemu_cpu).
	if [[ -z ${BENCH_CPU:-} ]]; then
		BENCH_CPU=max
		[[ $accel != kvm ]] || BENCH_CPU=host
	fi
	export BENCH_CPU
	local wrap=() net=''
	if [[ $nic_want == 1 ]]; then
		nic_setup
		nic_tx_cpu=${BENCH_NIC_TX_CPU:-$(($(nproc) - 1))}
		export BENCH_NIC_GUEST=1 BENCH_NIC_OFFLOADS=${BENCH_NIC_OFFLOADS:-off}
		wrap=(ip netns exec "$nic_ns")
		[[ $EUID -eq 0 ]] || wrap=(sudo "${wrap[@]}")
		net=$nic_qemu
	fi
	# env: through sudo and ip netns exec too.
	"${wrap[@]}" env ACCEL="$accel" ZCRX_QEMU_CPU="$BENCH_CPU" ZCRX_QEMU_NET="$net" \
		ZCRX_APPEND="zcrx_tests=t_bench $(bench_vars)" V="${V:-0}" \
		"$vm/run-guest.sh" "$cache/$rel/vmlinuz" "$dir/initramfs.cpio.gz" \
		"$dir/guest.log" "${BENCH_GUEST_TIMEOUT:-3000}" &
	gpid=$!
	monitor_guest "$gpid" "$dir/guest.log" >"$dir/guest.log.monitor" &
	mpid=$!
	spid=
	if [[ $nic_want == 1 ]]; then
		: >"$dir/guest.log.tx"
		nic_serve "$dir/guest.log" "$gpid" "$dir/guest.log.tx" &
		spid=$!
	fi
	wait "$gpid" || grc=$?
	wait "$mpid" || true
	# A sender still running has its own timeout.
	[[ -z $spid ]] || wait "$spid" || true
	nic_cleanup
	log "guest ran; status $grc; log $dir/guest.log"
	host_other=$(monitor_summary "$dir/guest.log.monitor")
	log "other work on the host meanwhile: $host_other"
	guest_log=$dir/guest.log
	run_accel=$accel
	echo "$accel" >"$guest_log.accel"

	if ! grep -q '^@@ZCRX@@ DONE' "$guest_log"; then
		log "the guest did not finish (QEMU status $grc)"
		tail -n 30 "$guest_log" >&2
		guest_ok=0
	fi
	# check.sh parses the guest's output (its TAP lines).
	fails=$(scripts/check.sh --parse-log "$rel" "$guest_log" | grep '^FAIL' || true)
	if [[ -n $fails ]]; then
		head -n 20 <<<"$fails" >&2
		guest_ok=0
	fi
	if ! "$vm/scan-log.sh" "$guest_log" >&2; then
		log "kernel warnings in the guest log"
		guest_ok=0
	fi
}

run_host() {
	[[ -c /dev/zcrx ]] || log "warning: /dev/zcrx missing: the zcrx methods will be skipped"
	need_gnuplot
	[[ -x build/bench/receiver ]] || make -s bench-progs
	mkdir -p build/bench-host
	guest_log=build/bench-host/bench.out
	log "running scripts/bench-guest.sh here (output in $guest_log)"
	# shellcheck disable=SC2046 # bench_vars prints KEY=VALUE words
	if ! as_root env $(bench_vars) sh scripts/bench-guest.sh | tee "$guest_log" |
		{ grep --line-buffered -E '^(not ok|# bench:)' >&2 || true; }; then
		guest_ok=0
	fi
	run_accel=host
}

# --- Aggregation --------------------------------------------------------------------

# scripts/bench-report.py turns the log (and the monitor's samples beside it,
# LOG.monitor) into $out: the CSV files, results.md and chart.png.  Its
# status: 0; 3 when a run's status is not ok (everything written all the
# same); anything else when there was nothing to aggregate.
report() {
	local args=(-o "$out" --accel "${run_accel:-}" --quiet-pct "${BENCH_QUIET_PCT:-10}")
	[[ -z ${host_other:-} ]] || args+=(--host-other "$host_other")
	if [[ $mode == aggregate ]]; then
		args+=(--aggregate-only)
	else
		args+=(--elapsed $((SECONDS - started)))
	fi
	python3 scripts/bench-report.py "${args[@]}" "$guest_log"
}

# --- Main ------------------------------------------------------------------------------
guest_ok=1
run_accel=
host_other=
mode=guest
case ${1:-} in
"")
	run_guest ;;
--host)
	mode=host
	run_host ;;
--aggregate)
	mode=aggregate
	[[ -r ${2:-} ]] || die "usage: $0 --aggregate LOG"
	guest_log=$2
	run_accel=$(cat "$guest_log.accel" 2>/dev/null || echo "${ACCEL:-accel unknown}")
	;;
*)
	die "usage: $0 [--host | --aggregate LOG]" ;;
esac

report_rc=0
report || report_rc=$?
[[ $report_rc -eq 0 || $report_rc -eq 3 ]] || exit "$report_rc"
files="runs.csv results.csv"
[[ ! -r $out/zc-runs.csv ]] || files+=" zc-runs.csv zc-results.csv"
[[ ! -r $out/tx.csv ]] || files+=" tx.csv"
log "results in $out/: $files memcpy.csv results.md chart.png"
log "took $((SECONDS - started)) s"
if [[ $guest_ok != 1 || $report_rc -ne 0 ]]; then
	[[ $report_rc -eq 0 ]] || log "FAILED: failed runs (see $out/runs.csv, $out/zc-runs.csv and the log)"
	[[ $guest_ok == 1 ]] || log "FAILED: the guest's run was not clean (see above and the log)"
	exit 1
fi

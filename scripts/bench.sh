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
# "BENCH..." lines from the serial log.  Then, in $BENCH_OUT (default
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
#   results.md    the same as tables, the targets of the issue checked
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
		BENCH_NIC_GUEST BENCH_NIC_OFFLOADS BENCH_CPU; do
		[[ -n ${!v:-} ]] && printf '%s=%s ' "$v" "${!v}"
	done
	return 0
}

# --- How busy the host is with other work --------------------------------------------
# The guest's figures are only as good as the host cores it gets, and other
# QEMU guests often share them.  While the guest runs, one line a second:
#   UPTIME HOST_BUSY QEMU_CPU NCSV
# (seconds; CPU-seconds used by the whole host, /proc/stat, and by our QEMU,
# /proc/PID/stat; BENCHCSV lines in the log so far).  aggregate() turns it
# into the share of the host's CPU that other work took during each run.
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

# Lines of one kind from the log, with the guest's "# " prefix removed.
# A guest's lines come behind /init's "@@ZCRX@@ |"; a run here, bare.
lines_of() { sed -n "s/^\(@@ZCRX@@ |\)\{0,1\}\(# \)\{0,1\}$1 //p" "$guest_log" | tr -d '\r'; }

aggregate() {
	local hdr all=$out/.runs-all.csv zcat=$out/.zc-runs.csv
	mkdir -p "$out"
	hdr=$(lines_of BENCHHDR | head -n 1)
	[[ -n $hdr ]] || die "no BENCHHDR line in $guest_log: the benchmark did not start"
	# Per run: the share of the host's CPUs other work used meanwhile, from
	# the monitor (see monitor_guest); empty without one.  Over every
	# BENCHCSV line in log order (the monitor counts them all), then split:
	# the receive matrix to runs.csv, the zero-copy paths (link lo@MODE)
	# to zc-runs.csv.
	# The nic links' senders ran here (nic_send): tx.csv.  A nic run
	# whose sender failed, or has no row, failed; the sender's CPU is
	# not "other work" (the monitor counted it as such).
	rm -f "$out/tx.csv"
	if [[ -r $guest_log.tx ]]; then
		{ echo "link,wsize,conns,method,run,tx_status,tx_wall_s,tx_user_s,tx_sys_s,tx_host_cpu"
		  cat "$guest_log.tx"; } >"$out/tx.csv"
	fi
	{
		echo "$hdr,host_other_pct"
		lines_of BENCHCSV | awk -F, -v OFS=, -v mon="$guest_log.monitor" -v ncpu="$(nproc)" \
			-v tx="$out/tx.csv" '
		BEGIN {
			while ((getline line < mon) > 0) {
				split(line, f, " ")
				nm++; t[nm] = f[1]; b[nm] = f[2]; q[nm] = f[3]; n[nm] = f[4]
			}
			while ((getline line < tx) > 0) {
				split(line, f, ",")
				k = f[1] "," f[2] "," f[3] "," f[4] "," f[5]
				txrc[k] = f[6]; txcpu[k] = f[8] + f[9]
			}
		}
		{
			k = $1 "," $2 "," $3 "," $4 "," $5
			if ($1 ~ /^nic/ && txrc[k] != "0")
				$NF = "FAIL"
			pct = ""
			# e: first sample after this run ended; s: one before it started.
			for (e = 1; e <= nm && n[e] < NR; e++)
				;
			if (e <= nm && e > 1) {
				for (s = e - 1; s > 1 && t[s] > t[e] - $7 - 1; s--)
					;
				if (t[e] > t[s]) {
					o = (b[e] - b[s]) - (q[e] - q[s]) - txcpu[k]
					pct = sprintf("%.0f", 100 * (o < 0 ? 0 : o) / ((t[e] - t[s]) * ncpu))
				}
			}
			print $0 "," pct
		}'
	} >"$all"
	awk -F, 'NR == 1 || $1 !~ /@/' "$all" >"$out/runs.csv"
	awk -F, 'NR == 1 || $1 ~ /@/' "$all" >"$zcat"
	rm -f "$all" "$out/zc-runs.csv" "$out/zc-results.csv"
	{ echo "run,memcpy_64MiB_MBps,memcpy_256KiB_MBps,verify_MBps"; lines_of BENCHMEM; } \
		>"$out/memcpy.csv"
	lines_of BENCHINFO >"$out/.info"
	[[ $(wc -l <"$out/runs.csv") -gt 1 || $(wc -l <"$zcat") -gt 1 ]] ||
		die "no BENCHCSV line in $guest_log"

	summarize "$out/runs.csv" 0 >"$out/results.csv"
	if [[ $(wc -l <"$zcat") -gt 1 ]]; then
		# The same per cell, keyed by lo@MODE; then MODE gets a column.
		summarize "$zcat" 1 | split_sender >"$out/zc-results.csv"
		split_sender <"$zcat" >"$out/zc-runs.csv"
	fi
	rm -f "$zcat"
	write_markdown
	draw_chart
}

# "lo@MODE,..." -> "lo,MODE,..." and a sender column after link in the header.
split_sender() { sed '1s/^link,/link,sender,/; 1!s/^\([^,@]*\)@\([^,]*\),/\1,\2,/'; }

# summarize RUNS_CSV MAPPED: median, min and max of every figure per cell
# (link, write size, connections, method) over the runs that passed.
# MAPPED=1 adds mapped_pct: the share of bytes mapped into the receiver
# (tcpzc: its zerocopy field; zcrx: mapped= of its extra field).
summarize() {
	awk -F, -v OFS=, -v mapped="$2" -f - "$1" <<'EOF'
function sort_n(a, n,   i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
}
function put(key, m, v) {
	val[key, m, ++cnt[key, m]] = v
}
function stat(key, m,   a, i, n, med) {
	n = cnt[key, m]
	if (!n)
		return ",,"
	for (i = 1; i <= n; i++)
		a[i] = val[key, m, i]
	sort_n(a, n)
	med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	return sprintf("%.6g,%.6g,%.6g", med, a[1], a[n])
}
NR == 1 {
	for (i = 1; i <= NF; i++)
		col[$i] = i
	nm = split("mbps guest_cpu guest_user guest_sys guest_irq guest_ticks rx_core rx_cpu syscalls copied_pct zerocopy_pct" (mapped ? " mapped_pct" : "") " host_other", metric, " ")
	next
}
{
	key = $col["link"] SUBSEP $col["wsize"] SUBSEP $col["conns"] SUBSEP $col["method"]
	if (!(key in seen)) {
		seen[key] = 1
		order[++nkeys] = key
	}
	if ($col["status"] != "ok") {
		failed[key]++
		next
	}
	gib = $col["bytes"] / 1073741824
	if (gib <= 0) {
		failed[key]++
		next
	}
	cnt[key]++
	put(key, "mbps", $col["mbps"])
	put(key, "guest_cpu", $col["guest_cpu"] / gib)
	put(key, "guest_user", $col["guest_user"] / gib)
	put(key, "guest_sys", $col["guest_sys"] / gib)
	put(key, "guest_irq", $col["guest_irq"] / gib)
	put(key, "guest_ticks", $col["guest_ticks"] / gib)
	put(key, "rx_core", $col["rx_core"] / gib)
	put(key, "rx_cpu", $col["rx_cpu"] / gib)
	put(key, "syscalls", $col["syscalls"] / gib)
	put(key, "copied_pct", 100 * $col["copied"] / $col["bytes"])
	put(key, "zerocopy_pct", 100 * $col["zerocopy"] / $col["bytes"])
	if (mapped) {
		mb = 0
		if ($col["method"] == "tcpzc")
			mb = $col["zerocopy"]
		else if (match($col["extra"], /(^|;)mapped=[0-9]+/))
			mb = substr($col["extra"], RSTART, RLENGTH)
		sub(/.*=/, "", mb)
		put(key, "mapped_pct", 100 * mb / $col["bytes"])
	}
	if (("host_other_pct" in col) && $col["host_other_pct"] != "")
		put(key, "host_other", $col["host_other_pct"])
}
END {
	printf "link,wsize,conns,method,runs_ok,runs_failed"
	split("mbps guest_cpu_s_per_gib guest_user_s_per_gib guest_sys_s_per_gib guest_irq_s_per_gib guest_ticks_s_per_gib rx_core_s_per_gib rx_cpu_s_per_gib syscalls_per_gib copied_pct zerocopy_pct" (mapped ? " mapped_pct" : "") " host_other_pct", label, " ")
	for (m = 1; m <= nm; m++)
		printf ",%s_med,%s_min,%s_max", label[m], label[m], label[m]
	printf "\n"
	for (k = 1; k <= nkeys; k++) {
		key = order[k]
		split(key, f, SUBSEP)
		printf "%s,%s,%s,%s,%d,%d", f[1], f[2], f[3], f[4], cnt[key], failed[key]
		for (m = 1; m <= nm; m++)
			printf ",%s", stat(key, metric[m])
		printf "\n"
	}
}
EOF
}

info_of() { sed -n "s/^$1=//p" "$out/.info" | head -n 1; }

targets_table() {	# QUIET_PCT (-1: every pair)
	awk -F, -v quiet="$1" -f - "$out/results.csv" "$out/runs.csv" <<'EOF'
# Median of a space-separated list; sets lo and hi to its extremes.
function med(list,   a, n, i, j, t) {
	n = split(list, a, " ")
	if (!n)
		return ""
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	lo = a[1]; hi = a[n]
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# Median over the repetitions of num's figure (field of v) / den's, times
# scale; with quiet >= 0 only pairs whose two runs saw at most quiet % of
# the host busy with other work.  npair: pairs used.
function paired(cell, num, den, field, scale,   r, list, x, a, busy) {
	list = ""
	npair = 0
	for (r = 1; r <= maxrun; r++) {
		if (!((cell, num, r) in v) || !((cell, den, r) in v))
			continue
		split(v[cell, num, r], x, " ")
		a = x[field]
		busy = x[4]
		split(v[cell, den, r], x, " ")
		if (quiet >= 0 && (busy == "" || x[4] == "" || busy + 0 > quiet || x[4] + 0 > quiet))
			continue
		if (x[field] > 0) {
			list = list " " scale * a / x[field]
			npair++
		}
	}
	return med(list)
}
function mark(ok) { return ok ? "met" : "**missed**" }
function show(m, d) {
	return sprintf("%." d "f (%." d "f-%." d "f%s)", m, lo, hi, quiet >= 0 ? ", n=" npair : "")
}
FNR == 1 { for (i = 1; i <= NF; i++) { col[FILENAME, $i] = i; colname[$i] = 1 }; next }
FILENAME ~ /results\.csv$/ {
	cell = $1 SUBSEP $2 SUBSEP $3
	if (!(cell in seen)) { seen[cell] = 1; cells[++nc] = cell }
	m = $(col[FILENAME, "mbps_med"])
	if ($4 != "splice" && $4 !~ /^zcrx/ && m != "" && m + 0 > best[cell] + 0) {
		best[cell] = m; bestm[cell] = $4
	}
	next
}
$(col[FILENAME, "status"]) == "ok" {
	cell = $1 SUBSEP $2 SUBSEP $3
	r = $(col[FILENAME, "run"])
	if (r > maxrun) maxrun = r
	b = $(col[FILENAME, "bytes"])
	# throughput, guest CPU per byte, syscalls per byte, host busy %
	hb = ("host_other_pct" in colname) ? $(col[FILENAME, "host_other_pct"]) : ""
	v[cell, $4, r] = $(col[FILENAME, "mbps"]) " " $(col[FILENAME, "guest_cpu"]) / b " " \
		$(col[FILENAME, "syscalls"]) / b " " (hb == "" ? "" : hb)
}
END {
	print "| link | write | conns | CPU vs recv | zcrx-batch CPU vs recv | CPU vs uring | zcrx-poll MB/s vs best peer | zcrx-busy MB/s vs best peer | syscalls vs recv | zcrx-busy syscalls vs recv |"
	print "| --- | --- | ---: | --- | --- | --- | --- | --- | --- | --- |"
	for (c = 1; c <= nc; c++) {
		cell = cells[c]
		split(cell, p, SUBSEP)
		small = (p[2] == "4k")
		lim = small ? 0.7 : 0.8
		x = paired(cell, "zcrx-poll", "recv", 2, 1)
		s1 = x == "" ? "-" : show(x, 2) " (<= " lim ") " mark(x <= lim)
		x = paired(cell, "zcrx-batch", "recv", 2, 1)
		sb = x == "" ? "-" : show(x, 2) " " mark(x <= lim)
		x = paired(cell, "zcrx-poll", "uring", 2, 1)
		s2 = x == "" ? "-" : show(x, 2) (small ? " (no target)" : " (<= 0.9) " mark(x <= 0.9))
		s3 = "-"; s4 = "-"
		if (bestm[cell] != "") {
			x = paired(cell, "zcrx-poll", bestm[cell], 1, 1)
			if (x != "") s3 = show(x, 2) " of " bestm[cell] " " mark(x >= 1)
			x = paired(cell, "zcrx-busy", bestm[cell], 1, 1)
			if (x != "") s4 = show(x, 2) " of " bestm[cell] " " mark(x >= 1)
		}
		x = paired(cell, "zcrx-poll", "recv", 3, 100)
		s5 = x == "" ? "-" : show(x, 1) "% " mark(x < 1)
		x = paired(cell, "zcrx-busy", "recv", 3, 100)
		s6 = x == "" ? "-" : show(x, 1) "% " mark(x < 1)
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], p[3], s1, sb, s2, s3, s4, s5, s6
	}
}
EOF
}

quiet_matrix() {	# FIELD TITLE DECIMALS: medians of quiet runs, cell x method
	awk -F, -v m="$1" -v title="$2" -v dec="$3" -v quiet="${BENCH_QUIET_PCT:-10}" '
	function med(list,   a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	{
		cell = $1 " " $2 " " $3
		if (!(cell in seen)) { seen[cell] = 1; cells[++nc] = cell }
		if (!($4 in mseen)) { mseen[$4] = 1; meth[++nm] = $4 }
		if ($col["status"] != "ok" || $col["host_other_pct"] == "" || $col["host_other_pct"] + 0 > quiet)
			next
		x = $col[m]
		if (m == "guest_cpu")
			x = x / ($col["bytes"] / 1073741824)
		list[cell, $4] = list[cell, $4] " " x
		n[cell, $4]++
	}
	END {
		printf "\n%s, quiet runs:\n\n| link | write | conns |", title
		for (j = 1; j <= nm; j++) printf " %s |", meth[j]
		printf "\n| --- | --- | ---: |"
		for (j = 1; j <= nm; j++) printf " ---: |"
		printf "\n"
		for (c = 1; c <= nc; c++) {
			split(cells[c], p, " ")
			printf "| %s | %s | %s |", p[1], p[2], p[3]
			for (j = 1; j <= nm; j++) {
				k = cells[c] SUBSEP meth[j]
				printf " %s |", n[k] ? sprintf("%." dec "f (%d)", med(list[k]), n[k]) : "-"
			}
			printf "\n"
		}
	}' "$out/runs.csv"
}

write_markdown() {
	local md=$out/results.md mem
	mem=$(awk -F, 'NR > 1 { n++; a[n] = $2; b[n] = $3; c[n] = $4 }
		function med(x, n,   i, j, t) {
			for (i = 2; i <= n; i++)
				for (j = i; j > 1 && x[j - 1] > x[j]; j--) { t = x[j]; x[j] = x[j - 1]; x[j - 1] = t }
			return sprintf("%.0f (%.0f-%.0f)", (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2, x[1], x[n])
		}
		END { if (n) printf "%s|%s|%s", med(a, n), med(b, n), med(c, n) }' "$out/memcpy.csv")
	{
		echo "<!-- SPDX-License-Identifier: GPL-2.0 -->"
		echo "# zcrx receive benchmark: results"
		echo
		echo "Generated by \`scripts/bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); see"
		echo "[docs/benchmarks.md](../../docs/benchmarks.md) for the method and the reading."
		echo
		echo "* kernel: $(info_of kernel) (${run_accel:-?}), $(info_of cpus) CPUs ($(info_of cpu_model)), $(( $(info_of mem_kib) / 1024 )) MiB"
		echo "* host: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
		echo "* runs per cell: $(info_of runs); MiB per run: $(info_of mib_per_run) ($(info_of mib_per_run_4k) at 4 KiB writes), split over the connections"
		echo "* receiver on CPU $(info_of rx_cpu), sender on CPU $(info_of tx_cpu); lo MTU $(info_of lo_mtu), veth MTU $(info_of veth_mtu)"
		echo "* QEMU CPU model: $(info_of qemu_cpu)"
		if [[ $(info_of nic) == 1 ]]; then
			echo "* nic links: virtio-net on a tap (no vhost), MTUs $(info_of nic_mtus), layouts $(info_of nic_layouts) (split: interrupts on CPU $(info_of nic_irq_cpu)); offloads $(info_of nic_offloads), negotiated: $(info_of nic_features); RPS $(info_of nic_rps); the sender runs on the host, CPU $(awk -F, 'NR == 2 { print $10 }' "$out/tx.csv" 2>/dev/null)"
		fi
		if [[ $mode == aggregate ]]; then
			echo "* time of the matrix itself: $(info_of seconds) s"
		else
			echo "* time of the matrix itself: $(info_of seconds) s; of scripts/bench.sh: $((SECONDS - started)) s"
		fi
		[[ -z ${host_other:-} ]] || echo "* CPU used by other work on the host during the guest run: $host_other"
		echo
		if [[ -n $mem ]]; then
			echo "Single-thread bandwidth on the receiver's CPU, MB/s, median (min-max):"
			echo "memcpy 64 MiB -> 64 MiB **${mem%%|*}**; memcpy 256 KiB (in cache)"
			mem=${mem#*|}
			echo "${mem%%|*}; the check every receiver makes (one byte per 64-byte line)"
			echo "${mem#*|}."
			echo
		fi
		echo "## Summary (medians)"
		for metric in "mbps:MB/s:0" "guest_cpu_s_per_gib:whole-guest CPU s/GiB:2" \
			"rx_cpu_s_per_gib:receiving process CPU s/GiB:2" "syscalls_per_gib:receive-loop syscalls/GiB:0"; do
			awk -F, -v m="${metric%%:*}" -v title="$(cut -d: -f2 <<<"$metric")" \
				-v dec="${metric##*:}" -f - "$out/results.csv" <<'EOF2'
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
	cell = $1 " " $2 " " $3
	if (!(cell in seen)) { seen[cell] = 1; cells[++nc] = cell }
	if (!($4 in mseen)) { mseen[$4] = 1; meth[++nm] = $4 }
	v[cell, $4] = $(col[m "_med"])
}
END {
	printf "\n%s:\n\n| link | write | conns |", title
	for (j = 1; j <= nm; j++) printf " %s |", meth[j]
	printf "\n| --- | --- | ---: |"
	for (j = 1; j <= nm; j++) printf " ---: |"
	printf "\n"
	for (c = 1; c <= nc; c++) {
		split(cells[c], p, " ")
		printf "| %s | %s | %s |", p[1], p[2], p[3]
		for (j = 1; j <= nm; j++) {
			x = v[cells[c], meth[j]]
			printf " %s |", x == "" ? "-" : sprintf("%." dec "f", x)
		}
		printf "\n"
	}
}
EOF2
		done
		if awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "host_other_pct") c = i; next }
			c && $c != "" { found = 1 } END { exit !found }' "$out/runs.csv"; then
			echo
			echo "Medians over the quiet runs only (other work used at most"
			echo "${BENCH_QUIET_PCT:-10}% of the host's CPUs during the run), with their number:"
			for metric in "mbps:MB/s:0" "guest_cpu:whole-guest CPU s/GiB:2"; do
				quiet_matrix "${metric%%:*}" "$(cut -d: -f2 <<<"$metric")" "${metric##*:}"
			done
		fi
		echo
		echo "## All figures"
		echo
		echo "Every figure: median over the runs, (min-max). CPU and system calls are"
		echo "per GiB received. *guest CPU*: all CPUs of the machine (user + system +"
		echo "irq/softirq, /proc/stat); *rx CPU*: the receiving process (getrusage);"
		echo "*syscalls*: counted by the receiver in its receive loop. *vs recv*: guest"
		echo "CPU/GiB divided by recv()'s in the same cell. *zero-copy*: share of bytes"
		echo "mapped (tcpzc) or placed in pool pages (zcrx) instead of copied. *host busy*:"
		echo "share of the host's CPUs that other work (other QEMU guests) used during"
		echo "the runs, median; the guest's figures degrade with it."
		awk -F, -f - "$out/results.csv" <<'EOF'
function f(x, d) { return x == "" ? "-" : sprintf("%." d "f", x) }
function r(i, d) { return $i == "" ? "-" : f($i, d) " (" f($(i + 1), d) "-" f($(i + 2), d) ")" }
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
	cell = $1 " " $3
	if (!(cell in seen)) { seen[cell] = 1; cells[++nc] = cell }
	key = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
	line[key] = $0
	if ($4 == "recv") base[$1 SUBSEP $2 SUBSEP $3] = $(col["guest_cpu_s_per_gib_med"])
	rows[cell] = rows[cell] key "\n"
}
END {
	for (c = 1; c <= nc; c++) {
		split(cells[c], p, " ")
		printf "\n### %s, %d connection%s\n\n", p[1] == "lo" ? "loopback" : p[1], p[2], p[2] == 1 ? "" : "s"
		print "| write | method | MB/s | guest CPU s/GiB | rx CPU s/GiB | syscalls/GiB | zero-copy | vs recv | runs | host busy |"
		print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		n = split(rows[cells[c]], keys, "\n")
		for (k = 1; k < n; k++) {
			$0 = line[keys[k]]
			b = base[$1 SUBSEP $2 SUBSEP $3]
			ratio = (b > 0 && $(col["guest_cpu_s_per_gib_med"]) != "") ? sprintf("%.2f", $(col["guest_cpu_s_per_gib_med"]) / b) : "-"
			zc = $(col["zerocopy_pct_med"]) == "" ? "-" : sprintf("%.0f%%", $(col["zerocopy_pct_med"]))
			if ($4 == "splice") zc = "n/a"
			hb = $(col["host_other_pct_med"]) == "" ? "-" : sprintf("%.0f%%", $(col["host_other_pct_med"]))
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s%s | %s |\n", $2, $4,
				r(col["mbps_med"], 0), r(col["guest_cpu_s_per_gib_med"], 2),
				r(col["rx_cpu_s_per_gib_med"], 2), r(col["syscalls_per_gib_med"], 0),
				zc, ratio, $5, ($6 > 0 ? " (" $6 " failed)" : ""), hb
		}
	}
}
EOF
		echo
		echo "## The issue's targets for zcrx (copy mode)"
		echo
		echo "Ratios are paired: taken between runs of the same repetition (the methods of"
		echo "one cell run back to back, so they share the host's load of the moment),"
		echo "then the median over the repetitions, (min-max). *CPU*: whole-guest"
		echo "CPU/GiB of zcrx-poll divided by recv()'s (target <= 0.8 at >= 64 KiB"
		echo "writes, <= 0.7 at 4 KiB), the same for zcrx-batch (zcrx_wait_nr(): one"
		echo "wakeup per 16 completions or 1 ms), and by io_uring multishot's (target <= 0.9 at"
		echo ">= 64 KiB). *MB/s*: zcrx-poll and zcrx-busy divided by the best other"
		echo "method of the cell (best median throughput among those whose data the"
		echo "process checks: splice to /dev/null never reads its bytes and is left"
		echo "out); target >= 1. *syscalls*: zcrx-poll's (and zcrx-busy's) receive-loop"
		echo "system calls per GiB divided by recv()'s (target < 1%)."
		echo
		targets_table -1
		if awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "host_other_pct") c = i; next }
			c && $c != "" { found = 1 } END { exit !found }' "$out/runs.csv"; then
			echo
			echo "The same, from the pairs of runs during which other work used at most"
			echo "${BENCH_QUIET_PCT:-10}% of the host's CPUs (n: pairs, of the repetitions):"
			echo
			targets_table "${BENCH_QUIET_PCT:-10}"
		fi
		[[ ! -r $out/tx.csv ]] || nic_markdown
		[[ ! -r $out/zc-results.csv ]] || zc_markdown
	} >"$md"
}

# The nic links' section of results.md: what the host's sender spent and
# how many interrupts the card raised, per GiB, beside the guest's figures.
nic_markdown() {
	echo
	echo "## nic links: the host's sender and the card's interrupts"
	echo
	echo "Medians over the runs that passed. *guest CPU*: whole-guest CPU s/GiB (the"
	echo "receive side only: the sender is on the host); *host sender CPU*: the"
	echo "sender's user + system s/GiB on the host (tx.csv); *interrupts*: the card's"
	echo "(its input and output queues) per GiB, from /proc/interrupts; *elsewhere*:"
	echo "how many of them, over all runs, were not on the layout's CPU."
	echo
	echo "| link | write | conns | method | MB/s | guest CPU s/GiB | host sender CPU s/GiB | interrupts/GiB | elsewhere | runs |"
	echo "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F, -f - "$out/tx.csv" "$out/runs.csv" <<'EOF'
function med(list,   a, n, i, j, t) {
	n = split(list, a, " ")
	if (!n)
		return ""
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function f(x, d) { return x == "" ? "-" : sprintf("%." d "f", x) }
function field(s, name,   r) {
	if (!match(s, "(^|;)" name "=[0-9]+"))
		return ""
	r = substr(s, RSTART, RLENGTH); sub(/.*=/, "", r)
	return r
}
FNR == 1 { for (i = 1; i <= NF; i++) col[FILENAME, $i] = i; next }
FILENAME ~ /tx\.csv$/ { txcpu[$1 "," $2 "," $3 "," $4 "," $5] = $8 + $9; next }
$1 ~ /^nic/ && $(col[FILENAME, "status"]) == "ok" {
	cell = $1 "," $2 "," $3 "," $4
	if (!(cell in seen)) { seen[cell] = 1; cells[++nc] = cell }
	gib = $(col[FILENAME, "bytes"]) / 1073741824
	if (gib <= 0)
		next
	runs[cell]++
	mb[cell] = mb[cell] " " $(col[FILENAME, "mbps"])
	g[cell] = g[cell] " " $(col[FILENAME, "guest_cpu"]) / gib
	k = $1 "," $2 "," $3 "," $4 "," $5
	if (k in txcpu)
		tx[cell] = tx[cell] " " txcpu[k] / gib
	x = $(col[FILENAME, "extra"])
	if (field(x, "nic_irqs") != "")
		irq[cell] = irq[cell] " " field(x, "nic_irqs") / gib
	off[cell] += field(x, "nic_irqs_elsewhere")
}
END {
	for (c = 1; c <= nc; c++) {
		split(cells[c], p, ",")
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %d | %d |\n", p[1], p[2], p[3], p[4],
			f(med(mb[cells[c]]), 0), f(med(g[cells[c]]), 2), f(med(tx[cells[c]]), 2),
			f(med(irq[cells[c]]), 0), off[cells[c]], runs[cells[c]]
	}
}
EOF
}

# The zero-copy paths section of results.md, from zc-results.csv.
zc_markdown() {
	echo
	echo "## Zero-copy paths"
	echo
	echo "Loopback (MTU $(info_of lo_mtu)), 1 connection, $(info_of zc_mib_per_run) MiB per run, $(info_of zc_runs) run(s) per cell;"
	echo "every sender mode feeds every receiver. Sender modes: *plain* \`send()\` from"
	echo "a buffer; *msgzc* \`send(MSG_ZEROCOPY)\` from the same buffer (over lo the kernel"
	echo "copies its pages into fresh whole pages at delivery); *pool* \`zcrx_send()\` of"
	echo "buffers claimed from a writable zcrx pool, filled once (whole pool pages, by"
	echo "reference). Receivers: *zcrx-poll* is zcrx's copy mode; *zcrx-map* and"
	echo "*zcrx-map1* are MAP pools (the module's default threshold and"
	echo "MAP_ALWAYS), which map whole page-aligned network pages instead of copying"
	echo "them; *tcpzc* is TCP_ZEROCOPY_RECEIVE."
	echo
	echo "Medians. *CPU*: whole-guest CPU s/GiB. *mapped*: share of the bytes mapped"
	echo "into the receiving process (tcpzc's mapped pages, zcrx's MAPPED"
	echo "completions); *zero-copy*: share not copied on the receive side (zcrx:"
	echo "ZEROCOPY completions, which include MAPPED). *syscalls*: receive loop,"
	echo "counted by the receiver (zcrx: every poll() and ioctl() libzcrx makes). *vs"
	echo "zcrx-poll*, *vs tcpzc*: CPU/GiB divided by theirs for the same sender and"
	echo "write size (ratio of medians)."
	# The pools' map_threshold, as the receiver found it (extra: threshold=).
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		match($col["extra"], /(^|;)threshold=[0-9]+/) {
			t = substr($col["extra"], RSTART, RLENGTH); sub(/.*=/, "", t)
			k = $col["method"] " " t " bytes"
			if (!(k in seen)) { seen[k] = 1; list = list (list == "" ? "" : ", ") k }
		}
		END { if (list != "") printf "\nmap_threshold of the MAP pools in this run: %s.\n", list }' \
		"$out/zc-runs.csv"
	awk -F, -f - "$out/zc-results.csv" <<'EOF'
function f(x, d) { return x == "" ? "-" : sprintf("%." d "f", x) }
function r(i, d) { return $i == "" ? "-" : f($i, d) " (" f($(i + 1), d) "-" f($(i + 2), d) ")" }
function pct(x) { return x == "" ? "-" : sprintf("%.0f%%", x) }
function ratio(a, b) { return (a == "" || b == "" || b <= 0) ? "-" : sprintf("%.2f", a / b) }
function label(s) {
	if (s == "plain") return "plain `send()`"
	if (s == "msgzc") return "`send(MSG_ZEROCOPY)`"
	if (s == "pool") return "`zcrx_send()` from a writable pool"
	return s
}
# One matrix: rows sender x write size, columns the receivers.
function matrix(title, m, kind,   c, j, x) {
	printf "\n%s:\n\n| sender | write |", title
	for (j = 1; j <= nm; j++) printf " %s |", meth[j]
	printf "\n| --- | --- |"
	for (j = 1; j <= nm; j++) printf " ---: |"
	printf "\n"
	for (c = 1; c <= nc; c++) {
		split(cells[c], p, SUBSEP)
		printf "| %s | %s |", p[1], p[2]
		for (j = 1; j <= nm; j++) {
			x = v[cells[c], meth[j], m]
			printf " %s |", kind == "pct" ? pct(x) : f(x, kind)
		}
		printf "\n"
	}
}
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
	cell = $(col["sender"]) SUBSEP $(col["wsize"])
	if (!(cell in seen)) { seen[cell] = 1; cells[++nc] = cell }
	if (!($(col["sender"]) in sseen)) { sseen[$(col["sender"])] = 1; senders[++ns] = $(col["sender"]) }
	m = $(col["method"])
	if (!(m in mseen)) { mseen[m] = 1; meth[++nm] = m }
	split("mbps guest_cpu_s_per_gib rx_cpu_s_per_gib syscalls_per_gib mapped_pct zerocopy_pct", names, " ")
	for (i in names)
		v[cell, m, names[i]] = $(col[names[i] "_med"])
	line[cell, m] = $0
}
END {
	matrix("MB/s", "mbps", 0)
	matrix("Whole-guest CPU s/GiB", "guest_cpu_s_per_gib", 2)
	matrix("Receive-loop syscalls/GiB", "syscalls_per_gib", 0)
	matrix("Bytes mapped", "mapped_pct", "pct")
	for (s = 1; s <= ns; s++) {
		printf "\n### Sender: %s\n\n", label(senders[s])
		print "| write | method | MB/s | whole-guest CPU s/GiB | rx CPU s/GiB | syscalls/GiB | mapped | zero-copy | vs zcrx-poll | vs tcpzc | runs | host busy |"
		print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		for (c = 1; c <= nc; c++) {
			split(cells[c], p, SUBSEP)
			if (p[1] != senders[s])
				continue
			for (j = 1; j <= nm; j++) {
				if (!((cells[c], meth[j]) in line))
					continue
				$0 = line[cells[c], meth[j]]
				cpu = $(col["guest_cpu_s_per_gib_med"])
				hb = $(col["host_other_pct_med"]) == "" ? "-" : sprintf("%.0f%%", $(col["host_other_pct_med"]))
				printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s%s | %s |\n",
					p[2], meth[j], r(col["mbps_med"], 0),
					r(col["guest_cpu_s_per_gib_med"], 2),
					f($(col["rx_cpu_s_per_gib_med"]), 2),
					f($(col["syscalls_per_gib_med"]), 0),
					pct($(col["mapped_pct_med"])), pct($(col["zerocopy_pct_med"])),
					ratio(cpu, v[cells[c], "zcrx-poll", "guest_cpu_s_per_gib"]),
					ratio(cpu, v[cells[c], "tcpzc", "guest_cpu_s_per_gib"]),
					$(col["runs_ok"]), ($(col["runs_failed"]) > 0 ? " (" $(col["runs_failed"]) " failed)" : ""), hb
			}
		}
	}
}
EOF
	echo
	echo "zcrx-map and zcrx-map1 in \`zc-runs.csv\` (extra field): *mapped*, *fallbacks*"
	echo "(mappable runs copied: window full, ...), *zaps*/*zapped* (window unmaps and"
	echo "pages unmapped), *recv_calls* (ZCRXDEV_IOC_RECV), *threshold* (bytes, the pool's"
	echo "map_threshold), *polls*/*ioctls* (the receive loop's calls)."
}

# Two rows (throughput, whole-guest CPU per GiB) by four columns (link x
# connections); in each panel the write sizes are the groups and the
# methods the bars, with min-max error bars.
draw_chart() {
	local dat=$out/.chart gp=$out/.chart.gp methods cols panel row title ylabel i
	command -v gnuplot >/dev/null || { log "no gnuplot: no chart"; return 0; }
	mkdir -p "$dat"
	methods=$(awk -F, 'NR > 1 && !s[$4]++ { printf "%s ", $4 }' "$out/results.csv")
	cols=$(awk -F, 'NR > 1 && !s[$1 " " $3]++ { printf "%s:%s ", $1, $3 }' "$out/results.csv")
	for panel in $cols; do
		for row in mbps guest_cpu_s_per_gib; do
			awk -F, -v link="${panel%:*}" -v conns="${panel#*:}" -v metric="$row" -v methods="$methods" '
			NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
			$1 == link && $3 == conns {
				if (!($2 in seen)) { seen[$2] = 1; sizes[++ns] = $2 }
				v[$2, $4] = $(col[metric "_med"]) " " $(col[metric "_min"]) " " $(col[metric "_max"])
			}
			END {
				nm = split(methods, m, " ")
				for (s = 1; s <= ns; s++) {
					printf "%s", sizes[s]
					for (i = 1; i <= nm; i++) {
						x = v[sizes[s], m[i]]
						if (x == "" || x ~ /^ /) x = "NaN NaN NaN"
						printf " %s", x
					}
					printf "\n"
				}
			}' "$out/results.csv" >"$dat/${panel/:/-}-$row.dat"
		done
	done
	{
		echo "set terminal pngcairo size 1800,1000 font 'DejaVu Sans,10'"
		echo "set output '$out/chart.png'"
		echo "set multiplot layout 2,$(wc -w <<<"$cols") title 'zcrx receive benchmark: $(info_of kernel), ${run_accel:-?}, median of $(info_of runs) runs, bars min-max' font ',13'"
		echo "set style data histogram"
		echo "set style histogram errorbars gap 1 lw 1"
		echo "set style fill solid 0.8 border -1"
		echo "set boxwidth 0.9"
		echo "set grid ytics"
		echo "set yrange [0:*]"
		echo "set offsets 0, 0, graph 0.22, 0"
		echo "set key top left horizontal maxrows 2 width -1 font ',8' samplen 1"
		echo "set xlabel 'sender write size'"
		for row in mbps guest_cpu_s_per_gib; do
			for panel in $cols; do
				if [[ $row == mbps ]]; then ylabel="MB/s (higher is better)"; else ylabel="guest CPU s/GiB (lower is better)"; fi
				title="${panel%:*}, ${panel#*:} conn"
				echo "set title '$title'"
				echo "set ylabel '$ylabel'"
				printf "plot "
				i=0
				for m in $methods; do
					[[ $i -gt 0 ]] && printf ", "
					printf "'%s' using %d:%d:%d%s title '%s'" "$dat/${panel/:/-}-$row.dat" \
						$((2 + 3 * i)) $((3 + 3 * i)) $((4 + 3 * i)) \
						"$([[ $i -eq 0 ]] && echo ':xtic(1)')" "$m"
					i=$((i + 1))
				done
				echo
			done
		done
		echo "unset multiplot"
	} >"$gp"
	gnuplot "$gp" 2>"$out/.chart.err" || { cat "$out/.chart.err" >&2; log "gnuplot failed"; }
	rm -rf "$dat" "$gp" "$out/.chart.err"
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

aggregate
rm -f "$out/.info"
files="runs.csv results.csv"
[[ ! -r $out/zc-runs.csv ]] || files+=" zc-runs.csv zc-results.csv"
[[ ! -r $out/tx.csv ]] || files+=" tx.csv"
log "results in $out/: $files memcpy.csv results.md chart.png"
log "took $((SECONDS - started)) s"
runs_files=("$out/runs.csv")
[[ ! -r $out/zc-runs.csv ]] || runs_files+=("$out/zc-runs.csv")
nfail=$(awk -F, 'FNR == 1 { for (i = 1; i <= NF; i++) if ($i == "status") c = i; next }
	$c != "ok"' "${runs_files[@]}" | wc -l)
if [[ $guest_ok != 1 || $nfail -ne 0 ]]; then
	log "FAILED: $nfail failed runs (see $out/runs.csv, $out/zc-runs.csv and the log)"
	exit 1
fi

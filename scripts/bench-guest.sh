#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# timeout: 2400
#
# bench-guest.sh: the receive benchmark's matrix, run where /dev/zcrx is.
#
# In the guest that scripts/bench.sh boots it is /tests/t_bench.sh and the
# guest's /init runs it; on a machine that has zcrx.ko loaded it can be run
# directly, as root, after "make bench-progs":
#     sudo scripts/bench-guest.sh > bench.out
#     scripts/bench.sh --aggregate bench.out
#
# Everything happens in a network namespace of its own (the script re-runs
# itself under "unshare -n"), so the machine's own interfaces are never
# touched:
#   lo    MTU 61492 = 15 * 4096 + 20 + 32: a page-multiple MSS, which
#         TCP_ZEROCOPY_RECEIVE needs to map pages; every method runs on the
#         same link, so all get the same segments;
#   veth  a veth pair, the sender's end in a second namespace (held by a
#         sleeping process, entered with nsenter), MTU $BENCH_VETH_MTU
#         (1500 by default, like Ethernet), 10.77.0.2 -> 10.77.0.1;
#   nic   only in the guest of scripts/bench.sh, which gives it a
#         virtio-net card on a tap device in a network namespace of the
#         host (BENCH_NIC_GUEST=1): eth0, moved into our namespace,
#         169.254.77.2/30.  The sender runs on the HOST: for each run this
#         script starts the receiver and prints
#           BENCHNIC ready id=<run> port=P conns=N bytes=<per conn> wsize=W mtu=M limit=S
#         and bench.sh, which watches the console, starts the sender there
#         (its CPU time is the host's, reported apart: BENCHTX).  So all
#         the guest spends is receive work.  The links are nic<MTU>-<layout>:
#           split  the card's interrupts (and so NAPI, its softirq) on CPU
#                  $BENCH_NIC_IRQ_CPU (1), the receiver on $BENCH_RX_CPU (0)
#           same   both on the receiver's CPU
#         RPS is off, so the softirq stays where the interrupt is.
# The receiver is pinned to CPU $BENCH_RX_CPU (0), the sender to
# $BENCH_TX_CPU (1).  Loopback and veth deliver in the sender's softirq, so
# the receive-side kernel work of the stack lands on the sender's CPU: that
# is why the whole-machine CPU time is the figure to compare.
#
# Two sections run one after the other:
#   the receive matrix   links x write sizes x connections x receivers, all
#                        fed by a plain send() sender (MSG_ZEROCOPY for
#                        tcpzc, which cannot map anything without it);
#   zero-copy paths      lo, 1 connection, write sizes x sender modes x
#                        receivers, where the sender mode is one of
#                          plain  send() from a buffer (sender.c)
#                          msgzc  send() with MSG_ZEROCOPY (sender -z): over
#                                 lo the kernel copies the pages into fresh
#                                 whole pages at delivery, which receivers
#                                 can map
#                          pool   zcrx_send() of claimed buffers of a
#                                 writable zcrx pool (sender -P): whole pool
#                                 pages, by reference
#                        and the receivers include zcrx's MAP pools
#                        (zcrx-map, zcrx-map1) beside copy mode (zcrx-poll),
#                        recv() and TCP_ZEROCOPY_RECEIVE (tcpzc).  Its link
#                        field is lo@MODE (lo@plain, lo@msgzc, lo@pool).
#
# Output, on stdout (the guest's /init echoes it as "# ..." lines):
#   BENCHINFO key=value            the machine and the settings
#   BENCHMEM run,large,small,verify      memcpy.c, MB/s
#   BENCHHDR <CSV header>
#   BENCHCSV link,wsize,conns,method,run,<receiver RESULT fields>,status
#                                  (link lo@MODE: the zero-copy paths; a
#                                  nic link's extra field gets nic_irqs=N,
#                                  the card's interrupts during the run, and
#                                  nic_irqs_elsewhere=M, those not on the
#                                  layout's CPU)
#   BENCHNIC ready ...             a nic run's request for a sender (above)
#   ok - bench.<...> / not ok - bench.<...>: <why>   the verdicts
#
# Settings (environment; on the guest's kernel command line for bench.sh):
#   BENCH_QUICK=1        a small matrix: 64 KiB writes, lo and veth, 1 run
#                        (the zero-copy paths: 64 KiB writes, 1 run)
#   BENCH_RUNS=N         repetitions of each cell (5)
#   BENCH_MB=N           MiB per run, split over the connections (256)
#   BENCH_MB_4K=N        MiB per run for 4 KiB writes (BENCH_MB / 2)
#   BENCH_METHODS=a,b    receivers (all nine, and iouzcrx,iouzcrx-batch where
#                        they can run: see below)
#   BENCH_SIZES=4k,64k   sender write sizes (4k,64k,1m)
#   BENCH_CONNS=1,16     connection counts (1,16)
#   BENCH_LINKS=lo,veth  links (lo,veth); "nic" is every nic<MTU>-<layout>
#                        of the two lists below, or name them one by one
#                        (nic1500-split, nic9000-same, ...)
#   BENCH_NIC_MTUS=1500,9000     the nic link's MTUs (1500,9000)
#   BENCH_NIC_LAYOUTS=split,same its core layouts (split,same)
#   BENCH_NIC_IRQ_CPU=N  the card's interrupt CPU in the split layout (1)
#   BENCH_NIC_GUEST=1    set by bench.sh: this is its guest and eth0 is the
#                        card on its tap (nothing else may be moved here)
#   BENCH_NIC_OFFLOADS, BENCH_CPU   what bench.sh gave QEMU: only printed
#   BENCH_PROFILE=1|f,g  time these kernel functions in every run (function_graph;
#                        BENCHPROF lines, see prof_setup): where the time goes
#   BENCH_ZC=0           skip the zero-copy paths section (it runs by default)
#   BENCH_ZC_RUNS=N      its repetitions (BENCH_RUNS)
#   BENCH_ZC_MB=N        its MiB per run (BENCH_MB)
#   BENCH_ZC_SIZES=64k   its write sizes (4k,64k,1m; quick: 64k)
#   BENCH_ZC_SENDERS=a,b its sender modes (plain,msgzc,pool)
#   BENCH_ZC_METHODS=a,b its receivers (recv,tcpzc,zcrx-poll,zcrx-map,zcrx-map1)
#   BENCH_BIN=DIR        where sender, receiver and memcpy are
#
# io_uring zcrx: iouzcrx and iouzcrx-batch are io_uring's zero-copy
# receive in its device-less copy mode (ZCRX_REG_NODEV, Linux 7.1+; the
# kernel copies every byte into a 16 MiB area inside io_uring_enter();
# bench/iouzcrx.c).  They need the kernel and a receiver built for it,
# $BENCH_BIN/iouzcrx-receiver (make bench-progs-7x; scripts/bench.sh packs
# it when the guest's kernel is 7.x): it runs those two methods, the
# receiver every other one.  Where either is missing they are left out of
# the default list, and skipped with a "# " note when named.
set -u

if [ "${BENCH_NETNS_DONE:-}" != 1 ]; then
	BENCH_NETNS_DONE=1
	export BENCH_NETNS_DONE
	exec unshare -n sh "$0" "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${BENCH_BIN:-}" ]; then
	bin=$BENCH_BIN
elif [ -x "$here/receiver" ]; then
	bin=$here
else
	bin=$here/../build/bench
fi
for p in sender receiver memcpy; do
	if [ ! -x "$bin/$p" ]; then
		echo "not ok - bench.programs: $bin/$p missing (make bench-progs)"
		exit 1
	fi
done

# Comma lists -> words.
words() { echo "$1" | tr ',' ' '; }

all_methods="recv,epoll,uring,splice,splice-file,tcpzc,zcrx-poll,zcrx-busy,zcrx-batch,zcrx-defer"
# io_uring zcrx NODEV: Linux 7.1 or later, and its receiver (see the top).
have_iou=0
iou_why=
if [ ! -x "$bin/iouzcrx-receiver" ]; then
	iou_why="no $bin/iouzcrx-receiver (make bench-progs-7x)"
elif ! iou_err=$("$bin/iouzcrx-receiver" -m iouzcrx -P 2>&1); then
	# Asked of the kernel itself: an io_uring zcrx NODEV registration.
	iou_why="kernel $(uname -r) cannot run io_uring zcrx NODEV ($iou_err)"
else
	have_iou=1
	all_methods="$all_methods,iouzcrx,iouzcrx-batch"
fi
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	runs=${BENCH_RUNS:-1}
	mb=${BENCH_MB:-128}
	sizes=${BENCH_SIZES:-64k}
	conns=${BENCH_CONNS:-1}
	zc_sizes=${BENCH_ZC_SIZES:-64k}
else
	runs=${BENCH_RUNS:-5}
	mb=${BENCH_MB:-256}
	sizes=${BENCH_SIZES:-4k,64k,1m}
	conns=${BENCH_CONNS:-1,16}
	zc_sizes=${BENCH_ZC_SIZES:-4k,64k,1m}
fi
mb4k=${BENCH_MB_4K:-$((mb / 2))}
methods=${BENCH_METHODS:-$all_methods}
links=${BENCH_LINKS:-lo,veth}
nic_mtus=${BENCH_NIC_MTUS:-1500,9000}
nic_layouts=${BENCH_NIC_LAYOUTS:-split,same}
# "nic" -> nic<MTU>-<layout> for every MTU and layout, in that order.
links=$(for l in $(echo "$links" | tr ',' ' '); do
	if [ "$l" = nic ]; then
		for u in $(echo "$nic_mtus" | tr ',' ' '); do
			for y in $(echo "$nic_layouts" | tr ',' ' '); do
				printf '%s\n' "nic$u-$y"
			done
		done
	else
		printf '%s\n' "$l"
	fi
done | paste -s -d, -)
rxcpu=${BENCH_RX_CPU:-0}
ncpu=$(nproc 2>/dev/null || echo 1)
if [ "$ncpu" -ge 2 ]; then txcpu=${BENCH_TX_CPU:-1}; else txcpu=${BENCH_TX_CPU:-0}; fi
veth_mtu=${BENCH_VETH_MTU:-1500}
nic_irq_cpu=${BENCH_NIC_IRQ_CPU:-1}
run_limit=${BENCH_RUN_TIMEOUT:-120}
zc=${BENCH_ZC:-1}
zc_runs=${BENCH_ZC_RUNS:-$runs}
zc_mb=${BENCH_ZC_MB:-$mb}
zc_senders=${BENCH_ZC_SENDERS:-plain,msgzc,pool}
zc_methods=${BENCH_ZC_METHODS:-recv,tcpzc,zcrx-poll,zcrx-map,zcrx-map1}

bytes_of() {	# write size word -> bytes
	case $1 in
	*k | *K) echo $((${1%?} * 1024)) ;;
	*m | *M) echo $((${1%?} * 1048576)) ;;
	*) echo "$1" ;;
	esac
}

# --- The links ----------------------------------------------------------------
ip link set lo up
ip link set lo mtu 61492 || echo "# could not set lo MTU 61492"

holder=
cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	rm -f /tmp/bench.rx.$$ /tmp/bench.rxerr.$$ /tmp/bench.txerr.$$
}
trap cleanup EXIT

have_veth=0
case ",$links," in
*,veth,*)
	# busybox ip ignores "peer name": find the peer by its link instead.
	if ip link add zb0 type veth peer name zb1 2>/dev/null ||
	   { modprobe veth 2>/dev/null && ip link add zb0 type veth peer name zb1; }; then
		peer=$(ip -o link | sed -n 's/^[0-9]*: *\([^@:]*\)@zb0:.*/\1/p' | head -n 1)
		unshare -n sleep 1000000 &
		holder=$!
		sleep 0.2
		if [ -n "$peer" ] && ip link set "$peer" netns "$holder"; then
			ip addr add 10.77.0.1/24 dev zb0
			ip link set zb0 mtu "$veth_mtu" up
			nsenter -t "$holder" -n ip link set lo up
			nsenter -t "$holder" -n ip addr add 10.77.0.2/24 dev "$peer"
			nsenter -t "$holder" -n ip link set "$peer" mtu "$veth_mtu" up
			have_veth=1
		fi
	fi
	[ $have_veth = 1 ] || echo "# no veth pair (veth module or ip netns support missing): veth skipped"
	;;
esac

# The nic link: the virtio-net card bench.sh attached.  Only in its guest
# (BENCH_NIC_GUEST=1 and /etc/zcrx-kernel, which only the guest's image
# has): eth0 is moved out of PID 1's namespace, which on any other machine
# would be the machine's own network.
have_nic=0
nic_irqs=
case ",$links," in
*,nic*)
	if [ "${BENCH_NIC_GUEST:-0}" = 1 ] && [ -f /etc/zcrx-kernel ]; then
		# bench.sh packs the driver's modules (NN-name.ko, in load order);
		# a kernel that builds them in has none.
		for ko in "$here"/nic/*.ko; do
			[ -e "$ko" ] || continue
			insmod "$ko" 2>/dev/null || echo "# insmod $ko failed"
		done
		i=0
		while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		vdev=$(basename "$(readlink /sys/class/net/eth0/device 2>/dev/null)" 2>/dev/null)
		case $vdev in
		virtio*)
			# Before the move: /sys shows PID 1's namespace only.
			nic_features=$(cat "/sys/class/net/eth0/device/features")
			for q in /sys/class/net/eth0/queues/rx-*/rps_cpus; do
				echo 0 >"$q"
			done
			[ -w /proc/sys/net/core/rps_sock_flow_entries ] &&
				echo 0 >/proc/sys/net/core/rps_sock_flow_entries
			# MSI-X: one interrupt per queue (virtio0-input.0,
			# virtio0-output.0); the TX queue's too, since its
			# completions are the ACKs of the receive.  INTx: one
			# interrupt named after the device.
			nic_irqs=$(awk -v d="$vdev" '$NF ~ "^" d "-(input|output)" { sub(":", "", $1); print $1 }' /proc/interrupts | paste -s -d, -)
			[ -n "$nic_irqs" ] ||
				nic_irqs=$(awk -v d="$vdev" '$NF == d { sub(":", "", $1); print $1 }' /proc/interrupts | paste -s -d, -)
			if [ -n "$nic_irqs" ] && nsenter -t 1 -n ip link set eth0 netns $$; then
				[ -w /proc/sys/net/ipv6/conf/eth0/disable_ipv6 ] &&
					echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6
				ip addr add 169.254.77.2/30 dev eth0
				ip link set eth0 up
				have_nic=1
			fi
			;;
		esac
	fi
	[ $have_nic = 1 ] || echo "# no virtio-net card from scripts/bench.sh (or no interrupt for it): nic links skipped"
	;;
esac

# The virtio feature bits that decide how frames arrive (virtio 1.x spec,
# 5.1.3): which of them the card and the driver agreed on.
nic_offload_bits() {
	for b in 1:guest_csum 7:guest_tso4 8:guest_tso6 9:guest_ecn 10:guest_ufo 15:mrg_rxbuf 3:mtu; do
		[ "$(echo "$nic_features" | cut -c $((${b%%:*} + 1)))" = 1 ] && printf '%s ' "${b#*:}"
	done
}

# nic_use LINK: eth0's MTU and the interrupts' CPU for nic<MTU>-<layout>.
nic_state=
nic_use() {
	[ "$nic_state" = "$1" ] && return 0
	u=${1#nic}
	u=${u%-*}
	case ${1##*-} in
	split) nic_cpu=$nic_irq_cpu ;;
	same) nic_cpu=$rxcpu ;;
	*) echo "# $1: unknown layout"; return 1 ;;
	esac
	ip link set eth0 mtu "$u" || return 1
	for q in $(words "$nic_irqs"); do
		echo "$nic_cpu" >"/proc/irq/$q/smp_affinity_list" || return 1
	done
	# A few frames each way, so that the first run does not pay for ARP
	# and the interrupts have moved (the first one or two after a change
	# can still land on the old CPU).  The host's end of the tap is the
	# only address there is.
	ping -c 3 -W 1 169.254.77.1 >/dev/null 2>&1 || echo "# $1: the host's end of the tap does not answer ping"
	nic_state=$1
}

# The card's interrupts so far: "TOTAL ON_CPU" (ON_CPU: on CPU $1).
nic_irq_count() {
	awk -v irqs=",$nic_irqs," -v cpu="$1" -v n="$ncpu" '
		{ q = $1; sub(":", "", q) }
		index(irqs, "," q ",") { for (i = 2; i <= n + 1; i++) { t += $i; if (i - 2 == cpu) c += $i } }
		END { printf "%d %d\n", t, c }' /proc/interrupts
}

have_zcrx=0
[ -c /dev/zcrx ] && have_zcrx=1
[ $have_zcrx = 1 ] || echo "# /dev/zcrx missing: zcrx methods skipped"
if [ $have_iou = 0 ]; then
	case ",${BENCH_METHODS:-}," in
	*,iouzcrx,* | *,iouzcrx-batch,*) echo "# $iou_why: iouzcrx methods skipped" ;;
	*) echo "# $iou_why: no iouzcrx methods" ;;
	esac
fi

# --- What we run on -------------------------------------------------------------
info() { echo "BENCHINFO $1=$2"; }
info kernel "$(uname -r)"
info cpus "$ncpu"
info cpu_model "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
info mem_kib "$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
info runs "$runs"
info mib_per_run "$mb"
info mib_per_run_4k "$mb4k"
info sizes "$sizes"
info conns "$conns"
info links "$links"
info methods "$methods"
info iouzcrx "$have_iou"
info rx_cpu "$rxcpu"
info tx_cpu "$txcpu"
info lo_mtu "$(ip -o link show lo | sed -n 's/.* mtu \([0-9]*\).*/\1/p')"
info veth_mtu "$veth_mtu"
info qemu_cpu "${BENCH_CPU:-unknown}"
info nic "$have_nic"
if [ $have_nic = 1 ]; then
	info nic_mtus "$nic_mtus"
	info nic_layouts "$nic_layouts"
	info nic_irq_cpu "$nic_irq_cpu"
	info nic_irqs "$nic_irqs"
	info nic_offloads "${BENCH_NIC_OFFLOADS:-unknown}"
	info nic_features "$(nic_offload_bits | sed 's/ $//')"
	info nic_rps "off"
fi
info tcp_rmem "$(tr '\t' ' ' </proc/sys/net/ipv4/tcp_rmem)"
info tcp_wmem "$(tr '\t' ' ' </proc/sys/net/ipv4/tcp_wmem)"
info clk_tck "$(getconf CLK_TCK 2>/dev/null || echo 100)"
info zc "$zc"
info zc_runs "$zc_runs"
info zc_mib_per_run "$zc_mb"
info zc_sizes "$zc_sizes"
info zc_senders "$zc_senders"
info zc_methods "$zc_methods"

t_start=$(cut -d' ' -f1 /proc/uptime)
since() {	# UPTIME: whole seconds since then
	awk -v a="$1" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.0f", b - a }'
}

# --- One run --------------------------------------------------------------------
port=20000
nfail=0
nrun=0
rx_out=/tmp/bench.rx.$$
rx_err=/tmp/bench.rxerr.$$
tx_err=/tmp/bench.txerr.$$
empty=$("$bin/receiver" -H | sed 's/[^,]//g')	# as many commas as fields - 1

# The sender's option for a sender mode (see the top).
sender_opt() {
	case $1 in
	msgzc) echo -z ;;
	pool) echo -P ;;
	*) ;;
	esac
}

# run_one LINK WSIZE CONNS METHOD RUN [MIB]: prints one BENCHCSV line.
# LINK is lo or veth (the receive matrix), or lo@MODE (the zero-copy paths:
# sender mode MODE).
# --- BENCH_PROFILE: where the time goes, per function (ftrace function_graph) -----------
# BENCH_PROFILE=1 (a default list) or f1,f2,...: during each run, the
# function_graph tracer times every call of those functions only, and
# BENCHPROF lines give per CPU each one's calls and inclusive time:
#   BENCHPROF link,wsize,conns,method,run,cpu,function,calls,total_us
# Tracing costs time itself: a profiled matrix says where the time goes;
# its figures are not comparable with an unprofiled one's.
tr=/sys/kernel/tracing
prof_funcs="net_rx_action virtnet_poll napi_gro_receive tcp_v4_rcv tcp_rcv_established sock_def_readable tcp_data_ready tcp_read_sock zcrx_read_pass zcrx_place_copy zcrx_pool_notify zcrx_ctx_recv zcrx_ctx_recv_wait tcp_recvmsg skb_copy_datagram_iter __wake_up do_sys_poll __x64_sys_ioctl __x64_sys_io_uring_enter io_zcrx_recv io_zcrx_copy_chunk tcp_cleanup_rbuf"
prof_on=0
prof_setup() {
	[ -n "${BENCH_PROFILE:-}" ] && [ "$BENCH_PROFILE" != 0 ] || return 0
	[ -e $tr/set_ftrace_filter ] || mount -t tracefs nodev $tr 2>/dev/null
	if [ ! -w $tr/set_ftrace_filter ]; then
		echo "# BENCH_PROFILE: no tracefs/ftrace here"
		return 0
	fi
	[ "$BENCH_PROFILE" = 1 ] || prof_funcs=$(words "$BENCH_PROFILE")
	: >$tr/set_ftrace_filter
	for f in $prof_funcs; do
		echo "$f" >>$tr/set_ftrace_filter 2>/dev/null ||
			echo "# BENCH_PROFILE: $f cannot be traced here"
	done
	echo 16384 >$tr/buffer_size_kb
	echo function_graph >$tr/current_tracer || { echo "# BENCH_PROFILE: no function_graph"; return 0; }
	echo funcgraph-tail >$tr/trace_options 2>/dev/null
	echo 0 >$tr/tracing_on
	prof_on=1
}
prof_start() {
	[ $prof_on = 1 ] || return 0
	: >$tr/trace
	echo 1 >$tr/tracing_on
}
prof_stop() {	# KEY: per CPU and function, calls and inclusive microseconds
	[ $prof_on = 1 ] || return 0
	echo 0 >$tr/tracing_on
	awk -v key="$1" '
	# " 1)   3.456 us    |  f();" (a leaf) or " 1) + 12.3 us |  } /* f */"
	match($0, /^ *[0-9]+\)/) {
		cpu = substr($0, RSTART, RLENGTH); gsub(/[ )]/, "", cpu)
		if (!match($0, /[0-9.]+ us/))
			next
		us = substr($0, RSTART, RLENGTH - 3)
		if (match($0, /\/\* [A-Za-z0-9_.]+ \*\//))
			f = substr($0, RSTART + 3, RLENGTH - 6)
		else if (match($0, /[A-Za-z0-9_.]+\(\);/))
			f = substr($0, RSTART, RLENGTH - 3)
		else
			next
		n[cpu " " f]++; t[cpu " " f] += us
	}
	END { for (k in n) { split(k, a, " "); printf "BENCHPROF %s,%s,%s,%d,%.0f\n", key, a[1], a[2], n[k], t[k] } }
	' $tr/trace
}

run_one() {
	link=$1 w=$2 n=$3 m=$4 r=$5 mib=${6:-}
	if [ -z "$mib" ]; then
		if [ "$(bytes_of "$w")" -le 4096 ]; then mib=$mb4k; else mib=$mb; fi
	fi
	per=$((mib * 1048576 / n))
	port=$((port + 1))
	[ $port -gt 60000 ] && port=20001
	if [ "${link%@*}" = veth ]; then
		addr=10.77.0.1
		wrap="nsenter -t $holder -n"
	else
		addr=127.0.0.1
		wrap=
	fi
	case $link in
	*@*) txopt=$(sender_opt "${link#*@}") ;;
	*) txopt=; [ "$m" = tcpzc ] && txopt=-z ;;
	esac
	: >"$tx_err"
	case $m in iouzcrx*) rx=$bin/iouzcrx-receiver ;; *) rx=$bin/receiver ;; esac
	prof_start
	case $link in
	nic*)
		if ! nic_use "$link"; then
			echo "not ok - bench.$link.$w.$n.$m.run$r: could not set the MTU or the interrupts' CPU"
			nrun=$((nrun + 1)) nfail=$((nfail + 1))
			echo "BENCHCSV $link,$w,$n,$m,$r,$empty,FAIL"
			return
		fi
		irq0=$(nic_irq_count "$nic_cpu")
		"$rx" -m "$m" -a 169.254.77.2 -p $port -n "$n" -b $per -c "$rxcpu" \
			-t "$run_limit" >"$rx_out" 2>"$rx_err" &
		rxpid=$!
		# Listening before asking (the sender would retry, but a
		# refused first try costs it a second).
		i=0
		while [ $i -lt 50 ] && ! awk -v p="$(printf ':%04X' $port)" \
			'$2 ~ p "$" && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp; do
			sleep 0.05
			i=$((i + 1))
		done
		# tcpzc's MSG_ZEROCOPY sender is not asked for: a host's
		# MSG_ZEROCOPY over a tap is copied anyway.
		nmtu=${link#nic}
		echo "BENCHNIC ready id=$link.$w.$n.$m.$r port=$port conns=$n bytes=$per wsize=$(bytes_of "$w") mtu=${nmtu%-*} limit=$run_limit"
		txrc=0	# the host's sender reports in BENCHTX (bench.sh)
		wait $rxpid
		rxrc=$?
		irq1=$(nic_irq_count "$nic_cpu")
		;;
	*)
		"$rx" -m "$m" -p $port -n "$n" -b $per -c "$rxcpu" -t "$run_limit" \
			>"$rx_out" 2>"$rx_err" &
		rxpid=$!
		# shellcheck disable=SC2086 # $wrap and $txopt are word lists
		$wrap "$bin/sender" -a $addr -p $port -n "$n" -b $per -w "$(bytes_of "$w")" \
			-c "$txcpu" -t "$run_limit" $txopt 2>"$tx_err"
		txrc=$?
		wait $rxpid
		rxrc=$?
		;;
	esac
	prof_stop "$link,$w,$n,$m,$r"
	res=$(sed -n 's/^RESULT //p' "$rx_out")
	case $link in
	nic*)
		if [ -n "$res" ]; then
			# The card's interrupts into the extra field (the last).
			t=$(( ${irq1% *} - ${irq0% *} ))
			e=$(( t - (${irq1#* } - ${irq0#* }) ))
			case $res in
			*,-) res="${res%,-},nic_irqs=$t;nic_irqs_elsewhere=$e" ;;
			*) res="$res;nic_irqs=$t;nic_irqs_elsewhere=$e" ;;
			esac
		fi
		;;
	esac
	nrun=$((nrun + 1))
	if [ $rxrc = 0 ] && [ $txrc = 0 ] && [ -n "$res" ]; then
		status=ok
	else
		status=FAIL
		nfail=$((nfail + 1))
		echo "not ok - bench.$link.$w.$n.$m.run$r: receiver status $rxrc, sender status $txrc: $(cat "$rx_err" "$tx_err" | tr '\n' ' ')"
		[ -n "$res" ] || res=$empty
	fi
	echo "BENCHCSV $link,$w,$n,$m,$r,$res,$status"
}

prof_setup
echo "BENCHHDR link,wsize,conns,method,run,$("$bin/receiver" -H),status"

# --- memcpy: the one-copy ceiling -------------------------------------------------
r=1
while [ $r -le "$runs" ]; do
	echo "BENCHMEM $r,$("$bin/memcpy" -c "$rxcpu" | sed -n 's/^MEMCPY //p')"
	r=$((r + 1))
done

# --- Warm-up: every method once, not reported ---------------------------------------
enabled() {	# METHOD LINK: can it run here?
	case $1 in
	zcrx-*) [ $have_zcrx = 1 ] || return 1 ;;
	iouzcrx*) [ $have_iou = 1 ] || return 1 ;;
	esac
	case $2 in *@pool) [ $have_zcrx = 1 ] || return 1 ;; esac
	case ${2%@*} in veth) [ $have_veth = 1 ] || return 1 ;; esac
	case $2 in
	nic*-split) [ $have_nic = 1 ] && [ "$ncpu" -ge 2 ] || return 1 ;;
	nic*) [ $have_nic = 1 ] || return 1 ;;
	esac
	return 0
}
for m in $(words "$methods"); do
	enabled "$m" lo || continue
	run_one lo 64k 1 "$m" 0 32 | sed 's/^BENCHCSV /# warm-up: /'
done

# rotate LIST N: the words of LIST, starting at the N-th (0-based, cyclic).
rotate() {
	echo "$1" | tr ',' '\n' | awk -v n="$2" '{ w[NR - 1] = $0 }
		END { for (i = 0; i < NR; i++) printf "%s ", w[(i + n) % NR] }'
}

# --- The matrix ---------------------------------------------------------------------
# Repetition outermost, so slow drift hits every cell alike; within a cell
# the methods run back to back (their ratios are compared pairwise), in an
# order rotated by one each repetition, so none always runs first.
r=1
while [ $r -le "$runs" ]; do
	order=$(rotate "$methods" $((r - 1)))
	for link in $(words "$links"); do
		for w in $(words "$sizes"); do
			for n in $(words "$conns"); do
				for m in $order; do
					enabled "$m" "$link" || continue
					run_one "$link" "$w" "$n" "$m" "$r"
				done
			done
		done
	done
	echo "# bench: repetition $r of $runs done after $(since "$t_start") s"
	r=$((r + 1))
done

# --- The zero-copy paths --------------------------------------------------------------
# lo, 1 connection: for each write size and sender mode the receivers run
# back to back, in an order rotated every repetition, as above.
t_zc=$(cut -d' ' -f1 /proc/uptime)
if [ "$zc" = 1 ]; then
	# Warm-up, not reported: each sender mode once, and each receiver
	# that the receive matrix did not warm up.
	first=$(words "$zc_methods" | awk '{ print $1 }')
	for s in $(words "$zc_senders"); do
		enabled "$first" "lo@$s" || continue
		run_one "lo@$s" 64k 1 "$first" 0 32 | sed 's/^BENCHCSV /# warm-up: /'
	done
	for m in $(words "$zc_methods"); do
		case ",$methods,$first," in *,"$m",*) continue ;; esac
		enabled "$m" lo@plain || continue
		run_one lo@plain 64k 1 "$m" 0 32 | sed 's/^BENCHCSV /# warm-up: /'
	done
	r=1
	while [ $r -le "$zc_runs" ]; do
		order=$(rotate "$zc_methods" $((r - 1)))
		for w in $(words "$zc_sizes"); do
			for s in $(words "$zc_senders"); do
				for m in $order; do
					enabled "$m" "lo@$s" || continue
					run_one "lo@$s" "$w" 1 "$m" "$r" "$zc_mb"
				done
			done
		done
		echo "# bench: zero-copy paths, repetition $r of $zc_runs done after $(since "$t_start") s"
		r=$((r + 1))
	done
fi

info zc_seconds "$(since "$t_zc")"
info seconds "$(since "$t_start")"
if [ $nfail = 0 ] && [ $nrun -gt 0 ]; then
	echo "ok - bench.matrix_verified"
else
	echo "not ok - bench.matrix_verified: $nfail of $nrun runs failed"
fi
# The plan: one "not ok" per failed run (a failed warm-up, counted in a
# subshell, makes it wrong: check.sh then says so), then the verdict.
echo "1..$((nfail + 1))"
[ $nfail = 0 ]

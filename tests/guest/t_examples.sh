#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# timeout: 600
#
# The example programs, each against real traffic and checked end to end:
#   store.*    zcrx_store writes streams with O_DIRECT from the pool through
#              io_uring; every stored stream is compared by sha256 with the
#              sender's copy.  Targets are loop devices: the guest's only
#              disk-like devices.  /tmp is tmpfs, which refuses O_DIRECT
#              before Linux 6.6, and ext4 is a module the guest lacks; a
#              block device takes O_DIRECT on every kernel.  store.tmpfs_*
#              checks the tmpfs case: stored when the kernel allows O_DIRECT
#              there, a clean refusal otherwise.
#   forward.*  zcrx_forward relays streams to socat or zcrx_recv, sending
#              with zcrx_send() by page reference; sha256 at the far end,
#              and its counters: 100% of the forwarded bytes in the pool's
#              bytes_sent, a SENT completion back for every send.  Also
#              back-pressure from a paused destination, and a destination
#              that resets mid-stream.
#   stat.*     zcrx_stat reads the counters of a running zcrx_recv through
#              pidfd_getfd, and the module's gauges.
. "${0%/*}/lib/tap.sh"
port=5500
ex=/tests
fail_diag() { sed 's/^/# /' "$@" >&2; }

# newport: a fresh port for each test.
newport() { port=$((port + 1)); }

# send FILE PORT [socat address family]: retry until the receiver listens.
send() {
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		socat -u FILE:"$1" "${3:-TCP4}:${4:-127.0.0.1}:$2" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

sum() { sha256sum <"$1" | cut -d' ' -f1; }

# --- store --------------------------------------------------------------------

# loopdev SIZE_MIB: a fresh loop device over a tmpfs file; prints its path.
loopdev() {
	img=$(mktemp /tmp/store-img.XXXXXX)
	truncate -s "${1}M" "$img"
	dev=$(losetup -f)
	losetup "$dev" "$img" || return 1
	echo "$dev"
}

# listening PORT: wait (up to 10 s) until something listens on PORT.
listening() {
	for _ in $(seq 50); do
		netstat -ltn 2>/dev/null | grep -q ":$1 " && return 0
		sleep 0.2
	done
	return 1
}

# store NAME SIZES ZCRX_STORE_ARGS: one stream per size, each into a new
# loop device; sha256 of each device's first SIZE bytes vs the sender's.
store() {
	name=$1 sizes=$2 args=$3
	newport
	devs='' i=0
	for size in $sizes; do
		d=$(loopdev $((size / 1048576 + 2))) || {
			tap_line "not ok - store.$name: losetup failed"
			return
		}
		devs="$devs $d"
		head -c "$size" /dev/urandom >/tmp/store-src.$i
		i=$((i + 1))
	done
	# shellcheck disable=SC2086
	$ex/zcrx_store -p $port $args $devs 2>/tmp/store.err &
	pid=$!
	# Connection i must be stream i: start the next sender once the
	# previous one is attached (or already done).
	i=0
	for size in $sizes; do
		send /tmp/store-src.$i $port &
		snd=$!
		i=$((i + 1))
		for _ in $(seq 100); do
			[ "$(cat /sys/class/misc/zcrx/sockets)" -ge $i ] && break
			kill -0 $snd 2>/dev/null || break
			sleep 0.1
		done
	done
	wait $pid
	rc=$?
	wait
	bad='' i=0
	for d in $devs; do
		size=$(echo $sizes | cut -d' ' -f$((i + 1)))
		got=$(head -c "$size" "$d" | sha256sum | cut -d' ' -f1)
		[ "$got" = "$(sum /tmp/store-src.$i)" ] || bad="$bad $d"
		# Only the tail under 4 KiB may go through the page cache.
		grep -q "conn $i: $size bytes to $d (direct $((size / 4096 * 4096)), buffered $((size % 4096)))" \
			/tmp/store.err || bad="$bad $d:direct-count"
		i=$((i + 1))
	done
	if [ $rc = 0 ] && [ -z "$bad" ]; then
		tap_line "ok - store.$name"
	else
		tap_line "not ok - store.$name: status $rc, mismatch:$bad"
		fail_diag /tmp/store.err
	fi
	grep '^zcrx_store:' /tmp/store.err | sed 's/^/# /' >&2
	for d in $devs; do
		losetup -d "$d"
	done
	rm -f /tmp/store-src.* /tmp/store-img.*
}

store one_stream_24MiB_plus "25178001" ""
cp /tmp/store.err /tmp/store.big.err
store two_streams "8388608 1048577" ""
store zero_bytes "0" ""
store one_byte "1" ""
store small_buffers_4KiB "4194405" "-b 64 -s 4096"
store pinned_per_write "8392705" "-P"
store backpressure_8_bufs "6291459" "-b 8 -s 16384"

# Registration of the pool as io_uring fixed buffers.  Linux 6.1 refuses to
# register any file-backed mapping (EOPNOTSUPP), so there zcrx_store falls
# back to per-write pinning; later kernels register it.
newport
head -c 1048576 /dev/urandom >/tmp/reg.src
d=$(loopdev 4)
$ex/zcrx_store -p $port "$d" 2>/tmp/store.err &
pid=$!
send /tmp/reg.src $port
wait $pid
rc=$?
case $(uname -r) in
6.1.*) want="registered=no" why="registering the pool failed (Operation not supported)" ;;
*) want="registered=yes" why="pool registered as io_uring fixed buffers" ;;
esac
if [ $rc = 0 ] && grep -q "$want" /tmp/store.err && grep -qF "$why" /tmp/store.err &&
   [ "$(head -c 1048576 "$d" | sha256sum | cut -d' ' -f1)" = "$(sum /tmp/reg.src)" ]; then
	tap_line "ok - store.fixed_buffers_as_kernel_allows"
else
	tap_line "not ok - store.fixed_buffers_as_kernel_allows: status $rc, want '$why'"
	fail_diag /tmp/store.err
fi
losetup -d "$d"
rm -f /tmp/reg.src /tmp/store-img.*

# A stream larger than the registered pool needs buffers recycled while
# the registration pins them: zcrx_store declares the pins
# (ZCRXDEV_IOC_PINS) and must keep the registration to the end.
if grep -q "registered=dropped" /tmp/store.big.err 2>/dev/null; then
	tap_line "not ok - store.registered_pool_recycled: buffers pinned by the declared io_uring registration stayed pending; zcrx_store unregistered"
elif grep -q "registered=yes" /tmp/store.big.err 2>/dev/null; then
	tap_line "ok - store.registered_pool_recycled"
elif grep -q "registered=no" /tmp/store.big.err 2>/dev/null; then
	tap_line "ok - store.registered_pool_recycled # SKIP this kernel cannot register the pool"
else
	tap_line "not ok - store.registered_pool_recycled: no result from store.one_stream_24MiB_plus"
fi
rm -f /tmp/store.big.err

# A regular file on tmpfs: stored exactly (no padding) where O_DIRECT works,
# refused with an explanation where it does not.
newport
head -c 3000001 /dev/urandom >/tmp/tmpfs.src
if dd if=/dev/zero of=/tmp/odirect.probe bs=4096 count=1 oflag=direct 2>/dev/null; then
	$ex/zcrx_store -p $port /tmp/tmpfs.out 2>/tmp/store.err &
	pid=$!
	send /tmp/tmpfs.src $port
	wait $pid
	rc=$?
	if [ $rc = 0 ] && [ "$(sum /tmp/tmpfs.out)" = "$(sum /tmp/tmpfs.src)" ] &&
	   [ "$(stat -c %s /tmp/tmpfs.out)" = 3000001 ]; then
		tap_line "ok - store.tmpfs_file_exact"
	else
		tap_line "not ok - store.tmpfs_file_exact: status $rc, size $(stat -c %s /tmp/tmpfs.out)"
		fail_diag /tmp/store.err
	fi
else
	$ex/zcrx_store -p $port /tmp/tmpfs.out 2>/tmp/store.err
	rc=$?
	if [ $rc = 1 ] && grep -q "O_DIRECT refused" /tmp/store.err; then
		tap_line "ok - store.tmpfs_refused_cleanly"
	else
		tap_line "not ok - store.tmpfs_refused_cleanly: status $rc"
		fail_diag /tmp/store.err
	fi
fi
rm -f /tmp/tmpfs.src /tmp/tmpfs.out /tmp/odirect.probe

$ex/zcrx_store >/dev/null 2>&1
[ $? = 2 ] && tap_line "ok - store.usage_without_files" ||
	tap_line "not ok - store.usage_without_files: status not 2"

# --- forward ------------------------------------------------------------------

# zcrx_forward sends with zcrx_send(): the pool pages stay referenced until
# the far end has consumed the skbs that carry them, and the forwarder waits
# for the SENT completion of every send before it exits.  With deferred skb
# freeing (net.core.skb_defer_max, Linux 5.19+) a consumed skb is freed on
# the CPU that allocated it, the forwarder's, which is idle while it waits:
# without traffic to flush that CPU's list, the last SENT completions never
# come (and an 8-buffer pool wedges mid-stream, every buffer pending on
# deferred skbs).  Off for this section, as in t_send; restored after it.
defer=/proc/sys/net/core/skb_defer_max
old_defer=$(cat $defer 2>/dev/null)
[ -n "$old_defer" ] && echo 0 >$defer

# fwd_val KEY: the value of KEY= in zcrx_forward's counter lines.
fwd_val() {
	sed -n "s/^zcrx_forward:.* $1=\([^ ]*\).*/\1/p" /tmp/fwd.err | head -n 1
}

# fwd_counters BYTES: zcrx_forward's account against BYTES, the size the
# senders sent: each byte copied into the pool once by the module, each
# byte sent on by page reference (the pool's bytes_sent counter from
# ZCRXDEV_IOC_STATS equals the bytes forwarded: 100%), and a SENT
# completion back for every send, naming every byte.  Prints what is
# wrong; nothing if all is right.
fwd_counters() {
	want=$1 share=100% sends=$(fwd_val sends)
	[ "$want" = 0 ] && share=-
	case $sends in
	'' | *[!0-9]*) echo " no sends= count"; return ;;
	esac
	if [ "$want" -gt 0 ] && [ "$sends" -lt 1 ]; then
		echo " no zcrx_send() call"
		return
	fi
	for kv in bytes=$want copied=$want zerocopy=0 sent=$want by_reference=$share \
		  released=$want sent_completions=$sends; do
		got=$(fwd_val "${kv%%=*}")
		[ "$got" = "${kv#*=}" ] ||
			printf ' %s=%s (want %s)' "${kv%%=*}" "${got:-none}" "${kv#*=}"
	done
}

# forward NAME SIZE FWD_ARGS [6] [PAUSE]: sender -> zcrx_forward -> socat ->
# file; sha256 at the far end and the counters above.  With PAUSE the far
# end reads nothing for PAUSE seconds first: the pool must run dry in the
# meantime (stalls > 0, the module stopped reading the incoming socket),
# and still every byte arrives.
forward() {
	name=$1 size=$2 args=$3 v6=$4 pause=$5
	newport
	dst=$((port + 100))
	head -c "$size" /dev/urandom >/tmp/fwd.src
	rm -f /tmp/fwd.out
	if [ -n "$v6" ]; then
		lsn=TCP6-LISTEN host=::1 fam=TCP6 addr="[::1]"
	else
		lsn=TCP4-LISTEN host=127.0.0.1 fam=TCP4 addr=127.0.0.1
	fi
	if [ -n "$pause" ]; then
		socat -u $lsn:$dst,reuseaddr STDOUT | {
			sleep "$pause"
			cat >/tmp/fwd.out
		} &
	else
		socat -u $lsn:$dst,reuseaddr OPEN:/tmp/fwd.out,creat,trunc &
	fi
	sink=$!
	sleep 0.3
	# shellcheck disable=SC2086
	$ex/zcrx_forward -p $port $args $host $dst 2>/tmp/fwd.err &
	pid=$!
	send /tmp/fwd.src $port $fam $addr
	wait $pid
	rc=$?
	wait $sink
	why=$(fwd_counters "$size")
	if [ -n "$pause" ] && ! [ "$(fwd_val stalls)" -gt 0 ] 2>/dev/null; then
		why="$why stalls=$(fwd_val stalls) (want > 0)"
	fi
	if [ $rc = 0 ] && [ "$(sum /tmp/fwd.out)" = "$(sum /tmp/fwd.src)" ] &&
	   [ -z "$why" ]; then
		tap_line "ok - forward.$name"
	else
		tap_line "not ok - forward.$name: status $rc, $(stat -c %s /tmp/fwd.out 2>/dev/null) of $size bytes arrived,$why"
		fail_diag /tmp/fwd.err
	fi
	grep '^zcrx_forward:' /tmp/fwd.err | sed 's/^/# /' >&2
	rm -f /tmp/fwd.src /tmp/fwd.out
}

forward one_stream_16MiB 16777216 ""
forward zero_bytes 0 ""
forward ipv6 4194304 "-6" 6
forward small_pool_backpressure 8388608 "-b 8 -s 4096"
forward slow_destination_backpressure 4194405 "-b 8 -s 4096" "" 2

# Four streams at once into zcrx_recv (a zcrx receiver at the far end too).
newport
dst=$((port + 100))
rm -rf /tmp/fwd4 && mkdir -p /tmp/fwd4
$ex/zcrx_recv -p $dst -n 4 -o /tmp/fwd4 -q 2>/tmp/fwd4.rx &
sink=$!
sleep 0.3
$ex/zcrx_forward -p $port -n 4 127.0.0.1 $dst 2>/tmp/fwd.err &
pid=$!
total=0
for i in 0 1 2 3; do
	head -c $((2097152 + i * 4099)) /dev/urandom >/tmp/fwd4.src.$i
	total=$((total + 2097152 + i * 4099))
	send /tmp/fwd4.src.$i $port &
done
wait $pid
rc=$?
wait $sink
rrc=$?
wait
want=$(for i in 0 1 2 3; do sum /tmp/fwd4.src.$i; done | sort)
got=$(for i in 0 1 2 3; do sum /tmp/fwd4/conn-$i 2>/dev/null; done | sort)
why=$(fwd_counters $total)
if [ $rc = 0 ] && [ $rrc = 0 ] && [ "$got" = "$want" ] && [ -z "$why" ]; then
	tap_line "ok - forward.four_streams_into_zcrx_recv"
else
	tap_line "not ok - forward.four_streams_into_zcrx_recv: forward status $rc, zcrx_recv status $rrc, sha256 $([ "$got" = "$want" ] && echo match || echo differ),$why"
	fail_diag /tmp/fwd.err /tmp/fwd4.rx
fi
grep '^zcrx_forward:' /tmp/fwd.err | sed 's/^/# /' >&2
rm -rf /tmp/fwd4 /tmp/fwd4.src.* /tmp/fwd4.rx

# The destination goes away mid-stream: it reads 64 KiB, then closes with
# bytes unread (a reset).  zcrx_send() then fails with ECONNRESET or EPIPE,
# which must not kill the forwarder with SIGPIPE: it reports the send
# error, drains the incoming stream to its end (the sender finishes, every
# byte is placed in the pool) and exits 1.  The pages it did send all come
# back: one SENT completion per send, naming every byte sent.
newport
dst=$((port + 100))
size=33554432
head -c $size /dev/urandom >/tmp/fwd.src
socat -u TCP4-LISTEN:$dst,reuseaddr SYSTEM:"head -c 65536 >/dev/null" 2>/dev/null &
sink=$!
sleep 0.3
$ex/zcrx_forward -p $port 127.0.0.1 $dst 2>/tmp/fwd.err &
pid=$!
send /tmp/fwd.src $port
src=$?
wait $pid
rc=$?
wait $sink
sends=$(fwd_val sends)
if [ $rc = 1 ] && [ $src = 0 ] &&
   grep -Eq '^conn 0: [0-9]+ bytes forwarded, [0-9]+ released, eof, send: (Connection reset by peer|Broken pipe)$' /tmp/fwd.err &&
   [ "$(fwd_val copied)" = $size ] && [ "${sends:-0}" -ge 1 ] &&
   [ "$(fwd_val sent)" = "$(fwd_val bytes)" ] &&
   [ "$(fwd_val released)" = "$(fwd_val bytes)" ] &&
   [ "$(fwd_val sent_completions)" = "$sends" ]; then
	tap_line "ok - forward.destination_reset_send_error"
else
	tap_line "not ok - forward.destination_reset_send_error: status $rc, sender status $src"
	fail_diag /tmp/fwd.err
fi
grep '^zcrx_forward:' /tmp/fwd.err | sed 's/^/# /' >&2
rm -f /tmp/fwd.src

# Nobody listens at the destination: a clear error, status 1.
newport
head -c 1000 /dev/urandom >/tmp/fwd.src
$ex/zcrx_forward -p $port 127.0.0.1 1 2>/tmp/fwd.err &
pid=$!
listening $port && socat -u FILE:/tmp/fwd.src TCP4:127.0.0.1:$port 2>/dev/null
wait $pid
rc=$?
if [ $rc = 1 ] && grep -q "Connection refused" /tmp/fwd.err; then
	tap_line "ok - forward.destination_refused"
else
	tap_line "not ok - forward.destination_refused: status $rc"
	fail_diag /tmp/fwd.err
fi
rm -f /tmp/fwd.src /tmp/fwd.err

[ -n "$old_defer" ] && echo "$old_defer" >$defer

# --- stat ---------------------------------------------------------------------

# A slow receiver (0.2 s per batch) on a connection that stays open until
# /tmp/stat.stop appears.
newport
rm -f /tmp/stat.stop
head -c 2097152 /dev/urandom >/tmp/stat.src
$ex/zcrx_recv -p $port -w 200000 -b 64 -s 4096 -q 2>/tmp/stat.rx &
rx=$!
listening $port
{
	cat /tmp/stat.src
	while [ ! -e /tmp/stat.stop ]; do sleep 0.1; done
} | socat -u STDIN TCP4:127.0.0.1:$port &
snd=$!
# Wait until the socket is attached.
i=0
while [ $i -lt 50 ] && [ "$(cat /sys/class/misc/zcrx/sockets 2>/dev/null)" != 1 ]; do
	sleep 0.1
	i=$((i + 1))
done
sleep 1

$ex/zcrx_stat -p $rx >/tmp/stat.out 2>&1
rc=$?
copied=$(sed -n 's/^  bytes_copied *//p' /tmp/stat.out)
if [ $rc = 0 ] && grep -q "^pid $rx (zcrx_recv) fd [0-9]*:" /tmp/stat.out &&
   [ "${copied:-0}" -gt 0 ] && grep -q '^  sockets_attached  1$' /tmp/stat.out &&
   grep -q '^module: pools 1 pool_pages 64 (.*) sockets 1$' /tmp/stat.out; then
	tap_line "ok - stat.pid_once"
else
	tap_line "not ok - stat.pid_once: status $rc"
	fail_diag /tmp/stat.out
fi

fd=$(ls -l /proc/$rx/fd | sed -n 's|.* \([0-9]*\) -> /dev/zcrx$|\1|p' | head -n 1)
$ex/zcrx_stat -p $rx -f "$fd" >/tmp/stat.out 2>&1
rc=$?
if [ -n "$fd" ] && [ $rc = 0 ] && grep -q "^pid $rx (zcrx_recv) fd $fd:" /tmp/stat.out; then
	tap_line "ok - stat.pid_and_fd"
else
	tap_line "not ok - stat.pid_and_fd: fd '$fd', status $rc"
	fail_diag /tmp/stat.out
fi

$ex/zcrx_stat -p $rx -f 0 >/tmp/stat.out 2>&1
rc=$?
if [ $rc = 1 ] && grep -q "not a /dev/zcrx descriptor" /tmp/stat.out; then
	tap_line "ok - stat.wrong_fd_refused"
else
	tap_line "not ok - stat.wrong_fd_refused: status $rc"
	fail_diag /tmp/stat.out
fi

$ex/zcrx_stat >/tmp/stat.out 2>&1
rc=$?
if [ $rc = 0 ] && grep -q "^pid $rx (zcrx_recv) fd $fd:" /tmp/stat.out; then
	tap_line "ok - stat.all_processes"
else
	tap_line "not ok - stat.all_processes: status $rc"
	fail_diag /tmp/stat.out
fi

$ex/zcrx_stat -p $rx -i 1 -c 3 >/tmp/stat.out 2>&1
rc=$?
lines=$(grep -c "^ *$rx zcrx_recv " /tmp/stat.out)
rate=$(grep "^ *$rx zcrx_recv " /tmp/stat.out | tail -n 1 | awk '{ print $4 }')
if [ $rc = 0 ] && [ "$lines" = 3 ] && [ "$(grep -c '^module:' /tmp/stat.out)" = 3 ] &&
   [ "$rate" != "-" ]; then
	tap_line "ok - stat.every_second"
else
	tap_line "not ok - stat.every_second: status $rc, $lines lines"
	fail_diag /tmp/stat.out
fi

# Only a process with ptrace access may borrow the descriptor.
su -s /bin/sh nobody -c "$ex/zcrx_stat -p $rx" >/tmp/stat.out 2>&1
rc=$?
if [ $rc = 1 ] && grep -q "not permitted" /tmp/stat.out; then
	tap_line "ok - stat.other_user_refused"
else
	tap_line "not ok - stat.other_user_refused: status $rc"
	fail_diag /tmp/stat.out
fi

$ex/zcrx_stat -p $$ >/tmp/stat.out 2>&1
rc=$?
if [ $rc = 1 ] && grep -q "has no /dev/zcrx open" /tmp/stat.out; then
	tap_line "ok - stat.process_without_pool"
else
	tap_line "not ok - stat.process_without_pool: status $rc"
	fail_diag /tmp/stat.out
fi

$ex/zcrx_stat -p 999999 >/tmp/stat.out 2>&1
rc=$?
if [ $rc = 1 ] && grep -q "no such process" /tmp/stat.out; then
	tap_line "ok - stat.no_such_process"
else
	tap_line "not ok - stat.no_such_process: status $rc"
	fail_diag /tmp/stat.out
fi

touch /tmp/stat.stop
wait $snd
wait $rx
rc=$?
if [ $rc = 0 ] && grep -q "bytes=2097152 " /tmp/stat.rx; then
	tap_line "ok - stat.receiver_unharmed"
else
	tap_line "not ok - stat.receiver_unharmed: status $rc"
	fail_diag /tmp/stat.rx
fi

# Borrowing the descriptor did not keep the pool alive.
for _ in $(seq 30); do
	$ex/zcrx_stat >/tmp/stat.out 2>&1
	rc=$?
	grep -q '^module: pools 0 ' /tmp/stat.out && break
	sleep 0.1
done
if [ $rc = 0 ] && grep -q '^module: pools 0 pool_pages 0 (0.0 MiB) sockets 0$' /tmp/stat.out; then
	tap_line "ok - stat.pool_freed_after_owner_exit"
else
	tap_line "not ok - stat.pool_freed_after_owner_exit: status $rc"
	fail_diag /tmp/stat.out
fi
rm -f /tmp/stat.*
tap_plan

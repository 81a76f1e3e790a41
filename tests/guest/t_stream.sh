#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# timeout: 900
#
# Streams of random data from standard senders (busybox nc, socat) into
# the example receiver, each checked by sha256 against the sender's copy
# and by the receiver's own count of bytes (copied + zero-copy == total).
. "${0%/*}/lib/tap.sh"
port=5300
src=/tmp/stream.src

# The debug kernel (KASAN, lockdep, kmemleak) moves a few MB/s through
# busybox tools: the same streams, capped at 16 MiB there.
cap=0
case $(uname -r) in *zcrx-debug*) cap=16777216 ;; esac

# stream NAME SENDER SIZE [RECV_ARGS [WANT]] -- SENDER: nc | socat:BLOCK |
# socat6:BLOCK; WANT: a pattern the receiver's counter line must match too.
stream() {
	name=$1 sender=$2 size=$3 rxargs=$4 want_line=${5:-.}
	port=$((port + 1))
	[ "$cap" -gt 0 ] && [ "$size" -gt "$cap" ] && size=$cap
	head -c "$size" /dev/urandom > $src
	want=$(sha256sum < $src | cut -d' ' -f1)
	rm -f /tmp/rx.err /tmp/rx.sum
	# shellcheck disable=SC2086 # rxargs is a word list
	( /tests/zcrx_recv -p $port -o - $rxargs 2>/tmp/rx.err; echo "rc=$?" >> /tmp/rx.err ) |
		sha256sum > /tmp/rx.sum &
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		case $sender in
		nc) nc 127.0.0.1 $port < $src && break ;;
		socat:*) socat -u -b "${sender#socat:}" FILE:$src TCP4:127.0.0.1:$port 2>/dev/null && break ;;
		socat6:*) socat -u -b "${sender#socat6:}" FILE:$src TCP6:[::1]:$port 2>/dev/null && break ;;
		esac
		sleep 0.2	# the receiver is not listening yet
	done
	wait
	got=$(cut -d' ' -f1 /tmp/rx.sum)
	if [ "$got" = "$want" ] && grep -q "bytes=$size " /tmp/rx.err &&
	   grep -q "^rc=0" /tmp/rx.err &&
	   grep "zcrx_recv: bytes" /tmp/rx.err | grep -q -- "$want_line"; then
		tap_line "ok - stream.$name"
	else
		tap_line "not ok - stream.$name: sha256 $got, want $want; $(tr '\n' ' ' < /tmp/rx.err)"
	fi
	grep "zcrx_recv: bytes" /tmp/rx.err | sed 's/^/# /' >&2
	rm -f $src
}

stream nc_0_bytes nc 0
stream nc_1_byte nc 1
stream nc_4097_bytes nc 4097
stream nc_1MiB nc 1048576
stream nc_64MiB nc 67108864
one_byte_total=65536
[ "$cap" -gt 0 ] && one_byte_total=8192
stream socat_writes_1B socat:1 $one_byte_total
stream socat_writes_1KiB socat:1024 4194304
stream socat_writes_64KiB socat:65536 67108864
stream socat_writes_1MiB socat:1048576 67108864
stream socat_slow_receiver socat:65536 16777216 "-w 3000 -b 64 -s 4096"
stream socat_8_bufs_backpressure socat:65536 33554432 "-b 8 -s 4096"
stream socat_ipv6 socat6:65536 33554432 "-6"
stream socat_64k_buffers socat:1048576 67108864 "-b 64 -s 65536"
# One wakeup per 16 completions (or 1 ms).
stream socat_wait_nr_4KiB_writes socat:4096 16777216 "-N 16"
# MAP pools: placed by RECV calls; socat's pages are never whole, so all
# of it is copied (mapped=0), and every byte arrives all the same.
stream socat_map_pool socat:65536 67108864 "-M" " mapped=0 .* recv_calls=[1-9]"
stream socat_map_pool_busy socat:65536 33554432 "-M -B" " recv_calls=[1-9]"
stream socat_map_pool_8_bufs_backpressure socat:65536 33554432 "-M -b 8 -s 4096" \
	" stalls=[1-9].* recv_calls=[1-9]"
tap_plan

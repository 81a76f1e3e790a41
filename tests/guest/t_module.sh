#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# timeout: 600
#
# The module: device node and mode, refused unload while in use, and 20
# load/unload cycles with a verified stream in between; after each cycle
# the module's page and pool gauges are back to zero.
. "${0%/*}/lib/tap.sh"
mod=${ZCRX_MODULE:-/zcrx.ko}
sys=/sys/class/misc/zcrx

check() {	# check NAME CONDITION-EXIT-STATUS MESSAGE
	if [ "$2" -eq 0 ]; then tap_line "ok - module.$1"; else tap_line "not ok - module.$1: $3"; fi
}

mode=$(stat -c %a /dev/zcrx 2>/dev/null)
type=$(stat -c %F /dev/zcrx 2>/dev/null)
[ "$mode" = 666 ] && [ "$type" = "character special file" ]
check device_node_0666 $? "mode $mode type $type"

# A pool held open: rmmod must refuse.
sleep 30 < /dev/zcrx &
holder=$!
sleep 0.2
rmmod zcrx 2>/dev/null
[ $? -ne 0 ] && [ -e /dev/zcrx ]
check rmmod_refused_while_open $? "rmmod succeeded with /dev/zcrx open"
kill $holder
wait $holder 2>/dev/null

size=4194304
case $(uname -r) in *zcrx-debug*) size=262144 ;; esac	# KASAN is slow

stream_once() {	# one verified stream through a fresh pool
	head -c $size /dev/urandom > /tmp/m.src
	want=$(sha256sum < /tmp/m.src | cut -d' ' -f1)
	/tests/zcrx_recv -p 5400 -o - -q 2>/dev/null | sha256sum > /tmp/m.sum &
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		socat -u -b 65536 FILE:/tmp/m.src TCP4:127.0.0.1:5400 2>/dev/null && break
		sleep 0.2
	done
	wait
	[ "$(cut -d' ' -f1 /tmp/m.sum)" = "$want" ]
}

fail=""
i=0
while [ $i -lt 20 ]; do
	i=$((i + 1))
	stream_once || fail="$fail stream@$i"
	# Attached sockets pin the module until the kernel destroys them.
	n=0
	until rmmod zcrx 2>/dev/null; do
		n=$((n + 1))
		[ $n -ge 100 ] && { fail="$fail rmmod@$i"; break; }
		sleep 0.1
	done
	[ -e /dev/zcrx ] && fail="$fail node-left@$i"
	insmod "$mod" || { fail="$fail insmod@$i"; break; }
	[ "$(cat $sys/pool_pages)" = 0 ] && [ "$(cat $sys/pools)" = 0 ] &&
		[ "$(cat $sys/sockets)" = 0 ] || fail="$fail gauges@$i"
done
[ -z "$fail" ]
check load_unload_20_cycles_with_traffic $? "failed:$fail"
tap_plan

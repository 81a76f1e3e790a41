#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench/sender (the host's sender of "make bench"'s nic links) must exit 0
# after its last byte even when "make bench-progs" rewrites the libzcrx.so
# it runs from (build/bench/lib, rpath $ORIGIN/lib) while it sends: the
# Makefile's cp rewrites that file in place, which once made a sender jump
# to an unrelocated destructor at exit (SIGSEGV, status 139).  The sender
# and its library are built into a temporary B= with the Makefile's own
# rules, sent to a python3 receiver on 127.0.0.1 (1 and 16 connections)
# that reads only after the rebuild, and the byte count is checked.  Run
# from the repo top as a host test; no guest is booted.
. tests/lib/tap.sh
set -uo pipefail
tmp=$(mktemp -d)
spid='' rpid=''
cleanup() {
	[[ -z $spid ]] || kill "$spid" 2>/dev/null
	[[ -z $rpid ]] || kill "$rpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ok() { tap_line "ok - bench_sender.$1"; }
nok() { tap_line "not ok - bench_sender.$1: $2"; }
sov=$(cut -d. -f1 VERSION)
b=$tmp/b
blib=$b/bench/lib/libzcrx.so.$sov

build() { make -s --no-print-directory B="$b" "$b/bench/sender" "$blib" >"$tmp/make.log" 2>&1; }
if build; then
	ok build
else
	nok build "$(tail -n 3 "$tmp/make.log" | tr '\n' ' ')"
	tap_plan
	exit 0
fi

# Accepts N connections, says so in $tmp/accepted, reads nothing until
# $tmp/go exists, then reads every stream to its end; prints the byte count.
cat >"$tmp/recv.py" <<'EOF'
import os, socket, sys, time
n, d = int(sys.argv[1]), sys.argv[2]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
with open(d + "/port.tmp", "w") as f:
	f.write("%d\n" % s.getsockname()[1])
os.rename(d + "/port.tmp", d + "/port")
cs = [s.accept()[0] for _ in range(n)]
open(d + "/accepted", "w").close()
t = time.time() + 30
while not os.path.exists(d + "/go") and time.time() < t:
	time.sleep(0.01)
buf, tot = bytearray(1 << 20), 0
for c in cs:
	while True:
		k = c.recv_into(buf)
		if not k:
			break
		tot += k
print(tot)
EOF

wait_for() {	# FILE: up to 10 s
	local i
	for ((i = 0; i < 1000; i++)); do
		[[ -e $1 ]] && return 0
		sleep 0.01
	done
	return 1
}

# one NAME CONNS BYTES_PER_CONN WSIZE: more bytes than the socket buffers
# of a receiver that does not read hold, so the sender is still running
# (blocked in send() or poll()) when its library is rewritten.
one() {
	local name=$1 n=$2 per=$3 w=$4 rc=0 got alive=1
	rm -f "$tmp/port" "$tmp/accepted" "$tmp/go" "$tmp/got"
	python3 "$tmp/recv.py" "$n" "$tmp" >"$tmp/got" &
	rpid=$!
	if ! wait_for "$tmp/port"; then
		nok "$name" "the receiver did not listen"
		return
	fi
	"$b/bench/sender" -a 127.0.0.1 -p "$(cat "$tmp/port")" -n "$n" -b "$per" \
		-w "$w" -t 60 2>"$tmp/err" &
	spid=$!
	wait_for "$tmp/accepted" || { nok "$name" "no connection"; return; }
	sleep 0.2
	kill -0 "$spid" 2>/dev/null || alive=0
	# What "make bench-progs" does after the library is relinked.
	touch "$b/lib/libzcrx.so.$(cat VERSION)"
	build || { nok "$name" "rebuild: $(tail -n 3 "$tmp/make.log" | tr '\n' ' ')"; return; }
	: >"$tmp/go"
	wait "$spid" || rc=$?
	spid=
	wait "$rpid"
	rpid=
	got=$(cat "$tmp/got")
	if [[ $alive == 0 ]]; then
		nok "$name" "the sender had ended before the rebuild (status $rc)"
	elif [[ $rc -ne 0 ]]; then
		nok "$name" "sender status $rc after its receiver got $got of $((n * per)) bytes $(tr '\n' ' ' <"$tmp/err")"
	elif [[ $got != $((n * per)) ]]; then
		nok "$name" "the receiver got $got bytes, not $((n * per))"
	else
		ok "$name"
	fi
}

one lib_rewritten.1conn_64k 1 $((32 << 20)) 65536
one lib_rewritten.16conns_4k 16 $((8 << 20)) 4096
one lib_rewritten.16conns_1m 16 $((8 << 20)) 1048576

tap_plan

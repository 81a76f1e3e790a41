#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# demo.sh: what "make demo" runs.  Boots the newest Debian kernel of the
# host's apt (scripts/vm/kernels.sh --host: 6.12 on Debian 12) in QEMU,
# loads zcrx, streams 256 MiB from socat into examples/zcrx_recv.c and
# prints what it saw.  ZCRX_KERNELS=<release> picks the kernel (7.x ones
# too: the module is then built in the trixie chroot); ZCRX_DEMO_BYTES
# the size.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
vm=scripts/vm

"$top/scripts/deps.sh" >/dev/null
if [[ -n ${ZCRX_KERNELS:-} ]]; then
	rel=$("$vm/kernels.sh" | tail -n 1)
else
	rel=$("$vm/kernels.sh" --host | tail -n 1)
fi
ZCRX_KERNELS=$rel "$vm/kernels.sh" --prepare >/dev/null
dir=build/demo/$rel
rm -rf "$dir"
mkdir -p "$dir/src" "$dir/tests"
cp -a Kbuild module include VERSION "$dir/src/"
echo "demo: building zcrx.ko for $rel" >&2
"$vm/kmake.sh" "$rel" -s M="$top/$dir/src" modules >"$dir/build.log" 2>&1 ||
	{ tail -n 20 "$dir/build.log"; exit 1; }
cp -a build/tests/guest/lib build/tests/guest/zcrx_recv "$dir/tests/"
cp scripts/demo-guest.sh "$dir/tests/t_demo.sh"
"$vm/initramfs.sh" "$dir/initramfs.cpio.gz" "$rel" "$dir/src/zcrx.ko" "$dir/tests"
echo "demo: booting $rel under QEMU (TCG), about a minute" >&2
ZCRX_APPEND="${ZCRX_DEMO_BYTES:+ZCRX_DEMO_BYTES=$ZCRX_DEMO_BYTES}" \
	"$vm/run-guest.sh" "${ZCRX_CACHE:-$HOME/.cache/zcrx}/kernels/$rel/vmlinuz" \
	"$dir/initramfs.cpio.gz" "$dir/guest.log" 900 || true
sed -n 's/^@@ZCRX@@ |\(# \)\{0,1\}demo: /  /p' "$dir/guest.log"
# check.sh parses the guest's output: the stream verified, nothing failed.
results=$(scripts/check.sh --parse-log "$rel" "$dir/guest.log" || true)
if ! grep -q "^PASS  $rel  demo.stream_verified$" <<<"$results" ||
   grep -q '^FAIL' <<<"$results" ||
   ! scripts/vm/scan-log.sh "$dir/guest.log" >/dev/null; then
	echo "demo: FAILED (log: $dir/guest.log)"
	exit 1
fi
echo "demo: OK"

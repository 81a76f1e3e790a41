#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# initramfs.sh OUT.cpio.gz KREL MODULE.ko TESTDIR [EXTRA_FILE...]
#
# Pack the guest's whole root file system as a gzip'd newc cpio archive:
#   /bin/busybox + applet symlinks   the guest's shell and tools
#   /init                             tests/guest/init (runs the tests)
#   /zcrx.ko                          the module under test
#   /lib/modules/*.ko                 extra kernel modules cached by kernels.sh
#   /tests/                           everything in TESTDIR
#   /usr/bin/socat                    for tests that need a peer
#   /etc/passwd, /etc/group           root and an unprivileged user (65534)
#   /etc/zcrx-kernel                  KREL, so the guest knows its kernel
# plus every shared library (and the dynamic loader) that any ELF file in
# the image needs: system ones at the path ldd reports on the host, the
# project's own (libzcrx, from ZCRX_GUEST_LIB_PATH, default build/lib) in /lib.
#
# EXTRA_FILE is "SRC" (copied to the same absolute path in the guest) or
# "SRC=DEST" (copied to DEST); their libraries are added too.
set -euo pipefail

if [[ $# -lt 4 ]]; then
	echo "usage: $0 OUT.cpio.gz KREL MODULE.ko TESTDIR [EXTRA_FILE[=DEST]...]" >&2
	exit 2
fi
out=$1 krel=$2 module=$3 testdir=$4
shift 4

top=$(cd "$(dirname "$0")/../.." && pwd)
kcache=${ZCRX_CACHE:-$HOME/.cache/zcrx}/kernels/$krel

for f in "$module" "$top/tests/guest/init" /bin/busybox; do
	[[ -f $f ]] || { echo "initramfs.sh: missing $f" >&2; exit 1; }
done
[[ -d $testdir ]] || { echo "initramfs.sh: missing test dir $testdir" >&2; exit 1; }
[[ -d $kcache/modules ]] ||
	{ echo "initramfs.sh: no cached modules for $krel (run kernels.sh --prepare)" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"	# becomes the guest's "/": uid 65534 must get in

# Copy $1 to $root$2, creating parent directories.  -L: a library path is
# often a symlink; the guest gets the real file under the name asked for.
put() {
	mkdir -p "$root$(dirname "$2")"
	cp -L "$1" "$root$2"
}

# --- Skeleton --------------------------------------------------------------
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,etc,lib/modules,tests,root}
chmod 1777 "$root/tmp"

# The Debian busybox-static binary is the one the guest runs, so its own
# applet list is the right one for the symlinks.
put /bin/busybox /bin/busybox
/bin/busybox --list-full | while read -r applet; do
	[[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
done

put "$top/tests/guest/init" /init
chmod 755 "$root/init"
put "$module" /zcrx.ko
# A kernel with everything built in (the debug kernel) has no extra modules.
find "$kcache/modules" -name "*.ko" -exec cp {} "$root/lib/modules/" \;

# Everything the Makefile put in the test dir (programs, t_*.sh, data).
cp -a "$testdir/." "$root/tests/"

if command -v socat >/dev/null; then
	put "$(command -v socat)" /usr/bin/socat
else
	echo "initramfs.sh: warning: socat not installed, guest gets none" >&2
fi

for extra in "$@"; do
	src=${extra%%=*}
	dest=${extra#*=}
	[[ $extra == *=* ]] || dest=$(realpath -s "$src")
	put "$src" "$dest"
done

# --- /etc ------------------------------------------------------------------
echo "$krel" >"$root/etc/zcrx-kernel"
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
# glibc's getpwnam()/getaddrinfo() look here; keep them on local files.
cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files
EOF
cat >"$root/etc/hosts" <<'EOF'
127.0.0.1 localhost
::1 localhost
EOF

# --- Shared libraries --------------------------------------------------------
# ldd prints "soname => /path (addr)" for libraries and "/path (addr)" for
# the loader, the whole dependency closure, so one pass over the files is
# enough.  It fails on static programs, scripts and data: hence "|| true".
# The Makefile puts libzcrx beside the tests (TESTDIR/lib, RUNPATH
# $ORIGIN/lib), so it is already in the image; a program linked elsewhere
# against ZCRX_GUEST_LIB_PATH (default build/lib) gets it in /lib.
# System libraries keep the path ldd reports on the host.
lib_path=${ZCRX_GUEST_LIB_PATH:-$top/build/lib}
deps=$(find "$root" -type f ! -name '*.ko' -perm /111 -print0 |
	{ LD_LIBRARY_PATH=$lib_path xargs -0 -r -n 1 ldd 2>/dev/null || true; })

# A missing library would only show in the guest, as a loader error.
if grep -q 'not found' <<<"$deps"; then
	echo "initramfs.sh: libraries not found (ZCRX_GUEST_LIB_PATH=$lib_path):" >&2
	grep 'not found' <<<"$deps" | sort -u >&2
	exit 1
fi

while read -r soname path; do
	[[ $path == "$root"/* ]] && continue	# already in the image
	dest=$path
	for dir in ${lib_path//:/ }; do
		[[ $path == "$dir"/* ]] && dest=/lib/$soname
	done
	[[ -e $root$dest ]] || put "$path" "$dest"
done < <(sed -nE \
	-e 's@^[[:space:]]*([^ ]+) => (/[^ ]+) \(0x[0-9a-f]+\)$@\1 \2@p' \
	-e 's@^[[:space:]]*(/[^ ]+) \(0x[0-9a-f]+\)$@\1 \1@p' <<<"$deps" | sort -u)

# --- Archive -----------------------------------------------------------------
mkdir -p "$(dirname "$out")"
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null --create --format=newc --owner=0:0 --quiet) |
	gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"

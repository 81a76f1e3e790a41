#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# debug-kernel.sh: build (once) and print the release of the debug kernel.
#
# It follows the newest kernel under test: the source is Debian's
# linux-source-7.N package of the trixie chroot (scripts/vm/chroot.sh;
# the newest series its package lists know, 7.3 today), built in the
# chroot with its gcc-14.  Config: allnoconfig plus debug-kernel.config
# (KASAN, lockdep, DEBUG_ATOMIC_SLEEP, kmemleak, UBSAN, PANIC_ON_OOPS).
# The result lands in the harness's kernel cache:
#   $ZCRX_CACHE/kernels/<release>/{vmlinuz,modules/,build -> kernel tree,
#   chroot (a mark: modules for it are built in the chroot, kmake.sh)}
# keyed by the source package version and the fragment's hash, so only the
# first run pays for the build (about 8 minutes on 2 cores).
# Progress goes to stderr; stdout carries only the release name.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/debug-kernel.config
cache=${ZCRX_CACHE:-$HOME/.cache/zcrx}
log() { echo "debug-kernel.sh: $*" >&2; }

"$here/chroot.sh" ensure >/dev/null
croot=$("$here/chroot.sh" dir)
pkg=$(chroot "$croot" apt-cache pkgnames linux-source-7. | grep -E '^linux-source-7\.[0-9]+$' |
	sort -V | tail -n 1)
[[ -n $pkg ]] || { log "the chroot's package lists have no linux-source-7.*"; exit 1; }

need=(flex bison bc libelf-dev libssl-dev "$pkg")
missing=()
for p in "${need[@]}"; do
	chroot "$croot" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing in the chroot: ${missing[*]}"
	"$here/chroot.sh" run apt-get install -y -qq -o Dpkg::Use-Pty=0 -t trixie-backports \
		"${missing[@]}" >&2 ||
		{ "$here/chroot.sh" update >/dev/null &&
		  "$here/chroot.sh" run apt-get install -y -qq -o Dpkg::Use-Pty=0 \
			-t trixie-backports "${missing[@]}" >&2; }
	rm -f "$croot"/var/cache/apt/archives/*.deb
fi

version=$(chroot "$croot" dpkg-query -W -f='${Version}' "$pkg")
key=$version-$(sha256sum "$fragment" | cut -c1-12)
tree=$cache/debug-src/$key
if [[ -f $tree/.zcrx-done ]]; then
	cat "$tree/.zcrx-release"
	exit 0
fi

log "building the debug kernel ($pkg $version) in $tree"
rm -rf "$tree"
mkdir -p "$tree"
tar -xaf "$croot/usr/src/$pkg.tar.xz" -C "$tree" --strip-components=1
cp "$fragment" "$tree/.zcrx-fragment"
# Configure and build in the chroot, the tree bound at its own path.
ZCRX_CHROOT_BIND=$tree "$here/chroot.sh" run sh -c '
	set -e
	cd "$1"
	make -s allnoconfig
	scripts/kconfig/merge_config.sh -m .config .zcrx-fragment >/dev/null
	make -s olddefconfig
' build "$tree" >&2
# Every option of the fragment must have survived olddefconfig.
bad=0
while read -r line; do
	case $line in
	CONFIG_*=*) grep -qxF "$line" "$tree/.config" || { log "not set: $line"; bad=1; } ;;
	esac
done <"$fragment"
((bad == 0)) || { log "config fragment did not apply"; exit 1; }
ZCRX_CHROOT_BIND=$tree "$here/chroot.sh" run sh -c '
	cd "$1" && make -s -j"$(($(nproc) + 1))" bzImage modules
' build "$tree" >&2
rel=$(ZCRX_CHROOT_BIND=$tree "$here/chroot.sh" run make -s -C "$tree" kernelrelease)
cd "$tree"

dir=$cache/kernels/$rel
rm -rf "$dir"
mkdir -p "$dir/modules"
cp arch/x86/boot/bzImage "$dir/vmlinuz"
cp .config "$dir/config"
ln -s "$tree" "$dir/build"
touch "$dir/chroot"
# Everything the guests need is built in: no extra modules to list.
echo "(built in)" >"$dir/modules.list"
echo "$rel" >.zcrx-release
touch .zcrx-done
log "done: $rel"
echo "$rel"

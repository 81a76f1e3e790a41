#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# debug-kernel.sh: build (once) and print the release of the debug kernel.
#
# Source: Debian's linux-source-6.12 package.  Config: allnoconfig plus
# debug-kernel.config (KASAN, lockdep, DEBUG_ATOMIC_SLEEP, kmemleak, UBSAN,
# PANIC_ON_OOPS).  The result lands in the harness's kernel cache:
#   $ZCRX_CACHE/kernels/<release>/{vmlinuz,modules/,build -> kernel tree}
# keyed by the source package version and the fragment's hash, so only the
# first run pays for the build (about 5 minutes on 2 cores).
# Progress goes to stderr; stdout carries only the release name.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/debug-kernel.config
cache=${ZCRX_CACHE:-$HOME/.cache/zcrx}
pkg=linux-source-6.12
log() { echo "debug-kernel.sh: $*" >&2; }

need=(flex bison bc libelf-dev libssl-dev xz-utils "$pkg")
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
		{ apt-get update -qq >&2 &&
		  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }
fi

version=$(dpkg-query -W -f='${Version}' "$pkg")
key=$version-$(sha256sum "$fragment" | cut -c1-12)
tree=$cache/debug-src/$key
if [[ -f $tree/.zcrx-done ]]; then
	cat "$tree/.zcrx-release"
	exit 0
fi

log "building the debug kernel ($pkg $version) in $tree"
rm -rf "$tree"
mkdir -p "$tree"
tar -xaf /usr/src/"$pkg".tar.xz -C "$tree" --strip-components=1
cd "$tree"
make -s allnoconfig >&2
scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null
make -s olddefconfig >&2
# Every option of the fragment must have survived olddefconfig.
bad=0
while read -r line; do
	case $line in
	CONFIG_*=*) grep -qxF "$line" .config || { log "not set: $line"; bad=1; } ;;
	esac
done <"$fragment"
((bad == 0)) || { log "config fragment did not apply"; exit 1; }
make -s -j"$(($(nproc) + 1))" bzImage modules >&2
rel=$(make -s kernelrelease)

dir=$cache/kernels/$rel
rm -rf "$dir"
mkdir -p "$dir/modules"
cp arch/x86/boot/bzImage "$dir/vmlinuz"
cp .config "$dir/config"
ln -s "$tree" "$dir/build"
# Everything the guests need is built in: no extra modules to list.
echo "(built in)" >"$dir/modules.list"
echo "$rel" >.zcrx-release
touch .zcrx-done
log "done: $rel"
echo "$rel"

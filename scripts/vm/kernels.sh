#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# kernels.sh [--prepare]
#
# Print, one per line, the Debian kernel releases zcrx is tested on: the
# newest 6.1 LTS build ("6.1.0-N-amd64") and the newest 6.12 build
# ("6.12.X+debNN-amd64") for which apt knows both the image and the headers
# package.  ZCRX_KERNELS="rel1 rel2" replaces the discovery.
#
# With --prepare, also make each release usable by the harness:
#   - linux-headers-<rel> installed (to build the module against);
#   - $ZCRX_CACHE/kernels/<rel>/ (default ~/.cache/zcrx) holding vmlinuz,
#     config and modules/*.ko: the driver modules the guest tests need,
#     decompressed because busybox insmod cannot read .ko.xz.
# The image package is fetched with "apt-get download" and unpacked with
# dpkg-deb, so nothing is installed on the host and no boot hook runs.
# A complete cache directory is reused without touching the network.
# Progress goes to stderr; stdout carries only the release names.
set -euo pipefail

# comm(1) needs both lists sorted the same way.
export LC_ALL=C

cache_root=${ZCRX_CACHE:-$HOME/.cache/zcrx}/kernels

# Modules copied into every guest: virtual network devices for the tests'
# links, and loop for block-device tests.  None of them depends on another
# module in the Debian builds, so the guest can insmod them in any order.
# Changing the list makes kernels.sh fetch the images again.
read -ra guest_modules <<<"${ZCRX_GUEST_MODULES:-veth dummy macvlan tun loop}"

# Flavours other than the plain generic one are not wanted: -cloud lacks
# drivers, -rt changes scheduling, -dbg/-unsigned are not bootable images.
series_patterns=(
	'^6\.1\.0-[0-9]+-amd64$'
	'^6\.12\.[0-9]+\+deb[0-9]+-amd64$'
)

log() { echo "kernels.sh: $*" >&2; }

# Run a privileged command directly as root, through sudo otherwise.
as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	else
		sudo "$@"
	fi
}

# Releases of one package family ("linux-image-"), without the prefix.
releases_of() {
	apt-cache pkgnames "$1" | sed -n "s/^$1//p" | sort -u
}

discover() {
	local both pattern newest
	# Releases for which the image AND the headers package exist.
	both=$(comm -12 <(releases_of linux-image-) <(releases_of linux-headers-))
	for pattern in "${series_patterns[@]}"; do
		newest=$(grep -E -- "$pattern" <<<"$both" | sort -V | tail -n 1 || true)
		if [[ -z $newest ]]; then
			log "no release matching $pattern has both image and headers in apt-cache (apt-get update needed?)"
			return 1
		fi
		echo "$newest"
	done
}

# The cache of one release is complete when vmlinuz is there and the module
# list it was made with matches today's list.
cache_complete() {
	local dir=$cache_root/$1
	[[ -s $dir/vmlinuz && -f $dir/modules.list ]] &&
		[[ "$(cat "$dir/modules.list")" == "${guest_modules[*]}" ]]
}

ensure_headers() {
	local rel=$1
	if [[ -d /usr/src/linux-headers-$rel ]] &&
		dpkg-query -W -f='${Status}' "linux-headers-$rel" 2>/dev/null | grep -q 'ok installed'; then
		return 0
	fi
	log "installing linux-headers-$rel"
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends \
		"linux-headers-$rel" >&2
}

# Fetch linux-image-<rel> into $1.  The mirror may have dropped the version
# our package lists name (security updates replace old builds), so refresh
# the lists once and retry before giving up.
download_image() {
	local tmp=$1 rel=$2
	# apt drops privileges to _apt for downloads; let it write here.
	if [[ $EUID -eq 0 ]] && id _apt >/dev/null 2>&1; then
		chown _apt "$tmp"
	fi
	if (cd "$tmp" && apt-get download -qq "linux-image-$rel" >&2); then
		return 0
	fi
	log "download failed; refreshing package lists and retrying"
	as_root apt-get update -qq >&2
	(cd "$tmp" && apt-get download -qq "linux-image-$rel" >&2)
}

# Scratch space for downloads, removed however the script ends.
workdir=
cleanup() { [[ -z $workdir ]] || rm -rf "$workdir"; }
trap cleanup EXIT

fill_cache() {
	local rel=$1 tmp deb m ko dest
	if [[ -z $workdir ]]; then
		workdir=$(mktemp -d)
		chmod 755 "$workdir" # apt's _apt user must reach $tmp
	fi
	tmp=$workdir/$rel
	mkdir "$tmp"

	log "downloading linux-image-$rel"
	download_image "$tmp" "$rel"
	deb=$(ls "$tmp"/linux-image-*.deb)

	# Extract only what the guest needs instead of the whole module tree.
	# The wildcards cover both /lib/modules and merged-/usr layouts.
	local wanted=("*/boot/vmlinuz-$rel" "*/boot/config-$rel")
	for m in "${guest_modules[@]}"; do
		wanted+=("*/modules/$rel/kernel/*/$m.ko" "*/modules/$rel/kernel/*/$m.ko.*")
	done
	mkdir "$tmp/x"
	# Missing members (a module built in, .ko vs .ko.xz) are not errors here;
	# each wanted module is checked below.
	dpkg-deb --fsys-tarfile "$deb" |
		tar -x -C "$tmp/x" --wildcards --no-anchored "${wanted[@]}" 2>/dev/null || true

	dest=$tmp/out
	mkdir -p "$dest/modules"
	cp "$tmp/x/boot/vmlinuz-$rel" "$dest/vmlinuz"
	cp "$tmp/x/boot/config-$rel" "$dest/config"
	for m in "${guest_modules[@]}"; do
		ko=$(find "$tmp/x" -name "$m.ko" -o -name "$m.ko.*" | head -n 1)
		if [[ -z $ko ]]; then
			log "linux-image-$rel has no module $m"
			return 1
		fi
		case $ko in
		*.ko) cp "$ko" "$dest/modules/$m.ko" ;;
		*.ko.xz) xz -dc "$ko" >"$dest/modules/$m.ko" ;;
		*.ko.zst) zstd -qdc "$ko" >"$dest/modules/$m.ko" ;;
		*.ko.gz) gzip -dc "$ko" >"$dest/modules/$m.ko" ;;
		*) log "unknown module compression: $ko"; return 1 ;;
		esac
	done
	echo "${guest_modules[*]}" >"$dest/modules.list"

	# Swap the finished directory in, so an interrupted run never leaves
	# a cache that looks complete.
	mkdir -p "$cache_root"
	rm -rf "${cache_root:?}/$rel"
	mv "$dest" "$cache_root/$rel"
	rm -rf "$tmp"
	log "cached $rel in $cache_root/$rel"
}

main() {
	local prepare=0 rel
	case ${1:-} in
	--prepare) prepare=1 ;;
	"") ;;
	*) echo "usage: $0 [--prepare]" >&2; exit 2 ;;
	esac

	local releases
	if [[ -n ${ZCRX_KERNELS:-} ]]; then
		releases=$(tr -s ' ' '\n' <<<"$ZCRX_KERNELS" | sed '/^$/d')
	else
		releases=$(discover)
	fi

	if [[ $prepare -eq 1 ]]; then
		for rel in $releases; do
			ensure_headers "$rel"
			cache_complete "$rel" || fill_cache "$rel"
		done
	fi
	printf '%s\n' "$releases"
}

main "$@"

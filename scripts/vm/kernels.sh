#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# kernels.sh [--prepare | --host]
#
# Print, one per line, the Debian kernel releases zcrx is tested on, oldest
# first: the newest 6.1 LTS build ("6.1.0-N-amd64") and the newest 6.12
# build ("6.12.X+debNN-amd64") for which the host's apt knows both the
# image and the headers package, then the newest 7.x build
# ("7.3.4+deb13-amd64") of trixie-backports, whose headers need trixie's
# userland and so live in the chroot of scripts/vm/chroot.sh (created on
# first use).  --host prints only the first two.  ZCRX_KERNELS="rel1 rel2"
# replaces the discovery.
#
# With --prepare, also make each release usable by the harness:
#   - its headers installed: linux-headers-<rel> on the host, or in the
#     chroot for a release the host's apt does not know
#     (scripts/vm/kmake.sh finds either);
#   - $ZCRX_CACHE/kernels/<rel>/ (default ~/.cache/zcrx) holding vmlinuz,
#     config and modules/*.ko: the driver modules the guest tests need,
#     decompressed because busybox insmod cannot read .ko.xz;
#     nic-modules/NN-<name>.ko: the virtio-net driver and what it needs,
#     for the benchmark's nic link only (the guest's /init does not load
#     them), numbered in load order; the ones a kernel has built in are
#     simply absent.  With ZCRX_WANT_NIC=1 (scripts/bench.sh sets it
#     for its nic link) a cache without them gets them added.
# The packages are fetched with "apt-get download" (in the chroot for a
# chroot release) and unpacked with dpkg-deb, so nothing is installed and
# no boot hook runs.  Debian packages 7.x differently: linux-image-<rel> is
# a metapackage, the kernel is /usr/lib/modules/<rel>/vmlinuz in
# linux-binary-<rel>, the modules are in linux-modules-<rel> and the
# config comes with the headers; both layouts are handled.
# A complete cache directory is reused without touching the network.
# Progress goes to stderr; stdout carries only the release names.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

# comm(1) needs both lists sorted the same way.
export LC_ALL=C

cache_root=${ZCRX_CACHE:-$HOME/.cache/zcrx}/kernels

# Modules copied into every guest: virtual network devices for the tests'
# links, and loop for block-device tests.  None of them depends on another
# module in the Debian builds, so the guest can insmod them in any order.
# Changing the list makes kernels.sh fetch the images again.
read -ra guest_modules <<<"${ZCRX_GUEST_MODULES:-veth dummy macvlan tun loop}"
# The virtio-net driver's module chain, in load order (6.1 has the virtio
# core and PCI transport as modules, 6.12 and 7.x build them in).  Each is
# optional: a built-in one is not in the package.
read -ra nic_modules <<<"virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net"

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

# Does the host's apt know this release?  (No: it is a chroot release.)
on_host() {
	apt-cache show "linux-headers-$1" >/dev/null 2>&1
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
	[[ ${1:-} == host ]] && return 0
	# The newest 7.x: what the chroot's trixie-backports lists know.
	"$here/chroot.sh" ensure || { log "no 7.x release from the trixie chroot"; return 1; }
}

# The cache of one release is complete when vmlinuz is there and the module
# list it was made with matches today's list.
cache_complete() {
	local dir=$cache_root/$1
	[[ -s $dir/vmlinuz && -f $dir/modules.list ]] &&
		[[ "$(cat "$dir/modules.list")" == "${guest_modules[*]}" ]]
}
nic_complete() {
	local dir=$cache_root/$1
	[[ -f $dir/nic-modules.list && "$(cat "$dir/nic-modules.list")" == "${nic_modules[*]}" ]]
}

# nic_extract X DEST: the NIC modules found under X (an unpacked package
# tree) as DEST/nic-modules/NN-<name>.ko, and DEST/nic-modules.list.
nic_extract() {
	local x=$1 dest=$2 m ko i=10
	mkdir -p "$dest/nic-modules"
	for m in "${nic_modules[@]}"; do
		ko=$(find "$x" -name "$m.ko" -o -name "$m.ko.*" | head -n 1)
		[[ -z $ko ]] || unko "$ko" "$dest/nic-modules/$i-$m.ko"
		i=$((i + 1))
	done
	echo "${nic_modules[*]}" >"$dest/nic-modules.list"
}

# unko KO DEST: copy a module, decompressed.
unko() {
	case $1 in
	*.ko) cp "$1" "$2" ;;
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -qdc "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*) log "unknown module compression: $1"; return 1 ;;
	esac
}

ensure_headers() {
	local rel=$1
	if ! on_host "$rel"; then
		# The chroot's "ensure" installs its newest 7.x headers.
		[[ -f $("$here/chroot.sh" dir)/usr/src/linux-headers-$rel/Makefile ]] ||
			"$here/chroot.sh" ensure >/dev/null
		[[ -f $("$here/chroot.sh" dir)/usr/src/linux-headers-$rel/Makefile ]] ||
			{ log "the chroot has no linux-headers-$rel"; return 1; }
		return 0
	fi
	if [[ -d /usr/src/linux-headers-$rel ]] &&
		dpkg-query -W -f='${Status}' "linux-headers-$rel" 2>/dev/null | grep -q 'ok installed'; then
		return 0
	fi
	log "installing linux-headers-$rel"
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends \
		"linux-headers-$rel" >&2
}

# Fetch the packages holding <rel>'s kernel and modules into $1.  The
# mirror may have dropped the version our package lists name (security
# updates replace old builds), so refresh the lists once and retry before
# giving up.
download_image() {
	local tmp=$1 rel=$2
	if ! on_host "$rel"; then
		local get='cd "$1" && shift && apt-get download -qq -o APT::Sandbox::User=root "$@"'
		ZCRX_CHROOT_BIND=$tmp "$here/chroot.sh" run sh -c "$get" get "$tmp" \
			"linux-binary-$rel" "linux-modules-$rel" >&2 && return 0
		log "download failed; refreshing the chroot's package lists and retrying"
		"$here/chroot.sh" update >/dev/null
		ZCRX_CHROOT_BIND=$tmp "$here/chroot.sh" run sh -c "$get" get "$tmp" \
			"linux-binary-$rel" "linux-modules-$rel" >&2
		return
	fi
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
# module_globs REL MOD...: tar wildcards for those modules of REL, .ko or
# compressed, in /lib/modules and merged-/usr module trees alike; one
# per line.
module_globs() {
	local rel=$1 m
	shift
	for m; do
		printf '%s\n' "*/modules/$rel/kernel/*/$m.ko" "*/modules/$rel/kernel/*/$m.ko.*"
	done
}

# extract_debs DIR GLOB...: the members of every DIR/*.deb that match into
# DIR/x.  Missing members (a module built in, .ko vs .ko.xz) are not
# errors here: the callers check each file they need.
extract_debs() {
	local dir=$1 deb
	shift
	mkdir "$dir/x"
	for deb in "$dir"/*.deb; do
		dpkg-deb --fsys-tarfile "$deb" |
			tar -x -C "$dir/x" --wildcards --no-anchored "$@" 2>/dev/null || true
	done
}

cleanup() { [[ -z $workdir ]] || rm -rf "$workdir"; }
trap cleanup EXIT

fill_cache() {
	local rel=$1 tmp m ko dest globs
	if [[ -z $workdir ]]; then
		workdir=$(mktemp -d)
		chmod 755 "$workdir" # apt's _apt user must reach $tmp
	fi
	tmp=$workdir/$rel
	mkdir "$tmp"

	log "downloading the kernel packages of $rel"
	download_image "$tmp" "$rel"

	# Extract only what the guest needs instead of the whole module tree.
	# The wildcards cover /boot and /usr/lib/modules kernels.
	mapfile -t globs < <(module_globs "$rel" "${guest_modules[@]}" "${nic_modules[@]}")
	extract_debs "$tmp" "*/boot/vmlinuz-$rel" "*/boot/config-$rel" \
		"*/modules/$rel/vmlinuz" "${globs[@]}"

	dest=$tmp/out
	mkdir -p "$dest/modules"
	local kernel config
	kernel=$(find "$tmp/x" -path "*/boot/vmlinuz-$rel" -o -path "*/modules/$rel/vmlinuz" | head -n 1)
	[[ -n $kernel ]] || { log "no kernel image in the packages of $rel"; return 1; }
	cp "$kernel" "$dest/vmlinuz"
	# 7.x: the config comes with the headers (in the chroot).
	config=$(find "$tmp/x" -path "*/boot/config-$rel" | head -n 1)
	[[ -n $config ]] || config=$("$here/chroot.sh" dir)/usr/src/linux-headers-$rel/.config
	[[ -f $config ]] || { log "no config for $rel"; return 1; }
	cp "$config" "$dest/config"
	for m in "${guest_modules[@]}"; do
		ko=$(find "$tmp/x" -name "$m.ko" -o -name "$m.ko.*" | head -n 1)
		if [[ -z $ko ]]; then
			log "linux-image-$rel has no module $m"
			return 1
		fi
		unko "$ko" "$dest/modules/$m.ko"
	done
	echo "${guest_modules[*]}" >"$dest/modules.list"
	nic_extract "$tmp/x" "$dest"

	# Swap the finished directory in, so an interrupted run never leaves
	# a cache that looks complete.
	mkdir -p "$cache_root"
	rm -rf "${cache_root:?}/$rel"
	mv "$dest" "$cache_root/$rel"
	rm -rf "$tmp"
	log "cached $rel in $cache_root/$rel"
}

# A cache made before the NIC modules were cached: add only them, leaving
# the rest of it (which other runs may be reading) alone.
fill_nic() {
	local rel=$1 tmp globs
	if [[ -z $workdir ]]; then
		workdir=$(mktemp -d)
		chmod 755 "$workdir"
	fi
	tmp=$workdir/$rel
	mkdir "$tmp"
	log "downloading the kernel packages of $rel (for its NIC modules)"
	download_image "$tmp" "$rel"
	mapfile -t globs < <(module_globs "$rel" "${nic_modules[@]}")
	extract_debs "$tmp" "${globs[@]}"
	nic_extract "$tmp/x" "$tmp/out"
	rm -rf "${cache_root:?}/$rel/nic-modules"
	mv "$tmp/out/nic-modules" "$cache_root/$rel/nic-modules"
	mv "$tmp/out/nic-modules.list" "$cache_root/$rel/nic-modules.list"
	rm -rf "$tmp"
	log "cached the NIC modules of $rel: $(ls "$cache_root/$rel/nic-modules" | tr '\n' ' ')"
}

main() {
	local prepare=0 rel which=all
	case ${1:-} in
	--prepare) prepare=1 ;;
	--host) which=host ;;
	"") ;;
	*) echo "usage: $0 [--prepare | --host]" >&2; exit 2 ;;
	esac

	local releases
	if [[ -n ${ZCRX_KERNELS:-} ]]; then
		releases=$(tr -s ' ' '\n' <<<"$ZCRX_KERNELS" | sed '/^$/d')
		if [[ $which == host ]]; then
			for rel in $releases; do on_host "$rel" && echo "$rel"; done
			return 0
		fi
	else
		releases=$(discover "$which")
	fi

	if [[ $prepare -eq 1 ]]; then
		for rel in $releases; do
			ensure_headers "$rel"
			cache_complete "$rel" || fill_cache "$rel"
			[[ ${ZCRX_WANT_NIC:-0} != 1 ]] || nic_complete "$rel" || fill_nic "$rel"
		done
	fi
	printf '%s\n' "$releases"
}

main "$@"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The compat probes, checked per tested kernel: module/compat-probe.sh is
# run on the headers of every kernel under test, and each ZCRX_HAVE_* it
# finds or misses must match what that kernel series is known to have
# (the table below).  A probe that silently misfires, because a header
# moved or a pattern stopped matching, fails here instead of building a
# module that takes the wrong branch.  Run from the repo top as a host
# test of "make check".
#
# Kernels: those scripts/vm/kernels.sh names (headers in /usr/src, or in
# scripts/vm/chroot.sh's chroot for the newest 7.x), and kernels built
# here (the debug kernel's tree in the cache).  Prints "ok - compat.<series>.<probe>" or "not ok - ...: expected
# X got Y"; a kernel whose headers are absent is skipped.
. tests/lib/tap.sh
set -uo pipefail
cache=${ZCRX_CACHE:-$HOME/.cache/zcrx}
ok() { tap_line "ok - compat.$1"; }
nok() { tap_line "not ok - compat.$1: $2"; }
skip() { tap_line "ok - compat.$1 # SKIP $2"; }

# What each series has: probe name (ZCRX_HAVE_ dropped) and yes/no.
declare -A expect
# 6.1 LTS: vm_flags written directly, folio_mapcount() out of line and not
# exported, kernel_sendpage(), zap_page_range() exported.
expect[6.1]="VM_FLAGS_MOD=no INLINE_FOLIO_MAPCOUNT=no KERNEL_SENDPAGE=yes
	ZAP_PAGE_RANGE=yes ZAP_PAGE_RANGE_SINGLE=yes ZAP_VMA_RANGE=no WQ_PERCPU=no"
# 6.12: MSG_SPLICE_PAGES only, zap_page_range_single(); Debian's 6.12 has
# WQ_PERCPU (upstream 6.17).
expect[6.12]="VM_FLAGS_MOD=yes INLINE_FOLIO_MAPCOUNT=yes KERNEL_SENDPAGE=no
	ZAP_PAGE_RANGE=no ZAP_PAGE_RANGE_SINGLE=yes ZAP_VMA_RANGE=no WQ_PERCPU=yes"
# 7.x (Debian's trixie-backports, 7.3 today): zap_vma_range() only.
expect[7.x]="VM_FLAGS_MOD=yes INLINE_FOLIO_MAPCOUNT=yes KERNEL_SENDPAGE=no
	ZAP_PAGE_RANGE=no ZAP_PAGE_RANGE_SINGLE=no ZAP_VMA_RANGE=yes WQ_PERCPU=yes"

series_of() {
	case $1 in
	6.1.*) echo 6.1 ;;
	6.12.*) echo 6.12 ;;
	7.*) echo 7.x ;;
	*) echo "${1%%-*}" ;;
	esac
}

# srctree_of ROOT KDIR: the source tree a kbuild directory builds with, as
# a host path (ROOT prefixes paths inside a chroot).  Debian's arch
# headers include the -common tree's Makefile; a full tree is its own.
srctree_of() {
	local root=$1 kdir=$2 inc
	inc=$(sed -n 's/^include[[:space:]]\+\(\/.*\)\/Makefile$/\1/p' "$kdir/Makefile" 2>/dev/null | head -n 1)
	if [[ -n $inc && -d $root$inc ]]; then
		echo "$root$inc"
	elif [[ -L $kdir/source ]]; then
		echo "$root$(readlink "$kdir/source")"
	else
		echo "$kdir"
	fi
}

# check TAG SERIES LABEL SRCTREE: run the probes there and compare with
# the table's SERIES row; results are named compat.TAG.<probe>.
check() {
	local tag=$1 series=$2 label=$3 src=$4 out line name got want pair seen=" "
	if [[ -z ${expect[$series]:-} ]]; then
		nok "$tag.table" "no expectations for kernel series $series ($label): add them to $0"
		return
	fi
	if ! out=$(sh module/compat-probe.sh "$src" 2>&1); then
		nok "$tag.probe" "compat-probe.sh failed on $src: $(head -n 1 <<<"$out")"
		return
	fi
	echo "# $tag: $label ($src)"
	declare -A have=()
	while IFS= read -r line; do
		case $line in
		"#define ZCRX_HAVE_"*)
			name=${line#\#define ZCRX_HAVE_}
			have[${name%% *}]=yes ;;
		"/* ZCRX_HAVE_"*" not found"*)
			name=${line#/\* ZCRX_HAVE_}
			have[${name%% *}]=no ;;
		esac
	done <<<"$out"
	for pair in ${expect[$series]}; do
		name=${pair%%=*} want=${pair#*=}
		seen+="$name "
		got=${have[$name]:-absent}
		if [[ $got == "$want" ]]; then
			ok "$tag.$name"
		elif [[ $got == absent ]]; then
			nok "$tag.$name" "expected $want got no such probe in compat-probe.sh"
		else
			nok "$tag.$name" "expected $want got $got"
		fi
	done
	# A probe the table does not know is a probe nobody checks.
	for name in "${!have[@]}"; do
		[[ $seen == *" $name "* ]] ||
			nok "$tag.$name" "expected (none: not in the table) got ${have[$name]}"
	done
}

# run RELEASE ROOT KDIR [SUFFIX]: check a release once; SUFFIX tells a
# kernel built here from the Debian kernel of the same series.
checked=" "
run() {
	local rel=$1 root=$2 kdir=$3 series
	[[ $checked != *" $rel "* ]] || return 0
	checked+="$rel "
	series=$(series_of "$rel")
	check "$series${4:-}" "$series" "$rel" "$(srctree_of "$root" "$kdir")"
}

# Debian kernels under test; their headers are on the host, or in the
# chroot for those that need trixie's userland.
chroot_dir=$(scripts/vm/chroot.sh dir 2>/dev/null)
have_chroot=0
[[ -n $chroot_dir && -f $chroot_dir/.zcrx-mirror ]] && have_chroot=1
for rel in $(scripts/vm/kernels.sh 2>/dev/null); do
	if [[ -d /usr/src/linux-headers-$rel ]]; then
		run "$rel" "" "/usr/src/linux-headers-$rel"
	elif ((have_chroot)) && [[ -d $chroot_dir/usr/src/linux-headers-$rel ]]; then
		run "$rel" "$chroot_dir" "$chroot_dir/usr/src/linux-headers-$rel"
	else
		skip "$(series_of "$rel")" "no headers for $rel (scripts/deps.sh installs them)"
	fi
done

# Kernels built here (the debug kernel): their trees are in the cache.
for build in "$cache"/kernels/*/build; do
	[[ -d $build/include/linux ]] || continue
	run "$(basename "$(dirname "$build")")" "" "$build" -built
done
tap_plan

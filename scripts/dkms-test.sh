#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# dkms-test.sh: the DKMS path a user takes, for real, on every Debian kernel
# under test (scripts/vm/kernels.sh; ZCRX_KERNELS narrows it).  Run from
# anywhere as root; prints "ok - dkms.*" / "not ok - dkms.*: reason" lines
# (tests/unit/t_dkms.sh runs it as a host test of "make check").
#
#   1. make dkms-install: /usr/src/zcrx-VERSION holds exactly the files
#      DKMS needs (Makefile's DKMS_SRCS);
#   2. dkms add, then per kernel dkms build -k REL and dkms install -k REL:
#      the module lands in /lib/modules/REL/updates/dkms and depmod knows it;
#   3. per kernel, a QEMU guest boots with that installed file under its
#      /lib/modules/REL (depmod -b, kmod's modprobe), unloads the module
#      /init loaded, and checks that "modprobe zcrx" loads the DKMS build,
#      that /dev/zcrx has the mode of the udev rule, and that a 4 MiB
#      stream arrives intact;
#   4. dkms remove --all leaves nothing in /lib/modules/*/updates nor in
#      /var/lib/dkms, and make dkms-uninstall removes the source tree.
#
# A kernel whose headers are in the trixie chroot (Debian's 7.x, see
# scripts/vm/chroot.sh) goes through the same steps with the chroot's own
# dkms (3.2) and toolchain: the source tree is installed into the chroot's
# /usr/src, and dkms add/build/install/remove run there.
#
# The host (and the chroot) is never changed: everything runs in a private
# mount namespace where /usr/src, /var/lib/dkms and /lib/modules, the
# chroot's too, are overlays whose upper layers live in a tmpfs that
# vanishes with the namespace.  dkms itself (Debian's dkms 3.0.10) is
# installed first if missing.
#
# The guest has devtmpfs and no udev.  devtmpfs creates /dev/zcrx with the
# mode the driver gives its misc device, which the kernel also reports as
# DEVMODE in the device's uevent; the test checks both against the MODE of
# scripts/udev/70-zcrx.rules, so the node has the same mode with or
# without udev.
#
# Environment: ZCRX_KERNELS (releases), ZCRX_TESTS (when set, this test
# runs only if it names t_dkms), ZCRX_CACHE, V=1 (show dkms and guest logs).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
verbose=${V:-0}
. tests/lib/tap.sh

ok() { tap_line "ok - dkms.$1"; }
nok() { tap_line "not ok - dkms.$1: $2"; failed=1; }
skip() { tap_line "ok - dkms.$1 # SKIP $2"; }
diag() { sed 's/^/# /'; }
failed=0

# ---------------------------------------------------------------------------
# Outside the namespace: prerequisites, then re-run inside it.
# ---------------------------------------------------------------------------
outside() {
	local tmp rc=0 rels

	if [[ -n ${ZCRX_TESTS:-} && " ${ZCRX_TESTS//,/ } " != *" t_dkms "* ]]; then
		skip all "ZCRX_TESTS does not name t_dkms"
		return 0
	fi
	if [[ $EUID -ne 0 ]]; then
		skip all "needs root (dkms writes system directories, even in a namespace)"
		return 0
	fi
	if ! command -v dkms >/dev/null; then
		echo "dkms-test.sh: installing dkms" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 \
			--no-install-recommends dkms >&2 ||
			{ apt-get update -qq >&2 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				-o Dpkg::Use-Pty=0 --no-install-recommends dkms >&2; } ||
			{ nok setup "apt-get install dkms failed"; return 1; }
	fi
	if ! rels=$(scripts/vm/kernels.sh --prepare 2>/dev/null) || [[ -z $rels ]]; then
		nok setup "scripts/vm/kernels.sh --prepare failed"
		return 1
	fi
	# The guest needs the example receiver and the library.
	if [[ ! -x build/tests/guest/zcrx_recv ]] &&
	   ! make -s --no-print-directory lib tests >/dev/null 2>&1; then
		nok setup "make lib tests failed"
		return 1
	fi

	tmp=$(mktemp -d /tmp/zcrx-dkms.XXXXXX)
	in_namespace "$tmp" $rels || rc=$?
	rm -rf "$tmp"
	[[ $rc -eq 0 && $failed -eq 0 ]]
}

croot=$(scripts/vm/chroot.sh dir)

# Everything DKMS could touch on the host and in the chroot, as a listing.
host_state() {
	local r
	for r in "" "$croot"; do
		find "$r/usr/src" -maxdepth 1 -name 'zcrx*' 2>/dev/null
		find "$r/var/lib/dkms" "$r"/lib/modules/*/updates 2>/dev/null | sort
		ls -l --time-style=+%s "$r"/lib/modules/*/modules.dep 2>/dev/null
	done
}

# root_of REL: the root DKMS works in for REL ("" or the chroot).
root_of() {
	local kind
	read -r kind _ < <(scripts/vm/kmake.sh --where "$1" 2>/dev/null) || return 1
	if [[ $kind == chroot ]]; then echo "$croot"; else echo ""; fi
}

# dk ROOT ARGS...: dkms on the host ("") or in the chroot.
dk() {
	local r=$1
	shift
	if [[ -n $r ]]; then
		scripts/vm/chroot.sh run dkms "$@"
	else
		dkms "$@"
	fi
}

# ---------------------------------------------------------------------------
# Inside the namespace.
# ---------------------------------------------------------------------------

# shellcheck source=vm/module-guest.sh
. scripts/vm/module-guest.sh

inside() {
	tmp=$1
	shift
	local version rel want got left r roots=("")
	version=$(cat VERSION)
	mkdir -p "$tmp/ov" "$tmp/logs"
	ov=$tmp/ov
	mount -t tmpfs tmpfs "$ov" || { nok namespace "cannot mount tmpfs"; return 1; }
	for rel in "$@"; do
		r=$(root_of "$rel") || { nok "$rel.tree" "no build tree for $rel"; continue; }
		[[ " ${roots[*]} " == *" $r "* ]] || roots+=("$r")
	done
	for r in "${roots[@]}"; do
		for d in /usr/src /var/lib/dkms /lib/modules; do
			overlay "$r$d" || { nok namespace "cannot overlay $r$d"; return 1; }
		done
	done
	local -A dkms_before
	for r in "${roots[@]}"; do
		dkms_before[x$r]=$(cd "$r/var/lib/dkms" && find . | sort)
	done

	# 1. The source tree (the chroot gets the same files).
	run source_tree_install make -s --no-print-directory dkms-install || return 1
	for r in "${roots[@]}"; do
		[[ -z $r ]] || run source_tree_install_chroot \
			make -s --no-print-directory dkms-install DESTDIR="$r" || return 1
	done
	want=$(make -s --no-print-directory -f - <<<'include Makefile
print-dkms-srcs: ; @printf "%s\n" $(DKMS_SRCS)' print-dkms-srcs | sort)
	got=$(cd "/usr/src/zcrx-$version" && find . -type f | sed 's|^\./||' | sort)
	if [[ -n $want && $got == "$want" ]]; then
		ok source_tree_exact
	else
		nok source_tree_exact "$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | tr '\n' ' ')"
	fi
	if grep -q "^PACKAGE_VERSION=\"$version\"" "/usr/src/zcrx-$version/dkms.conf"; then
		ok dkms_conf_version
	else
		nok dkms_conf_version "dkms.conf does not say $version"
	fi

	# 2. add, build, install.
	for r in "${roots[@]}"; do
		run "add${r:+_chroot}" dk "$r" add "zcrx/$version" || return 1
	done
	for rel in "$@"; do
		r=$(root_of "$rel") || continue
		if ! run "$rel.build" dk "$r" build "zcrx/$version" -k "$rel"; then
			tail -n 25 "$r/var/lib/dkms/zcrx/$version/build/make.log" 2>/dev/null | diag
			continue
		fi
		# The chroot holds REL's headers, not its modules: make the
		# modules.dep installing linux-modules-REL would have (dkms 3.2
		# runs depmod only for a kernel that has one).  In the overlay.
		if [[ -n $r && ! -f $r/lib/modules/$rel/modules.dep ]]; then
			scripts/vm/chroot.sh run depmod -a "$rel" 2>/dev/null ||
				nok "$rel.chroot_depmod" "depmod -a $rel failed in the chroot"
		fi
		run "$rel.install" dk "$r" install "zcrx/$version" -k "$rel" || continue
		got=$(find "$r/lib/modules/$rel/updates/dkms" -name 'zcrx.ko*' 2>/dev/null)
		if [[ -n $got ]] && grep -q "^updates/dkms/zcrx.ko[^:]*:" "$r/lib/modules/$rel/modules.dep"; then
			ok "$rel.installed_and_depmod"
		else
			nok "$rel.installed_and_depmod" "module '$got', modules.dep: $(grep -c zcrx "$r/lib/modules/$rel/modules.dep" 2>/dev/null) lines"
		fi
		got=$(modinfo -F vermagic "$got" 2>/dev/null)
		if [[ $got == "$rel "* ]]; then
			ok "$rel.vermagic"
		else
			nok "$rel.vermagic" "'$got'"
		fi
		if dk "$r" status "zcrx/$version" -k "$rel" 2>/dev/null | grep ': installed' >/dev/null; then
			ok "$rel.status_installed"
		else
			nok "$rel.status_installed" "$(dk "$r" status 2>&1 | tr '\n' ' ')"
		fi
	done
	[[ $verbose == 1 ]] && dkms status | diag

	# 3. Boot each kernel with the installed module.
	for rel in "$@"; do
		module_guest_boot dkms "$rel" build/tests/guest scripts/udev/70-zcrx.rules \
			"$(root_of "$rel")"
	done

	# 4. Remove.
	for r in "${roots[@]}"; do
		run "remove${r:+_chroot}" dk "$r" remove "zcrx/$version" --all
	done
	left=$(for r in "${roots[@]}"; do
		find "$r"/lib/modules/*/updates -mindepth 1 2>/dev/null
		grep -l zcrx "$r"/lib/modules/*/modules.dep 2>/dev/null
	done)
	if [[ -z $left ]]; then
		ok removed_from_lib_modules
	else
		nok removed_from_lib_modules "left: $(tr '\n' ' ' <<<"$left")"
	fi
	# dkms keeps its signing key (mok.key, mok.pub) once made: not ours.
	left=$(for r in "${roots[@]}"; do
		diff <(echo "${dkms_before[x$r]}") <(cd "$r/var/lib/dkms" && find . | sort) |
			sed -n 's/^> //p' | grep -v '^\./mok\.\(key\|pub\)$'
	done)
	if [[ -z $left ]]; then
		ok removed_from_var_lib_dkms
	else
		nok removed_from_var_lib_dkms "left: $(tr '\n' ' ' <<<"$left")"
	fi
	run source_tree_uninstall make -s --no-print-directory dkms-uninstall
	for r in "${roots[@]}"; do
		[[ -z $r ]] || rm -rf "$r/usr/src/zcrx-$version"
	done
	if [[ ! -e /usr/src/zcrx-$version ]]; then
		ok source_tree_removed
	else
		nok source_tree_removed "/usr/src/zcrx-$version still there"
	fi
	[[ $failed -eq 0 ]]
}

install_test_main "$@"

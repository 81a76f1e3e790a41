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
# The host is never changed: everything runs in a private mount namespace
# where /usr/src, /var/lib/dkms and /lib/modules are overlays whose upper
# layers live in a tmpfs that vanishes with the namespace.  dkms itself
# (Debian's dkms 3.0.10) is installed first if missing.
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
	local before
	before=$(host_state)
	unshare --mount --propagation private "$0" --inside "$tmp" $rels || rc=$?
	if [[ $rc -ne 0 && $rc -ne 1 ]]; then
		nok namespace "unshare failed (status $rc): no mount namespaces or overlayfs?"
	fi
	# Nothing may have leaked out of the namespace.
	if [[ "$(host_state)" == "$before" ]]; then
		ok host_unchanged
	else
		nok host_unchanged "$(diff <(echo "$before") <(host_state) | grep '^[<>]' | head -n 5 | tr '\n' ' ')"
	fi
	rm -rf "$tmp"
	[[ $rc -eq 0 && $failed -eq 0 ]]
}

# Everything DKMS could touch on the host, as a listing.
host_state() {
	find /usr/src -maxdepth 1 -name 'zcrx*' 2>/dev/null
	find /var/lib/dkms /lib/modules/*/updates 2>/dev/null | sort
	ls -l --time-style=+%s /lib/modules/*/modules.dep 2>/dev/null
}

# ---------------------------------------------------------------------------
# Inside the namespace.
# ---------------------------------------------------------------------------

# overlay DIR: writes to DIR go to a throw-away upper layer.
overlay() {
	local dir n
	dir=$(readlink -f "$1")
	mkdir -p "$dir"
	n=$(tr / _ <<<"$dir")
	mkdir -p "$ov/$n/upper" "$ov/$n/work"
	mount -t overlay overlay \
		-o "lowerdir=$dir,upperdir=$ov/$n/upper,workdir=$ov/$n/work" "$dir"
}

# run NAME CMD...: run a command, log its output, report the result.
run() {
	local name=$1 log
	shift
	log=$tmp/logs/$name.log
	if "$@" >"$log" 2>&1; then
		ok "$name"
		[[ $verbose == 1 ]] && diag <"$log"
		return 0
	fi
	nok "$name" "'$*' failed"
	tail -n 25 "$log" | diag
	return 1
}

# The guest's test, run by its /init as /tests/t_dkms.sh.
write_guest_test() {
	cat >"$1" <<'GUEST'
#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# timeout: 240
# The DKMS-installed zcrx in a guest: modprobe, device node, one stream.
rel=$(uname -r)
kmod=/usr/local/sbin		# kmod's modprobe and modinfo, as on Debian
. /tests/lib/tap.sh
ok() { tap_line "ok - dkms.$1"; }
nok() { tap_line "not ok - dkms.$1: $2"; }

# /init loaded /zcrx.ko (the same build); unload it: modprobe must find it.
tries=0
until rmmod zcrx 2>/dev/null; do
	tries=$((tries + 1))
	[ $tries -ge 10 ] && break
	sleep 1
done
if [ ! -e /sys/module/zcrx ] && [ ! -e /dev/zcrx ]; then
	ok unloaded_before_modprobe
else
	nok unloaded_before_modprobe "zcrx still loaded"
fi

dep=$($kmod/modprobe --show-depends zcrx 2>&1)
case $dep in
*"/lib/modules/$rel/updates/dkms/zcrx.ko"*) ok modules_dep_finds_dkms_build ;;
*) nok modules_dep_finds_dkms_build "modprobe --show-depends: $dep" ;;
esac

if err=$($kmod/modprobe zcrx 2>&1) && [ -e /sys/module/zcrx ]; then
	ok modprobe
else
	nok modprobe "$err"
fi
want=$($kmod/modinfo -F srcversion zcrx 2>&1)
got=$(cat /sys/module/zcrx/srcversion 2>/dev/null)
if [ -n "$got" ] && [ "$got" = "$want" ]; then
	ok loaded_is_dkms_build
else
	nok loaded_is_dkms_build "srcversion loaded '$got', modinfo '$want'"
fi
got=$(cat /sys/module/zcrx/version 2>/dev/null)
want=$(cat /etc/zcrx-version)
if [ "$got" = "$want" ]; then
	ok module_version
else
	nok module_version "'$got' != '$want'"
fi

# The udev rule's MODE, compared with what devtmpfs made (no udev here).
rule=/lib/udev/rules.d/70-zcrx.rules
mode=$(sed -n '/^[^#]*KERNEL=="zcrx"/s/.*MODE="\([0-7]*\)".*/\1/p' $rule)
i=0
while [ ! -c /dev/zcrx ] && [ $i -lt 20 ]; do
	sleep 0.1
	i=$((i + 1))
done
node=$(stat -c '%a %U %G' /dev/zcrx 2>&1)
devmode=$(sed -n 's/^DEVMODE=0*//p' /sys/class/misc/zcrx/uevent)
mode=${mode#0}
if [ -z "$mode" ]; then
	nok device_mode_matches_udev_rule "no MODE in $rule"
elif [ "$node" = "$mode root root" ]; then
	ok device_mode_matches_udev_rule
else
	nok device_mode_matches_udev_rule "/dev/zcrx is '$node', rule MODE=0$mode"
fi
if [ -n "$mode" ] && [ "$devmode" = "$mode" ]; then
	ok uevent_devmode_matches_udev_rule
else
	nok uevent_devmode_matches_udev_rule "DEVMODE=$devmode, rule MODE=0$mode"
fi

# One verified stream through the DKMS build.
head -c 4194304 /dev/urandom >/tmp/src
want=$(sha256sum </tmp/src | cut -d' ' -f1)
( /tests/zcrx_recv -p 5400 -o - 2>/tmp/rx.err; echo "rc=$?" >>/tmp/rx.err ) |
	sha256sum >/tmp/rx.sum &
for _ in 1 2 3 4 5 6 7 8 9 10; do
	socat -u FILE:/tmp/src TCP4:127.0.0.1:5400 2>/dev/null && break
	sleep 0.2
done
wait
got=$(cut -d' ' -f1 /tmp/rx.sum)
if [ "$got" = "$want" ] && grep -q '^rc=0' /tmp/rx.err; then
	ok stream_4MiB_verified
else
	nok stream_4MiB_verified "sha256 $got, want $want; $(tr '\n' ' ' </tmp/rx.err)"
fi
tap_plan
GUEST
}

guest_boot() {
	local rel=$1 ko extra=() f status name reason stage
	stage=$tmp/stage/$rel
	local log=$tmp/logs/guest-$rel.log grc=0

	ko=$(find "/lib/modules/$rel/updates/dkms" -name 'zcrx.ko*' | head -n 1)
	if [[ -z $ko ]]; then
		nok "$rel.guest" "no installed module to boot with"
		return
	fi
	# The DKMS-installed tree, and depmod run on it for the guest.
	mkdir -p "$stage/lib/modules/$rel/updates/dkms"
	cp "$ko" "$stage/lib/modules/$rel/updates/dkms/"
	if ! depmod -b "$stage" "$rel" 2>"$tmp/logs/depmod-$rel.log"; then
		nok "$rel.guest_depmod" "$(tr '\n' ' ' <"$tmp/logs/depmod-$rel.log")"
		return
	fi
	# /init insmods MODULE.ko with busybox, which cannot read .ko.xz.
	case $ko in
	*.xz) xz -dc "$ko" >"$tmp/zcrx-$rel.ko" ;;
	*.zst) zstd -qdc "$ko" >"$tmp/zcrx-$rel.ko" ;;
	*.gz) gzip -dc "$ko" >"$tmp/zcrx-$rel.ko" ;;
	*) cp "$ko" "$tmp/zcrx-$rel.ko" ;;
	esac
	while IFS= read -r f; do
		extra+=("$f=${f#"$stage"}")
	done < <(find "$stage" -type f)
	write_guest_test "$tmp/t_dkms.sh"
	cat VERSION >"$tmp/version"
	extra+=("$tmp/t_dkms.sh=/tests/t_dkms.sh"
		"$tmp/version=/etc/zcrx-version"
		"scripts/udev/70-zcrx.rules=/lib/udev/rules.d/70-zcrx.rules"
		"$(command -v kmod)=/usr/local/sbin/modprobe"
		"$(command -v kmod)=/usr/local/sbin/modinfo")
	if ! scripts/vm/initramfs.sh "$tmp/initrd-$rel.cpio.gz" "$rel" \
		"$tmp/zcrx-$rel.ko" build/tests/guest "${extra[@]}" \
		2>"$tmp/logs/initramfs-$rel.log"; then
		nok "$rel.guest_initramfs" "$(tail -n 1 "$tmp/logs/initramfs-$rel.log")"
		return
	fi
	ZCRX_APPEND="zcrx_tests=t_dkms" V=0 scripts/vm/run-guest.sh \
		"${ZCRX_CACHE:-$HOME/.cache/zcrx}/kernels/$rel/vmlinuz" \
		"$tmp/initrd-$rel.cpio.gz" "$log" 300 || grc=$?
	[[ $verbose == 1 ]] && diag <"$log"

	# check.sh parses the guest's output; its result lines, renamed here.
	local status name reason
	while read -r status _ name reason; do
		case $status in
		PASS) ok "$rel.${name#dkms.}" ;;
		SKIP) skip "$rel.${name#dkms.}" "$reason" ;;
		FAIL)
			if [[ $name == guest.completed ]]; then
				nok "$rel.guest_completed" "guest did not finish (QEMU status $grc)"
				tail -n 40 "$log" | diag
			else
				nok "$rel.${name#dkms.}" "$reason"
			fi ;;
		esac
	done < <(scripts/check.sh --parse-log "$rel" "$log")
	if hits=$(scripts/vm/scan-log.sh "$log"); then
		ok "$rel.kernel_log_clean"
	else
		nok "$rel.kernel_log_clean" "$(wc -l <<<"$hits") suspicious lines"
		diag <<<"$hits"
	fi
}

inside() {
	tmp=$1
	shift
	local version rel want got left
	version=$(cat VERSION)
	mkdir -p "$tmp/ov" "$tmp/logs"
	ov=$tmp/ov
	mount -t tmpfs tmpfs "$ov" || { nok namespace "cannot mount tmpfs"; return 1; }
	for d in /usr/src /var/lib/dkms /lib/modules; do
		overlay "$d" || { nok namespace "cannot overlay $d"; return 1; }
	done
	local dkms_before
	dkms_before=$(cd /var/lib/dkms && find . | sort)

	# 1. The source tree.
	run source_tree_install make -s --no-print-directory dkms-install || return 1
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
	run add dkms add "zcrx/$version" || return 1
	for rel in "$@"; do
		if ! run "$rel.build" dkms build "zcrx/$version" -k "$rel"; then
			tail -n 25 "/var/lib/dkms/zcrx/$version/build/make.log" 2>/dev/null | diag
			continue
		fi
		run "$rel.install" dkms install "zcrx/$version" -k "$rel" || continue
		got=$(find "/lib/modules/$rel/updates/dkms" -name 'zcrx.ko*' 2>/dev/null)
		if [[ -n $got ]] && grep -q "^updates/dkms/zcrx.ko[^:]*:" "/lib/modules/$rel/modules.dep"; then
			ok "$rel.installed_and_depmod"
		else
			nok "$rel.installed_and_depmod" "module '$got', modules.dep: $(grep -c zcrx "/lib/modules/$rel/modules.dep" 2>/dev/null) lines"
		fi
		got=$(modinfo -F vermagic "$got" 2>/dev/null)
		if [[ $got == "$rel "* ]]; then
			ok "$rel.vermagic"
		else
			nok "$rel.vermagic" "'$got'"
		fi
		if dkms status "zcrx/$version" -k "$rel" 2>/dev/null | grep ': installed' >/dev/null; then
			ok "$rel.status_installed"
		else
			nok "$rel.status_installed" "$(dkms status 2>&1 | tr '\n' ' ')"
		fi
	done
	[[ $verbose == 1 ]] && dkms status | diag

	# 3. Boot each kernel with the installed module.
	for rel in "$@"; do
		guest_boot "$rel"
	done

	# 4. Remove.
	run remove dkms remove "zcrx/$version" --all
	left=$(find /lib/modules/*/updates -mindepth 1 2>/dev/null; grep -l zcrx /lib/modules/*/modules.dep 2>/dev/null)
	if [[ -z $left ]]; then
		ok removed_from_lib_modules
	else
		nok removed_from_lib_modules "left: $(tr '\n' ' ' <<<"$left")"
	fi
	# dkms keeps its signing key (mok.key, mok.pub) once made: not ours.
	left=$(diff <(echo "$dkms_before") <(cd /var/lib/dkms && find . | sort) |
		sed -n 's/^> //p' | grep -v '^\./mok\.\(key\|pub\)$')
	if [[ -z $left ]]; then
		ok removed_from_var_lib_dkms
	else
		nok removed_from_var_lib_dkms "left: $(tr '\n' ' ' <<<"$left")"
	fi
	run source_tree_uninstall make -s --no-print-directory dkms-uninstall
	if [[ ! -e /usr/src/zcrx-$version ]]; then
		ok source_tree_removed
	else
		nok source_tree_removed "/usr/src/zcrx-$version still there"
	fi
	[[ $failed -eq 0 ]]
}

if [[ ${1:-} == --inside ]]; then
	shift
	inside "$@"
	exit $?
fi
t0=$SECONDS
outside
rc=$?
echo "# dkms-test.sh took $((SECONDS - t0)) s"
tap_plan
exit $rc

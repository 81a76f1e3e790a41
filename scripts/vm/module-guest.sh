#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# module-guest.sh: sourced by scripts/dkms-test.sh and scripts/deb-test.sh,
# which install zcrx the ways users do (dkms, apt) in a private mount
# namespace and then boot a QEMU guest with the module file that the
# install put in /lib/modules.  Run from the repository top, as root
# (depmod -b writes a staging tree).

# ---- what both install tests use around and inside their namespace ----

# in_namespace ARG...: run "$0 --inside ARG..." in a private mount
# namespace, then check that the caller's host_state listing is what it
# was: nothing may leak out.  Returns the inside's status.
in_namespace() {
	local before rc=0
	before=$(host_state)
	unshare --mount --propagation private "$0" --inside "$@" || rc=$?
	if [[ $rc -ne 0 && $rc -ne 1 ]]; then
		nok namespace "unshare failed (status $rc): no mount namespaces or overlayfs?"
	fi
	if [[ "$(host_state)" == "$before" ]]; then
		ok host_unchanged
	else
		nok host_unchanged "$(diff <(echo "$before") <(host_state) | grep '^[<>]' | head -n 5 | tr '\n' ' ')"
	fi
	return $rc
}


# install_test_main ARG...: the script's entry: "--inside ARG..." runs the
# caller's inside() (in the namespace), anything else its outside().
install_test_main() {
	local t0=$SECONDS rc=0
	if [[ ${1:-} == --inside ]]; then
		shift
		inside "$@"
		exit $?
	fi
	outside || rc=$?
	echo "# ${0##*/} took $((SECONDS - t0)) s"
	tap_plan
	exit $rc
}

# overlay DIR: writes to DIR go to a throw-away upper layer, $ov/upper/DIR
# (so what a step changed is what that layer holds); the lower layer stays
# visible at $ov/lower/DIR.  $ov is a tmpfs of the caller's.
overlay() {
	local dir
	dir=$(readlink -f "$1")
	mkdir -p "$dir" "$ov/lower$dir" "$ov/upper$dir" "$ov/work$dir"
	mount --bind "$dir" "$ov/lower$dir" &&
		mount -t overlay overlay \
			-o "lowerdir=$ov/lower$dir,upperdir=$ov/upper$dir,workdir=$ov/work$dir" "$dir"
}

# run NAME CMD...: run a command, log its output in $tmp/logs, report the
# result through the caller's ok/nok.
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

# write_guest_test FILE GROUP: the guest's test, run by its /init as
# /tests/t_GROUP.sh; its results are named GROUP.*.
write_guest_test() {
	sed "s/@GROUP@/$2/g" >"$1" <<'GUEST'
#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# timeout: 240
# zcrx as DKMS installed it (by hand or from zcrx-dkms) in a guest:
# modprobe, device node, one stream through /tests/zcrx_recv.
rel=$(uname -r)
kmod=/usr/local/sbin		# kmod's modprobe and modinfo, as on Debian
. /tests/lib/tap.sh
ok() { tap_line "ok - @GROUP@.$1"; }
nok() { tap_line "not ok - @GROUP@.$1: $2"; }

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

# module_guest_boot GROUP REL TESTDIR RULE [ROOT]: boot REL's cached kernel with
# the zcrx.ko* installed in ROOT/lib/modules/REL/updates/dkms (ROOT: the
# chroot for a chroot kernel; placed
# the same in the guest, depmod'd), the udev rule file RULE as
# /lib/udev/rules.d/70-zcrx.rules and TESTDIR as /tests (its zcrx_recv is
# the receiver; its libzcrx is found as initramfs.sh finds it).  The guest
# test unloads the module /init loaded, modprobes the installed one,
# compares /dev/zcrx's mode with the rule's MODE (the guest has devtmpfs
# and no udev: the node gets the mode the driver gives its misc device,
# which is also its uevent's DEVMODE) and streams 4 MiB through zcrx_recv.
# Results are reported through the caller's ok/nok/skip as REL.<name>;
# uses $tmp (scratch, with logs/) and $verbose.
module_guest_boot() {
	local group=$1 rel=$2 testdir=$3 rule=$4 root=${5:-} ko extra=() f status name reason stage
	stage=$tmp/stage/$rel
	local log=$tmp/logs/guest-$rel.log grc=0

	ko=$(find "$root/lib/modules/$rel/updates/dkms" -name 'zcrx.ko*' | head -n 1)
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
	write_guest_test "$tmp/t_$group.sh" "$group"
	cat VERSION >"$tmp/version"
	extra+=("$tmp/t_$group.sh=/tests/t_$group.sh"
		"$tmp/version=/etc/zcrx-version"
		"$rule=/lib/udev/rules.d/70-zcrx.rules"
		"$(command -v kmod)=/usr/local/sbin/modprobe"
		"$(command -v kmod)=/usr/local/sbin/modinfo")
	if ! scripts/vm/initramfs.sh "$tmp/initrd-$rel.cpio.gz" "$rel" \
		"$tmp/zcrx-$rel.ko" "$testdir" "${extra[@]}" \
		2>"$tmp/logs/initramfs-$rel.log"; then
		nok "$rel.guest_initramfs" "$(tail -n 1 "$tmp/logs/initramfs-$rel.log")"
		return
	fi
	ZCRX_APPEND="zcrx_tests=t_$group" V=0 scripts/vm/run-guest.sh \
		"${ZCRX_CACHE:-$HOME/.cache/zcrx}/kernels/$rel/vmlinuz" \
		"$tmp/initrd-$rel.cpio.gz" "$log" 300 || grc=$?
	[[ $verbose == 1 ]] && diag <"$log"

	# check.sh parses the guest's output; its result lines, renamed here.
	local status name reason
	while read -r status _ name reason; do
		case $status in
		PASS) ok "$rel.${name#"$group".}" ;;
		SKIP) skip "$rel.${name#"$group".}" "$reason" ;;
		FAIL)
			if [[ $name == guest.completed ]]; then
				nok "$rel.guest_completed" "guest did not finish (QEMU status $grc)"
				tail -n 40 "$log" | diag
			else
				nok "$rel.${name#"$group".}" "$reason"
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

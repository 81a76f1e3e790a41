#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Static checks, run from the repo top as a host test of "make check":
#   - checkpatch.pl --strict on every module and UAPI file (the script comes
#     from Debian's linux-source-6.12, unpacked once into the cache);
#   - the module built with W=1 and sparse (C=2) against each Debian kernel
#     under test (scripts/vm/kmake.sh: on the host, or in the trixie chroot
#     for 7.x): zero warnings.  On 7.x, kbuild turns C=2 off by itself
#     ("C=2 specified, but sparse is not available or not up to date":
#     Debian's headers lack scripts/checker-valid.sh, and every sparse
#     Debian has, 0.6.4, is older than the 7.x headers), so sparse is
#     forced on there (KBUILD_CHECKSRC=2) through tests/unit/sparse-wrap.sh,
#     which says what it works around;
#   - cppcheck and gcc -fanalyzer on lib/: zero findings.
. tests/lib/tap.sh
set -uo pipefail
cache=${ZCRX_CACHE:-$HOME/.cache/zcrx}
ok() { tap_line "ok - static.$1"; }
nok() { tap_line "not ok - static.$1: $2"; }
skip() { tap_line "ok - static.$1 # SKIP $2"; }

# --- checkpatch -----------------------------------------------------------
src_tar=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n 1)
if [[ -z $src_tar ]]; then
	nok checkpatch "linux-source-6.12 not installed (scripts/deps.sh installs it)"
else
	cp_dir=$cache/checkpatch/$(dpkg-query -W -f='${Version}' linux-source-6.12)
	if [[ ! -x $cp_dir/scripts/checkpatch.pl ]]; then
		mkdir -p "$cp_dir"
		tar -xaf "$src_tar" -C "$cp_dir" --strip-components=1 --wildcards \
			'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
			'*/scripts/const_structs.checkpatch'
	fi
	for f in module/*.c module/*.h include/uapi/linux/zcrxdev.h; do
		# An in-tree "make" leaves the generated probe results here.
		[[ $f != module/compat_probed.h ]] || continue
		out=$(perl "$cp_dir/scripts/checkpatch.pl" --strict --no-tree --terse \
			--show-types -f "$f" 2>&1)
		# --terse prints nothing at all for a clean file.
		if [[ -z $out ]] || grep -q "total: 0 errors, 0 warnings, 0 checks" <<<"$out"; then
			ok "checkpatch.$(basename "$f")"
		else
			nok "checkpatch.$(basename "$f")" "$(grep -v '^total' <<<"$out" | head -n 3 | tr '\n' ' ')"
		fi
	done
fi

# --- W=1 and sparse against each kernel under test -------------------------

for rel in $(scripts/vm/kernels.sh 2>/dev/null); do
	if ! scripts/vm/kmake.sh --where "$rel" >/dev/null 2>&1; then
		nok "w1_sparse.$rel" "no build tree for $rel (scripts/vm/kernels.sh --prepare)"
		continue
	fi
	tmp=$(mktemp -d)
	cp -a Kbuild VERSION module include "$tmp/"
	rm -f "$tmp/module/compat_probed.h"
	out=$(ZCRX_CHROOT_BIND=$tmp scripts/vm/kmake.sh "$rel" M="$tmp" W=1 C=2 modules 2>&1)
	rc=$?
	forced=
	if grep -q 'C=2 specified, but' <<<"$out"; then
		forced=" (sparse forced on)"
		rm -rf "$tmp"/module/*.o "$tmp"/*.o "$tmp"/*.ko
		out=$(ZCRX_CHROOT_BIND=$tmp scripts/vm/kmake.sh "$rel" M="$tmp" W=1 \
			KBUILD_CHECKSRC=2 CHECK="$PWD/tests/unit/sparse-wrap.sh" modules 2>&1)
		rc=$?
	fi
	warn=$(grep -E 'warning:|error:' <<<"$out" | grep -v 'Skipping BTF')
	if [[ $rc -eq 0 && -z $warn ]]; then
		ok "w1_sparse.$rel"
	else
		nok "w1_sparse.$rel" "rc=$rc$forced $(head -n 3 <<<"$warn" | tr '\n' ' ')"
	fi
	rm -rf "$tmp"
done

# --- lib/ -------------------------------------------------------------------
if command -v cppcheck >/dev/null; then
	out=$(cppcheck -q --error-exitcode=1 --enable=warning,style,performance,portability \
		--std=c11 --inline-suppr -D__GNUC__ -Ilib/include lib/*.c 2>&1)
	if [[ $? -eq 0 && -z $out ]]; then ok cppcheck_lib; else nok cppcheck_lib "$(head -n 3 <<<"$out" | tr '\n' ' ')"; fi
else
	nok cppcheck_lib "cppcheck not installed"
fi
out=$(gcc -fanalyzer -Wall -Wextra -O2 -D_GNU_SOURCE -Ilib/include \
	-c -o /dev/null lib/zcrx.c 2>&1)
if [[ $? -eq 0 && -z $out ]]; then ok analyzer_lib; else nok analyzer_lib "$(head -n 3 <<<"$out" | tr '\n' ' ')"; fi
tap_plan

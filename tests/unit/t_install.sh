#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# "make install" / "make uninstall" (and dkms-install / dkms-uninstall)
# into temporary DESTDIRs, run from the repo top as a host test:
#   - the installed file list is exactly the expected one (library, shared
#     and static, with its symlinks; zcrx.h and zcrx/zcrxdev.h; libzcrx.pc;
#     every man page; the udev rule), for PREFIX=/usr/local and PREFIX=/usr;
#   - libzcrx.pc carries the install's paths and VERSION;
#   - the program of README.md's quick start builds against the DESTDIR
#     with nothing but "pkg-config --cflags --libs libzcrx" (PKG_CONFIG_SYSROOT_DIR and
#     PKG_CONFIG_LIBDIR point into it), links, and runs against the
#     installed shared library; it also links statically;
#   - man finds every installed page, aliases included;
#   - uninstall leaves no file or symlink behind, nor the include/zcrx
#     directory it made.
. tests/lib/tap.sh
set -uo pipefail
top=$(pwd)
version=$(cat VERSION)
sov=${version%%.*}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { tap_line "ok - install.$1"; }
nok() { tap_line "not ok - install.$1: $2"; }
files_in() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort); }

# expected PREFIX UDEVDIR: the file list "make install" must produce.
expected() {
	local p=${1#/} u=${2#/} m
	{
		echo "$p/lib/libzcrx.so.$version"
		echo "$p/lib/libzcrx.so.$sov"
		echo "$p/lib/libzcrx.so"
		echo "$p/lib/libzcrx.a"
		echo "$p/lib/pkgconfig/libzcrx.pc"
		echo "$p/include/zcrx.h"
		echo "$p/include/zcrx/zcrxdev.h"
		for m in man/man3/*.3 man/man7/*.7; do
			echo "$p/share/man/man${m##*.}/$(basename "$m")"
		done
		echo "$u/70-zcrx.rules"
	} | sort
}

check_prefix() {
	local prefix=$1 udev=$2 tag=$3 d=$tmp/$3 want got pc
	mkdir -p "$d"
	if ! make -s --no-print-directory install DESTDIR="$d" PREFIX="$prefix" \
		>"$tmp/$tag.log" 2>&1; then
		nok "$tag.make_install" "$(tail -n 3 "$tmp/$tag.log" | tr '\n' ' ')"
		return 1
	fi
	ok "$tag.make_install"

	want=$(expected "$prefix" "$udev")
	got=$(files_in "$d")
	if [[ $got == "$want" ]]; then
		ok "$tag.file_list"
	else
		nok "$tag.file_list" "$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | head -n 6 | tr '\n' ' ')"
	fi

	local lib=$d$prefix/lib
	if [[ $(readlink "$lib/libzcrx.so") == "libzcrx.so.$sov" &&
	      $(readlink "$lib/libzcrx.so.$sov") == "libzcrx.so.$version" &&
	      -f $lib/libzcrx.so.$version && ! -L $lib/libzcrx.so.$version ]] &&
	   readelf -d "$lib/libzcrx.so.$version" | grep "SONAME.*\[libzcrx.so.$sov\]" >/dev/null; then
		ok "$tag.library_links_and_soname"
	else
		nok "$tag.library_links_and_soname" "$(ls -l "$lib" | tr '\n' ' ')"
	fi

	pc=$lib/pkgconfig/libzcrx.pc
	if grep -qx "prefix=$prefix" "$pc" && grep -qx "libdir=$prefix/lib" "$pc" &&
	   grep -qx "includedir=$prefix/include" "$pc" && grep -qx "Version: $version" "$pc"; then
		ok "$tag.pkg_config_paths"
	else
		nok "$tag.pkg_config_paths" "$(tr '\n' ' ' <"$pc")"
	fi

	if cmp -s scripts/udev/70-zcrx.rules "$d$udev/70-zcrx.rules" &&
	   cmp -s include/uapi/linux/zcrxdev.h "$d$prefix/include/zcrx/zcrxdev.h" &&
	   cmp -s lib/include/zcrx.h "$d$prefix/include/zcrx.h"; then
		ok "$tag.contents"
	else
		nok "$tag.contents" "installed headers or rule differ from the tree"
	fi

	# The program of README.md's quick start, built in an empty directory
	# from the DESTDIR alone.
	mkdir -p "$tmp/$tag.prog"
	sed -n '/^## Quick start/,/^## /p' README.md |
		sed -n '/^```c$/,/^```$/p' | sed '1d;$d' >"$tmp/$tag.prog/prog.c"
	if [[ $(grep -c . "$tmp/$tag.prog/prog.c") -ge 5 ]] &&
	   grep -q 'zcrx_init' "$tmp/$tag.prog/prog.c"; then
		ok "$tag.quick_start_found"
	else
		nok "$tag.quick_start_found" "no C block in README.md's Quick start"
	fi
	local flags
	export PKG_CONFIG_SYSROOT_DIR=$d PKG_CONFIG_LIBDIR=$lib/pkgconfig
	if ! flags=$(pkg-config --cflags --libs libzcrx 2>&1); then
		nok "$tag.pkg_config" "$flags"
		unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
		return 1
	fi
	if [[ " $flags " == *" -I$d$prefix/include "* && " $flags " == *" -L$lib "* &&
	      " $flags " == *" -lzcrx "* ]]; then
		ok "$tag.pkg_config"
	else
		nok "$tag.pkg_config" "flags '$flags'"
	fi
	# shellcheck disable=SC2086 # flags is a word list
	if (cd "$tmp/$tag.prog" && cc -Wall -Werror -o prog prog.c $flags) 2>"$tmp/$tag.cc"; then
		ok "$tag.program_links"
	else
		nok "$tag.program_links" "$(head -n 3 "$tmp/$tag.cc" | tr '\n' ' ')"
	fi
	local out
	# No module on the host: zcrx_init fails and says why (status 1).
	out=$(LD_LIBRARY_PATH=$lib "$tmp/$tag.prog/prog" 2>&1)
	if [[ $out == "zcrx_init: "* || $out == "pool: "* ]] &&
	   [[ $(LD_LIBRARY_PATH=$lib ldd "$tmp/$tag.prog/prog") == *"libzcrx.so.$sov => $lib/libzcrx.so.$sov "* ]]; then
		ok "$tag.program_runs_on_installed_library"
	else
		nok "$tag.program_runs_on_installed_library" "'$out'; ldd: $(LD_LIBRARY_PATH=$lib ldd "$tmp/$tag.prog/prog" 2>&1 | grep zcrx)"
	fi
	# shellcheck disable=SC2046 # pkg-config prints a word list
	if (cd "$tmp/$tag.prog" &&
	    cc -Wall -Werror -o prog-static prog.c $(pkg-config --cflags libzcrx) \
		-L"$lib" -Wl,-Bstatic -lzcrx -Wl,-Bdynamic) 2>"$tmp/$tag.cc" &&
	   [[ $(ldd "$tmp/$tag.prog/prog-static") != *libzcrx* ]] &&
	   [[ $("$tmp/$tag.prog/prog-static" 2>&1) == @(zcrx_init|pool):* ]]; then
		ok "$tag.program_links_static"
	else
		nok "$tag.program_links_static" "$(head -n 3 "$tmp/$tag.cc" | tr '\n' ' ')"
	fi
	unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR

	# Every page, alias pages too, through man's own lookup.
	local bad='' m n
	for m in man/man3/*.3 man/man7/*.7; do
		n=$(basename "$m")
		LC_ALL=C.UTF-8 MANWIDTH=80 man -M "$d$prefix/share/man" -P cat "${n##*.}" "${n%.*}" \
			2>/dev/null | grep -w "${n%.*}" >/dev/null || bad+=" $n"
	done
	if [[ -z $bad ]]; then
		ok "$tag.man_finds_pages"
	else
		nok "$tag.man_finds_pages" "not found:$bad"
	fi

	if make -s --no-print-directory uninstall DESTDIR="$d" PREFIX="$prefix" \
		>"$tmp/$tag.log" 2>&1 && [[ -z $(files_in "$d") ]] &&
	   [[ ! -e $d$prefix/include/zcrx ]]; then
		ok "$tag.uninstall_leaves_nothing"
	else
		nok "$tag.uninstall_leaves_nothing" "left: $(files_in "$d" | tr '\n' ' ')"
	fi
}

check_prefix /usr/local /etc/udev/rules.d usr_local
check_prefix /usr /lib/udev/rules.d usr

# The DKMS source tree.
d=$tmp/dkms
mkdir -p "$d"
if make -s --no-print-directory dkms-install DESTDIR="$d" >"$tmp/dkms.log" 2>&1; then
	want=$( { echo Kbuild VERSION dkms.conf include/uapi/linux/zcrxdev.h | tr ' ' '\n'
		  for f in module/*.c module/*.h module/*.sh; do
			[[ $f == module/compat_probed.h ]] || echo "$f"
		  done; } |
		sed "s|^|usr/src/zcrx-$version/|" | sort)
	got=$(files_in "$d")
	if [[ $got == "$want" ]]; then
		ok dkms_install_file_list
	else
		nok dkms_install_file_list "$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | head -n 6 | tr '\n' ' ')"
	fi
	if [[ -x $d/usr/src/zcrx-$version/module/compat-probe.sh ]]; then
		ok dkms_install_probe_executable
	else
		nok dkms_install_probe_executable "module/compat-probe.sh lost its mode"
	fi
else
	nok dkms_install_file_list "$(tail -n 3 "$tmp/dkms.log" | tr '\n' ' ')"
fi
if make -s --no-print-directory dkms-uninstall DESTDIR="$d" >/dev/null 2>&1 &&
   [[ -z $(files_in "$d") ]]; then
	ok dkms_uninstall_leaves_nothing
else
	nok dkms_uninstall_leaves_nothing "left: $(files_in "$d" | tr '\n' ' ')"
fi
cd "$top" || exit 1
tap_plan

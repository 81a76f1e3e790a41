#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# One version number: VERSION feeds dkms.conf, MODULE_VERSION (through
# Kbuild), the library file name, libzcrx.pc and the Debian packages
# (debian/changelog; a native package, so the two are equal).  Run from
# the repo top.
. tests/lib/tap.sh
v=$(cat VERSION)
check() { if [ "$2" = "$3" ]; then tap_line "ok - version.$1"; else tap_line "not ok - version.$1: '$2' != '$3'"; fi; }
check dkms_conf "$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)" "$v"
check debian_changelog "$(sed -n '1s/^zcrx (\([^)]*\)).*/\1/p' debian/changelog)" "$v"
check pkg_config "$(sed -n 's/^Version: //p' build/lib/libzcrx.pc)" "$v"
check library_file "$(ls build/lib/libzcrx.so.*.*.* 2>/dev/null | sed 's/.*libzcrx\.so\.//')" "$v"
check soname "$(readelf -d build/lib/libzcrx.so | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')" "libzcrx.so.${v%%.*}"
grep -q 'ZCRX_VERSION=.*VERSION' Kbuild && grep -q 'MODULE_VERSION(ZCRX_VERSION)' module/main.c
check module_version_from_file $? 0
tap_plan

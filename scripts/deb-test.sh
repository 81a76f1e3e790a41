#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# deb-test.sh: the Debian packages of debian/, the way a user gets them.
# Run from anywhere as root; prints "ok - deb.*" / "not ok - deb.*: reason"
# lines (tests/unit/t_deb.sh runs it as a host test of "make check").
#
#   1. "make deb" (scripts/deb-build.sh): zcrx-dkms, libzcrx0, libzcrx-dev;
#      lintian (debian profile) reports no error and no warning that is
#      not overridden; debian/copyright names, for every file with an SPDX
#      line, the licence that line names; each package holds its files;
#   2. "apt-get install ./zcrx-dkms_*.deb ./libzcrx0_*.deb ./libzcrx-dev_*.deb":
#      DKMS built and installed the module for each of the host's kernels
#      under test (scripts/vm/kernels.sh --host, ZCRX_KERNELS) from the
#      installed headers;
#      the udev rule is zcrx-dkms's; examples/zcrx_recv.c, copied alone into
#      an empty directory, builds with nothing but
#      "pkg-config --cflags --libs libzcrx" and runs on the packaged
#      library (and links statically against libzcrx.a); man finds the
#      pages;
#   3. a QEMU guest of the newest kernel under test boots with the module
#      file DKMS installed, the rule file the package installed and that
#      receiver (scripts/vm/module-guest.sh): modprobe, /dev/zcrx's mode, a
#      4 MiB stream with its checksum (one guest: scripts/dkms-test.sh
#      boots every kernel with its DKMS build already);
#   4. "apt-get purge" of the three leaves nothing behind: no file, link or
#      directory that was not there before, besides dpkg's and apt's own
#      records (listed below), and dkms knows no zcrx.
#
# The host is never changed: steps 2-4 run in a private mount namespace in
# which /usr (so /lib too), /etc and /var are overlays whose upper layers
# live in a tmpfs that vanishes with the namespace; what a step leaves in
# an upper layer is exactly what it changed.  Kernels not under test get an
# empty /lib/modules/<release> there, so that the packages' postinst
# builds for the kernels under test only.
#
# The packages are cached in $ZCRX_CACHE/deb (default ~/.cache/zcrx) by the
# contents of the tree and the versions of the packaging tools, with
# lintian's verdict: an unchanged tree is neither rebuilt nor re-linted.
#
# Environment: ZCRX_KERNELS (releases), ZCRX_TESTS (when set, this test
# runs only if it names t_deb), ZCRX_CACHE, V=1 (show logs).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
verbose=${V:-0}
cache=${ZCRX_CACHE:-$HOME/.cache/zcrx}
version=$(cat VERSION)
pkgs=(zcrx-dkms libzcrx0 libzcrx-dev)

. tests/lib/tap.sh
ok() { tap_line "ok - deb.$1"; }
nok() { tap_line "not ok - deb.$1: $2"; failed=1; }
skip() { tap_line "ok - deb.$1 # SKIP $2"; }
diag() { sed 's/^/# /'; }
oneline() { tr '\n' ' ' | sed 's/ *$//'; }
failed=0
# phase NAME: how long the step that just ended took.
phase_t=$SECONDS
phase() { echo "# $1: $((SECONDS - phase_t)) s"; phase_t=$SECONDS; }

# ---------------------------------------------------------------------------
# 1. Build, lint, look inside.
# ---------------------------------------------------------------------------

# The cache key: every source file (as deb-build.sh copies them) and the
# tools that turn them into packages.
source_key() {
	{
		git ls-files -z --cached --others --exclude-standard --deduplicate |
			xargs -0 -r sha256sum 2>/dev/null
		find . -path ./build -prune -o -path ./.git -prune -o -type l -printf '%p -> %l\n' |
			sort
		dpkg-query -W -f='${Package} ${Version}\n' debhelper dh-dkms dpkg-dev lintian
	} | sha256sum | cut -c1-16
}

# build_debs: sets $debdir to a directory with the packages, and lints
# them unless the cache has them with lintian's verdict.
build_debs() {
	local key out changes
	key=$(source_key)
	debdir=$cache/deb/$key
	if [[ -f $debdir/lintian.out && -n $(ls "$debdir"/*.changes 2>/dev/null) ]]; then
		echo "# packages and lintian verdict cached in $debdir"
		ok build_cached
	else
		rm -rf "$cache/deb"	# one tree at a time
		out=$debdir.new
		if ! changes=$(scripts/deb-build.sh "$out" 2>"$tmp/deb-build.log"); then
			nok build "$(tail -n 5 "$tmp/deb-build.log" | oneline)"
			return 1
		fi
		ok build
		changes=$(tail -n 1 <<<"$changes")
		# --fail-on covers errors and warnings: the status is the verdict.
		lintian --profile debian --fail-on error,warning --display-level '>=warning' \
			"$changes" >"$out/lintian.out" 2>&1
		echo $? >"$out/lintian.status"
		rm -rf "$out/src"
		mv "$out" "$debdir"
	fi
	local bad
	bad=$(grep -E '^[EW]: ' "$debdir/lintian.out")
	if [[ $(cat "$debdir/lintian.status") == 0 && -z $bad ]]; then
		ok lintian_clean
	else
		nok lintian_clean "$(wc -l <<<"$bad") tags, status $(cat "$debdir/lintian.status")"
		diag <"$debdir/lintian.out"
	fi
	for p in "${pkgs[@]}"; do
		[[ -f $(deb_of "$p") ]] || { nok "package.$p" "not built"; return 1; }
	done
}

deb_of() {
	ls "$debdir/$1"_"$version"_*.deb 2>/dev/null | head -n 1
}

# DEP-5: the License of the last Files stanza matching a path.
dep5_license_of() {
	awk -v f="$1" '
	function glob2re(g,   r) {
		r = g
		gsub(/[.+^$(){}|\\]/, "\\\\&", r)
		gsub(/\*/, ".*", r); gsub(/\?/, ".", r)
		return "^" r "$"
	}
	/^Files:/ { files = 1; n = 0; sub(/^Files:[ \t]*/, ""); }
	files && /^[A-Z][A-Za-z-]*:/ && !/^Files:/ { files = 0 }
	files { for (i = 1; i <= NF; i++) pats[++n] = $i; next }
	/^License:/ && n {
		lic = $0; sub(/^License:[ \t]*/, "", lic)
		for (i = 1; i <= n; i++) if (f ~ glob2re(pats[i])) match_lic = lic
		n = 0
	}
	/^$/ { n = 0 }
	END { print match_lic }' debian/copyright
}

check_copyright() {
	local f spdx want got bad='' n=0
	declare -A dep5=([GPL-2.0]=GPL-2 [MIT]=Expat
		["GPL-2.0 WITH Linux-syscall-note"]="GPL-2 with Linux-syscall-note exception")
	if ! head -n 1 debian/copyright | grep -q '^Format: .*copyright-format/1.0/\?$'; then
		nok copyright_dep5 "debian/copyright does not start with the DEP-5 Format line"
		return
	fi
	while IFS= read -r -d '' f; do
		[[ -L $f ]] && continue
		spdx=$(grep -m 1 -ao 'SPDX-License-Identifier: [^*>]*' "$f" 2>/dev/null |
			sed 's/^SPDX-License-Identifier: //; s/[[:space:]-]*$//')
		[[ -z $spdx && -f $f.license ]] &&
			spdx=$(sed -n 's/^SPDX-License-Identifier: //p' "$f.license")
		[[ -n $spdx ]] || continue
		n=$((n + 1))
		want=${dep5[$spdx]:-"(no DEP-5 name for SPDX '$spdx' in $0)"}
		got=$(dep5_license_of "$f")
		[[ $got == "$want" ]] || bad+=" $f($spdx, debian/copyright: ${got:-none})"
	done < <(git ls-files -z --cached --others --exclude-standard --deduplicate)
	if [[ -z $bad && $n -gt 0 ]]; then
		ok "copyright_matches_spdx ($n files)"
	else
		nok copyright_matches_spdx "${bad:- no file with an SPDX line}"
	fi
}

# Each package holds its part, and nothing of another's.
check_contents() {
	local list
	list=$(dpkg-deb -c "$(deb_of zcrx-dkms)")
	if grep -q " \./usr/src/zcrx-$version/dkms.conf$" <<<"$list" &&
	   grep -q " \./usr/src/zcrx-$version/module/main.c$" <<<"$list" &&
	   grep -q " \./lib/udev/rules.d/70-zcrx.rules$" <<<"$list" &&
	   ! grep -q '\.so\|usr/include' <<<"$list"; then
		ok contents.zcrx-dkms
	else
		nok contents.zcrx-dkms "$(grep -c . <<<"$list") entries, no dkms.conf, module or rule"
	fi
	list=$(dpkg-deb -c "$(deb_of libzcrx0)")
	if grep -q "/libzcrx\.so\.$version$" <<<"$list" && grep -q "/libzcrx\.so\.0 -> " <<<"$list" &&
	   ! grep -q 'udev\|usr/include\|libzcrx\.so$\|\.a$' <<<"$list"; then
		ok contents.libzcrx0
	else
		nok contents.libzcrx0 "$(oneline <<<"$list")"
	fi
	list=$(dpkg-deb -c "$(deb_of libzcrx-dev)")
	local f miss=''
	for f in usr/include/zcrx.h usr/include/zcrx/zcrxdev.h 'usr/lib/[^/]*/libzcrx\.so -> ' \
		'usr/lib/[^/]*/libzcrx\.a' 'usr/lib/[^/]*/pkgconfig/libzcrx\.pc' \
		'usr/share/man/man3/zcrx_strerror\.3\.gz' 'usr/share/man/man7/zcrx\.7\.gz'; do
		grep -q " \./$f" <<<"$list" || miss+=" $f"
	done
	grep -q 'usr/include/linux\|udev' <<<"$list" && miss+=" (has usr/include/linux or udev)"
	if [[ -z $miss ]]; then
		ok contents.libzcrx-dev
	else
		nok contents.libzcrx-dev "missing$miss"
	fi
}

# ---------------------------------------------------------------------------
# Outside the namespace.
# ---------------------------------------------------------------------------
outside() {
	local rc=0 rels tool

	if [[ -n ${ZCRX_TESTS:-} && " ${ZCRX_TESTS//,/ } " != *" t_deb "* ]]; then
		skip all "ZCRX_TESTS does not name t_deb"
		return 0
	fi
	if [[ $EUID -ne 0 ]]; then
		skip all "needs root (apt and dkms write system directories, even in a namespace)"
		return 0
	fi
	for tool in dpkg-buildpackage dh dh_dkms lintian dkms; do
		command -v "$tool" >/dev/null ||
			{ nok setup "no $tool (scripts/deps.sh installs it)"; return 1; }
	done
	# The packages go onto the host (Debian 12): its kernels, not the
	# chroot's 7.x (scripts/dkms-test.sh runs DKMS there).
	if ! scripts/vm/kernels.sh --prepare >/dev/null 2>&1 ||
	   ! rels=$(scripts/vm/kernels.sh --host 2>/dev/null) || [[ -z $rels ]]; then
		nok setup "scripts/vm/kernels.sh --prepare failed"
		return 1
	fi
	tmp=$(mktemp -d /tmp/zcrx-deb.XXXXXX)
	mkdir -p "$tmp/logs"
	build_debs || { rm -rf "$tmp"; return 1; }
	check_copyright
	check_contents
	phase "build, lintian, contents"

	in_namespace "$tmp" "$debdir" $rels || rc=$?
	rm -rf "$tmp"
	[[ $rc -eq 0 && $failed -eq 0 ]]
}

# What the packages could touch on the host, as a listing.
host_state() {
	dpkg-query -W -f='${Package} ${Status}\n' "${pkgs[@]}" 2>/dev/null
	find /usr/src /usr/include /usr/lib/*-linux-gnu /lib/udev/rules.d -maxdepth 1 \
		-name '*zcrx*' 2>/dev/null
	find /var/lib/dkms /lib/modules/*/updates 2>/dev/null | sort
	ls -l --time-style=+%s /var/lib/dpkg/status /lib/modules/*/modules.dep /etc/ld.so.cache 2>/dev/null
}

# ---------------------------------------------------------------------------
# Inside the namespace.
# ---------------------------------------------------------------------------

apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 \
		--no-install-recommends "$@"
}

# What the upper layers hold that differs from the host: new files, links
# and directories, changed files and links, removed ones (whiteouts).  A
# file rewritten with its old contents is no change, and a kernel's
# modules.* index is depmod's (DKMS runs it; it writes the indexes even of
# a kernel whose image is not installed, as 6.1's is not on the host): it
# counts only if it still names zcrx.
# dpkg's and apt's own records are not counted.  Paths are the system's
# (/usr/..., /var/...).
residue() {
	local d
	for d in /usr /etc /var; do
		(cd "$ov/upper$d" && find . -mindepth 1 -printf '%y %P\n') |
		while read -r type path; do
			local low=$ov/lower$d/$path up=$ov/upper$d/$path
			case $type in
			d) [[ -d $low ]] && continue ;;
			f) [[ -f $low && ! -L $low ]] && cmp -s "$low" "$up" && continue
			   [[ $d/$path == /usr/lib/modules/*/modules.* ]] &&
				! grep -q zcrx "$up" && continue ;;
			l) [[ -L $low && $(readlink "$low") == "$(readlink "$up")" ]] && continue ;;
			c) [[ -e $low || -L $low ]] || continue ;;	# whiteout of nothing
			esac
			echo "$d/$path"
		done
	done | grep -v -E '^/var/lib/dpkg/(status|status-old|available|diversions|lock|lock-frontend|triggers/.*|info/format)$' |
	grep -v -E '^/var/(log|cache)/|^/var/lib/apt/|^/etc/ld\.so\.cache$' |
	# dkms keeps its module-signing key once made: dkms's, not ours.
	grep -v -E '^/var/lib/dkms/mok\.(key|pub)$' | sort
}

# The guest's receiver, built against the installed packages only.
build_receiver() {
	local dir=$tmp/recv flags lib
	mkdir -p "$dir/guest"
	cp examples/zcrx_recv.c "$dir/"
	if flags=$(pkg-config --cflags --libs libzcrx 2>&1) &&
	   [[ $(pkg-config --modversion libzcrx) == "$version" ]] &&
	   [[ " $flags " == *" -lzcrx "* ]]; then
		ok "pkg_config ($flags)"
	else
		nok pkg_config "'$flags', version $(pkg-config --modversion libzcrx 2>&1)"
		return 1
	fi
	# shellcheck disable=SC2086 # flags is a word list
	if (cd "$dir" && env -u CPATH -u C_INCLUDE_PATH -u LIBRARY_PATH \
		cc -O2 -Wall -Werror -o guest/zcrx_recv zcrx_recv.c $flags) >"$tmp/logs/cc.log" 2>&1; then
		ok receiver_builds_with_pkg_config
	else
		nok receiver_builds_with_pkg_config "$(head -n 3 "$tmp/logs/cc.log" | oneline)"
		return 1
	fi
	lib=$(ldd "$dir/guest/zcrx_recv" | sed -n 's/^[[:space:]]*libzcrx\.so\.0 => \([^ ]*\) .*/\1/p')
	if [[ -n $lib ]] && dpkg -S "$(readlink -f "$lib")" 2>/dev/null | grep -q '^libzcrx0:'; then
		ok "receiver_uses_packaged_library ($lib)"
	else
		nok receiver_uses_packaged_library "libzcrx.so.0 => '${lib:-not found}'"
	fi
	# The static library links too.
	# shellcheck disable=SC2046 # pkg-config prints a word list
	if (cd "$dir" && cc -O2 -o recv-static zcrx_recv.c $(pkg-config --cflags libzcrx) \
		-Wl,-Bstatic -lzcrx -Wl,-Bdynamic) >"$tmp/logs/cc-static.log" 2>&1 &&
	   ! ldd "$dir/recv-static" | grep -q libzcrx; then
		ok receiver_links_static
	else
		nok receiver_links_static "$(head -n 3 "$tmp/logs/cc-static.log" | oneline)"
	fi
}

inside() {
	tmp=$1 debdir=$2
	shift 2
	local rel got d left
	ov=$tmp/ov
	mkdir -p "$ov"
	mount -t tmpfs tmpfs "$ov" || { nok namespace "cannot mount tmpfs"; return 1; }
	for d in /usr /etc /var; do
		overlay "$d" || { nok namespace "cannot overlay $d"; return 1; }
	done
	# No daemon of the host hears about the install.
	mount -t tmpfs tmpfs /run
	# Kernels not under test: no tree for the postinst to build against.
	for d in /lib/modules/*; do
		[[ " $* " == *" ${d##*/} "* ]] || mount -t tmpfs tmpfs "$d"
	done

	# 2. Install.
	run install apt_get install "$(deb_of zcrx-dkms)" "$(deb_of libzcrx0)" \
		"$(deb_of libzcrx-dev)" || return 1
	got=$(dpkg-query -W -f='${Package}=${Version} ${db:Status-Abbrev}\n' "${pkgs[@]}" 2>&1 |
		sed 's/ *$//' | sort | oneline)
	if [[ $got == "libzcrx-dev=$version ii libzcrx0=$version ii zcrx-dkms=$version ii" ]]; then
		ok installed
	else
		nok installed "$got"
	fi
	[[ $verbose == 1 ]] && dpkg -L "${pkgs[@]}" | diag
	echo "# installed: $(dpkg -L "${pkgs[@]}" | while read -r f; do [[ -d $f ]] || echo "$f"; done | wc -l) files and links"
	for rel in "$@"; do
		got=$(find "/lib/modules/$rel/updates/dkms" -name 'zcrx.ko*' 2>/dev/null)
		if dkms status "zcrx/$version" -k "$rel" 2>/dev/null | grep -q ': installed' &&
		   [[ -n $got ]] && grep -q "^updates/dkms/zcrx.ko[^:]*:" "/lib/modules/$rel/modules.dep" &&
		   [[ $(modinfo -F vermagic "$got" 2>/dev/null) == "$rel "* ]]; then
			ok "$rel.dkms_built_on_install"
		else
			nok "$rel.dkms_built_on_install" "dkms status: $(dkms status 2>&1 | oneline); module '$got'"
			grep -A3 -i "error\|$rel" "$tmp/logs/install.log" | tail -n 20 | diag
		fi
	done
	if [[ $(dpkg -S /lib/udev/rules.d/70-zcrx.rules 2>/dev/null) == "zcrx-dkms: "* ]] &&
	   cmp -s /lib/udev/rules.d/70-zcrx.rules scripts/udev/70-zcrx.rules; then
		ok udev_rule_from_zcrx_dkms
	else
		nok udev_rule_from_zcrx_dkms "$(dpkg -S /lib/udev/rules.d/70-zcrx.rules 2>&1)"
	fi
	got=$(man -w zcrx_strerror 2>&1; man -w 7 zcrx 2>&1)
	if [[ $(oneline <<<"$got") == "/usr/share/man/man3/zcrx_strerror.3.gz /usr/share/man/man7/zcrx.7.gz" ]]; then
		ok man_pages_found
	else
		nok man_pages_found "$(oneline <<<"$got")"
	fi
	build_receiver

	phase "install and checks"

	# 3. Boot the newest kernel with the module DKMS installed.
	if [[ -x $tmp/recv/guest/zcrx_recv ]]; then
		mkdir -p "$tmp/nolib" "$tmp/recv/guest/lib"
		# The guest test's TAP helper (/tests/lib/tap.sh).
		cp tests/lib/tap.sh "$tmp/recv/guest/lib/"
		rel=$(printf '%s\n' "$@" | sort -V | tail -n 1)
		# libzcrx from where the package put it, not from build/lib.
		ZCRX_GUEST_LIB_PATH=$tmp/nolib module_guest_boot deb "$rel" \
			"$tmp/recv/guest" /lib/udev/rules.d/70-zcrx.rules
		phase guest
	fi

	# 4. Purge.
	run purge apt_get purge "${pkgs[@]}"
	left=$(dkms status zcrx 2>&1; dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${pkgs[@]}" 2>/dev/null | grep -v ' pn *$')
	if [[ -z $left ]]; then
		ok purged_from_dpkg_and_dkms
	else
		nok purged_from_dpkg_and_dkms "$(oneline <<<"$left")"
	fi
	left=$(residue)
	echo "# after purge: $(cd "$ov/upper" && find . -mindepth 1 ! -type d | wc -l) files in the overlays' upper layers, $(grep -c . <<<"$left") not dpkg's or apt's records"
	if [[ -z $left ]]; then
		ok purge_leaves_nothing
	else
		nok purge_leaves_nothing "$(wc -l <<<"$left") paths left: $(head -n 8 <<<"$left" | oneline)"
	fi
	phase purge
	[[ $failed -eq 0 ]]
}

# shellcheck source=vm/module-guest.sh
. scripts/vm/module-guest.sh

install_test_main "$@"

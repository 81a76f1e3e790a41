#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# kmake.sh REL MAKE-ARGS...   make -C <build tree of REL> MAKE-ARGS...
# kmake.sh --where REL        print "host TREE" or "chroot TREE"
#
# Where release REL's kernel build tree is, and the toolchain it needs:
#   - a kernel the harness built (the debug kernel): the tree its cache
#     directory links to, $ZCRX_CACHE/kernels/REL/build, built on the host
#     or, when $ZCRX_CACHE/kernels/REL/chroot exists, in the chroot;
#   - Debian's headers on the host: /usr/src/linux-headers-REL;
#   - Debian's 7.x headers in the trixie chroot (scripts/vm/chroot.sh):
#     they need trixie's gcc-14 and glibc, so make runs in the chroot.
# In the chroot the repository is bound at its own path; directories
# outside it that make must reach (M=/tmp/...) go in ZCRX_CHROOT_BIND.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${ZCRX_CACHE:-$HOME/.cache/zcrx}/kernels

# where REL: "host TREE" or "chroot TREE"; fails when no tree is known.
where() {
	local rel=$1 croot
	if [[ -e $cache/$rel/build ]]; then
		if [[ -e $cache/$rel/chroot ]]; then
			echo "chroot $(readlink -f "$cache/$rel/build")"
		else
			echo "host $cache/$rel/build"
		fi
		return 0
	fi
	if [[ -f /usr/src/linux-headers-$rel/Makefile ]]; then
		echo "host /usr/src/linux-headers-$rel"
		return 0
	fi
	croot=$("$here/chroot.sh" dir)
	if [[ -f $croot/usr/src/linux-headers-$rel/Makefile ]]; then
		echo "chroot /usr/src/linux-headers-$rel"
		return 0
	fi
	echo "kmake.sh: no build tree for $rel (kernels.sh --prepare installs it)" >&2
	return 1
}

if [[ ${1:-} == --where ]]; then
	(($# == 2)) || { echo "usage: $0 --where REL" >&2; exit 2; }
	where "$2"
	exit
fi
(($# >= 1)) || { echo "usage: $0 REL MAKE-ARGS... | --where REL" >&2; exit 2; }
rel=$1
shift
read -r kind tree < <(where "$rel") || exit 1
if [[ $kind == host ]]; then
	exec make -C "$tree" "$@"
fi
# A tree the harness built lives in the cache: bind it as well.
[[ $tree == /usr/src/* ]] || export ZCRX_CHROOT_BIND="${ZCRX_CHROOT_BIND:-} $tree"
exec "$here/chroot.sh" run make -C "$tree" "$@"

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# deps.sh: install the Debian packages the build and "make check" need,
# plus the headers of the kernels scripts/vm/kernels.sh picks from the
# host's apt (the 7.x headers go in the trixie chroot: scripts/vm/chroot.sh,
# which kernels.sh --prepare sets up).
#
# When everything is installed already, apt is not run at all, so a second
# run costs a few dpkg-query calls.  Otherwise the package lists are
# refreshed once (a fresh machine or container has none, and kernels.sh
# reads them) and the missing packages are installed non-interactively.
# The mirrors are whatever apt is configured with.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

packages=(
	build-essential		# gcc, make
	qemu-system-x86		# the test guests
	busybox-static		# the guests' userland
	cpio			# packing initramfs images
	kmod			# modinfo, for inspecting modules
	xz-utils		# Debian 6.12 ships modules as .ko.xz
	liburing-dev		# the library and tests use io_uring
	pkg-config
	dkms			# scripts/dkms-test.sh (tests/unit/t_dkms.sh)
	man-db groff-base	# tests/unit/t_man.sh: man --warnings, groff -ww
	socat			# peer for guest network tests
	sparse			# "make C=2" checks of the module
	cppcheck		# static analysis of lib/
	linux-source-6.12	# checkpatch.pl, and the debug kernel's source
	flex bison bc libelf-dev libssl-dev	# building the debug kernel
	gnuplot-nox		# the benchmark chart
	python3			# scripts/bench-report.py: the benchmark's tables
	debhelper dh-dkms	# "make deb": the Debian packages (debian/)
	lintian			# scripts/deb-test.sh checks them
)

as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	else
		sudo "$@"
	fi
}

# Print those of the named packages that are not installed.
missing_of() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' ||
			echo "$p"
	done
}

# The headers packages for the host's kernels under test.  Fails when apt's
# lists do not know the kernels yet.
headers() {
	local rels rel
	rels=$("$here/vm/kernels.sh" --host) || return 1
	# ZCRX_KERNELS may name chroot kernels only.
	[[ -n $rels || -n ${ZCRX_KERNELS:-} ]] || return 1
	for rel in $rels; do
		echo "linux-headers-$rel"
	done
}

if hdrs_text=$(headers 2>/dev/null); then
	mapfile -t hdrs < <(sed '/^$/d' <<<"$hdrs_text")
	mapfile -t missing < <(missing_of "${packages[@]}" "${hdrs[@]}")
	if [[ ${#missing[@]} -eq 0 ]]; then
		exit 0
	fi
fi

echo "deps.sh: refreshing package lists" >&2
as_root apt-get update -qq
hdrs_text=$(headers) || { echo "deps.sh: kernels.sh found no kernels to test" >&2; exit 1; }
mapfile -t hdrs < <(sed '/^$/d' <<<"$hdrs_text")
mapfile -t missing < <(missing_of "${packages[@]}" "${hdrs[@]}")
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "deps.sh: installing ${#missing[@]} Debian packages (on a fresh machine about" \
		"2-4 minutes; the first make check then also fetches two kernel images" \
		"and builds a debug kernel, about 6 minutes more): ${missing[*]}" >&2
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
fi

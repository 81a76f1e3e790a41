#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# deb-build.sh [OUTDIR]: "make deb".  Builds the Debian packages of debian/
# (zcrx-dkms, libzcrx0, libzcrx-dev, and the native source package) with
# dpkg-buildpackage, from a copy of the tree in OUTDIR/src/zcrx-VERSION, so
# that the build leaves nothing in the working tree.  The copy holds the
# files git tracks and the new ones it does not ignore, as they are in the
# working tree (every file but build/ and .git outside a git checkout).
# The results land in OUTDIR (default build/deb): *.deb, *.dsc, *.tar.xz,
# *.buildinfo, *.changes; the last line printed is the .changes file.
#
# The version is VERSION's: debian/changelog must carry it (checked here
# and by tests/unit/t_version.sh).  Build dependencies: scripts/deps.sh.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=$(mkdir -p "${1:-build/deb}" && cd "${1:-build/deb}" && pwd)
version=$(cat VERSION)
src=$out/src/zcrx-$version

deb_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [[ $deb_version != "$version" ]]; then
	echo "deb-build.sh: debian/changelog is at $deb_version, VERSION says $version" >&2
	exit 1
fi

# The source files, NUL-separated.
sources() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		# Tracked files deleted in the working tree are not there to copy.
		git ls-files -z --cached --others --exclude-standard --deduplicate |
			while IFS= read -r -d '' f; do
				[[ -e $f || -L $f ]] && printf '%s\0' "$f"
			done
	else
		find . -path ./build -prune -o -path ./.git -prune -o \
			\( -type f -o -type l \) -printf '%P\0'
	fi
}

rm -rf "$out/src"
mkdir -p "$src"
sources | tar -cf - --no-recursion --null -T - | tar -xf - -C "$src"
rm -f "$out"/zcrx*_"$version"*.{deb,dsc,tar.xz,buildinfo,changes}

log=$out/build.log
echo "deb-build.sh: dpkg-buildpackage in $src (log: $log)" >&2
if ! (cd "$src" && dpkg-buildpackage --no-sign -us -uc) >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	echo "deb-build.sh: dpkg-buildpackage failed (log: $log)" >&2
	exit 1
fi
mv "$out"/src/*_"$version"* "$out"/
rm -rf "$out/src"
ls "$out"/*.deb >&2
ls "$out"/zcrx_"$version"_*.changes

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# chroot.sh [ensure|update|dir|run CMD...]
#
# A Debian trixie chroot for building against Debian's newest Linux 7.x:
# its headers package needs trixie's userland (gcc-14, glibc 2.38+), which
# a Debian 12 host lacks.
#
#   ensure (default)  create the chroot once, then make sure it holds the
#                     newest linux-headers-7.*-amd64 its package lists know
#                     (trixie-backports) and the build tools; print that
#                     release ("7.3.4+deb13-amd64") on stdout;
#   update            refresh the chroot's package lists, then ensure (so a
#                     newer backported kernel is picked up);
#   dir               print the chroot's directory (creates nothing);
#   run CMD...        run CMD as root in the chroot, in a private mount
#                     namespace with /proc, /dev, /sys and the repository
#                     bind-mounted (at the same path as on the host), in the
#                     current directory when that is bound, else at the
#                     repository's top.
#                     ZCRX_CHROOT_BIND="dir ..." binds more host directories.
#
# The chroot lives in $ZCRX_CACHE/chroot/trixie (default ~/.cache/zcrx).  It
# is made with "debootstrap --variant=minbase" from the Debian mirror this
# machine's apt is configured with (ZCRX_MIRROR overrides it);
# trixie-backports is added to the chroot's own sources only, the host's
# apt configuration is only read.  When everything is in place, ensure
# touches no network and takes about a second.  Nothing stays mounted on
# the host: every mount is made inside "unshare -m".
# Progress goes to stderr; stdout carries only the release name.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
suite=trixie
root=${ZCRX_CACHE:-$HOME/.cache/zcrx}/chroot/$suite

# What the chroot gets besides minbase.  Changing the list installs the
# difference on the next run.
packages=(
	build-essential		# gcc-14, make, libc6-dev
	kmod			# modinfo, depmod
	xz-utils		# Debian 7.x ships modules as .ko.xz
	dkms			# scripts/dkms-test.sh on the 7.x kernel
	sparse			# tests/unit/t_static.sh (see there for 7.x)
	liburing-dev		# bench/iouzcrx.c's receiver (make bench-progs-7x),
	linux-libc-dev		# with the 7.x UAPI headers (of trixie-backports)
)
# The kernel series wanted from trixie-backports: the plain generic flavour.
rel_pattern='^7\.[0-9]+\.[0-9]+\+deb[0-9]+-amd64$'

log() { echo "chroot.sh: $*" >&2; }

as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	else
		sudo "$@"
	fi
}

# The URI of the Debian archive in the host's apt sources: the first source
# of binary packages that carries a plain release suite (bookworm, not
# bookworm-security or bookworm-updates).  Both the one-line format and
# deb822 .sources files are read.
host_mirror() {
	local f files=()
	[[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
	for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] && files+=("$f")
	done
	((${#files[@]})) || return 1
	awk '
	function suite_ok(s,   i, n, a) {
		n = split(s, a, /[ \t]+/)
		for (i = 1; i <= n; i++)
			if (a[i] ~ /^[a-z]+$/)
				return 1
		return 0
	}
	function flush() {
		if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" &&
		    suite_ok(suites) && uri != "" && uri !~ /-security|^cdrom:/ &&
		    !found) {
			print uri
			found = 1
		}
		types = suites = uri = enabled = ""
	}
	FNR == 1 { flush() }
	/^[ \t]*#/ { next }
	FILENAME ~ /\.sources$/ {
		if ($0 ~ /^[ \t]*$/) { flush(); next }
		key = tolower($1)
		val = $0
		sub(/^[^:]*:[ \t]*/, "", val)
		if (key == "types:") types = val
		else if (key == "uris:") { split(val, u, /[ \t]+/); uri = u[1] }
		else if (key == "suites:") suites = val
		else if (key == "enabled:") enabled = tolower(val)
		next
	}
	$1 == "deb" {
		i = 2
		if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
		types = "deb"; uri = $i; suites = $(i + 1); flush()
	}
	END { flush() }
	' "${files[@]}" | sed 's,/*$,,'
}

# Run "$@" in a private mount namespace in which the chroot has /proc, /dev,
# /sys and the host's resolv.conf.  The first argument says whether the
# repository and ZCRX_CHROOT_BIND are bound too (bind|nobind).
in_ns() {
	local binds=$1
	shift
	as_root unshare -m --propagation private -- env ZCRX_ROOT="$root" \
		ZCRX_BINDS="$binds" ZCRX_TOP="$top" ZCRX_EXTRA="${ZCRX_CHROOT_BIND:-}" \
		bash -c '
		set -eu
		r=$ZCRX_ROOT
		mount -t proc proc "$r/proc"
		mount --rbind /dev "$r/dev"
		mount --rbind /sys "$r/sys"
		mount -t tmpfs tmpfs "$r/run"
		if [ -e /etc/resolv.conf ]; then
			touch "$r/etc/resolv.conf" 2>/dev/null || :
			mount --bind "$(readlink -f /etc/resolv.conf)" "$r/etc/resolv.conf" 2>/dev/null || :
		fi
		if [ "$ZCRX_BINDS" = bind ]; then
			for d in "$ZCRX_TOP" $ZCRX_EXTRA; do
				d=$(readlink -f "$d")
				mkdir -p "$r$d"
				mount --rbind "$d" "$r$d"
			done
		fi
		exec "$@"
		' in_ns "$@"
}

# A command in the chroot, root's environment, a sane PATH and locale.
in_chroot() {
	local binds=$1
	shift
	in_ns "$binds" chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

apt_in() {
	in_chroot nobind apt-get -qq -o Dpkg::Use-Pty=0 "$@" >&2
}

# debootstrap into a scratch directory that becomes $root only when the
# base system and its configuration are complete.
bootstrap() {
	local mirror new
	mirror=${ZCRX_MIRROR:-$(host_mirror || true)}
	if [[ -z $mirror ]]; then
		log "no Debian mirror found in /etc/apt/sources.list{,.d/}; set ZCRX_MIRROR"
		return 1
	fi
	if ! command -v debootstrap >/dev/null; then
		log "installing debootstrap"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			-o Dpkg::Use-Pty=0 --no-install-recommends debootstrap >&2 ||
			{ as_root apt-get update -qq >&2 &&
			  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				-o Dpkg::Use-Pty=0 --no-install-recommends debootstrap >&2; }
	fi
	new=$root.new
	as_root rm -rf "$new"
	as_root mkdir -p "$new"
	log "debootstrap --variant=minbase $suite from $mirror (about a minute)"
	# debootstrap mounts /proc and /sys in the target; keep them off the host.
	as_root unshare -m --propagation private -- \
		debootstrap --variant=minbase "$suite" "$new" "$mirror" >&2 ||
		{ log "debootstrap failed (log: $new/debootstrap/debootstrap.log)"; return 1; }

	# The chroot's own sources: trixie and trixie-backports, same mirror.
	as_root tee "$new/etc/apt/sources.list" >/dev/null <<-EOF
	deb $mirror $suite main
	deb $mirror $suite-backports main
	EOF
	# No documentation, no recommends, no services started by packages.
	as_root tee "$new/etc/dpkg/dpkg.cfg.d/01-zcrx-nodoc" >/dev/null <<-'EOF'
	path-exclude=/usr/share/doc/*
	path-exclude=/usr/share/man/*
	path-exclude=/usr/share/info/*
	path-exclude=/usr/share/locale/*
	EOF
	as_root tee "$new/etc/apt/apt.conf.d/01-zcrx" >/dev/null <<-'EOF'
	APT::Install-Recommends "0";
	APT::Install-Suggests "0";
	Acquire::Languages "none";
	Dir::Cache::srcpkgcache "";
	EOF
	printf '#!/bin/sh\nexit 101\n' | as_root tee "$new/usr/sbin/policy-rc.d" >/dev/null
	as_root chmod 755 "$new/usr/sbin/policy-rc.d"
	echo "$mirror" | as_root tee "$new/.zcrx-mirror" >/dev/null
	as_root rm -rf "$root"
	as_root mv "$new" "$root"
}

# Packages (of the named ones) not installed in the chroot.
missing_in() {
	local p
	for p in "$@"; do
		as_root chroot "$root" dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q 'ok installed' || echo "$p"
	done
}

# The newest 7.x release whose headers the chroot's package lists know.
newest_release() {
	as_root chroot "$root" apt-cache pkgnames linux-headers- 2>/dev/null |
		sed -n 's/^linux-headers-//p' | grep -E -- "$rel_pattern" |
		sort -V | tail -n 1
}

ensure() {
	local rel missing
	if [[ ! -f $root/.zcrx-mirror ]]; then
		bootstrap
		log "refreshing the chroot's package lists"
		apt_in update
	fi
	rel=$(newest_release || true)
	if [[ -z $rel ]]; then
		log "refreshing the chroot's package lists (no 7.x headers known)"
		apt_in update
		rel=$(newest_release || true)
		[[ -n $rel ]] || { log "$suite-backports has no linux-headers-7.*-amd64"; return 1; }
	fi
	mapfile -t missing < <(missing_in "${packages[@]}" "linux-headers-$rel")
	if ((${#missing[@]})); then
		log "installing in the chroot: ${missing[*]}"
		# -t: the headers' own dependencies (kbuild, common) are backports too.
		# A mirror that dropped the version our lists name: refresh, retry.
		apt_in install -y -t "$suite-backports" "${missing[@]}" ||
			{ apt_in update && apt_in install -y -t "$suite-backports" "${missing[@]}"; }
		as_root rm -f "$root"/var/cache/apt/archives/*.deb
	fi
	[[ -f $root/usr/src/linux-headers-$rel/Makefile ]] ||
		{ log "no /usr/src/linux-headers-$rel in the chroot"; return 1; }
	echo "$rel"
}

main() {
	local cmd=${1:-ensure}
	case $cmd in
	ensure) ensure ;;
	update)
		[[ -f $root/.zcrx-mirror ]] || { ensure; return; }
		log "refreshing the chroot's package lists"
		apt_in update
		ensure
		;;
	dir) echo "$root" ;;
	run)
		shift
		(($#)) || { echo "usage: $0 run CMD..." >&2; exit 2; }
		[[ -f $root/.zcrx-mirror ]] || { log "no chroot in $root (run $0 first)"; exit 1; }
		# The current directory if it is one of the bound ones, else the top.
		local cwd=$top here d
		here=$(pwd -P)
		for d in "$top" ${ZCRX_CHROOT_BIND:-}; do
			d=$(readlink -f "$d")
			[[ $here == "$d" || $here == "$d"/* ]] && cwd=$here
		done
		in_chroot bind sh -c 'cd "$1" && shift && exec "$@"' run "$cwd" "$@"
		;;
	*) echo "usage: $0 [ensure|update|dir|run CMD...]" >&2; exit 2 ;;
	esac
}

main "$@"

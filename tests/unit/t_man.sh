#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The man pages in man/, run from the repo top as a host test:
#   - every page formats with zero warnings, by groff -ww -z -man and by
#     man --warnings (man-db), alias (.so) pages included;
#   - every page starts with its SPDX line;
#   - every public libzcrx function and helper macro in lib/include/zcrx.h
#     has a page (its own or a .so link) and appears in that page's NAME;
#     every name in a NAME section has a page;
#   - the errors: each errno the UAPI header lists for an ioctl is
#     documented on the page of the call that makes it (or is listed below
#     as unreachable through libzcrx), each -EXXX in lib/zcrx.c is
#     documented somewhere, and each errno a page documents exists in the
#     header, the library or the system calls the library makes.
. tests/lib/tap.sh
set -uo pipefail
top=$(pwd)
hdr=include/uapi/linux/zcrxdev.h
lib_h=lib/include/zcrx.h
lib_c=lib/zcrx.c
ok() { tap_line "ok - man.$1"; }
nok() { tap_line "not ok - man.$1: $2"; }

if ! command -v groff >/dev/null || ! command -v man >/dev/null; then
	nok tools "groff and man (Debian: groff-base, man-db) are needed"
	exit 1
fi
cd man || { nok dir "no man/ directory"; exit 1; }
pages=$(ls man3/*.3 man7/*.7 2>/dev/null)
[[ -n $pages ]] || { nok pages "no pages in man/"; exit 1; }

# --- Formatting -----------------------------------------------------------------
for p in $pages; do
	name=$(basename "$p")
	out=$( { groff -ww -z -man "$p"; LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$p" >/dev/null; } 2>&1)
	if [[ -z $out ]]; then
		ok "format.$name"
	else
		nok "format.$name" "$(head -n 3 <<<"$out" | tr '\n' ' ')"
	fi
	if [[ $(head -n 1 "$p") == '.\" SPDX-License-Identifier: MIT' ]]; then
		ok "spdx.$name"
	else
		nok "spdx.$name" "first line is not the SPDX comment"
	fi
done

# --- Names ----------------------------------------------------------------------
# The NAME line of a page (joined), or of the page a .so alias points to.
target_of() {
	local t
	t=$(sed -n 's/^\.so //p' "$1")
	echo "${t:-$1}"
}
names_of() {
	sed -n '/^\.SH NAME/,/^\.SH/p' "$(target_of "$1")" | sed '1d;$d' | tr '\n' ' ' |
		sed 's/\\-.*//; s/,/ /g'
}

# Public names: exported functions, static inline helpers, and the loop
# macro; the memory-model primitives and the "__" functions (such as
# __zcrx_return_slow, the library's out-of-line half of zcrx_return_cqe)
# are internal.
public=$(cd "$top" && {
	sed -n 's/^ZCRX_API [^(]*[ *]\(zcrx_[a-z_]*\)(.*/\1/p' $lib_h
	sed -n 's/^static inline [^(]*[ *]\(zcrx_[a-z_]*\)(.*/\1/p' $lib_h
	sed -n 's/^#define \(zcrx_for_each_cqe\)(.*/\1/p' $lib_h
} | sort -u)
[[ -n $public ]] || nok public_names "found no function in $lib_h"
for f in $public; do
	if [[ ! -f man3/$f.3 ]]; then
		nok "page_for.$f" "no man3/$f.3"
	elif ! grep -qw "$f" <<<"$(names_of "man3/$f.3")"; then
		nok "page_for.$f" "$(target_of "man3/$f.3") does not name it in NAME"
	else
		ok "page_for.$f"
	fi
done
for f in $(cd "$top" && sed -n 's/^ZCRX_API [^(]*[ *]\(__zcrx_[a-z_]*\)(.*/\1/p' $lib_h); do
	if grep -qw -- "$f" man3/*.3; then
		ok "internal_mentioned.$f"
	else
		nok "internal_mentioned.$f" "exported but on no page"
	fi
done
bad=
for p in $pages; do
	for n in $(names_of "$p"); do
		[[ $n == zcrx ]] && continue	# zcrx(7)
		[[ -f man3/$n.3 ]] || bad+=" $n($(basename "$p"))"
		grep -qx "$n" <<<"$public" || bad+=" $n(not-in-$lib_h)"
	done
done
if [[ -z $bad ]]; then
	ok names_have_pages
else
	nok names_have_pages "$bad"
fi

# The alias pages render as their target (man-db resolves .so from here).
for p in man3/*.3; do
	t=$(target_of "$p")
	[[ $t == "$p" ]] && continue
	n=$(basename "$p" .3)
	if LC_ALL=C.UTF-8 MANWIDTH=80 man -M "$PWD" -P cat "$n" 2>/dev/null | grep -w "$n" >/dev/null; then
		ok "alias_renders.$n"
	else
		nok "alias_renders.$n" "man -M man $n does not show $t"
	fi
done

# --- Errors ---------------------------------------------------------------------
# ERRORS section of a page: the errno names set in bold there.
errors_of() {
	sed -n '/^\.SH ERRORS/,/^\.SH/p' "$1" | grep -v '^\.SH' |
		grep -o '\bE[A-Z0-9]\+\b' | sort -u
}
# The header's "Errors" list: "  ENAME  text" lines, mmap lines excluded.
hdr_errors=$(cd "$top" && sed -n '/^ \* Errors/,/^ \*\//p' $hdr |
	grep -v 'mmap:\|EACCES PROT_WRITE' | sed -n 's/^ \*   *\(E[A-Z0-9]*\) .*/\1/p' | sort -u)
[[ -n $hdr_errors ]] || nok header_errors "cannot read the Errors list of $hdr"

# Where libzcrx can make each of them happen.
declare -A page_of=(
	[EINVAL]=zcrx_init [E2BIG]=zcrx_init [ENOMEM]=zcrx_init
	[EBADF]=zcrx_attach [ENOTSOCK]=zcrx_attach [EPROTONOSUPPORT]=zcrx_attach
	[ENOTCONN]=zcrx_attach [EBUSY]=zcrx_attach [ENOENT]=zcrx_attach
	[ENXIO]=zcrx_attach
	[EFAULT]=zcrx_send [ENOBUFS]=zcrx_send [EPERM]=zcrx_send
)
# And the ones it cannot: zcrx_init makes a fresh context, the library
# only sends the ioctls it knows.
declare -A unreachable=( [EEXIST]="setup twice" [ENOTTY]="unknown ioctl" )
for e in $hdr_errors; do
	if [[ -n ${unreachable[$e]:-} ]]; then
		ok "errno_unreachable_through_libzcrx.$e"
	elif [[ -z ${page_of[$e]:-} ]]; then
		nok "errno_documented.$e" "new in $hdr: document it and map it in tests/unit/t_man.sh"
	elif errors_of "man3/${page_of[$e]}.3" | grep -qx "$e"; then
		ok "errno_documented.$e"
	else
		nok "errno_documented.$e" "not in ERRORS of ${page_of[$e]}(3)"
	fi
done
# Per-function errors of the ioctls, page by page.
check_page_errors() {
	local page=$1 e missing=
	shift
	for e in "$@"; do
		errors_of "man3/$page.3" | grep -qx "$e" || missing+=" $e"
	done
	if [[ -z $missing ]]; then
		ok "errors_complete.$page"
	else
		nok "errors_complete.$page" "missing$missing"
	fi
}
check_page_errors zcrx_attach EBADF ENOTSOCK EPROTONOSUPPORT ENOTCONN EBUSY ENOENT ENXIO
check_page_errors zcrx_send EINVAL ENOBUFS EFAULT EPERM EBADF ENOTSOCK EPROTONOSUPPORT ENOMEM ENXIO
check_page_errors zcrx_stats ENXIO
check_page_errors zcrx_return_cqe ENXIO
# The library's own error returns.
lib_errs=$(cd "$top" && grep -o -- '-E[A-Z0-9]\+' $lib_c | tr -d - | sort -u)
all_page_errs=$(for p in man3/*.3; do errors_of "$p"; done | sort -u)
for e in $lib_errs; do
	if grep -qx "$e" <<<"$all_page_errs"; then
		ok "lib_errno_documented.$e"
	else
		nok "lib_errno_documented.$e" "lib/zcrx.c returns it, no page documents it"
	fi
done
check_page_errors zcrx_wait ETIME EINTR EBADF
check_page_errors zcrx_init EINVAL E2BIG ENOMEM
# No invented errors: header, library, or what open(2), poll(2), mmap(2)
# and (for zcrx_send) send(2) give the library.
sys_errs="ENOENT ENODEV EACCES EMFILE ENFILE EINTR ENOMEM EBADF ETIME EAGAIN EPIPE ECONNRESET"
bad=
for e in $all_page_errs; do
	grep -qx "$e" <<<"$hdr_errors" && continue
	grep -qx "$e" <<<"$lib_errs" && continue
	[[ " $sys_errs " == *" $e "* ]] && continue
	bad+=" $e"
done
if [[ -z $bad ]]; then
	ok errors_all_real
else
	nok errors_all_real "documented but made by nothing:$bad"
fi
tap_plan

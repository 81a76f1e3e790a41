#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# libzcrx's ABI, run from the repo top as a host test (after "make lib"):
#   - lib/libzcrx.map has one version node per release, LIBZCRX_<x>.<y>, in
#     release order, each inheriting the one before; only the first says
#     "local: *;";
#   - every function lib/include/zcrx.h declares ZCRX_API is in exactly one
#     node, and every name in the map is declared there;
#   - the built library exports exactly those functions (readelf
#     --dyn-syms), each with the version of its node as default version;
#   - an exported name without a man page of its own is internal and
#     starts with "__";
#   - debian/libzcrx0.symbols lists each symbol with its node, and nothing
#     else (dpkg-gensymbols holds the package build to that file).
# ZCRX_MAP, ZCRX_HDR, ZCRX_SO and ZCRX_SYMBOLS name other files to check.
set -uo pipefail
map=${ZCRX_MAP:-lib/libzcrx.map}
hdr=${ZCRX_HDR:-lib/include/zcrx.h}
so=${ZCRX_SO:-build/lib/libzcrx.so}
symbols=${ZCRX_SYMBOLS:-debian/libzcrx0.symbols}
. tests/lib/tap.sh
ok() { tap_line "ok - symbols.$1"; }
nok() { tap_line "not ok - symbols.$1: $2"; }
oneline() { tr '\n' ' ' | sed 's/ *$//'; }

# "node name" for every global name of the map, "node" alone for a node
# with none, "node <parent" for inheritance, "node *local" for "local: *;".
# Comments are dropped first.
map_table() {
	sed 's|/\*.*\*/||; /\/\*/,/\*\//d' "$1" | awk '
		/^[[:space:]]*$/ { next }
		$1 ~ /^[A-Za-z_][A-Za-z0-9_.]*$/ && $2 == "{" { node = $1; sect = ""; print node; next }
		/^[[:space:]]*global:/ { sect = "global"; next }
		/^[[:space:]]*local:/ { sect = "local"; next }
		/^[[:space:]]*}/ {
			p = $0; sub(/^[[:space:]]*}[[:space:]]*/, "", p); sub(/;.*/, "", p)
			if (p != "") print node " <" p
			node = ""; next
		}
		{
			n = $1; sub(/;$/, "", n)
			if (sect == "local") print node " *local:" n
			else if (sect == "global") print node " " n
			else print node " ?" n
		}'
}

table=$(map_table "$map")
nodes=$(awk 'NF == 1' <<<"$table")
if [[ -z $nodes ]]; then
	nok map_parsed "no version node in $map"
	exit 1
fi
ok map_parsed

# --- The nodes --------------------------------------------------------------
bad=
prev=
for n in $nodes; do
	[[ $n =~ ^LIBZCRX_[0-9]+\.[0-9]+$ ]] || bad+=" $n(name)"
	parent=$(awk -v n="$n" '$1 == n && $2 ~ /^</ { print substr($2, 2) }' <<<"$table")
	if [[ -n $prev ]]; then
		[[ $parent == "$prev" ]] || bad+=" $n(inherits '${parent:-nothing}', not $prev)"
		[[ $(printf '%s\n' "${prev#LIBZCRX_}" "${n#LIBZCRX_}" | sort -V | tail -n 1) == "${n#LIBZCRX_}" &&
		   $prev != "$n" ]] || bad+=" $n(not after $prev)"
	else
		[[ -z $parent ]] || bad+=" $n(first node inherits $parent)"
	fi
	prev=$n
done
first=$(head -n 1 <<<"$nodes")
locals=$(awk '$2 ~ /^\*local:/ { print $1 ":" substr($2, 8) }' <<<"$table")
[[ $locals == "$first:*" ]] || bad+=" local(${locals:-none}, want $first:*)"
stray=$(awk '$2 ~ /^\?/ { print $1 ":" substr($2, 2) }' <<<"$table")
[[ -z $stray ]] || bad+=" outside-global:$(oneline <<<"$stray")"
if [[ -z $bad ]]; then
	ok "nodes_in_release_order ($(oneline <<<"$nodes"))"
else
	nok nodes_in_release_order "$bad"
fi

# --- Header against map --------------------------------------------------------
declared=$(sed -n 's/^ZCRX_API [^(]*[ *]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' "$hdr" | sort)
[[ -n $declared ]] || nok header_parsed "no ZCRX_API function in $hdr"
in_map=$(awk 'NF == 2 && $2 !~ /^[<*?]/ { print $2 " " $1 }' <<<"$table" | sort)
bad=
for f in $declared; do
	c=$(awk -v f="$f" '$1 == f' <<<"$in_map" | wc -l)
	[[ $c -eq 1 ]] || bad+=" $f(in $c nodes)"
done
for f in $(cut -d' ' -f1 <<<"$in_map" | sort -u); do
	grep -qx "$f" <<<"$declared" || bad+=" $f(in the map, not declared ZCRX_API)"
done
if [[ -z $bad ]]; then
	ok "header_functions_each_in_one_node ($(wc -l <<<"$declared") functions)"
else
	nok header_functions_each_in_one_node "$bad"
fi

# --- The built library -----------------------------------------------------------
if [[ ! -f $so ]]; then
	nok exports "no $so (make lib)"
	exit 1
fi
# "name@@NODE" of every symbol the library defines; version definitions
# (ABS, the node names) are not symbols.
exported=$(readelf --dyn-syms -W "$so" |
	awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && $7 != "ABS" &&
	     ($5 == "GLOBAL" || $5 == "WEAK") { print $8 }' | sort)
want=$(awk '{ print $1 "@@" $2 }' <<<"$in_map" | sort)
if [[ -n $exported && $exported == "$want" ]]; then
	ok exports_exactly_the_map
else
	nok exports_exactly_the_map "$(diff <(echo "$want") <(echo "$exported") | grep '^[<>]' | oneline)"
fi

bad=
for s in $exported; do
	f=${s%%@*}
	[[ $f == __* || -f man/man3/$f.3 ]] || bad+=" $f"
done
if [[ -z $bad ]]; then
	ok internal_names_start_with_underscores
else
	nok internal_names_start_with_underscores "exported, no man page, no __ prefix:$bad"
fi

# --- The Debian symbols file ---------------------------------------------------------
if [[ ! -f $symbols ]]; then
	nok debian_symbols "no $symbols"
else
	got=$(sed -n 's/^ \([^ @]*\)@\([^ ]*\) .*/\1 \2/p' "$symbols" | grep -v '^\(LIBZCRX_[0-9.]*\) \1$' | sort)
	nodes_listed=$(sed -n 's/^ \(LIBZCRX_[0-9.]*\)@\1 .*/\1/p' "$symbols" | sort)
	if [[ $got == "$in_map" && $nodes_listed == "$(sort <<<"$nodes")" ]]; then
		ok debian_symbols_match_the_map
	else
		nok debian_symbols_match_the_map "$(diff <(echo "$in_map") <(echo "$got") | grep '^[<>]' | oneline) nodes: $(oneline <<<"$nodes_listed")"
	fi
fi
tap_plan

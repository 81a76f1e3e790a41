#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The module's layers, checked on its objects: run from the repo top as a
# host test of "make check".
#
# LAYERS below is the one declaration of the layer order (docs/design.md
# shows it as a table).  The module is built (W=1) against the first
# kernel under test, or its objects are taken from ZCRX_LAYERS_OBJ (a
# directory holding module/*.o).  nm then says which object defines and
# which one uses every symbol, and every use of a symbol that another
# file defines must go to a lower layer: a call (or a data reference) to
# the same or a higher layer fails.  Also checked:
#   - every module/*.c is in LAYERS, every file of LAYERS exists, and
#     Kbuild links exactly those objects;
#   - a file's global symbols carry its prefix (zcrx_<file>_, or zcrx_wq
#     for wq.c);
#   - a function named *_locked asserts its lock (lockdep_assert_held).
# Prints "ok - layers.<check>" or "not ok - layers.<check>: <why>".
set -uo pipefail
. tests/lib/tap.sh
ok() { tap_line "ok - layers.$1"; }
nok() { tap_line "not ok - layers.$1: $2"; }
# Lowest first; files on one line are one layer and may not call each other.
LAYERS="
wq ring
mem
buf win
pool
place
read send
sock
ctx
main
"

declare -A layer=()
n=0
while read -r line; do
	[[ -n $line ]] || continue
	for f in $line; do
		layer[$f]=$n
	done
	n=$((n + 1))
done <<<"$LAYERS"

# --- the file lists --------------------------------------------------------
missing=
for c in module/*.c; do
	f=$(basename "$c" .c)
	[[ -n ${layer[$f]:-} ]] || missing+="$f.c "
done
for f in "${!layer[@]}"; do
	[[ -f module/$f.c ]] || missing+="($f.c in LAYERS does not exist) "
done
if [[ -z $missing ]]; then ok files; else nok files "not in LAYERS: $missing"; fi

kbuild=$(sed -n '/^zcrx-y/,/[^\\]$/p' Kbuild | tr -s ' \t\\' '\n' |
	sed -n 's|^module/\(.*\)\.o$|\1|p' | sort | tr '\n' ' ')
want=$(printf '%s\n' "${!layer[@]}" | sort | tr '\n' ' ')
if [[ $kbuild == "$want" ]]; then ok kbuild; else nok kbuild "Kbuild links '$kbuild', LAYERS has '$want'"; fi

# --- the objects -------------------------------------------------------------
objdir=${ZCRX_LAYERS_OBJ:-}
tmp=
if [[ -z $objdir ]]; then
	# The host's newest: ZCRX_KERNELS may name only a chroot (7.x) one.
	rel=$(ZCRX_KERNELS= scripts/vm/kernels.sh --host 2>/dev/null | tail -n 1)
	kdir=/usr/src/linux-headers-$rel
	if [[ -z $rel || ! -d $kdir ]]; then
		nok build "no kernel headers to build the module against (scripts/deps.sh)"
		exit 1
	fi
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cp -a Kbuild VERSION module include "$tmp/"
	rm -f "$tmp"/module/*.o "$tmp/module/compat_probed.h"
	if ! out=$(make -C "$kdir" M="$tmp" W=1 modules 2>&1); then
		nok build "$(grep -m 3 -E 'error|Error' <<<"$out" | tr '\n' ' ')"
		exit 1
	fi
	objdir=$tmp
fi

declare -A owner=()
for f in "${!layer[@]}"; do
	o=$objdir/module/$f.o
	if [[ ! -f $o ]]; then
		nok "objects" "no $o"
		exit 1
	fi
	while read -r sym; do
		owner[$sym]=$f
	done < <(nm -g --defined-only "$o" | awk '{print $3}' | grep -v '^__')
done

for f in $(printf '%s\n' "${!layer[@]}" | sort); do
	bad=
	while read -r sym; do
		g=${owner[$sym]:-}
		[[ -n $g && $g != "$f" ]] || continue
		if ((layer[$g] >= layer[$f])); then
			bad+="$sym ($g.c, layer ${layer[$g]}) "
		fi
	done < <(nm -u "$objdir/module/$f.o" | awk '{print $2}')
	if [[ -z $bad ]]; then
		ok "calls_down.$f"
	else
		nok "calls_down.$f" "$f.c (layer ${layer[$f]}) uses $bad"
	fi
done

# --- names -------------------------------------------------------------------
for f in $(printf '%s\n' "${!layer[@]}" | sort); do
	bad=
	while read -r sym; do
		case $sym in
		zcrx_"$f"_* | zcrx_"$f") ;;
		*) bad+="$sym " ;;
		esac
	done < <(nm -g --defined-only "$objdir/module/$f.o" | awk '{print $3}' |
		grep -v '^__' | grep -vx -e init_module -e cleanup_module)
	if [[ -z $bad ]]; then ok "prefix.$f"; else nok "prefix.$f" "not zcrx_${f}_*: $bad"; fi
done

# A *_locked function's body (from its name to the closing brace at the
# start of a line) must hold a lockdep_assert_held().
bad=$(awk '
	/^[a-z].*[a-z0-9_]+_locked\(/ && !/;$/ {
		name = $0; sub(/\(.*/, "", name); sub(/.* \**/, "", name)
		file = FILENAME; inside = 1; seen = 0; next
	}
	inside && /lockdep_assert_held\(/ { seen = 1 }
	inside && /^}/ { if (!seen) print file ":" name; inside = 0 }
' module/*.c | tr '\n' ' ')
if [[ -z $bad ]]; then ok locked_asserts; else nok locked_asserts "no lockdep_assert_held() in $bad"; fi
tap_plan

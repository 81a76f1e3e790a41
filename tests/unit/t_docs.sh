#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The documentation against the tree, run from the repo top as a host test:
#   - docs/ links nowhere outside the repository: no http(s) address, and
#     every relative link of docs/*.md and README.md (and every `../path`
#     they name) is a file or directory inside the repository;
#   - README.md's Layout table has a row for every top-level entry git
#     tracks, and the row of module/, scripts/ or scripts/vm/ names every
#     file git tracks there (scripts/udev/70-zcrx.rules as
#     udev/70-zcrx.rules in the scripts/ row).
# ZCRX_README names another README to check.
set -uo pipefail
top=$(pwd -P)
readme=${ZCRX_README:-README.md}
. tests/lib/tap.sh
ok() { tap_line "ok - docs.$1"; }
nok() { tap_line "not ok - docs.$1: $2"; }
oneline() { tr '\n' ' ' | sed 's/ *$//'; }

# --- Links ------------------------------------------------------------------
bad=$(grep -n -o -i 'https\?://[^ )>`]*' docs/*.md 2>/dev/null | oneline)
if [[ -z $bad ]]; then
	ok docs_no_web_links
else
	nok docs_no_web_links "$bad"
fi

bad=
for f in docs/*.md "$readme"; do
	dir=$(dirname "$f")
	# Markdown links and images: ](target) with an optional "#anchor".
	while IFS= read -r target; do
		target=${target%%#*}
		[[ -z $target || $target == *://* || $target == mailto:* ]] && continue
		path=$(realpath -m "$dir/$target")
		if [[ $path != "$top" && $path != "$top"/* ]]; then
			bad+=" $f:$target(outside)"
		elif [[ ! -e $path ]]; then
			bad+=" $f:$target(missing)"
		fi
	done < <(grep -o '](\([^)]*\))' "$f" | sed 's/^](//; s/)$//'
		 # and paths named in code spans that climb out of docs/
		 grep -o '`\.\./[^` ]*`' "$f" | tr -d '`')
done
if [[ -z $bad ]]; then
	ok relative_links_inside_repo
else
	nok relative_links_inside_repo "$bad"
fi

# --- The Layout table -------------------------------------------------------------
layout=$(sed -n '/^## Layout/,/^## /p' "$readme" | grep '^| ')
if [[ -z $layout ]]; then
	nok layout_table "no table under '## Layout' in $readme"
	exit 1
fi
# The first cell of each row, and the row whose first cell is `DIR/`.
first_cells=$(cut -d'|' -f2 <<<"$layout")
row_of() { grep -F "| \`$1/\` |" <<<"$layout"; }

missing=
for e in $(git ls-files | cut -d/ -f1 | sort -u); do
	[[ $e == README.md || $e == .gitignore ]] && continue
	grep -q "\`$e[/\`]" <<<"$first_cells" || missing+=" $e"
done
if [[ -z $missing ]]; then
	ok layout_top_level_entries
else
	nok layout_top_level_entries "no row for:$missing"
fi

for d in module scripts; do
	missing=
	while IFS= read -r f; do
		# The deepest directory with a row of its own.
		sub=$(dirname "$f")
		while [[ $sub != "$d" && -z $(row_of "$sub") ]]; do
			sub=$(dirname "$sub")
		done
		row=$(row_of "$sub")
		rel=${f#"$sub"/}
		grep -qF "\`$rel\`" <<<"$row" || missing+=" $f"
	done < <(git ls-files "$d")
	if [[ -z $missing ]]; then
		ok "layout_lists_every_file.$d"
	else
		nok "layout_lists_every_file.$d" "not in the Layout table:$missing"
	fi
done
tap_plan

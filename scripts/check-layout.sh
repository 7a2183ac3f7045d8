#!/bin/bash
# check-layout.sh [SRCDIR]: checks the layout rules of lib/README.md and
# prints TAP, one test per rule:
#   1. every "folder/header.h" a file includes is in a folder its own folder
#      may include (the include-rules block of lib/README.md, read here so
#      the rules and the check cannot drift apart);
#   2. a quoted include in lib/ names its folder; elsewhere a bare name is
#      a header beside the file (bin/cmd.h, tests/unit/tap.h);
#   3. no file in lib/ is longer than 800 lines;
#   4. every .c includes autoconf's <config.h> first, and no header does;
#   5. a lib/<folder>/*-internal.h is included only from lib/<folder>/ and
#      tests/, and lib/ has no config.h to shadow autoconf's.
set -u
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1

declare -A allowed
while read -r folder deps; do
	allowed[${folder%:}]="$deps"
done < <(sed -n '/<!-- include-rules/,/<!-- end include-rules/p' lib/README.md |
	grep -E '^[a-z-]+:')

# The rule folder of a path: lib/<x>/... -> x, bin/ -> bin, runner/ ->
# kcr-runner, tests/ -> tests.
rule_folder() {
	case $1 in
	lib/*/*) local rest=${1#lib/}; echo "${rest%%/*}" ;;
	bin/*) echo bin ;;
	runner/*) echo kcr-runner ;;
	tests/*) echo tests ;;
	*) echo "" ;;
	esac
}

# tests/*/sandbox/ holds programs that tests run inside a sandbox with
# `kcr exec -l c`: they are not built with kcr's config.h.
sources() {
	find lib bin runner tests -name '*.[ch]' ! -name 'pyboot_src.c' ! -name 'dashboard_assets.c' ! -path 'tests/*/sandbox/*' | sort
}

n=0
report() { # ok|not ok, description, problems
	n=$((n + 1))
	if [ -z "$3" ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		printf '%s\n' "$3" | sed 's/^/# /'
	fi
}

check_rules() {
	local f own inc dir problems=""
	for f in $(sources); do
		own=$(rule_folder "$f")
		[ -n "$own" ] || continue
		if [ -z "${allowed[$own]+set}" ]; then
			problems+="$f: folder '$own' has no line in lib/README.md"$'\n'
			continue
		fi
		while read -r inc; do
			dir=${inc%%/*}
			[ "$dir" = "$inc" ] && continue
			[ -f "lib/$inc" ] || [ -f "$(dirname "$f")/$inc" ] || continue
			[ -f "lib/$inc" ] || continue
			[ "lib/$dir" = "$(dirname "$f")" ] && continue
			case " ${allowed[$own]} " in
			*" $dir "*) ;;
			*) problems+="$f includes $inc: $own may include only ${allowed[$own]}"$'\n' ;;
			esac
		done < <(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	done
	report ok "includes follow the rules of lib/README.md" "${problems%$'\n'}"
}

check_bare_names() {
	local f inc problems=""
	for f in $(sources); do
		while read -r inc; do
			case $inc in */*) continue ;; esac
			case $f in
			lib/*) problems+="$f includes \"$inc\": name its folder"$'\n' ;;
			*) [ -f "$(dirname "$f")/$inc" ] ||
				problems+="$f includes \"$inc\", which is not beside it"$'\n' ;;
			esac
		done < <(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	done
	report ok "quoted includes name their folder" "${problems%$'\n'}"
}

check_lengths() {
	local problems
	problems=$(find lib -name '*.[ch]' ! -name 'pyboot_src.c' ! -name 'dashboard_assets.c' -exec wc -l {} + |
		awk '$2 != "total" && $1 > 800 { print $2 ": " $1 " lines (at most 800)" }')
	report ok "no file in lib/ is longer than 800 lines" "$problems"
}

check_config_h() {
	local f first problems=""
	for f in $(sources); do
		case $f in
		*.c)
			first=$(grep -m1 '^#[[:space:]]*include' "$f")
			[ "$first" = "#include <config.h>" ] ||
				problems+="$f: the first include is not <config.h>"$'\n' ;;
		*.h)
			! grep -q '^#[[:space:]]*include[[:space:]]*<config.h>' "$f" ||
				problems+="$f: a header includes <config.h>"$'\n' ;;
		esac
	done
	report ok "<config.h> comes first in every .c file and in no header" "${problems%$'\n'}"
}

check_internal() {
	local f inc problems=""
	for f in $(sources); do
		while read -r inc; do
			case $inc in */*-internal.h) ;; *) continue ;; esac
			case $f in
			"lib/${inc%/*}/"* | tests/*) ;;
			*) problems+="$f includes $inc, private to lib/${inc%/*}/"$'\n' ;;
			esac
		done < <(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	done
	problems+=$(find lib -name config.h -printf '%p shadows autoconf'"'"'s config.h\n')
	report ok "private headers stay private; no lib/**/config.h" "${problems%$'\n'}"
}

echo "1..5"
check_rules
check_bare_names
check_lengths
check_config_h
check_internal

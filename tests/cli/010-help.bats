#!/usr/bin/env bats
# Help, usage errors, man pages and completions all come from one command
# table (bin/cmd.c and bin/cmd_*.c). This suite walks every command that
# 'kcr --help' lists, and its subcommands, the way podman's 015-help.bats
# does, and checks that what a user reads (--help, kcr help, the man pages,
# tab completion) agrees with what kcr does.
# shellcheck disable=SC2154 # status, output, lines, stderr, stderr_lines: set by run/run_kcr

load helpers

bats_require_minimum_version 1.5.0

KCR_SRCDIR=${KCR_SRCDIR:-$BATS_TEST_DIRNAME/../..}
MANDIR=$KCR_SRCDIR/man

# The lines of section TITLE ("Commands:", "Options:", ...) of help text on
# stdin: those after the title, up to the next blank line.
help_section() {
	awk -v t="$1" '$0 == t { on = 1; next } on && /^$/ { exit } on { print }'
}

# The visible commands: "exec", "languages", ... from 'kcr --help'.
kcr_commands() {
	"$KCR" --help 2>/dev/null | help_section 'Commands:' | awk '{ print $1 }'
}

# Every command path: "exec", ..., "config", "config show", ...
kcr_command_paths() {
	local c s
	for c in $(kcr_commands); do
		echo "$c"
		for s in $("$KCR" "$c" --help 2>/dev/null | help_section 'Commands:' | awk '{ print $1 }'); do
			echo "$c $s"
		done
	done
}

# The usage line of a command path, as --help prints it.
usage_of() {
	# shellcheck disable=SC2086 # $1 is a command path: "config show"
	"$KCR" $1 --help 2>/dev/null | sed -n 's/^Usage: //p'
}

# The options of a command path: the left column of its Options: section,
# "-l, --lang LANG", "--stdin FILE", "--force", ...
options_of() {
	# shellcheck disable=SC2086
	"$KCR" $1 --help 2>/dev/null | help_section 'Options:' |
		sed -E 's/^ +//; s/ {2,}.*$//'
}

# A man page's text with the roff escapes the pages use undone, so that
# "\-\-lang\ \fILANG\fR" reads "--lang LANG", as the user sees it.
man_text() {
	sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\ / /g' -e "s/\\\\(aq/'/g" \
		-e 's/\\&//g' -e 's/\\%//g' -e 's/\\e/\\/g' "$1"
}

# The man page that documents a command path: man/kcr-<cmd>.1 if there is
# one, else man/kcr.1.
man_page_of() {
	local page=$MANDIR/kcr-${1%% *}.1
	[ -f "$page" ] || page=$MANDIR/kcr.1
	echo "$page"
}

# The candidates 'kcr __complete WORD...' prints, one per line.
complete_words() {
	"$KCR" __complete "$@"
}

# The language ids, from kcr's error for an unknown one: "py js ... bash".
known_languages() {
	"$KCR" exec -l no-such-language -c x 2>&1 | sed -n 's/.*(known: \(.*\)).*/\1/p'
}

assert_has_line() { # text line what
	grep -qxF -- "$2" <<<"$1" || fail "$3: '$2' is missing"
}

# The walks over all commands note every problem and fail once at the end,
# so that one broken command does not hide the next.
problems=()
problem() {
	problems+=("$*")
}
assert_no_problems() {
	[ "${#problems[@]}" -eq 0 ] && return 0
	printf '%s\n' "${problems[@]}" | batslib_decorate "${#problems[@]} problem(s)" | fail
}

@test "kcr --help lists the commands, the global options and examples" {
	run_kcr --help
	assert_line --index 0 'Usage: kcr [global options] <command> [options] [args]'
	assert_line 'Commands:'
	assert_line 'Global options:'
	assert_line 'Examples:'
	run kcr_commands
	assert_success
	assert [ "${#lines[@]}" -ge 5 ]
	assert_line exec
	refute_line __complete
}

@test "every command and subcommand has --help with a usage line and examples" {
	local path out err rc
	while read -r path; do
		rc=0
		# shellcheck disable=SC2086 # $path is a command path: "config show"
		out=$("$KCR" $path --help 2>"$BATS_TEST_TMPDIR/err") || rc=$?
		err=$(cat "$BATS_TEST_TMPDIR/err")
		if [ "$rc" -ne 0 ]; then
			problem "kcr $path --help exited $rc: $err"
			continue
		fi
		[[ $out == "Usage: kcr $path"* ]] ||
			problem "kcr $path --help: first line is '${out%%$'\n'*}', not 'Usage: kcr $path ...'"
		grep -qx 'Examples:' <<<"$out" || problem "kcr $path --help has no Examples:"
		[ -z "$err" ] || problem "kcr $path --help wrote to stderr: $err"
		# the examples run this command (one may show how to use it: curl)
		grep -qF -- "kcr $path" < <(help_section 'Examples:' <<<"$out") ||
			problem "kcr $path --help: no example runs 'kcr $path'"
		# -h is --help
		# shellcheck disable=SC2086
		[ "$("$KCR" $path -h 2>&1)" = "$out" ] || problem "kcr $path -h differs from kcr $path --help"
	done < <(kcr_command_paths)
	assert_no_problems
}

@test "kcr help COMMAND prints the same as kcr COMMAND --help" {
	local path want
	while read -r path; do
		# shellcheck disable=SC2086
		want=$("$KCR" $path --help 2>&1) || true
		# shellcheck disable=SC2086
		run_kcr '?' help $path
		[ "$status" -eq 0 ] && [ "$output" = "$want" ] ||
			problem "'kcr help $path' differs from 'kcr $path --help'"
	done < <(kcr_command_paths)
	assert_no_problems
}

@test "an unknown option gives exit 2 and one 'kcr:' line naming it" {
	local path hint
	while read -r path; do
		# shellcheck disable=SC2086
		run_kcr '?' $path --no-such-option
		if [ "$status" -ne 2 ] || [ -n "$output" ] || [ "${#stderr_lines[@]}" -ne 1 ] ||
			[[ ${stderr_lines[0]} != "kcr: "*"'--no-such-option'"* ]]; then
			problem "kcr $path --no-such-option: exit $status, stderr '$stderr'" \
				"(want exit 2 and one line 'kcr: ...' naming '--no-such-option')"
			continue
		fi
		# the help the message points to exists
		if [[ $stderr =~ see\ \'kcr\ ([^\']*)\' ]]; then
			hint=${BASH_REMATCH[1]}
			# shellcheck disable=SC2086
			"$KCR" $hint >/dev/null 2>&1 ||
				problem "kcr $path --no-such-option says to see 'kcr $hint', which fails"
		fi
	done < <(kcr_command_paths)
	assert_no_problems

	run_kcr 2 --no-such-option exec
	assert_kcr_error "unknown option '--no-such-option'"
}

@test "a command whose usage takes no arguments rejects one with exit 2" {
	local path usage
	while read -r path; do
		usage=$(usage_of "$path")
		# no FILE, COMMAND, WORD... placeholder outside the options
		[[ $(sed -E 's/\[-[^]]*\]//g' <<<"$usage") =~ [A-Z]{2,} ]] && continue
		# a command with subcommands takes the subcommand
		# shellcheck disable=SC2086
		"$KCR" $path --help 2>/dev/null | grep -qx 'Commands:' && continue
		# shellcheck disable=SC2086
		run_kcr '?' $path no-such-argument
		[ "$status" -eq 2 ] && [[ $stderr == "kcr: "*no-such-argument* ]] ||
			problem "kcr $path no-such-argument: exit $status, not 2 with a 'kcr:' message (usage: $usage)"
	done < <(kcr_command_paths)
	assert_no_problems
}

@test "an unknown command or subcommand gives exit 2 and says so" {
	run_kcr 2 no-such-command
	assert_kcr_error "unknown command 'no-such-command'"
	run_kcr 2 help no-such-command
	assert_kcr_error "unknown command 'no-such-command'"
	run_kcr 2 config no-such-subcommand
	assert_kcr_error "unknown subcommand 'no-such-subcommand'"

	# no command at all: the usage, on stderr
	run_kcr 2
	[ -z "$output" ] || fail "kcr without a command wrote to stdout"
	assert_stderr_regex '^Usage: kcr '
}

@test "kcr(1) has every command's usage line, exactly as --help prints it" {
	local path usage page text
	text=$(man_text "$MANDIR/kcr.1")
	while read -r path; do
		usage=$(usage_of "$path")
		if [ -z "$usage" ]; then
			problem "kcr $path --help has no usage line"
			continue
		fi
		grep -qxF -- "$usage" <<<"$text" ||
			problem "man/kcr.1 lacks the usage line of 'kcr $path': $usage"
		page=$(man_page_of "$path")
		[ "$page" = "$MANDIR/kcr.1" ] || grep -qxF -- "$usage" <(man_text "$page") ||
			problem "${page#"$KCR_SRCDIR"/} lacks the usage line of 'kcr $path': $usage"
	done < <(kcr_command_paths)
	assert_no_problems
}

@test "every option in a command's --help is in its man page" {
	local path opt page
	while read -r path; do
		page=$(man_page_of "$path")
		while read -r opt; do
			if [ "$page" = "$MANDIR/kcr.1" ]; then
				# kcr(1) names it
				opt=$(grep -oE -- '--[a-z-]+' <<<"$opt")
				grep -qwF -- "$opt" <(man_text "$page")
			else
				# a page of its own has an entry for it, the way
				# --help shows it: "-l, --lang LANG"
				grep -qxF -- "$opt" <(man_text "$page")
			fi || problem "${page#"$KCR_SRCDIR"/} lacks '$opt' of 'kcr $path'"
		done < <(options_of "$path")
	done < <(kcr_command_paths)
	assert_no_problems
}

@test "every global option in kcr --help is in kcr(1)" {
	local opt
	while read -r opt; do
		# an entry for it, the way --help shows it: "-v, --verbose"
		grep -qxF -- "$opt" <(man_text "$MANDIR/kcr.1") || fail "man/kcr.1 has no entry '$opt'"
	done < <("$KCR" --help | help_section 'Global options:' | sed -E 's/^ +//; s/ {2,}.*$//')
}

@test "every setting in kcr config show is in kcr.yaml(5), with its variable" {
	local text key env n=0
	text=$(man_text "$MANDIR/kcr.yaml.5")
	run_kcr config show
	while read -r key _; do
		[[ $key == '#'* ]] && continue
		grep -qxF -- ".B $key" <<<"$text" || problem "man/kcr.yaml.5 has no entry for '$key'"
		n=$((n + 1))
	done <<<"$output"
	assert [ "$n" -ge 10 ]

	run_kcr config show --json
	while read -r env; do
		grep -qF -- "env $env" <<<"$text" ||
			problem "man/kcr.yaml.5 does not give $env as a setting's variable"
	done < <(json_eval '"\n".join(v["env"] for v in j.values())')
	assert_no_problems
}

@test "the KubeCodeRun aliases kcr.yaml(5) gives are read" {
	local key alias value n=0
	run_kcr config show --json
	"$HOST_PYTHON" -c 'import json, sys
for k, v in json.load(open(sys.argv[1])).items():
    print(k, v["value"])' "$KCR_STDOUT_FILE" >defaults
	# "alias NAME" in the entry of a key (".B limits.timeout"); set it to
	# the key's value, which is valid, and see where kcr says it came from
	while read -r key alias; do
		value=$(sed -n "s/^$key //p" defaults)
		env "$alias=$value" "$KCR" config show | grep -qE "^$key .*# env $alias\$" ||
			problem "$alias=$value: kcr config show does not say $key comes from env $alias"
		n=$((n + 1))
	done < <(man_text "$MANDIR/kcr.yaml.5" |
		awk '/^\.B / { key = $2 } match($0, /alias [A-Z][A-Z0-9_]+/) { print key, substr($0, RSTART + 6, RLENGTH - 6) }')
	assert [ "$n" -ge 5 ]
	assert_no_problems
}

@test "every language is in kcr-exec(1)" {
	local id text known
	text=$(man_text "$MANDIR/kcr-exec.1")
	known=$(known_languages)
	[ -n "$known" ] || fail "kcr exec -l no-such-language does not list the known languages"
	for id in $known; do
		# an entry "py (python, python3): .py" or "java: .java"
		grep -qE -- "^$id( \\(|:)" <<<"$text" ||
			fail "man/kcr-exec.1 has no entry for language '$id'"
	done
}

@test "kcr __complete offers every command, exec's options and languages" {
	local c o
	# the commands of kcr --help, and not the hidden ones
	run complete_words ''
	assert_success
	for c in $(kcr_commands); do
		assert_has_line "$output" "$c" "kcr __complete ''"
	done
	refute_line __complete
	run complete_words e
	assert_line exec
	refute_line languages

	# exec's options, as kcr exec --help lists them
	run complete_words exec --
	for o in $(options_of exec | grep -oE -- '--[a-z-]+'); do
		assert_has_line "$output" "$o" "kcr __complete exec --"
	done
	assert_line --help

	# the language ids after -l and --lang
	local known
	known=$(known_languages)
	[ -n "$known" ] || fail "kcr exec -l no-such-language does not list the known languages"
	run complete_words exec -l ''
	assert_equal "${lines[*]}" "$known"
	run complete_words exec --lang p
	assert_line py
	refute_line js

	# paths where the option takes one, subcommands of config
	run complete_words exec -o ''
	assert_output __dir__
	run complete_words exec -f ''
	assert_output __file__
	run complete_words --config ''
	assert_output __file__
	run complete_words config ''
	assert_line show
	# kcr help takes a command
	run complete_words help ''
	assert_line exec
	refute_line __file__
	# operands: kcr bench's scenarios (as --list names them), pool
	# warmup's languages, exec's file
	run complete_words bench ''
	assert_equal "${lines[*]}" "$("$KCR" bench --list | awk '{ print $1 }' | tr '\n' ' ' | sed 's/ $//')"
	run complete_words bench pa
	assert_output pandas
	run complete_words pool warmup ''
	assert_equal "${lines[*]}" "$known"
	run complete_words exec ''
	assert_output __file__
}

@test "the bash completion loads and completes 'kcr ex' to 'exec'" {
	local script=$KCR_SRCDIR/completions/kcr
	run bash -c '
		PATH=$1:$PATH
		source "$2" || exit 1
		complete -p kcr
		c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kcr; echo "${COMPREPLY[*]}"; }
		c kcr ex
		c kcr config s
		c kcr exec --lang = ph
		c kcr exec --js
	' _ "$(dirname "$KCR")" "$script"
	assert_success
	assert_line --index 0 'complete -F _kcr kcr'
	assert_line --index 1 exec
	assert_line --index 2 show
	assert_line --index 3 php
	assert_line --index 4 --json
}

@test "kcr __complete offers the global options of kcr --help, each once" {
	local o
	run complete_words --
	assert_success
	for o in $("$KCR" --help | help_section 'Global options:' | grep -oE -- '--[a-z-]+'); do
		assert_equal "$(grep -cxF -- "$o" <<<"$output")" 1
	done
	run complete_words --verb
	assert_output --verbose
	# a global option's value, then the command
	run complete_words --set limits.pids=9 e
	assert_line exec
}

@test "kcr __complete offers cluster check, its options and languages" {
	run complete_words cluster ''
	assert_output check
	run complete_words cluster check --
	for o in --json --lang --serve-address --egress-target --timeout --help; do
		assert_line -- "$o"
	done
	run complete_words cluster check -l p
	assert_line py
	refute_line js
	run complete_words pool status --
	assert_line --json
	assert_line --server
}

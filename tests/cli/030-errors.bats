#!/usr/bin/env bats
# kcr exec's errors: the right exit code (2: usage, 125: kcr failed), one
# line 'kcr: ...' on stderr that names the problem, nothing on stdout and
# nothing written to the output dir.

load helpers

# run_error RC REGEX ARGS...: kcr must fail with RC ('2|125' for either),
# print one 'kcr:' line matching REGEX and write nothing to . or to out/.
run_error() {
	local rc=$1 re=$2 before
	shift 2
	before=$(list_files .)
	if [ "$rc" = '2|125' ]; then
		run_kcr '?' "$@"
		[ "$status" -eq 2 ] || [ "$status" -eq 125 ] || fail "kcr exited $status, expected 2 or 125"
	else
		run_kcr "$rc" "$@"
	fi
	assert_kcr_error "$re"
	assert_equal "$(list_files .)" "$before"
}

@test "unknown language: exit 2 naming it and listing the known ones" {
	run_error 2 "'cobol'" exec -l cobol -c 'DISPLAY "HELLO".'
	local id
	for id in "${LANG_IDS[@]}"; do
		assert_stderr_regex "[( ]${id}[ )]"
	done
}

@test "a runtime that is not installed: exit 125 saying what to install" {
	# Hide /usr/bin/php behind a non-executable file in a private mount
	# namespace: kcr sees PHP as not installed, the host is untouched.
	: >not-php
	chmod 644 not-php
	local ns='unshare -m'
	[ "$(id -u)" -eq 0 ] || ns='unshare -r -m'
	$ns true 2>/dev/null || fail "cannot make a mount namespace ($ns) to hide /usr/bin/php"
	cat >"$_KCR_CAPTURE/kcr-without-php" <<EOF
#!/bin/sh
exec $ns sh -c 'mount --bind "\$0" /usr/bin/php && exec "\$@"' "$PWD/not-php" "$KCR" "\$@"
EOF
	chmod +x "$_KCR_CAPTURE/kcr-without-php"

	KCR=$_KCR_CAPTURE/kcr-without-php run_error 125 'not installed' \
		exec -l php -o out -c '<?php echo "hi\n";'
	assert_stderr_regex '/usr/bin/php'
	assert_stderr_regex 'php-cli'

	# 'kcr languages' says the same, the other languages are unaffected
	KCR=$_KCR_CAPTURE/kcr-without-php run_kcr languages
	assert_line --regexp '^php +PHP +- +missing /usr/bin/php \(install php-cli\)$'
	assert_equal "$(grep -c ' installed$' <<<"$output")" 12
	# and outside that namespace PHP is still there
	[ -x /usr/bin/php ]
}

@test "empty code: exit 2 'empty code'" {
	run_error 2 'empty code' exec -l py -o out -c ''
	: >empty.py
	run_error 2 'empty code' exec -o out empty.py
	run_error 2 'empty code' exec -l py -o out - </dev/null
}

@test "whitespace-only code: exit 2 'empty code'" {
	run_error 2 'empty code' exec -l py -o out -c $'  \n\t \n'
	printf '\n\n   \n' >blank.sh
	run_error 2 'empty code' exec -o out blank.sh
}

@test "a missing file: exit 2 or 125 naming the file" {
	run_error '2|125' 'no-such-file\.py' exec -o out no-such-file.py
}

@test "an unreadable file: exit 2 or 125 naming the file" {
	mkdir dir.py
	run_error '2|125' 'dir\.py' exec -o out dir.py
	if [ "$(id -u)" -ne 0 ]; then # root reads mode 000 files anyway
		echo 'print(1)' >secret.py
		chmod 000 secret.py
		run_error '2|125' 'secret\.py' exec -o out secret.py
	fi
}

@test "a missing -f or --stdin file: exit 2 or 125 naming it" {
	run_error '2|125' 'missing-input\.csv' exec -l py -f missing-input.csv -o out -c 'print(1)'
	run_error '2|125' 'missing-stdin\.txt' exec -l py --stdin missing-stdin.txt -o out -c 'print(1)'
}

@test "an unknown option: exit 2 naming it" {
	run_error 2 "'--bogus'" exec --bogus -l py -c 'print(1)'
	run_error 2 "'-Z'" exec -Z -l py -c 'print(1)'
	run_error 2 "'--bogus-global'" --bogus-global exec -l py -c 'print(1)'
}

@test "an option without its value: exit 2 naming it" {
	run_error 2 "'-l'" exec -c 'print(1)' -l
	run_error 2 "'--timeout'" exec -l py -c 'print(1)' --timeout
}

@test "--timeout abc and other bad limits: exit 2 naming the option" {
	run_error 2 '--timeout' exec -l py --timeout abc -c 'print(1)'
	assert_stderr_regex 'abc'
	run_error 2 '--timeout' exec -l py --timeout -5 -c 'print(1)'
	run_error 2 '--timeout' exec -l py --timeout 0 -c 'print(1)'
	run_error 2 '--memory' exec -l py --memory lots -c 'print(1)'
	assert_stderr_regex 'lots'
}

@test "both FILE and -c: exit 2" {
	echo 'print(1)' >prog.py
	run_error 2 'either FILE or -c' exec -c 'print(2)' -o out prog.py
}

@test "no code at all: exit 2" {
	run_error 2 'no code given' exec -l py -o out
	run_error 2 'no code given' exec -o out
}

@test "an unknown extension without -l: exit 2 naming the file" {
	echo 'print(1)' >prog.xyz
	run_error 2 "'prog\\.xyz'.*-l LANG" exec -o out prog.xyz
	echo 'print(1)' >Makefile
	run_error 2 "'Makefile'" exec -o out Makefile
}

@test "code from stdin without -l: exit 2 asking for -l" {
	run_error 2 'no language given.*-l LANG' exec -o out - < <(echo 'print(1)')
}

@test "two -f files with the same name: exit 2 naming it" {
	mkdir a b
	echo 1 >a/data.txt
	echo 2 >b/data.txt
	run_error 2 "'data\\.txt'" exec -l py -f a/data.txt -f b/data.txt -o out -c 'print(1)'
}

@test "an unknown command: exit 2 naming it" {
	run_error 2 "'frobnicate'" frobnicate
}

@test "a state or run directory owned by another user is refused, naming it" {
	local d=$BATS_TEST_TMPDIR/theirs
	mkdir -p "$d/state" "$d/run"
	chown 65534:65534 "$d/state" "$d/run"
	KCR_STATE_DIR=$d/state run --separate-stderr "$KCR" exec --entity e1 -l bash -c 'echo hi'
	[ "$status" -eq 125 ] || fail "exit $status: $stderr"
	[[ $stderr == *"state directory '$d/state' belongs to uid 65534"* ]] || fail "stderr: $stderr"
	KCR_RUN_DIR=$d/run run --separate-stderr "$KCR" exec -l bash -c 'echo hi'
	[ "$status" -eq 125 ] || fail "exit $status: $stderr"
	[[ $stderr == *"run directory '$d/run' belongs to uid 65534"* ]] || fail "stderr: $stderr"
	# one of kcr's own but open to others is closed
	mkdir -m 0777 "$d/mine"
	KCR_STATE_DIR=$d/mine run "$KCR" exec --entity e1 -l bash -c 'echo hi'
	[ "$(stat -c %a "$d/mine")" = 700 ]
}

#!/usr/bin/env bats
# kcr version, languages, doctor and config show.

load helpers

@test "kcr version prints kcr's version and its libraries" {
	run_kcr version
	assert_line --index 0 --regexp '^kcr [0-9]+\.[0-9]+(\.[0-9]+)?([-~+.][0-9A-Za-z.]+)?$'
	assert_line --index 1 --regexp '^libcurl [0-9.]+, libmicrohttpd .*libseccomp [0-9]+\.[0-9]+\.[0-9]+$'
	assert_equal "${#lines[@]}" 2
	local first=${lines[0]}

	# --version, the global option, agrees with 'kcr version'
	run_kcr --version
	assert_output "$first"
}

@test "kcr languages lists the 13 languages, all installed" {
	run_kcr languages
	assert_equal "${#lines[@]}" 14
	assert_line --index 0 --regexp '^ID +NAME +VERSION +STATUS$'
	local i
	for i in "${!LANG_IDS[@]}"; do
		# in the table's order, each with a version and 'installed'
		assert_line --index $((i + 1)) --regexp "^${LANG_IDS[$i]} +.+ +[0-9][0-9.]* +installed\$"
	done
	assert_equal "$(grep -c ' installed$' <<<"$output")" 13
}

@test "kcr languages --json is valid JSON with the same 13 languages" {
	run_kcr languages --json
	assert_valid_json
	run json_eval '" ".join(l["id"] for l in j)'
	assert_output "${LANG_IDS[*]}"
	run json_eval 'all(l["installed"] is True and isinstance(l["version"], str) and l["version"] for l in j)'
	assert_output true
	run json_eval 'sorted(j[0].keys())'
	assert_output '["aliases", "id", "installed", "name", "package", "version"]'
	run json_eval '[l["name"] for l in j if l["id"] in ("py", "rs", "f90")]'
	assert_output '["Python", "Rust", "Fortran"]'
}

@test "kcr languages shows each runtime's real version" {
	run_kcr languages --json
	local -A want=(
		[py]=$(/usr/bin/python3 -c 'import platform; print(platform.python_version())')
		[js]=$(/usr/bin/node -p process.versions.node)
		[go]=$(/usr/bin/go env GOVERSION | sed 's/^go//')
		[c]=$(/usr/bin/gcc -dumpfullversion)
		[rs]=$(/usr/bin/rustc --version | awk '{print $2}')
		[bash]=$(/bin/bash -c 'echo "${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}.${BASH_VERSINFO[2]}"')
	)
	local id got bad=
	for id in "${!want[@]}"; do
		got=$(json_eval "[l['version'] for l in j if l['id'] == '$id'][0]")
		[ "$got" = "${want[$id]}" ] || bad+="$id: kcr says '$got', the runtime says '${want[$id]}'"$'\n'
	done
	[ -z "$bad" ] || fail "wrong versions:"$'\n'"$bad"
	# the table shows the same
	run_kcr languages
	assert_line --regexp "^go +Go +${want[go]//./\\.} +installed\$"
}

@test "kcr doctor exits 0 with one 'ok' line per check" {
	require_sandbox
	run_kcr doctor
	local want=(namespaces cgroups limits seccomp state_dir run_dir "session store" "file store"
		sandbox)
	local id check n
	for id in "${LANG_IDS[@]}"; do
		want+=("runtime $id")
	done
	for check in "${want[@]}"; do
		n=$(grep -cE "^ok +${check}( |\$)" <<<"$output" || true)
		[ "$n" -eq 1 ] || fail "expected exactly one 'ok' line for '$check', got $n"
	done
	assert_equal "${#lines[@]}" "${#want[@]}"
	# every line is a passed check; nothing failed
	refute_line --regexp '^(FAIL|fail)'
	assert_equal "$(grep -cv '^ok ' <<<"$output")" 0
	# the sandbox check really ran a program in a sandbox
	assert_line --regexp '^ok +sandbox +ran a program in .* hostname sandbox$'
	assert_line --regexp '^ok +session store +fs answered in [0-9.]+ ms$'
	assert_line --regexp '^ok +file store +fs answered in [0-9.]+ ms$'
}

@test "kcr doctor: a store it cannot open is a failed check that says how to fix it" {
	run_kcr 1 --set store.sessions=nosuch doctor
	assert_line --regexp "^FAIL +stores +unknown session store 'nosuch'; fix: see store\.\* in kcr\.yaml\(5\)$"
}

@test "kcr config show: limits.timeout and its default source" {
	run_kcr config show
	assert_line --regexp '^limits\.timeout +0 +# default$'
	# one line per setting, none shown twice
	assert_equal "$(grep -c '^limits\.timeout ' <<<"$output")" 1
	assert_line --regexp '^limits\.memory_mb +0 +# default$'
	assert_line --regexp '^sandbox\.provider +local +# default$'
}

@test "KCR_TIMEOUT=7 changes limits.timeout (source: env KCR_TIMEOUT)" {
	KCR_TIMEOUT=7 run_kcr config show
	assert_line --regexp '^limits\.timeout +7 +# env KCR_TIMEOUT$'
}

@test "MAX_EXECUTION_TIME=9 (KubeCodeRun's name) changes limits.timeout" {
	MAX_EXECUTION_TIME=9 run_kcr config show
	assert_line --regexp '^limits\.timeout +9 +# env MAX_EXECUTION_TIME$'
	# kcr's own name wins over the alias
	KCR_TIMEOUT=7 MAX_EXECUTION_TIME=9 run_kcr config show
	assert_line --regexp '^limits\.timeout +7 +# env KCR_TIMEOUT$'
}

@test "--set overrides the environment" {
	KCR_TIMEOUT=7 run_kcr --set limits.timeout=5 config show
	assert_line --regexp '^limits\.timeout +5 +# flag( .*)?$'
	refute_line --regexp '^limits\.timeout +7 '
	# the --set=KEY=VALUE spelling too
	KCR_TIMEOUT=7 run_kcr --set=limits.timeout=6 config show
	assert_line --regexp '^limits\.timeout +6 +# flag( .*)?$'
}

@test "kcr.yaml given with --config: nested mappings become dotted settings" {
	cat >kcr.yaml <<'EOF'
# limits for the tests
limits:
  timeout: 11
  pids: 64
log:
  level: error
EOF
	run_kcr --config kcr.yaml config show
	assert_line --index 0 '# file: kcr.yaml'
	assert_line --regexp '^limits\.timeout +11 +# file kcr\.yaml:3$'
	assert_line --regexp '^limits\.pids +64 +# file kcr\.yaml:4$'
	assert_line --regexp '^log\.level +error +# file kcr\.yaml:6$'

	# the environment beats the file, --set beats both
	KCR_TIMEOUT=7 run_kcr --config kcr.yaml config show
	assert_line --regexp '^limits\.timeout +7 +# env KCR_TIMEOUT$'
	assert_line --regexp '^limits\.pids +64 +# file kcr\.yaml:4$'
	KCR_TIMEOUT=7 run_kcr --config kcr.yaml --set limits.pids=32 config show
	assert_line --regexp '^limits\.pids +32 +# flag( .*)?$'

	# and the JSON form says the same
	run_kcr --config kcr.yaml config show --json
	assert_valid_json
	run json_eval '[j["limits.timeout"]["value"], j["limits.timeout"]["source"], j["limits.timeout"]["env"]]'
	assert_output '["11", "file kcr.yaml:3", "KCR_TIMEOUT"]'
}

@test "a misspelt key in kcr.yaml: exit 2 naming the key and file:line" {
	printf 'limits:\n  pids: 64\n  timeuot: 5\n' >bad.yaml
	run_kcr 2 --config bad.yaml config show
	assert_kcr_error 'bad\.yaml:3'
	assert_stderr_regex "limits\\.timeuot"
}

@test "a bad value in kcr.yaml: exit 2 naming the key and file:line" {
	printf 'limits:\n  timeout: soon\n' >bad.yaml
	run_kcr 2 --config bad.yaml config show
	assert_kcr_error 'bad\.yaml:2'
	assert_stderr_regex 'limits\.timeout'
	assert_stderr_regex 'soon'
}

@test "invalid YAML syntax: exit 2 with file:line" {
	printf 'limits:\n  timeout: 5\n  pids: [1, 2\n' >broken.yaml
	run_kcr 2 --config broken.yaml config show
	assert_kcr_error 'broken\.yaml:[0-9]+'
}

@test "a bad environment variable or --set: exit 2 naming it" {
	KCR_TIMEOUT=forever run_kcr 2 config show
	assert_kcr_error 'KCR_TIMEOUT'
	assert_stderr_regex 'forever'

	run_kcr 2 --set limits.nosuch=1 config show
	assert_kcr_error "limits\\.nosuch"

	# a refill held back a minute at most: a pool must not starve
	KCR_POOL_REFILL_DELAY_MS=70000 run_kcr 2 config show
	assert_kcr_error 'KCR_POOL_REFILL_DELAY_MS'
	assert_stderr_regex 'out of range \(0\.\.60000\)'
}

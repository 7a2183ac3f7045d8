#!/usr/bin/env bats
# kcr bench: scenarios against this process's engine (its pools filled
# first), with the bare runtime measured in the same run.

load helpers

setup() {
	kcr_setup
	require_sandbox
}

@test "kcr bench --list names every scenario" {
	run_kcr bench --list
	for s in py pandas js ts go java c cpp php rs r f90 d bash files state sweep; do
		assert_line --regexp "^$s "
	done
}

@test "kcr bench runs a scenario and the bare runtime, with no errors" {
	run_kcr bench -d 0.5 bash
	assert_line --index 0 --regexp '^SCENARIO +CL +P50_MS +P95_MS +P99_MS +EXEC/S +ERRORS +CPU_MS +BARE_P50 +RATIO +BARE_CPU +BARE_X$'
	# bash, 1 client, three latencies, a rate, 0 errors, CPU per execution,
	# the bare p50, the ratio, a bare run's CPU and the throughput in bare runs
	assert_line --index 1 --regexp '^bash +1( +[0-9.]+){4} +0( +[0-9.]+){5}$'
	# an execution in a sandbox costs some CPU, and so does a bare bash
	echo "${lines[1]}" | awk '{ exit !($8 > 0 && $11 > 0) }'
}

@test "kcr bench --json: one record per scenario and client count" {
	run_kcr bench --json -d 0.3 -c 2 bash files
	echo "$output" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
assert [(x["scenario"], x["clients"]) for x in r] == [("bash", 2), ("files", 2)], r
assert r[0]["kcr"]["errors"] == 0 and r[0]["kcr"]["executions"] > 0, r[0]
assert r[0]["bare"]["executions"] > 0 and r[0]["ratio_p50"] > 0, r[0]
assert r[0]["kcr"]["cpu_ms_per_execution"] > 0 and r[0]["bare"]["cpu_ms_per_execution"] > 0, r[0]
assert r[0]["bare_starts_per_second"] > 0, r[0]
assert r[1]["kcr"]["errors"] == 0 and "bare" not in r[1], r[1]'
}

@test "kcr bench: a compiled hello world and the state round trip, each with its bare baseline" {
	# a pickle planted where an older kcr bench read its bare state: never loaded
	local marker=$BATS_TEST_TMPDIR/pwned planted=/tmp/.kcr-bench-state.pkl
	/usr/bin/python3 -c 'import os, pickle, sys
class P:
    def __reduce__(self): return (os.system, ("touch " + sys.argv[1],))
pickle.dump(P(), open(sys.argv[2], "wb"))' "$marker" "$planted"
	run_kcr bench --json -d 0.5 c state
	rm -f "$planted"
	[ ! -e "$marker" ] || fail "kcr bench loaded a pickle from /tmp"
	echo "$output" | /usr/bin/python3 -c '
import json, sys
r = {x["scenario"]: x for x in json.load(sys.stdin)}
for s in ("c", "state"):
    assert r[s]["kcr"]["errors"] == 0 and r[s]["kcr"]["executions"] > 0, r[s]
    assert r[s]["bare"]["errors"] == 0 and r[s]["bare"]["executions"] > 0, r[s]'
}

@test "kcr bench: an unknown scenario or a bad value is a usage error" {
	run_kcr 2 bench cobol
	[[ "$stderr" == *"unknown scenario 'cobol'"* ]]
	run_kcr 2 bench -c 100 py
	run_kcr 2 bench -d abc py
}

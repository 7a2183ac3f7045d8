#!/usr/bin/env bats
# Adaptive pool targets (pool.adaptive): demand (acquires that missed or
# waited) raises a language's target above its floor pool.<lang>, idle
# time lowers it back, and pool.memory_budget_mb caps what the targets
# cost together. GET /pool and `kcr pool status` show floor, target and
# budget. The controller's arithmetic is tests/unit/test_pool_adapt.c's.

load serve_helpers

setup_file() {
	# short windows, so that a test sees several
	start_server main KCR_POOL_BASH=1 $(pools_only bash) KCR_POOL_ADAPTIVE_WINDOW_MS=300 \
		KCR_POOL_ADAPTIVE_IDLE_MS=8000 KCR_POOL_ADAPTIVE_MAX=6
}

# burst N: N bash executions at once, each sleeping 0.5 s; all must succeed
burst() {
	local dir=$BATS_TEST_TMPDIR/burst i
	mkdir -p "$dir"
	for i in $(seq "$1"); do
		printf 'url = "%s/exec"\nheader = "X-API-Key: %s"\n' "$(srv_url)" "$(srv_key)"
		printf 'data = "{\\"lang\\":\\"bash\\",\\"code\\":\\"sleep 0.5; echo 1\\"}"\n'
		printf 'output = "%s/%d"\nwrite-out = "%%{http_code}\\n"\n' "$dir" "$i"
	done >"$dir/cfg"
	curl -sS --parallel --parallel-immediate --parallel-max "$1" -K "$dir/cfg" >"$dir/codes"
	[ "$(grep -c '^200$' "$dir/codes")" -eq "$1" ]
}

@test "a burst raises the target above the floor, and the pool fills to it" {
	until_field bash target -eq 1
	until_field bash ready -ge 1
	burst 6
	# 6 at once on 1 warm sandbox: some waited for one being made
	# or, when none was, missed; both are demand
	[ $(($(pool_field bash misses) + $(pool_field bash waits))) -ge 1 ]
	until_field bash target -gt 1
	target=$(pool_field bash target)
	[ "$target" -le 6 ] # pool.adaptive_max
	[ "$(pool_field bash floor)" -eq 1 ]
	# the pool holds the raised target: warm sandboxes beyond the floor
	until_field bash ready -ge 2
	run env KCR_SERVER="$(srv_url)" KCR_API_KEY="$(srv_key)" "$KCR" pool status
	assert_success
	assert_line --regexp '^bash +1 +[2-6] '
	assert_line --regexp '^adaptive targets: on \(up to 6\); memory: [0-9]+ MiB of a 1024 MiB budget$'
}

@test "without demand for pool.adaptive_idle_ms the target falls back to the floor" {
	# more than pool.adaptive_max: whatever the last test left ready, some
	# of these wait or miss, and raise the target
	burst 8
	until_field bash target -gt 1
	# 8 s idle, then halving every 0.3 s: well within 40 s
	until_field bash target -eq 1 40
	until_field bash ready -eq 1
}

@test "the budget caps what the targets cost together; the floors stay" {
	# bash sandboxes cost 2.5 MiB each (a runner and a bash waiting): 1
	# floor + 2 more fit in 8 MiB
	start_server tight KCR_POOL_BASH=1 $(pools_only bash) KCR_POOL_ADAPTIVE_WINDOW_MS=300 \
		KCR_POOL_ADAPTIVE_IDLE_MS=60000 KCR_POOL_MEMORY_BUDGET_MB=8
	SRV=tight until_field bash ready -ge 1
	SRV=tight api GET /pool
	assert_json 'j["memory_budget_mb"] == 8 and j["adaptive"] is True'
	assert_json 'next(p for p in j["pools"] if p["language"] == "bash")["cost_mb"] == 2.5'
	for _ in 1 2 3; do
		SRV=tight burst 6
	done
	SRV=tight until_field bash target -eq 3
	sleep 1 # more windows with demand seen: the cap holds
	SRV=tight api GET /pool
	assert_json 'next(p for p in j["pools"] if p["language"] == "bash")["target"] == 3'
	assert_json 'j["memory_mb"] <= j["memory_budget_mb"]'
	# pool.adaptive false: the floors, whatever the demand
	start_server fixed KCR_POOL_BASH=1 $(pools_only bash) KCR_POOL_ADAPTIVE=false \
		KCR_POOL_ADAPTIVE_WINDOW_MS=300
	SRV=fixed burst 6
	sleep 1
	[ "$(SRV=fixed pool_field bash target)" -eq 1 ]
}

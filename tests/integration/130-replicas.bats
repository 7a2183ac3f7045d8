#!/usr/bin/env bats
# Two kcr serve replicas on one Redis and one S3 (a real redis-server and
# s3rver from tests/servers.sh), behind requests that alternate between
# them as an ingress would: one LibreChat conversation, nothing lost.

load serve_helpers

setup_file() {
	local servers="$BATS_FILE_TMPDIR/servers"
	"$BATS_TEST_DIRNAME/../servers.sh" start "$servers" ||
		fail "tests/servers.sh could not start redis-server and s3rver"
	export TEST_STORES="$servers/env"
	KEY_A=$(random_key)
	KEY_B=$(random_key)
	export KEY_A KEY_B
	# one key pair and one prefix for both: the replicas of one deployment
	local shared=(--key "$KEY_A" "KCR_API_KEYS=$KEY_A,$KEY_B" KCR_REDIS_PREFIX=shared:
		KCR_S3_PREFIX=shared/ KCR_CLEANUP_INTERVAL=1 KCR_LOG_LEVEL=debug)
	start_server a "${shared[@]}"
	start_server b "${shared[@]}"
}

teardown_file() {
	serve_teardown_file
	"$BATS_TEST_DIRNAME/../servers.sh" stop "$BATS_FILE_TMPDIR/servers"
}

USER_ID=6650c7e1f1a2b3c4d5e6f708

on() { # on A|B API-ARGS...: the request to replica a or b
	local s=$1
	shift
	SRV=$s api "$@"
}

exec_on() { # exec_on a|b JSON
	SRV=$1 exec_json "$2"
}

@test "one conversation across two replicas: upload on one, run and download on the other, state carried" {
	printf 'name,qty\napple,3\npear,4\n' >data.csv
	on a POST /upload -H "User-Id: $USER_ID" -F entity_id=agent_r -F "file=@data.csv;filename=data.csv"
	assert_status 200
	local up_sid up_fid
	up_sid=$(jget 'j["session_id"]')
	up_fid=$(jget 'j["files"][0]["fileId"]')
	# LibreChat's freshness check lands on the other replica
	on b GET "/files/$up_sid?detail=summary"
	assert_status 200
	assert_json "[f['name'] for f in j] == ['$up_sid/$up_fid']"
	# the run on b reads the upload from a and leaves an output and globals
	exec_on b "{\"lang\":\"py\",\"user_id\":\"$USER_ID\",\"entity_id\":\"agent_r\",\"code\":$(jstr 'import csv
rows = list(csv.DictReader(open("/mnt/data/data.csv")))
total = sum(int(r["qty"]) for r in rows)
open("/mnt/data/out.txt", "w").write(str(total * 2))
print(total)'),\"files\":[{\"id\":\"$up_fid\",\"session_id\":\"$up_sid\",\"name\":\"data.csv\"}]}"
	assert_status 200
	assert_json 'j["stdout"] == "7\n" and j["has_state"] is True'
	local sid out_id
	sid=$(jget 'j["session_id"]')
	out_id=$(jget '[f["id"] for f in j["files"] if f["name"] == "out.txt"][0]')
	# the download goes to a
	on a GET "/download/$sid/$out_id"
	assert_status 200
	[ "$BODY" = 14 ] || fail "out.txt: '$BODY'"
	# the next run, on a, continues the session b made: its globals are there
	exec_on a "{\"lang\":\"py\",\"user_id\":\"$USER_ID\",\"entity_id\":\"agent_r\",\"session_id\":\"$sid\",\"code\":\"print(total + 1)\"}"
	assert_status 200
	assert_json 'j["stdout"] == "8\n"'
	assert_json_eq 'j["session_id"]' "$sid"
	# and both replicas list the same files
	on a GET "/files/$sid"
	local list_a=$BODY
	on b GET "/files/$sid"
	[ "$list_a" = "$BODY" ] || fail "the replicas list different files"
}

@test "twenty runs alternating between replicas: each sees the last one's globals" {
	local i sid='' r
	for i in $(seq 1 20); do
		r=a
		[ $((i % 2)) = 0 ] && r=b
		if [ -z "$sid" ]; then
			exec_on $r '{"lang":"py","code":"n = 1\nprint(n)"}'
			sid=$(jget 'j["session_id"]')
		else
			exec_on $r "{\"lang\":\"py\",\"session_id\":\"$sid\",\"code\":\"n += 1\\nprint(n)\"}"
		fi
		assert_status 200
		assert_json "j['stdout'] == '$i\\n'"
	done
}

@test "a file deleted on one replica is gone on the other; another key never sees it" {
	echo secret >s.txt
	on a POST /upload -F "file=@s.txt;filename=s.txt"
	local sid fid
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')
	# the second key of the deployment is another tenant, on either replica
	AS_KEY=$KEY_B on b GET "/download/$sid/$fid"
	assert_error_reply 404
	AS_KEY=$KEY_B on a GET "/files/$sid"
	assert_json 'j == []'
	on b GET "/download/$sid/$fid"
	assert_status 200
	on b DELETE "/files/$sid/$fid"
	assert_status 200
	on a GET "/download/$sid/$fid"
	assert_error_reply 404
}

@test "expired sessions: Redis drops them, and one replica removes their files from S3" {
	start_server ta --key "$KEY_A" KCR_REDIS_PREFIX=ttl: KCR_S3_PREFIX=ttl/ \
		KCR_SESSION_TTL_HOURS=0.001 KCR_CLEANUP_INTERVAL=1 KCR_LOG_LEVEL=info
	start_server tb --key "$KEY_A" KCR_REDIS_PREFIX=ttl: KCR_S3_PREFIX=ttl/ \
		KCR_SESSION_TTL_HOURS=0.001 KCR_CLEANUP_INTERVAL=1 KCR_LOG_LEVEL=info
	echo short >f.txt
	SRV=ta upload_file f.txt f.txt
	assert_status 200
	local sid fid
	sid=$(jget 'j["session_id"]')
	fid=$(jget 'j["files"][0]["fileId"]')
	# shellcheck disable=SC1090 # the env file tests/servers.sh wrote
	objs() { find "$(. "$TEST_STORES" && echo "$TEST_S3_DATA/$TEST_S3_BUCKET")/ttl" \
		-name '*._S3rver_object' 2>/dev/null | wc -l; }
	[ "$(objs)" -ge 1 ] || fail "the upload is not in S3"
	# 3.6 s to live, swept every second: wait for the bytes to go, bounded
	local i
	for i in $(seq 1 120); do
		[ "$(objs)" = 0 ] && break
		sleep 0.5
	done
	assert_equal "$(objs)" 0
	SRV=tb api GET "/download/$sid/$fid"
	assert_error_reply 404
	# removed once, by whichever replica held the sweep's lease
	local n
	n=$(cat "$(srv_dir ta)/stderr" "$(srv_dir tb)/stderr" | grep -c "removed the files of 1 session" || true)
	assert_equal "$n" 1
}

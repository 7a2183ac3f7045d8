#!/bin/bash
# servers.sh: the real backing servers of the store tests, on loopback.
#
#   servers.sh start DIR          starts redis-server and s3rver with their
#                                 data under DIR, and writes DIR/env:
#                                 TEST_REDIS_URL, TEST_S3_ENDPOINT,
#                                 TEST_S3_BUCKET, TEST_S3_DATA (s3rver's
#                                 files), one per line, VAR=VALUE
#   servers.sh stop DIR           stops both (idempotent)
#   servers.sh redis-stop DIR     stops Redis, saving its data to DIR/redis
#   servers.sh redis-start DIR    starts it again on the same port, with
#                                 the data it had
#   servers.sh s3-stop DIR / s3-start DIR   the same for s3rver (its
#                                 objects are files under DIR/s3)
#
# Ports: Redis needs a fixed one, taken from a socket bound to port 0 and
# closed (retried if another process takes it first); s3rver binds port 0
# itself and prints what it got. Exit 77 (automake's "skip") when a server
# is not installed; scripts/install-deps.sh installs both.
set -u

die() {
	echo "servers.sh: $*" >&2
	exit 1
}

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

s3rver_bin() {
	local b
	b=$(command -v s3rver 2>/dev/null) && { echo "$b"; return 0; }
	b="$(npm prefix -g 2>/dev/null)/bin/s3rver"
	[ -x "$b" ] && echo "$b"
}

redis_up() { # port: answers PING
	redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG
}

redis_start() { # dir [port]
	local d=$1 port=${2:-} i
	mkdir -p "$d/redis"
	for _ in 1 2 3 4 5; do
		[ -n "$port" ] || port=$(free_port)
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
			--daemonize yes --pidfile "$d/redis/pid" --logfile "$d/redis/log" \
			--dir "$d/redis" --dbfilename dump.rdb >/dev/null 2>&1
		for i in $(seq 1 100); do
			redis_up "$port" && { echo "$port" >"$d/redis/port"; return 0; }
			sleep 0.05
		done
		[ -n "${2:-}" ] && break # a fixed port: do not wander off it
		port=
	done
	die "redis-server did not start (see $d/redis/log)"
}

redis_stop() { # dir: a saved shutdown, so redis-start brings the data back
	local d=$1 port pid i
	[ -f "$d/redis/port" ] || return 0
	port=$(cat "$d/redis/port")
	pid=$(cat "$d/redis/pid" 2>/dev/null)
	redis-cli -h 127.0.0.1 -p "$port" shutdown save >/dev/null 2>&1
	for i in $(seq 1 100); do
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

s3_start() { # dir [port]
	local d=$1 port=${2:-0} bin
	bin=$(s3rver_bin) || exit 77
	mkdir -p "$d/s3/data"
	: >"$d/s3/log"
	# setsid: the server outlives this script, in a group of its own
	setsid "$bin" -d "$d/s3/data" -a 127.0.0.1 -p "$port" --configure-bucket kcr-test \
		>"$d/s3/log" 2>&1 </dev/null &
	echo $! >"$d/s3/pid"
	for _ in $(seq 1 200); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$d/s3/log" | head -1)
		if [ -n "$port" ]; then
			echo "$port" >"$d/s3/port"
			return 0
		fi
		kill -0 "$(cat "$d/s3/pid")" 2>/dev/null || break
		sleep 0.05
	done
	die "s3rver did not start: $(tail -3 "$d/s3/log")"
}

s3_stop() { # dir
	local d=$1 pid
	[ -f "$d/s3/pid" ] || return 0
	pid=$(cat "$d/s3/pid")
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL -- "-$pid" 2>/dev/null
	rm -f "$d/s3/pid"
	return 0
}

[ $# -eq 2 ] || die "usage: servers.sh start|stop|redis-stop|redis-start|s3-stop|s3-start DIR"
cmd=$1
dir=$2
case $cmd in
start)
	command -v redis-server >/dev/null 2>&1 || exit 77
	s3rver_bin >/dev/null || exit 77
	mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || die "cannot use $dir"
	redis_start "$dir"
	s3_start "$dir" || { redis_stop "$dir"; exit 1; }
	cat >"$dir/env" <<-EOF
		TEST_REDIS_URL=redis://127.0.0.1:$(cat "$dir/redis/port")/0
		TEST_S3_ENDPOINT=http://127.0.0.1:$(cat "$dir/s3/port")
		TEST_S3_BUCKET=kcr-test
		TEST_S3_DATA=$dir/s3/data
	EOF
	;;
stop)
	redis_stop "$dir"
	s3_stop "$dir"
	;;
redis-stop) redis_stop "$dir" ;;
redis-start) redis_start "$dir" "$(cat "$dir/redis/port")" ;;
s3-stop) s3_stop "$dir" ;;
s3-start) s3_start "$dir" "$(cat "$dir/s3/port")" ;;
*) die "unknown command '$cmd'" ;;
esac

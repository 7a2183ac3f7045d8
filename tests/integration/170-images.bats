#!/usr/bin/env bats
# kcr images: the images of images/ really built with Debian's podman from
# a base this suite makes itself (no registry is reachable here: a
# debootstrap minbase root, cached in /var/cache/kcr-test-base), for
# Python, C and bash; each image's kcr-runner started from the image's root,
# read-only with tmpfs /mnt/data and /tmp as a pod has them, as uid 65532,
# running a program. The other languages are built by --dry-run and their
# commands checked. Bad input: no engine, a failing build, an unknown
# language, a bad --build-arg.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load k8s_helpers

KCR=${KCR:-$BATS_TEST_DIRNAME/../../bin/kcr}
SRC=${KCR_SRCDIR:-$BATS_TEST_DIRNAME/../..}
REG=localhost/kcr-test
TAG=t
HOST_PYTHON=${HOST_PYTHON:-/usr/bin/python3}
KCR_RUNNER=${KCR_RUNNER:-$BATS_TEST_DIRNAME/../../runner/kcr-runner}
# what the local provider preloads, and the state's picklers: the whole of
# KubeCodeRun's list (PY_DEBS' default) takes minutes more to install
PY_DEBS="python3 python3-cloudpickle python3-dill python3-numpy python3-pandas python3-matplotlib"

# Skips (fails in CI, where nothing may be skipped) without root or the tools.
require_tools() {
	local t why=
	[ "$(id -u)" = 0 ] || why="needs root"
	for t in podman buildah debootstrap curl unshare; do
		command -v "$t" >/dev/null 2>&1 || why="${why:+$why; }needs $t (scripts/install-deps.sh)"
	done
	[ -z "$why" ] && return 0
	[ "${CI:-}" = true ] && fail "$why; CI=true makes this a failure, not a skip"
	skip "$why"
}

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	[ "$(id -u)" = 0 ] && command -v podman >/dev/null && command -v debootstrap >/dev/null ||
		return 0
	BASE=$("$SRC/tests/integration/images_base.sh")
	export BASE
	# the real build, once for the file: its output and status for the tests
	local t0=$SECONDS rc=0
	# a failed build is the first test's failure, with its log (setup_file
	# stops at a failing command)
	"$KCR" images build py c bash kcr --jobs 2 --engine podman --registry "$REG" --tag "$TAG" \
		-C "$SRC" --build-arg "BUILDER=$BASE" --build-arg "BASE=$BASE" \
		--build-arg "PY_DEBS=$PY_DEBS" >"$BATS_FILE_TMPDIR/build.out" \
		2>"$BATS_FILE_TMPDIR/build.err" || rc=$?
	echo $rc >"$BATS_FILE_TMPDIR/build.rc"
	echo $((SECONDS - t0)) >"$BATS_FILE_TMPDIR/build.seconds"
}

setup() {
	require_tools
}

teardown() {
	if [ -f "$BATS_TEST_TMPDIR/serve.pid" ]; then
		kill "$(cat "$BATS_TEST_TMPDIR/serve.pid")" 2>/dev/null || true
	fi
	[ -n "${SIM_DIR:-}" ] && { stop_sim; kill_sim_pods; }
	# a registry a test started (by its pid), and the tags it pushed
	if [ -f "$BATS_TEST_TMPDIR/registry.pid" ]; then
		kill "$(cat "$BATS_TEST_TMPDIR/registry.pid")" 2>/dev/null || true
	fi
	if [ -f "$BATS_TEST_TMPDIR/port" ]; then
		podman images --format '{{.Repository}}:{{.Tag}}' |
			grep "^127.0.0.1:$(cat "$BATS_TEST_TMPDIR/port")/" | xargs -r podman rmi >/dev/null || true
	fi
}

# start_registry: tests/integration/registry.py on a free port, made
# insecure (plain HTTP) for podman through CONTAINERS_REGISTRIES_CONF;
# sets REGISTRY_PORT.
start_registry() {
	local i
	python3 "$SRC/tests/integration/registry.py" --log "$BATS_TEST_TMPDIR/pushed" \
		>"$BATS_TEST_TMPDIR/port" 2>"$BATS_TEST_TMPDIR/registry.err" 3>&- &
	echo $! >"$BATS_TEST_TMPDIR/registry.pid"
	for i in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/port" ] && break
		sleep 0.1
	done
	REGISTRY_PORT=$(cat "$BATS_TEST_TMPDIR/port")
	[ -n "$REGISTRY_PORT" ] || fail "the test registry did not start: $(cat "$BATS_TEST_TMPDIR/registry.err")"
	printf '[[registry]]\nlocation = "127.0.0.1:%s"\ninsecure = true\n' "$REGISTRY_PORT" \
		>"$BATS_TEST_TMPDIR/registries.conf"
	export CONTAINERS_REGISTRIES_CONF=$BATS_TEST_TMPDIR/registries.conf
}

# run_in_image IMAGE LANG CODE: the image's root, read-only, with tmpfs
# /mnt/data and /tmp (a pod's emptyDirs), /dev and /proc; kcr-runner in it
# as 65532 on a unix socket (--src-dir as the pods give it); CODE POSTed to
# /execute. Prints the runner's reply; all of it in a mount namespace of
# its own, so nothing is left mounted.
run_in_image() {
	local image=$1 lang=$2 code=$3 root=$BATS_TEST_TMPDIR/root ctr
	mkdir -p "$root"
	ctr=$(podman create "$image")
	podman export "$ctr" | tar -C "$root" -xf -
	podman rm "$ctr" >/dev/null
	printf '{"language":"%s","code_b64":"%s","timeout_ms":20000}' "$lang" \
		"$(printf '%s' "$code" | base64 -w0)" >"$BATS_TEST_TMPDIR/req.json"
	unshare -m --propagation private sh -eu -c '
		root=$1 req=$2
		mount --bind "$root" "$root"
		mount -o remount,bind,ro "$root"
		mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
		mount -t tmpfs -o uid=65532,gid=65532,mode=0755 tmpfs "$root/mnt/data"
		mount --rbind /dev "$root/dev"
		mount -t proc proc "$root/proc"
		chroot --userspec=65532:65532 "$root" /usr/local/bin/kcr-runner \
			--unix /tmp/runner.sock --data-dir /mnt/data --src-dir /tmp/kcr-src \
			2>"$root/tmp/runner.err" &
		pid=$!
		i=0
		while [ ! -S "$root/tmp/runner.sock" ] && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		curl -sS --max-time 60 --unix-socket "$root/tmp/runner.sock" \
			-H "Content-Type: application/json" --data-binary @"$req" \
			http://runner/execute || { cat "$root/tmp/runner.err" >&2; false; }
		kill $pid
		# the root stayed read-only for the runner and its program
		if touch "$root/usr/kcr-written" 2>/dev/null; then echo "root is writable" >&2; exit 1; fi
	' sh "$root" "$BATS_TEST_TMPDIR/req.json"
}

# jq-less: one member of the runner's JSON reply, base64 members decoded
reply() { # JSON MEMBER
	python3 -c 'import base64, json, sys
v = json.loads(sys.argv[1])[sys.argv[2]]
print(base64.b64decode(v).decode() if sys.argv[2].endswith("_b64") else v, end="")' "$1" "$2"
}

@test "kcr images build py c bash kcr builds the runner, then the four with progress and a summary" {
	[ -f "$BATS_FILE_TMPDIR/build.rc" ] || fail "setup_file did not build"
	local out
	out=$(cat "$BATS_FILE_TMPDIR/build.out")
	if [ "$(cat "$BATS_FILE_TMPDIR/build.rc")" != 0 ]; then
		local log
		log=$(sed -n 's/.*; log: //p' "$BATS_FILE_TMPDIR/build.err" | head -1)
		fail "kcr images build failed: $(cat "$BATS_FILE_TMPDIR/build.err") $out
--- the end of $log:
$(tail -n 25 "$log" 2>/dev/null)"
	fi
	# a progress line per step and one when done, with the size
	grep -qE '^kcr-runner +step [0-9]+/[0-9]+' <<<"$out" || fail "no step lines: $out"
	for l in kcr-runner py c bash kcr; do
		grep -qE "^$l +built [0-9.]+ [kMG]?B " <<<"$out" || fail "no 'built SIZE' line for $l: $out"
		grep -qE "^$l +ok +[0-9ms]+ +[0-9.]+ [kMG]?B +$REG/$l:$TAG\$" <<<"$out" ||
			fail "no summary row for $l: $out"
	done
	# the runner first, alone: the languages' images start after it is built
	[ "$(grep -nE '^kcr-runner +built' <<<"$out" | cut -d: -f1)" -lt \
		"$(grep -nE '^(py|c|bash|kcr) +building' <<<"$out" | head -1 | cut -d: -f1)" ]
	{
		echo "# build of kcr-runner, py, c, bash, kcr: $(cat "$BATS_FILE_TMPDIR/build.seconds") s"
		sed -n '/^IMAGE/,$p' <<<"$out" | sed 's/^/# /'
	} >&3
}

@test "the images run as 65532 from /mnt/data, start kcr-runner on 8080 and carry the OCI labels" {
	local rev l
	rev=$(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo unknown) # kcr says "unknown" outside a checkout (a tarball)
	for l in py c bash; do
		run podman image inspect --format \
			'{{.Config.User}}|{{.Config.WorkingDir}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}' \
			"$REG/$l:$TAG"
		assert_success
		assert_output '65532:65532|/mnt/data|["/usr/local/bin/kcr-runner"]|["--port","8080","--data-dir","/mnt/data","--src-dir","/tmp/kcr-src"]'
		run podman image inspect --format '{{json .Labels}}' "$REG/$l:$TAG"
		assert_output --partial '"org.opencontainers.image.source":"https://github.com/kcr/kcr"'
		assert_output --partial '"org.opencontainers.image.version":"0.1.0"'
		assert_output --partial "\"org.opencontainers.image.revision\":\"$rev\""
		assert_output --partial "\"dev.kcr.language\":\"$l\""
	done
}

@test "no package manager in any image; no shell in C's; Python and bash keep theirs" {
	local l mnt
	for l in py c bash; do
		mnt=$(podman image mount "$REG/$l:$TAG")
		for f in usr/bin/apt-get usr/bin/dpkg var/lib/dpkg kcr-setup.sh; do
			[ ! -e "$mnt/$f" ] || fail "$l: /$f is in the image"
		done
		[ -x "$mnt/usr/local/bin/kcr-runner" ] || fail "$l: no kcr-runner"
		grep -q '^sandbox:x:65532:65532:' "$mnt/etc/passwd" || fail "$l: no passwd line for 65532"
		[ "$(stat -c %u "$mnt/mnt/data")" = 65532 ] || fail "$l: /mnt/data is not 65532's"
		case $l in
		c) [ ! -e "$mnt/bin/sh" ] && [ ! -e "$mnt/usr/bin/bash" ] || fail "c: a shell is in the image" ;;
		*) [ -x "$mnt/bin/sh" ] || fail "$l: no /bin/sh" ;;
		esac
		podman image unmount "$REG/$l:$TAG" >/dev/null
	done
}

@test "kcr-runner --version answers in each image" {
	local l ctr
	for l in py c bash; do
		ctr=$(buildah from -q "$REG/$l:$TAG")
		run buildah run --isolation chroot --user 65532:65532 "$ctr" -- \
			/usr/local/bin/kcr-runner --version
		buildah rm "$ctr" >/dev/null
		assert_success
		assert_output "kcr-runner 0.1.0"
	done
}

@test "Python's image runs a program with numpy, pandas and matplotlib through its kcr-runner" {
	run run_in_image "$REG/py:$TAG" py 'import numpy as np, pandas as pd, matplotlib
import matplotlib.pyplot as plt, os
plt.plot([1, 2]); plt.savefig("p.png")
print(int(np.arange(5).sum()), pd.Series([1, 2]).sum(), os.getuid(), os.path.getsize("p.png") > 0)'
	assert_success
	[ "$(reply "$output" exit_code)" = 0 ] || fail "exit: $output $(reply "$output" stderr_b64)"
	assert_equal "$(reply "$output" stdout_b64)" "10 3 65532 True"
}

@test "C's image compiles and runs a program through its kcr-runner" {
	run run_in_image "$REG/c:$TAG" c '#include <stdio.h>
#include <unistd.h>
int main(void) { printf("hello from c as %d\n", (int)getuid()); return 3; }'
	assert_success
	assert_equal "$(reply "$output" exit_code)" 3
	assert_equal "$(reply "$output" stdout_b64)" "hello from c as 65532"
}

@test "bash's image runs a script through its kcr-runner" {
	run run_in_image "$REG/bash:$TAG" bash 'echo "$((6 * 7)) $(id -u) $PWD"; ls /usr/bin/dpkg 2>/dev/null || echo no-dpkg'
	assert_success
	assert_equal "$(reply "$output" exit_code)" 0
	assert_equal "$(reply "$output" stdout_b64)" $'42 65532 /mnt/data\nno-dpkg'
}

@test "kcr's own image: one build stage with the runner's, no shell, kcr --version as 65532" {
	local mnt ctr
	# the engine's cache compiles kcr and the runner once only while the
	# two build stages are the same text
	diff <(sed -n '/^ARG BUILDER=/,/^FROM scratch/p' "$SRC/images/kcr-runner.Containerfile" | sed '$d') \
		<(sed -n '/^ARG BUILDER=/,/^FROM \${BASE}/p' "$SRC/images/kcr.Containerfile" | sed '$d') ||
		fail "the build stages of kcr-runner.Containerfile and kcr.Containerfile differ"
	run podman image inspect --format \
		'{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}|{{index .Labels "org.opencontainers.image.title"}}' \
		"$REG/kcr:$TAG"
	assert_output '65532:65532|["/usr/local/bin/kcr"]|["serve","--listen","0.0.0.0:8000"]|kcr'
	mnt=$(podman image mount "$REG/kcr:$TAG")
	for f in bin/sh usr/bin/bash usr/bin/apt-get var/lib/dpkg usr/local/bin/kcr-runner; do
		[ ! -e "$mnt/$f" ] || fail "/$f is in kcr's image"
	done
	[ -s "$mnt/etc/ssl/certs/ca-certificates.crt" ] || fail "no CA certificates"
	podman image unmount "$REG/kcr:$TAG" >/dev/null
	ctr=$(buildah from -q "$REG/kcr:$TAG")
	run buildah run --isolation chroot --user 65532:65532 "$ctr" -- /usr/local/bin/kcr --version
	buildah rm "$ctr" >/dev/null
	assert_success
	assert_output "kcr 0.1.0"
}

@test "kcr's own image: its kcr serve runs an execution on the Kubernetes simulator" {
	local root=$BATS_TEST_TMPDIR/kroot ctr port key=sk-image-test i
	SIM_DIR=$BATS_TEST_TMPDIR/sim
	start_sim
	mkdir -p "$root"
	ctr=$(podman create "$REG/kcr:$TAG")
	podman export "$ctr" | tar -C "$root" -xf -
	podman rm "$ctr" >/dev/null
	port=$("$HOST_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	# the image's root read-only, a tmpfs /tmp (the chart's emptyDir)
	# holding the kubeconfig, kcr serve in it as 65532 on loopback
	unshare -m --propagation private sh -eu -c '
		root=$1 kubeconfig=$2 port=$3 key=$4
		mount --bind "$root" "$root"
		mount -o remount,bind,ro "$root"
		mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
		cp "$kubeconfig" "$root/tmp/kubeconfig" && chmod 644 "$root/tmp/kubeconfig"
		mount --rbind /dev "$root/dev"
		mount -t proc proc "$root/proc"
		exec chroot --userspec=65532:65532 "$root" /usr/bin/env -i HOME=/tmp \
			KCR_SANDBOX_PROVIDER=kubernetes KCR_KUBECONFIG=/tmp/kubeconfig \
			KCR_K8S_NAMESPACE=kcr KCR_STATE_DIR=/tmp/state KCR_API_KEY="$key" \
			KCR_POOL_PY=0 /usr/local/bin/kcr serve --listen "127.0.0.1:$port"
	' sh "$root" "$SIM_DIR/kubeconfig" "$port" "$key" >"$BATS_TEST_TMPDIR/serve.log" 2>&1 3>&- &
	echo $! >"$BATS_TEST_TMPDIR/serve.pid"
	for i in $(seq 300); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$port/ready")" = 200 ] && break
		sleep 0.2
	done
	run curl -sS --max-time 120 "127.0.0.1:$port/exec" -H "X-API-Key: $key" \
		-H 'Content-Type: application/json' -d '{"lang":"py","code":"print(6 * 7)"}'
	assert_success
	[ "$("$HOST_PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])["stdout"], end="")' "$output")" = 42 ] ||
		fail "exec: $output; kcr serve: $(tail -n 20 "$BATS_TEST_TMPDIR/serve.log")"
	# in a sandbox pod of the simulator: a Job (pool size 0) kcr created
	"$HOST_PYTHON" - "$SIM_DIR/audit.jsonl" <<'EOF' || fail "no Job was created in kcr"
import json, sys
sys.exit(not any(e.get("verb") == "create" and e.get("resource") == "jobs" and
                 e.get("code") == 201 for e in map(json.loads, open(sys.argv[1]))))
EOF
}

@test "--dry-run prints the exact commands of every language, runner first, then the pushes" {
	local rev l
	rev=$(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo unknown) # kcr says "unknown" outside a checkout (a tarball)
	run "$KCR" images build --dry-run --engine podman -C "$SRC" --registry r.example/kcr \
		--tag 1.2 --build-arg BASE=b.example/debian:12 --push
	assert_success
	assert_line --index 0 "podman build --isolation chroot -f $SRC/images/kcr-runner.Containerfile -t r.example/kcr/kcr-runner:1.2 --build-arg VERSION=0.1.0 --build-arg REVISION=$rev --label org.opencontainers.image.version=0.1.0 --label org.opencontainers.image.revision=$rev --build-arg BASE=b.example/debian:12 $SRC"
	for l in py js ts go java c cpp php rs r f90 d bash; do
		assert_line "podman build --isolation chroot -f $SRC/images/$l.Containerfile -t r.example/kcr/$l:1.2 --build-arg VERSION=0.1.0 --build-arg REVISION=$rev --label org.opencontainers.image.version=0.1.0 --label org.opencontainers.image.revision=$rev --build-arg RUNNER=r.example/kcr/kcr-runner:1.2 --build-arg BASE=b.example/debian:12 $SRC"
		assert_line --regexp "^podman push --digestfile /[^ ]*/kcr-images-XXXXXX/$l.digest r.example/kcr/$l:1.2\$"
	done
	assert_line "podman build --isolation chroot -f $SRC/images/kcr.Containerfile -t r.example/kcr/kcr:1.2 --build-arg VERSION=0.1.0 --build-arg REVISION=$rev --label org.opencontainers.image.version=0.1.0 --label org.opencontainers.image.revision=$rev --build-arg BASE=b.example/debian:12 $SRC"
	assert_line --regexp "^podman push --digestfile /[^ ]*/kcr-images-XXXXXX/kcr.digest r.example/kcr/kcr:1.2\$"
	[ "${#lines[@]}" = 30 ]
	# every Containerfile it names exists, takes RUNNER and BASE, runs as 65532
	for l in py js ts go java c cpp php rs r f90 d bash; do
		grep -q '^ARG RUNNER=' "$SRC/images/$l.Containerfile" &&
			grep -q '^ARG BASE=' "$SRC/images/$l.Containerfile" &&
			grep -qx 'USER 65532:65532' "$SRC/images/$l.Containerfile" ||
			fail "images/$l.Containerfile"
	done
	# docker and buildah: their own verbs, no --isolation for docker
	run "$KCR" images build --dry-run --engine docker -C "$SRC" js
	assert_line --index 1 --regexp "^docker build -f $SRC/images/js.Containerfile -t localhost/kcr/js:0.1.0 "
	run "$KCR" images build --dry-run --engine buildah -C "$SRC" --isolation oci ts
	assert_line --index 1 --regexp "^buildah bud --isolation oci -f $SRC/images/ts.Containerfile "
	# without --registry/--tag: the images the configuration points at
	LANG_IMAGE_GO=reg.internal/go:7 run "$KCR" images build --dry-run -C "$SRC" go
	assert_line --index 1 --regexp " -t reg.internal/go:7 .*--build-arg RUNNER=localhost/kcr/kcr-runner:0.1.0 "
}

@test "--push pushes every image once all are built and prints each digest, the registry's own" {
	local l digest reg
	start_registry
	reg=127.0.0.1:$REGISTRY_PORT/kcr
	run "$KCR" images build bash --engine podman -C "$SRC" --registry "$reg" --tag p \
		--build-arg "BUILDER=$BASE" --build-arg "BASE=$BASE" --push
	assert_success
	# the pushes come after the builds
	[ "$(grep -nE '^bash +built' <<<"$output" | cut -d: -f1)" -lt \
		"$(grep -nE '^kcr-runner +pushing' <<<"$output" | cut -d: -f1)" ]
	for l in kcr-runner bash; do
		digest=$(sed -n "s|^kcr/$l:p ||p" "$BATS_TEST_TMPDIR/pushed")
		[ -n "$digest" ] || fail "$l was not pushed: $(cat "$BATS_TEST_TMPDIR/pushed")"
		assert_line --regexp "^$l +ok .* $reg/$l:p@$digest\$"
	done
	# --json: the result as data (no push: the one above made the point)
	run "$KCR" images build bash --engine podman -C "$SRC" --registry "$reg" --tag p \
		--build-arg "RUNNER=$reg/kcr-runner:p" --build-arg "BASE=$BASE" --json
	assert_success
	python3 -c 'import json, sys
j = json.loads(sys.argv[1])
assert j["engine"] == "podman", j
[i] = j["images"]
assert i["lang"] == "bash" and i["ok"] and i["size_bytes"] > 0 and i["digest"] is None, j
assert i["error"] is None and i["log"].endswith("/bash.log"), j' "$(grep '^{' <<<"$output")"
}

@test "kcr images list shows what the provider resolves, LANG_IMAGE_* included" {
	LANG_IMAGE_PY=reg.internal/python:3 KCR_K8S_IMAGE_TAG=9 run "$KCR" images list
	assert_success
	assert_line --index 0 --regexp '^LANG +IMAGE +SOURCE$'
	assert_line --regexp '^py +reg.internal/python:3 +env LANG_IMAGE_PY$'
	assert_line --regexp '^c +localhost/kcr/c:9 +default$'
	[ "${#lines[@]}" = 14 ]
}

@test "no engine installed: one clear line, exit 125, nothing run" {
	local bin=$BATS_TEST_TMPDIR/bin
	mkdir -p "$bin"
	ln -s "$(command -v git)" "$bin/git"
	PATH=$bin run "$KCR" images build py -C "$SRC"
	assert_failure 125
	assert_output "kcr: no container engine found: install podman, buildah or docker (Debian: apt-get install podman)"
	PATH=$bin run "$KCR" images build py -C "$SRC" --engine docker
	assert_failure 125
	assert_output --partial "kcr: --engine docker: 'docker' is not installed"
}

@test "unknown language, engine, bad --build-arg or --jobs: exit 2, one line" {
	run "$KCR" images build nope -C "$SRC"
	assert_failure 2
	assert_output --regexp "^kcr: unsupported language 'nope' \\(known: py .* bash\\)$"
	run "$KCR" images build py --engine kaniko -C "$SRC"
	assert_failure 2
	assert_output "kcr: --engine 'kaniko': expected docker, podman or buildah"
	run "$KCR" images build py --build-arg NOEQUALS -C "$SRC"
	assert_failure 2
	assert_output "kcr: --build-arg 'NOEQUALS': expected NAME=VALUE"
	run "$KCR" images build py --jobs 0 -C "$SRC"
	assert_failure 2
	assert_output --partial "--jobs '0': expected 1 to 64"
	run "$KCR" images build py -C /
	assert_failure 2
	assert_output --partial "not a kcr source tree"
}

@test "a failing build: exit 1, the one line names the image and its log, nothing pushed" {
	local log
	# a runtime base that cannot be had (no registry here): the runner
	# builds (from cache), the language fails, and --push pushes nothing
	run "$KCR" images build bash --engine podman --registry "$REG" --tag fail -C "$SRC" \
		--build-arg "BUILDER=$BASE" --build-arg BASE=localhost/kcr-no-such-base:1 --push
	assert_failure 1
	assert_line --regexp '^bash +FAILED '
	refute_line --regexp '^(kcr-runner|bash) +pushing'
	[ "$(grep -c '^kcr: ' <<<"$output")" = 1 ]
	log=$(sed -n 's/^kcr: building .* failed (podman exit [0-9]*): .*; log: \(.*\)$/\1/p' <<<"$output")
	[ -n "$log" ] && [ -s "$log" ] || fail "no 'building ... failed ...; log: FILE' line: $output"
	grep -q 'kcr-no-such-base' "$log"
	run podman image exists "$REG/bash:fail"
	assert_failure
	podman rmi "$REG/kcr-runner:fail" >/dev/null
}

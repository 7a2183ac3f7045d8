#!/bin/bash
# Install what is missing, build, and run every test suite: the C unit
# tests, the layout check and the bats suites, once in a normal build and
# once in an ASan+UBSan build, then the unit tests (the engine, the pool
# and the stores among them) in a ThreadSanitizer build. The normal build
# also runs the integration suites on Redis and S3 (make check-stores).
# Every build has -Werror. The last line is "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

log() { printf '== %s\n' "$*"; }

"$top/scripts/install-deps.sh" || { echo "0 passed, 1 failed"; exit 1; }

mkdir -p m4 build-aux
log "autoreconf"
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi || { echo "0 passed, 1 failed"; exit 1; }

status=0
builds=""
run_build() { # name, configure flags...
	local name=$1; shift
	local dir="$top/build-$name"
	rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || return 1
	log "configure ($name)"
	"$top/configure" -q "$@" >/dev/null || return 1
	log "make ($name)"
	make -s -j"$jobs" >/dev/null || make -j1 || return 1
	log "make check ($name)"
	make -s -j"$jobs" check >/dev/null 2>&1 || status=1
	builds="$builds $dir"
	cd "$top"
}

run_build std --enable-werror || status=1
# The integration suites again on Redis and S3 (make check-stores, with a
# real redis-server and s3rver), in the std build only; its fs results
# move aside first, so that both passes are counted.
if [ -d "$top/build-std/tests/integration" ]; then
	mv "$top/build-std/tests/integration" "$top/build-std/tests/integration-fs"
	mkdir -p "$top/build-std/tests/integration"
	log "make check-stores (std)"
	make -C "$top/build-std" -s -j"$jobs" check-stores >/dev/null 2>&1 || status=1
fi
run_build san --enable-werror --enable-sanitizers || status=1
# TSan: halt at the first report, so a race fails its test.
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
	run_build tsan --enable-werror --enable-tsan || status=1

# Count every test case from the automake .trs files of both builds. In CI
# a skipped test counts as failed: CI installs every prerequisite.
passed=0; failed=0
for dir in $builds; do
	while read -r res; do
		case "$res" in
		PASS|XFAIL) passed=$((passed + 1)) ;;
		SKIP) if [ "${CI:-}" = true ]; then failed=$((failed + 1)); else passed=$((passed + 1)); fi ;;
		*) failed=$((failed + 1)) ;;
		esac
	done < <(find "$dir/tests" -name '*.trs' -exec sed -n 's/^:test-result: //p' {} + 2>/dev/null)
	for log_file in $(find "$dir/tests" -name '*.log' 2>/dev/null); do
		if grep -qE '^(not ok|ERROR|FAIL)' "$log_file"; then
			echo "---- ${log_file#$top/}"
			# a failed check says why on the lines before its "not ok"
			grep -E -B12 -A4 '^not ok' "$log_file" | head -80
			# A test program that died (a sanitizer report, a signal)
			# has no "not ok" line: its last words say why.
			grep -qE '^not ok' "$log_file" || tail -n 40 "$log_file"
		fi
	done
done
[ $status -ne 0 ] && [ $failed -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]

#!/bin/bash
# Fuzzes kcr's parsers with libFuzzer (clang): scripts/fuzz.sh TARGET|all SECONDS
#
# Targets (tests/fuzz/fuzz_<target>.c): exec_request body_key proto multipart
# state_blob config. Builds libkcr with clang and ASan+UBSan in build-fuzz/
# (once), runs each target for SECONDS on a copy of its corpus, merges what
# it found that covers new code into tests/fuzz/corpus/<target>/ (commit
# it), and copies any crash to tests/fuzz/regress/<target>/, which `make
# check` replays from then on: fix the bug, and the input stays a test.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
all=(exec_request body_key proto state_blob config multipart)
what=${1:-all}
secs=${2:-60}
[ "$what" = all ] && targets=("${all[@]}") || targets=("$what")

if ! command -v clang >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
	echo "fuzz.sh: installing clang and its libFuzzer runtime" >&2
	apt-get install -y clang libclang-rt-dev >/dev/null 2>&1 || apt-get install -y clang >/dev/null
fi

b=$top/build-fuzz
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
if [ ! -f "$b/Makefile" ]; then
	[ -x configure ] || { mkdir -p m4 build-aux && autoreconf -fi; }
	mkdir -p "$b"
	(cd "$b" && "$top/configure" CC=clang CFLAGS="-g -O1 $san -fsanitize=fuzzer-no-link" \
		LDFLAGS="$san" >/dev/null)
fi
make -C "$b" -j"$(nproc)" lib/libkcr.la >/dev/null
libs=$(make -s -C "$b" print-deps-libs | tail -1)

status=0
for t in "${targets[@]}"; do
	exe=$b/fuzz_$t
	clang -g -O1 $san -fsanitize=fuzzer -iquote "$top/lib" -iquote "$b/lib" -I"$b" \
		-iquote "$top/tests/fuzz" -include "$b/config.h" \
		"$top/tests/fuzz/fuzz_$t.c" "$b/lib/.libs/libkcr.a" $libs -lpthread -ldl -o "$exe"
	work=$(mktemp -d)
	crashes=$top/tests/fuzz/crashes/$t
	mkdir -p "$crashes" "$work/new"
	cp -r "$top/tests/fuzz/corpus/$t/." "$work/new/"
	echo "== $t: ${secs}s"
	if ! (cd "$crashes" && "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 "$work/new" 2>&1 | tail -15); then
		status=1
	fi
	for c in "$crashes"/crash-* "$crashes"/leak-* "$crashes"/timeout-*; do
		[ -e "$c" ] || continue
		mkdir -p "$top/tests/fuzz/regress/$t"
		cp "$c" "$top/tests/fuzz/regress/$t/"
		echo "fuzz.sh: $t: $(basename "$c") saved in tests/fuzz/regress/$t" >&2
		status=1
	done
	"$exe" -merge=1 "$top/tests/fuzz/corpus/$t" "$work/new" >/dev/null 2>&1 || true
	rm -rf "$work"
done
exit $status

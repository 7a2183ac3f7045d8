#!/bin/bash
# Hello world per language: `kcr exec` against the bare runtime (the same
# compile and run commands started directly, no sandbox, with the same clean
# environment the sandbox gives), in one run. The bare compilers keep their
# caches between runs (Go's build cache is warm, as kcr's shared one is);
# before each run the old binary is removed and the source gets a new
# comment, so both build a program they have not seen (as a sandbox
# always does) and nothing is reused by mtime or content.
# Usage: bench/hello.sh [-n RUNS] [LANG...]      (needs hyperfine)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
KCR=${KCR:-$top/bin/kcr}
runs=10
if [ "${1:-}" = --comment ]; then # internal: hyperfine's --prepare
	case $2 in py|r|bash) echo "# run $(date +%s%N)" ;; f90) echo "! run $(date +%s%N)" ;;
	*) echo "// run $(date +%s%N)" ;; esac
	exit 0
fi
if [ "${1:-}" = -n ]; then runs=$2; shift 2; fi
langs=${*:-py js ts go java c cpp php rs r f90 d bash}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

src() { # lang -> hello world source
	case $1 in
	py) echo 'print("hello")' ;;
	js|ts) echo 'console.log("hello")' ;;
	go) printf 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello") }\n' ;;
	java) printf 'public class Main { public static void main(String[] a) { System.out.println("hello"); } }\n' ;;
	c) printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' ;;
	cpp) printf '#include <iostream>\nint main() { std::cout << "hello" << std::endl; }\n' ;;
	php) echo '<?php echo "hello\n";' ;;
	rs) echo 'fn main() { println!("hello"); }' ;;
	r) echo 'cat("hello\n")' ;;
	f90) printf 'program hello\n  print *, "hello"\nend program hello\n' ;;
	d) printf 'import std.stdio;\nvoid main() { writeln("hello"); }\n' ;;
	bash) echo 'echo hello' ;;
	esac
}

bare() { # lang dir -> the same commands kcr runs, started directly
	local d=$2
	case $1 in
	py) echo "/usr/bin/python3 $d/code.py" ;;
	js) echo "/usr/bin/node $d/code.js" ;;
	ts) echo "/usr/bin/esbuild $d/code.ts --format=cjs --platform=node --log-level=warning --outfile=$d/out.js && /usr/bin/node $d/out.js" ;;
	go) echo "GOCACHE=$d/gocache GOPATH=$d/go GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local GOFLAGS=-buildvcs=false /usr/bin/go build -ldflags='\''-s -w'\'' -o $d/prog $d/main.go && $d/prog" ;;
	java) echo "/usr/bin/java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -XX:-UsePerfData -XX:SharedArchiveFile=/tmp/.kcr-cds/java.jsa $d/Main.java" ;;
	c) echo "/usr/bin/gcc -O1 -std=gnu17 -o $d/prog $d/code.c -lm && $d/prog" ;;
	cpp) echo "/usr/bin/g++ -O1 -std=gnu++17 -o $d/prog $d/code.cpp -lm && $d/prog" ;;
	php) echo "/usr/bin/php $d/code.php" ;;
	rs) echo "/usr/bin/rustc -C opt-level=0 -C debuginfo=0 -o $d/prog $d/main.rs && $d/prog" ;;
	r) echo "/usr/bin/Rscript --no-init-file $d/code.r" ;;
	f90) echo "/usr/bin/gfortran -o $d/prog $d/code.f90 && $d/prog" ;;
	d) echo "/usr/bin/ldc2 -of=$d/prog -od=$d $d/code.d && $d/prog" ;;
	bash) echo "/bin/bash $d/code.sh" ;;
	esac
}

file_for() {
	case $1 in
	py) echo code.py ;; js) echo code.js ;; ts) echo code.ts ;; go) echo main.go ;;
	java) echo Main.java ;; c) echo code.c ;; cpp) echo code.cpp ;; php) echo code.php ;;
	rs) echo main.rs ;; r) echo code.r ;; f90) echo code.f90 ;; d) echo code.d ;;
	bash) echo code.sh ;;
	esac
}

median_ms() { # json file, index -> median in ms
	python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][int(sys.argv[2])]; print('%.1f' % (r['median']*1000))" "$1" "$2"
}

printf '%-5s %10s %10s %10s\n' lang bare_ms kcr_ms over_ms
for l in $langs; do
	d=$work/$l; mkdir -p "$d"
	f=$(file_for "$l"); src "$l" > "$d/$f"
	printf '#!/bin/bash\n{ cat %s; echo "%s"; } > %s\nrm -f %s\n' "$d/$f.orig" \
		"\$($top/bench/hello.sh --comment $l)" "$d/$f" "$d/prog" > "$d/prep"
	cp "$d/$f" "$d/$f.orig"; chmod +x "$d/prep"
	hyperfine -N -w 2 -r "$runs" --export-json "$d/r.json" --prepare "$d/prep" \
		-n bare "env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=$d LANG=C.UTF-8 sh -c '$(bare "$l" "$d")'" \
		-n kcr "$KCR exec -l $l $d/$f" >/dev/null 2>&1 || { echo "$l: failed"; continue; }
	b=$(median_ms "$d/r.json" 0); k=$(median_ms "$d/r.json" 1)
	printf '%-5s %10s %10s %10s\n' "$l" "$b" "$k" "$(python3 -c "print('%.1f' % ($k-$b))")"
done

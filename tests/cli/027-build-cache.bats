#!/usr/bin/env bats
# The Go build cache and Java's class-data archive shared by local
# sandboxes (sandbox.build_cache,
# lib/sandbox/local_cache.c): filled once, read-only to programs, nothing
# one execution writes reaches the next, filled again when missing or
# damaged. Needs root (the fill maps the program's files to kcr's).

load helpers

setup() {
	kcr_setup
	require_sandbox
	[ "$(id -u)" = 0 ] || skip "the shared build cache needs kcr running as root"
	[ -x /usr/bin/go ] || skip "go is not installed"
	# a sandbox's root reaches the caches by path: not under the test's
	# private tmp dir
	CACHE=$(mktemp -d /tmp/kcr-build-cache.XXXXXX)
	kcr_track_path "$CACHE"
	chmod 711 "$CACHE"
	export KCR_SANDBOX_BUILD_CACHE_DIR=$CACHE/caches
	cat >hello.go <<'GO'
package main

import "fmt"

func main() { fmt.Println("Hello, World!") }
GO
}

# the cache's files and their checksums, as the host sees them
cache_sums() {
	(cd "$KCR_SANDBOX_BUILD_CACHE_DIR" && find . -type f -print0 | sort -z |
		xargs -0 md5sum)
}

cache_dir() {
	ls -d "$KCR_SANDBOX_BUILD_CACHE_DIR"/go-* | grep -v '\.fill-\|\.old-'
}

@test "go: the first run fills the cache, sealed, with its marker" {
	run_kcr exec hello.go
	assert_stdout_is $'Hello, World!\n'
	d=$(cache_dir)
	[ -d "$d" ]
	assert_equal "$(cat "$d/.kcr-complete")" "$(basename "$d")"
	# the caches' directory: others may pass, not list
	assert_equal "$(stat -c %a "$KCR_SANDBOX_BUILD_CACHE_DIR")" 711
	# nothing in it writable, nothing owned by the program's uid
	assert_equal "$(find "$d" -perm /222 | wc -l)" 0
	assert_equal "$(find "$d" ! -uid 100000 | wc -l)" 0
	# and it is used: the program sees the standard library's entries
	cat >count.go <<'GO'
package main

import (
	"fmt"
	"os"
)

func main() {
	n := 0
	for i := 0; i < 256; i++ {
		e, _ := os.ReadDir(fmt.Sprintf("/tmp/.gocache/%02x", i))
		n += len(e)
	}
	fmt.Println(n > 50)
}
GO
	run_kcr exec count.go
	assert_stdout_is $'true\n'
}

@test "go: a program cannot change the shared cache, and the next one sees none of its writes" {
	run_kcr exec hello.go
	before=$(cache_sums)
	cat >poison.go <<GO
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

const onHost = "$(cache_dir)"

func main() {
	// a new entry, and every existing one overwritten, removed, chmod'ed
	os.WriteFile("/tmp/.gocache/00/poison-d", []byte("poison"), 0644)
	os.WriteFile("/tmp/.gocache/poison.txt", []byte("poison"), 0644)
	kcrs, changed := 0, 0
	filepath.Walk("/tmp/.gocache", func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || info.Sys().(*syscall.Stat_t).Uid != 0 {
			return nil
		}
		kcrs++
		if os.WriteFile(p, []byte("poison"), 0644) == nil {
			changed++
		}
		os.Chmod(p, 0666)
		os.Remove(p)
		return nil
	})
	// the host's directory is nowhere in the sandbox
	_, err := os.Stat(onHost)
	fmt.Println(kcrs > 50, "changed", changed, "host path visible", err == nil)
	os.RemoveAll("/tmp/.gocache/01")
}
GO
	run_kcr exec poison.go
	# the files kcr filled (root's, in the sandbox) are read-only to it
	assert_stdout_is $'true changed 0 host path visible false\n'
	assert_equal "$(cache_sums)" "$before"
	[ ! -e "$(cache_dir)/poison.txt" ]
	cat >look.go <<'GO'
package main

import (
	"fmt"
	"os"
)

func main() {
	_, a := os.Stat("/tmp/.gocache/00/poison-d")
	_, b := os.Stat("/tmp/.gocache/poison.txt")
	n := 0
	for i := 0; i < 256; i++ {
		e, _ := os.ReadDir(fmt.Sprintf("/tmp/.gocache/%02x", i))
		n += len(e)
	}
	fmt.Println(os.IsNotExist(a), os.IsNotExist(b), n > 50)
}
GO
	run_kcr exec look.go
	assert_stdout_is $'true true true\n'
	run_kcr exec hello.go
	assert_stdout_is $'Hello, World!\n'
}

@test "go: a deleted or damaged cache is filled again" {
	run_kcr exec hello.go
	d=$(cache_dir)
	rm -rf "$d"
	run_kcr exec hello.go
	assert_stdout_is $'Hello, World!\n'
	assert_equal "$(cat "$d/.kcr-complete")" "$(basename "$d")"
	# a marker that does not hold the cache's name: not trusted
	chmod u+w "$d"
	rm -f "$d/.kcr-complete"
	echo damaged >"$d/.kcr-complete"
	run_kcr exec hello.go
	assert_stdout_is $'Hello, World!\n'
	assert_equal "$(cat "$d/.kcr-complete")" "$(basename "$d")"
	# no fill or old directory is left behind
	assert_equal "$(ls "$KCR_SANDBOX_BUILD_CACHE_DIR" | wc -l)" 1
}

@test "go: sandbox.build_cache false: no cache, the same output" {
	KCR_SANDBOX_BUILD_CACHE=false run_kcr exec hello.go
	assert_stdout_is $'Hello, World!\n'
	[ ! -e "$KCR_SANDBOX_BUILD_CACHE_DIR" ]
}

@test "java: the class-data archive is filled once, read-only, and a program that replaces it changes nothing for the next" {
	[ -x /usr/bin/java ] || skip "java is not installed"
	cat >Main.java <<'JAVA'
public class Main { public static void main(String[] a) { System.out.println("Hello, World!"); } }
JAVA
	run_kcr exec Main.java
	assert_stdout_is $'Hello, World!\n'
	assert_equal "$stderr" ""
	d=$(ls -d "$KCR_SANDBOX_BUILD_CACHE_DIR"/java-*)
	[ -s "$d/java.jsa" ]
	assert_equal "$(find "$d" -perm /222 | wc -l)" 0
	before=$(cache_sums)
	cat >Poison.java <<'JAVA'
import java.nio.file.*;
public class Poison {
    public static void main(String[] a) throws Exception {
        Path jsa = Paths.get("/tmp/.kcr-cds/java.jsa");
        String over;
        try { Files.write(jsa, new byte[] { 1, 2, 3 }); over = "overwritten"; }
        catch (Exception e) { over = "refused"; }
        Files.delete(jsa);
        Files.write(jsa, new byte[] { 1, 2, 3 });
        System.out.println(over + " " + Files.size(jsa));
    }
}
JAVA
	run_kcr exec -l java Poison.java
	# its own copy, in its own upper layer
	assert_stdout_is $'refused 3\n'
	assert_equal "$(cache_sums)" "$before"
	cat >Look.java <<'JAVA'
import java.nio.file.*;
public class Look {
    public static void main(String[] a) throws Exception {
        System.out.println(Files.size(Paths.get("/tmp/.kcr-cds/java.jsa")) > 1000);
    }
}
JAVA
	run_kcr exec -l java Look.java
	assert_stdout_is $'true\n'
	assert_equal "$stderr" ""
}

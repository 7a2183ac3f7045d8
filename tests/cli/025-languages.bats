#!/usr/bin/env bats
# Every language: hello world, stdin, arguments and a file written to its
# cwd (/mnt/data) that comes back to the output dir.

load helpers

setup() {
	kcr_setup
	require_sandbox
}

# hello FILE: exactly "Hello, World!\n" on stdout, nothing on stderr; the
# language comes from the file's extension.
check_hello() {
	run_kcr exec "$1"
	assert_stdout_is $'Hello, World!\n'
	assert_equal "$stderr" ""
}

# stdin FILE LANG: the program sums the integers on stdin, one per line.
check_stdin() {
	printf '3\n4\n5\n' >nums.txt
	run_kcr exec --stdin nums.txt "$1"
	assert_stdout_is $'12\n'
	# the code from a pipe ('-'), the data from --stdin
	run_kcr exec -l "$2" --stdin nums.txt - < <(cat "$1")
	assert_stdout_is $'12\n'
}

# args FILE: the program prints each argument on a line of its own.
check_args() {
	run_kcr exec "$1" -- a 'b c'
	assert_stdout_is $'a\nb c\n'
}

# file FILE LANG: the program writes "written by LANG\n" to out.txt in its
# cwd; it must land in the output dir with exactly that content.
check_file() {
	local want="written by $2"
	run_kcr exec -o out "$1"
	assert_equal "$output" ""
	[ -f out/out.txt ] || fail "out/out.txt was not written"
	printf '%s\n' "$want" >want.txt
	cmp want.txt out/out.txt
	assert_stderr_line "kcr: wrote out/out.txt ($((${#want} + 1)) bytes)"
	assert_equal "$(list_files out)" "./out.txt"
}

# --- Python -----------------------------------------------------------------

@test "py: hello world" {
	echo 'print("Hello, World!")' >hello.py
	check_hello hello.py
}

@test "py: reads stdin" {
	cat >sum.py <<'EOF'
import sys

print(sum(int(line) for line in sys.stdin if line.strip()))
EOF
	check_stdin sum.py py
}

@test "py: reads its arguments" {
	cat >args.py <<'EOF'
import sys

for arg in sys.argv[1:]:
    print(arg)
EOF
	check_args args.py
}

@test "py: writes a file in its cwd" {
	cat >write.py <<'EOF'
with open("out.txt", "w") as f:
    f.write("written by py\n")
EOF
	check_file write.py py
}

# --- JavaScript -------------------------------------------------------------

@test "js: hello world" {
	echo 'console.log("Hello, World!");' >hello.js
	check_hello hello.js
}

@test "js: reads stdin" {
	cat >sum.js <<'EOF'
const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
console.log(lines.reduce((sum, line) => sum + Number(line), 0));
EOF
	check_stdin sum.js js
}

@test "js: reads its arguments" {
	cat >args.js <<'EOF'
for (const arg of process.argv.slice(2)) console.log(arg);
EOF
	check_args args.js
}

@test "js: writes a file in its cwd" {
	cat >write.js <<'EOF'
require("fs").writeFileSync("out.txt", "written by js\n");
EOF
	check_file write.js js
}

# --- TypeScript -------------------------------------------------------------

@test "ts: hello world" {
	cat >hello.ts <<'EOF'
const greeting: string = "Hello, World!";
console.log(greeting);
EOF
	check_hello hello.ts
}

@test "ts: reads stdin" {
	cat >sum.ts <<'EOF'
import { readFileSync } from "fs";

const nums: number[] = readFileSync(0, "utf8")
  .split("\n")
  .filter((line) => line.trim() !== "")
  .map(Number);
console.log(nums.reduce((a, b) => a + b, 0));
EOF
	check_stdin sum.ts ts
}

@test "ts: reads its arguments" {
	cat >args.ts <<'EOF'
const args: string[] = process.argv.slice(2);
for (const arg of args) console.log(arg);
EOF
	check_args args.ts
}

@test "ts: writes a file in its cwd" {
	cat >write.ts <<'EOF'
import { writeFileSync } from "fs";

writeFileSync("out.txt", "written by ts\n");
EOF
	check_file write.ts ts
}

# --- Go -----------------------------------------------------------------------

@test "go: hello world" {
	cat >hello.go <<'EOF'
package main

import "fmt"

func main() {
	fmt.Println("Hello, World!")
}
EOF
	check_hello hello.go
}

@test "go: reads stdin" {
	cat >sum.go <<'EOF'
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
)

func main() {
	sum := 0
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			sum += n
		}
	}
	fmt.Println(sum)
}
EOF
	check_stdin sum.go go
}

@test "go: reads its arguments" {
	cat >args.go <<'EOF'
package main

import (
	"fmt"
	"os"
)

func main() {
	for _, arg := range os.Args[1:] {
		fmt.Println(arg)
	}
}
EOF
	check_args args.go
}

@test "go: writes a file in its cwd" {
	cat >write.go <<'EOF'
package main

import "os"

func main() {
	if err := os.WriteFile("out.txt", []byte("written by go\n"), 0o644); err != nil {
		panic(err)
	}
}
EOF
	check_file write.go go
}

@test "go: GOMAXPROCS is the CPU limit, rounded up, not the machine's cores" {
	cat >procs.go <<'EOF'
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Println(os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0))
}
EOF
	KCR_CPUS=1 run --separate-stderr "$KCR" exec -l go procs.go
	assert_success
	assert_output '1 1'
	KCR_CPUS=1.5 run --separate-stderr "$KCR" exec -l go procs.go
	assert_success
	assert_output '2 2'
}

# --- Java (single-file source launch) -----------------------------------------

@test "java: hello world" {
	cat >Main.java <<'EOF'
public class Main {
    public static void main(String[] args) {
        System.out.println("Hello, World!");
    }
}
EOF
	check_hello Main.java
}

@test "java: reads stdin (a class not named Main)" {
	cat >SumStdin.java <<'EOF'
import java.util.Scanner;

public class SumStdin {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long sum = 0;
        while (in.hasNextLong()) {
            sum += in.nextLong();
        }
        System.out.println(sum);
    }
}
EOF
	check_stdin SumStdin.java java
}

@test "java: reads its arguments" {
	cat >Main.java <<'EOF'
public class Main {
    public static void main(String[] args) {
        for (String arg : args) {
            System.out.println(arg);
        }
    }
}
EOF
	check_args Main.java
}

@test "java: writes a file in its cwd" {
	cat >Main.java <<'EOF'
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

public class Main {
    public static void main(String[] args) throws IOException {
        Files.writeString(Path.of("out.txt"), "written by java\n");
    }
}
EOF
	check_file Main.java java
}

# --- C ------------------------------------------------------------------------

@test "c: hello world" {
	cat >hello.c <<'EOF'
#include <stdio.h>

int main(void)
{
	puts("Hello, World!");
	return 0;
}
EOF
	check_hello hello.c
}

@test "c: reads stdin" {
	cat >sum.c <<'EOF'
#include <stdio.h>

int main(void)
{
	long n, sum = 0;

	while (scanf("%ld", &n) == 1)
		sum += n;
	printf("%ld\n", sum);
	return 0;
}
EOF
	check_stdin sum.c c
}

@test "c: reads its arguments" {
	cat >args.c <<'EOF'
#include <stdio.h>

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		puts(argv[i]);
	return 0;
}
EOF
	check_args args.c
}

@test "c: writes a file in its cwd" {
	cat >write.c <<'EOF'
#include <stdio.h>

int main(void)
{
	FILE *f = fopen("out.txt", "w");

	if (f == NULL)
		return 1;
	fputs("written by c\n", f);
	return fclose(f) == 0 ? 0 : 1;
}
EOF
	check_file write.c c
}

@test "c: a syntax error exits non-zero with the compiler's message" {
	cat >broken.c <<'EOF'
#include <stdio.h>

int main(void)
{
	puts("never printed")
	return 0;
}
EOF
	run_kcr '?' exec broken.c
	[ "$status" -ne 0 ] || fail "a program that does not compile exited 0"
	[ "$status" -ne 124 ] && [ "$status" -ne 125 ] ||
		fail "a compile error is the program's failure, not a timeout or kcr's (exit $status)"
	assert_equal "$output" ""
	assert_stderr_regex "error: expected .;. before .return."
	# gcc names the line: 5 is the statement missing its ';'
	assert_stderr_regex ':[56]:[0-9]+: error:'
}

# --- C++ ----------------------------------------------------------------------

@test "cpp: hello world" {
	cat >hello.cpp <<'EOF'
#include <iostream>

int main()
{
	std::cout << "Hello, World!" << std::endl;
}
EOF
	check_hello hello.cpp
}

@test "cpp: reads stdin" {
	cat >sum.cpp <<'EOF'
#include <iostream>

int main()
{
	long n, sum = 0;
	while (std::cin >> n)
		sum += n;
	std::cout << sum << '\n';
}
EOF
	check_stdin sum.cpp cpp
}

@test "cpp: reads its arguments" {
	cat >args.cpp <<'EOF'
#include <iostream>

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		std::cout << argv[i] << '\n';
}
EOF
	check_args args.cpp
}

@test "cpp: writes a file in its cwd" {
	cat >write.cpp <<'EOF'
#include <fstream>

int main()
{
	std::ofstream out("out.txt");
	out << "written by cpp\n";
	return out.good() ? 0 : 1;
}
EOF
	check_file write.cpp cpp
}

# --- PHP ----------------------------------------------------------------------

@test "php: hello world" {
	cat >hello.php <<'EOF'
<?php
echo "Hello, World!\n";
EOF
	check_hello hello.php
}

@test "php: reads stdin" {
	cat >sum.php <<'EOF'
<?php
$sum = 0;
while (($line = fgets(STDIN)) !== false) {
    $sum += (int) $line;
}
echo $sum, "\n";
EOF
	check_stdin sum.php php
}

@test "php: reads its arguments" {
	cat >args.php <<'EOF'
<?php
foreach (array_slice($argv, 1) as $arg) {
    echo $arg, "\n";
}
EOF
	check_args args.php
}

@test "php: writes a file in its cwd" {
	cat >write.php <<'EOF'
<?php
file_put_contents("out.txt", "written by php\n");
EOF
	check_file write.php php
}

# --- Rust ---------------------------------------------------------------------

@test "rs: hello world" {
	cat >hello.rs <<'EOF'
fn main() {
    println!("Hello, World!");
}
EOF
	check_hello hello.rs
}

@test "rs: reads stdin" {
	cat >sum.rs <<'EOF'
use std::io::{self, BufRead};

fn main() {
    let sum: i64 = io::stdin()
        .lock()
        .lines()
        .filter_map(|line| line.ok()?.trim().parse::<i64>().ok())
        .sum();
    println!("{}", sum);
}
EOF
	check_stdin sum.rs rs
}

@test "rs: reads its arguments" {
	cat >args.rs <<'EOF'
fn main() {
    for arg in std::env::args().skip(1) {
        println!("{}", arg);
    }
}
EOF
	check_args args.rs
}

@test "rs: writes a file in its cwd" {
	cat >write.rs <<'EOF'
fn main() -> std::io::Result<()> {
    std::fs::write("out.txt", "written by rs\n")
}
EOF
	check_file write.rs rs
}

# --- R ------------------------------------------------------------------------

@test "r: hello world" {
	echo 'cat("Hello, World!\n")' >hello.R
	check_hello hello.R
}

@test "r: reads stdin" {
	cat >sum.r <<'EOF'
nums <- scan(file("stdin"), quiet = TRUE)
cat(sum(nums), "\n", sep = "")
EOF
	check_stdin sum.r r
}

@test "r: reads its arguments" {
	cat >args.r <<'EOF'
for (arg in commandArgs(trailingOnly = TRUE)) cat(arg, "\n", sep = "")
EOF
	check_args args.r
}

@test "r: writes a file in its cwd" {
	echo 'writeLines("written by r", "out.txt")' >write.r
	check_file write.r r
}

# --- Fortran ------------------------------------------------------------------

@test "f90: hello world" {
	cat >hello.f90 <<'EOF'
program hello
  implicit none
  print '(A)', 'Hello, World!'
end program hello
EOF
	check_hello hello.f90
}

@test "f90: reads stdin" {
	cat >sum.f90 <<'EOF'
program sum_stdin
  implicit none
  integer :: n, total, ios
  total = 0
  do
    read (*, *, iostat=ios) n
    if (ios /= 0) exit
    total = total + n
  end do
  print '(I0)', total
end program sum_stdin
EOF
	check_stdin sum.f90 f90
}

@test "f90: reads its arguments" {
	cat >args.f90 <<'EOF'
program args
  implicit none
  integer :: i
  character(len=256) :: arg
  do i = 1, command_argument_count()
    call get_command_argument(i, arg)
    print '(A)', trim(arg)
  end do
end program args
EOF
	check_args args.f90
}

@test "f90: writes a file in its cwd" {
	cat >write.f90 <<'EOF'
program write_file
  implicit none
  integer :: u
  open (newunit=u, file='out.txt', status='replace', action='write')
  write (u, '(A)') 'written by f90'
  close (u)
end program write_file
EOF
	check_file write.f90 f90
}

# --- D ------------------------------------------------------------------------

@test "d: hello world" {
	cat >hello.d <<'EOF'
import std.stdio;

void main()
{
    writeln("Hello, World!");
}
EOF
	check_hello hello.d
}

@test "d: reads stdin" {
	cat >sum.d <<'EOF'
import std.conv, std.stdio, std.string;

void main()
{
    long sum = 0;
    foreach (line; stdin.byLine)
        if (line.strip.length)
            sum += line.strip.to!long;
    writeln(sum);
}
EOF
	check_stdin sum.d d
}

@test "d: reads its arguments" {
	cat >args.d <<'EOF'
import std.stdio;

void main(string[] args)
{
    foreach (arg; args[1 .. $])
        writeln(arg);
}
EOF
	check_args args.d
}

@test "d: writes a file in its cwd" {
	cat >write.d <<'EOF'
import std.file : write;

void main()
{
    write("out.txt", "written by d\n");
}
EOF
	check_file write.d d
}

# --- Bash ---------------------------------------------------------------------

@test "bash: hello world" {
	echo 'echo "Hello, World!"' >hello.sh
	check_hello hello.sh
}

@test "bash: reads stdin" {
	cat >sum.sh <<'EOF'
sum=0
while read -r n; do
	sum=$((sum + n))
done
echo "$sum"
EOF
	check_stdin sum.sh bash
}

@test "bash: reads its arguments" {
	cat >args.sh <<'EOF'
for arg in "$@"; do
	echo "$arg"
done
EOF
	check_args args.sh
}

@test "bash: writes a file in its cwd" {
	echo 'echo "written by bash" >out.txt' >write.sh
	check_file write.sh bash
}

#!/usr/bin/env bats
# All 13 languages through POST /exec (the 12 classic ids plus bash,
# spec librechat-api.md §3): hello world, stdout exact, nothing on stderr.

load serve_helpers

setup_file() {
	start_server main
}

hello() { # LANG CODE
	exec_code "$1" "$2"
	assert_status 200
	assert_json 're.fullmatch(r"[A-Za-z0-9_-]{21}", j["session_id"])'
	assert_json_eq 'j["stdout"]' 'Hello, World!'
	assert_json 'j["stdout"] == "Hello, World!\n"'
	assert_json 'j["stderr"] == ""'
	# no compiler output or source file is reported as a generated file
	assert_json 'j["files"] == []'
}

@test "py" {
	hello py 'print("Hello, World!")'
}

@test "js" {
	hello js 'console.log("Hello, World!");'
}

@test "ts" {
	hello ts $'const greeting: string = "Hello, World!";\nconsole.log(greeting);'
}

@test "go" {
	hello go $'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello, World!")\n}'
}

@test "java (class Code, as KubeCodeRun requires)" {
	hello java $'public class Code {\n    public static void main(String[] args) {\n        System.out.println("Hello, World!");\n    }\n}'
}

@test "java (a class with another name)" {
	hello java $'public class Main {\n    public static void main(String[] args) {\n        System.out.println("Hello, World!");\n    }\n}'
}

@test "c" {
	hello c $'#include <stdio.h>\n\nint main(void)\n{\n\tputs("Hello, World!");\n\treturn 0;\n}'
}

@test "cpp" {
	hello cpp $'#include <iostream>\n\nint main()\n{\n\tstd::cout << "Hello, World!" << std::endl;\n}'
}

@test "php" {
	hello php $'<?php\necho "Hello, World!\\n";'
}

@test "rs" {
	hello rs $'fn main() {\n    println!("Hello, World!");\n}'
}

@test "r" {
	hello r 'cat("Hello, World!\n")'
}

@test "f90" {
	hello f90 $'program hello\n  implicit none\n  print \'(A)\', \'Hello, World!\'\nend program hello'
}

@test "d" {
	hello d $'import std.stdio;\n\nvoid main()\n{\n    writeln("Hello, World!");\n}'
}

@test "bash" {
	hello bash 'echo "Hello, World!"'
}

@test "lang is matched case-insensitively (PY, Js)" {
	hello PY 'print("Hello, World!")'
	hello Js 'console.log("Hello, World!");'
}

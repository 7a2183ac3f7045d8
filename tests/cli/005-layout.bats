#!/usr/bin/env bats
# scripts/check-layout.sh, the check behind lib/README.md's rules, catches
# what it is for: each rule is broken once in a small copy of the tree.

load helpers

CHECK=${KCR_SRCDIR:-$BATS_TEST_DIRNAME/../..}/scripts/check-layout.sh

# A tree that keeps every rule: lib/README.md's rules, a base and an
# engine file, and a command.
make_tree() {
	local t=$BATS_TEST_TMPDIR/tree
	mkdir -p "$t/lib/base" "$t/lib/engine" "$t/bin" "$t/runner" "$t/tests/unit"
	cp "${KCR_SRCDIR:-$BATS_TEST_DIRNAME/../..}/lib/README.md" "$t/lib/"
	printf '#ifndef A_H\n#define A_H\nint a(void);\n#endif\n' > "$t/lib/base/a.h"
	printf '#include <config.h>\n\n#include "base/a.h"\n\nint a(void) { return 0; }\n' \
		> "$t/lib/base/a.c"
	printf '#include <config.h>\n\n#include "base/a.h"\n#include "engine/e-internal.h"\n' \
		> "$t/lib/engine/e.c"
	printf '#ifndef E_H\n#define E_H\n#endif\n' > "$t/lib/engine/e-internal.h"
	printf '#include <config.h>\n\n#include "base/a.h"\n' > "$t/bin/main.c"
	echo "$t"
}

@test "the tree as it is keeps every layout rule" {
	run bash "$CHECK"
	assert_success
	refute_output --partial 'not ok'
}

@test "a tree that keeps the rules passes" {
	local t; t=$(make_tree)
	run bash "$CHECK" "$t"
	assert_success
	refute_output --partial 'not ok'
}

@test "base including engine breaks the include rules" {
	local t; t=$(make_tree)
	printf '#include <config.h>\n\n#include "engine/e-internal.h"\n' > "$t/lib/base/b.c"
	run bash "$CHECK" "$t"
	assert_output --partial 'not ok 1 - includes follow the rules'
	assert_output --partial 'lib/base/b.c includes engine/e-internal.h: base may include only base'
}

@test "a bare-name include in lib/ and a file over 800 lines are caught" {
	local t; t=$(make_tree)
	printf '#include <config.h>\n\n#include "a.h"\n' > "$t/lib/base/c.c"
	seq 801 | sed 's|.*|/* & */|' >> "$t/lib/base/a.c"
	run bash "$CHECK" "$t"
	assert_output --partial 'lib/base/c.c includes "a.h": name its folder'
	assert_output --partial 'lib/base/a.c: 806 lines (at most 800)'
}

@test "<config.h> not first, a private header used outside its folder, and a lib config.h are caught" {
	local t; t=$(make_tree)
	printf '#include "base/a.h"\n#include <config.h>\n' > "$t/lib/base/d.c"
	printf '#include <config.h>\n\n#include "engine/e-internal.h"\n' > "$t/bin/cmd_x.c"
	: > "$t/lib/base/config.h"
	run bash "$CHECK" "$t"
	assert_output --partial 'lib/base/d.c: the first include is not <config.h>'
	assert_output --partial 'bin/cmd_x.c includes engine/e-internal.h, private to lib/engine/'
	assert_output --partial "lib/base/config.h shadows autoconf's config.h"
}

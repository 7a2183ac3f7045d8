/* The cgroup layout parsers on made-up /proc/self/mountinfo and
 * /proc/self/cgroup contents: v2 hosts, containers whose cgroup mount
 * root is not '/', and v1 hierarchies (with escaped mount points). */
#include <config.h>

#include "sandbox/cgroup-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int
own_is(const char *mi, const char *pc, const char *ctrl, const char *want)
{
	char *got = cg_own_dir(mi, pc, ctrl);
	int ok = want == NULL ? got == NULL : got && strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "# %s: got %s, want %s\n", ctrl ? ctrl : "v2", got ? got : "(null)",
			want ? want : "(null)");
	free(got);
	return ok;
}

static const char mi_v2[] =
	"22 1 0:21 / /proc rw - proc proc rw\n"
	"30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
static const char mi_ct[] = "30 23 0:26 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n";
static const char mi_v1[] =
	"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	"32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
	"33 31 0:29 / /sys/fs/cgroup/with\\040space rw,relatime - cgroup cgroup rw,pids\n";
static const char pc_v1[] = "12:pids:/a\n4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/\n";

static int
test_v2(void)
{
	TAP_ASSERT(own_is(mi_v2, "0::/system.slice/kcr.service\n", NULL,
			  "/sys/fs/cgroup/system.slice/kcr.service"));
	TAP_ASSERT(own_is(mi_v2, "0::/system.slice/kcr.service\n", "memory", NULL));
	return 0;
}

static int
test_container_root(void)
{
	/* the mount's root is the container's cgroup: strip it */
	TAP_ASSERT(own_is(mi_ct, "0::/docker/abc/sub\n", NULL, "/sys/fs/cgroup/sub"));
	TAP_ASSERT(own_is(mi_ct, "0::/\n", NULL, NULL));
	return 0;
}

static int
test_v1(void)
{
	TAP_ASSERT(own_is(mi_v1, pc_v1, "memory", "/sys/fs/cgroup/memory/process_api/x"));
	TAP_ASSERT(own_is(mi_v1, pc_v1, "cpu", "/sys/fs/cgroup/cpu,cpuacct"));
	TAP_ASSERT(own_is(mi_v1, pc_v1, "pids", "/sys/fs/cgroup/with space/a"));
	TAP_ASSERT(own_is(mi_v1, pc_v1, NULL, NULL));
	return 0;
}

static int
test_words(void)
{
	TAP_ASSERT(cg_has_word("cpuset cpu io memory pids", "cpu", " \n"));
	TAP_ASSERT(!cg_has_word("cpuset io", "cpu", " \n"));
	TAP_ASSERT(cg_has_word("rw,cpu,cpuacct", "cpuacct", ","));
	return 0;
}

int
main(void)
{
	TAP_PLAN(4);
	RUN_TEST(test_v2);
	RUN_TEST(test_container_root);
	RUN_TEST(test_v1);
	RUN_TEST(test_words);
	return TAP_DONE();
}

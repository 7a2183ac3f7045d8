/* What the files of the cgroup code (lib/sandbox/cgroup*.c) share, and
 * the unit tests (tests/unit/test_cgroup.c): the controllers kcr limits,
 * and where kcr's own cgroups are, parsed from /proc/self/mountinfo and
 * /proc/self/cgroup. */
#ifndef KCR_CGROUP_INTERNAL_H
#define KCR_CGROUP_INTERNAL_H

#include "sandbox/cgroup.h"

#include <stdbool.h>

enum { CG_MEMORY, CG_PIDS, CG_CPU, CG_N };

static const char *const cg_names[CG_N] = { "memory", "pids", "cpu" };
_Static_assert(CG_N == KCR_CGROUP_MAX_FDS, "one tasks fd per controller");

/* kcr's own cgroups, found once per process. */
struct cg_layout {
	enum kcr_cgroup_version version;
	char *dir[CG_N]; /* kcr's cgroup per controller, NULL when absent */
	char reason[256];
};

char *cg_slurp(const char *path);
bool cg_has_word(const char *list, const char *w, const char *seps);
const struct cg_layout *cg_layout_get(void);

/* kcr's cgroup directory for controller ctrl (NULL: the v2 one) from the
 * text of /proc/self/mountinfo and /proc/self/cgroup, or NULL. */
char *cg_own_dir(const char *mountinfo, const char *proc_cgroup, const char *ctrl);

#endif

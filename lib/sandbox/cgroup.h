/* Per-sandbox cgroups. The version is detected at run time: cgroup v2 when
 * the unified hierarchy offers the memory controller to kcr's cgroup, else
 * v1 with one hierarchy per controller (memory, pids, cpu). A sandbox's
 * cgroup is "kcr-<id>" UNDER kcr's own cgroup (from /proc/self/cgroup);
 * kcr itself is never moved. */
#ifndef KCR_CGROUP_H
#define KCR_CGROUP_H

#include "base/error.h"
#include "base/exec.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum kcr_cgroup_version {
	KCR_CGROUP_NONE = 0, /* no usable memory, pids or cpu controller */
	KCR_CGROUP_V1 = 1,
	KCR_CGROUP_V2 = 2,
};

/* What `kcr doctor` shows. */
struct kcr_cgroup_info {
	enum kcr_cgroup_version version;
	bool memory, pids, cpu; /* a child cgroup can be created and limited */
	bool swap;              /* swap is limited too (memsw, memory.swap.max) */
	bool kill;              /* cgroup.kill kills a whole cgroup at once (v2) */
	char parent[256];       /* where sandbox cgroups go (the memory one on v1) */
	char reason[256];       /* one line when something is not usable, else "" */
};

struct kcr_cgroup;

/* Detects the layout and tries to create and remove a probe cgroup under
 * each controller. Never fails; info->reason says what is missing. */
void kcr_cgroup_probe(struct kcr_cgroup_info *info);
const char *kcr_cgroup_version_name(enum kcr_cgroup_version v);

/* Creates kcr-<id> under kcr's cgroup for every available controller and
 * sets the limits of l (memory_mb, pids, cpus; 0 leaves one unlimited).
 * Fails with KCR_E_UNAVAILABLE when cgroups cannot be used here (no
 * controllers, not root, read-only): callers warn and go on without. */
int kcr_cgroup_create(const char *id, const struct kcr_limits *l, struct kcr_cgroup **out,
		      kcr_error_t *err);
/* v2 only: a directory fd of the sandbox's cgroup for clone3's
 * CLONE_INTO_CGROUP, which starts a child inside it without the cost of a
 * migration (an RCU grace period, ~10 ms). -1 on v1. Owned by cg. */
int kcr_cgroup_fd(const struct kcr_cgroup *cg);
/* v1: opens the "tasks" file of each of the sandbox's cgroups for writing
 * into fds (the rest set to -1) and returns how many. A single-threaded
 * process that writes "0" to them moves itself without the global lock a
 * move by pid takes (an RCU grace period, ~10 ms): the sandbox's child
 * does that right after clone. The write is checked against the opener's
 * credentials, so the child may already be in its user namespace. The fds
 * are the caller's (close-on-exec). v2 and no cgroup: returns 0. */
#define KCR_CGROUP_MAX_FDS 3
int kcr_cgroup_open_tasks(const struct kcr_cgroup *cg, int fds[KCR_CGROUP_MAX_FDS],
			  kcr_error_t *err);
/* Files a process joins cg through by writing "0" to each, itself: v1's
 * "tasks" of each hierarchy, or v2's "cgroup.procs". Returns how many. */
int kcr_cgroup_open_join(const struct kcr_cgroup *cg, int fds[KCR_CGROUP_MAX_FDS],
			 kcr_error_t *err);
/* Moves pid (a process of kcr's pid namespace) into the cgroup. */
int kcr_cgroup_add_pid(struct kcr_cgroup *cg, pid_t pid, kcr_error_t *err);
/* How often the OOM killer killed a task of the cgroup (memory.oom_control
 * or memory.events "oom_kill"), and how often a fork failed at pids.max
 * (pids.events "max"). 0 when the controller is not in use. */
uint64_t kcr_cgroup_oom_kills(const struct kcr_cgroup *cg);
uint64_t kcr_cgroup_pids_hit(const struct kcr_cgroup *cg);
/* SIGKILLs every task in the cgroup (cgroup.kill on v2). */
void kcr_cgroup_kill(struct kcr_cgroup *cg);
/* Kills what is left, removes the directories (retrying briefly while the
 * kernel still counts tasks) and frees cg, also on failure. NULL is a no-op. */
int kcr_cgroup_destroy(struct kcr_cgroup *cg, kcr_error_t *err);
/* Removes the kcr-* cgroups under kcr's own that hold no task and were
 * created at least min_age_s seconds ago: what a crashed kcr left behind.
 * keep (NULL: none) spares an id without trying. Returns how many went. */
int kcr_cgroup_prune(unsigned int min_age_s, bool (*keep)(const char *id));
/* The ids of the kcr-<id> cgroups under kcr's own, each once (a strv, the
 * caller's; NULL when there are none). */
char **kcr_cgroup_list(void);
/* The existing cgroups kcr-<id> under kcr's own, for kcr_cgroup_destroy()
 * to kill what runs there and remove them; NULL when there are none. */
struct kcr_cgroup *kcr_cgroup_find(const char *id);
/* The sandbox's memory cgroup directory (or the first one in use). */
const char *kcr_cgroup_path(const struct kcr_cgroup *cg);

#endif

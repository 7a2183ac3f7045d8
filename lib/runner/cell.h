/* Warm cells, the runner side of the fork-server (DESIGN.md §2, Pool).
 *
 * A runner started with --zygote=py starts zygotes: Pythons that have
 * imported what they need once (lib/runner/pyboot.py): a bare one, and one with
 * pool.py_preload. Each cell is a child a zygote clones for one execution into fresh pid, mount, net, ipc and uts
 * namespaces, as a child of the runner; it joins the cgroups kcr made for
 * it, gets its own tmpfs /mnt/data, /tmp and /dev/shm and its own /proc,
 * becomes uid 1000 in a user namespace of its own without capabilities,
 * with no_new_privs, rlimits and the seccomp filter, and then waits for
 * its program. Its /mnt/data and /tmp are tmpfs the runner made without
 * mounting them anywhere (fsmount): the cell moves them into its own
 * mount namespace, the runner reaches them through their descriptors.
 *
 * So an execution costs a clone of an interpreter that is already set up,
 * instead of a sandbox and an interpreter start, and still gets all of
 * DESIGN.md §5, with nothing of one cell visible to another. */
#ifndef KCR_CELL_H
#define KCR_CELL_H

#include "base/error.h"
#include "base/exec.h"
#include "base/lang.h"

#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>

#define KCR_CELL_ID_MAX 40
#define KCR_ZYGOTES_MAX 8 /* of each kind in a runner (--zygotes) */

struct kcr_zygote;
struct kcr_cell;

struct kcr_cell_spec {
	const char *id;             /* [A-Za-z0-9_-], at most KCR_CELL_ID_MAX */
	struct kcr_limits limits;   /* nofile and file_size (rlimits), pids */
	uint32_t tmp_mb, data_mb;   /* tmpfs sizes */
	const int *join_fds;        /* cgroup files the cell writes "0" to */
	int n_join_fds;
};

/* Starts l's zygote (only Python has one) with the comma-separated
 * modules of preload imported; returns at once, the first spawn waits for
 * the imports. Call it while the runner has a single thread. */
int kcr_zygote_start(const struct kcr_lang *l, const char *preload, struct kcr_zygote **out,
		     kcr_error_t *err);
/* Whether it still answers spawns (it exited or failed to start: no). */
bool kcr_zygote_alive(struct kcr_zygote *z);
void kcr_zygote_free(struct kcr_zygote *z);

/* Zygotes of one kind (bare, or with the same imports). */
struct kcr_zygote_set {
	struct kcr_zygote *z[KCR_ZYGOTES_MAX]; /* NULL: it failed to start */
	int n;
	atomic_uint next; /* where the search for a free one starts */
};

/* A cell from whichever zygote of zs is free, else from the next in turn:
 * several are made at once. */
int kcr_cell_spawn(struct kcr_zygote_set *zs, const struct kcr_cell_spec *spec,
		   struct kcr_cell **out, kcr_error_t *err);
const char *kcr_cell_id(const struct kcr_cell *c);
/* The cell's /mnt/data, as the runner reaches it. */
const char *kcr_cell_data_dir(const struct kcr_cell *c);
/* Its single execution. KCR_E_CONFLICT: used already, or req doesn't fit. */
int kcr_cell_run(struct kcr_cell *c, const struct kcr_exec_request *req, struct kcr_exec_result *res,
		 kcr_error_t *err);
/* Set up and waiting for its program. */
bool kcr_cell_ready(struct kcr_cell *c);
/* Kills what is left of it and removes its file systems. */
void kcr_cell_free(struct kcr_cell *c);

#endif

#include <config.h>

#include "engine/pool_cost.h"

#include <string.h>

/* Measured (KiB) on a ready sandbox: its memory cgroup's charge, its
 * processes' private pages (smaps_rollup) and page tables (VmPTE), rounded
 * up. A cell's charge is small (what it wrote since the clone), but its
 * page tables and the pages it has copied are its own. Not counted: the
 * cells' host (~77 MiB with the default pool.py_preload), paid once. */
enum {
	/* a runner waiting, its tmpfs and the root it built (1.3 MiB charged,
	 * 1.1 MiB private, 0.1 MiB page tables): every language that starts
	 * its program on request */
	COST_RUNNER = 2 * 1024,
	/* Python cells, which copy as they are made the zygote's pages a
	 * program's run writes (lib/runner/pyboot.py, learn()): 1.4 MiB
	 * charged, 1.4 private, 0.07 page tables bare; 7.9, 7.9 and 0.25 with
	 * pool.py_preload, whose warm-up copied most of it already */
	COST_CELL_BARE = 2 * 1024,
	COST_CELL_PRELOAD = 8 * 1024,
	/* a Python of its own waiting for its program: 6.9 MiB bare, 62 MiB
	 * with the default pool.py_preload. Another interpreter started
	 * ahead adds its kcr_lang.prewarm_kib to its runner's: Node.js 7.1
	 * to 7.8 MiB in all, Bash 0.27 MiB private and 0.05 of page tables */
	COST_OWN_BARE = 7 * 1024,
	COST_OWN_PRELOAD = 62 * 1024,
};

/* Cells only where the local provider makes them (pool.fork_server, as
 * root); a kubernetes pod's interpreter is its own. */
static bool
cells(const struct kcr_config *cfg, const struct kcr_lang *l)
{
	return (l->caps & KCR_LANG_FORK_SERVER) && kcr_config_bool(cfg, "pool.fork_server") &&
	       strcmp(kcr_config_str(cfg, "sandbox.provider"), "local") == 0;
}

unsigned int
kcr_pool_cost_kib(const struct kcr_config *cfg, const struct kcr_lang *l, bool preload)
{
	preload = preload && (l->caps & KCR_LANG_PRELOAD);
	if (!(l->caps & KCR_LANG_PREWARM))
		return COST_RUNNER;
	if (cells(cfg, l))
		return preload ? COST_CELL_PRELOAD : COST_CELL_BARE;
	if (l->caps & KCR_LANG_PRELOAD)
		return preload ? COST_OWN_PRELOAD : COST_OWN_BARE;
	return COST_RUNNER + l->prewarm_kib;
}

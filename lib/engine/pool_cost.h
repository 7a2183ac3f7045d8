/* What one warm sandbox costs in memory, by kind, so that the pools'
 * targets can be kept within pool.memory_budget_mb (lib/engine/pool_adapt.h).
 * Estimates measured on this project's machines as the memory cgroup's
 * memory.current of a warm sandbox (kcr's own cgroups charge exactly
 * what the sandbox touched), see DEVELOPERS.md "Warm pools". */
#ifndef KCR_POOL_COST_H
#define KCR_POOL_COST_H

#include "base/lang.h"
#include "base/settings.h"

#include <stdbool.h>

/* KiB one warm sandbox of l costs; preload: one with pool.py_preload
 * imported (a language with KCR_LANG_PRELOAD). */
unsigned int kcr_pool_cost_kib(const struct kcr_config *cfg, const struct kcr_lang *l,
			       bool preload);

#endif

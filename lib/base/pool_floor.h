/* A language's pool floor: the warm sandboxes kept ready at least, what
 * pool.<lang> says. Read by the pool, by `kcr pool status` on a cluster
 * and by `kcr cluster check`, so that they agree. */
#ifndef KCR_POOL_FLOOR_H
#define KCR_POOL_FLOOR_H

#include "base/lang.h"
#include "base/settings.h"

/* 0 with pool.enabled false. pool.<lang> as set; left at its default on
 * the kubernetes provider (sandbox.provider), 0 for a language whose interpreter a pool pod
 * does not start ahead (KCR_LANG_PREWARM): a pod there costs a node's
 * memory and a scheduling slot, and saves only the pod's start, which a
 * Job pays as well. 0 too for one that compiles first (ts: its Node waits
 * in a pod, esbuild runs per execution), as KubeCodeRun's POD_POOL_TS. */
unsigned int kcr_pool_floor(const struct kcr_config *cfg, const struct kcr_lang *l);
/* The same for the pools of a provider named (kcr cluster check and kcr
 * pool status look at a cluster whatever sandbox.provider says). */
unsigned int kcr_pool_floor_of(const struct kcr_config *cfg, const struct kcr_lang *l,
			       const char *provider);

#endif

/* A language's pool floor: the warm sandboxes kept ready at least, what
 * pool.<lang> says. Read by the pool, by `kcr pool status` on a cluster
 * and by `kcr cluster check`, so that they agree. */
#ifndef KCR_POOL_FLOOR_H
#define KCR_POOL_FLOOR_H

#include "base/lang.h"
#include "base/settings.h"

/* 0 with pool.enabled false. pool.<lang> as set; left at its default on
 * the kubernetes provider (sandbox.provider), 0 but for the languages
 * KubeCodeRun keeps pods of (KCR_LANG_POD_POOL: Python and JavaScript): a
 * pod costs a node's memory and a scheduling slot, worth it where a heavy
 * interpreter waits in it. Not for one that compiles first (ts: its Node
 * would wait, esbuild runs per execution), as KubeCodeRun's POD_POOL_TS,
 * nor for Bash, whose start is a few milliseconds. */
unsigned int kcr_pool_floor(const struct kcr_config *cfg, const struct kcr_lang *l);
/* The same for the pools of a provider named (kcr cluster check and kcr
 * pool status look at a cluster whatever sandbox.provider says). */
unsigned int kcr_pool_floor_of(const struct kcr_config *cfg, const struct kcr_lang *l,
			       const char *provider);

#endif

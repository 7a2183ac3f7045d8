/* Warm sandbox pools (DESIGN.md §2): per language a target size (the
 * floor pool.<lang>, raised while demand lasts by lib/engine/pool_adapt.h
 * within pool.memory_budget_mb), a set of ready sandboxes, replenisher
 * threads that keep the set full without ever blocking a request, health
 * checks that replace dead sandboxes, and statistics. An acquire that
 * finds the set empty waits briefly for one a replenisher is finishing; a
 * miss (none coming, or limits a warm sandbox doesn't have) creates a
 * sandbox on the request path. A sandbox still serves exactly
 * one execution: release() destroys it. */
#ifndef KCR_POOL_H
#define KCR_POOL_H

#include "base/settings.h"
#include "base/error.h"
#include "sandbox/sandbox.h"

#include <stdbool.h>
#include <stdint.h>

struct kcr_pool;

struct kcr_pool_stats {
	const char *lang;      /* language id */
	unsigned int floor;    /* configured size (pool.<lang>) */
	unsigned int target;   /* what the pool keeps now: floor, or more after demand */
	unsigned int cost_kib; /* one warm sandbox's memory, estimated */
	unsigned int ready;    /* warm, waiting */
	unsigned int creating;
	unsigned int in_use;
	uint64_t created, failed, replaced, hits, misses;
	uint64_t wait_us_total, wait_us_max; /* a miss's time on the request path */
	uint64_t waits, waited_us_total;     /* hits that waited for one being made */
};

/* The adaptive targets' settings and what the targets cost. */
struct kcr_pool_budget {
	bool adaptive;
	unsigned int adaptive_max;
	uint64_t budget_kib; /* 0: none */
	uint64_t used_kib;   /* every target times its cost */
};

/* Cleans up what a kcr that died left behind (the provider's list() and
 * adopt()), then starts filling. prov must outlive the pool. */
struct kcr_pool *kcr_pool_new(const struct kcr_sandbox_provider *prov,
			      const struct kcr_config *cfg, kcr_error_t *err);
/* Stops the replenisher and destroys every ready sandbox. */
void kcr_pool_free(struct kcr_pool *p);
/* Reads the targets again (SIGHUP). */
void kcr_pool_reload(struct kcr_pool *p, const struct kcr_config *cfg);

/* A warm sandbox (claimed for this replica), or a new one made by
 * deadline_ms (kcr_now_ms(); 0: the provider's own limit). */
int kcr_pool_acquire(struct kcr_pool *p, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
		     struct kcr_sandbox **out, kcr_error_t *err);
void kcr_pool_release(struct kcr_pool *p, struct kcr_sandbox *sb);

/* One entry per language; returns how many were filled. */
size_t kcr_pool_stats(struct kcr_pool *p, struct kcr_pool_stats *out, size_t n);
/* Waits until the pools of the given languages (all when n == 0) hold
 * their targets, or until timeout_ms; KCR_E_TIMEOUT then. */
int kcr_pool_wait_full(struct kcr_pool *p, const char *const *langs, size_t n,
		       uint64_t timeout_ms, kcr_error_t *err);
void kcr_pool_budget(struct kcr_pool *p, struct kcr_pool_budget *out);
/* Sets one language's floor (and target) until the next reload (kcr pool
 * warmup N); adaptation raises it again from there. */
int kcr_pool_set_target(struct kcr_pool *p, const char *lang, unsigned int target,
			kcr_error_t *err);

#endif

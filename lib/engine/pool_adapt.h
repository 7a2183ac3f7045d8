/* The adaptive pool targets: a controller that follows demand within a
 * memory budget. Pure (no lock, no thread, no clock of its own): the pool
 * calls it with the time, the unit test with a clock it moves.
 *
 * Every window_ms it looks at each language's demand (acquires that
 * missed, or waited for a sandbox a replenisher was finishing) since the
 * last look: with demand, the language's wish rises by that much (at
 * most doubling, up to max); after idle_ms without any, it falls halfway
 * to the floor each window. The targets are then the wishes as far as the
 * budget goes: the floors always, and what is above them to the languages
 * with the most recent demand first. */
#ifndef KCR_POOL_ADAPT_H
#define KCR_POOL_ADAPT_H

#include "base/settings.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kcr_pool_adapt_cfg {
	bool on;             /* pool.adaptive; off: every target is its floor */
	uint64_t window_ms;  /* pool.adaptive_window_ms */
	uint64_t idle_ms;    /* pool.adaptive_idle_ms */
	unsigned int max;    /* pool.adaptive_max (a floor above it stays) */
	uint64_t budget_kib; /* pool.memory_budget_mb; 0: none */
};

struct kcr_pool_adapt_lang {
	unsigned int floor;    /* pool.<lang> */
	unsigned int cost_kib; /* one warm sandbox (lib/engine/pool_cost.h) */
	uint64_t demand;       /* misses and waits since the last window; the step zeroes it */
	unsigned int target;   /* out: what the pool keeps ready */
	/* the controller's own */
	unsigned int want;       /* the target without the budget */
	double score;            /* demand, halved each window: who gets the budget */
	uint64_t last_demand_ms; /* when demand was last seen */
};

void kcr_pool_adapt_cfg_load(struct kcr_pool_adapt_cfg *c, const struct kcr_config *cfg);
/* Puts a language at its floor (at start, after a reload or a warmup). */
void kcr_pool_adapt_reset(struct kcr_pool_adapt_lang *l, unsigned int floor, uint64_t now_ms);
/* One window's look, when one has passed since *next_ms (which it moves);
 * returns whether any target changed. */
bool kcr_pool_adapt_step(const struct kcr_pool_adapt_cfg *c, uint64_t *next_ms,
			 struct kcr_pool_adapt_lang *l, size_t n, uint64_t now_ms);
/* The targets from the wishes and the budget; returns whether any changed. */
bool kcr_pool_adapt_fit(const struct kcr_pool_adapt_cfg *c, struct kcr_pool_adapt_lang *l,
			size_t n);
/* KiB the targets cost together. */
uint64_t kcr_pool_adapt_used_kib(const struct kcr_pool_adapt_lang *l, size_t n);

#endif

#include <config.h>

#include "engine/pool_adapt.h"

#include <stdlib.h>

void
kcr_pool_adapt_cfg_load(struct kcr_pool_adapt_cfg *c, const struct kcr_config *cfg)
{
	c->on = kcr_config_bool(cfg, "pool.adaptive");
	c->window_ms = (uint64_t)kcr_config_int(cfg, "pool.adaptive_window_ms");
	c->idle_ms = (uint64_t)kcr_config_int(cfg, "pool.adaptive_idle_ms");
	c->max = (unsigned int)kcr_config_int(cfg, "pool.adaptive_max");
	c->budget_kib = (uint64_t)kcr_config_int(cfg, "pool.memory_budget_mb") * 1024;
}

void
kcr_pool_adapt_reset(struct kcr_pool_adapt_lang *l, unsigned int floor, uint64_t now_ms)
{
	l->floor = floor;
	l->want = floor;
	l->target = floor;
	l->demand = 0;
	l->score = 0;
	l->last_demand_ms = now_ms;
}

/* Demand: more, as much as was missing (a burst of 8 misses wants 8
 * more), but at most double, so that one odd window does not fill the
 * budget. None for idle_ms: halfway back to the floor. */
static void
follow(const struct kcr_pool_adapt_cfg *c, struct kcr_pool_adapt_lang *l, uint64_t now_ms)
{
	unsigned int top = c->max > l->floor ? c->max : l->floor;

	l->score = l->score / 2 + (double)l->demand;
	if (l->demand) {
		uint64_t step = l->demand < l->want ? l->demand : (l->want ? l->want : 1);
		uint64_t want = (uint64_t)l->want + step;

		l->want = want > top ? top : (unsigned int)want;
		l->last_demand_ms = now_ms;
	} else if (now_ms - l->last_demand_ms >= c->idle_ms && l->want > l->floor) {
		l->want = l->floor + (l->want - l->floor) / 2;
	}
	if (l->want < l->floor)
		l->want = l->floor;
	l->demand = 0;
}

bool
kcr_pool_adapt_step(const struct kcr_pool_adapt_cfg *c, uint64_t *next_ms,
		    struct kcr_pool_adapt_lang *l, size_t n, uint64_t now_ms)
{
	if (now_ms < *next_ms)
		return false;
	*next_ms = now_ms + (c->window_ms ? c->window_ms : 1);
	for (size_t i = 0; i < n; i++) {
		if (c->on)
			follow(c, &l[i], now_ms);
		else
			l[i].want = l[i].floor, l[i].demand = 0;
	}
	return kcr_pool_adapt_fit(c, l, n);
}

/* The language not served yet with the highest score, or n. */
static size_t
next_best(const struct kcr_pool_adapt_lang *l, size_t n, const bool *done)
{
	size_t best = n;

	for (size_t i = 0; i < n; i++)
		if (!done[i] && (best == n || l[i].score > l[best].score))
			best = i;
	return best;
}

bool
kcr_pool_adapt_fit(const struct kcr_pool_adapt_cfg *c, struct kcr_pool_adapt_lang *l, size_t n)
{
	bool *done = calloc(n ? n : 1, sizeof(*done)), changed = false;
	uint64_t left = 0, floors = 0;
	size_t i;

	for (i = 0; i < n; i++)
		floors += (uint64_t)l[i].floor * l[i].cost_kib;
	left = c->budget_kib > floors ? c->budget_kib - floors : 0;
	while ((i = next_best(l, n, done)) < n) {
		unsigned int extra = l[i].want > l[i].floor ? l[i].want - l[i].floor : 0;
		unsigned int target;

		done[i] = true;
		if (c->budget_kib && l[i].cost_kib && (uint64_t)extra * l[i].cost_kib > left)
			extra = (unsigned int)(left / l[i].cost_kib);
		if (c->budget_kib)
			left -= (uint64_t)extra * l[i].cost_kib;
		target = l[i].floor + extra;
		changed |= target != l[i].target;
		l[i].target = target;
	}
	free(done);
	return changed;
}

uint64_t
kcr_pool_adapt_used_kib(const struct kcr_pool_adapt_lang *l, size_t n)
{
	uint64_t kib = 0;

	for (size_t i = 0; i < n; i++)
		kib += (uint64_t)l[i].target * l[i].cost_kib;
	return kib;
}

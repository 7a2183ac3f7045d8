#include <config.h>

#include "engine/pool-internal.h"
#include "engine/pool_adapt.h"

#include <pthread.h>

/* What kcr pool status and GET /pool show: read under the pool's lock. */

size_t
kcr_pool_stats(struct kcr_pool *p, struct kcr_pool_stats *out, size_t n)
{
	size_t k = 0;

	pthread_mutex_lock(&p->lock);
	for (unsigned int i = 0; i < p->n_langs && k < n; i++, k++) {
		const struct lang_pool *lp = &p->langs[i];

		out[k] = (struct kcr_pool_stats){
			.lang = lp->lang->id,
			.floor = lp->floor,
			.target = lp->target,
			.cost_kib = p->adapt[i].cost_kib,
			.ready = (unsigned)lp->n_ready,
			.creating = lp->creating,
			.in_use = lp->in_use,
			.created = lp->created,
			.failed = lp->failed,
			.replaced = lp->replaced,
			.hits = lp->hits,
			.misses = lp->misses,
			.wait_us_total = lp->wait_us_total,
			.wait_us_max = lp->wait_us_max,
			.waits = lp->waits,
			.waited_us_total = lp->waited_us_total,
		};
	}
	pthread_mutex_unlock(&p->lock);
	return k;
}

void
kcr_pool_budget(struct kcr_pool *p, struct kcr_pool_budget *out)
{
	pthread_mutex_lock(&p->lock);
	out->adaptive = p->acfg.on;
	out->budget_kib = p->acfg.budget_kib;
	out->used_kib = kcr_pool_adapt_used_kib(p->adapt, p->n_langs);
	out->adaptive_max = p->acfg.max;
	pthread_mutex_unlock(&p->lock);
}

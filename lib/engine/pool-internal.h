/* The warm pool's state (lib/engine/pool.c), for the parts of the pool
 * that live in files of their own. */
#ifndef KCR_POOL_INTERNAL_H
#define KCR_POOL_INTERNAL_H

#include "engine/pool.h"
#include "engine/pool_adapt.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define MAX_LANGS 32
/* Replenishers: some destroy used sandboxes while others make new ones
 * (a Python cell takes milliseconds either way); with 8 clients on 2
 * cores, two could not keep up with Python (the pool ran empty) while
 * four do, and the provider makes several at once (cells of one host). */
#define N_REPLENISHERS 4

struct waiter;

struct lang_pool {
	const struct kcr_lang *lang;
	struct kcr_limits limits; /* what a warm sandbox was made with */
	unsigned int floor;       /* pool.<lang> (or kcr pool warmup's size) */
	unsigned int target;      /* the adaptive target: floor or more */
	unsigned int creating, in_use;
	unsigned int waiting;   /* acquires waiting for one being made, */
	struct waiter *queue;   /* in the order they came */
	uint64_t create_us_avg; /* mean creation time, recent ones weigh more */
	/* no refill before this, unless an acquire waits: the execution that
	 * took a sandbox runs first (pool.refill_delay_ms) */
	uint64_t quiet_until_ms;
	/* Python with pool.py_preload: half the warm ones (rounded up) have it
	 * imported, the others are bare and cheaper; see lib/engine/pyimports.h */
	bool split;
	unsigned int creating_pre; /* of creating: with the preload */
	/* out of ready while the health check asks about them: still counted,
	 * or the other replenisher would fill in for them */
	unsigned int checking, checking_pre;
	struct kcr_sandbox **ready;
	size_t n_ready, cap;
	uint64_t created, failed, replaced, hits, misses, wait_us_total, wait_us_max;
	uint64_t waits, waited_us_total; /* acquires that waited for one being made */
};

struct kcr_pool {
	const struct kcr_sandbox_provider *prov;
	pthread_mutex_t lock;
	pthread_cond_t wake;    /* the replenisher: something to do */
	pthread_cond_t changed; /* waiters: a pool's size changed */
	pthread_t threads[N_REPLENISHERS];
	unsigned int started;
	bool stop;
	int stop_fd; /* readable once stop is set: cancels sandboxes being made */
	uint64_t health_ms;
	uint64_t refill_delay_ms;   /* pool.refill_delay_ms */
	uint64_t next_check_ms;     /* one health round per interval, by any replenisher */
	struct kcr_sandbox **dying; /* used sandboxes the replenisher destroys */
	size_t n_dying, cap_dying;
	struct lang_pool langs[MAX_LANGS];
	unsigned int n_langs;
	/* the adaptive targets, langs[i]'s is adapt[i] */
	struct kcr_pool_adapt_cfg acfg;
	struct kcr_pool_adapt_lang adapt[MAX_LANGS];
	uint64_t next_window_ms;
};

#endif

#include <config.h>

#include "engine/pool-internal.h"
#include "engine/pool_adapt.h"
#include "engine/pool_orphans.h"
#include "engine/pool_cost.h"
#include "base/clock.h"
#include "base/lang.h"
#include "base/log.h"
#include "base/pool_floor.h"
#include "base/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* An acquire that finds the pool empty while replenishers are making
 * sandboxes of the kind it wants waits for one: WAIT_FACTOR times the
 * language's mean creation time for each round of them ahead of it (the
 * waiters before it, by the number being made), 5 s at most. One made on
 * the request path instead would take no less CPU, and take it from the
 * replenishers: on a saturated machine every acquire would miss. */
#define WAIT_FACTOR 2
#define WAIT_MAX_US 5000000

/* The adaptive targets into the pools. Called locked. */
static void
apply_targets(struct kcr_pool *p)
{
	for (unsigned int i = 0; i < p->n_langs; i++)
		p->langs[i].target = p->adapt[i].target;
	pthread_cond_broadcast(&p->wake);
}

/* A split pool costs the mean of its two kinds per sandbox. */
static unsigned int
cost_of(const struct kcr_config *cfg, const struct lang_pool *lp)
{
	unsigned int bare = kcr_pool_cost_kib(cfg, lp->lang, false);

	return lp->split ? (bare + kcr_pool_cost_kib(cfg, lp->lang, true)) / 2 : bare;
}

void
kcr_pool_reload(struct kcr_pool *p, const struct kcr_config *cfg)
{
	const char *pre = kcr_config_str(cfg, "pool.py_preload");

	pthread_mutex_lock(&p->lock);
	p->health_ms = (uint64_t)kcr_config_int(cfg, "pool.health_interval") * 1000;
	p->refill_delay_ms = (uint64_t)kcr_config_int(cfg, "pool.refill_delay_ms");
	for (unsigned int i = 0; i < p->n_langs; i++) {
		struct lang_pool *lp = &p->langs[i];

		lp->floor = kcr_pool_floor(cfg, lp->lang);
		lp->split = (lp->lang->caps & KCR_LANG_PRELOAD) && pre && *pre;
		kcr_limits_from_config(&lp->limits, cfg, lp->lang);
		kcr_pool_adapt_reset(&p->adapt[i], lp->floor, kcr_now_ms());
		p->adapt[i].cost_kib = cost_of(cfg, lp);
	}
	kcr_pool_adapt_cfg_load(&p->acfg, cfg);
	kcr_pool_adapt_fit(&p->acfg, p->adapt, p->n_langs);
	apply_targets(p);
	pthread_mutex_unlock(&p->lock);
}

static struct lang_pool *
find_lang(struct kcr_pool *p, const struct kcr_lang *l)
{
	for (unsigned int i = 0; i < p->n_langs; i++)
		if (p->langs[i].lang == l)
			return &p->langs[i];
	return NULL;
}

/* ---- the replenisher -------------------------------------------------- */

static void
destroy_sandbox(struct kcr_pool *p, struct kcr_sandbox *sb)
{
	kcr_error_t err = NULL;

	if (kcr_sandbox_destroy(p->prov, sb, &err) < 0)
		kcr_error_warn_release(&err);
}

/* Destroys a ready sandbox the pool no longer wants, claiming it first: in
 * a pool shared by several replicas it may be another's by now, and then
 * only this pool's handle goes (struct kcr_sandbox_ops, claim). */
static void
discard_ready(struct kcr_pool *p, struct kcr_sandbox *sb)
{
	kcr_error_t err = NULL;

	if (kcr_sandbox_claim(p->prov, sb, &err) < 0)
		kcr_error_free(err);
	destroy_sandbox(p, sb);
}

/* The provider's answer, asked on every round: it caches what is costly. */
static bool
runs_here(const struct kcr_pool *p, const struct lang_pool *lp)
{
	return kcr_sandbox_available(p->prov, lp->lang, NULL) == 0;
}

static void
push_sandbox(struct kcr_sandbox ***v, size_t *n, size_t *cap, struct kcr_sandbox *sb)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*v = kcr_xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = sb;
}

/* Hands a sandbox to the replenisher to destroy. Called locked. */
static void
add_dying(struct kcr_pool *p, struct kcr_sandbox *sb)
{
	push_sandbox(&p->dying, &p->n_dying, &p->cap_dying, sb);
	pthread_cond_broadcast(&p->wake);
}

static size_t
count_ready(const struct lang_pool *lp, bool preload)
{
	size_t n = 0;

	for (size_t i = 0; i < lp->n_ready; i++)
		n += lp->ready[i]->preload == preload;
	return n;
}

/* How many of lp's warm sandboxes should have the preload. */
static unsigned int
target_pre(const struct lang_pool *lp)
{
	return lp->split ? (lp->target + 1) / 2 : 0;
}

/* Sandboxes of one kind lp needs (negative: too many). */
static long
gap(const struct lang_pool *lp, bool preload)
{
	long want = preload ? (long)target_pre(lp) : (long)(lp->target - target_pre(lp));
	long have = (long)count_ready(lp, preload) +
		    (long)(preload ? lp->creating_pre : lp->creating - lp->creating_pre) +
		    (long)(preload ? lp->checking_pre : lp->checking - lp->checking_pre);

	return want - have;
}

/* Whether lp's refill waits for the execution that took its sandbox:
 * making a sandbox beside a running program slowed the program by 5-10 ms
 * on two cores (bash's echo took 6-7 ms of CPU instead of 1), though the
 * other core was free. Only for an execution running alone, while another
 * of the kind is ready (see kcr_pool_acquire): else the next execution
 * would wait for a refill started late, and under load the pool would
 * run short (8 clients: 6-10% fewer executions per second). Never when
 * an acquire waits. */
static bool
quiet(const struct lang_pool *lp, uint64_t now)
{
	return lp->waiting == 0 && now < lp->quiet_until_ms;
}

/* The language most short of its target and not quiet, or NULL. Called
 * locked. */
static struct lang_pool *
neediest(struct kcr_pool *p)
{
	struct lang_pool *best = NULL;
	long best_gap = 0;
	uint64_t now = kcr_now_ms();

	for (unsigned int i = 0; i < p->n_langs; i++) {
		struct lang_pool *lp = &p->langs[i];
		long pre = gap(lp, true), bare = gap(lp, false);
		long g = (pre > 0 ? pre : 0) + (bare > 0 ? bare : 0);

		if (g > best_gap && !quiet(lp, now) && runs_here(p, lp)) {
			best = lp;
			best_gap = g;
		}
	}
	return best;
}

static void
add_ready(struct lang_pool *lp, struct kcr_sandbox *sb)
{
	push_sandbox(&lp->ready, &lp->n_ready, &lp->cap, sb);
}

/* Creates one sandbox for lp, unlocked while the provider works. */
static void
fill_one(struct kcr_pool *p, struct lang_pool *lp)
{
	struct kcr_sandbox_spec spec = { .lang = lp->lang,
					 .limits = lp->limits,
					 .prewarm = true,
					 .preload = gap(lp, true) > 0,
					 .cancel_fd = p->stop_fd };
	struct kcr_sandbox *sb = NULL;
	kcr_error_t err = NULL;
	uint64_t t0 = kcr_now_ns();
	int r;

	lp->creating++;
	lp->creating_pre += spec.preload;
	pthread_mutex_unlock(&p->lock);
	r = kcr_sandbox_create(p->prov, &spec, 0, &sb, &err);
	pthread_mutex_lock(&p->lock);
	if (r == 0) { /* a mean over the last ~8 */
		uint64_t us = (kcr_now_ns() - t0) / 1000 + 1;

		lp->create_us_avg = lp->create_us_avg ? (lp->create_us_avg * 7 + us) / 8 : us;
	}
	lp->creating--;
	lp->creating_pre -= spec.preload;
	if (r < 0 && p->stop) {
		kcr_error_free(err); /* canceled: kcr is stopping */
		return;
	}
	if (r < 0) {
		lp->failed++;
		kcr_log_warn("pool %s: %s", lp->lang->id, err->msg);
		kcr_error_free(err);
		return;
	}
	lp->created++;
	add_ready(lp, sb);
	pthread_cond_broadcast(&p->changed);
}

/* Destroys one warm sandbox over its pool's target (after a lower target).
 * Called locked; returns whether it did. */
static bool
trim_one(struct kcr_pool *p)
{
	for (unsigned int i = 0; i < p->n_langs; i++) {
		struct lang_pool *lp = &p->langs[i];
		/* one of a kind over its share: after a lower target */
		bool over_pre = gap(lp, true) < 0, over_bare = gap(lp, false) < 0;
		struct kcr_sandbox *sb;
		ssize_t k = -1;

		for (size_t j = 0; j < lp->n_ready && k < 0; j++)
			if (lp->ready[j]->preload ? over_pre : over_bare)
				k = (ssize_t)j;
		if (k < 0)
			continue;
		sb = lp->ready[k];
		lp->ready[k] = lp->ready[--lp->n_ready];
		pthread_mutex_unlock(&p->lock);
		discard_ready(p, sb);
		pthread_mutex_lock(&p->lock);
		pthread_cond_broadcast(&p->changed);
		return true;
	}
	return false;
}

/* Replaces ready sandboxes the provider says are dead. Called locked; each
 * check runs unlocked on a sandbox taken out of the set. The front one is
 * taken and an alive one goes to the back, so that one round checks each
 * once. A dead one is counted before it goes to the dying. */
static void
check_health(struct kcr_pool *p)
{
	for (unsigned int i = 0; i < p->n_langs; i++) {
		struct lang_pool *lp = &p->langs[i];

		for (size_t k = lp->n_ready; k > 0 && lp->n_ready > 0; k--) {
			struct kcr_sandbox *sb = lp->ready[0];
			kcr_error_t err = NULL;
			int r;

			memmove(lp->ready, lp->ready + 1, --lp->n_ready * sizeof(*lp->ready));
			lp->checking++;
			lp->checking_pre += sb->preload;
			pthread_mutex_unlock(&p->lock);
			r = kcr_sandbox_check(p->prov, sb, &err);
			pthread_mutex_lock(&p->lock);
			lp->checking--;
			lp->checking_pre -= sb->preload;
			if (r == 0) {
				add_ready(lp, sb);
				pthread_cond_broadcast(&p->changed); /* ready again */
				continue;
			}
			kcr_log_warn("pool %s: replacing a dead sandbox: %s", lp->lang->id, err->msg);
			kcr_error_free(err);
			lp->replaced++;
			add_dying(p, sb);
		}
	}
}

/* Until the next adaptive window or the end of a quiet refill, a second
 * at most. Called locked. */
static uint64_t
sleep_ms(const struct kcr_pool *p)
{
	uint64_t now = kcr_now_ms(), until = now + 1000;

	if (p->next_window_ms < until)
		until = p->next_window_ms;
	for (unsigned int i = 0; i < p->n_langs; i++)
		if (p->langs[i].quiet_until_ms > now && p->langs[i].quiet_until_ms < until)
			until = p->langs[i].quiet_until_ms;
	return until > now ? until - now : 1;
}

static void *
replenisher(void *arg)
{
	struct kcr_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct lang_pool *lp = neediest(p);
		struct timespec until;

		if (p->n_dying) {
			struct kcr_sandbox *sb = p->dying[--p->n_dying];

			pthread_mutex_unlock(&p->lock);
			destroy_sandbox(p, sb);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		if (lp) {
			fill_one(p, lp);
			continue;
		}
		if (trim_one(p))
			continue;
		if (p->health_ms && kcr_now_ms() >= p->next_check_ms) {
			p->next_check_ms = kcr_now_ms() + p->health_ms;
			check_health(p);
			continue;
		}
		if (kcr_pool_adapt_step(&p->acfg, &p->next_window_ms, p->adapt, p->n_langs,
					kcr_now_ms())) {
			apply_targets(p);
			continue;
		}
		until = kcr_timespec_in(CLOCK_REALTIME, sleep_ms(p));
		pthread_cond_timedwait(&p->wake, &p->lock, &until);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct kcr_pool *
kcr_pool_new(const struct kcr_sandbox_provider *prov, const struct kcr_config *cfg,
	     kcr_error_t *err)
{
	struct kcr_pool *p = kcr_xzalloc(sizeof(*p));

	p->prov = prov;
	p->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (p->stop_fd < 0) {
		kcr_error_set(err, KCR_E_IO, errno, "eventfd");
		free(p);
		return NULL;
	}
	kcr_pool_adopt_orphans(prov);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->changed, NULL);
	for (unsigned int i = 0; i < kcr_lang_count() && i < MAX_LANGS; i++)
		p->langs[p->n_langs++].lang = kcr_lang_at(i);
	kcr_pool_reload(p, cfg);
	for (unsigned int i = 0; i < N_REPLENISHERS; i++) {
		if (pthread_create(&p->threads[i], NULL, replenisher, p) != 0) {
			kcr_pool_free(p);
			kcr_error_set(err, KCR_E_IO, errno, "cannot start the pool's replenisher");
			return NULL;
		}
		p->started++;
	}
	return p;
}

void
kcr_pool_free(struct kcr_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	if (eventfd_write(p->stop_fd, 1) < 0)
		kcr_log_warn("pool: cannot cancel the sandboxes being made: %s", strerror(errno));
	for (unsigned int i = 0; i < p->started; i++)
		pthread_join(p->threads[i], NULL);
	for (unsigned int i = 0; i < p->n_langs; i++) {
		for (size_t j = 0; j < p->langs[i].n_ready; j++)
			discard_ready(p, p->langs[i].ready[j]);
		free(p->langs[i].ready);
	}
	for (size_t i = 0; i < p->n_dying; i++)
		destroy_sandbox(p, p->dying[i]);
	free(p->dying);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->changed);
	close(p->stop_fd);
	free(p);
}

/* ---- acquire and release ------------------------------------------------ */

/* A warm sandbox fits when the limits fixed at its creation are the ones
 * asked for; per-execution limits (time, output, files) travel with the
 * request. */
static bool
fits(const struct kcr_limits *warm, const struct kcr_limits *want)
{
	return warm->memory_mb == want->memory_mb && warm->pids == want->pids &&
	       warm->cpus == want->cpus && warm->tmp_size_mb == want->tmp_size_mb &&
	       warm->data_size_mb == want->data_size_mb;
}

/* The ready sandbox of the kind asked for, or -1. Not one with more
 * imported than needed: that saves the wait for a bare one, but its
 * replacement costs more than the wait (cloning a zygote with pandas
 * imported copies its page tables). */
static ssize_t
pick(const struct lang_pool *lp, bool preload)
{
	for (size_t i = lp->n_ready; i-- > 0;) {
		if (!lp->split || lp->ready[i]->preload == preload)
			return (ssize_t)i;
	}
	return -1;
}

/* Takes the ready sandbox of the kind asked for out of lp and claims it;
 * NULL when there is none. One that another replica claimed first goes
 * to the replenisher (only our handle, see struct kcr_sandbox_ops) and
 * the next one is tried. Called locked; claims unlocked. */
static struct kcr_sandbox *
take_ready(struct kcr_pool *p, struct lang_pool *lp, bool preload)
{
	ssize_t i;

	while ((i = pick(lp, preload)) >= 0) {
		struct kcr_sandbox *sb = lp->ready[i];
		kcr_error_t err = NULL;
		int r;

		lp->ready[i] = lp->ready[--lp->n_ready];
		pthread_mutex_unlock(&p->lock);
		r = kcr_sandbox_claim(p->prov, sb, &err);
		if (r < 0 && err->code == KCR_E_CONFLICT)
			kcr_log_debug("pool %s: %s; trying the next one", lp->lang->id, err->msg);
		else if (r < 0)
			kcr_log_warn("pool %s: %s", lp->lang->id, err->msg);
		kcr_error_free(err);
		pthread_mutex_lock(&p->lock);
		if (r == 0)
			return sb;
		add_dying(p, sb);
	}
	return NULL;
}

/* A miss's time on the request path, and its in_use back on failure. */
static void
count_miss(struct kcr_pool *p, struct lang_pool *lp, uint64_t t0, int r)
{
	uint64_t us = (kcr_now_ns() - t0) / 1000;

	if (lp == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	lp->wait_us_total += us;
	lp->wait_us_max = us > lp->wait_us_max ? us : lp->wait_us_max;
	if (r < 0)
		lp->in_use--;
	pthread_mutex_unlock(&p->lock);
}

/* Sandboxes of the kind asked for that replenishers are making. */
static unsigned int
being_made(const struct lang_pool *lp, bool preload)
{
	if (!lp->split)
		return lp->creating;
	return preload ? lp->creating_pre : lp->creating - lp->creating_pre;
}

/* How long an acquire may wait for one being made (see WAIT_FACTOR), in
 * ms, within deadline_ms; 0: not at all. */
static uint64_t
wait_budget_ms(const struct lang_pool *lp, unsigned int made, uint64_t deadline_ms)
{
	uint64_t rounds = lp->waiting / made + 1;
	uint64_t us = lp->create_us_avg * WAIT_FACTOR * rounds, now = kcr_now_ms(), ms;

	ms = (us < WAIT_MAX_US ? us : WAIT_MAX_US) / 1000 + 1;
	if (deadline_ms && deadline_ms <= now)
		return 0;
	if (deadline_ms && deadline_ms - now < ms)
		ms = deadline_ms - now;
	return lp->create_us_avg ? ms : 0;
}

/* An acquire waiting for a sandbox being made. The waiters are served in
 * the order they came: a broadcast wakes them all, and the first to get
 * the lock would win, leaving the unlucky ones to time out and miss. */
struct waiter {
	struct waiter *next;
	bool preload;
};

/* Waiters of the kind asked for queued before w (all of them: NULL). */
static size_t
ahead(const struct lang_pool *lp, const struct waiter *w, bool preload)
{
	size_t n = 0;

	for (const struct waiter *q = lp->queue; q && q != w; q = q->next)
		n += !lp->split || q->preload == preload;
	return n;
}

/* Whether the one in w's place (a newcomer: NULL) may take a ready one. */
static bool
my_turn(const struct lang_pool *lp, const struct waiter *w, bool preload)
{
	return (lp->split ? count_ready(lp, preload) : lp->n_ready) > ahead(lp, w, preload);
}

static void
queue_add(struct lang_pool *lp, struct waiter *w)
{
	struct waiter **q = &lp->queue;

	while (*q)
		q = &(*q)->next;
	*q = w;
	lp->waiting++;
}

static void
queue_remove(struct kcr_pool *p, struct lang_pool *lp, struct waiter *w)
{
	for (struct waiter **q = &lp->queue; *q; q = &(*q)->next)
		if (*q == w) {
			*q = w->next;
			break;
		}
	lp->waiting--;
	pthread_cond_broadcast(&p->changed); /* the others moved up */
}

/* Whether a sandbox of the kind may still come: being made, or the pool
 * short of it (a replenisher starts one soon), or ready for a waiter
 * ahead (whose taking it makes the pool short). */
static bool
coming(const struct kcr_pool *p, const struct lang_pool *lp, bool preload)
{
	return being_made(lp, preload) > 0 || count_ready(lp, lp->split && preload) > 0 ||
	       (gap(lp, lp->split && preload) > 0 && runs_here(p, lp));
}

/* Waits for a sandbox the replenishers are making, in turn. Called locked;
 * NULL when none came in time. */
static struct kcr_sandbox *
wait_made(struct kcr_pool *p, struct lang_pool *lp, bool preload, uint64_t deadline_ms)
{
	unsigned int made = being_made(lp, preload);
	uint64_t ms = coming(p, lp, preload) ? wait_budget_ms(lp, made ? made : 1, deadline_ms) : 0;
	struct timespec until = kcr_timespec_in(CLOCK_REALTIME, ms);
	struct waiter w = { .preload = preload };
	uint64_t t0 = kcr_now_ns();
	struct kcr_sandbox *sb = NULL;

	if (ms == 0)
		return NULL;
	queue_add(lp, &w);
	if (lp->quiet_until_ms) /* a quiet refill is not, now (see quiet()) */
		pthread_cond_broadcast(&p->wake);
	while (!p->stop && coming(p, lp, preload)) {
		bool late;

		if (my_turn(lp, &w, preload) && (sb = take_ready(p, lp, preload)) != NULL)
			break;
		late = pthread_cond_timedwait(&p->changed, &p->lock, &until) == ETIMEDOUT;
		if (late && my_turn(lp, &w, preload))
			sb = take_ready(p, lp, preload);
		if (late || sb)
			break;
	}
	if (sb == NULL && !p->stop && my_turn(lp, &w, preload))
		sb = take_ready(p, lp, preload); /* the last one made */
	queue_remove(p, lp, &w);
	if (sb) {
		lp->waits++;
		lp->waited_us_total += (kcr_now_ns() - t0) / 1000;
	}
	return sb;
}

int
kcr_pool_acquire(struct kcr_pool *p, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
		 struct kcr_sandbox **out, kcr_error_t *err)
{
	struct kcr_sandbox *sb = NULL;
	struct lang_pool *lp;
	uint64_t t0 = kcr_now_ns();
	bool waited = false;
	int r;

	pthread_mutex_lock(&p->lock);
	lp = find_lang(p, spec->lang);
	if (lp && fits(&lp->limits, &spec->limits)) {
		if (my_turn(lp, NULL, spec->preload)) /* not before those waiting */
			sb = take_ready(p, lp, spec->preload);
		if (sb == NULL)
			waited = (sb = wait_made(p, lp, spec->preload, deadline_ms)) != NULL;
	}
	if (lp) {
		lp->hits += sb != NULL;
		lp->misses += sb == NULL;
		lp->in_use++;
		/* demand for the adaptive target: a miss, or a hit that waited */
		p->adapt[lp - p->langs].demand += sb == NULL || waited;
	}
	if (sb) { /* refill in the background; after a lone run if one is left */
		bool lone = lp->in_use == 1 && pick(lp, spec->preload) >= 0;

		lp->quiet_until_ms = lone ? kcr_now_ms() + p->refill_delay_ms : 0;
		pthread_cond_broadcast(&p->wake);
	}
	pthread_mutex_unlock(&p->lock);
	if (sb) {
		*out = sb;
		return 0;
	}
	r = kcr_sandbox_create(p->prov, spec, deadline_ms, out, err);
	count_miss(p, lp, t0, r);
	return r;
}

/* The used sandbox is destroyed by the replenisher, off the request's
 * path: killing it and removing its cgroups takes a millisecond or more. */
void
kcr_pool_release(struct kcr_pool *p, struct kcr_sandbox *sb)
{
	struct lang_pool *lp;

	pthread_mutex_lock(&p->lock);
	lp = find_lang(p, sb->lang);
	if (lp && lp->in_use)
		lp->in_use--;
	if (lp)
		lp->quiet_until_ms = 0; /* it ran: refill now */
	add_dying(p, sb);
	pthread_mutex_unlock(&p->lock);
}

/* ---- waiting for full pools ------------------------------------------------ */

static bool
wanted(const char *id, const char *const *langs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(langs[i], id) == 0)
			return true;
	return n == 0;
}

/* Called locked. */
static bool
all_full(struct kcr_pool *p, const char *const *langs, size_t n)
{
	for (unsigned int i = 0; i < p->n_langs; i++) {
		const struct lang_pool *lp = &p->langs[i];

		if (wanted(lp->lang->id, langs, n) && lp->n_ready < lp->target &&
		    runs_here(p, lp))
			return false;
	}
	return true;
}

int
kcr_pool_wait_full(struct kcr_pool *p, const char *const *langs, size_t n,
		   uint64_t timeout_ms, kcr_error_t *err)
{
	struct timespec until = kcr_timespec_in(CLOCK_REALTIME, timeout_ms);
	int r = 0;

	pthread_mutex_lock(&p->lock);
	pthread_cond_broadcast(&p->wake);
	while (!all_full(p, langs, n) && r == 0)
		if (pthread_cond_timedwait(&p->changed, &p->lock, &until) == ETIMEDOUT)
			r = kcr_error_set(err, KCR_E_TIMEOUT, 0,
					  "pools not full after %llu ms",
					  (unsigned long long)timeout_ms);
	pthread_mutex_unlock(&p->lock);
	return r;
}

int
kcr_pool_set_target(struct kcr_pool *p, const char *lang, unsigned int target,
		    kcr_error_t *err)
{
	const struct kcr_lang *l = kcr_lang_lookup(lang, err);
	struct lang_pool *lp;

	if (l == NULL)
		return -1;
	pthread_mutex_lock(&p->lock);
	lp = find_lang(p, l);
	if (lp) {
		lp->floor = target;
		kcr_pool_adapt_reset(&p->adapt[lp - p->langs], target, kcr_now_ms());
		kcr_pool_adapt_fit(&p->acfg, p->adapt, p->n_langs);
	}
	apply_targets(p);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

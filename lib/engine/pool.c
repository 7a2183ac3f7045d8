#include <config.h>

#include "engine/pool.h"
#include "base/clock.h"
#include "base/lang.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_LANGS 32
/* Replenishers: one destroys used sandboxes while another makes new ones
 * (a Python cell takes milliseconds either way). */
#define N_REPLENISHERS 2

struct lang_pool {
	const struct kcr_lang *lang;
	struct kcr_limits limits; /* what a warm sandbox was made with */
	unsigned int target, creating, in_use;
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
	struct kcr_sandbox **dying; /* used sandboxes the replenisher destroys */
	size_t n_dying, cap_dying;
	struct lang_pool langs[MAX_LANGS];
	unsigned int n_langs;
};

static unsigned int
target_for(const struct kcr_config *cfg, const struct kcr_lang *l)
{
	kcr_autofree char *key = kcr_strdup_printf("pool.%s", l->id);

	if (!kcr_config_bool(cfg, "pool.enabled"))
		return 0;
	return (unsigned int)kcr_config_int(cfg, key);
}

void
kcr_pool_reload(struct kcr_pool *p, const struct kcr_config *cfg)
{
	const char *pre = kcr_config_str(cfg, "pool.py_preload");

	pthread_mutex_lock(&p->lock);
	p->health_ms = (uint64_t)kcr_config_int(cfg, "pool.health_interval") * 1000;
	for (unsigned int i = 0; i < p->n_langs; i++) {
		struct lang_pool *lp = &p->langs[i];

		lp->target = target_for(cfg, lp->lang);
		lp->split = (lp->lang->caps & KCR_LANG_PRELOAD) && pre && *pre;
		kcr_limits_from_config(&lp->limits, cfg, lp->lang);
	}
	pthread_cond_broadcast(&p->wake);
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

/* The language most short of its target, or NULL. Called locked. */
static struct lang_pool *
neediest(struct kcr_pool *p)
{
	struct lang_pool *best = NULL;
	long best_gap = 0;

	for (unsigned int i = 0; i < p->n_langs; i++) {
		struct lang_pool *lp = &p->langs[i];
		long pre = gap(lp, true), bare = gap(lp, false);
		long g = (pre > 0 ? pre : 0) + (bare > 0 ? bare : 0);

		if (g > best_gap && runs_here(p, lp)) {
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
	int r;

	lp->creating++;
	lp->creating_pre += spec.preload;
	pthread_mutex_unlock(&p->lock);
	r = kcr_sandbox_create(p->prov, &spec, 0, &sb, &err);
	pthread_mutex_lock(&p->lock);
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

static void *
replenisher(void *arg)
{
	struct kcr_pool *p = arg;
	uint64_t next_check = kcr_now_ms() + p->health_ms;

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
		if (p->health_ms && kcr_now_ms() >= next_check) {
			check_health(p);
			next_check = kcr_now_ms() + p->health_ms;
			continue;
		}
		until = kcr_timespec_in(CLOCK_REALTIME, 1000);
		pthread_cond_timedwait(&p->wake, &p->lock, &until);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Sandboxes a kcr that died left behind, cleaned up once at start. */
static void
adopt_orphans(struct kcr_pool *p)
{
	struct kcr_sandbox_ref *refs = NULL;
	kcr_error_t err = NULL;
	size_t n = 0, done = 0;

	if (kcr_sandbox_list(p->prov, &refs, &n, &err) < 0) {
		kcr_log_warn("pool: cannot list leftover sandboxes: %s", err->msg);
		kcr_error_free(err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (kcr_sandbox_adopt(p->prov, &refs[i], &err) == 0) {
			done++;
			continue;
		}
		kcr_log_warn("pool: cleaning up sandbox %s of %s: %s", refs[i].id, refs[i].owner,
			     err->msg);
		kcr_error_release(&err);
	}
	if (done)
		kcr_log_info("pool: cleaned up %zu sandbox%s left behind by a kcr that died",
			     done, done == 1 ? "" : "es");
	free(refs);
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
	adopt_orphans(p);
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

int
kcr_pool_acquire(struct kcr_pool *p, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
		 struct kcr_sandbox **out, kcr_error_t *err)
{
	struct kcr_sandbox *sb = NULL;
	struct lang_pool *lp;
	uint64_t t0 = kcr_now_ns();
	int r;

	pthread_mutex_lock(&p->lock);
	lp = find_lang(p, spec->lang);
	if (lp && fits(&lp->limits, &spec->limits))
		sb = take_ready(p, lp, spec->preload);
	if (lp) {
		lp->hits += sb != NULL;
		lp->misses += sb == NULL;
		lp->in_use++;
	}
	if (sb)
		pthread_cond_broadcast(&p->wake); /* refill in the background */
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
	add_dying(p, sb);
	pthread_mutex_unlock(&p->lock);
}

/* ---- statistics and waiting ------------------------------------------------- */

size_t
kcr_pool_stats(struct kcr_pool *p, struct kcr_pool_stats *out, size_t n)
{
	size_t k = 0;

	pthread_mutex_lock(&p->lock);
	for (unsigned int i = 0; i < p->n_langs && k < n; i++, k++) {
		const struct lang_pool *lp = &p->langs[i];

		out[k] = (struct kcr_pool_stats){
			.lang = lp->lang->id, .target = lp->target, .ready = (unsigned)lp->n_ready,
			.creating = lp->creating, .in_use = lp->in_use, .created = lp->created,
			.failed = lp->failed, .replaced = lp->replaced, .hits = lp->hits,
			.misses = lp->misses, .wait_us_total = lp->wait_us_total,
			.wait_us_max = lp->wait_us_max,
		};
	}
	pthread_mutex_unlock(&p->lock);
	return k;
}

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
	if (lp)
		lp->target = target;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* Per-key rate limits, failed-authentication throttling and executions
 * at once (ratelimit.h). */
#include <config.h>

#include "server/ratelimit.h"
#include "base/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	unsigned int seconds;
} windows[KCR_RL_WINDOWS] = {
	[KCR_RL_SECOND] = { "second", 1 },
	[KCR_RL_MINUTE] = { "minute", 60 },
	[KCR_RL_HOUR] = { "hour", 3600 },
	[KCR_RL_DAY] = { "day", 86400 },
};

unsigned int
kcr_rl_window_seconds(unsigned int w)
{
	return windows[w].seconds;
}

const char *
kcr_rl_window_name(unsigned int w)
{
	return windows[w].name;
}

void
kcr_rl_limits_of_key(const struct kcr_api_key_record *k, struct kcr_rl_limits *l)
{
	l->per[KCR_RL_SECOND] = k->per_second;
	l->per[KCR_RL_MINUTE] = k->per_minute;
	l->per[KCR_RL_HOUR] = k->per_hour;
	l->per[KCR_RL_DAY] = k->per_day;
}

bool
kcr_rl_limits_any(const struct kcr_rl_limits *l)
{
	for (unsigned int w = 0; w < KCR_RL_WINDOWS; w++)
		if (l->per[w])
			return true;
	return false;
}

int64_t
kcr_rl_window_index(double now, unsigned int seconds)
{
	return (int64_t)floor(now / seconds);
}

double
kcr_rl_window_end(double now, unsigned int seconds)
{
	return (double)(kcr_rl_window_index(now, seconds) + 1) * seconds;
}

void
kcr_rl_counter_name(const char *id, unsigned int w, int64_t index, char *out, size_t size)
{
	snprintf(out, size, "rl:%s:%s:%lld", id, windows[w].name, (long long)index);
}

/* Whether window a is a tighter one to report than b. */
static bool
tighter(const struct kcr_rl_verdict *a, const struct kcr_rl_verdict *b)
{
	return a->remaining < b->remaining || (a->remaining == b->remaining && a->reset < b->reset);
}

void
kcr_rl_decide(const struct kcr_rl_limits *l, const int64_t counts[KCR_RL_WINDOWS], double now,
	      struct kcr_rl_verdict *v)
{
	memset(v, 0, sizeof(*v));
	for (unsigned int w = 0; w < KCR_RL_WINDOWS; w++) {
		struct kcr_rl_verdict c = { 0 };

		if (l->per[w] == 0)
			continue;
		c.any = true;
		c.window = w;
		c.limit = l->per[w];
		c.limited = counts[w] > (int64_t)l->per[w];
		c.remaining = c.limited ? 0 : l->per[w] - (uint32_t)(counts[w] < 0 ? 0 : counts[w]);
		c.reset = kcr_rl_window_end(now, windows[w].seconds);
		c.retry_after = c.limited ? (unsigned int)ceil(c.reset - now) : 0;
		if (c.limited && c.retry_after == 0)
			c.retry_after = 1;
		/* refused: the window that ends last is the one to wait for */
		if (!v->any || (c.limited && (!v->limited || c.reset > v->reset)) ||
		    (!c.limited && !v->limited && tighter(&c, v)))
			*v = c;
	}
}

int
kcr_rl_check(struct kcr_stores *st, const char *id, const struct kcr_rl_limits *l, double now,
	     struct kcr_rl_verdict *v, kcr_error_t *err)
{
	int64_t counts[KCR_RL_WINDOWS] = { 0 };

	for (unsigned int w = 0; w < KCR_RL_WINDOWS; w++) {
		char name[KCR_COUNTER_NAME_MAX + 1];
		double end = kcr_rl_window_end(now, windows[w].seconds);

		if (l->per[w] == 0)
			continue;
		kcr_rl_counter_name(id, w, kcr_rl_window_index(now, windows[w].seconds), name,
				    sizeof(name));
		/* the name holds the window's number: the counter need only
		 * outlive it, by a margin for replicas whose clocks differ */
		if (kcr_store_counter_add(st, name, 1, end - now + 5, &counts[w], err) < 0)
			return -1;
	}
	kcr_rl_decide(l, counts, now, v);
	return 0;
}

/* ---- failed authentications --------------------------------------------- */

struct fail {
	char addr[64]; /* "" for an empty slot */
	int64_t window;
	unsigned int count;
};

struct kcr_authfail {
	pthread_mutex_t lock;
	size_t cap;
	struct fail *f;
};

struct kcr_authfail *
kcr_authfail_new(size_t cap)
{
	struct kcr_authfail *t = kcr_xzalloc(sizeof(*t));

	t->cap = cap ? cap : 1;
	t->f = kcr_xzalloc(t->cap * sizeof(*t->f));
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void
kcr_authfail_free(struct kcr_authfail *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->f);
	free(t);
}

/* FNV-1a */
static struct fail *
fail_slot(struct kcr_authfail *t, const char *addr)
{
	uint64_t h = 1469598103934665603ULL;

	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return &t->f[h % t->cap];
}

bool
kcr_authfail_blocked(struct kcr_authfail *t, const char *addr, double now, unsigned int limit,
		     unsigned int window_s, unsigned int *retry_after)
{
	struct fail *f;
	bool blocked;

	if (limit == 0 || window_s == 0)
		return false;
	pthread_mutex_lock(&t->lock);
	f = fail_slot(t, addr);
	blocked = strcmp(f->addr, addr) == 0 && f->window == kcr_rl_window_index(now, window_s) &&
		  f->count >= limit;
	pthread_mutex_unlock(&t->lock);
	*retry_after = (unsigned int)ceil(kcr_rl_window_end(now, window_s) - now);
	if (*retry_after == 0)
		*retry_after = 1;
	return blocked;
}

void
kcr_authfail_record(struct kcr_authfail *t, const char *addr, double now, unsigned int window_s)
{
	int64_t w = kcr_rl_window_index(now, window_s ? window_s : 1);
	struct fail *f;

	pthread_mutex_lock(&t->lock);
	f = fail_slot(t, addr);
	if (strcmp(f->addr, addr) != 0 || f->window != w) {
		snprintf(f->addr, sizeof(f->addr), "%s", addr);
		f->window = w;
		f->count = 0;
	}
	f->count++;
	pthread_mutex_unlock(&t->lock);
}

/* ---- executions at once ------------------------------------------------- */

struct running {
	char *tenant;
	unsigned int n;
};

struct kcr_conc {
	pthread_mutex_t lock;
	struct running *r;
	size_t n, cap;
};

struct kcr_conc *
kcr_conc_new(void)
{
	struct kcr_conc *t = kcr_xzalloc(sizeof(*t));

	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void
kcr_conc_free(struct kcr_conc *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->r[i].tenant);
	free(t->r);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct running *
conc_find(struct kcr_conc *t, const char *tenant)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->r[i].tenant, tenant) == 0)
			return &t->r[i];
	return NULL;
}

bool
kcr_conc_acquire(struct kcr_conc *t, const char *tenant, unsigned int max)
{
	struct running *r;
	bool ok = true;

	pthread_mutex_lock(&t->lock);
	r = conc_find(t, tenant);
	if (r == NULL) {
		if (t->n == t->cap) {
			t->cap = t->cap ? 2 * t->cap : 8;
			t->r = kcr_xrealloc(t->r, t->cap * sizeof(*t->r));
		}
		r = &t->r[t->n++];
		r->tenant = kcr_xstrdup(tenant);
		r->n = 0;
	}
	if (max && r->n >= max)
		ok = false;
	else
		r->n++;
	if (r->n == 0) { /* refused and holding nothing: no entry */
		free(r->tenant);
		*r = t->r[--t->n];
	}
	pthread_mutex_unlock(&t->lock);
	return ok;
}

void
kcr_conc_release(struct kcr_conc *t, const char *tenant)
{
	struct running *r;

	pthread_mutex_lock(&t->lock);
	r = conc_find(t, tenant);
	if (r && --r->n == 0) {
		free(r->tenant);
		*r = t->r[--t->n];
	}
	pthread_mutex_unlock(&t->lock);
}

unsigned int
kcr_conc_running(struct kcr_conc *t, const char *tenant)
{
	struct running *r;
	unsigned int n;

	pthread_mutex_lock(&t->lock);
	r = conc_find(t, tenant);
	n = r ? r->n : 0;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* Recent activity of kcr serve in fixed memory (activity.h). */
#include <config.h>

#include "server/activity.h"
#include "base/clock.h"
#include "base/lang.h"
#include "base/util.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Latency buckets: 0 holds < 1 ms; bucket b >= 1 holds
 * [2^((b-1)/4), 2^(b/4)) ms; the last one everything from 2^19.75 ms
 * (about 14 minutes, beyond any execution's timeout) up. */
#define PER_DOUBLING 4
#define LAT_BUCKETS  80

/* One language in one minute. */
struct cell {
	uint32_t executions, errors;
	float max_ms;
	uint32_t hist[LAT_BUCKETS];
};

/* One minute: which one (minutes since the epoch), and a cell per language. */
struct minute {
	int64_t minute;
	struct cell *cells;
};

struct kcr_activity {
	pthread_mutex_t lock;
	kcr_activity_clock clock;
	void *clock_ud;
	unsigned int n_lang;
	struct minute ring[KCR_ACTIVITY_MINUTES];
	struct cell *cells; /* n_lang per minute, for all of them */
	struct kcr_activity_error errors[KCR_ACTIVITY_ERRORS];
	size_t n_errors, next_error;
};

static double
wall_clock(void *ud)
{
	(void)ud;
	return kcr_wall_time();
}

struct kcr_activity *
kcr_activity_new(kcr_activity_clock clock, void *clock_ud)
{
	struct kcr_activity *a = kcr_xzalloc(sizeof(*a));

	pthread_mutex_init(&a->lock, NULL);
	a->clock = clock ? clock : wall_clock;
	a->clock_ud = clock_ud;
	a->n_lang = kcr_lang_count();
	a->cells = kcr_xzalloc((size_t)KCR_ACTIVITY_MINUTES * a->n_lang * sizeof(*a->cells));
	for (size_t i = 0; i < KCR_ACTIVITY_MINUTES; i++) {
		a->ring[i].minute = -1;
		a->ring[i].cells = a->cells + i * a->n_lang;
	}
	return a;
}

void
kcr_activity_free(struct kcr_activity *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a->cells);
	free(a);
}

static int
lang_index(const struct kcr_activity *a, const char *id)
{
	for (unsigned int i = 0; i < a->n_lang; i++)
		if (strcmp(kcr_lang_at(i)->id, id) == 0)
			return (int)i;
	return -1;
}

static int64_t
minute_of(double t)
{
	return (int64_t)floor(t / 60.0);
}

/* The bucket of minute m, emptied first when it still holds an older
 * minute (the ring has turned). A clock that went back finds a newer
 * minute there and empties it too: a wall clock set back loses what it
 * skipped over, not more. */
static struct minute *
bucket_locked(struct kcr_activity *a, int64_t m)
{
	struct minute *b = &a->ring[m % KCR_ACTIVITY_MINUTES];

	if (b->minute != m) {
		memset(b->cells, 0, a->n_lang * sizeof(*b->cells));
		b->minute = m;
	}
	return b;
}

static unsigned int
lat_bucket(double ms)
{
	double b;

	if (!(ms >= 1.0)) /* NaN too */
		return 0;
	b = 1.0 + floor(PER_DOUBLING * log2(ms));
	return b >= LAT_BUCKETS - 1 ? LAT_BUCKETS - 1 : (unsigned int)b;
}

/* A bucket's latency: its geometric middle. */
static double
lat_value(unsigned int b)
{
	return b == 0 ? 0.5 : exp2(((double)b - 0.5) / PER_DOUBLING);
}

void
kcr_activity_exec(struct kcr_activity *a, const char *lang, double ms, bool failed)
{
	int li = lang ? lang_index(a, lang) : -1;
	struct cell *c;

	if (li < 0)
		return;
	pthread_mutex_lock(&a->lock);
	c = &bucket_locked(a, minute_of(a->clock(a->clock_ud)))->cells[li];
	c->executions++;
	c->errors += failed;
	c->hist[lat_bucket(ms)]++;
	if (ms > c->max_ms)
		c->max_ms = (float)ms;
	pthread_mutex_unlock(&a->lock);
}

void
kcr_activity_copy(char *out, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (size == 0)
		return;
	if (n < size) {
		memcpy(out, s, n + 1);
		return;
	}
	n = size > 4 ? size - 4 : 0;
	/* back off the continuation bytes of a character cut in two */
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	snprintf(out, size, "%.*s%s", (int)n, s, size > 4 ? "..." : "");
}

void
kcr_activity_error(struct kcr_activity *a, const struct kcr_activity_error *e)
{
	struct kcr_activity_error *slot;

	pthread_mutex_lock(&a->lock);
	slot = &a->errors[a->next_error];
	*slot = *e;
	if (slot->ts == 0)
		slot->ts = a->clock(a->clock_ud);
	a->next_error = (a->next_error + 1) % KCR_ACTIVITY_ERRORS;
	if (a->n_errors < KCR_ACTIVITY_ERRORS)
		a->n_errors++;
	pthread_mutex_unlock(&a->lock);
}

/* ---- the snapshot ---------------------------------------------------------- */

/* The cells of language li in the minute k minutes before now's (NULL:
 * nothing then). */
static const struct cell *
cell_at(const struct kcr_activity *a, int64_t now_m, unsigned int k, unsigned int li)
{
	int64_t m = now_m - k;
	const struct minute *b;

	if (m < 0)
		return NULL;
	b = &a->ring[m % KCR_ACTIVITY_MINUTES];
	return b->minute == m ? &b->cells[li] : NULL;
}

/* Adds c's histogram into sum. */
static void
merge(struct cell *sum, const struct cell *c)
{
	sum->executions += c->executions;
	sum->errors += c->errors;
	if (c->max_ms > sum->max_ms)
		sum->max_ms = c->max_ms;
	for (unsigned int b = 0; b < LAT_BUCKETS; b++)
		sum->hist[b] += c->hist[b];
}

static double
percentile(const struct cell *c, double p)
{
	uint64_t rank = (uint64_t)ceil(p / 100.0 * c->executions), seen = 0;

	if (rank == 0)
		rank = 1;
	for (unsigned int b = 0; b < LAT_BUCKETS; b++) {
		seen += c->hist[b];
		if (seen >= rank)
			return fmin(lat_value(b), c->max_ms);
	}
	return c->max_ms;
}

static cJSON *
latency_json(const struct cell *c)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "count", c->executions);
	cJSON_AddNumberToObject(o, "p50_ms", c->executions ? percentile(c, 50) : 0);
	cJSON_AddNumberToObject(o, "p95_ms", c->executions ? percentile(c, 95) : 0);
	cJSON_AddNumberToObject(o, "p99_ms", c->executions ? percentile(c, 99) : 0);
	cJSON_AddNumberToObject(o, "max_ms", c->max_ms);
	return o;
}

/* "executions" and "errors": a series of 60 per language used in the hour. */
static void
series_json_locked(const struct kcr_activity *a, int64_t now_m, cJSON *execs, cJSON *errs)
{
	for (unsigned int li = 0; li < a->n_lang; li++) {
		double e[KCR_ACTIVITY_MINUTES], f[KCR_ACTIVITY_MINUTES];
		bool any = false;

		for (unsigned int k = 0; k < KCR_ACTIVITY_MINUTES; k++) {
			/* oldest first */
			const struct cell *c = cell_at(a, now_m, KCR_ACTIVITY_MINUTES - 1 - k, li);

			e[k] = c ? c->executions : 0;
			f[k] = c ? c->errors : 0;
			any = any || e[k] > 0;
		}
		if (!any)
			continue;
		cJSON_AddItemToObject(execs, kcr_lang_at(li)->id,
				      cJSON_CreateDoubleArray(e, KCR_ACTIVITY_MINUTES));
		cJSON_AddItemToObject(errs, kcr_lang_at(li)->id,
				      cJSON_CreateDoubleArray(f, KCR_ACTIVITY_MINUTES));
	}
}

static void
latency_all_json_locked(const struct kcr_activity *a, int64_t now_m, unsigned int window, cJSON *o)
{
	struct cell all = { 0 };
	cJSON *langs;

	cJSON_AddNumberToObject(o, "window_minutes", window);
	langs = cJSON_CreateObject();
	for (unsigned int li = 0; li < a->n_lang; li++) {
		struct cell sum = { 0 };

		for (unsigned int k = 0; k < window; k++) {
			const struct cell *c = cell_at(a, now_m, k, li);

			if (c)
				merge(&sum, c);
		}
		if (sum.executions == 0)
			continue;
		merge(&all, &sum);
		cJSON_AddItemToObject(langs, kcr_lang_at(li)->id, latency_json(&sum));
	}
	cJSON_AddItemToObject(o, "overall", latency_json(&all));
	cJSON_AddItemToObject(o, "languages", langs);
}

static cJSON *
error_json(const struct kcr_activity_error *e)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "ts", e->ts);
	cJSON_AddNumberToObject(o, "status", e->status);
	cJSON_AddStringToObject(o, "method", e->method);
	cJSON_AddStringToObject(o, "route", e->route);
	cJSON_AddStringToObject(o, "error_type", e->error_type);
	cJSON_AddStringToObject(o, "message", e->message);
	cJSON_AddStringToObject(o, "key_id", e->key_id);
	cJSON_AddBoolToObject(o, "admin", e->admin);
	cJSON_AddStringToObject(o, "request_id", e->request_id);
	return o;
}

cJSON *
kcr_activity_json(struct kcr_activity *a, unsigned int latency_minutes)
{
	cJSON *o = cJSON_CreateObject(), *execs, *errs, *lat, *recent;
	double now;
	int64_t now_m;

	if (latency_minutes < 1)
		latency_minutes = 1;
	if (latency_minutes > KCR_ACTIVITY_MINUTES)
		latency_minutes = KCR_ACTIVITY_MINUTES;
	pthread_mutex_lock(&a->lock);
	now = a->clock(a->clock_ud);
	now_m = minute_of(now);
	cJSON_AddNumberToObject(o, "now", now);
	cJSON_AddNumberToObject(o, "minute_start",
				(double)(now_m - (KCR_ACTIVITY_MINUTES - 1)) * 60.0);
	cJSON_AddNumberToObject(o, "minutes", KCR_ACTIVITY_MINUTES);
	execs = cJSON_AddObjectToObject(o, "executions");
	errs = cJSON_AddObjectToObject(o, "errors");
	series_json_locked(a, now_m, execs, errs);
	lat = cJSON_AddObjectToObject(o, "latency");
	latency_all_json_locked(a, now_m, latency_minutes, lat);
	recent = cJSON_AddArrayToObject(o, "recent_errors");
	for (size_t i = 1; i <= a->n_errors; i++) /* newest first */
		cJSON_AddItemToArray(
			recent, error_json(&a->errors[(a->next_error + KCR_ACTIVITY_ERRORS - i) %
						      KCR_ACTIVITY_ERRORS]));
	pthread_mutex_unlock(&a->lock);
	return o;
}

/* Usage per key and language, added up in memory and flushed to the
 * store's counters (usage.h). */
#include <config.h>

#include "server/usage.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const fields[KCR_USAGE_FIELDS] = {
	[KCR_USAGE_EXECUTIONS] = "executions", [KCR_USAGE_ERRORS] = "errors",
	[KCR_USAGE_RUN_MS] = "run_ms",         [KCR_USAGE_CPU_MS] = "cpu_ms",
	[KCR_USAGE_BYTES] = "bytes",
};

const char *
kcr_usage_field_name(unsigned int f)
{
	return fields[f];
}

void
kcr_usage_counter_name(const char *id, const char *lang, unsigned int f, char *out, size_t size)
{
	snprintf(out, size, "usage:%s:%s:%s", id, lang, fields[f]);
}

struct entry {
	char id[KCR_KEY_ID_LEN + 1];
	char lang[16];
	int64_t v[KCR_USAGE_FIELDS];
};

struct kcr_usage {
	struct kcr_stores *st;
	pthread_mutex_t lock; /* the table */
	struct entry *e;
	size_t n, cap;
	pthread_mutex_t flush_lock; /* one flush at a time */
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stop, has_thread;
	unsigned int flush_ms;
	pthread_t thread;
};

static void
add_locked(struct kcr_usage *u, const char *id, const char *lang, const int64_t v[])
{
	struct entry *e = NULL;

	for (size_t i = 0; i < u->n && e == NULL; i++)
		if (strcmp(u->e[i].id, id) == 0 && strcmp(u->e[i].lang, lang) == 0)
			e = &u->e[i];
	if (e == NULL) {
		if (u->n == u->cap) {
			u->cap = u->cap ? 2 * u->cap : 16;
			u->e = kcr_xrealloc(u->e, u->cap * sizeof(*u->e));
		}
		e = &u->e[u->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->id, sizeof(e->id), "%s", id);
		snprintf(e->lang, sizeof(e->lang), "%s", lang);
	}
	for (unsigned int f = 0; f < KCR_USAGE_FIELDS; f++)
		e->v[f] += v[f];
}

void
kcr_usage_add(struct kcr_usage *u, const char *id, const char *lang,
	      const int64_t v[KCR_USAGE_FIELDS])
{
	pthread_mutex_lock(&u->lock);
	add_locked(u, id, lang, v);
	pthread_mutex_unlock(&u->lock);
}

/* One entry's fields into the store; what is not written stays in e. */
static int
flush_entry(struct kcr_usage *u, struct entry *e, kcr_error_t *err)
{
	for (unsigned int f = 0; f < KCR_USAGE_FIELDS; f++) {
		char name[KCR_COUNTER_NAME_MAX + 1];

		if (e->v[f] == 0)
			continue;
		kcr_usage_counter_name(e->id, e->lang, f, name, sizeof(name));
		if (kcr_store_counter_add(u->st, name, e->v[f], 0, NULL, err) < 0)
			return -1;
		e->v[f] = 0;
	}
	return 0;
}

int
kcr_usage_flush(struct kcr_usage *u, kcr_error_t *err)
{
	struct entry *e;
	size_t n;
	int r = 0;

	pthread_mutex_lock(&u->flush_lock);
	pthread_mutex_lock(&u->lock);
	e = u->e;
	n = u->n;
	u->e = NULL;
	u->n = u->cap = 0;
	pthread_mutex_unlock(&u->lock);
	for (size_t i = 0; i < n && r == 0; i++)
		r = flush_entry(u, &e[i], err);
	if (r < 0) { /* kept for the next flush */
		pthread_mutex_lock(&u->lock);
		for (size_t i = 0; i < n; i++)
			add_locked(u, e[i].id, e[i].lang, e[i].v);
		pthread_mutex_unlock(&u->lock);
	}
	pthread_mutex_unlock(&u->flush_lock);
	free(e);
	return r;
}

static void *
flusher(void *arg)
{
	struct kcr_usage *u = arg;

	pthread_mutex_lock(&u->stop_lock);
	while (!u->stop) {
		struct timespec ts = kcr_timespec_in(CLOCK_REALTIME, u->flush_ms);
		kcr_error_t err = NULL;

		pthread_cond_timedwait(&u->stop_cond, &u->stop_lock, &ts);
		pthread_mutex_unlock(&u->stop_lock);
		if (kcr_usage_flush(u, &err) < 0) {
			kcr_log_warn("usage counters: %s (kept for the next flush)", err->msg);
			kcr_error_free(err);
		}
		pthread_mutex_lock(&u->stop_lock);
	}
	pthread_mutex_unlock(&u->stop_lock);
	return NULL;
}

struct kcr_usage *
kcr_usage_new(struct kcr_stores *st, unsigned int flush_ms)
{
	struct kcr_usage *u = kcr_xzalloc(sizeof(*u));

	u->st = st;
	u->flush_ms = flush_ms;
	pthread_mutex_init(&u->lock, NULL);
	pthread_mutex_init(&u->flush_lock, NULL);
	pthread_mutex_init(&u->stop_lock, NULL);
	pthread_cond_init(&u->stop_cond, NULL);
	if (flush_ms)
		u->has_thread = pthread_create(&u->thread, NULL, flusher, u) == 0;
	return u;
}

void
kcr_usage_free(struct kcr_usage *u)
{
	kcr_error_t err = NULL;

	if (u == NULL)
		return;
	if (u->has_thread) {
		pthread_mutex_lock(&u->stop_lock);
		u->stop = true;
		pthread_cond_signal(&u->stop_cond);
		pthread_mutex_unlock(&u->stop_lock);
		pthread_join(u->thread, NULL);
	}
	if (kcr_usage_flush(u, &err) < 0) {
		kcr_log_warn("usage counters lost at exit: %s", err->msg);
		kcr_error_free(err);
	}
	free(u->e);
	pthread_mutex_destroy(&u->lock);
	pthread_mutex_destroy(&u->flush_lock);
	pthread_mutex_destroy(&u->stop_lock);
	pthread_cond_destroy(&u->stop_cond);
	free(u);
}

#include <config.h>

#include "base/clock.h"
#include "engine/service-internal.h"
#include "engine/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

unsigned int
svc_lang_index(const struct kcr_lang *l)
{
	for (unsigned int i = 0; i < kcr_lang_count(); i++)
		if (kcr_lang_at(i) == l)
			return i;
	return 0;
}

void
kcr_service_reload(struct kcr_service *s, const struct kcr_config *cfg)
{
	pthread_mutex_lock(&s->lock);
	s->max_running = (unsigned int)kcr_config_int(cfg, "server.max_concurrent");
	s->max_waiting = (unsigned int)kcr_config_int(cfg, "server.queue_size");
	s->queue_timeout_ms = (uint64_t)kcr_config_int(cfg, "server.queue_timeout") * 1000;
	s->ttl_s = kcr_config_double(cfg, "session.ttl_hours") * 3600;
	s->file_max = (uint64_t)kcr_config_int(cfg, "limits.file_size_mb") << 20;
	s->state_enabled = kcr_config_bool(cfg, "state.enabled");
	s->state_max = (uint64_t)kcr_config_int(cfg, "state.max_size_mb") << 20;
	s->state_ttl_s = (double)kcr_config_int(cfg, "state.ttl_seconds");
	s->state_archive_s = kcr_config_bool(cfg, "state.archive")
				     ? (double)kcr_config_int(cfg, "state.archive_after_seconds")
				     : 0;
	for (unsigned int i = 0; i < kcr_lang_count() && i < KCR_ARRAY_SIZE(s->limits); i++)
		kcr_limits_from_config(&s->limits[i], cfg, kcr_lang_at(i));
	pthread_cond_broadcast(&s->slot_free);
	pthread_mutex_unlock(&s->lock);
	if (s->engine && kcr_engine_pool(s->engine))
		kcr_pool_reload(kcr_engine_pool(s->engine), cfg);
}

struct kcr_service *
kcr_service_new(const struct kcr_config *cfg, kcr_error_t *err)
{
	struct kcr_service *s = kcr_xzalloc(sizeof(*s));

	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->slot_free, NULL);
	kcr_service_reload(s, cfg);
	if (kcr_stores_open(&s->stores, cfg, err) < 0)
		goto fail;
	s->engine = kcr_engine_new(cfg, err);
	if (s->engine == NULL)
		goto fail;
	return s;
fail:
	kcr_service_free(s);
	return NULL;
}

int
kcr_service_enable_pool(struct kcr_service *s, const struct kcr_config *cfg, kcr_error_t *err)
{
	return kcr_engine_enable_pool(s->engine, cfg, err);
}

void
kcr_service_prepare_many(struct kcr_service *s)
{
	kcr_engine_prepare_many(s->engine);
}

struct kcr_stores *
kcr_service_stores(struct kcr_service *s)
{
	return &s->stores;
}

struct kcr_pool *
kcr_service_pool(struct kcr_service *s)
{
	return kcr_engine_pool(s->engine);
}

void
kcr_service_free(struct kcr_service *s)
{
	if (s == NULL)
		return;
	kcr_engine_free(s->engine);
	kcr_stores_close(&s->stores);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->slot_free);
	free(s);
}

void
kcr_service_load(struct kcr_service *s, unsigned int *running, unsigned int *waiting)
{
	pthread_mutex_lock(&s->lock);
	*running = s->running;
	*waiting = s->waiting;
	pthread_mutex_unlock(&s->lock);
}

typedef int (*check_fn)(struct kcr_service *s, const char **backend, kcr_error_t *err);

static int
check_sandbox(struct kcr_service *s, const char **backend, kcr_error_t *err)
{
	return kcr_engine_health(s->engine, backend, err);
}

static int
check_sessions(struct kcr_service *s, const char **backend, kcr_error_t *err)
{
	*backend = s->stores.sessions->name;
	return kcr_store_ping_sessions(&s->stores, err);
}

static int
check_files(struct kcr_service *s, const char **backend, kcr_error_t *err)
{
	*backend = s->stores.files->name;
	return kcr_store_ping_files(&s->stores, err);
}

static bool
run_check(struct kcr_service *s, const char *name, check_fn fn, struct kcr_health_check *c)
{
	uint64_t t0 = kcr_now_ns();
	kcr_error_t err = NULL;

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->ok = fn(s, &c->backend, &err) == 0;
	c->latency_ms = (double)(kcr_now_ns() - t0) / 1e6;
	if (!c->ok) {
		c->error = kcr_xstrdup(err->msg);
		kcr_error_free(err);
	}
	return c->ok;
}

int
kcr_service_store_checks(struct kcr_service *s, struct kcr_health_check checks[2])
{
	int failed = 0;

	failed += !run_check(s, "session_store", check_sessions, &checks[0]);
	failed += !run_check(s, "file_store", check_files, &checks[1]);
	return failed;
}

int
kcr_service_health(struct kcr_service *s, struct kcr_health_check checks[KCR_HEALTH_CHECKS])
{
	int failed = !run_check(s, "sandbox", check_sandbox, &checks[0]);

	return failed + kcr_service_store_checks(s, &checks[1]);
}

void
kcr_health_checks_release_n(struct kcr_health_check *checks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(kcr_steal(&checks[i].error));
}

void
kcr_health_checks_release(struct kcr_health_check checks[KCR_HEALTH_CHECKS])
{
	kcr_health_checks_release_n(checks, KCR_HEALTH_CHECKS);
}

/* ---- the execution slots: a bounded queue in front of the engine ------ */

int
svc_slot_acquire(struct kcr_service *s, kcr_error_t *err)
{
	struct timespec until;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	pthread_mutex_lock(&s->lock);
	until.tv_sec += (time_t)(s->queue_timeout_ms / 1000);
	if (s->running >= s->max_running && s->waiting >= s->max_waiting) {
		r = kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				  "server busy: %u executions running and %u waiting", s->running,
				  s->waiting);
		goto out;
	}
	s->waiting++;
	while (s->running >= s->max_running && r == 0)
		if (pthread_cond_timedwait(&s->slot_free, &s->lock, &until) == ETIMEDOUT)
			r = kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
					  "server busy: no execution slot within %llu s",
					  (unsigned long long)s->queue_timeout_ms / 1000);
	s->waiting--;
	if (r == 0)
		s->running++;
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

void
svc_slot_release(struct kcr_service *s)
{
	pthread_mutex_lock(&s->lock);
	s->running--;
	pthread_cond_signal(&s->slot_free);
	pthread_mutex_unlock(&s->lock);
}

/* ---- sessions ---------------------------------------------------------- */

/* ---- files ---------------------------------------------------------- */

/* ---- the Python state of a session -------------------------------------- */

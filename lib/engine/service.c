#include <config.h>

#include "engine/service.h"
#include "base/clock.h"
#include "base/encode.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/metrics.h"
#include "engine/engine.h"
#include "engine/pool.h"
#include "base/pystate_blob.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct kcr_service {
	struct kcr_stores stores;
	struct kcr_engine *engine;
	pthread_mutex_t lock;
	pthread_cond_t slot_free;
	unsigned int running, waiting;
	/* reloadable, under lock */
	unsigned int max_running, max_waiting;
	uint64_t queue_timeout_ms;
	double ttl_s;
	uint64_t file_max;
	struct kcr_limits limits[32]; /* per language, by table index */
	bool state_enabled;           /* Python state (lib/base/pystate_blob.h) */
	uint64_t state_max;
	double state_ttl_s;
};

/* The most bytes of a stored state read back, whatever state.max_size_mb
 * is now (its largest value). */
#define STATE_READ_MAX ((uint64_t)100 << 20)

static unsigned int
lang_index(const struct kcr_lang *l)
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

/* ---- the execution slots: a bounded queue in front of the engine ------ */

static int
slot_acquire(struct kcr_service *s, kcr_error_t *err)
{
	struct timespec until;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	pthread_mutex_lock(&s->lock);
	until.tv_sec += (time_t)(s->queue_timeout_ms / 1000);
	if (s->running >= s->max_running && s->waiting >= s->max_waiting) {
		r = kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				  "server busy: %u executions running and %u waiting",
				  s->running, s->waiting);
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

static void
slot_release(struct kcr_service *s)
{
	pthread_mutex_lock(&s->lock);
	s->running--;
	pthread_cond_signal(&s->slot_free);
	pthread_mutex_unlock(&s->lock);
}

/* ---- sessions ---------------------------------------------------------- */

static bool
session_exists(struct kcr_service *s, const char *sid)
{
	struct kcr_session sess;
	kcr_error_t e = NULL;

	if (sid == NULL || !kcr_id_valid(sid) ||
	    s->stores.sessions->session_get(s->stores.sessions_self, sid, &sess, &e) < 0) {
		kcr_error_free(e);
		return false;
	}
	kcr_session_release(&sess);
	return true;
}

/* Creates or refreshes a session: last use now, expiry now + TTL. */
static int
session_touch(struct kcr_service *s, const char *sid, const char *entity_id,
	      const char *user_id, kcr_error_t *err)
{
	struct kcr_session sess = { 0 };
	kcr_error_t e = NULL;
	double now = kcr_wall_time();
	int r;

	if (s->stores.sessions->session_get(s->stores.sessions_self, sid, &sess, &e) < 0) {
		kcr_error_free(e);
		memcpy(sess.id, sid, sizeof(sess.id));
		sess.created = now;
		sess.entity_id = entity_id ? kcr_xstrdup(entity_id) : NULL;
		sess.user_id = user_id ? kcr_xstrdup(user_id) : NULL;
	}
	sess.last_used = now;
	sess.expires = s->ttl_s > 0 ? now + s->ttl_s : 0;
	r = s->stores.sessions->session_put(s->stores.sessions_self, &sess, err);
	kcr_session_release(&sess);
	return r;
}

static void
session_for_entity(struct kcr_service *s, const char *entity_id, char sid[KCR_ID_LEN + 1])
{
	struct kcr_session sess;
	kcr_error_t e = NULL;

	if (entity_id == NULL ||
	    s->stores.sessions->session_by_entity(s->stores.sessions_self, entity_id, &sess, &e) < 0) {
		kcr_error_free(e);
		return;
	}
	memcpy(sid, sess.id, KCR_ID_LEN + 1);
	kcr_session_release(&sess);
}

static int
resolve_session(struct kcr_service *s, const struct kcr_exec_call *c, char sid[KCR_ID_LEN + 1],
		kcr_error_t *err)
{
	sid[0] = '\0';
	if (session_exists(s, c->session_id))
		memcpy(sid, c->session_id, KCR_ID_LEN + 1);
	for (size_t i = 0; !sid[0] && i < c->n_files; i++)
		if (session_exists(s, c->files[i].session_id))
			memcpy(sid, c->files[i].session_id, KCR_ID_LEN + 1);
	if (!sid[0])
		session_for_entity(s, c->entity_id, sid);
	if (!sid[0])
		kcr_id_generate(sid);
	return session_touch(s, sid, c->entity_id, c->user_id, err);
}

int
kcr_service_upload_session(struct kcr_service *s, const char *session_id,
			   const char *entity_id, const char *user_id, char sid[KCR_ID_LEN + 1],
			   kcr_error_t *err)
{
	sid[0] = '\0';
	if (session_id) {
		if (!session_exists(s, session_id))
			return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session '%s' not found",
					     session_id);
		memcpy(sid, session_id, KCR_ID_LEN + 1);
	}
	if (!sid[0])
		session_for_entity(s, entity_id, sid);
	if (!sid[0])
		kcr_id_generate(sid);
	return session_touch(s, sid, entity_id, user_id, err);
}

/* ---- files ---------------------------------------------------------- */

static char *
blob_key(const char *sid, const char *fid)
{
	return kcr_strdup_printf("%s/%s", sid, fid);
}

/* Stores bytes, then the record: a record never points at missing bytes. */
static int
store_file(struct kcr_service *s, struct kcr_file_meta *m, const void *data, size_t len,
	   kcr_error_t *err)
{
	kcr_autofree char *key = blob_key(m->session_id, m->id);

	m->size = len;
	kcr_sha256_hex(data, len, m->sha256);
	if (m->content_type == NULL)
		m->content_type = kcr_xstrdup(kcr_content_type_for(m->name));
	if (s->stores.files->put(s->stores.files_self, key, data, len, err) < 0)
		return kcr_error_wrap(err, "storing '%s'", m->name);
	if (s->stores.sessions->file_put(s->stores.sessions_self, m, err) < 0) {
		kcr_error_t e = NULL;

		s->stores.files->del(s->stores.files_self, key, &e);
		kcr_error_free(e);
		return kcr_error_wrap(err, "storing '%s'", m->name);
	}
	return 0;
}

static void
new_meta(struct kcr_file_meta *m, const char *sid, const char *name, const char *kind)
{
	double now = kcr_wall_time();

	memset(m, 0, sizeof(*m));
	kcr_id_generate(m->id);
	memcpy(m->session_id, sid, KCR_ID_LEN + 1);
	m->name = kcr_xstrdup(name);
	m->kind = kcr_xstrdup(kind);
	m->created = m->modified = now;
}

int
kcr_service_put_file(struct kcr_service *s, const char *sid, const char *name, const void *data,
		     size_t len, struct kcr_file_meta *out, kcr_error_t *err)
{
	if (len > s->file_max)
		return kcr_error_set(err, KCR_E_LIMIT, 0, "'%s' is %zu bytes, over the limit of %llu",
				     name, len, (unsigned long long)s->file_max);
	new_meta(out, sid, "", "upload");
	free(out->name);
	out->name = kcr_sanitize_filename(name);
	out->original_name = kcr_xstrdup(name);
	if (store_file(s, out, data, len, err) < 0) {
		kcr_file_meta_release(out);
		return -1;
	}
	return 0;
}

int
kcr_service_get_file(struct kcr_service *s, const char *sid, const char *fid,
		     struct kcr_file_meta *meta, char **data, size_t *len, kcr_error_t *err)
{
	kcr_autofree char *key = NULL;

	if (!kcr_id_valid(sid) || !kcr_id_valid(fid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session or file id");
	if (!session_exists(s, sid)) /* expired, not yet swept: gone all the same */
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session %s not found", sid);
	if (s->stores.sessions->file_get(s->stores.sessions_self, sid, fid, meta, err) < 0)
		return -1;
	if (data == NULL)
		return 0;
	key = blob_key(sid, fid);
	if (s->stores.files->get(s->stores.files_self, key, s->file_max, data, len, err) < 0) {
		kcr_file_meta_release(meta);
		return -1;
	}
	return 0;
}

int
kcr_service_list(struct kcr_service *s, const char *sid, struct kcr_file_meta **files, size_t *n,
		 bool *active, kcr_error_t *err)
{
	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	*active = session_exists(s, sid);
	if (!*active) { /* unknown or expired: no files (LibreChat re-uploads) */
		*files = kcr_xzalloc(sizeof(**files));
		*n = 0;
		return 0;
	}
	return s->stores.sessions->file_list(s->stores.sessions_self, sid, files, n, err);
}

int
kcr_service_delete_file(struct kcr_service *s, const char *sid, const char *fid,
			kcr_error_t *err)
{
	kcr_autofree char *key = NULL;

	if (!kcr_id_valid(sid) || !kcr_id_valid(fid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session or file id");
	if (s->stores.sessions->file_delete(s->stores.sessions_self, sid, fid, err) < 0)
		return -1;
	key = blob_key(sid, fid);
	return s->stores.files->del(s->stores.files_self, key, err);
}

static int
delete_session(struct kcr_service *s, const char *sid, kcr_error_t *err)
{
	struct kcr_file_meta *files = NULL;
	size_t n = 0;

	if (s->stores.sessions->file_list(s->stores.sessions_self, sid, &files, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		kcr_autofree char *key = blob_key(sid, files[i].id);
		kcr_error_t e = NULL;

		if (s->stores.files->del(s->stores.files_self, key, &e) < 0)
			kcr_error_warn_release(&e);
	}
	kcr_file_meta_list_free(files, n);
	return s->stores.sessions->session_delete(s->stores.sessions_self, sid, err);
}

int
kcr_service_cleanup(struct kcr_service *s, kcr_error_t *err)
{
	kcr_autostrv char **ids = NULL;
	int n = 0;

	if (s->stores.sessions->sessions_expired(s->stores.sessions_self, kcr_wall_time(), &ids,
						 err) < 0)
		return -1;
	for (size_t i = 0; ids[i]; i++) {
		kcr_error_t e = NULL;

		if (delete_session(s, ids[i], &e) < 0)
			kcr_error_warn_release(&e);
		else
			n++;
	}
	if (n)
		kcr_log_info("removed %d expired session%s", n, n == 1 ? "" : "s");
	return n;
}

/* ---- the Python state of a session -------------------------------------- */

struct state_cfg {
	bool enabled;
	uint64_t max;
	double ttl_s;
};

static void
state_cfg(struct kcr_service *s, struct state_cfg *sc)
{
	pthread_mutex_lock(&s->lock);
	*sc = (struct state_cfg){ s->state_enabled, s->state_max, s->state_ttl_s };
	pthread_mutex_unlock(&s->lock);
}

static int
state_store(struct kcr_service *s, const char *sid, const void *blob, size_t len, double ttl_s,
	    struct kcr_state_info *info, kcr_error_t *err)
{
	double now = kcr_wall_time();

	memset(info, 0, sizeof(*info));
	info->size = len;
	kcr_state_hash(blob, len, info->hash);
	info->created = now;
	info->expires = ttl_s > 0 ? now + ttl_s : 0;
	return s->stores.sessions->state_put(s->stores.sessions_self, sid, blob, len, info, err);
}

int
kcr_service_state_get(struct kcr_service *s, const char *sid, char **data, size_t *len,
		      struct kcr_state_info *info, kcr_error_t *err)
{
	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	if (!session_exists(s, sid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no state for session %s", sid);
	return s->stores.sessions->state_get(s->stores.sessions_self, sid, STATE_READ_MAX, data,
					     len, info, err);
}

int
kcr_service_state_info(struct kcr_service *s, const char *sid, struct kcr_state_info *info,
		       kcr_error_t *err)
{
	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	if (!session_exists(s, sid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no state for session %s", sid);
	return s->stores.sessions->state_info(s->stores.sessions_self, sid, info, err);
}

int
kcr_service_state_put(struct kcr_service *s, const char *sid, const void *data, size_t len,
		      struct kcr_state_info *info, kcr_error_t *err)
{
	struct state_cfg sc;

	state_cfg(s, &sc);
	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	if (!session_exists(s, sid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session %s not found", sid);
	if (len > sc.max)
		return kcr_error_set(err, KCR_E_LIMIT, 0, "the state is %zu bytes, over the limit of %llu",
				     len, (unsigned long long)sc.max);
	if (kcr_state_validate(data, len, sc.max, err) < 0)
		return -1;
	return state_store(s, sid, data, len, sc.ttl_s, info, err);
}

int
kcr_service_state_delete(struct kcr_service *s, const char *sid, kcr_error_t *err)
{
	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	return s->stores.sessions->state_delete(s->stores.sessions_self, sid, err);
}

static bool
state_applies(const struct state_cfg *sc, const struct kcr_exec_call *c)
{
	return sc->enabled && c->exec.lang && strcmp(c->exec.lang->id, "py") == 0;
}

/* Before a run: the session's state, decoded, goes into the request, and
 * the run is asked for its globals. A state that no longer decodes (or is
 * over the limit now) is not restored, and *note says so; one that can't
 * be read fails the run, which would otherwise replace it. */
static int
load_state(struct kcr_service *s, const char *sid, const struct state_cfg *sc,
	   struct kcr_exec_req *x, char **note, kcr_error_t *err)
{
	kcr_autofree char *blob = NULL;
	kcr_error_t e = NULL;
	size_t len;

	x->want_state = true;
	x->state_max = sc->max;
	if (s->stores.sessions->state_get(s->stores.sessions_self, sid, STATE_READ_MAX, &blob, &len,
					  NULL, &e) < 0) {
		if (e->code != KCR_E_NOTFOUND && e->code != KCR_E_LIMIT) {
			*err = e;
			return kcr_error_wrap(err, "loading the Python state");
		}
		if (e->code == KCR_E_LIMIT)
			*note = kcr_strdup_printf("kcr: state: not restored: %s", e->msg);
		kcr_error_free(e);
		return 0;
	}
	if (kcr_state_decode(blob, len, sc->max, &x->state_in, &x->state_in_len, &e) < 0) {
		*note = kcr_strdup_printf("kcr: state: not restored: %s", e->msg);
		kcr_error_free(e);
	}
	return 0;
}

/* After a run: the globals it left become the session's state (over the
 * limit, or failing to store: a line on its stderr, and the old state
 * stays); the result tells what state the session has now. */
static void
save_state(struct kcr_service *s, const char *sid, const struct state_cfg *sc,
	   struct kcr_exec_result *res)
{
	struct kcr_exec_res *x = &res->exec;
	struct kcr_state_info info;
	kcr_autofree char *blob = NULL;
	kcr_error_t e = NULL;
	size_t len;
	int r = -1;

	if (x->state_out) {
		r = kcr_state_encode(x->state_out, x->state_out_len, sc->max, &blob, &len, &e);
		if (r == 0)
			r = state_store(s, sid, blob, len, sc->ttl_s, &info, &e);
		if (r < 0) {
			if (e->code != KCR_E_LIMIT)
				kcr_log_warn("session %s: %s", sid, e->msg);
			kcr_exec_res_append_err(x, "kcr: state: not saved: %s", e->msg);
			kcr_error_release(&e);
		}
		free(kcr_steal(&x->state_out));
		x->state_out_len = 0;
	}
	if (r < 0 && s->stores.sessions->state_info(s->stores.sessions_self, sid, &info, &e) < 0) {
		kcr_error_free(e);
		return;
	}
	res->has_state = true;
	res->state_size = info.size;
	memcpy(res->state_hash, info.hash, sizeof(res->state_hash));
}

/* ---- executions --------------------------------------------------------- */

struct input_origin {
	char id[KCR_ID_LEN + 1], sid[KCR_ID_LEN + 1];
};

/* Loads one referenced file; from another session it is copied into sid
 * first (KubeCodeRun's consolidation), so the session owns what it used. */
static int
load_input(struct kcr_service *s, const char *sid, const struct kcr_file_ref *ref,
	   struct kcr_file *in, struct input_origin *origin, kcr_error_t *err)
{
	struct kcr_file_meta meta;
	kcr_autofree char *name = NULL;

	if (!kcr_id_valid(ref->id) || !kcr_id_valid(ref->session_id))
		return kcr_error_set(err, KCR_E_INVALID, 0, "file reference has an invalid id");
	if (kcr_service_get_file(s, ref->session_id, ref->id, &meta, &in->data, &in->len, err) < 0)
		return kcr_error_wrap(err, "input file %s/%s", ref->session_id, ref->id);
	/* a name the API validated already (or one it reported for an output)
	 * is kept as it is, so the program finds the file where it was told */
	name = ref->name && kcr_name_is_safe(ref->name) ? kcr_xstrdup(ref->name)
							: kcr_sanitize_filename(meta.name);
	in->name = kcr_steal(&name);
	memcpy(origin->id, meta.id, sizeof(origin->id));
	memcpy(origin->sid, meta.session_id, sizeof(origin->sid));
	kcr_file_meta_release(&meta);
	if (strcmp(ref->session_id, sid) != 0) {
		struct kcr_file_meta copy;

		new_meta(&copy, sid, in->name, "upload");
		if (store_file(s, &copy, in->data, in->len, err) < 0)
			return -1;
		memcpy(origin->id, copy.id, sizeof(origin->id));
		memcpy(origin->sid, sid, sizeof(origin->sid));
		kcr_file_meta_release(&copy);
	}
	return 0;
}

static int
load_inputs(struct kcr_service *s, const char *sid, const struct kcr_exec_call *c,
	    struct kcr_run_req *run, struct input_origin *origins, kcr_error_t *err)
{
	run->inputs = kcr_xzalloc((c->n_files ? c->n_files : 1) * sizeof(*run->inputs));
	for (size_t i = 0; i < c->n_files; i++) {
		if (load_input(s, sid, &c->files[i], &run->inputs[i], &origins[i], err) < 0)
			return -1;
		run->n_inputs = i + 1;
		for (size_t j = 0; j < i; j++) /* the same file twice: keep one */
			if (strcmp(run->inputs[j].name, run->inputs[i].name) == 0) {
				kcr_file_release(&run->inputs[i]);
				run->n_inputs = i;
				break;
			}
	}
	return 0;
}

static int
store_outputs(struct kcr_service *s, const char *sid, const struct kcr_run_req *run,
	      const struct input_origin *origins, struct kcr_run_res *rr,
	      struct kcr_exec_result *res, kcr_error_t *err)
{
	res->files = kcr_xzalloc((rr->n_outputs ? rr->n_outputs : 1) * sizeof(*res->files));
	for (size_t i = 0; i < rr->n_outputs; i++) {
		struct kcr_file_meta *m = &res->files[res->n_files];
		const struct kcr_file *f = &rr->outputs[i];

		new_meta(m, sid, f->name, "output");
		for (size_t j = 0; f->was_input && j < run->n_inputs; j++)
			if (strcmp(run->inputs[j].name, f->name) == 0) {
				memcpy(m->modified_from, origins[j].id, sizeof(m->modified_from));
				memcpy(m->modified_from_session, origins[j].sid,
				       sizeof(m->modified_from_session));
			}
		if (store_file(s, m, f->data, f->len, err) < 0) {
			kcr_file_meta_release(m);
			return -1;
		}
		res->n_files++;
	}
	return 0;
}

static void
call_limits(struct kcr_service *s, struct kcr_exec_call *c)
{
	uint32_t timeout = c->exec.limits.timeout_ms;

	pthread_mutex_lock(&s->lock);
	c->exec.limits = s->limits[lang_index(c->exec.lang)];
	pthread_mutex_unlock(&s->lock);
	/* a caller may ask for less time than the operator allows, not more */
	if (timeout && timeout < c->exec.limits.timeout_ms)
		c->exec.limits.timeout_ms = timeout;
}

static int
run_call(struct kcr_service *s, struct kcr_exec_call *c, struct kcr_exec_result *res,
	 kcr_error_t *err)
{
	struct kcr_run_req run = { .exec = c->exec };
	struct kcr_run_res rr = { 0 };
	struct input_origin *origins = kcr_xzalloc((c->n_files + 1) * sizeof(*origins));
	uint64_t t0 = kcr_now_ns();
	kcr_autofree char *state_note = NULL;
	struct state_cfg sc;
	int r = -1;

	state_cfg(s, &sc);
	if (resolve_session(s, c, res->session_id, err) < 0 ||
	    load_inputs(s, res->session_id, c, &run, origins, err) < 0 ||
	    (state_applies(&sc, c) &&
	     load_state(s, res->session_id, &sc, &c->exec, &state_note, err) < 0) ||
	    slot_acquire(s, err) < 0)
		goto out;
	run.exec = c->exec; /* with the state */
	res->queue_us = (kcr_now_ns() - t0) / 1000;
	r = kcr_engine_run(s->engine, &run, &rr, err);
	slot_release(s);
	if (r == 0)
		r = store_outputs(s, res->session_id, &run, origins, &rr, res, err);
	if (r == 0) {
		res->exec = rr.exec;
		memset(&rr.exec, 0, sizeof(rr.exec));
		res->setup_us = rr.setup_us;
		if (state_note)
			kcr_exec_res_append_err(&res->exec, "%s", state_note);
		if (state_applies(&sc, c))
			save_state(s, res->session_id, &sc, res);
	}
out:
	for (size_t i = 0; i < run.n_inputs; i++)
		kcr_file_release(&run.inputs[i]);
	free(run.inputs);
	free(origins);
	kcr_run_res_release(&rr);
	res->total_us = (kcr_now_ns() - t0) / 1000;
	return r;
}

/* The execution metrics; r is what the execution returned (-1: kcr could
 * not run it). */
static void
record_exec(const struct kcr_exec_call *c, const struct kcr_exec_result *res, int r,
	    uint64_t t0)
{
	const char *lang = c->exec.lang ? c->exec.lang->id : "unknown";
	const struct kcr_exec_res *e = &res->exec;

	if (r < 0)
		kcr_metrics_execution(lang, "failed", (double)(kcr_now_ns() - t0) / 1e9, -1);
	else
		kcr_metrics_execution(lang,
				      e->timed_out    ? "timeout"
				      : e->oom_killed ? "oom"
				      : e->exit_code  ? "error"
						      : "ok",
				      (double)res->total_us / 1e6, (double)res->setup_us / 1e6);
}

int
kcr_service_exec(struct kcr_service *s, struct kcr_exec_call *c, struct kcr_exec_result *res,
		 kcr_error_t *err)
{
	struct kcr_run_req check = { .exec = c->exec };
	uint64_t t0 = kcr_now_ns();
	int r;

	memset(res, 0, sizeof(*res));
	call_limits(s, c);
	check.exec = c->exec;
	r = kcr_engine_validate(&check, err) < 0 ? -1 : run_call(s, c, res, err);
	record_exec(c, res, r, t0);
	if (r < 0) {
		kcr_exec_result_release(res);
		return -1;
	}
	return 0;
}

void
kcr_exec_call_release(struct kcr_exec_call *c)
{
	kcr_exec_req_release(&c->exec);
	free(c->session_id);
	free(c->entity_id);
	free(c->user_id);
	for (size_t i = 0; i < c->n_files; i++) {
		free(c->files[i].id);
		free(c->files[i].session_id);
		free(c->files[i].name);
	}
	free(c->files);
	memset(c, 0, sizeof(*c));
}

void
kcr_exec_result_release(struct kcr_exec_result *r)
{
	kcr_exec_res_release(&r->exec);
	kcr_file_meta_list_free(r->files, r->n_files);
	r->files = NULL;
	r->n_files = 0;
}

/* ---- names ---------------------------------------------------------- */

char *
kcr_sanitize_filename(const char *name)
{
	const char *base = strrchr(name, '/');
	struct kcr_buf b;
	char *s, *ext;
	size_t len;

	base = base ? base + 1 : name;
	kcr_buf_init(&b);
	if (*base == '.')
		kcr_buf_add(&b, "_", 1);
	for (const unsigned char *p = (const unsigned char *)base; *p; p++) {
		char ch = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					 (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'
				 ? *p
				 : '_');

		/* one '_' per character: skip the continuation bytes of UTF-8 */
		if ((*p & 0xc0) == 0x80 && p > (const unsigned char *)base && p[-1] >= 0x80)
			continue;
		kcr_buf_add(&b, &ch, 1);
	}
	if (b.len == 0)
		kcr_buf_add(&b, "_", 1);
	s = kcr_buf_steal(&b, &len);
	if (len <= 255)
		return s;
	ext = strrchr(s, '.');
	if (ext == NULL || strlen(ext) > 32)
		ext = s + len; /* no usable extension */
	{
		char rnd[KCR_ID_LEN + 1];
		char *t;

		kcr_id_generate(rnd);
		t = kcr_strdup_printf("%.*s-%.6s%s", (int)(255 - strlen(ext) - 7), s, rnd, ext);
		free(s);
		return t;
	}
}

const char *
kcr_content_type_for(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".txt", "text/plain" },      { ".csv", "text/csv" },
		{ ".json", "application/json" }, { ".xml", "application/xml" },
		{ ".html", "text/html" },      { ".md", "text/markdown" },
		{ ".png", "image/png" },       { ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" },     { ".gif", "image/gif" },
		{ ".svg", "image/svg+xml" },   { ".webp", "image/webp" },
		{ ".pdf", "application/pdf" }, { ".zip", "application/zip" },
		{ ".py", "text/x-python" },    { ".js", "text/javascript" },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < KCR_ARRAY_SIZE(types); i++)
		if (strcasecmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* The stores: the registry of backends, and the wrappers every caller
 * goes through, which apply the error rule of store.h. */
#include <config.h>

#include "base/metrics_kcr.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

static const struct kcr_session_store_ops *const session_stores[] = {
	&kcr_session_store_fs_ops,
#ifdef HAVE_REDIS
	&kcr_session_store_redis_ops,
#endif
};
static const struct kcr_file_store_ops *const file_stores[] = {
	&kcr_file_store_fs_ops,
	&kcr_file_store_s3_ops,
};

/* The error rule of store.h: absence, bad arguments and limits are
 * answers; anything else is the store failing, KCR_E_UNAVAILABLE, and the
 * message names it. Returns -1, for `return failed(...)`. */
static int
failed(kcr_error_t *err, const char *kind, const char *name)
{
	if (err == NULL || *err == NULL)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "%s store %s failed", kind, name);
	switch ((*err)->code) {
	case KCR_E_NOTFOUND:
	case KCR_E_INVALID:
	case KCR_E_LIMIT:
	case KCR_E_CONFLICT:
		return -1;
	default:
		(*err)->code = KCR_E_UNAVAILABLE;
		return kcr_error_wrap(err, "%s store %s", kind, name);
	}
}

/* The result label of an op for /metrics: its answer, or "error" when the
 * store failed (after failed() applied the rule). */
static const char *
result_name(int rc, const kcr_error_t *err)
{
	if (rc == 0)
		return "ok";
	if (err == NULL || *err == NULL)
		return "error";
	switch ((*err)->code) {
	case KCR_E_NOTFOUND:
		return "notfound";
	case KCR_E_INVALID:
		return "invalid";
	case KCR_E_LIMIT:
		return "limit";
	case KCR_E_CONFLICT:
		return "conflict";
	default:
		return "error";
	}
}

/* What a session store op returned (r), under the rule, counted by backend. */
static int
sess(const struct kcr_stores *st, int r, kcr_error_t *err)
{
	int rc = r < 0 ? failed(err, "session", st->sessions->name) : 0;

	kcr_metrics_store_op("sessions", st->sessions->name, result_name(rc, err));
	return rc;
}

static int
file(const struct kcr_stores *st, int r, kcr_error_t *err)
{
	int rc = r < 0 ? failed(err, "file", st->files->name) : 0;

	kcr_metrics_store_op("files", st->files->name, result_name(rc, err));
	return rc;
}

int
kcr_stores_open_ops(struct kcr_stores *st, const struct kcr_session_store_ops *sessions,
		    const struct kcr_file_store_ops *files, const struct kcr_config *cfg,
		    kcr_error_t *err)
{
	memset(st, 0, sizeof(*st));
	st->sessions = sessions;
	st->files = files;
	if (sess(st, sessions->open(&st->sessions_self, cfg, err), err) < 0)
		return -1;
	if (file(st, files->open(&st->files_self, cfg, err), err) < 0) {
		sessions->close(st->sessions_self);
		st->sessions_self = NULL;
		return -1;
	}
	return 0;
}

int
kcr_stores_open(struct kcr_stores *st, const struct kcr_config *cfg, kcr_error_t *err)
{
	const char *sname = kcr_config_str(cfg, "store.sessions");
	const char *fname = kcr_config_str(cfg, "store.files");
	const struct kcr_session_store_ops *sessions = NULL;
	const struct kcr_file_store_ops *files = NULL;

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < KCR_ARRAY_SIZE(session_stores); i++)
		if (strcmp(session_stores[i]->name, sname) == 0)
			sessions = session_stores[i];
	for (size_t i = 0; i < KCR_ARRAY_SIZE(file_stores); i++)
		if (strcmp(file_stores[i]->name, fname) == 0)
			files = file_stores[i];
	if (sessions == NULL && strcmp(sname, "redis") == 0)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "this kcr was built without the redis session store "
				     "(configure --with-redis, with hiredis)");
	if (sessions == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0, "unknown session store '%s'", sname);
	if (files == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0, "unknown file store '%s'", fname);
	return kcr_stores_open_ops(st, sessions, files, cfg, err);
}

void
kcr_stores_close(struct kcr_stores *st)
{
	if (st->sessions && st->sessions_self)
		st->sessions->close(st->sessions_self);
	if (st->files && st->files_self)
		st->files->close(st->files_self);
	memset(st, 0, sizeof(*st));
}

int
kcr_store_ping_sessions(struct kcr_stores *st, kcr_error_t *err)
{
	return sess(st, st->sessions->ping(st->sessions_self, err), err);
}

int
kcr_store_ping_files(struct kcr_stores *st, kcr_error_t *err)
{
	return file(st, st->files->ping(st->files_self, err), err);
}

int
kcr_store_ping(struct kcr_stores *st, const char **which, kcr_error_t *err)
{
	if (kcr_store_ping_sessions(st, err) < 0) {
		if (which)
			*which = "sessions";
		return -1;
	}
	if (kcr_store_ping_files(st, err) < 0) {
		if (which)
			*which = "files";
		return -1;
	}
	return 0;
}

bool
kcr_store_native_ttl(const struct kcr_stores *st)
{
	return st->sessions->native_ttl;
}

/* ---- sessions ----------------------------------------------------------- */

int
kcr_store_session_put(struct kcr_stores *st, const struct kcr_session *s, kcr_error_t *err)
{
	return sess(st, st->sessions->session_put(st->sessions_self, s, err), err);
}

int
kcr_store_session_get(struct kcr_stores *st, const char *id, struct kcr_session *out,
		      kcr_error_t *err)
{
	return sess(st, st->sessions->session_get(st->sessions_self, id, out, err), err);
}

int
kcr_store_session_touch(struct kcr_stores *st, const struct kcr_session *init, double ttl_s,
			struct kcr_session *out, bool *created, kcr_error_t *err)
{
	return sess(st,
		    st->sessions->session_touch(st->sessions_self, init, ttl_s, out, created, err),
		    err);
}

int
kcr_store_session_expire(struct kcr_stores *st, const char *id, double expires_at, kcr_error_t *err)
{
	return sess(st, st->sessions->session_expire(st->sessions_self, id, expires_at, err), err);
}

int
kcr_store_session_delete(struct kcr_stores *st, const char *id, kcr_error_t *err)
{
	return sess(st, st->sessions->session_delete(st->sessions_self, id, err), err);
}

int
kcr_store_session_by_owner(struct kcr_stores *st, const char *tenant, const char *entity_id,
			   const char *user_id, struct kcr_session *out, kcr_error_t *err)
{
	return sess(st,
		    st->sessions->session_by_owner(st->sessions_self, tenant, entity_id, user_id,
						   out, err),
		    err);
}

/* A store that expires natively may have no sweep: nothing is due. */
int
kcr_store_sessions_expired(struct kcr_stores *st, double now, char ***ids, kcr_error_t *err)
{
	if (st->sessions->sessions_expired == NULL) {
		*ids = kcr_xzalloc(sizeof(char *));
		return 0;
	}
	return sess(st, st->sessions->sessions_expired(st->sessions_self, now, ids, err), err);
}

int
kcr_store_sessions_list(struct kcr_stores *st, size_t max, char ***ids, kcr_error_t *err)
{
	return sess(st, st->sessions->sessions_list(st->sessions_self, max, ids, err), err);
}

/* ---- file records ------------------------------------------------------- */

int
kcr_store_meta_put(struct kcr_stores *st, const struct kcr_file_meta *m, kcr_error_t *err)
{
	return sess(st, st->sessions->file_put(st->sessions_self, m, err), err);
}

int
kcr_store_meta_get(struct kcr_stores *st, const char *sid, const char *fid,
		   struct kcr_file_meta *out, kcr_error_t *err)
{
	return sess(st, st->sessions->file_get(st->sessions_self, sid, fid, out, err), err);
}

int
kcr_store_meta_list(struct kcr_stores *st, const char *sid, struct kcr_file_meta **out, size_t *n,
		    kcr_error_t *err)
{
	return sess(st, st->sessions->file_list(st->sessions_self, sid, out, n, err), err);
}

int
kcr_store_meta_delete(struct kcr_stores *st, const char *sid, const char *fid, kcr_error_t *err)
{
	return sess(st, st->sessions->file_delete(st->sessions_self, sid, fid, err), err);
}

/* ---- the Python state ---------------------------------------------------- */

int
kcr_store_state_put(struct kcr_stores *st, const char *sid, const void *data, size_t len,
		    const struct kcr_state_info *info, kcr_error_t *err)
{
	return sess(st, st->sessions->state_put(st->sessions_self, sid, data, len, info, err), err);
}

int
kcr_store_state_get(struct kcr_stores *st, const char *sid, uint64_t max, char **data, size_t *len,
		    struct kcr_state_info *info, kcr_error_t *err)
{
	return sess(st, st->sessions->state_get(st->sessions_self, sid, max, data, len, info, err),
		    err);
}

int
kcr_store_state_delete(struct kcr_stores *st, const char *sid, kcr_error_t *err)
{
	return sess(st, st->sessions->state_delete(st->sessions_self, sid, err), err);
}

int
kcr_store_state_info(struct kcr_stores *st, const char *sid, struct kcr_state_info *info,
		     kcr_error_t *err)
{
	return sess(st, st->sessions->state_info(st->sessions_self, sid, info, err), err);
}

int
kcr_store_state_archive(struct kcr_stores *st, const char *sid, const char *hash, kcr_error_t *err)
{
	return sess(st, st->sessions->state_archive(st->sessions_self, sid, hash, err), err);
}

int
kcr_store_state_unarchive(struct kcr_stores *st, const char *sid, const void *data, size_t len,
			  const char *hash, kcr_error_t *err)
{
	return sess(st, st->sessions->state_unarchive(st->sessions_self, sid, data, len, hash, err),
		    err);
}

int
kcr_store_states_idle(struct kcr_stores *st, double before, size_t max, char ***sids,
		      kcr_error_t *err)
{
	*sids = NULL;
	return sess(st, st->sessions->states_idle(st->sessions_self, before, max, sids, err), err);
}

/* ---- API keys and counters ------------------------------------------------ */

int
kcr_store_key_put(struct kcr_stores *st, const struct kcr_api_key_record *k, kcr_error_t *err)
{
	return sess(st, st->sessions->key_put(st->sessions_self, k, err), err);
}

int
kcr_store_key_get(struct kcr_stores *st, const char *id, struct kcr_api_key_record *out,
		  kcr_error_t *err)
{
	return sess(st, st->sessions->key_get(st->sessions_self, id, out, err), err);
}

int
kcr_store_key_list(struct kcr_stores *st, struct kcr_api_key_record **out, size_t *n,
		   kcr_error_t *err)
{
	return sess(st, st->sessions->key_list(st->sessions_self, out, n, err), err);
}

int
kcr_store_key_delete(struct kcr_stores *st, const char *id, kcr_error_t *err)
{
	return sess(st, st->sessions->key_delete(st->sessions_self, id, err), err);
}

int
kcr_store_counter_add(struct kcr_stores *st, const char *name, int64_t delta, double ttl_s,
		      int64_t *value_out, kcr_error_t *err)
{
	return sess(
		st,
		st->sessions->counter_add(st->sessions_self, name, delta, ttl_s, value_out, err),
		err);
}

int
kcr_store_lease(struct kcr_stores *st, const char *name, double ttl_s, bool *mine, kcr_error_t *err)
{
	kcr_autofree char *counter = kcr_strdup_printf("lease:%s", name);
	int64_t v;

	*mine = false;
	if (kcr_store_counter_add(st, counter, 1, ttl_s, &v, err) < 0)
		return -1;
	*mine = v == 1;
	return 0;
}

int
kcr_store_counters_sweep(struct kcr_stores *st, double now, kcr_error_t *err)
{
	if (st->sessions->counters_sweep == NULL)
		return 0;
	return sess(st, st->sessions->counters_sweep(st->sessions_self, now, err), err);
}

/* ---- the file store ---------------------------------------------------------- */

int
kcr_store_file_put(struct kcr_stores *st, const char *key, const void *data, size_t len,
		   kcr_error_t *err)
{
	return file(st, st->files->put(st->files_self, key, data, len, err), err);
}

int
kcr_store_file_put_fd(struct kcr_stores *st, const char *key, int fd, uint64_t len,
		      kcr_error_t *err)
{
	return file(st, st->files->put_fd(st->files_self, key, fd, len, err), err);
}

int
kcr_store_file_get(struct kcr_stores *st, const char *key, uint64_t max, char **data, size_t *len,
		   kcr_error_t *err)
{
	return file(st, st->files->get(st->files_self, key, max, data, len, err), err);
}

int
kcr_store_file_del(struct kcr_stores *st, const char *key, kcr_error_t *err)
{
	return file(st, st->files->del(st->files_self, key, err), err);
}

int
kcr_store_file_get_fd(struct kcr_stores *st, const char *key, uint64_t max, int out_fd,
		      uint64_t *len, kcr_error_t *err)
{
	return file(st, st->files->get_fd(st->files_self, key, max, out_fd, len, err), err);
}

int
kcr_store_file_del_session(struct kcr_stores *st, const char *sid, kcr_error_t *err)
{
	kcr_autofree char *prefix = kcr_strdup_printf("%s/", sid);

	return file(st, st->files->del_prefix(st->files_self, prefix, err), err);
}

int
kcr_store_file_sessions(struct kcr_stores *st, char ***sids, kcr_error_t *err)
{
	*sids = NULL;
	return file(st, st->files->sessions(st->files_self, sids, err), err);
}

/* The Python state of a session: the /state routes, and loading it before
 * a run and saving it after. */
#include <config.h>

#include "base/clock.h"
#include "base/encode.h"
#include "base/log.h"
#include "base/pystate_blob.h"
#include "engine/service-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
svc_state_cfg(struct kcr_service *s, struct state_cfg *sc)
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
	kcr_pystate_blob_hash(blob, len, info->hash);
	info->created = now;
	info->expires = ttl_s > 0 ? now + ttl_s : 0;
	return kcr_store_state_put(&s->stores, sid, blob, len, info, err);
}

/* An archived state's bytes sit in the file store under this key, beside
 * the session's files: a fixed file id no generated one takes (ids are
 * 21 random characters), with no file record, so no listing shows it. */
#define ARCHIVE_FID "_python_state_archive"

char *
svc_state_archive_key(const char *sid)
{
	return svc_blob_key(sid, ARCHIVE_FID);
}

/* The archived bytes back into the session store, if they still are what
 * the record says; the copy in the file store stays (a sweep on another
 * replica may be archiving it again) and goes with the session. */
static int
state_restore(struct kcr_service *s, const char *sid, const struct kcr_state_info *info,
	      char **data, size_t *len, kcr_error_t *err)
{
	kcr_autofree char *key = svc_state_archive_key(sid);
	char hash[65];

	if (kcr_store_file_get(&s->stores, key, STATE_READ_MAX, data, len, err) < 0)
		return kcr_error_wrap(err, "the archived state of session %s", sid);
	kcr_sha256_hex(*data, *len, hash);
	if (strcmp(hash, info->hash) != 0) {
		free(kcr_steal(data));
		return kcr_error_set(err, KCR_E_BACKEND, 0,
				     "the archived state of session %s is not the one its record "
				     "names",
				     sid);
	}
	if (kcr_store_state_unarchive(&s->stores, sid, *data, *len, info->hash, err) < 0) {
		free(kcr_steal(data));
		return -1;
	}
	kcr_log_info("session %s: Python state restored from the archive (%zu bytes)", sid, *len);
	return 0;
}

/* state_get, with an archived state brought back first. A conflict means
 * another request restored it, or saved a newer one: read it again. */
static int
state_get_live(struct kcr_service *s, const char *sid, char **data, size_t *len,
	       struct kcr_state_info *info, kcr_error_t *err)
{
	struct kcr_state_info tmp;

	if (info == NULL)
		info = &tmp;
	for (int tries = 0;; tries++) {
		kcr_error_t e = NULL;

		if (kcr_store_state_get(&s->stores, sid, STATE_READ_MAX, data, len, info, err) < 0)
			return -1;
		if (!info->archived)
			return 0;
		free(kcr_steal(data));
		if (state_restore(s, sid, info, data, len, &e) == 0) {
			info->archived = false;
			return 0;
		}
		if (e->code != KCR_E_CONFLICT || tries == 3) {
			*err = e;
			return -1;
		}
		kcr_error_free(e);
	}
}

int
kcr_service_state_get(struct kcr_service *s, const char *tenant, const char *sid, char **data,
		      size_t *len, struct kcr_state_info *info, kcr_error_t *err)
{
	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	if (svc_session_need(s, tenant, sid, true, err) < 0)
		return -1;
	return state_get_live(s, sid, data, len, info, err);
}

int
kcr_service_state_info(struct kcr_service *s, const char *tenant, const char *sid,
		       struct kcr_state_info *info, kcr_error_t *err)
{
	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	if (svc_session_need(s, tenant, sid, true, err) < 0)
		return -1;
	return kcr_store_state_info(&s->stores, sid, info, err);
}

int
kcr_service_state_put(struct kcr_service *s, const char *tenant, const char *sid, const void *data,
		      size_t len, struct kcr_state_info *info, kcr_error_t *err)
{
	struct state_cfg sc;

	svc_state_cfg(s, &sc);
	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	if (svc_session_need(s, tenant, sid, false, err) < 0)
		return -1;
	if (len > sc.max)
		return kcr_error_set(err, KCR_E_LIMIT, 0,
				     "the state is %zu bytes, over the limit of %llu", len,
				     (unsigned long long)sc.max);
	if (kcr_pystate_blob_validate(data, len, sc.max, err) < 0)
		return -1;
	return state_store(s, sid, data, len, sc.ttl_s, info, err);
}

int
kcr_service_state_delete(struct kcr_service *s, const char *tenant, const char *sid,
			 kcr_error_t *err)
{
	bool active;

	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	/* an unknown session (or another tenant's) has no state to delete */
	if (svc_session_active(s, tenant, sid, &active, err) < 0)
		return -1;
	return active ? kcr_store_state_delete(&s->stores, sid, err) : 0;
}

bool
svc_state_applies(const struct state_cfg *sc, const struct kcr_exec_request *c)
{
	return sc->enabled && c->lang && (c->lang->caps & KCR_LANG_STATE);
}

/* Before a run: the session's state, decoded, goes into the request, and
 * the run is asked for its globals. A state that no longer decodes (or is
 * over the limit now) is not restored, and *note says so; one that can't
 * be read fails the run, which would otherwise replace it. */
int
svc_load_state(struct kcr_service *s, const char *sid, const struct state_cfg *sc,
	       struct kcr_exec_request *x, char **note, kcr_error_t *err)
{
	kcr_autofree char *blob = NULL;
	kcr_error_t e = NULL;
	size_t len;

	x->want_state = true;
	x->state_max = sc->max;
	if (state_get_live(s, sid, &blob, &len, NULL, &e) < 0) {
		if (e->code != KCR_E_NOTFOUND && e->code != KCR_E_LIMIT) {
			*err = e;
			return kcr_error_wrap(err, "loading the Python state");
		}
		if (e->code == KCR_E_LIMIT)
			*note = kcr_strdup_printf("not restored: %s", e->msg);
		kcr_error_free(e);
		return 0;
	}
	if (kcr_pystate_blob_decode(blob, len, sc->max, &x->state_in, &x->state_in_len, &e) < 0) {
		*note = kcr_strdup_printf("not restored: %s", e->msg);
		kcr_error_free(e);
	}
	return 0;
}

/* After a run: the globals it left become the session's state (over the
 * limit, or failing to store: a line of its state_note, and the old state
 * stays); the result tells what state the session has now. */
void
svc_save_state(struct kcr_service *s, const char *sid, const struct state_cfg *sc,
	       struct kcr_exec_result *res)
{
	struct kcr_state_info info;
	kcr_autofree char *blob = NULL;
	kcr_error_t e = NULL;
	size_t len;
	int r = -1;

	if (res->state_out) {
		r = kcr_pystate_blob_encode(res->state_out, res->state_out_len, sc->max, &blob,
					    &len, &e);
		if (r == 0)
			r = state_store(s, sid, blob, len, sc->ttl_s, &info, &e);
		if (r < 0) {
			if (e->code != KCR_E_LIMIT)
				kcr_log_warn("session %s: %s", sid, e->msg);
			kcr_exec_result_state_note(res, "not saved: %s", e->msg);
			kcr_error_release(&e);
		}
		free(kcr_steal(&res->state_out));
		res->state_out_len = 0;
	}
	if (r < 0 && kcr_store_state_info(&s->stores, sid, &info, &e) < 0) {
		kcr_error_free(e);
		return;
	}
	res->has_state = true;
	res->state_size = info.size;
	memcpy(res->state_hash, info.hash, sizeof(res->state_hash));
}

/* One state to the archive: its bytes into the file store, then the
 * record marked, if the state did not change meanwhile (a conflict: a
 * newer save won, and it stays where it is). */
static int
archive_one(struct kcr_service *s, const char *sid, kcr_error_t *err)
{
	kcr_autofree char *blob = NULL, *key = svc_state_archive_key(sid);
	struct kcr_state_info info;
	size_t len;

	if (kcr_store_state_get(&s->stores, sid, STATE_READ_MAX, &blob, &len, &info, err) < 0)
		return -1;
	if (info.archived)
		return 0;
	if (kcr_store_file_put(&s->stores, key, blob, len, err) < 0 ||
	    kcr_store_state_archive(&s->stores, sid, info.hash, err) < 0)
		return -1;
	return 1;
}

int
svc_archive_states(struct kcr_service *s, kcr_error_t *err)
{
	kcr_autostrv char **sids = NULL;
	double after;
	int n = 0;

	pthread_mutex_lock(&s->lock);
	after = s->state_archive_s;
	pthread_mutex_unlock(&s->lock);
	if (after <= 0)
		return 0;
	/* a bounded batch per sweep: the next sweep takes the rest */
	if (kcr_store_states_idle(&s->stores, kcr_wall_time() - after, 1000, &sids, err) < 0)
		return -1;
	for (size_t i = 0; sids[i]; i++) {
		kcr_error_t e = NULL;
		int r = archive_one(s, sids[i], &e);

		if (r > 0)
			n++;
		else if (r < 0 && e->code != KCR_E_CONFLICT && e->code != KCR_E_NOTFOUND)
			kcr_log_warn("session %s: archiving its state: %s", sids[i], e->msg);
		kcr_error_free(e);
	}
	if (n)
		kcr_log_info("archived %d idle Python state%s", n, n == 1 ? "" : "s");
	return n;
}

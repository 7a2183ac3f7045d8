/* Sessions: which session an execution or an upload goes to, and the
 * removal of expired ones with their files. */
#include <config.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/service-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Whether sid names a live session. Only the store's KCR_E_NOTFOUND means
 * no: any other failure is returned, so that a store outage is never
 * taken for a missing session (and a new one made in its place). */
int
svc_session_active(struct kcr_service *s, const char *sid, bool *active, kcr_error_t *err)
{
	struct kcr_session sess;
	kcr_error_t e = NULL;

	*active = false;
	if (sid == NULL || !kcr_id_valid(sid))
		return 0;
	if (kcr_store_session_get(&s->stores, sid, &sess, &e) == 0) {
		kcr_session_release(&sess);
		*active = true;
		return 0;
	}
	if (e->code != KCR_E_NOTFOUND) {
		*err = e;
		return -1;
	}
	kcr_error_free(e);
	return 0;
}

/* 0 when sid is a live session, else KCR_E_NOTFOUND in the words of the
 * routes (for_state: those of /state) or the store's failure. */
int
svc_session_need(struct kcr_service *s, const char *sid, bool for_state, kcr_error_t *err)
{
	bool active;

	if (svc_session_active(s, sid, &active, err) < 0)
		return -1;
	if (active)
		return 0;
	if (for_state)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no state for session %s", sid);
	return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session %s not found", sid);
}

/* Creates or refreshes a session in one step of the store, so that two
 * replicas touching it at once never overwrite each other. */
static int
session_touch(struct kcr_service *s, const char *sid, const char *entity_id, const char *user_id,
	      kcr_error_t *err)
{
	struct kcr_session init = { .created = kcr_wall_time() };
	double ttl_s;

	memcpy(init.id, sid, sizeof(init.id));
	init.entity_id = (char *)entity_id; /* borrowed: the store copies */
	init.user_id = (char *)user_id;
	init.last_used = init.created;
	pthread_mutex_lock(&s->lock);
	ttl_s = s->ttl_s;
	pthread_mutex_unlock(&s->lock);
	return kcr_store_session_touch(&s->stores, &init, ttl_s, NULL, NULL, err);
}

/* The entity's newest session into sid, if it has one. */
static int
session_for_entity(struct kcr_service *s, const char *entity_id, char sid[KCR_ID_LEN + 1],
		   kcr_error_t *err)
{
	struct kcr_session sess;
	kcr_error_t e = NULL;

	if (entity_id == NULL)
		return 0;
	if (kcr_store_session_by_entity(&s->stores, entity_id, &sess, &e) < 0) {
		if (e->code != KCR_E_NOTFOUND) {
			*err = e;
			return -1;
		}
		kcr_error_free(e);
		return 0;
	}
	memcpy(sid, sess.id, KCR_ID_LEN + 1);
	kcr_session_release(&sess);
	return 0;
}

/* sid = candidate if that is a live session. */
static int
take_if_active(struct kcr_service *s, const char *candidate, char sid[KCR_ID_LEN + 1],
	       kcr_error_t *err)
{
	bool active;

	if (svc_session_active(s, candidate, &active, err) < 0)
		return -1;
	if (active)
		memcpy(sid, candidate, KCR_ID_LEN + 1);
	return 0;
}

/* The rest of the resolution, once the explicit candidates failed: the
 * entity's newest session, else a new one; then touch it. */
static int
resolve_rest(struct kcr_service *s, const char *entity_id, const char *user_id,
	     char sid[KCR_ID_LEN + 1], kcr_error_t *err)
{
	if (!sid[0] && session_for_entity(s, entity_id, sid, err) < 0)
		return -1;
	if (!sid[0])
		kcr_id_generate(sid);
	return session_touch(s, sid, entity_id, user_id, err);
}

int
svc_resolve_session(struct kcr_service *s, const struct kcr_exec_request *c, char sid[KCR_ID_LEN + 1],
		    kcr_error_t *err)
{
	sid[0] = '\0';
	if (take_if_active(s, c->session_id, sid, err) < 0)
		return -1;
	for (size_t i = 0; !sid[0] && i < c->n_files; i++)
		if (take_if_active(s, c->files[i].session_id, sid, err) < 0)
			return -1;
	return resolve_rest(s, c->entity_id, c->user_id, sid, err);
}

int
kcr_service_upload_session(struct kcr_service *s, const char *session_id, const char *entity_id,
			   const char *user_id, char sid[KCR_ID_LEN + 1], kcr_error_t *err)
{
	sid[0] = '\0';
	if (session_id) {
		if (take_if_active(s, session_id, sid, err) < 0)
			return -1;
		if (!sid[0])
			return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session '%s' not found",
					     session_id);
	}
	return resolve_rest(s, entity_id, user_id, sid, err);
}

static int
delete_session(struct kcr_service *s, const char *sid, kcr_error_t *err)
{
	struct kcr_file_meta *files = NULL;
	size_t n = 0;

	if (kcr_store_meta_list(&s->stores, sid, &files, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		kcr_autofree char *key = svc_blob_key(sid, files[i].id);
		kcr_error_t e = NULL;

		if (kcr_store_file_del(&s->stores, key, &e) < 0)
			kcr_error_warn_release(&e);
	}
	kcr_file_meta_list_free(files, n);
	return kcr_store_session_delete(&s->stores, sid, err);
}

/* A store that expires natively (store.h, native_ttl) drops sessions and
 * counters by itself, and is not swept; the bytes of its sessions' files
 * are then the file store's to expire (s3: a lifecycle rule). */
int
kcr_service_cleanup(struct kcr_service *s, kcr_error_t *err)
{
	kcr_autostrv char **ids = NULL;
	double now = kcr_wall_time();
	int n = 0;

	if (kcr_store_native_ttl(&s->stores))
		return 0;
	if (kcr_store_sessions_expired(&s->stores, now, &ids, err) < 0)
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
	if (kcr_store_counters_sweep(&s->stores, now, err) < 0)
		return -1;
	return n;
}

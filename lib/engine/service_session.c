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

bool
svc_session_exists(struct kcr_service *s, const char *sid)
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

int
svc_resolve_session(struct kcr_service *s, const struct kcr_exec_request *c, char sid[KCR_ID_LEN + 1],
		kcr_error_t *err)
{
	sid[0] = '\0';
	if (svc_session_exists(s, c->session_id))
		memcpy(sid, c->session_id, KCR_ID_LEN + 1);
	for (size_t i = 0; !sid[0] && i < c->n_files; i++)
		if (svc_session_exists(s, c->files[i].session_id))
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
		if (!svc_session_exists(s, session_id))
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

static int
delete_session(struct kcr_service *s, const char *sid, kcr_error_t *err)
{
	struct kcr_file_meta *files = NULL;
	size_t n = 0;

	if (s->stores.sessions->file_list(s->stores.sessions_self, sid, &files, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		kcr_autofree char *key = svc_blob_key(sid, files[i].id);
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

/* Sessions: which session an execution or an upload goes to, and the
 * removal of expired ones with their files. */
#include <config.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/tenant.h"
#include "engine/service-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The live session sid as tenant sees it (base/tenant.h): *found is
 * false when it is missing, expired or another tenant's, which callers
 * answer alike, so that no one learns another tenant's ids. Only the
 * store's KCR_E_NOTFOUND means missing: any other failure is returned, so
 * that a store outage is never taken for a missing session (and a new one
 * made in its place). */
static int
session_lookup(struct kcr_service *s, const char *tenant, const char *sid, struct kcr_session *out,
	       bool *found, kcr_error_t *err)
{
	kcr_error_t e = NULL;

	*found = false;
	if (sid == NULL || !kcr_id_valid(sid))
		return 0;
	if (kcr_store_session_get(&s->stores, sid, out, &e) < 0) {
		if (e->code != KCR_E_NOTFOUND) {
			*err = e;
			return -1;
		}
		kcr_error_free(e);
		return 0;
	}
	*found = kcr_tenant_may(tenant, out->tenant);
	if (!*found)
		kcr_session_release(out);
	return 0;
}

int
svc_session_active(struct kcr_service *s, const char *tenant, const char *sid, bool *active,
		   kcr_error_t *err)
{
	struct kcr_session sess;

	if (session_lookup(s, tenant, sid, &sess, active, err) < 0)
		return -1;
	if (*active)
		kcr_session_release(&sess);
	return 0;
}

/* 0 when sid is a live session of tenant, else KCR_E_NOTFOUND in the
 * words of the routes (for_state: those of /state) or the store's
 * failure. */
int
svc_session_need(struct kcr_service *s, const char *tenant, const char *sid, bool for_state,
		 kcr_error_t *err)
{
	bool active;

	if (svc_session_active(s, tenant, sid, &active, err) < 0)
		return -1;
	if (active)
		return 0;
	if (for_state)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no state for session %s", sid);
	return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session %s not found", sid);
}

/* Who a session works for: its tenant, agent and user. */
struct owner {
	const char *tenant, *entity_id, *user_id;
};

static bool
same_str(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* Whether a run of o may work in sess, found by how it was named:
 * explicitly (session_id: the key holder chose it; a user other than its
 * own is refused, a request that names no user is the key holder's), or
 * through a files[] reference (an agent's upload session, say: only its
 * very owner works there). The tenant was checked already. */
static bool
may_work_in(const struct kcr_session *sess, const struct owner *o, bool explicit)
{
	if (explicit)
		return o->user_id == NULL || same_str(sess->user_id, o->user_id);
	return same_str(sess->entity_id, o->entity_id) && same_str(sess->user_id, o->user_id);
}

/* Creates or refreshes a session in one step of the store, so that two
 * replicas touching it at once never overwrite each other. */
static int
session_touch(struct kcr_service *s, const char *sid, const struct owner *o, kcr_error_t *err)
{
	struct kcr_session init = { .created = kcr_wall_time() };
	double ttl_s;

	memcpy(init.id, sid, sizeof(init.id));
	init.tenant = (char *)o->tenant; /* borrowed: the store copies */
	init.entity_id = (char *)o->entity_id;
	init.user_id = (char *)o->user_id;
	init.last_used = init.created;
	pthread_mutex_lock(&s->lock);
	ttl_s = s->ttl_s;
	pthread_mutex_unlock(&s->lock);
	return kcr_store_session_touch(&s->stores, &init, ttl_s, NULL, NULL, err);
}

/* The owner's newest session into sid, if it has one. */
static int
session_of_owner(struct kcr_service *s, const struct owner *o, char sid[KCR_ID_LEN + 1],
		 kcr_error_t *err)
{
	struct kcr_session sess;
	kcr_error_t e = NULL;

	if (o->entity_id == NULL)
		return 0;
	if (kcr_store_session_by_owner(&s->stores, o->tenant, o->entity_id, o->user_id, &sess, &e) <
	    0) {
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

enum take { TAKE_ANY, TAKE_EXPLICIT, TAKE_REFERENCED };

/* sid = candidate if that is a live session of the tenant and, unless
 * TAKE_ANY, one o may work in (may_work_in): another user's session is
 * never someone else's working session; its files reach the run only as
 * copies. */
static int
take_if_owned(struct kcr_service *s, const struct owner *o, const char *candidate, enum take how,
	      char sid[KCR_ID_LEN + 1], kcr_error_t *err)
{
	struct kcr_session sess;
	bool found;

	if (session_lookup(s, o->tenant, candidate, &sess, &found, err) < 0)
		return -1;
	if (!found)
		return 0;
	if (how == TAKE_ANY || may_work_in(&sess, o, how == TAKE_EXPLICIT))
		memcpy(sid, candidate, KCR_ID_LEN + 1);
	kcr_session_release(&sess);
	return 0;
}

void
svc_session_keep(struct kcr_service *s, const char *sid)
{
	kcr_error_t e = NULL;
	double ttl_s;

	pthread_mutex_lock(&s->lock);
	ttl_s = s->ttl_s;
	pthread_mutex_unlock(&s->lock);
	if (ttl_s > 0 &&
	    kcr_store_session_expire(&s->stores, sid, kcr_wall_time() + ttl_s, &e) < 0) {
		if (e->code != KCR_E_NOTFOUND)
			kcr_error_warn_release(&e);
		kcr_error_free(e);
	}
}

/* The rest of the resolution, once the explicit candidates failed: the
 * owner's newest session, else a new one; then touch it. */
static int
resolve_rest(struct kcr_service *s, const struct owner *o, char sid[KCR_ID_LEN + 1],
	     kcr_error_t *err)
{
	if (!sid[0] && session_of_owner(s, o, sid, err) < 0)
		return -1;
	if (!sid[0])
		kcr_id_generate(sid);
	return session_touch(s, sid, o, err);
}

int
svc_resolve_session(struct kcr_service *s, const struct kcr_exec_request *c,
		    char sid[KCR_ID_LEN + 1], kcr_error_t *err)
{
	const struct owner o = { c->tenant, c->entity_id, c->user_id };

	sid[0] = '\0';
	if (take_if_owned(s, &o, c->session_id, TAKE_EXPLICIT, sid, err) < 0)
		return -1;
	for (size_t i = 0; !sid[0] && i < c->n_files; i++)
		if (take_if_owned(s, &o, c->files[i].session_id, TAKE_REFERENCED, sid, err) < 0)
			return -1;
	return resolve_rest(s, &o, sid, err);
}

/* An upload may name any session of its tenant: LibreChat adds an
 * agent's files to the session it uploaded to first. */
int
kcr_service_upload_session(struct kcr_service *s, const char *tenant, const char *session_id,
			   const char *entity_id, const char *user_id, char sid[KCR_ID_LEN + 1],
			   kcr_error_t *err)
{
	const struct owner o = { tenant, entity_id, user_id };

	sid[0] = '\0';
	if (session_id) {
		if (take_if_owned(s, &o, session_id, TAKE_ANY, sid, err) < 0)
			return -1;
		if (!sid[0])
			return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session '%s' not found",
					     session_id);
	}
	return resolve_rest(s, &o, sid, err);
}

/* The file store's bytes go by the session's prefix, records or not: a
 * file whose record was lost (a put that failed half-way) goes too. */
static int
delete_session(struct kcr_service *s, const char *sid, kcr_error_t *err)
{
	kcr_error_t e = NULL;

	if (kcr_store_file_del_session(&s->stores, sid, &e) < 0)
		kcr_error_warn_release(&e);
	return kcr_store_session_delete(&s->stores, sid, err);
}

/* Deletes the sessions that expired, with their files; returns how many. */
static int
sweep_expired(struct kcr_service *s, kcr_error_t *err)
{
	kcr_autostrv char **ids = NULL;
	double now = kcr_wall_time();
	int n = 0;

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

/* Deletes the files of sessions the session store no longer has: expired
 * in a store that expires by itself (Redis), lost (a flushed or evicted
 * Redis), or left by a crash between a file and its record. A session
 * exists before its files do (uploads and runs touch it first), so a
 * file store's session that the session store lacks is gone for good.
 * Returns how many sessions' files went. */
static int
sweep_orphans(struct kcr_service *s, kcr_error_t *err)
{
	kcr_autostrv char **sids = NULL;
	int n = 0;

	if (kcr_store_file_sessions(&s->stores, &sids, err) < 0)
		return -1;
	for (size_t i = 0; sids[i]; i++) {
		struct kcr_session sess;
		kcr_error_t e = NULL;

		if (kcr_store_session_get(&s->stores, sids[i], &sess, &e) == 0) {
			kcr_session_release(&sess);
			continue;
		}
		if (e->code != KCR_E_NOTFOUND) { /* the session store fails: stop here */
			*err = e;
			return -1;
		}
		kcr_error_free(e);
		if (kcr_store_file_del_session(&s->stores, sids[i], &e) < 0)
			kcr_error_warn_release(&e);
		else
			n++;
	}
	if (n)
		kcr_log_info("removed the files of %d session%s that no longer exist%s", n,
			     n == 1 ? "" : "s", n == 1 ? "s" : "");
	return n;
}

/* Replicas on one store take turns: the sweep runs where the lease of
 * this period was taken, once, not once per replica. A store that
 * expires natively (store.h, native_ttl) drops sessions and counters by
 * itself and is not swept for them; the files of sessions that are gone,
 * and idle Python states, are swept whatever the store. */
int
kcr_service_cleanup(struct kcr_service *s, double period_s, kcr_error_t *err)
{
	bool mine;
	int n = 0;

	/* a little under the period, so the holder's next turn finds it lapsed */
	if (kcr_store_lease(&s->stores, "cleanup", period_s * 0.9, &mine, err) < 0)
		return -1;
	if (!mine) {
		kcr_log_debug("cleanup: another replica sweeps this period");
		return 0;
	}
	kcr_log_debug("cleanup: this replica sweeps this period");
	if (!kcr_store_native_ttl(&s->stores) && (n = sweep_expired(s, err)) < 0)
		return -1;
	if (sweep_orphans(s, err) < 0 || svc_archive_states(s, err) < 0)
		return -1;
	return n;
}

/* Session and file stores (DESIGN.md §2): a const ops table plus an
 * opaque handle each, chosen by name from configuration. The embedded
 * defaults are "fs" (a directory under the state dir); Redis and S3 plug
 * in behind the same tables without touching the API routes.
 *
 * Callers go through the kcr_store_*() wrappers at the end of this file,
 * never through the ops tables: the wrappers apply the error rule below.
 *
 * Errors. An op fails with one of these codes, and only these mean what
 * they say:
 *   KCR_E_NOTFOUND  the thing is absent (or expired), where the op's
 *                   comment says so; the only code that may mean "no
 *                   such session";
 *   KCR_E_INVALID   a malformed argument (an id, key or name);
 *   KCR_E_LIMIT     a read over the caller's max;
 *   KCR_E_CONFLICT  the thing changed under a compare-and-set (state_archive).
 * Any other code is a failure of the store itself (a disk, a network, a
 * corrupt record): the wrappers turn it into KCR_E_UNAVAILABLE (HTTP 503
 * service_unavailable, exit 125) prefixed with the store that failed,
 * "session store fs: ..." or "file store s3: ...". A caller never takes
 * such an error for an absence: a store outage must not create sessions.
 * Backends do not name themselves in messages; the wrappers do.
 *
 * Threads. Every op may be called from any thread at once, on one handle,
 * and from several processes (replicas) on the same backing store: an
 * implementation locks what it shares. fs keeps nothing mutable in its
 * handle. What reads and then writes a session or a counter
 * (session_put/touch/expire/delete, counter_add, counters_sweep) holds an
 * flock(2) on the lock file under <state>/locks that the name hashes to,
 * opened afresh by each call, so it excludes other threads and other
 * processes alike; every write is a rename of a complete temporary file,
 * so a reader sees the old record or the new one, never half of one.
 *
 * Ownership. Strings in a record filled by an op (an "out" parameter)
 * belong to the caller, who releases the record (kcr_session_release,
 * kcr_file_meta_release, kcr_api_key_release) or the list
 * (kcr_file_meta_list_free, kcr_api_key_list_free, kcr_strv_free); bytes
 * (char **data) are the caller's to free(), NUL-terminated past *len.
 * Nothing an op is given is kept after it returns. On failure no out
 * parameter needs releasing. */
#ifndef KCR_STORE_H
#define KCR_STORE_H

#include "base/settings.h"
#include "base/error.h"
#include "base/file.h"
#include "base/ids.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kcr_session {
	char id[KCR_ID_LEN + 1];
	char *tenant;                       /* who created it (base/tenant.h); may be NULL */
	char *entity_id;                    /* may be NULL */
	char *user_id;                      /* may be NULL */
	double created, last_used, expires; /* epoch seconds; expires 0: never */
};

/* A session's Python state (lib/base/pystate_blob.h): its bytes are stored as a whole,
 * with this record. */
struct kcr_state_info {
	uint64_t size;
	char hash[65];           /* SHA-256 of the bytes, hex */
	double created, expires; /* epoch seconds; expires 0: with the session */
	/* The bytes were moved to the file store (state_archive): the record
	 * stays, so the session still has its state; the service brings the
	 * bytes back on first use. */
	bool archived;
	/* When the bytes last came back from the archive (0: never): a use,
	 * as a save is, for states_idle. */
	double restored;
};

/* Since when a state has been idle: its last save or restore. */
static inline double
kcr_state_last_use(const struct kcr_state_info *i)
{
	return i->restored > i->created ? i->restored : i->created;
}

/* An API key as the rate limits see it: never the key, only its hash. */
#define KCR_KEY_ID_LEN 64
struct kcr_api_key_record {
	char id[KCR_KEY_ID_LEN + 1]; /* SHA-256 of the key, lower-case hex */
	char *name;                  /* may be NULL */
	bool enabled;
	double created, expires; /* epoch seconds; expires 0: never */
	/* requests allowed per window, and executions at once; 0: no limit */
	uint32_t per_second, per_minute, per_hour, per_day, max_concurrent;
};

/* Counter names: 1 to KCR_COUNTER_NAME_MAX of [A-Za-z0-9._:-], not
 * starting with '.'; anything else is KCR_E_INVALID. */
#define KCR_COUNTER_NAME_MAX 200

struct kcr_session_store_ops {
	const char *name;
	/* Whether the backend drops what expired by itself (redis: EXPIRE on
	 * every key of a session, so it needs no sweep). false (fs): the
	 * service sweeps, with sessions_expired and counters_sweep. */
	bool native_ttl;
	int (*open)(void **self, const struct kcr_config *cfg, kcr_error_t *err);
	/* Whether the store answers and can be written (fs: the directories
	 * of the state dir exist and take a file). For GET /ready. */
	int (*ping)(void *self, kcr_error_t *err);

	/* ---- sessions ---- */
	/* Creates or replaces a session (and makes it its owner's newest). */
	int (*session_put)(void *self, const struct kcr_session *s, kcr_error_t *err);
	/* KCR_E_NOTFOUND when missing, expired, or the id is malformed */
	int (*session_get)(void *self, const char *id, struct kcr_session *out, kcr_error_t *err);
	/* Touch-or-create, in one atomic step even between replicas: a
	 * session that is missing (or expired) is created from init (id,
	 * tenant, entity_id, user_id, created); one that exists keeps those and gets
	 * last_used = now and expires = now + ttl_s (ttl_s <= 0: never), now
	 * being the backend's clock. Either way the session becomes its
	 * owner's newest. out (may be NULL) receives the session as stored;
	 * *created (may be NULL) says whether this call created it. */
	int (*session_touch)(void *self, const struct kcr_session *init, double ttl_s,
			     struct kcr_session *out, bool *created, kcr_error_t *err);
	/* Sets when a session expires (epoch seconds, 0: never); an
	 * expires_at in the past expires it now. KCR_E_NOTFOUND when missing
	 * or expired. fs rewrites the record; redis will use EXPIREAT. */
	int (*session_expire)(void *self, const char *id, double expires_at, kcr_error_t *err);
	/* Deletes a session with its file records and state; missing is not
	 * an error (a malformed id: KCR_E_NOTFOUND). The bytes in the file
	 * store are the caller's to delete. */
	int (*session_delete)(void *self, const char *id, kcr_error_t *err);
	/* The newest active session of an owner, the (tenant, entity_id,
	 * user_id) its record holds (kcr_session_owner_key), or
	 * KCR_E_NOTFOUND; sessions without an entity_id have no owner index.
	 * Two users of one agent, or two tenants with one agent id, never
	 * find each other's session here. */
	int (*session_by_owner)(void *self, const char *tenant, const char *entity_id,
				const char *user_id, struct kcr_session *out, kcr_error_t *err);
	/* Ids of sessions that expired before now (*ids: a NULL-terminated
	 * vector, even when empty). May be NULL when native_ttl. */
	int (*sessions_expired)(void *self, double now, char ***ids, kcr_error_t *err);
	/* Ids of live sessions, at most max, in no particular order (*ids
	 * NULL-terminated, even when empty): for an admin's listing, not a
	 * request path (redis: SCAN; fs: the directory). */
	int (*sessions_list)(void *self, size_t max, char ***ids, kcr_error_t *err);

	/* ---- file records (the bytes are in the file store) ---- */
	int (*file_put)(void *self, const struct kcr_file_meta *m, kcr_error_t *err);
	/* KCR_E_NOTFOUND when missing */
	int (*file_get)(void *self, const char *sid, const char *fid, struct kcr_file_meta *out,
			kcr_error_t *err);
	/* Oldest first; an unknown session has none (not an error). */
	int (*file_list)(void *self, const char *sid, struct kcr_file_meta **out, size_t *n,
			 kcr_error_t *err);
	/* KCR_E_NOTFOUND when missing */
	int (*file_delete)(void *self, const char *sid, const char *fid, kcr_error_t *err);

	/* ---- the Python state of a session ---- */
	/* Replaced as a whole (all or nothing). get and info: KCR_E_NOTFOUND
	 * when there is none or it expired; get: KCR_E_LIMIT over max, and it
	 * fills info (may be NULL) with the size and hash of the bytes it
	 * read. delete: no state is not an error. */
	int (*state_put)(void *self, const char *sid, const void *data, size_t len,
			 const struct kcr_state_info *info, kcr_error_t *err);
	int (*state_get)(void *self, const char *sid, uint64_t max, char **data, size_t *len,
			 struct kcr_state_info *info, kcr_error_t *err);
	int (*state_delete)(void *self, const char *sid, kcr_error_t *err);
	int (*state_info)(void *self, const char *sid, struct kcr_state_info *info,
			  kcr_error_t *err);
	/* An archived state (info->archived) has no bytes here: state_get
	 * gives *len 0 (and an empty string) with the record's size and hash.
	 * state_archive drops the bytes and marks the record archived, in one
	 * step against state_put, if the state's hash is still `hash`:
	 * KCR_E_CONFLICT when it changed or is archived already (a newer save
	 * won: keep it), KCR_E_NOTFOUND when there is none. The caller put the
	 * bytes in the file store first. */
	int (*state_archive)(void *self, const char *sid, const char *hash, kcr_error_t *err);
	/* The way back: the bytes (of that hash) become the state again, in
	 * one step against state_put, if the state is still archived with
	 * `hash`; else KCR_E_CONFLICT (a newer save won, or another replica
	 * restored it first) or KCR_E_NOTFOUND. */
	int (*state_unarchive)(void *self, const char *sid, const void *data, size_t len,
			       const char *hash, kcr_error_t *err);
	/* Sessions (at most max) whose state is not archived and was last
	 * used (kcr_state_last_use) before `before` (epoch seconds); *sids
	 * NULL-terminated. state_unarchive sets `restored` to now. */
	int (*states_idle)(void *self, double before, size_t max, char ***sids, kcr_error_t *err);

	/* ---- API keys, by id (the key's hash) ---- */
	/* put creates or replaces. get and delete: KCR_E_NOTFOUND when
	 * missing; an expired or disabled key is returned all the same (it
	 * is the caller's to refuse it). list: every key, oldest first. */
	int (*key_put)(void *self, const struct kcr_api_key_record *k, kcr_error_t *err);
	int (*key_get)(void *self, const char *id, struct kcr_api_key_record *out,
		       kcr_error_t *err);
	int (*key_list)(void *self, struct kcr_api_key_record **out, size_t *n, kcr_error_t *err);
	int (*key_delete)(void *self, const char *id, kcr_error_t *err);

	/* ---- counters (rate limits) ---- */
	/* Adds delta atomically and gives the new value (value_out may be
	 * NULL). A counter that is missing or expired starts from 0 and
	 * expires ttl_s after this add (ttl_s <= 0: never); adding to a live
	 * counter keeps its expiry: a fixed window (redis: INCRBY, and
	 * EXPIRE when that made the counter, in one script). fs keeps the
	 * value exact to 2^63. */
	int (*counter_add)(void *self, const char *name, int64_t delta, double ttl_s,
			   int64_t *value_out, kcr_error_t *err);
	/* Drops counters that expired before now. May be NULL when native_ttl. */
	int (*counters_sweep)(void *self, double now, kcr_error_t *err);
	void (*close)(void *self);
};

struct kcr_file_store_ops {
	const char *name;
	int (*open)(void **self, const struct kcr_config *cfg, kcr_error_t *err);
	/* Whether the store answers and can be written. */
	int (*ping)(void *self, kcr_error_t *err);
	/* Keys are "<session id>/<file id>" (else KCR_E_INVALID). put is
	 * all-or-nothing; get: KCR_E_NOTFOUND when missing, KCR_E_LIMIT over
	 * max; del: missing is not an error. Bytes may hold NULs. */
	int (*put)(void *self, const char *key, const void *data, size_t len, kcr_error_t *err);
	/* put of the len bytes of fd from offset 0 (a spool): a program's
	 * output, never read into memory whole. fd stays the caller's. */
	int (*put_fd)(void *self, const char *key, int fd, uint64_t len, kcr_error_t *err);
	int (*get)(void *self, const char *key, uint64_t max, char **data, size_t *len,
		   kcr_error_t *err);
	int (*del)(void *self, const char *key, kcr_error_t *err);
	/* get, streamed to out_fd, a regular file the caller owns (a spool):
	 * the op truncates it and writes the bytes from offset 0 (a retry
	 * starts over), so a large file never sits in memory; *len (may be
	 * NULL) is their number. KCR_E_NOTFOUND and KCR_E_LIMIT as get; on
	 * failure out_fd holds nothing to use. out_fd stays the caller's. */
	int (*get_fd)(void *self, const char *key, uint64_t max, int out_fd, uint64_t *len,
		      kcr_error_t *err);
	/* Deletes every file of a session: prefix is "<session id>/" (else
	 * KCR_E_INVALID); none is not an error. */
	int (*del_prefix)(void *self, const char *prefix, kcr_error_t *err);
	/* The ids of the sessions that have files here (*sids NULL-terminated,
	 * in no particular order): the sweep of files whose session is gone
	 * compares them with the session store. */
	int (*sessions)(void *self, char ***sids, kcr_error_t *err);
	void (*close)(void *self);
};

extern const struct kcr_session_store_ops kcr_session_store_fs_ops;
/* lib/store/redis.c: only in a build with hiredis (HAVE_REDIS) */
extern const struct kcr_session_store_ops kcr_session_store_redis_ops;
extern const struct kcr_file_store_ops kcr_file_store_fs_ops;
extern const struct kcr_file_store_ops kcr_file_store_s3_ops;

struct kcr_stores {
	const struct kcr_session_store_ops *sessions;
	void *sessions_self;
	const struct kcr_file_store_ops *files;
	void *files_self;
};

/* Opens the stores that store.sessions and store.files name. */
int kcr_stores_open(struct kcr_stores *st, const struct kcr_config *cfg, kcr_error_t *err);
/* Opens the given pair (the conformance suite runs each backend so). */
int kcr_stores_open_ops(struct kcr_stores *st, const struct kcr_session_store_ops *sessions,
			const struct kcr_file_store_ops *files, const struct kcr_config *cfg,
			kcr_error_t *err);
void kcr_stores_close(struct kcr_stores *st);

/* ---- the wrappers: one per op, with the error rule above ---------------- */

/* Pings both stores; on failure *which (may be NULL) is "sessions" or
 * "files". */
int kcr_store_ping(struct kcr_stores *st, const char **which, kcr_error_t *err);
int kcr_store_ping_sessions(struct kcr_stores *st, kcr_error_t *err);
int kcr_store_ping_files(struct kcr_stores *st, kcr_error_t *err);
bool kcr_store_native_ttl(const struct kcr_stores *st);

int kcr_store_session_put(struct kcr_stores *st, const struct kcr_session *s, kcr_error_t *err);
int kcr_store_session_get(struct kcr_stores *st, const char *id, struct kcr_session *out,
			  kcr_error_t *err);
int kcr_store_session_touch(struct kcr_stores *st, const struct kcr_session *init, double ttl_s,
			    struct kcr_session *out, bool *created, kcr_error_t *err);
int kcr_store_session_expire(struct kcr_stores *st, const char *id, double expires_at,
			     kcr_error_t *err);
int kcr_store_session_delete(struct kcr_stores *st, const char *id, kcr_error_t *err);
int kcr_store_session_by_owner(struct kcr_stores *st, const char *tenant, const char *entity_id,
			       const char *user_id, struct kcr_session *out, kcr_error_t *err);
int kcr_store_sessions_expired(struct kcr_stores *st, double now, char ***ids, kcr_error_t *err);
int kcr_store_sessions_list(struct kcr_stores *st, size_t max, char ***ids, kcr_error_t *err);

int kcr_store_meta_put(struct kcr_stores *st, const struct kcr_file_meta *m, kcr_error_t *err);
int kcr_store_meta_get(struct kcr_stores *st, const char *sid, const char *fid,
		       struct kcr_file_meta *out, kcr_error_t *err);
int kcr_store_meta_list(struct kcr_stores *st, const char *sid, struct kcr_file_meta **out,
			size_t *n, kcr_error_t *err);
int kcr_store_meta_delete(struct kcr_stores *st, const char *sid, const char *fid,
			  kcr_error_t *err);

int kcr_store_state_put(struct kcr_stores *st, const char *sid, const void *data, size_t len,
			const struct kcr_state_info *info, kcr_error_t *err);
int kcr_store_state_get(struct kcr_stores *st, const char *sid, uint64_t max, char **data,
			size_t *len, struct kcr_state_info *info, kcr_error_t *err);
int kcr_store_state_delete(struct kcr_stores *st, const char *sid, kcr_error_t *err);
int kcr_store_state_info(struct kcr_stores *st, const char *sid, struct kcr_state_info *info,
			 kcr_error_t *err);
int kcr_store_state_archive(struct kcr_stores *st, const char *sid, const char *hash,
			    kcr_error_t *err);
int kcr_store_state_unarchive(struct kcr_stores *st, const char *sid, const void *data, size_t len,
			      const char *hash, kcr_error_t *err);
int kcr_store_states_idle(struct kcr_stores *st, double before, size_t max, char ***sids,
			  kcr_error_t *err);

int kcr_store_key_put(struct kcr_stores *st, const struct kcr_api_key_record *k, kcr_error_t *err);
int kcr_store_key_get(struct kcr_stores *st, const char *id, struct kcr_api_key_record *out,
		      kcr_error_t *err);
int kcr_store_key_list(struct kcr_stores *st, struct kcr_api_key_record **out, size_t *n,
		       kcr_error_t *err);
int kcr_store_key_delete(struct kcr_stores *st, const char *id, kcr_error_t *err);

int kcr_store_counter_add(struct kcr_stores *st, const char *name, int64_t delta, double ttl_s,
			  int64_t *value_out, kcr_error_t *err);
int kcr_store_counters_sweep(struct kcr_stores *st, double now, kcr_error_t *err);
/* A lease on a job that replicas sharing the store take turns at (the
 * sweeps): *mine says whether this caller holds it for the next ttl_s
 * seconds. The first caller of a window gets it; every other caller,
 * in this process or another replica, is refused until it lapses. Built
 * on counter_add (the counter "lease:<name>"), so every backend has it. */
int kcr_store_lease(struct kcr_stores *st, const char *name, double ttl_s, bool *mine,
		    kcr_error_t *err);

/* The file store: bytes by "<sid>/<fid>". */
int kcr_store_file_put(struct kcr_stores *st, const char *key, const void *data, size_t len,
		       kcr_error_t *err);
int kcr_store_file_put_fd(struct kcr_stores *st, const char *key, int fd, uint64_t len,
			  kcr_error_t *err);
int kcr_store_file_get(struct kcr_stores *st, const char *key, uint64_t max, char **data,
		       size_t *len, kcr_error_t *err);
int kcr_store_file_del(struct kcr_stores *st, const char *key, kcr_error_t *err);
int kcr_store_file_get_fd(struct kcr_stores *st, const char *key, uint64_t max, int out_fd,
			  uint64_t *len, kcr_error_t *err);
/* Every file of session sid. */
int kcr_store_file_del_session(struct kcr_stores *st, const char *sid, kcr_error_t *err);
int kcr_store_file_sessions(struct kcr_stores *st, char ***sids, kcr_error_t *err);

/* ---- records (lib/store/store_json.c) ------------------------------------ */

void kcr_session_release(struct kcr_session *s);
/* A deep copy of src (release it as any record). */
void kcr_session_copy(struct kcr_session *dst, const struct kcr_session *src);
/* The name of an owner's index entry: the SHA-256 (hex) of its tenant,
 * entity and user, each length-prefixed so that no two triples share it;
 * NULL when entity_id is NULL (no index). Backends key their owner index
 * (session_by_owner) by it. */
char *kcr_session_owner_key(const char *tenant, const char *entity_id, const char *user_id);
void kcr_api_key_release(struct kcr_api_key_record *k);
void kcr_api_key_list_free(struct kcr_api_key_record *list, size_t n);
bool kcr_key_id_valid(const char *id);
bool kcr_counter_name_valid(const char *name);
/* JSON (de)serialisation used by the fs and redis stores; a record that
 * does not parse is KCR_E_BACKEND (a store failure, see above). */
char *kcr_session_to_json(const struct kcr_session *s);
int kcr_session_from_json(const char *json, size_t len, struct kcr_session *s, kcr_error_t *err);
char *kcr_file_meta_to_json(const struct kcr_file_meta *m);
int kcr_file_meta_from_json(const char *json, size_t len, struct kcr_file_meta *m,
			    kcr_error_t *err);
char *kcr_api_key_to_json(const struct kcr_api_key_record *k);
int kcr_api_key_from_json(const char *json, size_t len, struct kcr_api_key_record *k,
			  kcr_error_t *err);
/* A state's record, as the stores keep it beside its bytes. */
char *kcr_state_record_to_json(const struct kcr_state_info *i);
int kcr_state_record_from_json(const char *json, size_t len, struct kcr_state_info *i,
			       kcr_error_t *err);
/* GET /state/{sid}/info's body, {exists, session_id, size_bytes, hash,
 * created_at, expires_at}; info NULL: no state (the values are null). */
cJSON *kcr_state_info_json(const char *sid, const struct kcr_state_info *info);

#endif

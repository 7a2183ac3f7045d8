/* The redis session store: sessions, file records, Python state, API keys
 * and counters in Redis, so that replicas of kcr serve share them. Keys,
 * each under store.redis.prefix (P, default "kcr:"):
 *
 *   P session:<sid>     hash: json (the record, store_json.c), owner (its
 *                       owner key, kcr_session_owner_key, or ""),
 *                       last_used and expires (epoch seconds, "%.6f")
 *   P files:<sid>       hash: file id -> the file's record (JSON)
 *   P state:<sid>       the Python state's bytes
 *   P stateinfo:<sid>   its record (JSON)
 *   P owner:<key>       the id of the owner's newest session
 *   P apikey:<id>       an API key's record (JSON)
 *   P apikeys           set of the ids of API keys
 *   P counter:<name>    a counter (INCRBY)
 *   P ping              written by ping
 *
 * Expiry is Redis's (native_ttl): each key of a session expires with it
 * (PEXPIREAT), its owner pointer too while it names it, and its state
 * earlier if the state's record says so; nothing is swept. Records
 * written for a session that does not exist (it expired while a run
 * wrote its outputs) expire after ORPHAN_TTL_S rather than never.
 * Whatever reads and writes, or writes more than one key, is one Lua
 * script (redis_scripts.c): atomic between threads and replicas. */
#include <config.h>

#include "base/encode.h"
#include "base/ids.h"
#include "store/redis-internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
redis_open(void **self, const struct kcr_config *cfg, kcr_error_t *err)
{
	return redis_store_open((struct redis_store **)self, cfg, err);
}

static void
redis_close(void *self)
{
	redis_store_close(self);
}

static void
fmt_time(char out[32], double t)
{
	snprintf(out, 32, "%.6f", t);
}

/* ---- ping --------------------------------------------------------------------- */

/* It answers, and takes a write (a read-only replica, or one out of
 * memory, does not). */
static int
redis_ping(void *self, kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *key = kcr_strdup_printf("%sping", rs->prefix);
	const char *ping[] = { "PING" }, *set[] = { "SET", key, "1", "PX", "60000" };
	redis_autoreply redisReply *a = redis_command(rs, 1, ping, NULL, err);
	redis_autoreply redisReply *b = a ? redis_command(rs, 5, set, NULL, err) : NULL;

	return b ? 0 : -1;
}

/* ---- sessions ------------------------------------------------------------------ */

/* A session from its json, last_used and expires (nil: none). */
static int
session_from(const struct redis_store *rs, redisReply **el, struct kcr_session *out,
	     kcr_error_t *err)
{
	if (el[0]->type == REDIS_REPLY_NIL)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session not found");
	if (!redis_is_str(el[0]) || !redis_is_str(el[1]) || !redis_is_str(el[2]))
		return redis_unexpected(rs, "a session read", err);
	if (kcr_session_from_json(el[0]->str, el[0]->len, out, err) < 0)
		return -1;
	out->last_used = strtod(el[1]->str, NULL);
	out->expires = strtod(el[2]->str, NULL);
	return 0;
}

static int
session_read(struct redis_store *rs, const char *id, struct kcr_session *out, kcr_error_t *err)
{
	kcr_autofree char *key = redis_key_of(rs, "session", id);
	const char *argv[] = { "HMGET", key, "json", "last_used", "expires" };
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session not found");
	if ((r = redis_command(rs, 5, argv, NULL, err)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
		return redis_unexpected(rs, "HMGET", err);
	return session_from(rs, r->element, out, err);
}

static int
redis_session_get(void *self, const char *id, struct kcr_session *out, kcr_error_t *err)
{
	return session_read(self, id, out, err);
}

static int
redis_session_put(void *self, const struct kcr_session *s, kcr_error_t *err)
{
	struct redis_store *rs = self;
	sess_autokeys struct sess_keys sk = { { NULL } };
	kcr_autofree char *json = NULL, *owner = NULL;
	char last_used[32], expires[32];
	const char *argv[10];
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(s->id))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	redis_sess_keys_init(&sk, rs, s->id);
	json = kcr_session_to_json(s);
	owner = kcr_session_owner_key(s->tenant, s->entity_id, s->user_id);
	fmt_time(last_used, s->last_used);
	fmt_time(expires, s->expires);
	memcpy(argv, sk.k, sizeof(sk.k));
	argv[4] = json;
	argv[5] = owner ? owner : "";
	argv[6] = last_used;
	argv[7] = expires;
	argv[8] = rs->prefix;
	argv[9] = s->id;
	r = redis_script(rs, redis_lua_session_put, 10, argv, NULL, 4, err);
	return r ? 0 : -1;
}

static int
redis_session_touch(void *self, const struct kcr_session *init, double ttl_s,
		    struct kcr_session *out, bool *created, kcr_error_t *err)
{
	struct redis_store *rs = self;
	sess_autokeys struct sess_keys sk = { { NULL } };
	kcr_autofree char *json = NULL, *owner = NULL;
	char ttl[32];
	const char *argv[9];
	struct kcr_session s;
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(init->id))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	redis_sess_keys_init(&sk, rs, init->id);
	json = kcr_session_to_json(init);
	owner = kcr_session_owner_key(init->tenant, init->entity_id, init->user_id);
	fmt_time(ttl, ttl_s > 0 ? ttl_s : 0);
	memcpy(argv, sk.k, sizeof(sk.k));
	argv[4] = json;
	argv[5] = owner ? owner : "";
	argv[6] = ttl;
	argv[7] = rs->prefix;
	argv[8] = init->id;
	if ((r = redis_script(rs, redis_lua_session_touch, 9, argv, NULL, 4, err)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER)
		return redis_unexpected(rs, "the touch script", err);
	if (session_from(rs, r->element + 1, &s, err) < 0)
		return -1;
	if (created)
		*created = r->element[0]->integer == 1;
	if (out)
		*out = s;
	else
		kcr_session_release(&s);
	return 0;
}

static int
redis_session_expire(void *self, const char *id, double expires_at, kcr_error_t *err)
{
	struct redis_store *rs = self;
	sess_autokeys struct sess_keys sk = { { NULL } };
	char expires[32];
	const char *argv[7];
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session not found");
	redis_sess_keys_init(&sk, rs, id);
	fmt_time(expires, expires_at);
	memcpy(argv, sk.k, sizeof(sk.k));
	argv[4] = expires;
	argv[5] = rs->prefix;
	argv[6] = id;
	if ((r = redis_script(rs, redis_lua_session_expire, 7, argv, NULL, 4, err)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_INTEGER)
		return redis_unexpected(rs, "the expire script", err);
	return r->integer == 1 ? 0 : kcr_error_set(err, KCR_E_NOTFOUND, 0, "session not found");
}

static int
redis_session_delete(void *self, const char *id, kcr_error_t *err)
{
	struct redis_store *rs = self;
	sess_autokeys struct sess_keys sk = { { NULL } };
	const char *argv[6];
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session not found");
	redis_sess_keys_init(&sk, rs, id);
	memcpy(argv, sk.k, sizeof(sk.k));
	argv[4] = rs->prefix;
	argv[5] = id;
	r = redis_script(rs, redis_lua_session_delete, 6, argv, NULL, 4, err);
	return r ? 0 : -1;
}

/* The pointer, then the session it names, which must still be the
 * owner's (a session put again under another owner leaves it). */
static int
redis_session_by_owner(void *self, const char *tenant, const char *entity_id, const char *user_id,
		       struct kcr_session *out, kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *owner = kcr_session_owner_key(tenant, entity_id, user_id);
	kcr_autofree char *key = NULL, *again = NULL;
	redis_autoreply redisReply *r = NULL;

	if (owner == NULL)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no entity");
	key = redis_key_of(rs, "owner", owner);
	if ((r = redis_get_value(rs, key, NULL, "entity", err)) == NULL)
		return -1;
	if (session_read(rs, r->str, out, err) < 0)
		return -1;
	again = kcr_session_owner_key(out->tenant, out->entity_id, out->user_id);
	if (again == NULL || strcmp(again, owner) != 0) {
		kcr_session_release(out);
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "entity not found");
	}
	return 0;
}

/* ---- file records ------------------------------------------------------------- */

static int
redis_file_put(void *self, const struct kcr_file_meta *m, kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *files = NULL, *session = NULL, *json = NULL;
	const char *argv[5];
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(m->session_id) || !kcr_id_valid(m->id))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session or file id");
	files = redis_key_of(rs, "files", m->session_id);
	session = redis_key_of(rs, "session", m->session_id);
	json = kcr_file_meta_to_json(m);
	argv[0] = files;
	argv[1] = session;
	argv[2] = m->id;
	argv[3] = json;
	argv[4] = ORPHAN_TTL_S;
	r = redis_script(rs, redis_lua_file_put, 5, argv, NULL, 2, err);
	return r ? 0 : -1;
}

static int
redis_file_get(void *self, const char *sid, const char *fid, struct kcr_file_meta *out,
	       kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *files = NULL;
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(sid) || !kcr_id_valid(fid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "file not found");
	files = redis_key_of(rs, "files", sid);
	if ((r = redis_get_value(rs, files, fid, "file", err)) == NULL)
		return -1;
	return kcr_file_meta_from_json(r->str, r->len, out, err);
}

static int
cmp_created(const void *a, const void *b)
{
	const struct kcr_file_meta *x = a, *y = b;

	return x->created < y->created ? -1 : x->created > y->created;
}

static int
redis_file_list(void *self, const char *sid, struct kcr_file_meta **out, size_t *n,
		kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *files = NULL;
	const char *argv[2] = { "HVALS" };
	redis_autoreply redisReply *r = NULL;

	*n = 0;
	*out = kcr_xzalloc(sizeof(**out));
	if (!kcr_id_valid(sid))
		return 0;
	files = redis_key_of(rs, "files", sid);
	argv[1] = files;
	if ((r = redis_command(rs, 2, argv, NULL, err)) == NULL ||
	    (r->type != REDIS_REPLY_ARRAY && redis_unexpected(rs, "HVALS", err) < 0)) {
		free(kcr_steal(out));
		return -1;
	}
	*out = kcr_xrealloc(*out, (r->elements + 1) * sizeof(**out));
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];

		if ((!redis_is_str(e) && redis_unexpected(rs, "HVALS", err) < 0) ||
		    kcr_file_meta_from_json(e->str, e->len, &(*out)[*n], err) < 0) {
			kcr_file_meta_list_free(kcr_steal(out), *n);
			*n = 0;
			return -1;
		}
		(*n)++;
	}
	qsort(*out, *n, sizeof(**out), cmp_created);
	return 0;
}

static int
redis_file_delete(void *self, const char *sid, const char *fid, kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *files = NULL;
	const char *argv[3] = { "HDEL" };
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(sid) || !kcr_id_valid(fid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "file not found");
	files = redis_key_of(rs, "files", sid);
	argv[1] = files;
	argv[2] = fid;
	if ((r = redis_command(rs, 3, argv, NULL, err)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_INTEGER)
		return redis_unexpected(rs, "HDEL", err);
	return r->integer > 0 ? 0 : kcr_error_set(err, KCR_E_NOTFOUND, 0, "file not found");
}

/* ---- API keys ------------------------------------------------------------------- */

static int
redis_key_put(void *self, const struct kcr_api_key_record *k, kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *key = NULL, *index = NULL, *json = NULL;
	const char *argv[4];
	redis_autoreply redisReply *r = NULL;

	if (!kcr_key_id_valid(k->id))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid key id");
	key = redis_key_of(rs, "apikey", k->id);
	index = kcr_strdup_printf("%sapikeys", rs->prefix);
	json = kcr_api_key_to_json(k);
	argv[0] = key;
	argv[1] = index;
	argv[2] = json;
	argv[3] = k->id;
	r = redis_script(rs, redis_lua_key_put, 4, argv, NULL, 2, err);
	return r ? 0 : -1;
}

static int
redis_key_get(void *self, const char *id, struct kcr_api_key_record *out, kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *key = NULL;
	redis_autoreply redisReply *r = NULL;

	if (!kcr_key_id_valid(id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "key not found");
	key = redis_key_of(rs, "apikey", id);
	if ((r = redis_get_value(rs, key, NULL, "key", err)) == NULL)
		return -1;
	return kcr_api_key_from_json(r->str, r->len, out, err);
}

static int
cmp_key_created(const void *a, const void *b)
{
	const struct kcr_api_key_record *x = a, *y = b;

	return x->created < y->created ? -1 : x->created > y->created;
}

/* Every key, oldest first; one that does not parse fails the list (a
 * limit must not vanish). */
static int
redis_key_list(void *self, struct kcr_api_key_record **out, size_t *n, kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *index = kcr_strdup_printf("%sapikeys", rs->prefix);
	const char *argv[2] = { index, rs->prefix };
	redis_autoreply redisReply *r = NULL;

	*n = 0;
	*out = NULL;
	if ((r = redis_script(rs, redis_lua_key_list, 2, argv, NULL, 1, err)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY)
		return redis_unexpected(rs, "the key list script", err);
	*out = kcr_xzalloc((r->elements + 1) * sizeof(**out));
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];

		if ((!redis_is_str(e) && redis_unexpected(rs, "the key list script", err) < 0) ||
		    kcr_api_key_from_json(e->str, e->len, &(*out)[*n], err) < 0) {
			kcr_api_key_list_free(kcr_steal(out), *n);
			*n = 0;
			return -1;
		}
		(*n)++;
	}
	qsort(*out, *n, sizeof(**out), cmp_key_created);
	return 0;
}

static int
redis_key_delete(void *self, const char *id, kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *key = NULL, *index = NULL;
	const char *argv[3];
	redis_autoreply redisReply *r = NULL;

	if (!kcr_key_id_valid(id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "key not found");
	key = redis_key_of(rs, "apikey", id);
	index = kcr_strdup_printf("%sapikeys", rs->prefix);
	argv[0] = key;
	argv[1] = index;
	argv[2] = id;
	if ((r = redis_script(rs, redis_lua_key_delete, 3, argv, NULL, 2, err)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_INTEGER)
		return redis_unexpected(rs, "the key delete script", err);
	return r->integer > 0 ? 0 : kcr_error_set(err, KCR_E_NOTFOUND, 0, "key not found");
}

/* ---- counters ------------------------------------------------------------------- */

static int
redis_counter_add(void *self, const char *name, int64_t delta, double ttl_s, int64_t *value_out,
		  kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *key = NULL;
	char d[32], ttl[32];
	const char *argv[3];
	redis_autoreply redisReply *r = NULL;
	char *end;
	long long v;

	if (!kcr_counter_name_valid(name))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid counter name");
	key = redis_key_of(rs, "counter", name);
	snprintf(d, sizeof(d), "%" PRId64, delta);
	/* at least 1 ms: a tiny window still ends */
	snprintf(ttl, sizeof(ttl), "%.0f", ttl_s > 0 ? fmax(1, ceil(ttl_s * 1000)) : 0);
	argv[0] = key;
	argv[1] = d;
	argv[2] = ttl;
	if ((r = redis_script(rs, redis_lua_counter_add, 3, argv, NULL, 1, err)) == NULL)
		return -1;
	if (!redis_is_str(r))
		return redis_unexpected(rs, "the counter script", err);
	v = strtoll(r->str, &end, 10);
	if (*end != '\0')
		return redis_unexpected(rs, "the counter script", err);
	if (value_out)
		*value_out = (int64_t)v;
	return 0;
}

const struct kcr_session_store_ops kcr_session_store_redis_ops = {
	.name = "redis",
	.native_ttl = true,
	.open = redis_open,
	.ping = redis_ping,
	.session_put = redis_session_put,
	.session_get = redis_session_get,
	.session_touch = redis_session_touch,
	.session_expire = redis_session_expire,
	.session_delete = redis_session_delete,
	.session_by_owner = redis_session_by_owner,
	.sessions_expired = NULL,
	.sessions_list = redis_sessions_list,
	.file_put = redis_file_put,
	.file_get = redis_file_get,
	.file_list = redis_file_list,
	.file_delete = redis_file_delete,
	.state_put = redis_state_put,
	.state_get = redis_state_get,
	.state_delete = redis_state_delete,
	.state_info = redis_state_info,
	.state_archive = redis_state_archive,
	.state_unarchive = redis_state_unarchive,
	.states_idle = redis_states_idle,
	.key_put = redis_key_put,
	.key_get = redis_key_get,
	.key_list = redis_key_list,
	.key_delete = redis_key_delete,
	.counter_add = redis_counter_add,
	.counters_sweep = NULL,
	.close = redis_close,
};

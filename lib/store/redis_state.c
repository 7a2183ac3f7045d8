/* The redis session store's Python states: bytes in P state:<sid>, their
 * record in P stateinfo:<sid> (redis.c has the whole key layout). An
 * archived state (store.h, state_archive) keeps its record, marked, and
 * drops its bytes; both moves are a compare-and-set on the record's exact
 * text, in one script, so a save that came between wins. */
#include <config.h>

#include "base/clock.h"
#include "base/encode.h"
#include "base/ids.h"
#include "store/redis-internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
redis_state_put(void *self, const char *sid, const void *data, size_t len,
		const struct kcr_state_info *info, kcr_error_t *err)
{
	struct redis_store *rs = self;
	sess_autokeys struct sess_keys sk = { { NULL } };
	kcr_autofree char *json = NULL;
	const char *argv[7];
	size_t argl[7];
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	redis_sess_keys_init(&sk, rs, sid);
	json = kcr_state_record_to_json(info);
	memcpy(argv, sk.k, sizeof(sk.k));
	argv[4] = len ? (const char *)data : "";
	argv[5] = json;
	argv[6] = ORPHAN_TTL_S;
	for (size_t i = 0; i < KCR_ARRAY_SIZE(argv); i++)
		argl[i] = i == 4 ? len : strlen(argv[i]);
	r = redis_script(rs, redis_lua_state_put, 7, argv, argl, 4, err);
	if (r == NULL)
		return kcr_error_wrap(err, "storing the state of session %s", sid);
	return 0;
}

int
redis_state_info(void *self, const char *sid, struct kcr_state_info *info, kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *key = NULL;
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "state not found");
	key = redis_key_of(rs, "stateinfo", sid);
	if ((r = redis_get_value(rs, key, NULL, "state", err)) == NULL)
		return -1;
	return kcr_state_record_from_json(r->str, r->len, info, err);
}

/* An archived state's record, and no bytes (store.h). */
static int
archived_state(const redisReply *rec, char **data, size_t *len, struct kcr_state_info *info,
	       kcr_error_t *err)
{
	if (kcr_state_record_from_json(rec->str, rec->len, info, err) < 0)
		return -1;
	if (!info->archived)
		return kcr_error_set(err, KCR_E_BACKEND, 0, "a state record without its bytes");
	*data = kcr_xstrdup("");
	*len = 0;
	return 0;
}

/* The record and the bytes in one script: never a new record with old
 * bytes. size and hash come from the bytes read, as with fs. */
int
redis_state_get(void *self, const char *sid, uint64_t max, char **data, size_t *len,
		struct kcr_state_info *info, kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *rec = NULL, *bin = NULL;
	char maxs[32];
	const char *argv[3];
	struct kcr_state_info tmp;
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "state not found");
	rec = redis_key_of(rs, "stateinfo", sid);
	bin = redis_key_of(rs, "state", sid);
	snprintf(maxs, sizeof(maxs), "%" PRIu64, max);
	argv[0] = rec;
	argv[1] = bin;
	argv[2] = maxs;
	if ((r = redis_script(rs, redis_lua_state_get, 3, argv, NULL, 2, err)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_NIL)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "state not found");
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !redis_is_str(r->element[0]))
		return redis_unexpected(rs, "the state script", err);
	if (r->elements == 1) /* archived: the record alone (store.h, state_archive) */
		return archived_state(r->element[0], data, len, info ? info : &tmp, err);
	if (r->element[1]->type != REDIS_REPLY_INTEGER)
		return redis_unexpected(rs, "the state script", err);
	if (r->elements == 2)
		return kcr_error_set(err, KCR_E_LIMIT, 0, "the state is %lld bytes, over %" PRIu64,
				     r->element[1]->integer, max);
	if (!redis_is_str(r->element[2]))
		return redis_unexpected(rs, "the state script", err);
	if (kcr_state_record_from_json(r->element[0]->str, r->element[0]->len, info ? info : &tmp,
				       err) < 0)
		return -1;
	*len = r->element[2]->len;
	*data = kcr_xmalloc(*len + 1);
	memcpy(*data, r->element[2]->str, *len);
	(*data)[*len] = '\0';
	if (info) {
		info->size = *len;
		kcr_sha256_hex(*data, *len, info->hash);
	}
	return 0;
}

int
redis_state_delete(void *self, const char *sid, kcr_error_t *err)
{
	struct redis_store *rs = self;
	kcr_autofree char *rec = NULL, *bin = NULL;
	const char *argv[3] = { "DEL" };
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	rec = redis_key_of(rs, "stateinfo", sid);
	bin = redis_key_of(rs, "state", sid);
	argv[1] = rec;
	argv[2] = bin;
	r = redis_command(rs, 3, argv, NULL, err);
	return r ? 0 : kcr_error_wrap(err, "deleting the state of session %s", sid);
}

/* The record as it is now, parsed, if it is (archived) with that hash. */
static int
expect_record(struct redis_store *rs, const char *sid, const char *hash, bool archived, char **json,
	      struct kcr_state_info *info, kcr_error_t *err)
{
	kcr_autofree char *key = NULL;
	redis_autoreply redisReply *r = NULL;

	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "state not found");
	key = redis_key_of(rs, "stateinfo", sid);
	if ((r = redis_get_value(rs, key, NULL, "state", err)) == NULL ||
	    kcr_state_record_from_json(r->str, r->len, info, err) < 0)
		return -1;
	if (info->archived != archived || strcmp(info->hash, hash) != 0)
		return kcr_error_set(err, KCR_E_CONFLICT, 0, "the state changed");
	*json = kcr_xstrndup(r->str, r->len);
	return 0;
}

/* Archive (data NULL: drop the bytes) or unarchive (data back), if the
 * record still reads old_json. */
static int
state_move(struct redis_store *rs, const char *sid, const char *hash, const void *data, size_t len,
	   bool archive, kcr_error_t *err)
{
	struct kcr_state_info info;
	kcr_autofree char *old = NULL, *json = NULL, *rec = NULL, *bin = NULL;
	const char *argv[6];
	size_t argl[6];
	redis_autoreply redisReply *r = NULL;

	if (expect_record(rs, sid, hash, !archive, &old, &info, err) < 0)
		return -1;
	info.archived = archive;
	if (!archive)
		info.restored = kcr_wall_time();
	json = kcr_state_record_to_json(&info);
	rec = redis_key_of(rs, "stateinfo", sid);
	bin = redis_key_of(rs, "state", sid);
	argv[0] = rec;
	argv[1] = bin;
	argv[2] = old;
	argv[3] = json;
	argv[4] = archive ? "drop" : "put";
	argv[5] = data && len ? (const char *)data : "";
	for (size_t i = 0; i < KCR_ARRAY_SIZE(argv); i++)
		argl[i] = i == 5 ? (data ? len : 0) : strlen(argv[i]);
	if ((r = redis_script(rs, redis_lua_state_move, 6, argv, argl, 2, err)) == NULL)
		return kcr_error_wrap(err, "%s the state of session %s",
				      archive ? "archiving" : "restoring", sid);
	if (r->type != REDIS_REPLY_INTEGER)
		return redis_unexpected(rs, "the state move script", err);
	if (r->integer == 0)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "state not found");
	if (r->integer < 0)
		return kcr_error_set(err, KCR_E_CONFLICT, 0, "the state changed");
	return 0;
}

int
redis_state_archive(void *self, const char *sid, const char *hash, kcr_error_t *err)
{
	return state_move(self, sid, hash, NULL, 0, true, err);
}

int
redis_state_unarchive(void *self, const char *sid, const void *data, size_t len, const char *hash,
		      kcr_error_t *err)
{
	return state_move(self, sid, hash, data, len, false, err);
}

/* The keys of a kind ("stateinfo", "session") as a SCAN pattern: the
 * prefix's glob characters escaped. */
static char *
scan_pattern(const char *prefix, const char *kind)
{
	struct kcr_buf b = { 0 };

	for (const char *p = prefix; *p; p++) {
		if (strchr("*?[]\\", *p))
			kcr_buf_add(&b, "\\", 1);
		kcr_buf_add(&b, p, 1);
	}
	kcr_buf_add(&b, kind, strlen(kind));
	kcr_buf_add(&b, ":*", 3);
	return b.data;
}

/* One key of a SCAN: its sid, if its state is live and saved before. */
static const char *
idle_sid(struct redis_store *rs, const redisReply *key, const void *ctx)
{
	double before = *(const double *)ctx;
	struct kcr_state_info info;
	redis_autoreply redisReply *r = NULL;
	kcr_error_t e = NULL;
	size_t plen = strlen(rs->prefix) + strlen("stateinfo:");
	const char *sid;

	if (!redis_is_str(key) || key->len != plen + KCR_ID_LEN)
		return NULL;
	sid = key->str + plen;
	if ((r = redis_get_value(rs, key->str, NULL, "state", &e)) == NULL ||
	    kcr_state_record_from_json(r->str, r->len, &info, &e) < 0) {
		kcr_error_free(e); /* gone meanwhile, or not ours to judge */
		return NULL;
	}
	return !info.archived && kcr_state_last_use(&info) < before && kcr_id_valid(sid) ? sid
											 : NULL;
}

/* The sids (at most max) of the keys of a kind that pick takes, by SCAN:
 * no index to keep, for what runs seldom (a sweep, an admin's listing). */
static int
scan_sids(struct redis_store *rs, const char *kind, size_t max,
	  const char *(*pick)(struct redis_store *rs, const redisReply *key, const void *ctx),
	  const void *ctx, char ***sids, kcr_error_t *err)
{
	kcr_autofree char *pattern = scan_pattern(rs->prefix, kind);
	char cursor[32] = "0";
	size_t n = 0;

	*sids = kcr_xzalloc(sizeof(char *));
	do {
		const char *argv[6] = { "SCAN", cursor, "MATCH", pattern, "COUNT", "1000" };
		redis_autoreply redisReply *r = redis_command(rs, 6, argv, NULL, err);

		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    !redis_is_str(r->element[0]) || r->element[1]->type != REDIS_REPLY_ARRAY) {
			kcr_strv_free(kcr_steal(sids));
			return r ? redis_unexpected(rs, "SCAN", err) : -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements && n < max; i++) {
			const char *sid = pick(rs, r->element[1]->element[i], ctx);

			if (sid == NULL)
				continue;
			*sids = kcr_xrealloc(*sids, (n + 2) * sizeof(char *));
			(*sids)[n++] = kcr_xstrdup(sid);
			(*sids)[n] = NULL;
		}
	} while (strcmp(cursor, "0") != 0 && n < max);
	return 0;
}

/* KubeCodeRun's archiver SCANs the state records the same way. */
int
redis_states_idle(void *self, double before, size_t max, char ***sids, kcr_error_t *err)
{
	return scan_sids(self, "stateinfo", max, idle_sid, &before, sids, err);
}

/* A session key's sid: sessions expire by themselves (EXPIRE), so a key
 * that is there is a live session. */
static const char *
session_sid(struct redis_store *rs, const redisReply *key, const void *ctx)
{
	size_t plen = strlen(rs->prefix) + strlen("session:");

	(void)ctx;
	if (!redis_is_str(key) || key->len != plen + KCR_ID_LEN || !kcr_id_valid(key->str + plen))
		return NULL;
	return key->str + plen;
}

int
redis_sessions_list(void *self, size_t max, char ***sids, kcr_error_t *err)
{
	return scan_sids(self, "session", max, session_sid, NULL, sids, err);
}

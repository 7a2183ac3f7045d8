/* The admin API of kcr serve, under /admin and for the admin key alone
 * (KCR_ROUTE_ADMIN: 401 without a key, 403 with another one): managed
 * keys (keys.h), what each key used, sessions of any tenant, the pools,
 * and the effective configuration with its secrets masked. */
#include <config.h>

#include "server/api-internal.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/lang.h"
#include "base/parse.h"
#include "engine/pool.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void
reply_err(struct kcr_http_resp *resp, const struct kcr_http_req *req, kcr_error_t err)
{
	api_reply_service_error(resp, req, err);
}

static struct kcr_stores *
stores(void *ud)
{
	return kcr_service_stores(((struct kcr_api *)ud)->svc);
}

/* The body as a JSON object ({} when empty). */
static cJSON *
body_json(const struct kcr_http_req *req, kcr_error_t *err)
{
	cJSON *o = req->body.len ? cJSON_ParseWithLength(req->body.data, req->body.len)
				 : cJSON_CreateObject();

	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		kcr_error_set(err, KCR_E_INVALID, 0, "body must be a JSON object");
		return NULL;
	}
	return o;
}

/* ---- keys --------------------------------------------------------------- */

void
api_h_admin_keys(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api_key_record *list = NULL;
	size_t n = 0;
	kcr_error_t err = NULL;
	cJSON *o, *a;
	double now = kcr_wall_time();

	if (kcr_store_key_list(stores(ud), &list, &n, &err) < 0)
		return reply_err(resp, req, err);
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "keys");
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, kcr_key_record_json(&list[i], now));
	kcr_api_key_list_free(list, n);
	kcr_http_reply_json(resp, 200, o);
}

void
api_h_admin_key_create(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api_key_record rec;
	char key[KCR_KEY_LEN + 1];
	kcr_error_t err = NULL;
	cJSON *body = body_json(req, &err), *o;

	if (body == NULL || kcr_keys_create(stores(ud), body, key, &rec, &err) < 0) {
		cJSON_Delete(body);
		return reply_err(resp, req, err);
	}
	cJSON_Delete(body);
	/* a negative answer cached for this key's hash is now wrong */
	kcr_key_cache_forget(((struct kcr_api *)ud)->key_cache, rec.id);
	o = kcr_key_record_json(&rec, kcr_wall_time());
	cJSON_AddStringToObject(o, "key", key); /* the only time it is shown */
	explicit_bzero(key, sizeof(key));
	kcr_api_key_release(&rec);
	kcr_http_reply_json(resp, 201, o);
}

void
api_h_admin_key_get(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api_key_record rec;
	char id[KCR_KEY_ID_LEN + 1];
	kcr_error_t err = NULL;

	if (kcr_keys_resolve(stores(ud), req->params[0], id, &err) < 0 ||
	    kcr_store_key_get(stores(ud), id, &rec, &err) < 0)
		return reply_err(resp, req, err);
	kcr_http_reply_json(resp, 200, kcr_key_record_json(&rec, kcr_wall_time()));
	kcr_api_key_release(&rec);
}

void
api_h_admin_key_update(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api_key_record rec;
	char id[KCR_KEY_ID_LEN + 1];
	kcr_error_t err = NULL;
	cJSON *body = body_json(req, &err);

	if (body == NULL || kcr_keys_resolve(stores(ud), req->params[0], id, &err) < 0 ||
	    kcr_keys_update(stores(ud), id, body, &rec, &err) < 0) {
		cJSON_Delete(body);
		return reply_err(resp, req, err);
	}
	cJSON_Delete(body);
	kcr_key_cache_forget(((struct kcr_api *)ud)->key_cache, id);
	kcr_http_reply_json(resp, 200, kcr_key_record_json(&rec, kcr_wall_time()));
	kcr_api_key_release(&rec);
}

void
api_h_admin_key_delete(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	char id[KCR_KEY_ID_LEN + 1];
	kcr_error_t err = NULL;
	cJSON *o;

	if (kcr_keys_resolve(stores(ud), req->params[0], id, &err) < 0 ||
	    kcr_store_key_delete(stores(ud), id, &err) < 0)
		return reply_err(resp, req, err);
	kcr_key_cache_forget(((struct kcr_api *)ud)->key_cache, id);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddBoolToObject(o, "deleted", true);
	kcr_http_reply_json(resp, 200, o);
}

/* ---- usage -------------------------------------------------------------- */

static int
read_counter(struct kcr_stores *st, const char *id, const char *lang, unsigned int f, int64_t *v,
	     kcr_error_t *err)
{
	char name[KCR_COUNTER_NAME_MAX + 1];

	kcr_usage_counter_name(id, lang, f, name, sizeof(name));
	return kcr_store_counter_add(st, name, 0, 0, v, err);
}

/* {"id", "languages": {"py": {executions, errors, run_ms, bytes}}, "total"} */
static cJSON *
usage_json(struct kcr_stores *st, const char *id, kcr_error_t *err)
{
	cJSON *o = cJSON_CreateObject(), *langs = cJSON_CreateObject(), *total;
	int64_t sum[KCR_USAGE_FIELDS] = { 0 };

	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddItemToObject(o, "languages", langs);
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		const char *lang = kcr_lang_at(i)->id;
		int64_t v[KCR_USAGE_FIELDS] = { 0 };
		cJSON *l;

		if (read_counter(st, id, lang, KCR_USAGE_EXECUTIONS, &v[0], err) < 0)
			goto fail;
		if (v[0] == 0)
			continue;
		l = cJSON_AddObjectToObject(langs, lang);
		for (unsigned int f = 0; f < KCR_USAGE_FIELDS; f++) {
			if (f && read_counter(st, id, lang, f, &v[f], err) < 0)
				goto fail;
			sum[f] += v[f];
			cJSON_AddNumberToObject(l, kcr_usage_field_name(f), (double)v[f]);
		}
	}
	total = cJSON_AddObjectToObject(o, "total");
	for (unsigned int f = 0; f < KCR_USAGE_FIELDS; f++)
		cJSON_AddNumberToObject(total, kcr_usage_field_name(f), (double)sum[f]);
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

void
api_h_admin_key_usage(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	char id[KCR_KEY_ID_LEN + 1];
	kcr_error_t err = NULL;
	cJSON *o = NULL;

	/* this replica's own counts first: the others' are a second late at most */
	if (kcr_usage_flush(((struct kcr_api *)ud)->usage, &err) < 0)
		return reply_err(resp, req, err);
	/* a configured key has usage too: its full id is taken as it is */
	if (kcr_key_id_valid(req->params[0]))
		memcpy(id, req->params[0], sizeof(id));
	else if (kcr_keys_resolve(stores(ud), req->params[0], id, &err) < 0)
		return reply_err(resp, req, err);
	if ((o = usage_json(stores(ud), id, &err)) == NULL)
		return reply_err(resp, req, err);
	kcr_http_reply_json(resp, 200, o);
}

/* Every managed key's and every configured key's. */
void
api_h_admin_usage(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_api_key_record *list = NULL;
	kcr_autostrv char **ids = NULL;
	size_t n = 0;
	kcr_error_t err = NULL;
	cJSON *o, *a;

	if (kcr_usage_flush(api->usage, &err) < 0 ||
	    kcr_store_key_list(stores(ud), &list, &n, &err) < 0)
		return reply_err(resp, req, err);
	pthread_rwlock_rdlock(&api->auth_lock);
	ids = kcr_auth_key_ids(api->auth);
	pthread_rwlock_unlock(&api->auth_lock);
	for (size_t i = 0; i < n; i++)
		kcr_strv_push(&ids, list[i].id);
	kcr_api_key_list_free(list, n);
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "keys");
	for (size_t i = 0; ids[i]; i++) {
		cJSON *u = usage_json(stores(ud), ids[i], &err);

		if (u == NULL) {
			cJSON_Delete(o);
			return reply_err(resp, req, err);
		}
		cJSON_AddStringToObject(u, "source",
					i < kcr_strv_len(ids) - n ? "config" : "managed");
		cJSON_AddItemToArray(a, u);
	}
	kcr_http_reply_json(resp, 200, o);
}

/* ---- sessions ----------------------------------------------------------- */

/* The session as the store keeps it (an owner's absent members left out). */
static cJSON *
session_json(const struct kcr_session *s)
{
	kcr_autofree char *text = kcr_session_to_json(s);

	return cJSON_Parse(text);
}

/* Every tenant's live sessions (?limit=N, default 100, at most 10000;
 * ?key=ID: one key's), in no particular order: {"sessions", "truncated"}. */
void
api_h_admin_sessions(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	const char *lim = kcr_http_query(req, "limit"), *key = kcr_http_query(req, "key");
	kcr_autofree char *tenant = key ? kcr_strdup_printf("key:%s", key) : NULL;
	kcr_autostrv char **ids = NULL;
	uint64_t max = 100;
	kcr_error_t err = NULL;
	cJSON *o, *a;

	if ((lim && kcr_parse_u64(lim, 1, 10000, &max, &err) < 0) ||
	    kcr_store_sessions_list(stores(ud), key ? SIZE_MAX : max + 1, &ids, &err) < 0)
		return reply_err(resp, req, err);
	o = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(o, "sessions");
	for (size_t i = 0; ids[i] && (uint64_t)cJSON_GetArraySize(a) < max; i++) {
		struct kcr_session s = { 0 };
		kcr_error_t e = NULL;

		if (kcr_store_session_get(stores(ud), ids[i], &s, &e) < 0)
			kcr_error_free(e); /* gone meanwhile */
		else if (tenant == NULL || (s.tenant && strcmp(s.tenant, tenant) == 0))
			cJSON_AddItemToArray(a, session_json(&s));
		kcr_session_release(&s);
	}
	cJSON_AddBoolToObject(o, "truncated", key ? false : kcr_strv_len(ids) > max);
	kcr_http_reply_json(resp, 200, o);
}

/* Any tenant's session, with its owner and files. */
void
api_h_admin_session(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_session s = { 0 };
	struct kcr_file_meta *files = NULL;
	size_t n = 0;
	kcr_error_t err = NULL;
	cJSON *o, *a;

	if (kcr_store_session_get(stores(ud), req->params[0], &s, &err) < 0 ||
	    kcr_store_meta_list(stores(ud), req->params[0], &files, &n, &err) < 0) {
		kcr_session_release(&s);
		return reply_err(resp, req, err);
	}
	o = session_json(&s);
	a = cJSON_AddArrayToObject(o, "files");
	for (size_t i = 0; i < n; i++) {
		cJSON *f = api_file_ref_json(&files[i]);

		cJSON_AddNumberToObject(f, "size", (double)files[i].size);
		cJSON_AddStringToObject(f, "kind", files[i].kind ? files[i].kind : "");
		cJSON_AddItemToArray(a, f);
	}
	kcr_file_meta_list_free(files, n);
	kcr_session_release(&s);
	kcr_http_reply_json(resp, 200, o);
}

/* Any tenant's session, with its files and state: 404 when there is none. */
void
api_h_admin_session_delete(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_session s = { 0 };
	kcr_error_t err = NULL;
	cJSON *o;

	if (kcr_store_session_get(stores(ud), req->params[0], &s, &err) < 0 ||
	    kcr_store_file_del_session(stores(ud), s.id, &err) < 0 ||
	    kcr_store_session_delete(stores(ud), s.id, &err) < 0) {
		kcr_session_release(&s);
		return reply_err(resp, req, err);
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", s.id);
	cJSON_AddBoolToObject(o, "deleted", true);
	kcr_session_release(&s);
	kcr_http_reply_json(resp, 200, o);
}

/* ---- pool and configuration --------------------------------------------- */

/* {"languages": [...]} (every pool when absent): targets to 0. */
void
api_h_admin_pool_drain(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_pool *p = kcr_service_pool(api->svc);
	kcr_error_t err = NULL;
	cJSON *body = body_json(req, &err);
	const cJSON *l = body ? cJSON_GetObjectItemCaseSensitive(body, "languages") : NULL, *x;

	if (body && p == NULL)
		kcr_error_set(&err, KCR_E_CONFLICT, 0, "pools are disabled (pool.enabled=false)");
	for (unsigned int i = 0; err == NULL && l == NULL && i < kcr_lang_count(); i++)
		kcr_pool_set_target(p, kcr_lang_at(i)->id, 0, &err);
	if (err == NULL && l && !cJSON_IsArray(l))
		kcr_error_set(&err, KCR_E_INVALID, 0, "languages must be an array");
	for (x = err ? NULL : cJSON_GetArrayItem(l, 0); x; x = x->next) {
		const struct kcr_lang *lang =
			kcr_lang_lookup(cJSON_IsString(x) ? x->valuestring : "", &err);

		if (lang == NULL || kcr_pool_set_target(p, lang->id, 0, &err) < 0)
			break;
	}
	cJSON_Delete(body);
	if (err)
		return reply_err(resp, req, err);
	kcr_http_reply_json(resp, 200, kcr_pool_stats_json(p));
}

void
api_h_admin_config(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	cJSON *o = cJSON_CreateObject(), *set = cJSON_AddObjectToObject(o, "settings");

	pthread_rwlock_rdlock(&api->auth_lock); /* a reload swaps the configuration */
	for (unsigned int i = 0; i < kcr_config_key_count(); i++) {
		const struct kcr_cfg_key *k = kcr_config_key_at(i);
		const char *v = kcr_config_str(api->cfg, k->name);
		cJSON *e = cJSON_AddObjectToObject(set, k->name);

		if (v == NULL)
			v = "";
		cJSON_AddStringToObject(e, "value", k->secret && *v ? "********" : v);
		cJSON_AddStringToObject(
			e, "source",
			kcr_cfg_source_name(kcr_config_source(api->cfg, k->name, NULL)));
	}
	pthread_rwlock_unlock(&api->auth_lock);
	kcr_http_reply_json(resp, 200, o);
}

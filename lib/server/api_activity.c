/* The activity of kcr serve for the admin dashboard (activity.h): the
 * error replies as they go out, and GET /admin/activity. Executions are
 * counted where they finish (api_exec.c). */
#include <config.h>

#include "server/api-internal.h"
#include "server/activity.h"
#include "base/parse.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Error bodies are small; a larger one is not ours and is not parsed. */
#define ERROR_BODY_MAX 65536

/* error and error_type of an error reply in the contract's shape. */
static void
error_fields(const struct kcr_http_resp *resp, struct kcr_activity_error *e)
{
	cJSON *o;
	const cJSON *msg, *type;

	if (resp->body == NULL || resp->len > ERROR_BODY_MAX || resp->ctype == NULL ||
	    strncmp(resp->ctype, "application/json", 16) != 0)
		return;
	o = cJSON_ParseWithLength(resp->body, resp->len);
	msg = cJSON_GetObjectItemCaseSensitive(o, "error");
	type = cJSON_GetObjectItemCaseSensitive(o, "error_type");
	if (cJSON_IsString(msg))
		kcr_activity_copy(e->message, sizeof(e->message), msg->valuestring);
	if (cJSON_IsString(type))
		kcr_activity_copy(e->error_type, sizeof(e->error_type), type->valuestring);
	cJSON_Delete(o);
}

void
kcr_api_on_reply(const struct kcr_http_req *req, const struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	const struct kcr_http_route *rt = req->route;
	struct kcr_activity_error e = { 0 };

	if (resp->status < 400 || api->activity == NULL)
		return;
	e.status = resp->status;
	kcr_activity_copy(e.method, sizeof(e.method), req->method);
	kcr_activity_copy(e.route, sizeof(e.route), rt ? rt->name : req->path);
	/* the tenant names the key by its SHA-256, never the key itself */
	if (strncmp(req->tenant, "key:", 4) == 0)
		kcr_activity_copy(e.key_id, sizeof(e.key_id), req->tenant + 4);
	e.admin = req->admin;
	kcr_activity_copy(e.request_id, sizeof(e.request_id), req->request_id);
	error_fields(resp, &e);
	kcr_activity_error(api->activity, &e);
}

/* The name of the key with that id: a managed key's own, "configured
 * key" for one of server.api_keys; NULL when unknown. */
static const char *
key_name(const char *id, const struct kcr_api_key_record *list, size_t n, char **config_ids)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].id, id) == 0)
			return list[i].name;
	for (size_t i = 0; config_ids && config_ids[i]; i++)
		if (strcmp(config_ids[i], id) == 0)
			return "configured key";
	return NULL;
}

/* Names the keys of the recent errors ("key_name"); the managed ones stay
 * unnamed when the store cannot list them. */
static void
name_keys(struct kcr_api *api, cJSON *o)
{
	struct kcr_api_key_record *list = NULL;
	kcr_autostrv char **config_ids = NULL;
	size_t n = 0;
	kcr_error_t err = NULL;
	cJSON *e;

	if (kcr_store_key_list(kcr_service_stores(api->svc), &list, &n, &err) < 0)
		kcr_error_free(err);
	pthread_rwlock_rdlock(&api->auth_lock);
	config_ids = kcr_auth_key_ids(api->auth);
	pthread_rwlock_unlock(&api->auth_lock);
	cJSON_ArrayForEach (e, cJSON_GetObjectItemCaseSensitive(o, "recent_errors")) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "key_id");
		const char *name = cJSON_IsString(id) && *id->valuestring
					   ? key_name(id->valuestring, list, n, config_ids)
					   : NULL;

		if (name)
			cJSON_AddStringToObject(e, "key_name", name);
	}
	kcr_api_key_list_free(list, n);
}

/* ?latency_minutes=N (1..60, default 15): the window of the percentiles. */
void
api_h_admin_activity(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	const char *w = kcr_http_query(req, "latency_minutes");
	uint64_t window = KCR_ACTIVITY_LATENCY_MINUTES;
	kcr_error_t err = NULL;
	cJSON *o;

	if (w && kcr_parse_u64(w, 1, KCR_ACTIVITY_MINUTES, &window, &err) < 0)
		return api_reply_service_error(resp, req, err);
	o = kcr_activity_json(api->activity, (unsigned int)window);
	name_keys(api, o);
	kcr_http_reply_json(resp, 200, o);
}

/* The Python state of a session: GET/POST/DELETE /state/{sid} and GET
 * /state/{sid}/info, with KubeCodeRun's error codes and ETags. */
#include <config.h>

#include "base/clock.h"
#include "server/api-internal.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- the Python state of a session (GET/POST/DELETE /state/{sid}) ------ */

/* KubeCodeRun's state errors: "error" is a code ("state_not_found"), the
 * text is in "message", with the members every error reply has. */
static void
reply_state_error(struct kcr_http_resp *resp, const struct kcr_http_req *req, const char *code,
		  kcr_error_t err)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", code);
	cJSON_AddStringToObject(o, "error_type", kcr_errc_name(err->code));
	cJSON_AddStringToObject(o, "message", err->msg);
	cJSON_AddArrayToObject(o, "details");
	cJSON_AddStringToObject(o, "request_id", req->request_id);
	cJSON_AddNumberToObject(o, "timestamp", kcr_wall_time());
	kcr_http_reply_json(resp, kcr_errc_http_status(err->code), o);
	kcr_error_free(err);
}

static bool
check_sid(struct kcr_http_req *req, struct kcr_http_resp *resp)
{
	if (kcr_id_valid(req->params[0]))
		return true;
	kcr_http_reply_error(resp, req, 400, "validation", "session_id", "invalid session id");
	return false;
}

/* If-None-Match: "*", or a list of entity tags of which one is ours. */
static bool
etag_matches(const char *inm, const char *hash)
{
	return inm && (strcmp(inm, "*") == 0 || strstr(inm, hash) != NULL);
}

static void
add_etag(struct kcr_http_resp *resp, const char *hash)
{
	char etag[70];

	snprintf(etag, sizeof(etag), "\"%s\"", hash);
	kcr_http_add_header(resp, "ETag", etag);
}

void
api_h_state_get(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	const char *inm = kcr_http_header(req, "If-None-Match");
	struct kcr_state_info info;
	kcr_error_t err = NULL;
	char *data = NULL;
	size_t len = 0;

	if (!check_sid(req, resp))
		return;
	/* the client has it already: no need to read the bytes */
	if (inm &&
	    kcr_service_state_info(api->svc, req->tenant, req->params[0], &info, &err) == 0 &&
	    etag_matches(inm, info.hash)) {
		kcr_http_reply_bytes(resp, 304, NULL, 0, "application/octet-stream");
		add_etag(resp, info.hash);
		return;
	}
	kcr_error_release(&err);
	if (kcr_service_state_get(api->svc, req->tenant, req->params[0], &data, &len, &info, &err) <
	    0) {
		if (err->code == KCR_E_NOTFOUND)
			reply_state_error(resp, req, "state_not_found", err);
		else
			api_reply_service_error(resp, req, err);
		return;
	}
	kcr_http_reply_bytes(resp, 200, data, len, "application/octet-stream");
	add_etag(resp, info.hash);
	kcr_http_add_header(resp, "Cache-Control", "private, no-cache");
}

void
api_h_state_post(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_state_info info;
	kcr_error_t err = NULL;
	cJSON *o;

	if (!check_sid(req, resp))
		return;
	if (req->mp != NULL) {
		kcr_error_set(&err, KCR_E_INVALID, 0,
			      "send the state as the raw body (application/octet-stream), "
			      "not as multipart/form-data");
		reply_state_error(resp, req, "invalid_state", err);
		return;
	}
	if (kcr_service_state_put(api->svc, req->tenant, req->params[0],
				  req->body.data ? req->body.data : "", req->body.len, &info,
				  &err) < 0) {
		switch (err->code) {
		case KCR_E_NOTFOUND:
			reply_state_error(resp, req, "session_not_found", err);
			break;
		case KCR_E_LIMIT:
			reply_state_error(resp, req, "state_too_large", err);
			break;
		case KCR_E_INVALID:
			reply_state_error(resp, req, "invalid_state", err);
			break;
		default:
			api_reply_service_error(resp, req, err);
			break;
		}
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "message", "state_uploaded");
	cJSON_AddNumberToObject(o, "size", (double)info.size);
	kcr_http_reply_json(resp, 201, o);
}

void
api_h_state_delete(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	kcr_error_t err = NULL;

	if (!check_sid(req, resp))
		return;
	if (kcr_service_state_delete(api->svc, req->tenant, req->params[0], &err) < 0)
		api_reply_service_error(resp, req, err);
	else
		kcr_http_reply_bytes(resp, 204, NULL, 0, "text/plain");
}

void
api_h_state_info(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_state_info info;
	kcr_error_t err = NULL;
	bool exists;

	if (!check_sid(req, resp))
		return;
	exists = kcr_service_state_info(api->svc, req->tenant, req->params[0], &info, &err) == 0;
	if (!exists && err->code != KCR_E_NOTFOUND) {
		api_reply_service_error(resp, req, err);
		return;
	}
	kcr_error_release(&err);
	kcr_http_reply_json(resp, 200, kcr_state_info_json(req->params[0], exists ? &info : NULL));
}

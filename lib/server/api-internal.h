/* What the route files of the API (lib/server/api*.c) share, and no one
 * else: validation errors that name their field, checks of what clients
 * send, shared replies, and the handlers the route table of api.c names. */
#ifndef KCR_API_INTERNAL_H
#define KCR_API_INTERNAL_H

#include "server/api.h"
#include "server/http_server.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define ENTITY_ID_MAX 40

/* A request that failed validation: the status (400 or 422), the field
 * as FastAPI names it ("body -> files -> id"), and the message. */
struct verr {
	int status;
	const char *field;
	char *msg;
};

/* api_request.c */
int api_fail(struct verr *v, int status, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int api_opt_string(const cJSON *o, const char *name, const char *field, char **out, struct verr *v);
bool api_json_has_nul_escape(const char *s, size_t n);
bool api_valid_entity_id(const char *s);
const char *api_bad_name_reason(const char *name);
void api_reply_verr(struct kcr_http_resp *resp, const struct kcr_http_req *req, struct verr *v);
void api_reply_service_error(struct kcr_http_resp *resp, const struct kcr_http_req *req,
			     kcr_error_t err);
cJSON *api_file_ref_json(const struct kcr_file_meta *m);
/* 400 for ids that could never be valid, 404 for ids of another length. */
bool api_check_ids(struct kcr_http_req *req, struct kcr_http_resp *resp);
bool api_id_plausible(const char *id);

/* api_exec.c: a POST /exec body into a request (fuzzed: tests/fuzz/). */
int api_parse_exec(const char *body, size_t len, struct kcr_exec_request *c, struct verr *v);

/* The handlers of the route table. */
void api_h_exec(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_upload(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_upload_batch(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_files(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_delete(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_download(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_download_options(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_state_get(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_state_post(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_state_delete(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_state_info(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);

/* api_admin.c: /admin/... (KCR_ROUTE_ADMIN) */
void api_h_admin_keys(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_admin_key_create(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_admin_key_get(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_admin_key_update(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_admin_key_delete(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_admin_key_usage(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_admin_usage(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_admin_sessions(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_admin_session(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_admin_session_delete(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_admin_pool_drain(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_admin_config(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);

/* api_activity.c: GET /admin/activity (KCR_ROUTE_ADMIN) */
void api_h_admin_activity(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);

/* api_dashboard.c: the admin dashboard's page and assets (KCR_ROUTE_PUBLIC:
 * no data in them; the page asks the admin API with the key typed in) */
void api_h_dashboard(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_dashboard_slash(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void api_h_dashboard_asset(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);

/* api_schemas.c: the component schemas and parameters the route table
 * names (struct kcr_http_route), as JSON text; tables end with { NULL }. */
struct api_schema {
	const char *name;
	/* a schema's media type (NULL: application/json); where a
	 * parameter goes ("query", "header") */
	const char *where;
	const char *description; /* a parameter's (a schema has its own) */
	const char *json;        /* a parameter's schema: NULL for a string */
};
const struct api_schema *api_schemas(void);
const struct api_schema *api_params(void);
const struct api_schema *api_find(const struct api_schema *table, const char *name);

/* api_openapi.c: GET /openapi.json (KCR_ROUTE_PUBLIC), whose document
 * init builds once (kcr_api_init) and kcr_api_release frees. */
void api_openapi_init(struct kcr_api *api, const char *base_path);
void api_h_openapi(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);

#endif

#include <config.h>

#include "server/api-internal.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/metrics_kcr.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void
h_health(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	cJSON *o = cJSON_CreateObject();
	unsigned int running, waiting;

	kcr_service_load(api->svc, &running, &waiting);
	cJSON_AddStringToObject(o, "status", "healthy");
	cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
	cJSON_AddNumberToObject(o, "executions_running", running);
	cJSON_AddNumberToObject(o, "executions_waiting", waiting);
	kcr_http_reply_json(resp, 200, o);
}

/* Each dependency with the latency of its check, and the pools (KubeCodeRun's
 * /health/detailed): needs a key, as it names backends and their errors.
 * 503 when one fails, so a monitor needs only the status. */
static void
h_health_detailed(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_health_check checks[KCR_HEALTH_CHECKS];
	struct kcr_pool *pool = kcr_service_pool(api->svc);
	cJSON *o = cJSON_CreateObject(), *deps;
	int failed = kcr_service_health(api->svc, checks);

	cJSON_AddStringToObject(o, "status", failed ? "unhealthy" : "healthy");
	cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
	deps = cJSON_AddObjectToObject(o, "checks");
	for (size_t i = 0; i < KCR_HEALTH_CHECKS; i++) {
		cJSON *c = cJSON_AddObjectToObject(deps, checks[i].name);

		cJSON_AddStringToObject(c, "status", checks[i].ok ? "healthy" : "unhealthy");
		cJSON_AddStringToObject(c, "backend", checks[i].backend ? checks[i].backend : "");
		cJSON_AddNumberToObject(c, "latency_ms", checks[i].latency_ms);
		if (checks[i].error)
			cJSON_AddStringToObject(c, "error", checks[i].error);
	}
	kcr_health_checks_release(checks);
	cJSON_AddItemToObject(deps, "pool", kcr_pool_stats_json(pool));
	kcr_http_reply_json(resp, failed ? 503 : 200, o);
}

/* "session store redis: unavailable (see the server's log)" from the
 * error "session store redis: <details>". */
static char *
ready_error(const char *err)
{
	const char *prefix = strstr(err, ": ");

	return kcr_strdup_printf("%.*sunavailable (see the server's log)",
				 prefix ? (int)(prefix - err) + 2 : 0, err);
}

/* /ready needs no key: it names what failed (the store wrappers prefix
 * their errors, "session store fs: "), and leaves the rest (paths,
 * addresses) to the server's log. */
static void
not_ready(cJSON *o, const char *what, const char *name, const struct kcr_health_check *c)
{
	kcr_autofree char *msg = NULL;

	if (c->ok || cJSON_GetObjectItem(o, "error"))
		return;
	kcr_log_warn("not ready: %s", c->error);
	msg = ready_error(c->error);
	cJSON_AddStringToObject(o, what, name);
	cJSON_AddStringToObject(o, "error", msg);
}

/* Ready when the sandbox provider can make sandboxes (a kubernetes one
 * reaches its API server) and the stores answer: a replica that cannot is
 * taken out of the load balancer, while /health keeps saying it lives.
 * Each with its backend and the latency of its check. */
static void
h_ready(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	static const char *const names[] = { "sessions", "files" };
	struct kcr_api *api = ud;
	struct kcr_health_check checks[KCR_HEALTH_CHECKS];
	cJSON *o = cJSON_CreateObject(), *stores, *sb;
	int failed = kcr_service_health(api->svc, checks);

	cJSON_AddStringToObject(o, "status", failed ? "unavailable" : "ready");
	sb = cJSON_AddObjectToObject(o, "sandbox");
	cJSON_AddStringToObject(sb, "provider", checks[0].backend ? checks[0].backend : "");
	cJSON_AddBoolToObject(sb, "ok", checks[0].ok);
	cJSON_AddNumberToObject(sb, "latency_ms", checks[0].latency_ms);
	stores = cJSON_AddObjectToObject(o, "stores");
	for (size_t i = 0; i < 2; i++) {
		const struct kcr_health_check *c = &checks[i + 1];
		cJSON *e = cJSON_AddObjectToObject(stores, names[i]);

		cJSON_AddStringToObject(e, "backend", c->backend ? c->backend : "");
		cJSON_AddBoolToObject(e, "ok", c->ok);
		cJSON_AddNumberToObject(e, "latency_ms", c->latency_ms);
		not_ready(o, "store", names[i], c);
	}
	not_ready(o, "sandbox_provider", checks[0].backend ? checks[0].backend : "", &checks[0]);
	kcr_health_checks_release(checks);
	kcr_http_reply_json(resp, failed ? 503 : 200, o);
}

/* Public (KCR_ROUTE_PUBLIC) so that a Prometheus scraper needs no key,
 * unless server.metrics_public is false: then it checks the key itself. */
static void
h_metrics(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_buf b;
	unsigned int running, waiting;
	size_t len;
	char *text;

	if (!api->metrics_public && kcr_api_authorize(req, resp, ud) != KCR_HTTP_AUTH_OK)
		return;
	kcr_service_load(api->svc, &running, &waiting);
	kcr_metrics_update_process(running, waiting);
	kcr_buf_init(&b);
	kcr_metrics_render(&b);
	text = kcr_buf_steal(&b, &len);
	kcr_http_reply_bytes(resp, 200, text, len, KCR_METRICS_CONTENT_TYPE);
}

/* The routes, with what GET /openapi.json says of them (http_server.h
 * struct kcr_http_route; the schemas and parameters named here are in
 * api_schemas.c). Capture names are the wire contract's. */
static const struct kcr_http_route routes[] = {
	/* LibreChat's (spec/librechat-api.md §4) */
	{ "POST", "/exec", api_h_exec, KCR_ROUTE_SLOW, "exec", .tag = "librechat",
	  .summary = "Run code in a sandbox (a failing program is still 200)",
	  .request = "ExecRequest", .response = "ExecResponse", .replies = "400 404 413 422" },
	{ "POST", "/upload", api_h_upload, KCR_ROUTE_MULTIPART | KCR_ROUTE_SLOW, "upload",
	  .tag = "librechat", .summary = "Upload a file into a new or given session",
	  .request = "UploadRequest", .response = "UploadResponse", .params = "User-Id",
	  .replies = "404 413 415 422" },
	{ "POST", "/upload/batch", api_h_upload_batch, KCR_ROUTE_MULTIPART | KCR_ROUTE_SLOW,
	  "upload_batch", .tag = "librechat", .summary = "Upload several files into one session",
	  .request = "UploadRequest", .response = "BatchUploadResponse", .params = "User-Id",
	  .replies = "404 413 415 422" },
	{ "GET", "/files/{session_id}", api_h_files, 0, "files", .tag = "librechat",
	  .summary = "List a session's files (an unknown session has none)", .response = "FileList",
	  .params = "detail entity_id kind id version", .replies = "400" },
	{ "DELETE", "/files/{session_id}/{file_id}", api_h_delete, 0, "delete", .tag = "librechat",
	  .summary = "Delete a file", .response = "Empty", .replies = "400 404" },
	{ "GET", "/download/{session_id}/{file_id}", api_h_download, 0, "download",
	  .tag = "librechat", .summary = "Download a file's bytes", .response = "File",
	  .replies = "400 404" },
	{ "OPTIONS", "/download/{session_id}/{file_id}", api_h_download_options, KCR_ROUTE_PUBLIC,
	  "download_options", .tag = "librechat", .summary = "CORS preflight of a download",
	  .status = 204 },
	/* KubeCodeRun's Python state */
	{ "GET", "/state/{session_id}", api_h_state_get, 0, "state_get", .tag = "state",
	  .summary = "Download a session's Python state", .response = "StateBlob",
	  .params = "If-None-Match", .replies = "304: 400 404" },
	{ "POST", "/state/{session_id}", api_h_state_post, KCR_ROUTE_SLOW, "state_upload",
	  .tag = "state", .summary = "Upload a session's Python state", .request = "StateBlob",
	  .response = "StateUploaded", .status = 201, .replies = "400 404 413" },
	{ "DELETE", "/state/{session_id}", api_h_state_delete, 0, "state_delete", .tag = "state",
	  .summary = "Delete a session's Python state", .status = 204, .replies = "400 404" },
	{ "GET", "/state/{session_id}/info", api_h_state_info, 0, "state_info", .tag = "state",
	  .summary = "Whether a session has a Python state, and its size and hash",
	  .response = "StateInfo", .replies = "400" },
	{ "GET", "/pool", kcr_api_pool_status, 0, "pool", .tag = "pool",
	  .summary = "The warm pools' statistics", .response = "PoolStats" },
	{ "POST", "/pool/warmup", kcr_api_pool_warmup, KCR_ROUTE_SLOW | KCR_ROUTE_ADMIN,
	  "pool_warmup", .tag = "pool", .summary = "Fill the warm pools and wait until they are",
	  .request = "PoolWarmupRequest", .response = "PoolWarmup", .replies = "400 409" },
	/* the admin API (the admin key only) */
	{ "GET", "/admin/keys", api_h_admin_keys, KCR_ROUTE_ADMIN, "admin_keys", .tag = "admin",
	  .summary = "List the managed API keys", .response = "ApiKeyList" },
	{ "POST", "/admin/keys", api_h_admin_key_create, KCR_ROUTE_ADMIN, "admin_key_create",
	  .tag = "admin", .summary = "Create a managed API key (the key is shown only here)",
	  .request = "ApiKeyRequest", .response = "ApiKeyCreated", .status = 201,
	  .replies = "400" },
	{ "GET", "/admin/keys/{key_id}", api_h_admin_key_get, KCR_ROUTE_ADMIN, "admin_key",
	  .tag = "admin", .summary = "A managed API key (its id or a unique prefix of it)",
	  .response = "ApiKey", .replies = "400 404" },
	{ "PATCH", "/admin/keys/{key_id}", api_h_admin_key_update, KCR_ROUTE_ADMIN,
	  "admin_key_update", .tag = "admin",
	  .summary = "Change a managed API key's name, state, limits or expiry",
	  .request = "ApiKeyRequest", .response = "ApiKey", .replies = "400 404" },
	{ "DELETE", "/admin/keys/{key_id}", api_h_admin_key_delete, KCR_ROUTE_ADMIN,
	  "admin_key_delete", .tag = "admin", .summary = "Revoke a managed API key",
	  .response = "Deleted", .replies = "400 404" },
	{ "GET", "/admin/keys/{key_id}/usage", api_h_admin_key_usage, KCR_ROUTE_ADMIN,
	  "admin_key_usage", .tag = "admin", .summary = "What a key used, per language",
	  .response = "KeyUsage", .replies = "400 404" },
	{ "GET", "/admin/usage", api_h_admin_usage, KCR_ROUTE_ADMIN, "admin_usage", .tag = "admin",
	  .summary = "What every key used, per language", .response = "UsageList" },
	{ "GET", "/admin/sessions", api_h_admin_sessions, KCR_ROUTE_ADMIN, "admin_sessions",
	  .tag = "admin", .summary = "Every tenant's live sessions", .response = "SessionList",
	  .params = "limit key", .replies = "400" },
	{ "GET", "/admin/sessions/{session_id}", api_h_admin_session, KCR_ROUTE_ADMIN,
	  "admin_session", .tag = "admin", .summary = "Any tenant's session, with its files",
	  .response = "Session", .replies = "404" },
	{ "DELETE", "/admin/sessions/{session_id}", api_h_admin_session_delete, KCR_ROUTE_ADMIN,
	  "admin_session_delete", .tag = "admin",
	  .summary = "Delete any tenant's session, with its files and state", .response = "Deleted",
	  .replies = "404" },
	{ "GET", "/admin/pool", kcr_api_pool_status, KCR_ROUTE_ADMIN, "admin_pool", .tag = "admin",
	  .summary = "The warm pools' statistics", .response = "PoolStats" },
	{ "POST", "/admin/pool/warmup", kcr_api_pool_warmup, KCR_ROUTE_SLOW | KCR_ROUTE_ADMIN,
	  "admin_pool_warmup", .tag = "admin",
	  .summary = "Fill the warm pools and wait until they are", .request = "PoolWarmupRequest",
	  .response = "PoolWarmup", .replies = "400 409" },
	{ "POST", "/admin/pool/drain", api_h_admin_pool_drain, KCR_ROUTE_ADMIN, "admin_pool_drain",
	  .tag = "admin", .summary = "Set the warm pools' targets to 0",
	  .request = "PoolDrainRequest", .response = "PoolStats", .replies = "400 409" },
	{ "GET", "/admin/config", api_h_admin_config, KCR_ROUTE_ADMIN, "admin_config",
	  .tag = "admin", .summary = "The effective configuration, secrets masked",
	  .response = "Config" },
	{ "GET", "/admin/activity", api_h_admin_activity, KCR_ROUTE_ADMIN, "admin_activity",
	  .tag = "admin",
	  .summary = "Executions a minute per language over the hour, latency percentiles, "
		     "recent errors",
	  .response = "Activity", .params = "latency_minutes", .replies = "400" },
	/* the admin's page: no data in it, it asks the admin API with the key typed in */
	{ "GET", "/dashboard", api_h_dashboard, KCR_ROUTE_PUBLIC, "dashboard", .tag = "dashboard",
	  .summary = "The admin dashboard's page", .response = "Html" },
	{ "GET", "/dashboard/", api_h_dashboard_slash, KCR_ROUTE_PUBLIC, "dashboard_slash",
	  .tag = "dashboard", .summary = "Redirects to /dashboard", .status = 308 },
	{ "GET", "/dashboard/app.js", api_h_dashboard_asset, KCR_ROUTE_PUBLIC, "dashboard_js",
	  .tag = "dashboard", .summary = "The dashboard's script", .response = "JavaScript" },
	{ "GET", "/dashboard/style.css", api_h_dashboard_asset, KCR_ROUTE_PUBLIC, "dashboard_css",
	  .tag = "dashboard", .summary = "The dashboard's style sheet", .response = "Css" },
	/* operations */
	{ "GET", "/health", h_health, KCR_ROUTE_PUBLIC, "health", .tag = "health",
	  .summary = "Liveness", .response = "Health" },
	{ "GET", "/health/detailed", h_health_detailed, 0, "health_detailed", .tag = "health",
	  .summary = "Each dependency's health (503 when one fails)", .response = "HealthDetailed",
	  .replies = "503:HealthDetailed" },
	{ "GET", "/ready", h_ready, KCR_ROUTE_PUBLIC, "ready", .tag = "health",
	  .summary = "Readiness: the sandbox provider and the stores answer", .response = "Ready",
	  .replies = "503:Ready" },
	{ "GET", "/metrics", h_metrics, KCR_ROUTE_PUBLIC, "metrics", .tag = "health",
	  .summary = "Prometheus metrics (a key is needed when server.metrics_public is false)",
	  .response = "Metrics", .replies = "401 429" },
	{ "GET", "/openapi.json", api_h_openapi, KCR_ROUTE_PUBLIC, "openapi", .tag = "meta",
	  .summary = "This document", .response = "OpenAPI" },
	{ NULL },
};

const struct kcr_http_route *
kcr_api_routes(void)
{
	return routes;
}

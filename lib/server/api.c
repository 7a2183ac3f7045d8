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

static const struct kcr_http_route routes[] = {
	{ "POST", "/exec", api_h_exec, KCR_ROUTE_SLOW, "exec" },
	{ "POST", "/upload", api_h_upload, KCR_ROUTE_MULTIPART | KCR_ROUTE_SLOW, "upload" },
	{ "POST", "/upload/batch", api_h_upload_batch, KCR_ROUTE_MULTIPART | KCR_ROUTE_SLOW,
	  "upload_batch" },
	{ "GET", "/files/{}", api_h_files, 0, "files" },
	{ "DELETE", "/files/{}/{}", api_h_delete, 0, "delete" },
	{ "GET", "/download/{}/{}", api_h_download, 0, "download" },
	{ "OPTIONS", "/download/{}/{}", api_h_download_options, KCR_ROUTE_PUBLIC,
	  "download_options" },
	{ "GET", "/state/{}", api_h_state_get, 0, "state_get" },
	{ "POST", "/state/{}", api_h_state_post, KCR_ROUTE_SLOW, "state_upload" },
	{ "DELETE", "/state/{}", api_h_state_delete, 0, "state_delete" },
	{ "GET", "/state/{}/info", api_h_state_info, 0, "state_info" },
	{ "GET", "/pool", kcr_api_pool_status, 0, "pool" },
	{ "POST", "/pool/warmup", kcr_api_pool_warmup, KCR_ROUTE_SLOW | KCR_ROUTE_ADMIN,
	  "pool_warmup" },
	{ "GET", "/admin/keys", api_h_admin_keys, KCR_ROUTE_ADMIN, "admin_keys" },
	{ "POST", "/admin/keys", api_h_admin_key_create, KCR_ROUTE_ADMIN, "admin_key_create" },
	{ "GET", "/admin/keys/{}", api_h_admin_key_get, KCR_ROUTE_ADMIN, "admin_key" },
	{ "PATCH", "/admin/keys/{}", api_h_admin_key_update, KCR_ROUTE_ADMIN, "admin_key_update" },
	{ "DELETE", "/admin/keys/{}", api_h_admin_key_delete, KCR_ROUTE_ADMIN, "admin_key_delete" },
	{ "GET", "/admin/keys/{}/usage", api_h_admin_key_usage, KCR_ROUTE_ADMIN,
	  "admin_key_usage" },
	{ "GET", "/admin/usage", api_h_admin_usage, KCR_ROUTE_ADMIN, "admin_usage" },
	{ "GET", "/admin/sessions", api_h_admin_sessions, KCR_ROUTE_ADMIN, "admin_sessions" },
	{ "GET", "/admin/sessions/{}", api_h_admin_session, KCR_ROUTE_ADMIN, "admin_session" },
	{ "DELETE", "/admin/sessions/{}", api_h_admin_session_delete, KCR_ROUTE_ADMIN,
	  "admin_session_delete" },
	{ "GET", "/admin/pool", kcr_api_pool_status, KCR_ROUTE_ADMIN, "admin_pool" },
	{ "POST", "/admin/pool/warmup", kcr_api_pool_warmup, KCR_ROUTE_SLOW | KCR_ROUTE_ADMIN,
	  "admin_pool_warmup" },
	{ "POST", "/admin/pool/drain", api_h_admin_pool_drain, KCR_ROUTE_ADMIN,
	  "admin_pool_drain" },
	{ "GET", "/admin/config", api_h_admin_config, KCR_ROUTE_ADMIN, "admin_config" },
	{ "GET", "/admin/activity", api_h_admin_activity, KCR_ROUTE_ADMIN, "admin_activity" },
	{ "GET", "/dashboard", api_h_dashboard, KCR_ROUTE_PUBLIC, "dashboard" },
	{ "GET", "/dashboard/", api_h_dashboard_slash, KCR_ROUTE_PUBLIC, "dashboard_slash" },
	{ "GET", "/dashboard/app.js", api_h_dashboard_asset, KCR_ROUTE_PUBLIC, "dashboard_js" },
	{ "GET", "/dashboard/style.css", api_h_dashboard_asset, KCR_ROUTE_PUBLIC, "dashboard_css" },
	{ "GET", "/health", h_health, KCR_ROUTE_PUBLIC, "health" },
	{ "GET", "/health/detailed", h_health_detailed, 0, "health_detailed" },
	{ "GET", "/ready", h_ready, KCR_ROUTE_PUBLIC, "ready" },
	{ "GET", "/metrics", h_metrics, KCR_ROUTE_PUBLIC, "metrics" },
	{ NULL },
};

const struct kcr_http_route *
kcr_api_routes(void)
{
	return routes;
}

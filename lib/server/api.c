#include <config.h>

#include "server/api-internal.h"
#include "server/body_key.h"
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

/* ---- auth ------------------------------------------------------------ */

/* The key from X-API-Key or Authorization: Bearer|ApiKey. */
static char *
header_key(struct kcr_http_req *req)
{
	const char *h = kcr_http_header(req, "X-API-Key");

	if (h && *h)
		return kcr_xstrdup(h);
	h = kcr_http_header(req, "Authorization");
	if (h && strncasecmp(h, "Bearer ", 7) == 0)
		return kcr_xstrdup(h + 7);
	if (h && strncasecmp(h, "ApiKey ", 7) == 0)
		return kcr_xstrdup(h + 7);
	return NULL;
}

static bool
is_json(struct kcr_http_req *req)
{
	const char *ct = kcr_http_header(req, "Content-Type");

	return ct && strncasecmp(ct, "application/json", 16) == 0;
}

/* For JSON bodies, LIBRECHAT_CODE_API_KEY (agents >= 3.1.68 send it only
 * there): read only once the body is in, which the server bounds to
 * server.preauth_body_kb for a request with no key in its headers. */
static char *
body_key(struct kcr_http_req *req)
{
	static const char *const names[] = { "LIBRECHAT_CODE_API_KEY", "api_key", "apiKey" };

	if (!req->body_done || !is_json(req) || req->body.len == 0)
		return NULL;
	return kcr_body_key_find(req->body.data, req->body.len, names, KCR_ARRAY_SIZE(names));
}

/* Names the request's tenant (base/tenant.h) from what authenticated it:
 * a valid key first, else the trusted network of the peer. */
static bool
identify(struct kcr_api *api, struct kcr_http_req *req, const char *key)
{
	const char *xff = kcr_http_header(req, "X-Forwarded-For");
	enum kcr_auth_key k;
	const char *net = NULL;
	char client[64];

	pthread_rwlock_rdlock(&api->auth_lock);
	k = kcr_auth_check_key(api->auth, key);
	if (k == KCR_AUTH_KEY_NONE) {
		/* forwarded headers count only from server.trusted_proxies */
		kcr_auth_client_address(api->auth, req->peer, xff, client);
		net = kcr_auth_trusted(api->auth, client);
	}
	if (k != KCR_AUTH_KEY_NONE)
		kcr_tenant_of_key(key, req->tenant);
	else if (net)
		kcr_tenant_of_network(net, req->tenant);
	pthread_rwlock_unlock(&api->auth_lock);
	req->admin = k == KCR_AUTH_KEY_ADMIN;
	return req->tenant[0] != '\0';
}

enum kcr_http_auth
kcr_api_authorize(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	const struct kcr_http_route *route = req->route;
	kcr_autofree char *key = header_key(req);

	if (key == NULL)
		key = body_key(req);
	if (key)
		kcr_auth_key_hash(key, req->key_hash);
	if (!identify(ud, req, key)) {
		if (key == NULL && !req->body_done && is_json(req))
			return KCR_HTTP_AUTH_NEED_BODY;
		kcr_http_reply_error(resp, req, 401, "authentication", NULL,
				     key ? "Invalid API key" : "Missing API key");
		return KCR_HTTP_AUTH_DENIED;
	}
	if (route && (route->flags & KCR_ROUTE_ADMIN) && !req->admin) {
		kcr_http_reply_error(resp, req, 403, "authorization", NULL,
				     "this route needs the admin key (server.admin_key)");
		return KCR_HTTP_AUTH_DENIED;
	}
	return KCR_HTTP_AUTH_OK;
}

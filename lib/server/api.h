/* The LibreChat Code Interpreter API (spec/librechat-api.md) over the
 * service: routes, request validation, auth and the reply shapes. */
#ifndef KCR_API_H
#define KCR_API_H

#include "server/auth.h"
#include "base/settings.h"
#include "server/http_server.h"
#include "engine/service.h"
#include "server/keys.h"
#include "server/ratelimit.h"
#include "server/usage.h"
#include "server/activity.h"

#include <pthread.h>

/* The limits of server.rate_limit.*, server.auth_fail_* and
 * server.key_cache_ms, which SIGHUP may change. */
struct kcr_api_limits {
	double key_cache_s;
	struct kcr_rl_limits defaults; /* for keys without limits of their own */
	unsigned int max_concurrent;   /* likewise */
	unsigned int auth_fail_limit, auth_fail_window;
};

struct kcr_api {
	struct kcr_service *svc;
	struct kcr_auth *auth;
	pthread_rwlock_t auth_lock; /* SIGHUP swaps auth */
	size_t files_per_upload;
	uint64_t file_max;
	bool metrics_public; /* GET /metrics needs no key (server.metrics_public) */
	/* managed keys and limits (api_auth.c); lim and cfg under auth_lock */
	struct kcr_key_cache *key_cache;
	struct kcr_authfail *authfail;
	struct kcr_conc *conc;
	struct kcr_usage *usage; /* what each key used (usage.h) */
	struct kcr_activity *activity; /* this replica's recent activity (activity.h) */
	struct kcr_api_limits lim;
	const struct kcr_config *cfg; /* the effective configuration (GET /admin/config) */
	/* GET /openapi.json, built once by kcr_api_init (NULL: it failed) */
	char *openapi;
	size_t openapi_len;
};

/* The tables of managed keys, limits and usage, and their settings from
 * cfg (which must outlive the api, or be replaced by kcr_api_set_config
 * first), once api->svc is open; release flushes the usage and frees the
 * tables, before the service is freed. */
void kcr_api_init(struct kcr_api *api, const struct kcr_config *cfg);
void kcr_api_release(struct kcr_api *api);
/* SIGHUP: the new configuration's limits; cfg as for init. */
void kcr_api_set_config(struct kcr_api *api, const struct kcr_config *cfg);

const struct kcr_http_route *kcr_api_routes(void);
/* The OpenAPI 3.0.3 document of routes (api_openapi.c), served under
 * base_path ("" or "/v1"); NULL when a route names a schema or a
 * parameter that api_schemas.c lacks. */
cJSON *kcr_api_openapi(const struct kcr_http_route *routes, const char *base_path,
		       kcr_error_t *err);
/* lib/server/api_pool.c */
struct kcr_pool;
cJSON *kcr_pool_stats_json(struct kcr_pool *p);
void kcr_api_pool_status(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
void kcr_api_pool_warmup(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);
/* The auth hook of the routes (http_server.h): the key from the headers,
 * else from a small JSON body, else the trusted network; admin routes
 * need the admin key. */
enum kcr_http_auth kcr_api_authorize(struct kcr_http_req *req, struct kcr_http_resp *resp,
				     void *ud);
/* The reply hook of the server (http_server.h): error replies into the
 * recent errors of GET /admin/activity (api_activity.c). */
void kcr_api_on_reply(const struct kcr_http_req *req, const struct kcr_http_resp *resp, void *ud);

#endif

/* The LibreChat Code Interpreter API (spec/librechat-api.md) over the
 * service: routes, request validation, auth and the reply shapes. */
#ifndef KCR_API_H
#define KCR_API_H

#include "server/auth.h"
#include "base/settings.h"
#include "server/http_server.h"
#include "engine/service.h"

#include <pthread.h>

struct kcr_api {
	struct kcr_service *svc;
	struct kcr_auth *auth;
	pthread_rwlock_t auth_lock; /* SIGHUP swaps auth */
	size_t files_per_upload;
	uint64_t file_max;
	bool metrics_public; /* GET /metrics needs no key (server.metrics_public) */
};

const struct kcr_http_route *kcr_api_routes(void);
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

#endif

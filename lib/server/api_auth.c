/* Who is asking, and whether they may: the auth hook of the routes.
 *
 * In order: a client address that failed to authenticate too often gets
 * 429 before its key is even looked at (server.auth_fail_*); the key is
 * checked against the configured keys (auth.c), then against the managed
 * keys of the session store (keys.h, through a short cache); a trusted
 * network needs no key; admin routes need the admin key; and last the
 * key's rate limits are counted (ratelimit.h), with their headers on
 * whatever reply goes out. */
#include <config.h>

#include "server/api-internal.h"
#include "server/body_key.h"
#include "base/clock.h"
#include "base/encode.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The size of the table of client addresses that failed to authenticate:
 * about 100 bytes each. */
#define AUTHFAIL_SLOTS 4096
/* The size of the cache of managed keys. */
#define KEY_CACHE_SLOTS 1024
/* How often each replica writes the usage it added up to the store. */
#define USAGE_FLUSH_MS 1000

void
kcr_api_set_config(struct kcr_api *api, const struct kcr_config *cfg)
{
	struct kcr_api_limits *l = &api->lim;

	pthread_rwlock_wrlock(&api->auth_lock);
	l->key_cache_s = (double)kcr_config_int(cfg, "server.key_cache_ms") / 1000.0;
	l->defaults.per[KCR_RL_SECOND] =
		(uint32_t)kcr_config_int(cfg, "server.rate_limit.per_second");
	l->defaults.per[KCR_RL_MINUTE] =
		(uint32_t)kcr_config_int(cfg, "server.rate_limit.per_minute");
	l->defaults.per[KCR_RL_HOUR] = (uint32_t)kcr_config_int(cfg, "server.rate_limit.per_hour");
	l->defaults.per[KCR_RL_DAY] = (uint32_t)kcr_config_int(cfg, "server.rate_limit.per_day");
	l->max_concurrent = (unsigned int)kcr_config_int(cfg, "server.rate_limit.max_concurrent");
	l->auth_fail_limit = (unsigned int)kcr_config_int(cfg, "server.auth_fail_limit");
	l->auth_fail_window = (unsigned int)kcr_config_int(cfg, "server.auth_fail_window");
	api->cfg = cfg;
	pthread_rwlock_unlock(&api->auth_lock);
}

void
kcr_api_init(struct kcr_api *api, const struct kcr_config *cfg)
{
	api->key_cache = kcr_key_cache_new(KEY_CACHE_SLOTS);
	api->authfail = kcr_authfail_new(AUTHFAIL_SLOTS);
	api->conc = kcr_conc_new();
	api->usage = kcr_usage_new(kcr_service_stores(api->svc), USAGE_FLUSH_MS);
	api->activity = kcr_activity_new(NULL, NULL);
	kcr_api_set_config(api, cfg);
	/* the server's base path is the one it starts with: a reload keeps it */
	api_openapi_init(api, kcr_config_str(cfg, "server.base_path"));
}

void
kcr_api_release(struct kcr_api *api)
{
	kcr_key_cache_free(api->key_cache);
	kcr_authfail_free(api->authfail);
	kcr_conc_free(api->conc);
	kcr_usage_free(api->usage);
	kcr_activity_free(api->activity);
	free(api->openapi);
	api->openapi = NULL;
	api->usage = NULL;
	api->activity = NULL;
	api->key_cache = NULL;
	api->authfail = NULL;
	api->conc = NULL;
}

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

/* What the checks of one request found. */
struct who {
	char client[64];             /* the client's address */
	const char *why;             /* why it was refused (401) */
	char id[KCR_KEY_ID_LEN + 1]; /* the key's SHA-256 (limits count under it) */
	struct kcr_rl_limits limits;
	unsigned int max_concurrent;
};

/* The managed key of that id, if the store has one that may be used now.
 * Its own limits, if it has any, else the configured ones. */
static int
managed(struct kcr_api *api, struct who *w, const struct kcr_api_limits *lim, kcr_error_t *err)
{
	struct kcr_api_key_record rec;
	int r = kcr_key_cache_lookup(api->key_cache, kcr_service_stores(api->svc), w->id,
				     lim->key_cache_s, &rec, err);

	if (r <= 0) {
		w->why = "Invalid API key";
		return r;
	}
	if ((w->why = kcr_key_refusal(&rec, kcr_wall_time())) != NULL)
		return 0;
	kcr_rl_limits_of_key(&rec, &w->limits);
	if (!kcr_rl_limits_any(&w->limits))
		w->limits = lim->defaults;
	w->max_concurrent = rec.max_concurrent ? rec.max_concurrent : lim->max_concurrent;
	return 1;
}

/* Names the request's tenant (base/tenant.h) from what authenticated it:
 * a configured key, a managed key, else the trusted network of the peer.
 * 1: named, 0: not (w->why), -1: the store of managed keys failed. */
static int
identify(struct kcr_api *api, struct kcr_http_req *req, const char *key,
	 const struct kcr_api_limits *lim, struct who *w, kcr_error_t *err)
{
	enum kcr_auth_key k;
	const char *net;
	int r = 0;

	pthread_rwlock_rdlock(&api->auth_lock);
	k = kcr_auth_check_key(api->auth, key);
	net = kcr_auth_trusted(api->auth, w->client);
	if (k == KCR_AUTH_KEY_API) {
		w->limits = lim->defaults;
		w->max_concurrent = lim->max_concurrent;
	}
	if (k != KCR_AUTH_KEY_NONE)
		kcr_tenant_of_key(key, req->tenant);
	else if (net)
		kcr_tenant_of_network(net, req->tenant);
	pthread_rwlock_unlock(&api->auth_lock);
	req->admin = k == KCR_AUTH_KEY_ADMIN;
	if (k == KCR_AUTH_KEY_NONE && key && *key) {
		r = managed(api, w, lim, err);
		if (r > 0)
			kcr_tenant_of_key(key, req->tenant);
		else if (r == 0 && net)
			memset(&w->limits, 0, sizeof(w->limits)); /* the network's request */
	}
	if (r < 0)
		return -1;
	return req->tenant[0] != '\0';
}

static void
add_num_header(struct kcr_http_req *req, const char *name, double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.0f", v);
	kcr_http_req_add_header(req, name, buf);
}

/* Counts the request against the key's limits: false (429 in resp) when
 * it goes over one. The headers go on the reply either way. */
static bool
rate_limit(struct kcr_api *api, struct kcr_http_req *req, struct kcr_http_resp *resp,
	   const struct who *w)
{
	struct kcr_rl_verdict v;
	kcr_error_t err = NULL;

	if (!kcr_rl_limits_any(&w->limits))
		return true;
	if (kcr_rl_check(kcr_service_stores(api->svc), w->id, &w->limits, kcr_wall_time(), &v,
			 &err) < 0) {
		api_reply_service_error(resp, req, err);
		return false;
	}
	add_num_header(req, "X-RateLimit-Limit", v.limit);
	add_num_header(req, "X-RateLimit-Remaining", v.remaining);
	add_num_header(req, "X-RateLimit-Reset", v.reset);
	if (!v.limited)
		return true;
	add_num_header(req, "Retry-After", v.retry_after);
	kcr_http_reply_error(resp, req, 429, "rate_limited", NULL,
			     "rate limit exceeded: %u requests per %s; retry in %u s", v.limit,
			     kcr_rl_window_name(v.window), v.retry_after);
	return false;
}

/* A client address over server.auth_fail_limit: 429 at once. */
static bool
throttled(struct kcr_api *api, struct kcr_http_req *req, struct kcr_http_resp *resp,
	  const struct who *w, const struct kcr_api_limits *lim)
{
	unsigned int retry;

	if (!kcr_authfail_blocked(api->authfail, w->client, kcr_wall_time(), lim->auth_fail_limit,
				  lim->auth_fail_window, &retry))
		return false;
	add_num_header(req, "Retry-After", retry);
	kcr_http_reply_error(resp, req, 429, "rate_limited", NULL,
			     "too many failed authentications from %s; retry in %u s", w->client,
			     retry);
	return true;
}

static enum kcr_http_auth
refuse(struct kcr_api *api, struct kcr_http_req *req, struct kcr_http_resp *resp, const char *key,
       const struct who *w, const struct kcr_api_limits *lim)
{
	if (key == NULL && !req->body_done && is_json(req))
		return KCR_HTTP_AUTH_NEED_BODY;
	if (key) /* a guess, or a key that no longer works */
		kcr_authfail_record(api->authfail, w->client, kcr_wall_time(),
				    lim->auth_fail_window);
	kcr_http_reply_error(resp, req, 401, "authentication", NULL, "%s",
			     key ? w->why : "Missing API key");
	return KCR_HTTP_AUTH_DENIED;
}

static void
client_address(struct kcr_api *api, struct kcr_http_req *req, char out[64])
{
	pthread_rwlock_rdlock(&api->auth_lock);
	/* forwarded headers count only from server.trusted_proxies */
	kcr_auth_client_address(api->auth, req->peer, kcr_http_header(req, "X-Forwarded-For"), out);
	pthread_rwlock_unlock(&api->auth_lock);
}

enum kcr_http_auth
kcr_api_authorize(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	const struct kcr_http_route *route = req->route;
	kcr_autofree char *key = header_key(req);
	struct who w = { .why = "Invalid API key" };
	struct kcr_api_limits lim;
	kcr_error_t err = NULL;
	int r;

	pthread_rwlock_rdlock(&api->auth_lock);
	lim = api->lim;
	pthread_rwlock_unlock(&api->auth_lock);
	client_address(api, req, w.client);
	if (throttled(api, req, resp, &w, &lim))
		return KCR_HTTP_AUTH_DENIED;
	if (key == NULL)
		key = body_key(req);
	if (key) {
		kcr_auth_key_hash(key, req->key_hash);
		kcr_sha256_hex(key, strlen(key), w.id);
	}
	if ((r = identify(api, req, key, &lim, &w, &err)) < 0) {
		api_reply_service_error(resp, req, err);
		return KCR_HTTP_AUTH_DENIED;
	}
	if (r == 0)
		return refuse(api, req, resp, key, &w, &lim);
	if (route && (route->flags & KCR_ROUTE_ADMIN) && !req->admin) {
		kcr_http_reply_error(resp, req, 403, "authorization", NULL,
				     "this route needs the admin key (server.admin_key)");
		return KCR_HTTP_AUTH_DENIED;
	}
	req->max_concurrent = w.max_concurrent;
	return rate_limit(api, req, resp, &w) ? KCR_HTTP_AUTH_OK : KCR_HTTP_AUTH_DENIED;
}

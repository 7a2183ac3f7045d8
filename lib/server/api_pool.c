/* The pool routes of kcr serve: GET /pool (statistics) and POST
 * /pool/warmup (fill the pools and wait until they are ready). */
#include <config.h>

#include "server/api.h"
#include "base/clock.h"
#include "engine/pool.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define WARMUP_TIMEOUT_MS 120000

/* The adaptive targets' settings, and what the targets cost together. */
static void
add_budget(cJSON *o, struct kcr_pool *p)
{
	struct kcr_pool_budget b;

	kcr_pool_budget(p, &b);
	cJSON_AddBoolToObject(o, "adaptive", b.adaptive);
	cJSON_AddNumberToObject(o, "adaptive_max", b.adaptive_max);
	cJSON_AddNumberToObject(o, "memory_budget_mb", (double)b.budget_kib / 1024);
	cJSON_AddNumberToObject(o, "memory_mb", (double)b.used_kib / 1024);
}

cJSON *
kcr_pool_stats_json(struct kcr_pool *p)
{
	struct kcr_pool_stats st[32];
	size_t n = p ? kcr_pool_stats(p, st, KCR_ARRAY_SIZE(st)) : 0;
	cJSON *o = cJSON_CreateObject(), *a;

	cJSON_AddBoolToObject(o, "enabled", p != NULL);
	if (p)
		add_budget(o, p);
	a = cJSON_AddArrayToObject(o, "pools");
	for (size_t i = 0; i < n; i++) {
		cJSON *e = cJSON_CreateObject();
		uint64_t acquires = st[i].misses; /* only misses wait for a sandbox */

		cJSON_AddStringToObject(e, "language", st[i].lang);
		cJSON_AddNumberToObject(e, "floor", st[i].floor);
		cJSON_AddNumberToObject(e, "target", st[i].target);
		cJSON_AddNumberToObject(e, "cost_mb", st[i].cost_kib / 1024.0);
		cJSON_AddNumberToObject(e, "ready", st[i].ready);
		cJSON_AddNumberToObject(e, "creating", st[i].creating);
		cJSON_AddNumberToObject(e, "in_use", st[i].in_use);
		cJSON_AddNumberToObject(e, "created", (double)st[i].created);
		cJSON_AddNumberToObject(e, "failed", (double)st[i].failed);
		cJSON_AddNumberToObject(e, "replaced", (double)st[i].replaced);
		cJSON_AddNumberToObject(e, "hits", (double)st[i].hits);
		cJSON_AddNumberToObject(e, "misses", (double)st[i].misses);
		cJSON_AddNumberToObject(e, "miss_wait_ms_avg",
					acquires ? st[i].wait_us_total / 1000.0 / (double)acquires : 0);
		cJSON_AddNumberToObject(e, "miss_wait_ms_max", st[i].wait_us_max / 1000.0);
		cJSON_AddNumberToObject(e, "waits", (double)st[i].waits);
		cJSON_AddNumberToObject(
			e, "wait_ms_avg",
			st[i].waits ? st[i].waited_us_total / 1000.0 / (double)st[i].waits : 0);
		cJSON_AddItemToArray(a, e);
	}
	return o;
}

void
kcr_api_pool_status(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;

	kcr_http_reply_json(resp, 200, kcr_pool_stats_json(kcr_service_pool(api->svc)));
}

/* {"languages": ["py"], "size": 8, "timeout_ms": 60000}, every field optional. */
static int
parse_warmup(const struct kcr_http_req *req, struct kcr_pool *p, char ***langs, uint64_t *timeout,
	     kcr_error_t *err)
{
	cJSON *o = req->body.len ? cJSON_ParseWithLength(req->body.data, req->body.len)
				 : cJSON_CreateObject();
	const cJSON *l, *size, *t, *x;
	int r = -1;

	*langs = kcr_xzalloc(sizeof(char *));
	if (!cJSON_IsObject(o)) {
		kcr_error_set(err, KCR_E_INVALID, 0, "body must be a JSON object");
		goto out;
	}
	l = cJSON_GetObjectItemCaseSensitive(o, "languages");
	size = cJSON_GetObjectItemCaseSensitive(o, "size");
	t = cJSON_GetObjectItemCaseSensitive(o, "timeout_ms");
	if ((size && (!cJSON_IsNumber(size) || size->valuedouble < 0 || size->valuedouble > 1024)) ||
	    (t && (!cJSON_IsNumber(t) || t->valuedouble < 0)) || (l && !cJSON_IsArray(l))) {
		kcr_error_set(err, KCR_E_INVALID, 0,
			      "languages must be an array, size 0..1024, timeout_ms a number");
		goto out;
	}
	*timeout = t ? (uint64_t)t->valuedouble : WARMUP_TIMEOUT_MS;
	cJSON_ArrayForEach(x, l)
	{
		const struct kcr_lang *lang = kcr_lang_lookup(cJSON_IsString(x) ? x->valuestring : "", err);

		if (lang == NULL)
			goto out;
		kcr_strv_push(langs, lang->id);
		if (size && kcr_pool_set_target(p, lang->id, (unsigned)size->valuedouble, err) < 0)
			goto out;
	}
	r = 0;
out:
	cJSON_Delete(o);
	return r;
}

void
kcr_api_pool_warmup(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_pool *p = kcr_service_pool(api->svc);
	kcr_autostrv char **langs = NULL;
	kcr_error_t err = NULL;
	uint64_t timeout = 0, t0 = kcr_now_ms();
	cJSON *o;
	bool complete;

	if (p == NULL) {
		kcr_http_reply_error(resp, req, 409, "resource_conflict", NULL,
				     "pools are disabled (pool.enabled=false)");
		return;
	}
	if (parse_warmup(req, p, &langs, &timeout, &err) < 0) {
		kcr_http_reply_kcr_error(resp, req, err);
		kcr_error_free(err);
		return;
	}
	complete = kcr_pool_wait_full(p, (const char *const *)langs, kcr_strv_len(langs), timeout,
				      &err) == 0;
	kcr_error_free(err);
	o = kcr_pool_stats_json(p);
	cJSON_AddBoolToObject(o, "complete", complete);
	cJSON_AddNumberToObject(o, "waited_ms", (double)(kcr_now_ms() - t0));
	kcr_http_reply_json(resp, 200, o);
}

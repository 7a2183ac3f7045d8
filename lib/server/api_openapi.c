/* GET /openapi.json: an OpenAPI 3.0.3 document written from the route
 * table (api.c) and the schemas it names (api_schemas.c), so what is
 * documented is what is served. Built once, when the API starts: it
 * depends only on the table and the base path. */
#include <config.h>

#include "server/api-internal.h"
#include "base/json.h"
#include "base/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_SCHEMA "#/components/schemas/"

/* The error replies the document names, as components.responses. */
static const struct {
	int status;
	const char *name, *description;
} error_replies[] = {
	{ 400, "BadRequest", "The request is malformed (a body, an id, a parameter)" },
	{ 401, "Unauthorized", "No API key, or one that is unknown, disabled or expired" },
	{ 403, "Forbidden", "The route needs the admin key (server.admin_key)" },
	{ 404, "NotFound", "No such session, file, state or key (for this key's tenant)" },
	{ 409, "Conflict", "The request conflicts with the server's state (pools disabled)" },
	{ 413, "PayloadTooLarge", "The body, a file or a state is over its limit" },
	{ 415, "UnsupportedMediaType", "The body's Content-Type is not the route's" },
	{ 422, "Unprocessable", "A member of the body is missing or of the wrong type" },
	{ 429, "TooManyRequests",
	  "A rate limit of the key, its executions at once, or failed authentications from "
	  "the client's address (Retry-After says when to try again)" },
	{ 503, "Unavailable",
	  "The server is busy or a dependency failed (Retry-After when it is busy)" },
};

static const char *
error_reply_name(int status)
{
	for (size_t i = 0; i < KCR_ARRAY_SIZE(error_replies); i++)
		if (error_replies[i].status == status)
			return error_replies[i].name;
	return NULL;
}

static cJSON *
ref(const char *prefix, const char *name)
{
	cJSON *o = cJSON_CreateObject();
	kcr_autofree char *r = kcr_strdup_printf("%s%s", prefix, name);

	cJSON_AddStringToObject(o, "$ref", r);
	return o;
}

/* {"application/json": {"schema": {"$ref": Error}}} */
static cJSON *
error_content(void)
{
	cJSON *c = cJSON_CreateObject();

	cJSON_AddItemToObject(cJSON_AddObjectToObject(c, "application/json"), "schema",
			      ref(REF_SCHEMA, "Error"));
	return c;
}

/* {"<media>": {"schema": {"$ref": ...}}} of a schema of api_schemas.c */
static cJSON *
content_of(const char *schema, kcr_error_t *err)
{
	const struct api_schema *s = api_find(api_schemas(), schema);
	cJSON *c;

	if (s == NULL) {
		kcr_error_set(err, KCR_E_INTERNAL, 0, "openapi: no schema '%s'", schema);
		return NULL;
	}
	c = cJSON_CreateObject();
	cJSON_AddItemToObject(cJSON_AddObjectToObject(c, s->where ? s->where : "application/json"),
			      "schema", ref(REF_SCHEMA, schema));
	return c;
}

/* A reply with a body of that schema, or none (schema NULL). */
static int
add_reply(cJSON *responses, int status, const char *description, const char *schema,
	  kcr_error_t *err)
{
	char code[16];
	cJSON *r = cJSON_CreateObject(), *c;

	snprintf(code, sizeof(code), "%d", status);
	cJSON_AddStringToObject(r, "description", description);
	cJSON_AddItemToObject(responses, code, r);
	if (schema == NULL)
		return 0;
	if ((c = content_of(schema, err)) == NULL)
		return -1;
	cJSON_AddItemToObject(r, "content", c);
	return 0;
}

/* An error reply (the shared error shape), once per status. */
static void
add_error(cJSON *responses, int status)
{
	const char *name = error_reply_name(status);
	char code[16];
	cJSON *r;

	snprintf(code, sizeof(code), "%d", status);
	if (cJSON_GetObjectItemCaseSensitive(responses, code))
		return;
	if (name) {
		cJSON_AddItemToObject(responses, code, ref("#/components/responses/", name));
		return;
	}
	r = cJSON_AddObjectToObject(responses, code);
	cJSON_AddStringToObject(r, "description", "Failed");
	cJSON_AddItemToObject(r, "content", error_content());
}

/* The next space-separated word of *p (allocated), or NULL at its end. */
static char *
next_word(const char **p)
{
	size_t n;
	char *w;

	*p += strspn(*p, " ");
	if (**p == '\0')
		return NULL;
	n = strcspn(*p, " ");
	w = kcr_xstrndup(*p, n);
	*p += n;
	return w;
}

static const char *
reply_description(int status)
{
	for (size_t i = 0; i < KCR_ARRAY_SIZE(error_replies); i++)
		if (error_replies[i].status == status)
			return error_replies[i].description;
	return status == 304 ? "Not modified: the client's copy is current" : "Another reply";
}

/* The route's .replies: "404 409", "503:Ready", "304:". */
static int
add_listed_replies(cJSON *responses, const char *replies, kcr_error_t *err)
{
	const char *p = replies ? replies : "";
	char *w;

	while ((w = next_word(&p)) != NULL) {
		kcr_autofree char *word = w;
		char *end;
		long status = strtol(word, &end, 10);

		if (end == word || status < 100 || status > 599 || (*end && *end != ':'))
			return kcr_error_set(err, KCR_E_INTERNAL, 0, "openapi: bad reply '%s'",
					     word);
		if (*end == '\0')
			add_error(responses, (int)status);
		else if (add_reply(responses, (int)status, reply_description((int)status),
				   end[1] ? end + 1 : NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* What every route of these flags may answer, beyond its own list. */
static void
add_implied_errors(cJSON *responses, const struct kcr_http_route *rt)
{
	if (rt->flags & KCR_ROUTE_MULTIPART)
		add_error(responses, 400); /* a body that is not multipart */
	if (rt->request)
		add_error(responses, 413); /* over server.max_body_mb */
	if (!(rt->flags & KCR_ROUTE_PUBLIC)) {
		add_error(responses, 401);
		add_error(responses, 429);
	}
	if (rt->flags & KCR_ROUTE_ADMIN)
		add_error(responses, 403);
	if (rt->flags & (KCR_ROUTE_SLOW | KCR_ROUTE_MULTIPART))
		add_error(responses, 503); /* busy, or no room to spool an upload */
}

static cJSON *
responses_of(const struct kcr_http_route *rt, kcr_error_t *err)
{
	cJSON *r = cJSON_CreateObject();

	if (add_reply(r, rt->status ? rt->status : 200, rt->summary, rt->response, err) < 0 ||
	    add_listed_replies(r, rt->replies, err) < 0) {
		cJSON_Delete(r);
		return NULL;
	}
	add_implied_errors(r, rt);
	cJSON_AddItemToObject(r, "default", ref("#/components/responses/", "Unexpected"));
	return r;
}

/* The names of the pattern's captures ("{}" gets "param1", ...), and the
 * OpenAPI path, where every capture has its name. */
static char *
path_template(const char *pattern, char *names[KCR_HTTP_MAX_CAPTURES], int *n)
{
	struct kcr_buf b;
	size_t len;

	kcr_buf_init(&b);
	*n = 0;
	for (const char *p = pattern; *p;) {
		const char *close = p[0] == '{' ? strchr(p, '}') : NULL;

		if (close == NULL || *n >= KCR_HTTP_MAX_CAPTURES) {
			kcr_buf_add(&b, p++, 1);
			continue;
		}
		names[*n] = close > p + 1 ? kcr_xstrndup(p + 1, (size_t)(close - p - 1))
					  : kcr_strdup_printf("param%d", *n + 1);
		kcr_buf_addf(&b, "{%s}", names[(*n)++]);
		p = close + 1;
	}
	return kcr_buf_steal(&b, &len);
}

static cJSON *
path_param(const char *name)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "name", name);
	cJSON_AddStringToObject(p, "in", "path");
	cJSON_AddBoolToObject(p, "required", true);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "schema"), "type", "string");
	return p;
}

/* The path's captures, then the route's .params (components.parameters). */
static int
add_params(cJSON *op, const struct kcr_http_route *rt, char **names, int n, kcr_error_t *err)
{
	cJSON *a = cJSON_CreateArray();
	const char *p = rt->params ? rt->params : "";
	char *w;

	cJSON_AddItemToObject(op, "parameters", a);
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(a, path_param(names[i]));
	while ((w = next_word(&p)) != NULL) {
		kcr_autofree char *name = w;

		if (api_find(api_params(), name) == NULL)
			return kcr_error_set(err, KCR_E_INTERNAL, 0, "openapi: no parameter '%s'",
					     name);
		cJSON_AddItemToArray(a, ref("#/components/parameters/", name));
	}
	if (cJSON_GetArraySize(a) == 0)
		cJSON_DeleteItemFromObject(op, "parameters");
	return 0;
}

static bool
requires_members(const struct api_schema *s)
{
	cJSON *o = cJSON_Parse(s->json);
	bool r = cJSON_GetObjectItemCaseSensitive(o, "required") != NULL;

	cJSON_Delete(o);
	return r;
}

/* A JSON body is optional when its schema requires no member (an empty
 * body is then taken as {}); a file or a form is not. */
static int
add_request(cJSON *op, const struct kcr_http_route *rt, kcr_error_t *err)
{
	const struct api_schema *s = api_find(api_schemas(), rt->request);
	cJSON *body, *c;

	if ((c = content_of(rt->request, err)) == NULL)
		return -1;
	body = cJSON_AddObjectToObject(op, "requestBody");
	cJSON_AddBoolToObject(body, "required", s->where != NULL || requires_members(s));
	cJSON_AddItemToObject(body, "content", c);
	return 0;
}

/* Either scheme lets a request in; a public route needs neither, and one
 * that lists 401 checks a key itself when configured to (GET /metrics
 * without server.metrics_public): "{}" says a key is optional. */
static void
add_security(cJSON *op, const struct kcr_http_route *rt)
{
	static const char *const schemes[] = { "ApiKey", "Bearer" };
	cJSON *sec = cJSON_AddArrayToObject(op, "security");
	bool optional = rt->replies && strstr(rt->replies, "401");

	if ((rt->flags & KCR_ROUTE_PUBLIC) && !optional)
		return; /* security: [] */
	if (optional)
		cJSON_AddItemToArray(sec, cJSON_CreateObject());
	for (size_t i = 0; i < KCR_ARRAY_SIZE(schemes); i++) {
		cJSON *one = cJSON_CreateObject();

		cJSON_AddArrayToObject(one, schemes[i]);
		cJSON_AddItemToArray(sec, one);
	}
}

static char *
lower(const char *s)
{
	char *l = kcr_xstrdup(s);

	for (char *p = l; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return l;
}

static cJSON *
operation(const struct kcr_http_route *rt, char **names, int n, kcr_error_t *err)
{
	cJSON *op = cJSON_CreateObject(), *r;

	cJSON_AddStringToObject(op, "operationId", rt->name);
	cJSON_AddStringToObject(op, "summary", rt->summary ? rt->summary : rt->name);
	if (rt->flags & KCR_ROUTE_ADMIN)
		cJSON_AddStringToObject(
			op, "description",
			"Needs the admin key (server.admin_key): 403 with another.");
	if (rt->tag)
		cJSON_AddItemToArray(cJSON_AddArrayToObject(op, "tags"),
				     cJSON_CreateString(rt->tag));
	add_security(op, rt);
	if (add_params(op, rt, names, n, err) < 0 ||
	    (rt->request && add_request(op, rt, err) < 0) || (r = responses_of(rt, err)) == NULL) {
		cJSON_Delete(op);
		return NULL;
	}
	cJSON_AddItemToObject(op, "responses", r);
	return op;
}

static int
add_route(cJSON *paths, const struct kcr_http_route *rt, kcr_error_t *err)
{
	char *names[KCR_HTTP_MAX_CAPTURES] = { NULL };
	int n = 0, r = -1;
	kcr_autofree char *path = path_template(rt->pattern, names, &n);
	kcr_autofree char *method = lower(rt->method);
	cJSON *item = cJSON_GetObjectItemCaseSensitive(paths, path), *op;

	if (item == NULL)
		item = cJSON_AddObjectToObject(paths, path);
	if (cJSON_GetObjectItemCaseSensitive(item, method))
		kcr_error_set(err, KCR_E_INTERNAL, 0, "openapi: %s %s twice", rt->method, path);
	else if ((op = operation(rt, names, n, err)) != NULL) {
		cJSON_AddItemToObject(item, method, op);
		r = 0;
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	return r;
}

static int
add_schemas(cJSON *to, kcr_error_t *err)
{
	for (const struct api_schema *t = api_schemas(); t->name; t++) {
		cJSON *o = cJSON_Parse(t->json);

		if (o == NULL)
			return kcr_error_set(err, KCR_E_INTERNAL, 0, "openapi: '%s' is not JSON",
					     t->name);
		cJSON_AddItemToObject(to, t->name, o);
	}
	return 0;
}

static void
add_error_responses(cJSON *components)
{
	cJSON *rs = cJSON_AddObjectToObject(components, "responses"), *r;

	for (size_t i = 0; i < KCR_ARRAY_SIZE(error_replies); i++) {
		r = cJSON_AddObjectToObject(rs, error_replies[i].name);
		cJSON_AddStringToObject(r, "description", error_replies[i].description);
		cJSON_AddItemToObject(r, "content", error_content());
	}
	r = cJSON_AddObjectToObject(rs, "Unexpected");
	cJSON_AddStringToObject(r, "description",
				"An error of the server or of a backend (500, 502, ...)");
	cJSON_AddItemToObject(r, "content", error_content());
}

/* What kcr_api_authorize reads (api_auth.c). */
static void
add_security_schemes(cJSON *components)
{
	cJSON *ss = cJSON_AddObjectToObject(components, "securitySchemes");
	cJSON *k = cJSON_AddObjectToObject(ss, "ApiKey");
	cJSON *b = cJSON_AddObjectToObject(ss, "Bearer");

	cJSON_AddStringToObject(k, "type", "apiKey");
	cJSON_AddStringToObject(k, "in", "header");
	cJSON_AddStringToObject(k, "name", "X-API-Key");
	cJSON_AddStringToObject(
		k, "description",
		"An API key (server.api_keys, a managed key, or server.admin_key); "
		"a JSON body may carry it instead as LIBRECHAT_CODE_API_KEY, "
		"api_key or apiKey, and peers of server.trusted_networks need none");
	cJSON_AddStringToObject(b, "type", "http");
	cJSON_AddStringToObject(b, "scheme", "bearer");
	cJSON_AddStringToObject(b, "description",
				"The same key as Authorization: Bearer <key> (or ApiKey <key>)");
}

static cJSON *
param_json(const struct api_schema *p, kcr_error_t *err)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *schema = cJSON_Parse(p->json ? p->json : "{\"type\":\"string\"}");

	if (schema == NULL) {
		cJSON_Delete(o);
		kcr_error_set(err, KCR_E_INTERNAL, 0, "openapi: '%s' is not JSON", p->name);
		return NULL;
	}
	cJSON_AddStringToObject(o, "name", p->name);
	cJSON_AddStringToObject(o, "in", p->where);
	cJSON_AddStringToObject(o, "description", p->description);
	cJSON_AddItemToObject(o, "schema", schema);
	return o;
}

static int
add_components(cJSON *doc, kcr_error_t *err)
{
	cJSON *c = cJSON_AddObjectToObject(doc, "components");
	cJSON *ps;

	if (add_schemas(cJSON_AddObjectToObject(c, "schemas"), err) < 0)
		return -1;
	ps = cJSON_AddObjectToObject(c, "parameters");
	for (const struct api_schema *p = api_params(); p->name; p++) {
		cJSON *o = param_json(p, err);

		if (o == NULL)
			return -1;
		cJSON_AddItemToObject(ps, p->name, o);
	}
	add_error_responses(c);
	add_security_schemes(c);
	return 0;
}

/* The base path first (kcr serve answers there and at the root). */
static void
add_head(cJSON *doc, const char *base_path)
{
	cJSON *info = cJSON_AddObjectToObject(doc, "info");
	cJSON *servers = cJSON_AddArrayToObject(doc, "servers"), *s;
	size_t bl = strlen(base_path);

	cJSON_AddStringToObject(doc, "openapi", "3.0.3");
	cJSON_AddStringToObject(info, "title", "kcr serve");
	cJSON_AddStringToObject(info, "version", PACKAGE_VERSION);
	cJSON_AddStringToObject(
		info, "description",
		"The LibreChat Code Interpreter API, KubeCodeRun's extras and kcr's "
		"admin API. Written from the server's route table.");
	while (bl > 1 && base_path[bl - 1] == '/')
		bl--;
	s = cJSON_CreateObject();
	if (bl && strcmp(base_path, "/") != 0) {
		kcr_autofree char *url = kcr_xstrndup(base_path, bl);

		cJSON_AddStringToObject(s, "url", url);
		cJSON_AddStringToObject(s, "description", "server.base_path");
		cJSON_AddItemToArray(servers, s);
		s = cJSON_CreateObject();
	}
	cJSON_AddStringToObject(s, "url", "/");
	cJSON_AddItemToArray(servers, s);
}

/* Each tag once, in the table's order. */
static void
add_tags(cJSON *doc, const struct kcr_http_route *routes)
{
	cJSON *tags = cJSON_AddArrayToObject(doc, "tags"), *t;

	for (const struct kcr_http_route *rt = routes; rt->method; rt++) {
		bool seen = false;

		if (rt->tag == NULL)
			continue;
		cJSON_ArrayForEach (t, tags)
			seen = seen || strcmp(kcr_json_str(t, "name"), rt->tag) == 0;
		if (seen)
			continue;
		t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "name", rt->tag);
		cJSON_AddItemToArray(tags, t);
	}
}

cJSON *
kcr_api_openapi(const struct kcr_http_route *routes, const char *base_path, kcr_error_t *err)
{
	cJSON *doc = cJSON_CreateObject(), *paths;

	add_head(doc, base_path ? base_path : "");
	add_tags(doc, routes);
	paths = cJSON_AddObjectToObject(doc, "paths");
	for (const struct kcr_http_route *rt = routes; rt->method; rt++)
		if (add_route(paths, rt, err) < 0)
			goto fail;
	if (add_components(doc, err) < 0)
		goto fail;
	return doc;
fail:
	cJSON_Delete(doc);
	return NULL;
}

void
api_openapi_init(struct kcr_api *api, const char *base_path)
{
	kcr_error_t err = NULL;
	cJSON *doc = kcr_api_openapi(kcr_api_routes(), base_path, &err);

	if (doc == NULL) {
		kcr_log_error("GET /openapi.json: %s", err->msg);
		kcr_error_free(err);
		return;
	}
	api->openapi = kcr_json_print_free(doc);
	api->openapi_len = strlen(api->openapi);
}

void
api_h_openapi(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;

	if (api->openapi == NULL) {
		kcr_http_reply_error(resp, req, 500, "internal_server", NULL,
				     "the OpenAPI document could not be built (see the log)");
		return;
	}
	kcr_http_reply_bytes(resp, 200, kcr_xstrndup(api->openapi, api->openapi_len),
			     api->openapi_len, "application/json");
}

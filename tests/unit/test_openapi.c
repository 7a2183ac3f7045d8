/* Route patterns with named captures (http_server.c kcr_http_route_match)
 * and the OpenAPI document written from kcr serve's route table
 * (api_openapi.c): every route in it once, every capture a path
 * parameter, every reference resolved. */
#include <config.h>

#include "server/api.h"
#include "tap.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void
free_caps(char *caps[KCR_HTTP_MAX_CAPTURES])
{
	for (int i = 0; i < KCR_HTTP_MAX_CAPTURES; i++) {
		free(caps[i]);
		caps[i] = NULL;
	}
}

static bool
match(const char *pattern, const char *path, char *caps[KCR_HTTP_MAX_CAPTURES])
{
	free_caps(caps);
	return kcr_http_route_match(pattern, path, caps);
}

static int
test_named_captures(void)
{
	char *c[KCR_HTTP_MAX_CAPTURES] = { NULL };

	TAP_ASSERT(match("/download/{session_id}/{file_id}", "/download/abc/def", c));
	TAP_STREQ(c[0], "abc");
	TAP_STREQ(c[1], "def");
	TAP_ASSERT(c[2] == NULL);
	TAP_ASSERT(match("/state/{session_id}/info", "/state/s1/info", c));
	TAP_STREQ(c[0], "s1");
	/* the unnamed form still works */
	TAP_ASSERT(match("/files/{}", "/files/xyz", c));
	TAP_STREQ(c[0], "xyz");
	free_caps(c);
	return 0;
}

static int
test_capture_is_one_segment(void)
{
	char *c[KCR_HTTP_MAX_CAPTURES] = { NULL };
	bool ok = true;

	ok = ok && !match("/files/{session_id}", "/files/", c);          /* empty */
	ok = ok && !match("/files/{session_id}", "/files/a/b", c);       /* a '/' */
	ok = ok && !match("/files/{session_id}", "/files/../etc", c);    /* a path */
	ok = ok && !match("/state/{session_id}/info", "/state/s1", c);   /* too short */
	ok = ok && !match("/state/{session_id}/info", "/state/s1/x", c); /* literal differs */
	ok = ok && !match("/files/{session_id", "/files/a", c);          /* unclosed */
	ok = ok && !match("/{a}/{b}/{c}/{d}", "/1/2/3/4", c);            /* over the cap */
	ok = ok && match("/{a}/{b}/{c}", "/1/2/3", c);
	free_caps(c);
	TAP_ASSERT(ok);
	return 0;
}

static cJSON *
doc(const char *base_path)
{
	kcr_error_t err = NULL;
	cJSON *d = kcr_api_openapi(kcr_api_routes(), base_path, &err);

	if (d == NULL) {
		fprintf(stderr, "# %s\n", err->msg);
		kcr_error_free(err);
	}
	return d;
}

static const cJSON *
operation(const cJSON *d, const struct kcr_http_route *rt)
{
	char method[16];
	size_t i;

	for (i = 0; rt->method[i] && i < sizeof(method) - 1; i++)
		method[i] = (char)(rt->method[i] - 'A' + 'a');
	method[i] = '\0';
	return cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(d, "paths"), rt->pattern),
		method);
}

/* Every route once (its pattern is its path: all captures are named),
 * with its name as operationId and its captures as path parameters. */
static int
test_every_route_documented(void)
{
	cJSON *d = doc("");
	size_t routes = 0, ops = 0;
	const cJSON *item, *op;

	TAP_ASSERT(d != NULL);
	for (const struct kcr_http_route *rt = kcr_api_routes(); rt->method; rt++, routes++) {
		int captures = 0, params = 0;
		const cJSON *p;

		TAP_ASSERT(strstr(rt->pattern, "{}") == NULL); /* each capture has a name */
		if ((op = operation(d, rt)) == NULL)
			TAP_FAIL("%s %s is not documented", rt->method, rt->pattern);
		TAP_STREQ(cJSON_GetObjectItem(op, "operationId")->valuestring, rt->name);
		for (const char *s = rt->pattern; (s = strchr(s, '{')); s++)
			captures++;
		cJSON_ArrayForEach (p, cJSON_GetObjectItem(op, "parameters"))
			params += cJSON_IsString(cJSON_GetObjectItem(p, "in")) &&
				  strcmp(cJSON_GetObjectItem(p, "in")->valuestring, "path") == 0;
		TAP_ASSERT(params == captures);
		TAP_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(op, "security")) ==
			   (!(rt->flags & KCR_ROUTE_PUBLIC) ? 2
			    : strstr(rt->replies ? rt->replies : "", "401") ? 3
									    : 0));
		TAP_ASSERT(
			((rt->flags & KCR_ROUTE_ADMIN) != 0) ==
			(cJSON_GetObjectItem(cJSON_GetObjectItem(op, "responses"), "403") != NULL));
	}
	cJSON_ArrayForEach (item, cJSON_GetObjectItem(d, "paths"))
		ops += (size_t)cJSON_GetArraySize(item);
	TAP_ASSERT(ops == routes); /* and nothing else */
	cJSON_Delete(d);
	return 0;
}

/* Every "$ref" names something in the document. */
static int
check_refs(const cJSON *d, const cJSON *node)
{
	const cJSON *c;

	if (cJSON_IsString(node) && node->string && strcmp(node->string, "$ref") == 0) {
		const char *r = node->valuestring;
		const cJSON *at = d;
		char *copy, *save = NULL;

		if (strncmp(r, "#/", 2) != 0)
			TAP_FAIL("ref %s is not local", r);
		copy = strdup(r + 2);
		for (char *t = strtok_r(copy, "/", &save); t && at; t = strtok_r(NULL, "/", &save))
			at = cJSON_GetObjectItemCaseSensitive(at, t);
		free(copy);
		if (at == NULL)
			TAP_FAIL("ref %s resolves to nothing", r);
		return 0;
	}
	cJSON_ArrayForEach (c, node)
		if (check_refs(d, c) < 0)
			return -1;
	return 0;
}

static int
test_refs_resolve(void)
{
	cJSON *d = doc("");
	int r;

	TAP_ASSERT(d != NULL);
	r = check_refs(d, d);
	cJSON_Delete(d);
	return r;
}

static int
test_servers(void)
{
	cJSON *d = doc("/v1/"), *root = doc("");
	const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "servers"), 0);
	const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "servers"), 0);
	int ret = 0;

	if (d == NULL || root == NULL)
		ret = -1;
	else if (strcmp(cJSON_GetObjectItem(s, "url")->valuestring, "/v1") != 0 ||
		 strcmp(cJSON_GetObjectItem(r, "url")->valuestring, "/") != 0 ||
		 strcmp(cJSON_GetObjectItem(d, "openapi")->valuestring, "3.0.3") != 0)
		ret = -1;
	cJSON_Delete(d);
	cJSON_Delete(root);
	return ret;
}

/* A route naming a schema api_schemas.c lacks is an error, not a
 * dangling reference. */
static int
test_unknown_schema(void)
{
	static const struct kcr_http_route bad[] = {
		{ "GET", "/x", NULL, 0, "x", .response = "NoSuchSchema" },
		{ NULL },
	};
	kcr_error_t err = NULL;
	cJSON *d = kcr_api_openapi(bad, "", &err);

	TAP_ASSERT(d == NULL && err && strstr(err->msg, "NoSuchSchema"));
	kcr_error_free(err);
	return 0;
}

int
main(void)
{
	TAP_PLAN(6);
	RUN_TEST(test_named_captures);
	RUN_TEST(test_capture_is_one_segment);
	RUN_TEST(test_every_route_documented);
	RUN_TEST(test_refs_resolve);
	RUN_TEST(test_servers);
	RUN_TEST(test_unknown_schema);
	return TAP_DONE();
}

/* CORS: the headers that let a browser on one of server.cors_origins
 * call kcr serve (http-internal.h). */
#include <config.h>

#include "server/http-internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The origin a browser sent, if it is one the operator allows. */
static const char *
cors_origin(const struct kcr_http_server *s, struct kcr_http_req *r)
{
	const char *origin = kcr_http_header(r, "Origin");

	if (origin == NULL || s->o.cors_origins == NULL)
		return NULL;
	for (char *const *o = s->o.cors_origins; *o; o++)
		if (strcmp(*o, "*") == 0 || strcasecmp(*o, origin) == 0)
			return origin;
	return NULL;
}

void
http_cors_headers(const struct kcr_http_server *s, struct kcr_http_req *r, struct MHD_Response *mr)
{
	const char *origin = cors_origin(s, r);

	if (origin == NULL)
		return;
	MHD_add_response_header(mr, "Access-Control-Allow-Origin", origin);
	MHD_add_response_header(mr, "Vary", "Origin");
	MHD_add_response_header(mr, "Access-Control-Expose-Headers",
				"Content-Disposition, ETag, X-Request-Id, Retry-After, "
				"X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset");
}

static bool
listed(char *const *list, const char *item, size_t len)
{
	for (; list && *list; list++)
		if (strlen(*list) == len && strncasecmp(*list, item, len) == 0)
			return true;
	return false;
}

/* The first of a preflight's comma-separated request headers that is not
 * in server.cors_headers, as *bad (len *bad_len); false when all are. */
static bool
header_refused(const struct kcr_http_server *s, const char *asked, const char **bad,
	       size_t *bad_len)
{
	for (const char *p = asked; p && *p;) {
		size_t len;

		p += strspn(p, " \t,");
		len = strcspn(p, ",");
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len && !listed(s->o.cors_headers, p, len)) {
			*bad = p, *bad_len = len;
			return true;
		}
		p += strcspn(p, ",");
	}
	return false;
}

/* "GET, DELETE": the methods of server.cors_methods (all when empty)
 * that a route serves on path; NULL when none. */
static char *
methods_allowed(const struct kcr_http_server *s, const char *path)
{
	kcr_autofree char *served = http_route_methods(s, path);
	struct kcr_buf b;
	size_t len;

	if (served == NULL)
		return NULL;
	kcr_buf_init(&b);
	for (char *save = NULL, *m = strtok_r(served, ",", &save); m;
	     m = strtok_r(NULL, ",", &save)) {
		if (s->o.cors_methods && *s->o.cors_methods &&
		    !listed(s->o.cors_methods, m, strlen(m)))
			continue;
		if (b.len)
			kcr_buf_add(&b, ", ", 2);
		kcr_buf_add(&b, m, strlen(m));
	}
	if (b.len == 0) {
		kcr_buf_release(&b);
		return NULL;
	}
	return kcr_buf_steal(&b, &len);
}

static bool
method_in(const char *methods, const char *m)
{
	size_t n = strlen(m);

	for (const char *p = methods; (p = strstr(p, m)) != NULL; p += n)
		if ((p == methods || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* A preflight (OPTIONS with Access-Control-Request-Method) from an
 * allowed origin to a path kcr serves: 204 with what may be sent there,
 * no key (browsers send none); 403 naming what the browser asked for and
 * may not send. */
bool
http_cors_preflight(struct kcr_http_server *s, struct kcr_http_req *r, struct kcr_http_resp *resp)
{
	const char *want = kcr_http_header(r, "Access-Control-Request-Method");
	const char *bad;
	size_t bad_len;
	kcr_autofree char *methods = NULL;
	char age[16];

	if (strcmp(r->method, "OPTIONS") != 0 || want == NULL || cors_origin(s, r) == NULL ||
	    (methods = methods_allowed(s, r->path)) == NULL)
		return false;
	if (!method_in(methods, want)) {
		kcr_http_reply_error(resp, r, 403, "authorization", NULL,
				     "CORS: method %.32s is not allowed on %s (allowed: %s)", want,
				     r->path, methods);
		return true;
	}
	if (header_refused(s, kcr_http_header(r, "Access-Control-Request-Headers"), &bad,
			   &bad_len)) {
		kcr_http_reply_error(
			resp, r, 403, "authorization", NULL,
			"CORS: request header %.*s is not allowed (server.cors_headers)",
			(int)(bad_len > 64 ? 64 : bad_len), bad);
		return true;
	}
	kcr_http_reply_bytes(resp, 204, NULL, 0, "text/plain");
	kcr_http_add_header(resp, "Access-Control-Allow-Methods", methods);
	if (s->cors_headers_str)
		kcr_http_add_header(resp, "Access-Control-Allow-Headers", s->cors_headers_str);
	snprintf(age, sizeof(age), "%u", s->o.cors_max_age);
	kcr_http_add_header(resp, "Access-Control-Max-Age", age);
	return true;
}

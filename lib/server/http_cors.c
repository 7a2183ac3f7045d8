/* CORS: the headers that let a browser on one of server.cors_origins
 * call kcr serve (http-internal.h). */
#include <config.h>

#include "server/http-internal.h"

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

/* A preflight (OPTIONS with Access-Control-Request-Method) from an
 * allowed origin, on any path: 204, no key (browsers send none). */
bool
http_cors_preflight(struct kcr_http_server *s, struct kcr_http_req *r, struct kcr_http_resp *resp)
{
	if (strcmp(r->method, "OPTIONS") != 0 || cors_origin(s, r) == NULL ||
	    kcr_http_header(r, "Access-Control-Request-Method") == NULL)
		return false;
	kcr_http_reply_bytes(resp, 204, NULL, 0, "text/plain");
	kcr_http_add_header(resp, "Access-Control-Allow-Methods",
			    "GET, POST, PATCH, DELETE, OPTIONS");
	kcr_http_add_header(resp, "Access-Control-Allow-Headers",
			    "Content-Type, X-API-Key, Authorization, User-Id, If-None-Match");
	kcr_http_add_header(resp, "Access-Control-Max-Age", "600");
	return true;
}

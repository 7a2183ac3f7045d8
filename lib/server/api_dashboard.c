/* The admin dashboard (dashboard/, compiled in by scripts/embed.sh):
 * GET /dashboard is its page, /dashboard/app.js and /dashboard/style.css
 * what the page loads. Public: they hold no data; the page asks the
 * admin API for it with the admin key the admin types in, which it keeps
 * in memory only. Every URL in them is relative, so they work under
 * server.base_path as they do without. */
#include <config.h>

#include "server/api-internal.h"
#include "server/dashboard.h"

#include <stdlib.h>
#include <string.h>

/* Nothing from anywhere but kcr itself, no inline script or style, no
 * framing: a page that handles the admin key gives an injection nothing
 * to run and nowhere to send it. */
#define DASHBOARD_CSP                                                                              \
	"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "          \
	"connect-src 'self'; frame-ancestors 'none'"

static const struct kcr_asset *
asset(const char *name)
{
	for (const struct kcr_asset *a = kcr_dashboard_assets; a->name; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

/* A copy the reply owns (and frees). */
static char *
copy(const struct kcr_asset *a)
{
	char *p = kcr_xmalloc(a->len + 1);

	memcpy(p, a->data, a->len);
	return p;
}

static void
reply_asset(struct kcr_http_req *req, struct kcr_http_resp *resp, const char *name)
{
	const struct kcr_asset *a = asset(name);

	if (a == NULL) /* a build without it: a bug of the build */
		return kcr_http_reply_error(resp, req, 404, "resource_not_found", NULL,
					    "no dashboard file %s in this build", name);
	kcr_http_reply_bytes(resp, 200, copy(a), a->len, a->ctype);
	kcr_http_add_header(resp, "Content-Security-Policy", DASHBOARD_CSP);
	/* a new kcr serves its own page at once, never a stale script */
	kcr_http_add_header(resp, "Cache-Control", "no-store");
}

void
api_h_dashboard(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	(void)ud;
	reply_asset(req, resp, "index.html");
}

/* /dashboard/ to the page: relative, as the page's own URLs are, so that a
 * base path is kept. */
void
api_h_dashboard_slash(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	(void)ud;
	kcr_http_reply_bytes(resp, 308, kcr_xstrdup(""), 0, "text/plain");
	kcr_http_add_header(resp, "Location", "../dashboard");
}

/* /dashboard/<name>: the route table names each file the page loads. */
void
api_h_dashboard_asset(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	(void)ud;
	reply_asset(req, resp, req->path + strlen("/dashboard/"));
}

/* What the files of the HTTP server (lib/server/http_*.c) share, and no
 * one else. */
#ifndef KCR_HTTP_INTERNAL_H
#define KCR_HTTP_INTERNAL_H

#include "server/http_server.h"

#include <microhttpd.h>
#include <stdatomic.h>

struct kcr_http_server {
	struct MHD_Daemon *d;
	struct kcr_http_server_opts o;
	char *base_path;
	char *spool_dir; /* o.spool_dir's own copy: the caller's may not outlive start */
	int port;
	atomic_size_t max_body;
	atomic_int in_flight;
	struct http_guard *guard;
};

/* ---- http_cors.c: the CORS headers of server.cors_origins ------------- */

/* On a reply to an allowed origin. */
void http_cors_headers(const struct kcr_http_server *s, struct kcr_http_req *r,
		       struct MHD_Response *mr);
/* A preflight (OPTIONS with Access-Control-Request-Method) from an
 * allowed origin, on any path: 204, no key (browsers send none). */
bool http_cors_preflight(struct kcr_http_server *s, struct kcr_http_req *r,
			 struct kcr_http_resp *resp);

/* ---- http_guard.c: deadlines on connections ---------------------------
 *
 * MHD's own timeout is an idle one: a client that sends a byte every few
 * seconds keeps its connection for ever. The guard gives each connection
 * a deadline for its headers (from accept, or from the last reply on a
 * kept-alive connection) and one for its body (from the headers), and a
 * thread shuts down (shutdown(2)) the socket of one that misses it; MHD
 * then closes it as it would a client that left. A request being handled
 * (an execution, a reply being sent) has no deadline here. */
struct http_guard;

struct http_guard *http_guard_new(unsigned int header_s, unsigned int body_s);
void http_guard_free(struct http_guard *g);
/* MHD_OPTION_NOTIFY_CONNECTION, with the guard as its cls. */
void http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		       enum MHD_ConnectionNotificationCode code);
/* The request's headers are in: its body's deadline starts. */
void http_guard_headers_done(struct MHD_Connection *c);
/* The body is in (or the reply queued): no deadline. */
void http_guard_body_done(struct MHD_Connection *c);
/* A reply went out: the next request's headers are due. */
void http_guard_request_done(struct MHD_Connection *c);
/* Connections shut down for missing a deadline, since the start. */
unsigned long http_guard_cut(const struct http_guard *g);

#endif

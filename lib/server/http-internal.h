/* What the files of the HTTP server (lib/server/http_*.c) share, and no
 * one else. */
#ifndef KCR_HTTP_INTERNAL_H
#define KCR_HTTP_INTERNAL_H

#include <microhttpd.h>

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

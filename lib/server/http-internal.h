/* What the files of the HTTP server (lib/server/http_*.c) share, and no
 * one else. */
#ifndef KCR_HTTP_INTERNAL_H
#define KCR_HTTP_INTERNAL_H

#include "server/http_server.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* One libmicrohttpd daemon on the listening socket. A certificate reload
 * starts a new one on the same socket and retires the old: it accepts no
 * more, finishes the requests it has, and is then stopped. */
struct http_daemon {
	struct MHD_Daemon *d;
	struct kcr_http_server *s;
	atomic_int in_flight;
	struct http_daemon *next; /* the retired ones, newest first */
	pthread_t reaper;         /* a retired one's: stops it once idle */
	bool reaping;             /* reaper runs (to be joined) */
	atomic_bool reaped;       /* its daemon is stopped */
};

struct kcr_http_server {
	struct http_daemon *cur;     /* accepting */
	struct http_daemon *retired; /* finishing their requests */
	pthread_mutex_t lock;        /* cur and retired, against a reload */
	atomic_bool stopping;
	int listen_fd; /* our own: each daemon gets a dup */
	struct kcr_http_server_opts o;
	char *base_path;
	char *spool_dir; /* o.spool_dir's own copy: the caller's may not outlive start */
	char **cors_origins, **cors_methods, **cors_headers; /* the options' own copies */
	char *cors_headers_str; /* "Content-Type, X-API-Key", NULL: none */
	bool tls;
	char *hsts;                  /* the Strict-Transport-Security value, or NULL */
	struct MHD_Daemon *redirect; /* plain HTTP answering with a redirect, or NULL */
	int port;
	atomic_size_t max_body;
	atomic_int in_flight;
	struct http_guard *guard;
};

/* ---- http_tls.c: the certificate and key of a daemon -------------------- */

struct http_tls_pem {
	char *cert, *key;       /* PEM text */
	char *about;            /* "subject, expires ...", for the log */
	const char *priorities; /* GnuTLS's, from min_version */
};

/* Reads and checks the files of t (a parsable certificate, its key). */
int http_tls_pem_load(const struct kcr_http_tls_opts *t, struct http_tls_pem *out,
		      kcr_error_t *err);
void http_tls_pem_release(struct http_tls_pem *p);
/* The GnuTLS priority string of a minimum version; NULL when unknown. */
const char *http_tls_priorities(const char *min_version);

/* ---- http_redirect.c: plain HTTP to HTTPS ------------------------------ */

/* A daemon on listen answering every request with a 308 to the same path
 * on https://HOST:*https_port (HOST from the request's Host, when sane);
 * https_port must outlive the daemon. */
struct MHD_Daemon *http_redirect_start(const char *listen, const int *https_port, kcr_error_t *err);

/* ---- http_server.c, http_daemon.c ------------------------------------------ */

/* The daemons' callbacks (MHD's access handler and its
 * NOTIFY_COMPLETED), with the struct http_daemon as cls. */
enum MHD_Result http_on_request(void *cls, struct MHD_Connection *c, const char *url,
				const char *method, const char *version, const char *data,
				size_t *size, void **con_cls);
void http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		       enum MHD_RequestTerminationCode code);
/* "GET,DELETE": the methods of the routes that match path; NULL: none. */
char *http_route_methods(const struct kcr_http_server *s, const char *path);
/* A bound and listening socket for "HOST:PORT"; *port is the one bound. */
int http_bind_listen(const char *addr, int *port, kcr_error_t *err);

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

/* A small HTTP server on libmicrohttpd: a route table, bounded request
 * bodies (raw or multipart/form-data through MHD's post processor), JSON
 * replies and errors in the LibreChat/KubeCodeRun shape, one JSON log line
 * per request, and a graceful stop.
 *
 * Clients are hostile: a request is authenticated from its headers before
 * its body is read (an unauthenticated body is read only up to a small
 * bound, for the key some clients send in it); connections are capped in
 * all and per peer address; headers and bodies have deadlines, so that
 * a client trickling bytes cannot hold a connection (http_guard.c). A few epoll threads parse requests and
 * answer the quick routes; a slow route's connection is suspended and its
 * handler runs in a thread of its own, so neither an execution nor a burst
 * of them delays /health. */
#ifndef KCR_HTTP_SERVER_H
#define KCR_HTTP_SERVER_H

#include "base/error.h"
#include "base/ids.h"
#include "base/tenant.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;

/* The most "{...}" captures a route pattern may have. */
#define KCR_HTTP_MAX_CAPTURES 3

struct kcr_http_part {
	char *name;     /* form field name */
	char *filename; /* NULL for a plain field */
	/* A plain field's value; a file's bytes unless they were spooled. */
	struct kcr_buf data;
	/* > 0: a file part's bytes, in a spool of spool_dir (never in
	 * memory); the server closes it after the reply. */
	int fd;
	uint64_t size; /* a file part's size, spooled or not */
};

struct kcr_http_req {
	struct MHD_Connection *conn;
	const char *method;
	char *path;      /* without the base path */
	char *params[KCR_HTTP_MAX_CAPTURES]; /* the "{...}" captures of the route, decoded */
	char request_id[KCR_ID_LEN + 1];
	char peer[64];       /* client address */
	struct kcr_buf body; /* raw body (not for multipart) */
	struct kcr_http_part *parts;
	size_t n_parts;
	bool too_large;                  /* the body went over the limit; it was dropped */
	bool authed;                     /* the auth hook let it in */
	bool preauth;                    /* not yet: the body may carry the key */
	bool body_done;                  /* the whole body was read */
	char *bad_body;                  /* why the body could not be parsed, or NULL */
	char *spool_err;                 /* why a file part could not be spooled, or NULL */
	char key_hash[17];               /* first 16 hex of the caller's key's SHA-256, for logs */
	char tenant[KCR_TENANT_MAX + 1]; /* who asks, as the auth hook named it */
	bool admin;                      /* the auth hook took the admin key */
	/* the key's executions at once (server.rate_limit.max_concurrent): 0, no cap */
	unsigned int max_concurrent;
	/* headers for whatever reply goes out (the rate-limit headers the
	 * auth hook sets, on a success as on an error) */
	char *hdr_name[4], *hdr_value[4];
	size_t n_hdr;
	uint64_t start_ns;
	const void *route;
	void *mp; /* MHD post processor */
	size_t cur_part;
	bool part_opened_empty; /* the last multipart call opened a part with no data */
	void *server;           /* the kcr_http_server it came to */
	void *daemon;           /* the MHD daemon (struct http_daemon) it came through */
	void *done;             /* a slow route's reply, once its worker finished */
	bool working;           /* a worker thread owns the request */
};

struct kcr_http_resp {
	int status;
	char *body;
	size_t len;
	char *ctype;
	char *hdr_name[8], *hdr_value[8];
	size_t n_hdr;
	int fd; /* > 0: the body is the len bytes of this file, closed once sent */
};

typedef void (*kcr_http_handler)(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud);

enum {
	KCR_ROUTE_PUBLIC = 1 << 0,    /* no API key needed */
	KCR_ROUTE_MULTIPART = 1 << 1, /* parse multipart/form-data into parts */
	KCR_ROUTE_SLOW = 1 << 2,      /* runs in a thread of its own (executions) */
	KCR_ROUTE_ADMIN = 1 << 3,     /* the auth hook lets only the admin in (403) */
};

/* A route, and what GET /openapi.json says of it (lib/server/api_openapi.c):
 * the documentation lives in the table the server dispatches on, so the
 * two cannot drift. Schemas and parameters are named, not written here:
 * their JSON is in lib/server/api_schemas.c. */
struct kcr_http_route {
	const char *method;
	/* "/files/{session_id}/{file_id}": each "{name}" captures one path
	 * segment (never empty, never with a '/'), at most
	 * KCR_HTTP_MAX_CAPTURES, into req->params in order */
	const char *pattern;
	kcr_http_handler fn;
	unsigned int flags;
	const char *name; /* for logs and metrics; the operationId */
	const char *summary;
	const char *tag;
	const char *request;  /* the body's schema (its media type with it), or NULL */
	const char *response; /* the success reply's schema, or NULL: no body */
	int status;           /* the success status; 0: 200 */
	/* Space-separated names of parameters beyond the path's (query and
	 * headers): "detail entity_id". */
	const char *params;
	/* Space-separated replies beyond those the flags imply (401 and 429
	 * without KCR_ROUTE_PUBLIC, 403 with KCR_ROUTE_ADMIN, ...): "404 409"
	 * are errors in the shared error shape; "503:Ready" a reply with
	 * that schema; "304:" a reply without a body. A public route that
	 * lists 401 takes a key when it is given one (the key is optional). */
	const char *replies;
};

/* Whether pattern (a route's) matches path; the captures, allocated, in
 * caps when it does (and some of them, to be freed, when it does not). */
bool kcr_http_route_match(const char *pattern, const char *path, char *caps[KCR_HTTP_MAX_CAPTURES]);

/* What an auth hook decides. It is called once the headers are in
 * (body_done false) and, if it asked for the body, again once the body
 * is (body_done true: NEED_BODY is then taken as DENIED). */
enum kcr_http_auth {
	KCR_HTTP_AUTH_OK,
	KCR_HTTP_AUTH_DENIED,    /* resp filled (401, 403) */
	KCR_HTTP_AUTH_NEED_BODY, /* no key in the headers; the body (at most
				  * opts.preauth_body bytes) may carry one */
};
typedef enum kcr_http_auth (*kcr_http_auth_fn)(struct kcr_http_req *req, struct kcr_http_resp *resp,
					       void *ud);
/* Sees every reply just before it goes out (the admin dashboard's recent
 * errors); it must not change it. */
typedef void (*kcr_http_reply_hook)(const struct kcr_http_req *req,
				    const struct kcr_http_resp *resp, void *ud);

/* HTTPS (libmicrohttpd's TLS, GnuTLS underneath). */
struct kcr_http_tls_opts {
	const char *cert_file;       /* PEM: the certificate, then its chain */
	const char *key_file;        /* PEM: its unencrypted private key */
	const char *min_version;     /* "1.2" (NULL, "") or "1.3" */
	const char *redirect_listen; /* HOST:PORT answering plain HTTP with a
				      * redirect to the HTTPS listener; NULL, "": none */
	unsigned int hsts_max_age;   /* Strict-Transport-Security's max-age; 0: none */
};

struct kcr_http_server_opts {
	const char *listen;                  /* "127.0.0.1:8000", "[::1]:0", "0.0.0.0:8000" */
	const char *base_path;               /* "" or "/v1" */
	const struct kcr_http_route *routes; /* terminated by { NULL } */
	size_t max_body;
	size_t preauth_body;                        /* most bytes read of an unauthenticated body */
	size_t max_parts;                           /* most parts of a multipart body */
	unsigned int max_connections, max_per_peer; /* 0: MHD's defaults */
	unsigned int header_timeout_s; /* from accept (or the last reply) to the headers */
	unsigned int body_timeout_s;   /* from the headers to the end of the body */
	unsigned int idle_timeout_s;   /* no byte either way */
	char *const *cors_origins;     /* origins a browser may call from ("*": any);
				    * NULL or empty: no CORS headers at all */
	char *const *cors_methods;     /* what a preflight allows; NULL: the route's */
	char *const *cors_headers;     /* request headers a preflight allows */
	unsigned int cors_max_age;     /* seconds a browser may cache a preflight */
	const struct kcr_http_tls_opts *tls; /* NULL: plain HTTP */
	/* Where the file parts of multipart bodies go as they arrive
	 * (anonymous files, base/files.h kcr_spool_open), so an upload costs
	 * disk, not memory; NULL: they are held in memory. */
	const char *spool_dir;
	kcr_http_auth_fn auth;
	kcr_http_reply_hook on_reply; /* NULL: none */
	void *ud;
	bool log_requests;
};

struct kcr_http_server;

struct kcr_http_server *kcr_http_server_start(const struct kcr_http_server_opts *o,
					      kcr_error_t *err);
/* The port actually bound (useful with port 0). */
int kcr_http_server_port(const struct kcr_http_server *s);
/* Stops accepting, waits up to grace_ms for requests in flight, stops. */
void kcr_http_server_stop(struct kcr_http_server *s, unsigned int grace_ms);
/* Swaps the options' ud and max_body (SIGHUP reload). */
void kcr_http_server_set_limits(struct kcr_http_server *s, size_t max_body);
/* Reads the certificate and key again (SIGHUP) and serves new connections
 * with them; connections already open finish with the old ones. On an
 * error (a missing file, a key not the certificate's) nothing changes. A
 * server started without TLS gets none: its listener speaks HTTP. */
int kcr_http_server_reload_tls(struct kcr_http_server *s, const struct kcr_http_tls_opts *tls,
			       kcr_error_t *err);
/* Whether it speaks HTTPS. */
bool kcr_http_server_tls(const struct kcr_http_server *s);

const char *kcr_http_header(struct kcr_http_req *r, const char *name);
const char *kcr_http_query(struct kcr_http_req *r, const char *name);
const struct kcr_http_part *kcr_http_part(const struct kcr_http_req *r, const char *name);

/* Replies. Each takes ownership of what it is given. */
void kcr_http_reply_json(struct kcr_http_resp *resp, int status, cJSON *body);
/* The body is the len bytes of fd (a spool) from offset 0, sent from the
 * file, never read into memory; fd becomes the response's. */
void kcr_http_reply_fd(struct kcr_http_resp *resp, int status, int fd, uint64_t len,
		       const char *ctype);
void kcr_http_reply_bytes(struct kcr_http_resp *resp, int status, char *data, size_t len,
			  const char *ctype);
void kcr_http_reply_error(struct kcr_http_resp *resp, const struct kcr_http_req *req, int status,
			  const char *error_type, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* Maps a kcr error to its status and error_type. */
void kcr_http_reply_kcr_error(struct kcr_http_resp *resp, const struct kcr_http_req *req,
			      const struct kcr_error *err);
void kcr_http_add_header(struct kcr_http_resp *resp, const char *name, const char *value);
/* A header for the request's reply, whichever it is. */
void kcr_http_req_add_header(struct kcr_http_req *r, const char *name, const char *value);

#endif

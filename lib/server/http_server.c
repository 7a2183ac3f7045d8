#include <config.h>

#include "server/http_server.h"
#include "server/http-internal.h"
#include "base/clock.h"
#include "base/files.h"
#include "base/ids.h"
#include "base/json.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/metrics_kcr.h"
#include "base/parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Threads parsing requests and answering the quick routes. */
#define HTTP_THREADS 4

/* ---- requests ------------------------------------------------------- */

static void
req_free(struct kcr_http_req *r)
{
	if (r->mp)
		MHD_destroy_post_processor(r->mp);
	for (size_t i = 0; i < KCR_ARRAY_SIZE(r->params); i++)
		free(r->params[i]);
	for (size_t i = 0; i < r->n_parts; i++) {
		free(r->parts[i].name);
		free(r->parts[i].filename);
		kcr_buf_release(&r->parts[i].data);
		if (r->parts[i].fd > 0)
			close(r->parts[i].fd);
	}
	free(r->parts);
	free(r->path);
	free(r->bad_body);
	free(r->spool_err);
	for (size_t i = 0; i < r->n_hdr; i++) {
		free(r->hdr_name[i]);
		free(r->hdr_value[i]);
	}
	kcr_buf_release(&r->body);
	free(r);
}

const char *
kcr_http_header(struct kcr_http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
kcr_http_query(struct kcr_http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const struct kcr_http_part *
kcr_http_part(const struct kcr_http_req *r, const char *name)
{
	for (size_t i = 0; i < r->n_parts; i++)
		if (strcmp(r->parts[i].name, name) == 0)
			return &r->parts[i];
	return NULL;
}

/* Matches "/files/{}/{}" against a path, capturing the segments. A capture
 * never contains '/', so a "../" in an id can't reach a handler. */
static bool
route_match(const char *pat, const char *path, char *caps[3])
{
	int n = 0;

	while (*pat && *path) {
		if (pat[0] == '{' && pat[1] == '}') {
			size_t len = strcspn(path, "/");

			if (len == 0 || n >= 3)
				return false;
			caps[n++] = kcr_xstrndup(path, len);
			path += len;
			pat += 2;
		} else if (*pat++ != *path++) {
			return false;
		}
	}
	return *pat == '\0' && *path == '\0';
}

static const struct kcr_http_route *
route_find(const struct kcr_http_server *s, struct kcr_http_req *r, bool *path_known)
{
	*path_known = false;
	for (const struct kcr_http_route *rt = s->o.routes; rt->method; rt++) {
		char *caps[3] = { NULL, NULL, NULL };

		if (!route_match(rt->pattern, r->path, caps)) {
			for (int i = 0; i < 3; i++)
				free(caps[i]);
			continue;
		}
		*path_known = true;
		if (strcmp(rt->method, r->method) == 0) {
			memcpy(r->params, caps, sizeof(caps));
			return rt;
		}
		for (int i = 0; i < 3; i++)
			free(caps[i]);
	}
	return NULL;
}

char *
http_route_methods(const struct kcr_http_server *s, const char *path)
{
	struct kcr_buf b;
	size_t len;

	kcr_buf_init(&b);
	for (const struct kcr_http_route *rt = s->o.routes; rt->method; rt++) {
		char *caps[3] = { NULL, NULL, NULL };
		bool match = route_match(rt->pattern, path, caps);

		for (int i = 0; i < 3; i++)
			free(caps[i]);
		if (!match || strcmp(rt->method, "OPTIONS") == 0)
			continue;
		if (b.len)
			kcr_buf_add(&b, ",", 1);
		kcr_buf_add(&b, rt->method, strlen(rt->method));
	}
	if (b.len == 0) {
		kcr_buf_release(&b);
		return NULL;
	}
	return kcr_buf_steal(&b, &len);
}

/* ---- replies -------------------------------------------------------- */

/* Appends to a list of at most cap headers (more are dropped). */
static void
add_header(char **names, char **values, size_t *n, size_t cap, const char *name, const char *value)
{
	if (*n >= cap)
		return;
	names[*n] = kcr_xstrdup(name);
	values[(*n)++] = kcr_xstrdup(value);
}

void
kcr_http_add_header(struct kcr_http_resp *resp, const char *name, const char *value)
{
	add_header(resp->hdr_name, resp->hdr_value, &resp->n_hdr, KCR_ARRAY_SIZE(resp->hdr_name),
		   name, value);
}

void
kcr_http_req_add_header(struct kcr_http_req *r, const char *name, const char *value)
{
	add_header(r->hdr_name, r->hdr_value, &r->n_hdr, KCR_ARRAY_SIZE(r->hdr_name), name, value);
}

static void
resp_set(struct kcr_http_resp *resp, int status, char *body, size_t len, const char *ctype)
{
	free(resp->body);
	free(resp->ctype);
	if (resp->fd > 0)
		close(resp->fd);
	resp->fd = 0;
	resp->status = status;
	resp->body = body;
	resp->len = len;
	resp->ctype = kcr_xstrdup(ctype);
}

void
kcr_http_reply_json(struct kcr_http_resp *resp, int status, cJSON *body)
{
	char *s = kcr_json_print_free(body);

	resp_set(resp, status, s, strlen(s), "application/json");
}

void
kcr_http_reply_fd(struct kcr_http_resp *resp, int status, int fd, uint64_t len, const char *ctype)
{
	resp_set(resp, status, NULL, (size_t)len, ctype);
	resp->fd = fd;
}

void
kcr_http_reply_bytes(struct kcr_http_resp *resp, int status, char *data, size_t len,
		     const char *ctype)
{
	resp_set(resp, status, data, len, ctype);
}

void
kcr_http_reply_error(struct kcr_http_resp *resp, const struct kcr_http_req *req, int status,
		     const char *error_type, const char *field, const char *fmt, ...)
{
	cJSON *o = cJSON_CreateObject(), *details;
	kcr_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	cJSON_AddStringToObject(o, "error", msg);
	cJSON_AddStringToObject(o, "error_type", error_type);
	details = cJSON_AddArrayToObject(o, "details");
	if (field) {
		cJSON *d = cJSON_CreateObject();

		cJSON_AddStringToObject(d, "field", field);
		cJSON_AddStringToObject(d, "message", msg);
		cJSON_AddItemToArray(details, d);
	}
	cJSON_AddStringToObject(o, "request_id", req->request_id);
	cJSON_AddNumberToObject(o, "timestamp", kcr_wall_time());
	kcr_http_reply_json(resp, status, o);
}

void
kcr_http_reply_kcr_error(struct kcr_http_resp *resp, const struct kcr_http_req *req,
			 const struct kcr_error *err)
{
	kcr_http_reply_error(resp, req, kcr_errc_http_status(err->code), kcr_errc_name(err->code),
			     NULL, "%s", err->msg);
}

/* ---- multipart ------------------------------------------------------ */

static bool
same_str_or_null(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static bool
same_part(const struct kcr_http_part *p, const char *key, const char *filename)
{
	return p->data.len == 0 && strcmp(p->name, key ? key : "") == 0 &&
	       same_str_or_null(p->filename, filename);
}

/* A file part goes to a spool as it arrives; failing that, the request
 * fails (503), rather than holding the file in memory after all. */
static int
spool_part(struct kcr_http_req *r, struct kcr_http_part *p)
{
	struct kcr_http_server *s = r->server;
	kcr_error_t e = NULL;

	if ((p->fd = kcr_spool_open(s->o.spool_dir, &e)) >= 0)
		return 0;
	p->fd = 0;
	r->spool_err = kcr_strdup_printf("cannot spool the upload: %s", e->msg);
	kcr_error_free(e);
	return -1;
}

static enum MHD_Result
on_post_data(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
	     const char *ctype, const char *enc, const char *data, uint64_t off, size_t size)
{
	struct kcr_http_req *r = cls;
	struct kcr_http_part *p;
	bool opened_empty = r->part_opened_empty;

	(void)kind, (void)ctype, (void)enc;
	r->part_opened_empty = off == 0 && size == 0;
	/* When a chunk ends where a part's data begins, MHD calls once with
	 * no data and again from offset 0 with it: the same part, not a new
	 * (empty) one. */
	if (off == 0 && opened_empty && r->n_parts &&
	    same_part(&r->parts[r->n_parts - 1], key, filename))
		off = 1;
	if (off == 0) { /* a new part starts */
		struct kcr_http_server *s = r->server;

		if (s->o.max_parts && r->n_parts >= s->o.max_parts) {
			if (r->bad_body == NULL)
				r->bad_body = kcr_strdup_printf("more than %zu parts in a "
								"multipart/form-data body",
								s->o.max_parts);
			return MHD_NO;
		}
		r->parts = kcr_xrealloc(r->parts, (r->n_parts + 1) * sizeof(*r->parts));
		p = &r->parts[r->n_parts++];
		memset(p, 0, sizeof(*p));
		p->name = kcr_xstrdup(key ? key : "");
		p->filename = filename ? kcr_xstrdup(filename) : NULL;
		if (p->filename && s->o.spool_dir && spool_part(r, p) < 0)
			return MHD_NO;
	}
	if (r->n_parts == 0)
		return MHD_NO;
	p = &r->parts[r->n_parts - 1];
	p->size += size;
	if (p->fd <= 0) {
		kcr_buf_add(&p->data, data, size);
		return MHD_YES;
	}
	if (kcr_write_all(p->fd, data, size) < 0) {
		r->spool_err =
			kcr_strdup_printf("cannot write the upload's spool: %s", strerror(errno));
		return MHD_NO;
	}
	return MHD_YES;
}

/* ---- the access handler ----------------------------------------------- */

static struct kcr_http_req *
req_new(struct http_daemon *dm, struct MHD_Connection *c, const char *url, const char *method)
{
	struct kcr_http_server *s = dm->s;
	struct kcr_http_req *r = kcr_xzalloc(sizeof(*r));
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	size_t bl = strlen(s->base_path);

	r->conn = c;
	r->server = s;
	r->daemon = dm;
	r->method = method;
	r->start_ns = kcr_now_ns();
	kcr_id_generate(r->request_id);
	if (bl && strncmp(url, s->base_path, bl) == 0 && (url[bl] == '/' || url[bl] == '\0'))
		url += bl;
	r->path = kcr_xstrdup(*url ? url : "/");
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->peer,
				  sizeof(r->peer));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->peer,
				  sizeof(r->peer));
	}
	return r;
}

/* The most bytes of this request's body kept: few before it is
 * authenticated (only for a key inside it). */
static size_t
body_limit(struct kcr_http_server *s, const struct kcr_http_req *r)
{
	return r->preauth ? s->o.preauth_body : atomic_load(&s->max_body);
}

static void
take_body(struct kcr_http_server *s, struct kcr_http_req *r, const char *data, size_t size)
{
	size_t have = r->body.len;

	for (size_t i = 0; i < r->n_parts; i++)
		have += r->parts[i].size; /* spooled or held */
	if (r->too_large || have + size > body_limit(s, r)) {
		r->too_large = true; /* keep reading, drop the bytes */
		return;
	}
	if (r->mp == NULL) {
		kcr_buf_add(&r->body, data, size);
	} else if (MHD_post_process(r->mp, data, size) != MHD_YES && r->bad_body == NULL &&
		   r->spool_err == NULL) {
		r->bad_body = kcr_xstrdup("malformed multipart/form-data body");
	}
}

/* On every reply: the API's answers are data, never pages to frame,
 * sniff or cache. A route serving a page sets its own
 * Content-Security-Policy and Cache-Control, which win. */
static void
security_headers(const struct kcr_http_server *s, struct MHD_Response *mr,
		 const struct kcr_http_resp *resp)
{
	bool csp = false, cache = false;

	for (size_t i = 0; i < resp->n_hdr; i++) {
		csp |= strcasecmp(resp->hdr_name[i], "Content-Security-Policy") == 0;
		cache |= strcasecmp(resp->hdr_name[i], "Cache-Control") == 0;
	}
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(mr, "X-Frame-Options", "DENY");
	MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(mr, "Cross-Origin-Resource-Policy", "same-origin");
	if (!csp)
		MHD_add_response_header(mr, "Content-Security-Policy",
					"default-src 'none'; frame-ancestors 'none'");
	if (!cache)
		MHD_add_response_header(mr, "Cache-Control", "no-store");
	if (s->hsts)
		MHD_add_response_header(mr, "Strict-Transport-Security", s->hsts);
}

/* Records the request in the metrics and logs it (one JSON line). */
static void
log_request(struct kcr_http_server *s, struct kcr_http_req *r, int status)
{
	cJSON *o;
	kcr_autofree char *line = NULL;

	kcr_metrics_http_request(r->route ? ((const struct kcr_http_route *)r->route)->name : NULL,
				 status, (double)(kcr_now_ns() - r->start_ns) / 1e9);
	if (!s->o.log_requests)
		return;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "ts", kcr_wall_time());
	cJSON_AddStringToObject(o, "request_id", r->request_id);
	cJSON_AddStringToObject(o, "key", r->key_hash[0] ? r->key_hash : "-");
	cJSON_AddStringToObject(o, "method", r->method);
	cJSON_AddStringToObject(
		o, "route", r->route ? ((const struct kcr_http_route *)r->route)->name : r->path);
	cJSON_AddNumberToObject(o, "status", status);
	cJSON_AddNumberToObject(o, "duration_ms", (double)(kcr_now_ns() - r->start_ns) / 1e6);
	cJSON_AddStringToObject(o, "peer", r->peer);
	line = kcr_json_print_free(o);
	kcr_log_json_line(line);
}

static enum MHD_Result
send_resp(struct kcr_http_server *s, struct kcr_http_req *r, struct kcr_http_resp *resp)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;

	if (resp->status == 0)
		kcr_http_reply_error(resp, r, 500, "internal_server", NULL, "no reply");
	if (s->o.on_reply)
		s->o.on_reply(r, resp, s->o.ud);
	if (resp->fd > 0) /* MHD sends it with sendfile(2) and closes it */
		mr = MHD_create_response_from_fd64(resp->len, resp->fd);
	else
		mr = MHD_create_response_from_buffer(resp->len, resp->body, MHD_RESPMEM_MUST_FREE);
	resp->body = NULL;
	resp->fd = 0;
	MHD_add_response_header(mr, "Content-Type", resp->ctype ? resp->ctype : "text/plain");
	MHD_add_response_header(mr, "X-Request-Id", r->request_id);
	security_headers(s, mr, resp);
	http_cors_headers(s, r, mr);
	for (size_t i = 0; i < r->n_hdr; i++)
		MHD_add_response_header(mr, r->hdr_name[i], r->hdr_value[i]);
	for (size_t i = 0; i < resp->n_hdr; i++) {
		MHD_add_response_header(mr, resp->hdr_name[i], resp->hdr_value[i]);
		free(resp->hdr_name[i]);
		free(resp->hdr_value[i]);
	}
	free(resp->ctype);
	ret = MHD_queue_response(r->conn, (unsigned int)resp->status, mr);
	MHD_destroy_response(mr);
	log_request(s, r, resp->status);
	return ret;
}

/* ---- slow routes: a thread per request, the connection suspended ---- */

static void *
slow_worker(void *arg)
{
	struct kcr_http_req *r = arg;
	struct kcr_http_server *s = r->server;
	struct kcr_http_resp *resp = kcr_xzalloc(sizeof(*resp));

	((const struct kcr_http_route *)r->route)->fn(r, resp, s->o.ud);
	r->done = resp;
	MHD_resume_connection(r->conn); /* MHD calls on_request again */
	return NULL;
}

/* Returns false when no thread could be started (the caller answers). */
static bool
start_slow(struct kcr_http_req *r)
{
	pthread_attr_t attr;
	pthread_t t;
	bool ok;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	r->working = true;
	MHD_suspend_connection(r->conn);
	ok = pthread_create(&t, &attr, slow_worker, r) == 0;
	pthread_attr_destroy(&attr);
	if (!ok) {
		r->working = false;
		MHD_resume_connection(r->conn);
	}
	return ok;
}

static bool authorize(struct kcr_http_server *s, struct kcr_http_req *r,
		      struct kcr_http_resp *resp);

/* Answers the request, or hands it to a worker (returns true then). */
static bool
dispatch(struct kcr_http_server *s, struct kcr_http_req *r, struct kcr_http_resp *resp)
{
	const struct kcr_http_route *rt = r->route;

	if (r->preauth && r->too_large)
		kcr_http_reply_error(resp, r, 401, "authentication", NULL,
				     "Missing API key (a key in the body is read only from bodies "
				     "of at most %zu bytes; send it as X-API-Key)",
				     s->o.preauth_body);
	else if (r->preauth && !authorize(s, r, resp))
		; /* auth filled resp */
	else if (r->too_large)
		kcr_http_reply_error(resp, r, 413, "validation", "body",
				     "request body larger than %zu bytes",
				     atomic_load(&s->max_body));
	else if (r->spool_err) {
		kcr_log_error("%s", r->spool_err);
		kcr_http_reply_error(resp, r, 503, "service_unavailable", NULL, "%s", r->spool_err);
	} else if (r->bad_body)
		kcr_http_reply_error(resp, r, 400, "validation", "body", "%s", r->bad_body);
	else if (!(rt->flags & KCR_ROUTE_SLOW))
		rt->fn(r, resp, s->o.ud);
	else if (start_slow(r))
		return true;
	else
		kcr_http_reply_error(resp, r, 503, "service_unavailable", NULL,
				     "cannot start a worker thread");
	return false;
}

/* Once the headers are in: the route, and whether the request may send
 * its body (*resp filled when not: an unknown route, a refused key, a
 * body too large to be read without one). */
static bool
authorize(struct kcr_http_server *s, struct kcr_http_req *r, struct kcr_http_resp *resp)
{
	enum kcr_http_auth a = s->o.auth(r, resp, s->o.ud);

	if (a == KCR_HTTP_AUTH_NEED_BODY && r->body_done) {
		kcr_http_reply_error(resp, r, 401, "authentication", NULL, "Missing API key");
		a = KCR_HTTP_AUTH_DENIED;
	}
	r->authed = a == KCR_HTTP_AUTH_OK;
	r->preauth = a == KCR_HTTP_AUTH_NEED_BODY;
	return a != KCR_HTTP_AUTH_DENIED;
}

static bool
admit(struct kcr_http_server *s, struct kcr_http_req *r, struct kcr_http_resp *resp)
{
	bool known;
	const struct kcr_http_route *rt = route_find(s, r, &known);
	const char *cl;

	r->route = rt;
	if (http_cors_preflight(s, r, resp))
		return false;
	if (rt == NULL && known) {
		kcr_http_reply_error(resp, r, 405, "validation", NULL,
				     "method %s not allowed on %s", r->method, r->path);
		return false;
	}
	if (rt == NULL) {
		kcr_http_reply_error(resp, r, 404, "resource_not_found", NULL, "no route %s %s",
				     r->method, r->path);
		return false;
	}
	if ((rt->flags & KCR_ROUTE_PUBLIC) || s->o.auth == NULL) {
		r->authed = true;
		return true;
	}
	if (!authorize(s, r, resp))
		return false;
	/* a body that says it is too large for its key to be read: refused
	 * before a byte of it is (a chunked one is cut when it gets there) */
	cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
	if (r->preauth && cl && strtoull(cl, NULL, 10) > s->o.preauth_body) {
		r->too_large = true;
		dispatch(s, r, resp);
		return false;
	}
	return true;
}

static void
start_body(struct kcr_http_req *r)
{
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");

	if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
		r->mp = MHD_create_post_processor(r->conn, 64 * 1024, on_post_data, r);
		if (r->mp == NULL)
			r->bad_body = kcr_xstrdup("multipart body without a boundary");
	}
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	   const char *version, const char *data, size_t *size, void **con_cls)
{
	struct http_daemon *dm = cls;
	struct kcr_http_server *s = dm->s;
	struct kcr_http_req *r = *con_cls;
	struct kcr_http_resp resp = { 0 };

	(void)version;
	if (r == NULL) {
		r = req_new(dm, c, url, method);
		atomic_fetch_add(&s->in_flight, 1);
		atomic_fetch_add(&dm->in_flight, 1);
		*con_cls = r;
		if (s->guard)
			http_guard_headers_done(c);
		if (!admit(s, r, &resp)) {
			r->body_done = true;
			return send_resp(s, r, &resp);
		}
		start_body(r);
		return MHD_YES;
	}
	if (*size) {
		take_body(s, r, data, *size);
		*size = 0;
		return MHD_YES;
	}
	if (!r->body_done && s->guard)
		http_guard_body_done(c);
	r->body_done = true;
	if (r->done) { /* resumed: the worker's reply */
		struct kcr_http_resp *done = r->done;
		enum MHD_Result ret;

		r->done = NULL;
		ret = send_resp(s, r, done);
		free(done);
		return ret;
	}
	if (r->working) /* a spurious call while suspended */
		return MHD_YES;
	if (dispatch(s, r, &resp))
		return MHD_YES;
	return send_resp(s, r, &resp);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	     enum MHD_RequestTerminationCode code)
{
	struct http_daemon *dm = cls;
	struct kcr_http_server *s = dm->s;

	(void)code;
	if (s->guard)
		http_guard_request_done(c);
	if (*con_cls == NULL)
		return;
	req_free(*con_cls);
	*con_cls = NULL;
	atomic_fetch_sub(&dm->in_flight, 1);
	atomic_fetch_sub(&s->in_flight, 1);
}

/* ---- start and stop --------------------------------------------------- */

static int
parse_listen(const char *addr, struct sockaddr_storage *ss, socklen_t *len, kcr_error_t *err)
{
	kcr_autofree char *host = NULL;
	const char *colon = strrchr(addr, ':');
	uint64_t port;

	if (colon == NULL || kcr_parse_u64(colon + 1, 0, 65535, &port, err) < 0)
		return kcr_error_set(err, KCR_E_INVALID, 0, "listen address '%s' is not HOST:PORT",
				     addr);
	host = kcr_xstrndup(addr, (size_t)(colon - addr));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = '\0';
		memset(a, 0, sizeof(*a));
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1)
			return 0;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		memset(a, 0, sizeof(*a));
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
		if (strcmp(host, "localhost") == 0 || inet_pton(AF_INET, host, &a->sin_addr) == 1) {
			if (strcmp(host, "localhost") == 0)
				a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			return 0;
		}
	}
	return kcr_error_set(err, KCR_E_INVALID, 0, "listen address '%s': bad host", addr);
}

int
http_bind_listen(const char *addr, int *port, kcr_error_t *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd;

	if (parse_listen(addr, &ss, &len, err) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 512) < 0) {
		int e = errno;

		close(fd);
		return kcr_error_set(err, KCR_E_IO, e, "cannot listen on %s", addr);
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* ---- daemons ------------------------------------------------------------ */

/* A daemon on (a dup of) the listening socket, speaking TLS with pem when
 * not NULL. */
static struct http_daemon *
daemon_start(struct kcr_http_server *s, const struct http_tls_pem *pem, kcr_error_t *err)
{
	const struct kcr_http_server_opts *o = &s->o;
	struct http_daemon *dm = kcr_xzalloc(sizeof(*dm));
	struct MHD_OptionItem tls[] = {
		{ pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, pem ? pem->cert : NULL },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, pem ? pem->key : NULL },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0, pem ? (void *)pem->priorities : NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	int fd = fcntl(s->listen_fd, F_DUPFD_CLOEXEC, 0);

	dm->s = s;
	if (fd < 0) {
		free(dm);
		kcr_error_set(err, KCR_E_IO, errno, "dup of the listening socket");
		return NULL;
	}
	dm->d = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
			(pem ? MHD_USE_TLS : 0),
		0, NULL, NULL, on_request, dm, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)HTTP_THREADS,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, dm, MHD_OPTION_NOTIFY_CONNECTION,
		s->guard ? http_guard_notify : NULL, s->guard, MHD_OPTION_CONNECTION_TIMEOUT,
		o->idle_timeout_s ? o->idle_timeout_s : 600, MHD_OPTION_CONNECTION_LIMIT,
		o->max_connections ? o->max_connections : FD_SETSIZE - 4,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_peer,
		/* headers beyond this are refused (431) */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), MHD_OPTION_ARRAY, tls,
		MHD_OPTION_END);
	if (dm->d == NULL) {
		close(fd);
		free(dm);
		kcr_error_set(err, KCR_E_IO, 0, "cannot start the HTTP%s server on %s",
			      pem ? "S" : "", o->listen);
		return NULL;
	}
	return dm;
}

/* A retired daemon's thread: once its last request is answered (or the
 * server stops), the daemon is stopped and its kept-alive connections
 * closed. */
static void *
daemon_reaper(void *arg)
{
	struct http_daemon *dm = arg;

	while (atomic_load(&dm->in_flight) > 0 && !atomic_load(&dm->s->stopping))
		usleep(20000);
	MHD_stop_daemon(dm->d);
	atomic_store(&dm->reaped, true);
	return NULL;
}

/* Stops accepting on dm's daemon; its requests go on. */
static void
daemon_quiesce(struct http_daemon *dm)
{
	MHD_socket fd = MHD_quiesce_daemon(dm->d);

	if (fd != MHD_INVALID_SOCKET)
		close(fd); /* a dup: the socket stays open in listen_fd */
}

static int
tls_setup(struct kcr_http_server *s, const struct kcr_http_tls_opts *t, struct http_tls_pem *pem,
	  kcr_error_t *err)
{
	if (http_tls_pem_load(t, pem, err) < 0)
		return -1;
	s->tls = true;
	if (t->hsts_max_age)
		s->hsts = kcr_strdup_printf("max-age=%u", t->hsts_max_age);
	if (t->redirect_listen && *t->redirect_listen &&
	    (s->redirect = http_redirect_start(t->redirect_listen, &s->port, err)) == NULL)
		return -1;
	kcr_log_info("HTTPS with %s", pem->about);
	return 0;
}

/* NULL for an empty list */
static char *
strv_join(char *const *v, const char *sep)
{
	struct kcr_buf b;
	size_t len;

	if (v == NULL || *v == NULL)
		return NULL;
	kcr_buf_init(&b);
	for (; *v; v++) {
		if (b.len)
			kcr_buf_add(&b, sep, strlen(sep));
		kcr_buf_add(&b, *v, strlen(*v));
	}
	return kcr_buf_steal(&b, &len);
}

static void
server_free(struct kcr_http_server *s)
{
	if (s->redirect)
		MHD_stop_daemon(s->redirect);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	http_guard_free(s->guard);
	kcr_strv_free(s->cors_origins);
	kcr_strv_free(s->cors_methods);
	kcr_strv_free(s->cors_headers);
	free(s->cors_headers_str);
	free(s->hsts);
	free(s->base_path);
	free(s->spool_dir);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* The options' strings, the server's own: the caller's may not outlive start. */
static void
own_opts(struct kcr_http_server *s, const struct kcr_http_server_opts *o)
{
	s->o = *o;
	s->spool_dir = o->spool_dir ? kcr_xstrdup(o->spool_dir) : NULL;
	s->o.spool_dir = s->spool_dir;
	s->cors_origins = kcr_strv_dup(o->cors_origins);
	s->cors_methods = kcr_strv_dup(o->cors_methods);
	s->cors_headers = kcr_strv_dup(o->cors_headers);
	s->o.cors_origins = s->cors_origins;
	s->o.cors_methods = s->cors_methods;
	s->o.cors_headers = s->cors_headers;
	s->o.tls = NULL;
	s->cors_headers_str = strv_join(o->cors_headers, ", ");
	s->base_path = kcr_xstrdup(o->base_path ? o->base_path : "");
	if (s->base_path[0] && s->base_path[strlen(s->base_path) - 1] == '/')
		s->base_path[strlen(s->base_path) - 1] = '\0';
}

struct kcr_http_server *
kcr_http_server_start(const struct kcr_http_server_opts *o, kcr_error_t *err)
{
	struct kcr_http_server *s = kcr_xzalloc(sizeof(*s));
	struct http_tls_pem pem = { 0 };

	s->listen_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	own_opts(s, o);
	if ((s->listen_fd = http_bind_listen(o->listen, &s->port, err)) < 0)
		goto fail;
	atomic_store(&s->max_body, o->max_body);
	if (o->header_timeout_s || o->body_timeout_s)
		s->guard = http_guard_new(o->header_timeout_s, o->body_timeout_s);
	if (o->tls && tls_setup(s, o->tls, &pem, err) < 0)
		goto fail;
	if ((s->cur = daemon_start(s, o->tls ? &pem : NULL, err)) == NULL)
		goto fail;
	http_tls_pem_release(&pem);
	return s;
fail:
	http_tls_pem_release(&pem);
	server_free(s);
	return NULL;
}

/* Frees the retired daemons that are stopped (all: waits for them). */
static void
retired_prune(struct kcr_http_server *s, bool all)
{
	struct http_daemon **p = &s->retired;

	while (*p) {
		struct http_daemon *dm = *p;

		if (!all && !atomic_load(&dm->reaped)) {
			p = &dm->next;
			continue;
		}
		*p = dm->next;
		if (dm->reaping)
			pthread_join(dm->reaper, NULL);
		free(dm);
	}
}

int
kcr_http_server_reload_tls(struct kcr_http_server *s, const struct kcr_http_tls_opts *t,
			   kcr_error_t *err)
{
	struct http_tls_pem pem;
	struct http_daemon *dm, *old;

	if (!s->tls)
		return 0;
	if (http_tls_pem_load(t, &pem, err) < 0)
		return -1;
	/* the new daemon accepts before the old stops: no connection is refused */
	dm = daemon_start(s, &pem, err);
	if (dm == NULL) {
		http_tls_pem_release(&pem);
		return -1;
	}
	kcr_log_info("HTTPS certificate reloaded: %s", pem.about);
	http_tls_pem_release(&pem);
	pthread_mutex_lock(&s->lock);
	old = s->cur;
	s->cur = dm;
	daemon_quiesce(old);
	retired_prune(s, false);
	old->next = s->retired;
	s->retired = old;
	old->reaping = pthread_create(&old->reaper, NULL, daemon_reaper, old) == 0;
	if (!old->reaping)
		daemon_reaper(old); /* no thread: wait here */
	pthread_mutex_unlock(&s->lock);
	return 0;
}

bool
kcr_http_server_tls(const struct kcr_http_server *s)
{
	return s->tls;
}

int
kcr_http_server_port(const struct kcr_http_server *s)
{
	return s->port;
}

void
kcr_http_server_set_limits(struct kcr_http_server *s, size_t max_body)
{
	atomic_store(&s->max_body, max_body);
}

void
kcr_http_server_stop(struct kcr_http_server *s, unsigned int grace_ms)
{
	uint64_t deadline = kcr_now_ms() + grace_ms;

	if (s == NULL)
		return;
	/* stop accepting, and refuse new connections at once rather than
	 * leaving them in the backlog; requests in flight go on */
	pthread_mutex_lock(&s->lock);
	daemon_quiesce(s->cur);
	close(s->listen_fd);
	s->listen_fd = -1;
	pthread_mutex_unlock(&s->lock);
	while (atomic_load(&s->in_flight) > 0 && kcr_now_ms() < deadline)
		usleep(10000);
	atomic_store(&s->stopping, true);
	MHD_stop_daemon(s->cur->d);
	free(s->cur);
	retired_prune(s, true);
	server_free(s);
}

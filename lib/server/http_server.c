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

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Matches "/files/{session_id}/{file_id}" against a path, capturing the
 * segments: each "{...}" (named for the route's documentation, or "{}")
 * takes one non-empty segment. A capture never contains '/', so a "../"
 * in an id can't reach a handler. */
bool
kcr_http_route_match(const char *pat, const char *path, char *caps[KCR_HTTP_MAX_CAPTURES])
{
	int n = 0;

	while (*pat && *path) {
		if (pat[0] == '{') {
			const char *close = strchr(pat, '}');
			size_t len = strcspn(path, "/");

			if (close == NULL || len == 0 || n >= KCR_HTTP_MAX_CAPTURES)
				return false;
			caps[n++] = kcr_xstrndup(path, len);
			path += len;
			pat = close + 1;
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
		char *caps[KCR_HTTP_MAX_CAPTURES] = { NULL, NULL, NULL };

		if (!kcr_http_route_match(rt->pattern, r->path, caps)) {
			for (int i = 0; i < KCR_HTTP_MAX_CAPTURES; i++)
				free(caps[i]);
			continue;
		}
		*path_known = true;
		if (strcmp(rt->method, r->method) == 0) {
			memcpy(r->params, caps, sizeof(caps));
			return rt;
		}
		for (int i = 0; i < KCR_HTTP_MAX_CAPTURES; i++)
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
		char *caps[KCR_HTTP_MAX_CAPTURES] = { NULL, NULL, NULL };
		bool match = kcr_http_route_match(rt->pattern, path, caps);

		for (int i = 0; i < KCR_HTTP_MAX_CAPTURES; i++)
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

enum MHD_Result
http_on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
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

void
http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
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

/* Talking to a kcr-runner: HTTP/1.1, one request per connection, over the
 * sandbox's unix socket (or TCP for a pod). Written on plain sockets, not
 * libcurl: this is kcr's own IPC with a peer it knows (kcr-runner on
 * libmicrohttpd), on the path of every execution, and loading libcurl's
 * dependency tree costs a one-shot `kcr exec` ~6 ms before it does
 * anything. Talking to other servers (the API client, S3, Kubernetes)
 * stays with libcurl. */
#include <config.h>

#include "sandbox/runner_client.h"
#include "base/clock.h"
#include "base/encode.h"
#include "base/files.h"
#include "base/json.h"
#include "runner/proto.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define HEADER_MAX (64 * 1024)
/* A runner's reply is bounded even where the caller set no limit: the
 * runner sits next to untrusted code and must not make kcr run out of
 * memory (base64 output and state fit well below this). */
#define REPLY_MAX (512ull << 20)
/* How long a runner may take to answer, in all: a stalled or trickling
 * peer must never hold a thread of kcr's for good. An execution may take
 * its own timeout plus this (snapshots, the state, the outputs on a
 * loaded machine); any other call this alone. */
static uint64_t rc_timeout_ms = 120000;

void
kcr_runner_client_set_timeout(uint64_t ms)
{
	rc_timeout_ms = ms;
}

struct rc_response {
	long status;
	struct kcr_buf body;
	uint64_t max;
	int cancel_fd; /* > 0: the wait for the reply ends when it is readable */
};

/* Every send, recv and connect on fd gives up after ms: EAGAIN. */
static void
set_io_timeout(int fd, uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
			      .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int
connect_unix(const char *path, uint64_t timeout_ms, kcr_error_t *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return kcr_error_set(err, KCR_E_INVALID, 0, "socket path too long: '%s'", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "socket");
	set_io_timeout(fd, timeout_ms); /* a full backlog blocks connect */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return kcr_error_set(err, KCR_E_BACKEND, e, "cannot reach kcr-runner at %s", path);
	}
	return fd;
}

/* "http://host:port" (a pod's runner). */
static int
connect_tcp(const char *endpoint, uint64_t timeout_ms, kcr_error_t *err)
{
	kcr_autofree char *host = NULL;
	const char *hp = endpoint + 7, *colon = strrchr(hp, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	int fd = -1, rc;

	if (strncmp(endpoint, "http://", 7) != 0 || colon == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0, "bad runner endpoint '%s'", endpoint);
	host = kcr_xstrndup(hp, (size_t)(colon - hp));
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0)
		return kcr_error_set(err, KCR_E_BACKEND, 0, "runner %s: %s", endpoint,
				     gai_strerror(rc));
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0)
			set_io_timeout(fd, timeout_ms);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return kcr_error_set(err, KCR_E_BACKEND, errno, "cannot reach kcr-runner at %s",
				     endpoint);
	return fd;
}

/* send() with MSG_NOSIGNAL: a runner that died must not kill kcr. */
static int
send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
send_request(int fd, const char *method, const char *path, const void *body, size_t len,
	     const char *ctype, kcr_error_t *err)
{
	struct kcr_buf h;
	int r;

	kcr_buf_init(&h);
	kcr_buf_addf(&h, "%s %s HTTP/1.1\r\nHost: runner\r\nConnection: close\r\n", method, path);
	if (body)
		kcr_buf_addf(&h, "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype, len);
	kcr_buf_adds(&h, "\r\n");
	r = send_all(fd, h.data, h.len);
	kcr_buf_release(&h);
	if (r == 0 && body && len)
		r = send_all(fd, body, len);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return kcr_error_set(err, KCR_E_TIMEOUT, 0, "runner %s %s: not read in time",
				     method, path);
	if (r < 0)
		return kcr_error_set(err, KCR_E_BACKEND, errno, "runner %s %s", method, path);
	return 0;
}

/* Decodes a chunked body in place. */
static int
dechunk(struct kcr_buf *b)
{
	struct kcr_buf out;
	const char *p = b->data, *end = b->data + b->len;

	kcr_buf_init(&out);
	for (;;) {
		char *eol;
		unsigned long n = strtoul(p, &eol, 16);

		if (eol == p || end - eol < 2 || eol[0] != '\r' || (size_t)(end - eol - 2) < n) {
			kcr_buf_release(&out);
			return -1;
		}
		if (n == 0)
			break;
		kcr_buf_add(&out, eol + 2, n);
		p = eol + 2 + n + 2;
	}
	kcr_buf_release(b);
	*b = out;
	if (b->data == NULL)
		kcr_buf_add(b, "", 0);
	return 0;
}

/* Splits what the runner sent into status and body. */
static int
parse_response(struct kcr_buf *raw, struct rc_response *r, kcr_error_t *err)
{
	char *hdr_end = raw->data ? strstr(raw->data, "\r\n\r\n") : NULL;
	size_t off;
	bool chunked;

	if (raw->data == NULL || strncmp(raw->data, "HTTP/1.", 7) != 0 || hdr_end == NULL)
		return kcr_error_set(err, KCR_E_BACKEND, 0, "runner sent no HTTP response");
	r->status = strtol(raw->data + 9, NULL, 10);
	*hdr_end = '\0';
	chunked = strcasestr(raw->data, "\r\nTransfer-Encoding: chunked") != NULL;
	off = (size_t)(hdr_end + 4 - raw->data);
	kcr_buf_add(&r->body, raw->data + off, raw->len - off);
	if (chunked && dechunk(&r->body) < 0)
		return kcr_error_set(err, KCR_E_BACKEND, 0, "runner sent a bad chunked body");
	return 0;
}

/* Waits until fd has data or cancel_fd is readable (ECANCELED), as long
 * as a recv on fd would (its SO_RCVTIMEO: EAGAIN). */
static int
wait_readable(int fd, int cancel_fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = cancel_fd, .events = POLLIN } };
	struct timeval tv;
	socklen_t len = sizeof(tv);
	int ms = -1, n;

	if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0 &&
	    (tv.tv_sec || tv.tv_usec))
		ms = (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000);
	while ((n = poll(p, 2, ms)) < 0 && errno == EINTR)
		;
	if (n == 0)
		errno = EAGAIN;
	else if (n > 0 && p[1].revents)
		errno = ECANCELED;
	return n > 0 && !p[1].revents ? 0 : -1;
}

/* Reads to EOF (the runner closes: Connection: close), at most limit
 * bytes, before deadline (kcr_now_ms), unless cancel_fd (> 0) turns
 * readable first. */
static int
recv_all(int fd, int cancel_fd, size_t limit, uint64_t deadline, struct kcr_buf *raw,
	 kcr_error_t *err)
{
	char tmp[65536];

	for (;;) {
		ssize_t r = cancel_fd > 0 && wait_readable(fd, cancel_fd) < 0
				    ? -1
				    : recv(fd, tmp, sizeof(tmp), 0);

		if (r < 0 && errno == ECANCELED)
			return kcr_error_set(err, KCR_E_UNAVAILABLE, ECANCELED, "canceled");

		if (r < 0 && errno == EINTR)
			continue;
		if ((r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ||
		    (r > 0 && kcr_now_ms() > deadline))
			return kcr_error_set(err, KCR_E_TIMEOUT, 0,
					     "kcr-runner did not answer in time");
		if (r < 0)
			return kcr_error_set(err, KCR_E_BACKEND, errno, "reading from kcr-runner");
		if (r == 0)
			return 0;
		if (raw->len + (size_t)r > limit)
			return kcr_error_set(err, KCR_E_LIMIT, 0,
					     "larger than the limit of %zu bytes", limit);
		kcr_buf_add(raw, tmp, (size_t)r);
	}
}

static int
read_response(int fd, uint64_t deadline, struct rc_response *r, kcr_error_t *err)
{
	struct kcr_buf raw;
	int ret;

	if (r->max == 0 || r->max > REPLY_MAX)
		r->max = REPLY_MAX;
	kcr_buf_init(&raw);
	if (recv_all(fd, r->cancel_fd, (size_t)(r->max + HEADER_MAX), deadline, &raw, err) < 0) {
		kcr_buf_release(&raw);
		return kcr_error_wrap(err, "reading from kcr-runner");
	}
	if (raw.data == NULL)
		kcr_buf_add(&raw, "", 0);
	ret = parse_response(&raw, r, err);
	kcr_buf_release(&raw);
	if (ret == 0 && r->body.len > r->max)
		return kcr_error_set(err, KCR_E_LIMIT, 0, "larger than %llu bytes",
				     (unsigned long long)r->max);
	return ret;
}

/* An endpoint may name a part of its runner: "unix:/run/x.sock#/cells/ID"
 * or "http://10.0.0.5:8080/cells/ID"; requests go below that prefix. */
static int
rc_connect(const char *endpoint, uint64_t timeout_ms, const char **prefix, kcr_error_t *err)
{
	if (strncmp(endpoint, "unix:", 5) == 0) {
		const char *hash = strchr(endpoint, '#');
		kcr_autofree char *path = hash ? kcr_xstrndup(endpoint + 5,
							      (size_t)(hash - endpoint - 5))
					       : kcr_xstrdup(endpoint + 5);

		*prefix = hash ? hash + 1 : "";
		return connect_unix(path, timeout_ms, err);
	}
	if (strncmp(endpoint, "http://", 7) == 0) {
		const char *slash = strchr(endpoint + 7, '/');
		kcr_autofree char *hp = slash ? kcr_xstrndup(endpoint, (size_t)(slash - endpoint))
					      : kcr_xstrdup(endpoint);

		*prefix = slash ? slash : "";
		return connect_tcp(hp, timeout_ms, err);
	}
	return kcr_error_set(err, KCR_E_INVALID, 0, "bad runner endpoint '%s'", endpoint);
}

/* One request and its reply, within timeout_ms in all (rc_timeout_ms). */
static int
rc_request_within(const char *endpoint, uint64_t timeout_ms, const char *method, const char *path,
		  const void *body, size_t len, const char *ctype, struct rc_response *r,
		  kcr_error_t *err)
{
	const char *prefix = "";
	uint64_t deadline = kcr_now_ms() + timeout_ms;
	kcr_autoclose int fd = rc_connect(endpoint, timeout_ms, &prefix, err);
	kcr_autofree char *full = NULL;

	if (fd < 0)
		return -1;
	full = kcr_strdup_printf("%s%s", prefix, path);
	if (send_request(fd, method, full, body, len, ctype, err) < 0)
		return -1;
	return read_response(fd, deadline, r, err);
}

static int
rc_request(const char *endpoint, const char *method, const char *path, const void *body, size_t len,
	   const char *ctype, struct rc_response *r, kcr_error_t *err)
{
	return rc_request_within(endpoint, rc_timeout_ms, method, path, body, len, ctype, r, err);
}

/* The runner's {"error": "..."} message, or the HTTP status. */
static int
rc_fail(struct rc_response *r, const char *what, kcr_error_t *err)
{
	cJSON *o = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
	const char *e = kcr_json_str(o, "error");
	enum kcr_errc c = r->status == 404   ? KCR_E_NOTFOUND
			  : r->status == 400 ? KCR_E_INVALID
			  : r->status == 413 ? KCR_E_LIMIT
					     : KCR_E_BACKEND;

	kcr_error_set(err, c, 0, "%s: %s", what, e ? e : "runner answered an error");
	cJSON_Delete(o);
	return -1;
}

int
kcr_runner_execute(const char *endpoint, const struct kcr_exec_request *req,
		   struct kcr_exec_result *res, kcr_error_t *err)
{
	kcr_autofree char *body = kcr_proto_exec_req_encode(req);
	struct rc_response r = { 0 };
	int ret = -1;

	uint64_t run_ms = req->limits.timeout_ms ? req->limits.timeout_ms : KCR_DEFAULT_TIMEOUT_MS;

	if (rc_request_within(endpoint, run_ms + rc_timeout_ms, "POST", "/execute", body,
			      strlen(body), "application/json", &r, err) < 0)
		goto out;
	if (r.status != 200) {
		rc_fail(&r, "execute", err);
		goto out;
	}
	ret = kcr_proto_exec_res_decode(r.body.data, r.body.len, res, err);
out:
	kcr_buf_release(&r.body);
	return ret;
}

int
kcr_runner_put_file(const char *endpoint, const char *name, const void *buf, size_t len,
		    kcr_error_t *err)
{
	kcr_autofree char *esc = kcr_percent_encode(name);
	kcr_autofree char *path = kcr_strdup_printf("/files?name=%s", esc);
	struct rc_response r = { 0 };
	int ret = -1;

	if (rc_request(endpoint, "POST", path, len ? buf : "", len, "application/octet-stream", &r,
		       err) < 0)
		goto out;
	if (r.status != 201 && r.status != 200) {
		rc_fail(&r, name, err);
		goto out;
	}
	ret = 0;
out:
	kcr_buf_release(&r.body);
	return ret;
}

/* Reads up to the end of a response's headers (at most HEADER_MAX) into
 * head; what came after them stays in head past *hdr_len. */
static int
recv_head(int fd, uint64_t deadline, struct kcr_buf *head, size_t *hdr_len, kcr_error_t *err)
{
	char tmp[16384];

	for (;;) {
		char *end = head->data ? strstr(head->data, "\r\n\r\n") : NULL;
		ssize_t r;

		if (end) {
			*hdr_len = (size_t)(end + 4 - head->data);
			return 0;
		}
		if (head->len > HEADER_MAX)
			return kcr_error_set(err, KCR_E_BACKEND, 0, "runner sent headers too large");
		r = recv(fd, tmp, sizeof(tmp), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if ((r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ||
		    (r > 0 && kcr_now_ms() > deadline))
			return kcr_error_set(err, KCR_E_TIMEOUT, 0, "kcr-runner did not answer in time");
		if (r <= 0)
			return kcr_error_set(err, KCR_E_BACKEND, r < 0 ? errno : 0,
					     "runner sent no HTTP response");
		kcr_buf_add(head, tmp, (size_t)r);
	}
}

/* n bytes of a file's body: to out, counted against max. */
static int
body_out(int out, const void *p, size_t n, uint64_t *len, uint64_t max, kcr_error_t *err)
{
	if (*len + n > max)
		return kcr_error_set(err, KCR_E_LIMIT, 0, "larger than the limit of %llu bytes",
				     (unsigned long long)max);
	if (kcr_write_all(out, p, n) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "spooling a file");
	*len += n;
	return 0;
}

/* The rest of a 200's body, to EOF (Connection: close), which must be
 * Content-Length bytes when the runner sent one. */
static int
recv_body_to(int fd, int out, uint64_t deadline, uint64_t max, int64_t clen, uint64_t *len,
	     kcr_error_t *err)
{
	char tmp[65536];

	for (;;) {
		ssize_t r = recv(fd, tmp, sizeof(tmp), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if ((r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ||
		    (r > 0 && kcr_now_ms() > deadline))
			return kcr_error_set(err, KCR_E_TIMEOUT, 0, "kcr-runner did not answer in time");
		if (r < 0)
			return kcr_error_set(err, KCR_E_BACKEND, errno, "reading from kcr-runner");
		if (r == 0)
			break;
		if (body_out(out, tmp, (size_t)r, len, max, err) < 0)
			return -1;
	}
	if (clen >= 0 && *len != (uint64_t)clen)
		return kcr_error_set(err, KCR_E_BACKEND, 0,
				     "runner sent %llu of the file's %lld bytes",
				     (unsigned long long)*len, (long long)clen);
	return 0;
}

/* A response's Content-Length (-1 when none); head is NUL-terminated. */
static int64_t
content_length(const char *head)
{
	const char *h = strcasestr(head, "\r\nContent-Length:");

	return h ? strtoll(h + 17, NULL, 10) : -1;
}

/* Not a 200: the runner's {"error": ...}, read whole (it is small). */
static int
file_error(int fd, uint64_t deadline, struct kcr_buf *head, const char *name, kcr_error_t *err)
{
	struct rc_response r = { .max = 1 << 20 };
	int ret;

	if (recv_all(fd, -1, HEADER_MAX + (1 << 20), deadline, head, err) < 0)
		return kcr_error_wrap(err, "'%s'", name);
	ret = parse_response(head, &r, err);
	if (ret == 0)
		ret = rc_fail(&r, name, err);
	kcr_buf_release(&r.body);
	return ret;
}

int
kcr_runner_get_file(const char *endpoint, const char *name, uint64_t max, int out, uint64_t *len,
		    kcr_error_t *err)
{
	kcr_autofree char *esc = kcr_percent_encode(name);
	kcr_autofree char *path = kcr_strdup_printf("/files/%s", esc), *full = NULL;
	uint64_t deadline = kcr_now_ms() + rc_timeout_ms;
	const char *prefix = "";
	kcr_autoclose int fd = rc_connect(endpoint, rc_timeout_ms, &prefix, err);
	struct kcr_buf head;
	size_t hdr_len = 0;
	int ret = -1;

	*len = 0;
	if (fd < 0)
		return kcr_error_wrap(err, "'%s'", name);
	full = kcr_strdup_printf("%s%s", prefix, path);
	kcr_buf_init(&head);
	if (send_request(fd, "GET", full, NULL, 0, NULL, err) < 0 ||
	    recv_head(fd, deadline, &head, &hdr_len, err) < 0)
		goto out;
	if (strncmp(head.data, "HTTP/1.", 7) != 0 || strtol(head.data + 9, NULL, 10) != 200) {
		ret = file_error(fd, deadline, &head, name, err);
		kcr_buf_release(&head);
		return ret;
	}
	head.data[hdr_len - 2] = '\0'; /* the headers, for the lookups below */
	if (strcasestr(head.data, "\r\nTransfer-Encoding:")) {
		kcr_error_set(err, KCR_E_BACKEND, 0, "runner sent a file with a transfer encoding");
		goto out;
	}
	if (body_out(out, head.data + hdr_len, head.len - hdr_len, len, max, err) < 0 ||
	    recv_body_to(fd, out, deadline, max, content_length(head.data), len, err) < 0)
		goto out;
	ret = 0;
out:
	kcr_buf_release(&head);
	return ret < 0 ? kcr_error_wrap(err, "'%s'", name) : ret;
}

int
kcr_runner_health(const char *endpoint, kcr_error_t *err)
{
	struct rc_response r = { 0 };
	int ret = rc_request(endpoint, "GET", "/ready", NULL, 0, NULL, &r, err);

	if (ret == 0 && r.status != 200)
		ret = rc_fail(&r, "ready", err);
	kcr_buf_release(&r.body);
	return ret;
}

int
kcr_runner_call(const char *endpoint, const char *method, const char *path, const char *json,
		char **reply, kcr_error_t *err)
{
	return kcr_runner_call_cancelable(endpoint, method, path, json, -1, reply, err);
}

int
kcr_runner_call_cancelable(const char *endpoint, const char *method, const char *path,
			   const char *json, int cancel_fd, char **reply, kcr_error_t *err)
{
	struct rc_response r = { .max = 1 << 20, .cancel_fd = cancel_fd };
	int ret = -1;

	if (rc_request(endpoint, method, path, json, json ? strlen(json) : 0,
		       json ? "application/json" : NULL, &r, err) < 0)
		goto out;
	if (r.status < 200 || r.status > 299) {
		rc_fail(&r, path, err);
		goto out;
	}
	if (reply)
		*reply = r.body.data ? kcr_buf_steal(&r.body, NULL) : kcr_xstrdup("");
	ret = 0;
out:
	kcr_buf_release(&r.body);
	return ret;
}

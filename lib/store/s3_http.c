/* The s3 store's one HTTP request: signed (s3_sigv4.c), sent with libcurl
 * on an easy handle of its own (so any thread may call), connections
 * shared through the store's CURLSH, retried when S3 or the network says
 * trying again may work, and its failure told with S3's own words. */
#include <config.h>

#include "base/clock.h"
#include "base/encode.h"
#include "base/files.h"
#include "base/util.h"
#include "store/s3-internal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ERR_BODY_MAX    16384
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS  5000

/* One try: what the callbacks share. */
struct attempt {
	struct s3_req *req;
	CURL *curl;
	uint64_t sent;         /* body bytes handed to curl */
	struct kcr_buf got;    /* the body of a 2xx into memory */
	struct kcr_buf errbuf; /* the body of anything else */
	bool over_max, io_failed;
	int io_errno;
};

char *
s3_object_key(const struct s3_store *s, const char *key)
{
	return kcr_strdup_printf("%s%s", s->prefix, key);
}

static size_t
read_body(char *buf, size_t size, size_t n, void *p)
{
	struct attempt *a = p;
	const struct s3_body *b = a->req->body;
	size_t want = size * n;
	ssize_t r;

	if (want > b->len - a->sent)
		want = (size_t)(b->len - a->sent);
	if (want == 0)
		return 0;
	if (b->mem) {
		memcpy(buf, b->mem + b->off + a->sent, want);
		a->sent += want;
		return want;
	}
	do
		r = pread(b->fd, buf, want, (off_t)(b->off + a->sent));
	while (r < 0 && errno == EINTR);
	if (r <= 0) { /* the spool shrank or failed: never send short */
		a->io_failed = true;
		a->io_errno = r < 0 ? errno : 0;
		return CURL_READFUNC_ABORT;
	}
	a->sent += (uint64_t)r;
	return (size_t)r;
}

/* curl rewinds a body it must send again (a redirect, a reused
 * connection that closed). */
static int
seek_body(void *p, curl_off_t offset, int origin)
{
	struct attempt *a = p;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > a->req->body->len)
		return CURL_SEEKFUNC_CANTSEEK;
	a->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static size_t
sink_write(struct attempt *a, const char *buf, size_t n)
{
	struct s3_sink *k = a->req->sink;

	if (k == NULL)
		return n;
	if (k->written + n > k->max) {
		a->over_max = true;
		return 0;
	}
	if (k->fd >= 0) {
		if (kcr_write_all(k->fd, buf, n) < 0) {
			a->io_failed = true;
			a->io_errno = errno;
			return 0;
		}
	} else if (k->data) {
		kcr_buf_add(&a->got, buf, n);
	}
	k->written += n;
	return n;
}

static size_t
write_body(char *buf, size_t size, size_t n, void *p)
{
	struct attempt *a = p;
	long status = 0;

	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300)
		return sink_write(a, buf, size * n);
	if (a->errbuf.len < ERR_BODY_MAX)
		kcr_buf_add(&a->errbuf, buf, size * n);
	return size * n;
}

static size_t
read_header(char *buf, size_t size, size_t n, void *p)
{
	struct attempt *a = p;
	size_t len = size * n;

	/* a file over max is refused from its length, before its bytes */
	if (len > 15 && strncasecmp(buf, "Content-Length:", 15) == 0 && a->req->sink) {
		long status = 0;

		curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300 &&
		    strtoull(buf + 15, NULL, 10) > a->req->sink->max) {
			a->over_max = true;
			return 0;
		}
	}
	if (len > 5 && strncasecmp(buf, "ETag:", 5) == 0) {
		const char *v = buf + 5;
		size_t l = len - 5;

		while (l && (*v == ' ' || *v == '\t'))
			v++, l--;
		while (l && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
			l--;
		if (l < sizeof(a->req->etag)) {
			memcpy(a->req->etag, v, l);
			a->req->etag[l] = '\0';
		}
	}
	return len;
}

/* Host and path of a request, path-style or virtual-hosted. */
static void
request_target(const struct s3_store *s, const struct s3_req *req, char **host, char **path)
{
	kcr_autofree char *obj = req->key ? s3_object_key(s, req->key) : NULL;

	if (s->path_style) {
		*host = kcr_xstrdup(s->authority);
		*path = kcr_strdup_printf("%s/%s%s%s", s->base_path, s->bucket, obj ? "/" : "",
					  obj ? obj : "");
	} else {
		*host = kcr_strdup_printf("%s.%s", s->bucket, s->authority);
		*path = kcr_strdup_printf("%s/%s", s->base_path, obj ? obj : "");
	}
}

static int
sign(const struct s3_store *s, const struct s3_req *req, const char *host, const char *path,
     const char *hash, struct kcr_sigv4 *sig, kcr_error_t *err)
{
	struct kcr_sigv4_pair *h = kcr_xzalloc((req->n_headers + 1) * sizeof(*h));
	struct kcr_sigv4_request r = { req->method,        path, req->query, req->n_query, h,
				       req->n_headers + 1, hash };
	struct kcr_sigv4_key key = { s->access_key, s->secret_key, s->session_token, s->region,
				     "s3" };
	int ret;

	h[0] = (struct kcr_sigv4_pair){ "Host", host };
	for (size_t i = 0; i < req->n_headers; i++)
		h[i + 1] = req->headers[i];
	ret = kcr_sigv4_sign(&r, &key, time(NULL), sig, err);
	free(h);
	return ret;
}

static struct curl_slist *
header_list(const struct s3_req *req, const char *host, const struct kcr_sigv4 *sig)
{
	kcr_autofree char *h = kcr_strdup_printf("Host: %s", host);
	struct curl_slist *l = curl_slist_append(NULL, h);

	/* no 100-continue round trip: S3 answers a bad request after the body anyway */
	l = curl_slist_append(l, "Expect:");
	for (size_t i = 0; i < req->n_headers; i++) {
		kcr_autofree char *x =
			kcr_strdup_printf("%s: %s", req->headers[i].name, req->headers[i].value);

		l = curl_slist_append(l, x);
	}
	for (char **p = sig->send; *p; p++)
		l = curl_slist_append(l, *p);
	return l;
}

static void
set_method(CURL *c, const struct s3_req *req)
{
	curl_off_t len = req->body ? (curl_off_t)req->body->len : 0;

	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, len);
	} else if (strcmp(req->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, len);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	}
}

static void
set_options(const struct s3_store *s, struct attempt *a, const char *url, struct curl_slist *hl)
{
	CURL *c = a->curl;
	const struct s3_req *req = a->req;
	bool bounded = req->body == NULL && (req->sink == NULL || req->sink->fd < 0) &&
		       (req->sink == NULL || req->sink->max <= 1 << 20);

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms);
	/* a transfer may take long, but not stall: under a byte a second for
	 * the timeout is a dead peer */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
			 s->timeout_ms < 1000 ? 1L : s->timeout_ms / 1000);
	if (bounded)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
	if (s->ca_file && *s->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, read_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
	if (req->body) {
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(c, CURLOPT_READDATA, a);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_body);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, a);
	}
	set_method(c, req);
}

/* A sink starts every try empty. */
static int
sink_reset(struct s3_sink *k, kcr_error_t *err)
{
	if (k == NULL)
		return 0;
	k->written = 0;
	if (k->fd >= 0 && (ftruncate(k->fd, 0) < 0 || lseek(k->fd, 0, SEEK_SET) < 0))
		return kcr_error_set(err, KCR_E_IO, errno, "cannot rewind the download spool");
	return 0;
}

/* One try; *code is curl's result (CURLE_OK: req->status holds the HTTP
 * status, a->errbuf the body of a failure). */
static int
attempt_once(struct s3_store *s, struct attempt *a, const char *hash, CURLcode *code,
	     kcr_error_t *err)
{
	kcr_autofree char *host = NULL, *path = NULL, *url = NULL;
	struct kcr_sigv4 sig;
	struct curl_slist *hl;

	request_target(s, a->req, &host, &path);
	if (sign(s, a->req, host, path, hash, &sig, err) < 0)
		return -1;
	url = kcr_strdup_printf("%s://%s%s%s%s", s->scheme, host, sig.path, *sig.query ? "?" : "",
				sig.query);
	hl = header_list(a->req, host, &sig);
	a->curl = kcr_curl_handle_take(s->share);
	if (a->curl == NULL) {
		curl_slist_free_all(hl);
		kcr_sigv4_release(&sig);
		return kcr_error_set(err, KCR_E_INTERNAL, 0, "curl_easy_init failed");
	}
	set_options(s, a, url, hl);
	*code = curl_easy_perform(a->curl);
	a->req->status = 0;
	if (*code == CURLE_OK)
		curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &a->req->status);
	kcr_curl_handle_give(s->share, a->curl);
	a->curl = NULL;
	curl_slist_free_all(hl);
	kcr_sigv4_release(&sig);
	return 0;
}

static bool
retryable_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* What AWS documents as worth another try: server errors, throttling
 * (503 SlowDown, 429), and a request the server gave up reading. */
static bool
retryable_status(long status, const char *code)
{
	if (status >= 500 || status == 429)
		return true;
	return code && (strcmp(code, "RequestTimeout") == 0 || strcmp(code, "SlowDown") == 0 ||
			strcmp(code, "Throttling") == 0);
}

/* Exponential backoff with jitter: half the window fixed, half random,
 * so that replicas that failed together do not retry together. */
static void
backoff(int attempt)
{
	uint64_t win = BACKOFF_BASE_MS << (attempt < 10 ? attempt : 10);
	uint64_t ms;

	if (win > BACKOFF_CAP_MS)
		win = BACKOFF_CAP_MS;
	ms = win / 2 + (kcr_now_ns() / 1000 ^ (uint64_t)(uintptr_t)&win) % (win / 2 + 1);
	nanosleep(&(struct timespec){ (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 }, NULL);
}

static const char *
what(const struct s3_req *req)
{
	return req->key ? req->key : "(bucket)";
}

/* The final word on a try that did not succeed. */
static int
http_error(const struct s3_store *s, const struct s3_req *req, const char *body, kcr_error_t *err)
{
	kcr_autofree char *code = s3_xml_text(body, "Code", NULL);
	kcr_autofree char *msg = s3_xml_text(body, "Message", NULL);
	/* " Code: Message", or less when the body (a HEAD's) has none */
	kcr_autofree char *words = kcr_strdup_printf("%s%s%s%s", code ? " " : "", code ? code : "",
						     msg ? ": " : "", msg ? msg : "");

	if (req->status == 404 && (code ? strcmp(code, "NoSuchKey") == 0 : req->key != NULL))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no such file '%s'", req->key);
	if (req->status == 404 && (code == NULL || strcmp(code, "NoSuchBucket") == 0))
		return kcr_error_set(err, KCR_E_BACKEND, 0,
				     "bucket '%s' does not exist (HTTP 404%s)", s->bucket, words);
	if (req->status == 403)
		return kcr_error_set(err, KCR_E_BACKEND, 0,
				     "access denied to bucket '%s' (HTTP 403%s): check "
				     "store.s3.access_key and store.s3.secret_key",
				     s->bucket, words);
	return kcr_error_set(err, KCR_E_BACKEND, 0, "%s %s: HTTP %ld%s", req->method, what(req),
			     req->status, words);
}

static int
curl_error(const struct s3_req *req, const struct attempt *a, CURLcode code, int tries,
	   kcr_error_t *err)
{
	if (a->over_max)
		return kcr_error_set(err, KCR_E_LIMIT, 0, "file '%s' is over %llu bytes", req->key,
				     (unsigned long long)req->sink->max);
	if (a->io_failed)
		return kcr_error_set(err, KCR_E_IO, a->io_errno, "%s %s: local I/O failed",
				     req->method, what(req));
	/* no endpoint in the message: /ready shows it to anyone */
	return kcr_error_set(err, KCR_E_BACKEND, 0, "%s %s: %s (after %d tries)", req->method,
			     what(req), curl_easy_strerror(code), tries);
}

static const char *
payload_hash(const struct s3_store *s, const struct s3_req *req, char buf[65], kcr_error_t *err)
{
	const struct s3_body *b = req->body;

	if (req->payload_hash)
		return req->payload_hash;
	if (b == NULL || b->len == 0)
		return KCR_SIGV4_EMPTY_SHA256;
	/* over TLS the payload is protected in transit; not reading a
	 * spool twice is worth more than a second integrity check */
	if (s->secure && b->mem == NULL)
		return KCR_SIGV4_UNSIGNED_PAYLOAD;
	if (b->mem) {
		kcr_sha256_hex(b->mem + b->off, b->len, buf);
		return buf;
	}
	return s3_hash_range(b->fd, b->off, b->len, buf, err) < 0 ? NULL : buf;
}

static void
attempt_release(struct attempt *a)
{
	kcr_buf_release(&a->got);
	kcr_buf_release(&a->errbuf);
}

int
s3_request(struct s3_store *s, struct s3_req *req, kcr_error_t *err)
{
	char hbuf[65];
	const char *hash = payload_hash(s, req, hbuf, err);
	struct attempt a = { .req = req };

	if (hash == NULL)
		return -1;
	for (int tries = 1;; tries++) {
		CURLcode code = CURLE_OK;
		kcr_autofree char *scode = NULL;

		attempt_release(&a);
		a = (struct attempt){ .req = req };
		kcr_buf_init(&a.got);
		kcr_buf_init(&a.errbuf);
		if (sink_reset(req->sink, err) < 0 || attempt_once(s, &a, hash, &code, err) < 0)
			break;
		if (code == CURLE_OK && req->status >= 200 && req->status < 300) {
			if (req->sink && req->sink->data) {
				*req->sink->len = a.got.len;
				*req->sink->data = kcr_buf_steal(&a.got, NULL);
				if (*req->sink->data == NULL)
					*req->sink->data = kcr_xzalloc(1);
			}
			attempt_release(&a);
			return 0;
		}
		if (code == CURLE_OK)
			scode = s3_xml_text(a.errbuf.data ? a.errbuf.data : "", "Code", NULL);
		if (tries <= s->retries && !a.over_max && !a.io_failed &&
		    (code == CURLE_OK ? retryable_status(req->status, scode)
				      : retryable_curl(code))) {
			backoff(tries - 1);
			continue;
		}
		if (code != CURLE_OK)
			curl_error(req, &a, code, tries, err);
		else
			http_error(s, req, a.errbuf.data ? a.errbuf.data : "", err);
		break;
	}
	attempt_release(&a);
	return -1;
}

/* ---- small helpers ------------------------------------------------------------ */

static void
xml_unescape(char *s)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = { { "&amp;", '&' },
		     { "&lt;", '<' },
		     { "&gt;", '>' },
		     { "&quot;", '"' },
		     { "&apos;", '\'' } };
	char *o = s;

	while (*s) {
		size_t i;

		for (i = 0; *s == '&' && i < KCR_ARRAY_SIZE(ents); i++)
			if (strncmp(s, ents[i].ent, strlen(ents[i].ent)) == 0)
				break;
		if (*s == '&' && i < KCR_ARRAY_SIZE(ents)) {
			*o++ = ents[i].c;
			s += strlen(ents[i].ent);
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

char *
s3_xml_text(const char *xml, const char *tag, const char **pos)
{
	kcr_autofree char *open = kcr_strdup_printf("<%s>", tag);
	kcr_autofree char *close = kcr_strdup_printf("</%s>", tag);
	const char *from = pos && *pos ? *pos : xml, *a, *b;
	char *text;

	if (xml == NULL || (a = strstr(from, open)) == NULL)
		return NULL;
	a += strlen(open);
	if ((b = strstr(a, close)) == NULL)
		return NULL;
	text = kcr_xstrndup(a, (size_t)(b - a));
	xml_unescape(text);
	if (pos)
		*pos = b + strlen(close);
	return text;
}

int
s3_hash_range(int fd, uint64_t off, uint64_t len, char out[65], kcr_error_t *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	char buf[65536];
	int ret = -1;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	while (len > 0) {
		ssize_t r =
			pread(fd, buf, len < sizeof(buf) ? (size_t)len : sizeof(buf), (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			kcr_error_set(err, KCR_E_IO, r < 0 ? errno : 0,
				      "cannot read the spool to upload");
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	EVP_DigestFinal_ex(ctx, md, NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[64] = '\0';
	ret = 0;
out:
	if (ret < 0 && (err == NULL || *err == NULL))
		kcr_error_set(err, KCR_E_INTERNAL, 0, "SHA-256 failed");
	EVP_MD_CTX_free(ctx);
	return ret;
}

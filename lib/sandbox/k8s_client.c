/* The Kubernetes API client's requests: libcurl on an easy handle per
 * call (any thread may call), connections, DNS answers and TLS sessions
 * shared through the client's CURLSH; TLS with the cluster's CA and our
 * client certificate from memory or files; a bearer token; bounded
 * retries with backoff where trying again is safe; replies bounded in
 * size; the API server's Status objects told as kcr errors. */
#include <config.h>

#include "base/clock.h"
#include "base/encode.h"
#include "base/files.h"
#include "base/json.h"
#include "base/util.h"
#include "sandbox/k8s-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS     10000
#define DEFAULT_BACKOFF_MS     200
#define DEFAULT_BACKOFF_MAX_MS 5000

/* ---- the client ----------------------------------------------------------- */

struct kcr_k8s *
kcr_k8s_new(const struct kcr_k8s_config *cfg, const struct kcr_k8s_opts *opts, kcr_error_t *err)
{
	struct kcr_k8s *k;
	size_t n;

	if (cfg->server == NULL || *cfg->server == '\0') {
		kcr_error_set(err, KCR_E_INVALID, 0, "no Kubernetes API server configured");
		return NULL;
	}
	if (kcr_curl_load(err) < 0)
		return NULL;
	k = kcr_xzalloc(sizeof(*k));
	k8s_config_copy(&k->cfg, cfg);
	if (opts)
		k->opts = *opts;
	if (k->opts.timeout_ms == 0)
		k->opts.timeout_ms = DEFAULT_TIMEOUT_MS;
	if (k->opts.backoff_ms == 0)
		k->opts.backoff_ms = DEFAULT_BACKOFF_MS;
	if (k->opts.backoff_max_ms == 0)
		k->opts.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
	n = strlen(cfg->server);
	while (n > 0 && cfg->server[n - 1] == '/')
		n--;
	k->base = kcr_xstrndup(cfg->server, n);
	k8s_creds_init(&k->creds);
	k->share = kcr_curl_share_new(err);
	if (k->share == NULL) {
		kcr_k8s_free(k);
		return NULL;
	}
	return k;
}

void
kcr_k8s_free(struct kcr_k8s *k)
{
	if (k == NULL)
		return;
	kcr_curl_share_free(k->share);
	k8s_creds_release(&k->creds);
	kcr_k8s_config_release(&k->cfg);
	free(k->base);
	free(k);
}

const char *
kcr_k8s_namespace(const struct kcr_k8s *k)
{
	return k->cfg.namespace;
}

const char *
kcr_k8s_server(const struct kcr_k8s *k)
{
	return k->cfg.server;
}

char *
kcr_k8s_query_escape(const char *s)
{
	return kcr_percent_encode(s);
}

/* ---- one try ------------------------------------------------------------------ */

void
k8s_call_init(struct k8s_call *c)
{
	memset(c, 0, sizeof(*c));
	c->out_fd = -1;
	c->retry_after_ms = -1;
	kcr_buf_init(&c->body_in);
}

void
k8s_call_release(struct k8s_call *c)
{
	kcr_buf_release(&c->body_in);
	if (c->headers)
		curl_slist_free_all(c->headers);
	c->headers = NULL;
}

void
k8s_call_reset(struct k8s_call *c)
{
	kcr_buf_release(&c->body_in);
	if (c->headers)
		curl_slist_free_all(c->headers);
	c->headers = NULL;
	c->status = 0;
	c->written = 0;
	c->retry_after_ms = -1;
	c->over_max = c->io_failed = c->stopped = false;
	c->io_errno = 0;
	c->code = CURLE_OK;
	c->errbuf[0] = '\0';
	c->last_byte_ms = kcr_now_ms();
}

static bool
is_2xx(long status)
{
	return status >= 200 && status < 300;
}

static size_t
on_header(char *buf, size_t size, size_t n, void *p)
{
	struct k8s_call *c = p;
	size_t len = size * n;

	c->last_byte_ms = kcr_now_ms();
	if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* a new response (after a 100 Continue, say) */
		c->retry_after_ms = -1;
		c->status = strtol(buf + strcspn(buf, " "), NULL, 10);
	} else if (len > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
		char *end;
		long s = strtol(buf + 12, &end, 10);

		if (end != buf + 12 && s >= 0)
			c->retry_after_ms = s > K8S_RETRY_AFTER_MAX_MS / 1000
						    ? K8S_RETRY_AFTER_MAX_MS
						    : s * 1000;
	} else if (len > 15 && strncasecmp(buf, "Content-Length:", 15) == 0 && is_2xx(c->status) &&
		   strtoull(buf + 15, NULL, 10) > c->max) {
		/* refused from its length, before its bytes */
		c->over_max = true;
		return 0;
	}
	return len;
}

static size_t
on_write(char *buf, size_t size, size_t n, void *p)
{
	struct k8s_call *c = p;
	size_t len = size * n;

	c->last_byte_ms = kcr_now_ms();
	if (!is_2xx(c->status)) {
		if (c->body_in.len < K8S_ERR_BODY_MAX)
			kcr_buf_add(&c->body_in, buf,
				    len < K8S_ERR_BODY_MAX - c->body_in.len
					    ? len
					    : K8S_ERR_BODY_MAX - c->body_in.len);
		return len;
	}
	if (len > c->max - c->written) {
		c->over_max = true;
		return 0;
	}
	if (c->on_data) {
		if (!c->on_data(c->arg, buf, len)) {
			c->stopped = true;
			return 0;
		}
	} else if (c->out_fd >= 0) {
		if (kcr_write_all(c->out_fd, buf, len) < 0) {
			c->io_failed = true;
			c->io_errno = errno;
			return 0;
		}
	} else {
		kcr_buf_add(&c->body_in, buf, len);
	}
	c->written += len;
	c->written_total += len;
	return len;
}

static void
set_tls(CURL *h, const struct kcr_k8s *k, const struct k8s_auth *a)
{
	const struct kcr_k8s_config *cfg = &k->cfg;

	if (cfg->insecure_skip_tls_verify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (cfg->ca_pem) {
		struct curl_blob b = { cfg->ca_pem, strlen(cfg->ca_pem), CURL_BLOB_COPY };

		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
	} else if (cfg->ca_file) {
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	}
	if (a->cert_pem && a->key_pem) {
		struct curl_blob c = { a->cert_pem, strlen(a->cert_pem), CURL_BLOB_COPY };
		struct curl_blob key = { a->key_pem, strlen(a->key_pem), CURL_BLOB_COPY };

		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &c);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (cfg->cert_file && cfg->key_file) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->cert_file);
		curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->key_file);
	}
}

static void
set_method(CURL *h, const struct k8s_call *c)
{
	if (c->has_body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body ? c->body : "");
	}
	if (strcmp(c->method, "GET") == 0 && !c->has_body)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else if (strcmp(c->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(c->method, "POST") != 0 || !c->has_body)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
}

static struct curl_slist *
header_list(const struct k8s_call *c, const struct k8s_auth *a)
{
	struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json, */*");

	/* no 100-continue round trip: the bodies are small */
	l = curl_slist_append(l, "Expect:");
	if (c->has_body) {
		kcr_autofree char *ct = kcr_strdup_printf(
			"Content-Type: %s", c->content_type ? c->content_type : "application/json");

		l = curl_slist_append(l, ct);
	}
	if (a->token && *a->token) {
		kcr_autofree char *h = kcr_strdup_printf("Authorization: Bearer %s", a->token);

		l = curl_slist_append(l, h);
		explicit_bzero(h, strlen(h));
	}
	return l;
}

CURL *
k8s_easy(struct kcr_k8s *k, struct k8s_call *c, const struct k8s_auth *a, uint64_t timeout_ms,
	 kcr_error_t *err)
{
	kcr_autofree char *url = kcr_strdup_printf("%s%s", k->base, c->path);
	CURL *h = kcr_curl_handle_take(k->share);
	uint64_t connect_ms = k->opts.timeout_ms;

	if (h == NULL) {
		kcr_error_set(err, KCR_E_INTERNAL, 0, "curl_easy_init failed");
		return NULL;
	}
	if (timeout_ms == 0)
		timeout_ms = c->timeout_ms;
	if (timeout_ms && timeout_ms < connect_ms)
		connect_ms = timeout_ms;
	c->headers = header_list(c, a);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "kcr/" PACKAGE_VERSION);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	if (timeout_ms)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	if (c->fresh)
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	set_tls(h, k, a);
	set_method(h, c);
	return h;
}

/* ---- retries ---------------------------------------------------------------------- */

bool
k8s_retryable(const struct k8s_call *c, bool nothing_sent)
{
	bool safe = strcmp(c->method, "GET") == 0 || strcmp(c->method, "HEAD") == 0;

	if (c->over_max || c->io_failed || c->stopped)
		return false;
	/* bytes already handed on cannot be taken back */
	if (c->written_total > 0 && (c->out_fd >= 0 || c->on_data))
		return false;
	if (c->code == CURLE_OK)
		return c->status == 429 || c->status == 503 || (safe && c->status >= 500);
	switch (c->code) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return true;
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SSL_CONNECT_ERROR:
		return safe || nothing_sent;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return safe;
	default:
		return false;
	}
}

/* xorshift, seeded per thread from the clock and the thread */
static uint64_t
jitter_rand(void)
{
	static __thread uint64_t s;

	if (s == 0)
		s = kcr_now_ns() ^ ((uint64_t)(uintptr_t)&s << 16) ^ ((uint64_t)getpid() << 40) ^ 1;
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

void
k8s_backoff(const struct kcr_k8s *k, struct k8s_call *c, unsigned int tries, uint64_t deadline_ms)
{
	uint64_t ms, now = kcr_now_ms();

	c->fresh = true;
	if (c->retry_after_ms >= 0) {
		ms = (uint64_t)c->retry_after_ms;
	} else {
		/* exponential, half of the window fixed, half random: replicas
		 * that failed together do not come back together */
		uint64_t win = k->opts.backoff_ms
			       << (tries > 1 ? (tries - 1 < 20 ? tries - 1 : 20) : 0);

		if (win > k->opts.backoff_max_ms)
			win = k->opts.backoff_max_ms;
		ms = win / 2 + jitter_rand() % (win / 2 + 1);
	}
	if (deadline_ms && now + ms > deadline_ms)
		ms = deadline_ms > now ? deadline_ms - now : 0;
	nanosleep(&(struct timespec){ (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 }, NULL);
}

/* ---- errors --------------------------------------------------------------------- */

enum kcr_errc
k8s_status_errc(long status)
{
	switch (status) {
	case 400:
	case 422:
		return KCR_E_INVALID;
	case 401:
	case 403:
		return KCR_E_AUTH;
	case 404:
		return KCR_E_NOTFOUND;
	case 409:
	case 410:
		return KCR_E_CONFLICT;
	case 408:
	case 504:
		return KCR_E_TIMEOUT;
	case 413:
		return KCR_E_LIMIT;
	case 429:
		return KCR_E_UNAVAILABLE;
	default:
		return status >= 500 ? KCR_E_UNAVAILABLE : KCR_E_BACKEND;
	}
}

static int
set_http(kcr_error_t *err, long status)
{
	if (err && *err)
		(*err)->sys_errno = (int)status;
	return -1;
}

/* The path without its query, for messages. */
static int
path_len(const char *path)
{
	size_t n = strcspn(path, "?");

	return n > 200 ? 200 : (int)n;
}

int
k8s_reply_error(const struct k8s_call *c, kcr_error_t *err)
{
	cJSON *j = c->body_in.len ? cJSON_ParseWithLength(c->body_in.data, c->body_in.len) : NULL;
	const char *kind = kcr_json_str(j, "kind"), *msg = NULL;
	enum kcr_errc code = k8s_status_errc(c->status);

	if (kind && strcmp(kind, "Status") == 0)
		msg = kcr_json_str(j, "message");
	else if (kcr_json_str(j, "error")) /* kcr-runner's, through the pod proxy */
		msg = kcr_json_str(j, "error");
	else if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "error")))
		msg = kcr_json_str(cJSON_GetObjectItemCaseSensitive(j, "error"), "message");
	if (msg && *msg)
		kcr_error_set(err, code, 0, "%s", msg);
	else
		kcr_error_set(err, code, 0, "%s %.*s: HTTP %ld", c->method, path_len(c->path),
			      c->path, c->status);
	cJSON_Delete(j);
	return set_http(err, c->status);
}

int
k8s_transport_error(const struct k8s_call *c, unsigned int tries, kcr_error_t *err)
{
	const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(c->code);
	int p = path_len(c->path);

	if (c->over_max) {
		kcr_error_set(err, c->max_is_limit ? KCR_E_LIMIT : KCR_E_BACKEND, 0,
			      "%s %.*s: the reply is over %llu bytes", c->method, p, c->path,
			      (unsigned long long)c->max);
		return set_http(err, c->status);
	}
	if (c->io_failed)
		return kcr_error_set(err, KCR_E_IO, c->io_errno, "%s %.*s: cannot write the reply",
				     c->method, p, c->path);
	if (c->code == CURLE_OPERATION_TIMEDOUT)
		return kcr_error_set(err, KCR_E_TIMEOUT, 0, "%s %.*s: %s (after %u %s)", c->method,
				     p, c->path, why, tries, tries == 1 ? "try" : "tries");
	switch (c->code) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CRL_BADFILE:
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				     "%s %.*s: no TLS session with the Kubernetes API server: %s",
				     c->method, p, c->path, why);
	default:
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				     "%s %.*s: cannot reach the Kubernetes API server: %s (after "
				     "%u %s)",
				     c->method, p, c->path, why, tries,
				     tries == 1 ? "try" : "tries");
	}
}

/* ---- a request, tried again while it may be ----------------------------------------- */

static int
try_once(struct kcr_k8s *k, struct k8s_call *c, uint64_t timeout_ms, bool *nothing_sent,
	 kcr_error_t *err)
{
	struct k8s_auth a;
	curl_off_t pre = 0;
	CURL *h;

	k8s_call_reset(c);
	if (k8s_auth_get(k, &a, err) < 0)
		return -1;
	h = k8s_easy(k, c, &a, timeout_ms, err);
	k8s_auth_release(&a);
	if (h == NULL)
		return -1;
	c->code = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre);
	*nothing_sent = pre == 0;
	kcr_curl_handle_give(k->share, h);
	/* the body of a write stopped on purpose counts as a reply */
	if (c->code == CURLE_WRITE_ERROR && !c->over_max && !c->io_failed && !c->stopped)
		c->code = CURLE_RECV_ERROR;
	return 0;
}

int
k8s_perform(struct kcr_k8s *k, struct k8s_call *c, uint64_t deadline_ms, kcr_error_t *err)
{
	bool reauth = false;

	for (unsigned int tries = 1;; tries++) {
		uint64_t t = 0, now = kcr_now_ms();
		bool nothing_sent = false;

		if (deadline_ms) {
			if (now >= deadline_ms)
				return kcr_error_set(err, KCR_E_TIMEOUT, 0,
						     "%s %.*s: no answer in time (after %u %s)",
						     c->method, path_len(c->path), c->path,
						     tries - 1, tries == 2 ? "try" : "tries");
			t = deadline_ms - now;
			if (c->timeout_ms && c->timeout_ms < t)
				t = c->timeout_ms;
		}
		if (try_once(k, c, t, &nothing_sent, err) < 0)
			return -1;
		if (c->code == CURLE_OK && is_2xx(c->status))
			return 0;
		/* a revoked or rotated credential: ask the plugin again, once */
		if (c->code == CURLE_OK && c->status == 401 && !reauth && k8s_auth_invalidate(k)) {
			reauth = true;
			tries--;
			continue;
		}
		if (tries <= k->opts.retries && k8s_retryable(c, nothing_sent) &&
		    (deadline_ms == 0 || kcr_now_ms() < deadline_ms)) {
			k8s_backoff(k, c, tries, deadline_ms);
			continue;
		}
		if (c->code == CURLE_OK && !c->over_max)
			return k8s_reply_error(c, err);
		return k8s_transport_error(c, tries, err);
	}
}

/* ---- the requests --------------------------------------------------------------------- */

static bool
blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n", s[i]))
			return false;
	return true;
}

int
kcr_k8s_request(struct kcr_k8s *k, const char *method, const char *path, const char *content_type,
		const char *body, cJSON **reply, long *http, kcr_error_t *err)
{
	struct k8s_call c;
	int r;

	k8s_call_init(&c);
	c.method = method;
	c.path = path;
	c.content_type = content_type;
	c.body = body;
	c.body_len = body ? strlen(body) : 0;
	c.has_body = body != NULL;
	c.timeout_ms = k->opts.timeout_ms;
	c.max = K8S_REPLY_MAX;
	if (reply)
		*reply = NULL;
	r = k8s_perform(k, &c, 0, err);
	if (http)
		*http = c.status;
	if (r == 0 && reply && !blank(c.body_in.data, c.body_in.len)) {
		*reply = cJSON_ParseWithLength(c.body_in.data, c.body_in.len);
		if (*reply == NULL) {
			kcr_error_set(err, KCR_E_BACKEND, 0, "%s %.*s: the reply is not JSON",
				      method, path_len(path), path);
			r = set_http(err, c.status);
		}
	}
	k8s_call_release(&c);
	return r;
}

int
kcr_k8s_get(struct kcr_k8s *k, const char *path, cJSON **reply, kcr_error_t *err)
{
	return kcr_k8s_request(k, "GET", path, NULL, NULL, reply, NULL, err);
}

static int
send_json(struct kcr_k8s *k, const char *method, const char *path, const char *ctype,
	  const cJSON *obj, cJSON **reply, kcr_error_t *err)
{
	kcr_autofree char *body = cJSON_PrintUnformatted(obj);

	if (body == NULL)
		kcr_oom();
	return kcr_k8s_request(k, method, path, ctype, body, reply, NULL, err);
}

int
kcr_k8s_create(struct kcr_k8s *k, const char *path, const cJSON *obj, cJSON **reply,
	       kcr_error_t *err)
{
	return send_json(k, "POST", path, NULL, obj, reply, err);
}

int
kcr_k8s_merge_patch(struct kcr_k8s *k, const char *path, const cJSON *patch, cJSON **reply,
		    kcr_error_t *err)
{
	return send_json(k, "PATCH", path, "application/merge-patch+json", patch, reply, err);
}

int
kcr_k8s_delete(struct kcr_k8s *k, const char *path, int grace_seconds, const char *propagation,
	       kcr_error_t *err)
{
	cJSON *o = cJSON_CreateObject();
	kcr_error_t e = NULL;
	int r;

	cJSON_AddStringToObject(o, "kind", "DeleteOptions");
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	if (grace_seconds >= 0)
		cJSON_AddNumberToObject(o, "gracePeriodSeconds", grace_seconds);
	if (propagation)
		cJSON_AddStringToObject(o, "propagationPolicy", propagation);
	r = send_json(k, "DELETE", path, NULL, o, NULL, &e);
	cJSON_Delete(o);
	if (r < 0 && e->code == KCR_E_NOTFOUND) {
		kcr_error_free(e);
		return 0;
	}
	if (r < 0 && err && *err == NULL)
		*err = e;
	else
		kcr_error_free(e);
	return r;
}

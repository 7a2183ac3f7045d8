/* AWS Signature Version 4 (s3_sigv4.h): canonical request, string to
 * sign, signing key, Authorization. */
#include <config.h>

#include "base/encode.h"
#include "base/util.h"
#include "store/s3_sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hdr {
	char *name, *value; /* lower-cased; trimmed and collapsed */
	size_t order;       /* keeps the values of a repeated name in order */
};

static bool
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

char *
kcr_sigv4_encode(const char *s, int keep_slash)
{
	struct kcr_buf b;

	kcr_buf_init(&b);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p) || (keep_slash && *p == '/'))
			kcr_buf_add(&b, p, 1);
		else
			kcr_buf_addf(&b, "%%%02X", *p);
	}
	return kcr_buf_steal(&b, NULL);
}

/* RFC 3986 dot-segment removal plus empty segments, for services other
 * than S3; a trailing '/' stays. */
static char *
normalize_path(const char *path)
{
	kcr_autofree char *copy = kcr_xstrdup(path);
	kcr_autofree char **segs = kcr_xzalloc((strlen(path) + 1) * sizeof(char *));
	size_t n = 0, len = strlen(path);
	struct kcr_buf b;
	char *save = NULL;

	for (char *s = strtok_r(copy, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (strcmp(s, ".") == 0)
			continue;
		if (strcmp(s, "..") == 0) {
			n -= n > 0;
			continue;
		}
		segs[n++] = s;
	}
	kcr_buf_init(&b);
	for (size_t i = 0; i < n; i++)
		kcr_buf_addf(&b, "/%s", segs[i]);
	if (n == 0 || (len > 1 && path[len - 1] == '/'))
		kcr_buf_adds(&b, "/");
	return kcr_buf_steal(&b, NULL);
}

static bool
token_char(unsigned char c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

/* Trimall: no blanks around the value, one space for each run inside. */
static char *
trim_all(const char *v)
{
	char *out = kcr_xmalloc(strlen(v) + 1), *o = out;

	while (*v == ' ' || *v == '\t')
		v++;
	while (*v) {
		if (*v == ' ' || *v == '\t') {
			while (*v == ' ' || *v == '\t')
				v++;
			if (*v)
				*o++ = ' ';
			continue;
		}
		*o++ = *v++;
	}
	*o = '\0';
	return out;
}

static int
hdr_add(struct hdr *h, size_t *n, const char *name, const char *value, kcr_error_t *err)
{
	if (*name == '\0')
		return kcr_error_set(err, KCR_E_INVALID, 0, "empty header name");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (!token_char(*p))
			return kcr_error_set(err, KCR_E_INVALID, 0, "bad header name '%s'", name);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if ((*p < 32 && *p != '\t') || *p == 127)
			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "a control character in header '%s'", name);
	h[*n].name = kcr_xstrdup(name);
	for (char *p = h[*n].name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	h[*n].value = trim_all(value);
	h[*n].order = *n;
	(*n)++;
	return 0;
}

static int
hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void
hdrs_free(struct hdr *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
}

/* "name:v1,v2\n..." and "name;name2" from the sorted headers. */
static void
canonical_headers(const struct hdr *h, size_t n, struct kcr_buf *canon, struct kcr_buf *signed_)
{
	for (size_t i = 0; i < n; i++) {
		bool same = i > 0 && strcmp(h[i - 1].name, h[i].name) == 0;

		if (same) {
			kcr_buf_addf(canon, ",%s", h[i].value);
			continue;
		}
		if (i > 0)
			kcr_buf_adds(canon, "\n");
		kcr_buf_addf(canon, "%s:%s", h[i].name, h[i].value);
		kcr_buf_addf(signed_, "%s%s", signed_->len ? ";" : "", h[i].name);
	}
	kcr_buf_adds(canon, "\n");
}

struct qpair {
	char *name, *value;
};

static int
qpair_cmp(const void *a, const void *b)
{
	const struct qpair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static char *
canonical_query(const struct kcr_sigv4_pair *q, size_t n)
{
	struct qpair *p = kcr_xzalloc((n + 1) * sizeof(*p));
	struct kcr_buf b;

	for (size_t i = 0; i < n; i++) {
		p[i].name = kcr_sigv4_encode(q[i].name, 0);
		p[i].value = kcr_sigv4_encode(q[i].value ? q[i].value : "", 0);
	}
	qsort(p, n, sizeof(*p), qpair_cmp);
	kcr_buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		kcr_buf_addf(&b, "%s%s=%s", i ? "&" : "", p[i].name, p[i].value);
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
	return kcr_buf_steal(&b, NULL);
}

static void
hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region),
 * service), "aws4_request"), then the signature of the string to sign. */
static void
signature(const struct kcr_sigv4_key *key, const char *date, const char *sts, char out[65])
{
	kcr_autofree char *k0 = kcr_strdup_printf("AWS4%s", key->secret_key);
	unsigned char k[32], sig[32];

	hmac(k0, strlen(k0), date, k);
	hmac(k, sizeof(k), key->region, k);
	hmac(k, sizeof(k), key->service, k);
	hmac(k, sizeof(k), "aws4_request", k);
	hmac(k, sizeof(k), sts, sig);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", sig[i]);
	out[64] = '\0';
	OPENSSL_cleanse(k, sizeof(k));
}

static int
check_request(const struct kcr_sigv4_request *req, const struct kcr_sigv4_key *key,
	      kcr_error_t *err)
{
	if (req->method == NULL || req->path == NULL || req->path[0] != '/' ||
	    req->payload_hash == NULL || key->access_key == NULL || key->secret_key == NULL ||
	    key->region == NULL || key->service == NULL || *key->access_key == '\0' ||
	    *key->region == '\0')
		return kcr_error_set(err, KCR_E_INVALID, 0, "incomplete request to sign");
	return 0;
}

/* The caller's headers and the ones signing adds, sorted. */
static struct hdr *
all_headers(const struct kcr_sigv4_request *req, const struct kcr_sigv4_key *key,
	    const char *amz_date, bool s3, size_t *n, kcr_error_t *err)
{
	struct hdr *h = kcr_xzalloc((req->n_headers + 4) * sizeof(*h));
	int r = 0;

	*n = 0;
	for (size_t i = 0; r == 0 && i < req->n_headers; i++)
		r = hdr_add(h, n, req->headers[i].name, req->headers[i].value, err);
	if (r == 0)
		r = hdr_add(h, n, "x-amz-date", amz_date, err);
	if (r == 0 && s3)
		r = hdr_add(h, n, "x-amz-content-sha256", req->payload_hash, err);
	if (r == 0 && key->session_token && *key->session_token)
		r = hdr_add(h, n, "x-amz-security-token", key->session_token, err);
	if (r < 0) {
		hdrs_free(h, *n);
		return NULL;
	}
	qsort(h, *n, sizeof(*h), hdr_cmp);
	return h;
}

static void
fill_send(struct kcr_sigv4 *out, const struct kcr_sigv4_key *key,
	  const struct kcr_sigv4_request *req, bool s3)
{
	kcr_autofree char *date = kcr_strdup_printf("X-Amz-Date: %s", out->amz_date);

	kcr_strv_push(&out->send, date);
	if (s3) {
		kcr_autofree char *l =
			kcr_strdup_printf("X-Amz-Content-SHA256: %s", req->payload_hash);

		kcr_strv_push(&out->send, l);
	}
	if (key->session_token && *key->session_token) {
		kcr_autofree char *l =
			kcr_strdup_printf("X-Amz-Security-Token: %s", key->session_token);

		kcr_strv_push(&out->send, l);
	}
	{
		kcr_autofree char *l = kcr_strdup_printf("Authorization: %s", out->authorization);

		kcr_strv_push(&out->send, l);
	}
}

int
kcr_sigv4_sign(const struct kcr_sigv4_request *req, const struct kcr_sigv4_key *key, time_t when,
	       struct kcr_sigv4 *out, kcr_error_t *err)
{
	bool s3;
	struct tm tm;
	struct hdr *h;
	size_t nh;
	struct kcr_buf canon, signed_;
	kcr_autofree char *path = NULL, *scope = NULL;
	char date[9], hash[65];

	memset(out, 0, sizeof(*out));
	if (check_request(req, key, err) < 0)
		return -1;
	s3 = strcmp(key->service, "s3") == 0;
	gmtime_r(&when, &tm);
	strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ", &tm);
	memcpy(date, out->amz_date, 8);
	date[8] = '\0';
	h = all_headers(req, key, out->amz_date, s3, &nh, err);
	if (h == NULL)
		return -1;
	path = s3 ? kcr_xstrdup(req->path) : normalize_path(req->path);
	out->path = kcr_sigv4_encode(path, 1);
	out->query = canonical_query(req->query, req->n_query);
	kcr_buf_init(&canon);
	kcr_buf_init(&signed_);
	kcr_buf_addf(&canon, "%s\n%s\n%s\n", req->method, out->path, out->query);
	canonical_headers(h, nh, &canon, &signed_);
	hdrs_free(h, nh);
	kcr_buf_addf(&canon, "\n%s\n%s", signed_.data, req->payload_hash);
	out->canonical_request = kcr_buf_steal(&canon, NULL);
	out->signed_headers = kcr_buf_steal(&signed_, NULL);
	scope = kcr_strdup_printf("%s/%s/%s/aws4_request", date, key->region, key->service);
	kcr_sha256_hex(out->canonical_request, strlen(out->canonical_request), hash);
	out->string_to_sign =
		kcr_strdup_printf("AWS4-HMAC-SHA256\n%s\n%s\n%s", out->amz_date, scope, hash);
	signature(key, date, out->string_to_sign, out->signature);
	out->authorization = kcr_strdup_printf(
		"AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		key->access_key, scope, out->signed_headers, out->signature);
	fill_send(out, key, req, s3);
	return 0;
}

void
kcr_sigv4_release(struct kcr_sigv4 *s)
{
	free(s->path);
	free(s->query);
	free(s->canonical_request);
	free(s->string_to_sign);
	free(s->signed_headers);
	free(s->authorization);
	kcr_strv_free(s->send);
	memset(s, 0, sizeof(*s));
}

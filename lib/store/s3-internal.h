/* The s3 file store's parts: the ops (s3.c), the signed HTTP request with
 * its retries and S3's error bodies (s3_http.c), multipart uploads and
 * listing (s3_multipart.c). */
#ifndef KCR_S3_INTERNAL_H
#define KCR_S3_INTERNAL_H

#include "base/curl_dl.h"
#include "base/error.h"
#include "base/settings.h"
#include "store/s3_sigv4.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct s3_store {
	char *scheme;    /* "http" or "https" */
	char *authority; /* host[:port], the Host header */
	char *base_path; /* the endpoint's path, "" or "/minio" */
	char *region, *bucket, *prefix;
	char *access_key, *secret_key, *session_token;
	char *ca_file;
	bool path_style, secure;
	uint64_t multipart_threshold, part_size;
	long timeout_ms;
	int retries;
	/* connections and DNS answers reused between calls and threads */
	struct kcr_curl_share *share;
};

/* Where a request's body comes from: memory, or len bytes of fd from
 * off (read with pread, so a retry starts over). */
struct s3_body {
	const char *mem;
	int fd;
	uint64_t off, len;
};

/* Where a successful response's body goes: memory up to max bytes
 * (more: KCR_E_LIMIT), or a regular file (truncated before each try),
 * or nowhere. */
struct s3_sink {
	char **data;
	size_t *len;
	uint64_t max;
	int fd; /* -1: memory (data) or nowhere (data NULL) */
	uint64_t written;
};

struct s3_req {
	const char *method;
	const char *key; /* the object's key under the store's prefix; NULL: the bucket */
	const struct kcr_sigv4_pair *query;
	size_t n_query;
	const struct kcr_sigv4_pair *headers; /* besides Host and the signer's */
	size_t n_headers;
	const struct s3_body *body; /* NULL: none */
	const char *payload_hash;   /* NULL: computed from body (or empty) */
	struct s3_sink *sink;       /* NULL: the body is dropped */
	/* what came back */
	long status;
	char etag[128];
};

/* Sends req, signed, with retries (5xx, 429, timeouts, dropped
 * connections, SlowDown) and exponential backoff with jitter. A 2xx is
 * success; 404 NoSuchKey (or a HEAD's 404) KCR_E_NOTFOUND; anything else
 * KCR_E_BACKEND naming the HTTP status and S3's Code and Message. */
int s3_request(struct s3_store *s, struct s3_req *req, kcr_error_t *err);
/* The full object key: prefix + key. */
char *s3_object_key(const struct s3_store *s, const char *key);

/* The text of the first <tag>...</tag> at or after *pos, entities decoded
 * (NULL: none); *pos moves past it. */
char *s3_xml_text(const char *xml, const char *tag, const char **pos);
/* SHA-256 (hex) of len bytes of fd from off. */
int s3_hash_range(int fd, uint64_t off, uint64_t len, char out[65], kcr_error_t *err);

/* Uploads body as a multipart upload, aborted on failure: all or nothing. */
int s3_multipart_put(struct s3_store *s, const char *key, const struct s3_body *body,
		     kcr_error_t *err);
/* The keys (under the store's prefix, which they do not include) that
 * start with prefix; a NULL-terminated vector. */
int s3_list(struct s3_store *s, const char *prefix, bool dirs, char ***keys, kcr_error_t *err);

#endif

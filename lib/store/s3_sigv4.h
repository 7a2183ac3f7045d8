/* AWS Signature Version 4 for request headers: pure computation, no
 * network, no clock (the caller passes the time), so that the AWS test
 * suite and botocore can check it byte for byte (tests/unit/test_sigv4.c).
 *
 * The caller gives the request as it will send it, unencoded: the path
 * and the query's names and values are percent-encoded here, once, with
 * AWS's rules (everything but A-Z a-z 0-9 - . _ ~ is %XX, '/' kept in the
 * path), and the result carries the encoded path and query to build the
 * URL from, so that what is signed is what is sent. For the service "s3"
 * the path is signed as it is (S3 neither normalizes nor double-encodes
 * it: "a/../b" and "a//b" are keys of their own); for any other service
 * "." and ".." segments and empty segments are removed first, as the test
 * suite's normalize-path cases want. */
#ifndef KCR_S3_SIGV4_H
#define KCR_S3_SIGV4_H

#include "base/error.h"

#include <stddef.h>
#include <time.h>

#define KCR_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define KCR_SIGV4_EMPTY_SHA256     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct kcr_sigv4_pair {
	const char *name, *value; /* a query value NULL: "name=" */
};

struct kcr_sigv4_request {
	const char *method; /* "GET" */
	const char *path;   /* unencoded: "/bucket/a b" */
	const struct kcr_sigv4_pair *query;
	size_t n_query;
	/* Headers to sign, Host among them, names in any case; a name given
	 * more than once is signed as one, its values joined by ','. Values
	 * are signed trimmed, runs of blanks made one space. */
	const struct kcr_sigv4_pair *headers;
	size_t n_headers;
	/* Hex SHA-256 of the body, or KCR_SIGV4_UNSIGNED_PAYLOAD */
	const char *payload_hash;
};

struct kcr_sigv4_key {
	const char *access_key, *secret_key;
	const char *session_token; /* NULL or "": none */
	const char *region, *service;
};

/* What signing gives: everything the request must carry besides the
 * caller's own headers. */
struct kcr_sigv4 {
	char *path;  /* the encoded path, for the URL */
	char *query; /* the canonical query: sorted and encoded, for the URL */
	char *canonical_request;
	char *string_to_sign;
	char *signed_headers;
	char signature[65];
	char amz_date[17]; /* 20150830T123600Z */
	char *authorization;
	/* "Name: value" lines to send with the caller's headers: X-Amz-Date,
	 * X-Amz-Content-SHA256 (service "s3", which requires it, as does
	 * s3rver), X-Amz-Security-Token (with a session token) and
	 * Authorization; NULL-terminated. These are signed too. */
	char **send;
};

/* Signs req at time when. KCR_E_INVALID for a header name or value that
 * could not be sent (a control character) or a missing field. */
int kcr_sigv4_sign(const struct kcr_sigv4_request *req, const struct kcr_sigv4_key *key,
		   time_t when, struct kcr_sigv4 *out, kcr_error_t *err);
void kcr_sigv4_release(struct kcr_sigv4 *s);

/* AWS's percent-encoding: everything but unreserved characters, and '/'
 * too unless keep_slash. */
char *kcr_sigv4_encode(const char *s, int keep_slash);

#endif

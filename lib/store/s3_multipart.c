/* The s3 store's multi-request operations: a multipart upload (create,
 * parts, complete; abort on any failure, so a put stays all or nothing)
 * and a listing by prefix (ListObjectsV2, page after page). */
#include <config.h>

#include "base/util.h"
#include "store/s3-internal.h"

#include <stdlib.h>
#include <string.h>

static int
create_upload(struct s3_store *s, const char *key, char **upload_id, kcr_error_t *err)
{
	static const struct kcr_sigv4_pair q[] = { { "uploads", NULL } };
	kcr_autofree char *xml = NULL;
	size_t len;
	struct s3_sink sink = { .data = &xml, .len = &len, .max = 1 << 20, .fd = -1 };
	struct s3_req req = {
		.method = "POST", .key = key, .query = q, .n_query = 1, .sink = &sink
	};

	if (s3_request(s, &req, err) < 0)
		return -1;
	*upload_id = s3_xml_text(xml, "UploadId", NULL);
	if (*upload_id == NULL || **upload_id == '\0') {
		free(*upload_id);
		return kcr_error_set(err, KCR_E_BACKEND, 0,
				     "CreateMultipartUpload of '%s' gave no UploadId", key);
	}
	return 0;
}

static void
abort_upload(struct s3_store *s, const char *key, const char *upload_id)
{
	struct kcr_sigv4_pair q[] = { { "uploadId", upload_id } };
	struct s3_req req = { .method = "DELETE", .key = key, .query = q, .n_query = 1 };
	kcr_error_t e = NULL;

	/* best effort: a lifecycle rule for incomplete uploads is the
	 * backstop when even this fails */
	if (s3_request(s, &req, &e) < 0)
		kcr_error_warn_release(&e);
}

static int
upload_part(struct s3_store *s, const char *key, const char *upload_id, int number,
	    const struct s3_body *part, struct kcr_buf *complete, kcr_error_t *err)
{
	char num[16];
	struct kcr_sigv4_pair q[] = { { "partNumber", num }, { "uploadId", upload_id } };
	struct s3_req req = { .method = "PUT", .key = key, .query = q, .n_query = 2, .body = part };

	snprintf(num, sizeof(num), "%d", number);
	if (s3_request(s, &req, err) < 0)
		return -1;
	if (req.etag[0] == '\0')
		return kcr_error_set(err, KCR_E_BACKEND, 0,
				     "part %d of '%s' came back without an ETag", number, key);
	kcr_buf_addf(complete, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", number,
		     req.etag);
	return 0;
}

/* CompleteMultipartUpload may fail after a 200: the error is in the body. */
static int
complete_upload(struct s3_store *s, const char *key, const char *upload_id, const char *xml,
		kcr_error_t *err)
{
	struct kcr_sigv4_pair q[] = { { "uploadId", upload_id } };
	struct kcr_sigv4_pair h[] = { { "Content-Type", "application/xml" } };
	struct s3_body body = { .mem = xml, .fd = -1, .len = strlen(xml) };
	kcr_autofree char *reply = NULL, *code = NULL, *msg = NULL;
	size_t len;
	struct s3_sink sink = { .data = &reply, .len = &len, .max = 1 << 20, .fd = -1 };
	struct s3_req req = { .method = "POST",
			      .key = key,
			      .query = q,
			      .n_query = 1,
			      .headers = h,
			      .n_headers = 1,
			      .body = &body,
			      .sink = &sink };

	if (s3_request(s, &req, err) < 0)
		return -1;
	if (strstr(reply, "<Error>") == NULL)
		return 0;
	code = s3_xml_text(reply, "Code", NULL);
	msg = s3_xml_text(reply, "Message", NULL);
	return kcr_error_set(err, KCR_E_BACKEND, 0, "CompleteMultipartUpload of '%s': %s: %s", key,
			     code ? code : "?", msg ? msg : "");
}

int
s3_multipart_put(struct s3_store *s, const char *key, const struct s3_body *body, kcr_error_t *err)
{
	kcr_autofree char *upload_id = NULL, *xml = NULL;
	struct kcr_buf complete;
	int number = 0;

	if (create_upload(s, key, &upload_id, err) < 0)
		return -1;
	kcr_buf_init(&complete);
	kcr_buf_adds(&complete, "<CompleteMultipartUpload>");
	for (uint64_t off = 0; off < body->len; off += s->part_size) {
		struct s3_body part = *body;

		part.off = body->off + off;
		part.len = body->len - off < s->part_size ? body->len - off : s->part_size;
		if (upload_part(s, key, upload_id, ++number, &part, &complete, err) < 0)
			goto fail;
	}
	kcr_buf_adds(&complete, "</CompleteMultipartUpload>");
	xml = kcr_buf_steal(&complete, NULL);
	if (complete_upload(s, key, upload_id, xml, err) < 0)
		goto fail;
	return 0;
fail:
	kcr_buf_release(&complete);
	abort_upload(s, key, upload_id);
	return -1;
}

/* One page of ListObjectsV2: its keys (without the store's prefix) are
 * added to *keys, or with dirs (delimiter "/") its common prefixes,
 * without the store's prefix and the "/"; *token becomes the next page's
 * (NULL: the last). */
static int
list_page(struct s3_store *s, const char *full, bool dirs, char **token, char ***keys,
	  kcr_error_t *err)
{
	kcr_autofree char *xml = NULL, *truncated = NULL;
	size_t len, plen = strlen(s->prefix);
	struct s3_sink sink = { .data = &xml, .len = &len, .max = 16 << 20, .fd = -1 };
	struct kcr_sigv4_pair q[4] = { { "list-type", "2" }, { "prefix", full } };
	struct s3_req req = { .method = "GET", .query = q, .n_query = 2, .sink = &sink };
	const char *pos = NULL;
	char *k;

	if (dirs)
		q[req.n_query++] = (struct kcr_sigv4_pair){ "delimiter", "/" };
	if (*token)
		q[req.n_query++] = (struct kcr_sigv4_pair){ "continuation-token", *token };
	if (s3_request(s, &req, err) < 0)
		return -1;
	/* with dirs, every <Prefix> but the echo of the request's own */
	while ((k = s3_xml_text(xml, dirs ? "Prefix" : "Key", &pos)) != NULL) {
		size_t n = strlen(k);

		if (dirs && n > plen + 1 && strcmp(k, full) != 0 && k[n - 1] == '/') {
			k[n - 1] = '\0';
			kcr_strv_push(keys, k + plen);
		} else if (!dirs && strncmp(k, s->prefix, plen) == 0)
			kcr_strv_push(keys, k + plen);
		free(k);
	}
	free(*token);
	*token = NULL;
	truncated = s3_xml_text(xml, "IsTruncated", NULL);
	if (truncated && strcmp(truncated, "true") == 0) {
		*token = s3_xml_text(xml, "NextContinuationToken", NULL);
		if (*token == NULL)
			return kcr_error_set(err, KCR_E_BACKEND, 0,
					     "a truncated listing without a continuation token");
	}
	return 0;
}

int
s3_list(struct s3_store *s, const char *prefix, bool dirs, char ***keys, kcr_error_t *err)
{
	kcr_autofree char *full = s3_object_key(s, prefix), *token = NULL;
	char **v = kcr_xzalloc(sizeof(char *));

	do {
		if (list_page(s, full, dirs, &token, &v, err) < 0) {
			kcr_strv_free(v);
			return -1;
		}
	} while (token);
	*keys = v;
	return 0;
}

/* The s3 file store: the bytes of files as objects "<prefix><sid>/<fid>"
 * in one bucket of S3 or anything that speaks its API (MinIO, Ceph,
 * s3rver). Uploads stream from memory or a spool, in one PUT or, above
 * store.s3.multipart_threshold_mb, as a multipart upload; downloads go to
 * memory (bounded by max) or to a spool (get_fd). */
#include <config.h>

#include "base/ids.h"
#include "base/util.h"
#include "store/s3-internal.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIB (UINT64_C(1) << 20)

/* Hands e on to the caller's err; returns -1. */
static int
pass_error(kcr_error_t *err, kcr_error_t e)
{
	if (err && *err == NULL)
		*err = e;
	else
		kcr_error_free(e);
	return -1;
}

/* ---- configuration -------------------------------------------------------------- */

/* "http[s]://host[:port][/path]", or KubeCodeRun's MINIO_ENDPOINT
 * "host:port" whose scheme store.s3.secure (MINIO_SECURE) gives; empty:
 * AWS's endpoint for the region. */
static int
parse_endpoint(struct s3_store *s, const char *ep, kcr_error_t *err)
{
	kcr_autofree char *aws = NULL;
	const char *rest, *slash;
	size_t n;

	if (ep == NULL || *ep == '\0')
		ep = aws = kcr_strdup_printf("https://s3.%s.amazonaws.com", s->region);
	if (strncmp(ep, "http://", 7) == 0 || strncmp(ep, "https://", 8) == 0) {
		s->scheme = kcr_xstrndup(ep, (size_t)(strchr(ep, ':') - ep));
		rest = strstr(ep, "://") + 3;
	} else if (strstr(ep, "://") != NULL) {
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "store.s3.endpoint '%s': only http and https", ep);
	} else {
		s->scheme = kcr_xstrdup(s->secure ? "https" : "http");
		rest = ep;
	}
	s->secure = strcmp(s->scheme, "https") == 0;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || memchr(rest, '@', n) || memchr(rest, '?', n))
		return kcr_error_set(err, KCR_E_INVALID, 0, "store.s3.endpoint '%s': no host", ep);
	s->authority = kcr_xstrndup(rest, n);
	s->base_path = kcr_xstrdup(slash ? slash : "");
	for (size_t l = strlen(s->base_path); l > 0 && s->base_path[l - 1] == '/'; l--)
		s->base_path[l - 1] = '\0';
	return 0;
}

static char *
cfg_dup(const struct kcr_config *cfg, const char *name)
{
	const char *v = kcr_config_str(cfg, name);

	return kcr_xstrdup(v ? v : "");
}

static int
read_config(struct s3_store *s, const struct kcr_config *cfg, kcr_error_t *err)
{
	int64_t threshold = kcr_config_int(cfg, "store.s3.multipart_threshold_mb");
	int64_t part = kcr_config_int(cfg, "store.s3.part_size_mb");

	s->region = cfg_dup(cfg, "store.s3.region");
	s->bucket = cfg_dup(cfg, "store.s3.bucket");
	s->prefix = cfg_dup(cfg, "store.s3.prefix");
	s->access_key = cfg_dup(cfg, "store.s3.access_key");
	s->secret_key = cfg_dup(cfg, "store.s3.secret_key");
	s->session_token = cfg_dup(cfg, "store.s3.session_token");
	s->ca_file = cfg_dup(cfg, "store.s3.ca_file");
	s->path_style = kcr_config_bool(cfg, "store.s3.path_style");
	s->secure = kcr_config_bool(cfg, "store.s3.secure");
	s->timeout_ms = (long)kcr_config_int(cfg, "store.s3.timeout_ms");
	s->retries = (int)kcr_config_int(cfg, "store.s3.retries");
	s->multipart_threshold = (uint64_t)threshold * MIB;
	s->part_size = (uint64_t)part * MIB;
	if (*s->region == '\0' || *s->bucket == '\0')
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "store.s3.region and store.s3.bucket may not be empty");
	if (*s->access_key == '\0' || *s->secret_key == '\0')
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "store.s3.access_key and store.s3.secret_key are not set");
	return parse_endpoint(s, kcr_config_str(cfg, "store.s3.endpoint"), err);
}

static void
s3_close(void *self)
{
	struct s3_store *s = self;

	if (s == NULL)
		return;
	kcr_curl_share_free(s->share);
	free(s->scheme);
	free(s->authority);
	free(s->base_path);
	free(s->region);
	free(s->bucket);
	free(s->prefix);
	free(s->access_key);
	free(s->secret_key);
	free(s->session_token);
	free(s->ca_file);
	free(s);
}

/* ---- the bucket ------------------------------------------------------------------ */

static int
s3_ping(void *self, kcr_error_t *err)
{
	struct s3_req req = { .method = "HEAD" };

	return s3_request(self, &req, err);
}

static int
create_bucket(struct s3_store *s, kcr_error_t *err)
{
	kcr_autofree char *xml = NULL;
	struct s3_body body = { .fd = -1 };
	struct s3_req req = { .method = "PUT" };

	/* us-east-1 is the one region that takes no location */
	if (strcmp(s->region, "us-east-1") != 0) {
		xml = kcr_strdup_printf(
			"<CreateBucketConfiguration "
			"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			"<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
			s->region);
		body.mem = xml;
		body.len = strlen(xml);
		req.body = &body;
	}
	if (s3_request(s, &req, err) < 0)
		return kcr_error_wrap(err, "cannot create bucket '%s'", s->bucket);
	return 0;
}

static int
s3_open(void **self, const struct kcr_config *cfg, kcr_error_t *err)
{
	struct s3_store *s = kcr_xzalloc(sizeof(*s));
	struct s3_req head = { .method = "HEAD" };
	kcr_error_t e = NULL;

	if (read_config(s, cfg, err) < 0 || kcr_curl_load(err) < 0 ||
	    (s->share = kcr_curl_share_new(err)) == NULL)
		goto fail;
	if (s3_request(s, &head, &e) < 0) {
		if (head.status != 404 || !kcr_config_bool(cfg, "store.s3.create_bucket")) {
			if (head.status == 404) {
				kcr_error_release(&e);
				kcr_error_set(&e, KCR_E_BACKEND, 0,
					      "bucket '%s' does not exist at %s://%s (set "
					      "store.s3.create_bucket to create it)",
					      s->bucket, s->scheme, s->authority);
			}
			pass_error(err, e);
			goto fail;
		}
		kcr_error_release(&e);
		if (create_bucket(s, err) < 0)
			goto fail;
	}
	*self = s;
	return 0;
fail:
	s3_close(s);
	return -1;
}

/* ---- files ---------------------------------------------------------------------- */

/* "<sid>/<fid>", both valid ids: nothing else reaches a bucket. */
static int
check_key(const char *key, bool prefix_only, kcr_error_t *err)
{
	const char *slash = key ? strchr(key, '/') : NULL;
	char sid[KCR_ID_LEN + 1];

	if (slash && slash - key == KCR_ID_LEN) {
		memcpy(sid, key, KCR_ID_LEN);
		sid[KCR_ID_LEN] = '\0';
		if (kcr_id_valid(sid) && (prefix_only ? slash[1] == '\0' : kcr_id_valid(slash + 1)))
			return 0;
	}
	return kcr_error_set(err, KCR_E_INVALID, 0, "bad file key '%s'", key ? key : "");
}

static int
put_body(struct s3_store *s, const char *key, const struct s3_body *body, kcr_error_t *err)
{
	struct s3_req req = { .method = "PUT", .key = key, .body = body };

	if (check_key(key, false, err) < 0)
		return -1;
	if (body->len > s->multipart_threshold)
		return s3_multipart_put(s, key, body, err);
	return s3_request(s, &req, err);
}

static int
s3_put(void *self, const char *key, const void *data, size_t len, kcr_error_t *err)
{
	struct s3_body body = { .mem = data ? data : "", .fd = -1, .len = len };

	return put_body(self, key, &body, err);
}

static int
s3_put_fd(void *self, const char *key, int fd, uint64_t len, kcr_error_t *err)
{
	struct s3_body body = { .fd = fd, .len = len };
	struct stat st;

	/* a spool shorter than len would be sent short: refuse it first */
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < len)
		return kcr_error_set(err, KCR_E_IO, 0, "the spool holds fewer than %llu bytes",
				     (unsigned long long)len);
	return put_body(self, key, &body, err);
}

static int
s3_get(void *self, const char *key, uint64_t max, char **data, size_t *len, kcr_error_t *err)
{
	struct s3_sink sink = { .data = data, .len = len, .max = max, .fd = -1 };
	struct s3_req req = { .method = "GET", .key = key, .sink = &sink };

	if (check_key(key, false, err) < 0)
		return -1;
	return s3_request(self, &req, err);
}

static int
s3_get_fd(void *self, const char *key, uint64_t max, int out_fd, uint64_t *len, kcr_error_t *err)
{
	struct s3_sink sink = { .max = max, .fd = out_fd };
	struct s3_req req = { .method = "GET", .key = key, .sink = &sink };

	if (check_key(key, false, err) < 0 || s3_request(self, &req, err) < 0)
		return -1;
	if (len)
		*len = sink.written;
	return 0;
}

static int
delete_object(struct s3_store *s, const char *key, kcr_error_t *err)
{
	struct s3_req req = { .method = "DELETE", .key = key };
	kcr_error_t e = NULL;

	/* S3 answers 204 for a key that is not there; a server that says
	 * 404 means the same */
	if (s3_request(s, &req, &e) < 0 && e->code != KCR_E_NOTFOUND)
		return pass_error(err, e);
	kcr_error_release(&e);
	return 0;
}

static int
s3_del(void *self, const char *key, kcr_error_t *err)
{
	return check_key(key, false, err) < 0 ? -1 : delete_object(self, key, err);
}

/* A session's files: listed, then deleted one by one (DeleteObjects
 * wants a Content-MD5 and a session has few files). */
static int
s3_del_prefix(void *self, const char *prefix, kcr_error_t *err)
{
	kcr_autostrv char **keys = NULL;

	if (check_key(prefix, true, err) < 0 || s3_list(self, prefix, false, &keys, err) < 0)
		return -1;
	for (char **k = keys; *k; k++)
		if (delete_object(self, *k, err) < 0)
			return -1;
	return 0;
}

/* The "directories" under the store's prefix (a delimited listing):
 * those that are session ids. */
static int
s3_sessions(void *self, char ***sids, kcr_error_t *err)
{
	kcr_autostrv char **dirs = NULL;

	if (s3_list(self, "", true, &dirs, err) < 0)
		return -1;
	*sids = kcr_xzalloc(sizeof(char *));
	for (size_t i = 0; dirs[i]; i++)
		if (kcr_id_valid(dirs[i]))
			kcr_strv_push(sids, dirs[i]);
	return 0;
}

const struct kcr_file_store_ops kcr_file_store_s3_ops = {
	.name = "s3",
	.open = s3_open,
	.ping = s3_ping,
	.put = s3_put,
	.put_fd = s3_put_fd,
	.get = s3_get,
	.get_fd = s3_get_fd,
	.del = s3_del,
	.del_prefix = s3_del_prefix,
	.sessions = s3_sessions,
	.close = s3_close,
};

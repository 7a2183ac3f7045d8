#include <config.h>

#include "base/curl_dl.h"
#include "base/encode.h"
#include "base/ids.h"
#include "client/api_client.h"
#include "base/json.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A reply larger than this is refused: a broken or hostile server must not
 * make the CLI eat all memory. */
#define REPLY_MAX ((size_t)2 << 30)
#define CONNECT_TIMEOUT_S 10L
#define SERVER_MSG_MAX 512

struct kcr_api_client {
	CURL *curl;
	char *base;       /* "http://host:8000/v1", no trailing '/' */
	char *key_header; /* "X-API-Key: ...", or NULL */
	char errbuf[CURL_ERROR_SIZE];
};

struct reply {
	long status;
	struct kcr_buf body;
	char *disposition, *ctype;
	bool too_big;
};

static void
reply_release(struct reply *r)
{
	kcr_buf_release(&r->body);
	free(r->disposition);
	free(r->ctype);
	memset(r, 0, sizeof(*r));
}

/* ---- setup ------------------------------------------------------------ */

static int
check_base_url(const char *url, kcr_error_t *err)
{
	size_t scheme = 0;

	if (strncmp(url, "http://", 7) == 0)
		scheme = 7;
	else if (strncmp(url, "https://", 8) == 0)
		scheme = 8;
	if (scheme == 0 || url[scheme] == '\0' || url[scheme] == '/')
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "server URL '%s' is not http://HOST[:PORT][/PATH] or https://...",
				     url);
	if (strpbrk(url, "?# \t\r\n"))
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "server URL '%s' may not hold a query, fragment or space", url);
	return 0;
}

struct kcr_api_client *
kcr_api_client_new(const char *base_url, const char *api_key, kcr_error_t *err)
{
	struct kcr_api_client *c;
	size_t n;

	if (check_base_url(base_url, err) < 0)
		return NULL;
	if (api_key && strpbrk(api_key, "\r\n")) {
		kcr_error_set(err, KCR_E_INVALID, 0, "the API key contains a line break");
		return NULL;
	}
	if (kcr_curl_load(err) < 0)
		return NULL;
	c = kcr_xzalloc(sizeof(*c));
	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		free(c);
		kcr_error_set(err, KCR_E_INTERNAL, 0, "cannot initialise libcurl");
		return NULL;
	}
	c->base = kcr_xstrdup(base_url);
	for (n = strlen(c->base); n > 0 && c->base[n - 1] == '/'; n--)
		c->base[n - 1] = '\0';
	if (api_key && *api_key)
		c->key_header = kcr_strdup_printf("X-API-Key: %s", api_key);
	return c;
}

void
kcr_api_client_free(struct kcr_api_client *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->curl);
	free(c->base);
	if (c->key_header)
		explicit_bzero(c->key_header, strlen(c->key_header));
	free(c->key_header);
	free(c);
}

const char *
kcr_api_client_url(const struct kcr_api_client *c)
{
	return c->base;
}

/* ---- one request --------------------------------------------------------- */

static size_t
on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct reply *r = ud;
	size_t len = size * nmemb;

	if (len > REPLY_MAX - r->body.len) {
		r->too_big = true;
		return 0; /* makes curl fail the transfer */
	}
	kcr_buf_add(&r->body, p, len);
	return len;
}

static void
header_value(const char *p, size_t len, const char *name, char **out)
{
	size_t nl = strlen(name);

	if (len <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
		return;
	p += nl + 1;
	len -= nl + 1;
	while (len && (*p == ' ' || *p == '\t'))
		p++, len--;
	while (len && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' '))
		len--;
	free(*out);
	*out = kcr_xstrndup(p, len);
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct reply *r = ud;
	size_t len = size * nmemb;

	header_value(p, len, "Content-Disposition", &r->disposition);
	header_value(p, len, "Content-Type", &r->ctype);
	return len;
}

enum kcr_errc
kcr_api_status_errc(long status)
{
	switch (status) {
	case 400: case 405: case 415: case 422: return KCR_E_INVALID;
	case 401: case 403: return KCR_E_AUTH;
	case 404: case 410: return KCR_E_NOTFOUND;
	case 408: return KCR_E_TIMEOUT;
	case 409: return KCR_E_CONFLICT;
	case 413: return KCR_E_LIMIT;
	case 429: case 503: return KCR_E_UNAVAILABLE;
	case 500: return KCR_E_INTERNAL;
	default: return status >= 500 ? KCR_E_BACKEND : KCR_E_INVALID;
	}
}

/* The server's text, made safe for a terminal: one line, no control
 * characters, not too long. */
static char *
clean_message(const char *s)
{
	char *m = kcr_utf8_clean(s, strnlen(s, SERVER_MSG_MAX * 4));

	for (char *p = m; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	if (strlen(m) > SERVER_MSG_MAX)
		strcpy(m + SERVER_MSG_MAX - 3, "...");
	return m;
}

/* {"error": "..."} (kcr, KubeCodeRun) or {"detail": "..."} (FastAPI). */
static int
reply_error(const struct kcr_api_client *c, const struct reply *r, kcr_error_t *err)
{
	enum kcr_errc code = kcr_api_status_errc(r->status);
	cJSON *o = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
	kcr_autofree char *msg = NULL;

	/* the /state routes: "error" is a code, the text is in "message" */
	if (!cJSON_IsString(m) || !*m->valuestring)
		m = cJSON_GetObjectItemCaseSensitive(o, "error");
	if (!cJSON_IsString(m) || !*m->valuestring)
		m = cJSON_GetObjectItemCaseSensitive(o, "detail");
	if (cJSON_IsString(m) && *m->valuestring)
		msg = clean_message(m->valuestring);
	cJSON_Delete(o);
	if (msg == NULL)
		return kcr_error_set(err, code, 0, "the server at %s replied HTTP %ld", c->base,
				     r->status);
	if (code == KCR_E_AUTH)
		return kcr_error_set(err, code, 0, "%s (the key is client.api_key or KCR_API_KEY)",
				     msg);
	return kcr_error_set(err, code, 0, "%s", msg);
}

static struct curl_slist *
add_header(struct curl_slist *h, const char *line)
{
	struct curl_slist *n = curl_slist_append(h, line);

	if (n == NULL)
		kcr_oom();
	return n;
}

static void
set_common(struct kcr_api_client *c, const char *url, struct reply *r)
{
	curl_easy_reset(c->curl);
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "kcr/" PACKAGE_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
}

/* A request body given as bytes, with its Content-Type header line. */
struct raw_body {
	const char *ctype;
	const void *data;
	size_t len;
};

/* Sends one request; a status other than 2xx is an error. raw or mime is
 * the body of a POST; method "DELETE" deletes. */
static int
perform_raw(struct kcr_api_client *c, const char *method, const char *path,
	    const struct raw_body *raw, curl_mime *mime, struct reply *r, kcr_error_t *err)
{
	kcr_autofree char *url = kcr_strdup_printf("%s%s", c->base, path);
	struct curl_slist *h = NULL;
	CURLcode rc;

	set_common(c, url, r);
	if (c->key_header)
		h = add_header(h, c->key_header);
	h = add_header(h, "Expect:"); /* no 100-continue round trip */
	if (raw) {
		h = add_header(h, raw->ctype);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, raw->len ? raw->data : "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)raw->len);
	} else if (mime) {
		curl_easy_setopt(c->curl, CURLOPT_MIMEPOST, mime);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	if (rc != CURLE_OK && r->too_big)
		return kcr_error_set(err, KCR_E_LIMIT, 0, "reply of kcr server at %s is over %zu bytes",
				     c->base, REPLY_MAX);
	if (rc != CURLE_OK)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "cannot reach kcr server at %s: %s",
				     c->base, c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	if (r->status < 200 || r->status > 299)
		return reply_error(c, r, err);
	return 0;
}

/* perform_raw with json (or nothing) as the body. */
static int
perform(struct kcr_api_client *c, const char *method, const char *path, const char *json,
	curl_mime *mime, struct reply *r, kcr_error_t *err)
{
	struct raw_body b = { "Content-Type: application/json", json, json ? strlen(json) : 0 };

	return perform_raw(c, method, path, json ? &b : NULL, mime, r, err);
}

static int
malformed(const struct kcr_api_client *c, const char *what, kcr_error_t *err)
{
	return kcr_error_set(err, KCR_E_BACKEND, 0, "malformed reply from kcr server at %s: %s",
			     c->base, what);
}

/* A request with a JSON reply: *out is the parsed body. */
static int
perform_json(struct kcr_api_client *c, const char *method, const char *path, const char *json,
	     curl_mime *mime, cJSON **out, kcr_error_t *err)
{
	struct reply r = { 0 };
	int ret = perform(c, method, path, json, mime, &r, err);

	if (ret == 0) {
		*out = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
		if (*out == NULL)
			ret = malformed(c, "not JSON", err);
	}
	reply_release(&r);
	return ret;
}

/* ---- JSON helpers ------------------------------------------------------- */

static const char *
jstr(const cJSON *o, const char *name)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(x) ? x->valuestring : NULL;
}

static double
jnum(const cJSON *o, const char *name, double def)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(x) ? x->valuedouble : def;
}

static void
add_opt_string(cJSON *o, const char *name, const char *value)
{
	if (value && *value)
		cJSON_AddStringToObject(o, name, value);
}

/* "2026-11-22T10:00:00.123Z" -> epoch seconds; the middle of the
 * millisecond, so that kcr_iso8601 prints the same text again. */
static double
parse_iso8601(const char *s)
{
	struct tm tm = { 0 };
	int n = 0, ms = 0, digits = 0;

	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
				&tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (s[n] == '.')
		for (const char *p = s + n + 1; *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
			ms = ms * 10 + (*p - '0');
	while (digits > 0 && digits < 3)
		ms *= 10, digits++;
	return (double)timegm(&tm) + (digits ? (ms + 0.5) / 1000.0 : 0);
}

/* ---- POST /exec ------------------------------------------------------- */

static char *
exec_body(const struct kcr_exec_call *call)
{
	cJSON *o = cJSON_CreateObject(), *args, *files;

	cJSON_AddStringToObject(o, "lang", call->exec.lang->id);
	cJSON_AddStringToObject(o, "code", call->exec.code);
	args = cJSON_AddArrayToObject(o, "args");
	for (size_t i = 0; call->exec.args && call->exec.args[i]; i++)
		cJSON_AddItemToArray(args, cJSON_CreateString(call->exec.args[i]));
	add_opt_string(o, "session_id", call->session_id);
	add_opt_string(o, "entity_id", call->entity_id);
	add_opt_string(o, "user_id", call->user_id);
	files = cJSON_AddArrayToObject(o, "files");
	for (size_t i = 0; i < call->n_files; i++) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddStringToObject(f, "id", call->files[i].id);
		cJSON_AddStringToObject(f, "session_id", call->files[i].session_id);
		add_opt_string(f, "name", call->files[i].name);
		cJSON_AddItemToArray(files, f);
	}
	if (call->exec.limits.timeout_ms)
		cJSON_AddNumberToObject(o, "timeout", call->exec.limits.timeout_ms);
	return kcr_json_print_free(o);
}

static void
set_stream(char **p, size_t *len, const char *s)
{
	*p = kcr_xstrdup(s ? s : "");
	*len = strlen(*p);
}

static int
parse_output_file(const struct kcr_api_client *c, const cJSON *f, const char *sid,
		  struct kcr_file_meta *m, kcr_error_t *err)
{
	const char *id = jstr(f, "id"), *fsid = jstr(f, "session_id"), *name = jstr(f, "name");

	if (!kcr_id_valid(id))
		return malformed(c, "an output file without a valid id", err);
	memset(m, 0, sizeof(*m));
	memcpy(m->id, id, sizeof(m->id));
	memcpy(m->session_id, kcr_id_valid(fsid) ? fsid : sid, sizeof(m->session_id));
	m->name = kcr_sanitize_filename(name && *name ? name : id);
	m->size = (uint64_t)jnum(f, "size", 0);
	m->kind = kcr_xstrdup("output");
	return 0;
}

static int
parse_exec_reply(const struct kcr_api_client *c, const cJSON *o, struct kcr_exec_result *res,
		 kcr_error_t *err)
{
	const char *sid = jstr(o, "session_id");
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(o, "files"), *f;

	if (!cJSON_IsArray(files))
		files = NULL; /* KubeCodeRun may leave it out */
	if (!kcr_id_valid(sid))
		return malformed(c, "no valid session_id", err);
	memcpy(res->session_id, sid, sizeof(res->session_id));
	set_stream(&res->exec.out, &res->exec.out_len, jstr(o, "stdout"));
	set_stream(&res->exec.err, &res->exec.err_len, jstr(o, "stderr"));
	res->exec.exit_code = (int)jnum(o, "exit_code", 0);
	res->exec.timed_out = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "timed_out"));
	res->has_state = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "has_state"));
	res->state_size = (uint64_t)jnum(o, "state_size", 0);
	if (jstr(o, "state_hash") && strlen(jstr(o, "state_hash")) == 64)
		memcpy(res->state_hash, jstr(o, "state_hash"), sizeof(res->state_hash));
	res->total_us = (uint64_t)(jnum(o, "duration_ms", 0) * 1000);
	res->files = kcr_xzalloc(((size_t)cJSON_GetArraySize(files) + 1) * sizeof(*res->files));
	cJSON_ArrayForEach(f, files)
	{
		if (parse_output_file(c, f, sid, &res->files[res->n_files], err) < 0)
			return -1;
		res->n_files++;
	}
	return 0;
}

int
kcr_api_client_exec(struct kcr_api_client *c, const struct kcr_exec_call *call,
		    struct kcr_exec_result *res, kcr_error_t *err)
{
	kcr_autofree char *body = NULL;
	cJSON *o = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	if (call->exec.lang == NULL || call->exec.code == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0, "no language or code given");
	if (memchr(call->exec.code, '\0', call->exec.code_len))
		return kcr_error_set(err, KCR_E_INVALID, 0, "the code contains NUL bytes");
	body = exec_body(call);
	if (perform_json(c, "POST", "/exec", body, NULL, &o, err) < 0)
		return -1;
	r = parse_exec_reply(c, o, res, err);
	cJSON_Delete(o);
	if (r < 0)
		kcr_exec_result_release(res);
	return r;
}

/* ---- POST /upload ------------------------------------------------------- */

struct part_src {
	const char *data;
	size_t len, pos;
};

static size_t
part_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct part_src *s = arg;
	size_t n = size * nitems;

	if (n > s->len - s->pos)
		n = s->len - s->pos;
	if (n)
		memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return n;
}

static int
part_seek(void *arg, curl_off_t offset, int origin)
{
	struct part_src *s = arg;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > s->len)
		return CURL_SEEKFUNC_CANTSEEK;
	s->pos = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static void
text_part(curl_mime *m, const char *name, const char *value)
{
	curl_mimepart *p = curl_mime_addpart(m);

	curl_mime_name(p, name);
	curl_mime_data(p, value, CURL_ZERO_TERMINATED);
}

/* LibreChat's order: entity_id first, then the files. */
static curl_mime *
upload_mime(CURL *curl, const char *session_id, const char *entity_id,
	    const struct kcr_file *files, size_t n, struct part_src *src)
{
	curl_mime *m = curl_mime_init(curl);

	if (m == NULL)
		kcr_oom();
	if (entity_id)
		text_part(m, "entity_id", entity_id);
	if (session_id)
		text_part(m, "session_id", session_id);
	for (size_t i = 0; i < n; i++) {
		curl_mimepart *p = curl_mime_addpart(m);

		src[i] = (struct part_src){ files[i].data, files[i].len, 0 };
		curl_mime_name(p, "file");
		curl_mime_filename(p, files[i].name);
		curl_mime_type(p, "application/octet-stream");
		curl_mime_data_cb(p, (curl_off_t)files[i].len, part_read, part_seek, NULL, &src[i]);
	}
	return m;
}

static int
parse_upload_reply(const struct kcr_api_client *c, const cJSON *o, const struct kcr_file *files,
		   size_t n, char sid[KCR_ID_LEN + 1], struct kcr_file_meta *out, kcr_error_t *err)
{
	const char *msg = jstr(o, "message"), *s = jstr(o, "session_id");
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "files");

	if (msg == NULL || strcmp(msg, "success") != 0)
		return malformed(c, "the upload's message is not \"success\"", err);
	if (!kcr_id_valid(s))
		return malformed(c, "no valid session_id", err);
	if (!cJSON_IsArray(list) || (size_t)cJSON_GetArraySize(list) != n)
		return malformed(c, "not one entry per uploaded file", err);
	memcpy(sid, s, KCR_ID_LEN + 1);
	for (size_t i = 0; i < n; i++) {
		const cJSON *f = cJSON_GetArrayItem(list, (int)i);
		const char *id = jstr(f, "fileId"), *name = jstr(f, "filename");

		if (!kcr_id_valid(id))
			return malformed(c, "a file without a valid fileId", err);
		memcpy(out[i].id, id, sizeof(out[i].id));
		memcpy(out[i].session_id, sid, sizeof(out[i].session_id));
		out[i].name = kcr_sanitize_filename(name && *name ? name : files[i].name);
		out[i].original_name = kcr_xstrdup(files[i].name);
		out[i].size = files[i].len;
		out[i].kind = kcr_xstrdup("upload");
	}
	return 0;
}

/* The server stored the files, but not where asked: take them back. */
static int
undo_misplaced(struct kcr_api_client *c, const char *want, const struct kcr_file_meta *m,
	       size_t n, kcr_error_t *err)
{
	for (size_t i = 0; i < n; i++) {
		kcr_error_t e = NULL;

		if (kcr_api_client_delete(c, m[i].session_id, m[i].id, &e) < 0)
			kcr_error_warn_release(&e);
	}
	return kcr_error_set(err, KCR_E_BACKEND, 0,
			     "the server at %s cannot upload into an existing session (it ignored "
			     "session '%s'); nothing was uploaded",
			     c->base, want);
}

int
kcr_api_client_upload(struct kcr_api_client *c, const char *session_id, const char *entity_id,
		      const struct kcr_file *files, size_t n, char sid[KCR_ID_LEN + 1],
		      struct kcr_file_meta **out, kcr_error_t *err)
{
	kcr_autofree struct part_src *src = kcr_xzalloc((n + 1) * sizeof(*src));
	struct kcr_file_meta *m = kcr_xzalloc((n + 1) * sizeof(*m));
	curl_mime *mime = upload_mime(c->curl, session_id, entity_id, files, n, src);
	cJSON *o = NULL;
	int r = perform_json(c, "POST", "/upload", NULL, mime, &o, err);

	curl_mime_free(mime);
	if (r == 0)
		r = parse_upload_reply(c, o, files, n, sid, m, err);
	cJSON_Delete(o);
	if (r == 0 && session_id && strcmp(sid, session_id) != 0)
		r = undo_misplaced(c, session_id, m, n, err);
	if (r < 0) {
		kcr_file_meta_list_free(m, n);
		return -1;
	}
	*out = m;
	return 0;
}

/* ---- GET /download, GET /files, DELETE /files ------------------------------ */

/* The name from Content-Disposition: filename*=UTF-8''<pct> first, else
 * filename="...". NULL when there is none. */
static char *
disposition_name(CURL *curl, const char *d)
{
	const char *p = d ? strcasestr(d, "filename*=") : NULL;

	if (p && (p = strstr(p, "''")) != NULL) {
		kcr_autofree char *enc = kcr_xstrndup(p + 2, strcspn(p + 2, "; \""));
		int len = 0;
		char *dec = curl_easy_unescape(curl, enc, 0, &len);
		char *name = dec ? kcr_xstrdup(dec) : NULL; /* up to a %00, if any */

		curl_free(dec);
		if (name && *name)
			return name;
		free(name);
	}
	p = d ? strcasestr(d, "filename=") : NULL;
	if (p == NULL)
		return NULL;
	p += 9;
	if (*p == '"')
		return kcr_xstrndup(p + 1, strcspn(p + 1, "\""));
	return kcr_xstrndup(p, strcspn(p, "; "));
}

/* Ids go into paths as they are: [A-Za-z0-9_-] needs no escaping. */
static int
check_ids(const char *sid, const char *fid, kcr_error_t *err)
{
	if (!kcr_id_valid(sid) || (fid && !kcr_id_valid(fid)))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session or file id");
	return 0;
}

int
kcr_api_client_download(struct kcr_api_client *c, const char *sid, const char *fid,
			struct kcr_file_meta *meta, char **data, size_t *len, kcr_error_t *err)
{
	kcr_autofree char *path = NULL, *name = NULL;
	struct reply r = { 0 };

	if (check_ids(sid, fid, err) < 0)
		return -1;
	path = kcr_strdup_printf("/download/%s/%s", sid, fid);
	if (perform(c, "GET", path, NULL, NULL, &r, err) < 0) {
		reply_release(&r);
		return -1;
	}
	name = disposition_name(c->curl, r.disposition);
	memset(meta, 0, sizeof(*meta));
	memcpy(meta->id, fid, sizeof(meta->id));
	memcpy(meta->session_id, sid, sizeof(meta->session_id));
	meta->name = kcr_sanitize_filename(name && *name ? name : fid);
	meta->content_type = r.ctype ? kcr_steal(&r.ctype) : NULL;
	if (r.body.data == NULL)
		kcr_buf_add(&r.body, "", 0);
	*data = kcr_buf_steal(&r.body, len);
	meta->size = *len;
	reply_release(&r);
	return 0;
}

/* One entry of detail=full: kcr's {id, filename, ...} or KubeCodeRun's
 * {id, name: <file name>, metadata: {original-filename}}. */
static int
parse_list_entry(const struct kcr_api_client *c, const cJSON *f, const char *sid,
		 struct kcr_file_meta *m, kcr_error_t *err)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(f, "metadata");
	const char *id = jstr(f, "id"), *name = jstr(f, "filename");
	const char *orig = jstr(md, "original-filename");
	const char *etag = jstr(f, "etag"), *ctype = jstr(f, "contentType");

	if (!kcr_id_valid(id))
		return malformed(c, "a file without a valid id", err);
	if (name == NULL && (name = jstr(f, "name")) != NULL && strchr(name, '/'))
		name = orig;
	memset(m, 0, sizeof(*m));
	memcpy(m->id, id, sizeof(m->id));
	memcpy(m->session_id, sid, sizeof(m->session_id));
	m->name = kcr_sanitize_filename(name && *name ? name : id);
	m->original_name = orig ? kcr_xstrdup(orig) : NULL;
	m->content_type = ctype ? kcr_xstrdup(ctype) : NULL;
	m->size = (uint64_t)jnum(f, "size", 0);
	m->created = m->modified = parse_iso8601(jstr(f, "lastModified"));
	if (etag && strlen(etag) == 64 && strspn(etag, "0123456789abcdef") == 64)
		memcpy(m->sha256, etag, sizeof(m->sha256));
	return 0;
}

int
kcr_api_client_list(struct kcr_api_client *c, const char *sid, struct kcr_file_meta **files,
		    size_t *n, kcr_error_t *err)
{
	kcr_autofree char *path = NULL;
	struct kcr_file_meta *m;
	const cJSON *f;
	cJSON *o = NULL;

	if (check_ids(sid, NULL, err) < 0)
		return -1;
	path = kcr_strdup_printf("/files/%s?detail=full", sid);
	if (perform_json(c, "GET", path, NULL, NULL, &o, err) < 0)
		return -1;
	if (!cJSON_IsArray(o)) {
		cJSON_Delete(o);
		return malformed(c, "the file list is not an array", err);
	}
	m = kcr_xzalloc(((size_t)cJSON_GetArraySize(o) + 1) * sizeof(*m));
	*n = 0;
	cJSON_ArrayForEach(f, o)
	{
		if (parse_list_entry(c, f, sid, &m[*n], err) < 0) {
			kcr_file_meta_list_free(m, *n);
			cJSON_Delete(o);
			return -1;
		}
		(*n)++;
	}
	cJSON_Delete(o);
	*files = m;
	return 0;
}

int
kcr_api_client_delete(struct kcr_api_client *c, const char *sid, const char *fid,
		      kcr_error_t *err)
{
	kcr_autofree char *path = NULL;
	struct reply r = { 0 };
	int ret;

	if (check_ids(sid, fid, err) < 0)
		return -1;
	path = kcr_strdup_printf("/files/%s/%s", sid, fid);
	ret = perform(c, "DELETE", path, NULL, NULL, &r, err);
	reply_release(&r);
	return ret;
}

int
kcr_api_client_request_json(struct kcr_api_client *c, const char *method, const char *path,
			    const char *json, cJSON **out, kcr_error_t *err)
{
	return perform_json(c, method, path, json, NULL, out, err);
}

/* ---- the Python state of a session (/state/SID) -------------------------- */

int
kcr_api_client_state_get(struct kcr_api_client *c, const char *sid, char **data, size_t *len,
			 struct kcr_state_info *info, kcr_error_t *err)
{
	kcr_autofree char *path = NULL;
	struct reply r = { 0 };

	if (check_ids(sid, NULL, err) < 0)
		return -1;
	path = kcr_strdup_printf("/state/%s", sid);
	if (perform(c, "GET", path, NULL, NULL, &r, err) < 0) {
		reply_release(&r);
		return -1;
	}
	if (r.body.data == NULL)
		kcr_buf_add(&r.body, "", 0);
	*data = kcr_buf_steal(&r.body, len);
	if (info) {
		memset(info, 0, sizeof(*info));
		info->size = *len;
		kcr_sha256_hex(*data, *len, info->hash);
	}
	reply_release(&r);
	return 0;
}

int
kcr_api_client_state_put(struct kcr_api_client *c, const char *sid, const void *data,
			 size_t len, kcr_error_t *err)
{
	struct raw_body b = { "Content-Type: application/octet-stream", data, len };
	kcr_autofree char *path = NULL;
	struct reply r = { 0 };
	int ret;

	if (check_ids(sid, NULL, err) < 0)
		return -1;
	path = kcr_strdup_printf("/state/%s", sid);
	ret = perform_raw(c, "POST", path, &b, NULL, &r, err);
	reply_release(&r);
	return ret;
}

int
kcr_api_client_state_delete(struct kcr_api_client *c, const char *sid, kcr_error_t *err)
{
	kcr_autofree char *path = NULL;
	struct reply r = { 0 };
	int ret;

	if (check_ids(sid, NULL, err) < 0)
		return -1;
	path = kcr_strdup_printf("/state/%s", sid);
	ret = perform(c, "DELETE", path, NULL, NULL, &r, err);
	reply_release(&r);
	return ret;
}

int
kcr_api_client_state_info(struct kcr_api_client *c, const char *sid,
			  struct kcr_state_info *info, kcr_error_t *err)
{
	kcr_autofree char *path = NULL;
	const char *hash;
	cJSON *o = NULL;

	if (check_ids(sid, NULL, err) < 0)
		return -1;
	path = kcr_strdup_printf("/state/%s/info", sid);
	if (perform_json(c, "GET", path, NULL, NULL, &o, err) < 0)
		return -1;
	memset(info, 0, sizeof(*info));
	hash = jstr(o, "hash");
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "exists"))) {
		cJSON_Delete(o);
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no state for session %s", sid);
	}
	info->size = (uint64_t)jnum(o, "size_bytes", 0);
	if (hash && strlen(hash) == 64)
		memcpy(info->hash, hash, sizeof(info->hash));
	info->created = parse_iso8601(jstr(o, "created_at"));
	info->expires = parse_iso8601(jstr(o, "expires_at"));
	cJSON_Delete(o);
	return 0;
}

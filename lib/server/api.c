#include <config.h>

#include "server/api.h"
#include "base/clock.h"
#include "base/encode.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/pystate_blob.h"
#include "base/metrics.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define ENTITY_ID_MAX 40

/* ---- request validation -------------------------------------------- */

/* cJSON turns "\u0000" into a C string that ends early; a NUL can't be
 * checked after parsing, so look for the escape itself (an odd number of
 * backslashes before the 'u'). */
static bool
json_has_nul_escape(const char *s, size_t n)
{
	for (size_t i = 0; i + 6 <= n; i++) {
		size_t bs = 0;

		if (memcmp(s + i, "\\u0000", 6) != 0)
			continue;
		for (size_t j = i; j > 0 && s[j - 1] == '\\'; j--)
			bs++;
		if (bs % 2 == 0)
			return true;
	}
	return false;
}

static bool
valid_entity_id(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= ENTITY_ID_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* A name from a client: no path, no NUL, not too long. */
static const char *
bad_name_reason(const char *name)
{
	if (*name == '\0')
		return "is empty";
	if (strlen(name) > 255)
		return "is longer than 255 bytes";
	if (strchr(name, '/') || strchr(name, '\\') || strcmp(name, "..") == 0 ||
	    strcmp(name, ".") == 0)
		return "is a path, not a file name";
	return NULL;
}

struct verr {
	int status;
	const char *field;
	char *msg;
};

static int
fail(struct verr *v, int status, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
fail(struct verr *v, int status, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&v->msg, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	v->status = status;
	v->field = field;
	return -1;
}

/* An optional string field: absent or null is fine, another type is not. */
static int
opt_string(const cJSON *o, const char *name, const char *field, char **out, struct verr *v)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);

	if (x == NULL || cJSON_IsNull(x))
		return 0;
	if (!cJSON_IsString(x))
		return fail(v, 422, field, "'%s' must be a string", name);
	*out = kcr_xstrdup(x->valuestring);
	return 0;
}

static int
parse_file_ref(const cJSON *f, struct kcr_file_ref *ref, struct verr *v)
{
	if (!cJSON_IsObject(f))
		return fail(v, 422, "body -> files", "each file must be an object");
	if (opt_string(f, "id", "body -> files -> id", &ref->id, v) < 0 ||
	    opt_string(f, "session_id", "body -> files -> session_id", &ref->session_id, v) < 0 ||
	    opt_string(f, "name", "body -> files -> name", &ref->name, v) < 0)
		return -1;
	if (ref->session_id == NULL &&
	    opt_string(f, "storage_session_id", "body -> files -> storage_session_id",
		       &ref->session_id, v) < 0)
		return -1;
	if (ref->id == NULL || ref->session_id == NULL)
		return fail(v, 422, "body -> files", "a file needs 'id' and 'session_id'");
	if (!kcr_id_valid(ref->id) || !kcr_id_valid(ref->session_id))
		return fail(v, 400, "body -> files", "invalid file or session id in files");
	if (ref->name && bad_name_reason(ref->name))
		return fail(v, 400, "body -> files -> name", "file name '%.64s' %s", ref->name,
			    bad_name_reason(ref->name));
	return 0;
}

static int
parse_files(const cJSON *o, struct kcr_exec_call *c, struct verr *v)
{
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(o, "files"), *f;

	if (files == NULL || cJSON_IsNull(files))
		return 0;
	if (!cJSON_IsArray(files))
		return fail(v, 422, "body -> files", "'files' must be an array");
	c->files = kcr_xzalloc(((size_t)cJSON_GetArraySize(files) + 1) * sizeof(*c->files));
	cJSON_ArrayForEach(f, files)
	{
		if (parse_file_ref(f, &c->files[c->n_files++], v) < 0)
			return -1;
	}
	return 0;
}

static void
parse_args(const cJSON *o, struct kcr_exec_call *c)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(o, "args"), *a;

	/* KubeCodeRun accepts any type here; strings become argv, the rest is ignored */
	c->exec.args = kcr_xzalloc(sizeof(char *));
	if (cJSON_IsString(args)) {
		kcr_strv_push(&c->exec.args, args->valuestring);
		return;
	}
	if (!cJSON_IsArray(args))
		return;
	cJSON_ArrayForEach(a, args)
	{
		if (cJSON_IsString(a))
			kcr_strv_push(&c->exec.args, a->valuestring);
	}
}

static int
parse_timeout(const cJSON *o, struct kcr_exec_call *c, struct verr *v)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "timeout");

	if (t == NULL || cJSON_IsNull(t))
		return 0;
	if (!cJSON_IsNumber(t))
		return fail(v, 422, "body -> timeout", "'timeout' must be a number of milliseconds");
	if (t->valuedouble < 1000 || t->valuedouble > 300000)
		return fail(v, 400, "body -> timeout", "'timeout' must be 1000..300000 ms");
	c->exec.limits.timeout_ms = (uint32_t)t->valuedouble;
	return 0;
}

static int
parse_ids(const cJSON *o, struct kcr_exec_call *c, struct verr *v)
{
	if (opt_string(o, "session_id", "body -> session_id", &c->session_id, v) < 0 ||
	    opt_string(o, "entity_id", "body -> entity_id", &c->entity_id, v) < 0 ||
	    opt_string(o, "user_id", "body -> user_id", &c->user_id, v) < 0)
		return -1;
	if (c->session_id && !kcr_id_valid(c->session_id))
		return fail(v, 400, "body -> session_id", "invalid session id");
	if (c->entity_id && !valid_entity_id(c->entity_id))
		return fail(v, 400, "body -> entity_id",
			    "entity_id must be 1..40 characters of [A-Za-z0-9_-]");
	return 0;
}

static int
parse_lang_code(const cJSON *o, struct kcr_exec_call *c, struct verr *v)
{
	const cJSON *lang = cJSON_GetObjectItemCaseSensitive(o, "lang");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "code");

	if (!cJSON_IsString(lang))
		return fail(v, 422, "body -> lang", "'lang' is required and must be a string");
	if (!cJSON_IsString(code))
		return fail(v, 422, "body -> code", "'code' is required and must be a string");
	c->exec.lang = kcr_lang_find(lang->valuestring);
	if (c->exec.lang == NULL)
		return fail(v, 400, "body -> lang", "Unsupported programming language: %.40s",
			    lang->valuestring);
	c->exec.code = kcr_xstrdup(code->valuestring);
	c->exec.code_len = strlen(code->valuestring);
	return 0;
}

static int
parse_exec(const struct kcr_http_req *req, struct kcr_exec_call *c, struct verr *v)
{
	cJSON *o;
	int r = -1;

	if (json_has_nul_escape(req->body.data ? req->body.data : "", req->body.len))
		return fail(v, 400, "body", "NUL characters are not allowed");
	o = cJSON_ParseWithLength(req->body.data ? req->body.data : "", req->body.len);
	if (o == NULL)
		return fail(v, 400, "body", "malformed JSON");
	if (!cJSON_IsObject(o))
		fail(v, 422, "body", "the body must be a JSON object");
	else if (parse_lang_code(o, c, v) == 0 && parse_ids(o, c, v) == 0 &&
		 parse_files(o, c, v) == 0 && parse_timeout(o, c, v) == 0)
		r = 0;
	if (r == 0)
		parse_args(o, c);
	cJSON_Delete(o);
	return r;
}

/* ---- replies -------------------------------------------------------- */

static void
reply_verr(struct kcr_http_resp *resp, const struct kcr_http_req *req, struct verr *v)
{
	kcr_http_reply_error(resp, req, v->status, "validation", v->field, "%s", v->msg);
	free(v->msg);
}

/* Service errors: 503 carries Retry-After (the bounded queue is full). */
static void
reply_service_error(struct kcr_http_resp *resp, const struct kcr_http_req *req, kcr_error_t err)
{
	kcr_http_reply_kcr_error(resp, req, err);
	if (err->code == KCR_E_UNAVAILABLE && strstr(err->msg, "server busy"))
		kcr_http_add_header(resp, "Retry-After", "1");
	kcr_error_free(err);
}

static cJSON *
file_ref_json(const struct kcr_file_meta *m)
{
	cJSON *f = cJSON_CreateObject();
	kcr_autofree char *path = kcr_strdup_printf("/mnt/data/%s", m->name);

	cJSON_AddStringToObject(f, "id", m->id);
	cJSON_AddStringToObject(f, "name", m->name);
	cJSON_AddStringToObject(f, "path", path);
	cJSON_AddStringToObject(f, "session_id", m->session_id);
	cJSON_AddStringToObject(f, "storage_session_id", m->session_id);
	if (m->modified_from[0]) {
		cJSON *mf = cJSON_AddObjectToObject(f, "modified_from");

		cJSON_AddStringToObject(mf, "id", m->modified_from);
		cJSON_AddStringToObject(mf, "storage_session_id", m->modified_from_session);
	}
	return f;
}

/* LibreChat shows stdout to a model: clean text with a final newline. */
static void
add_stream(cJSON *o, const char *name, const char *p, size_t n, bool newline)
{
	kcr_autofree char *s = kcr_utf8_clean(p ? p : "", p ? n : 0);
	size_t len = strlen(s);

	if (newline && len && s[len - 1] != '\n') {
		char *t = kcr_strdup_printf("%s\n", s);

		free(s);
		s = t;
	}
	cJSON_AddStringToObject(o, name, s);
}

static cJSON *
exec_reply(const struct kcr_exec_result *r)
{
	cJSON *o = cJSON_CreateObject(), *files;

	cJSON_AddStringToObject(o, "session_id", r->session_id);
	add_stream(o, "stdout", r->exec.out, r->exec.out_len, true);
	add_stream(o, "stderr", r->exec.err, r->exec.err_len, false);
	files = cJSON_AddArrayToObject(o, "files");
	for (size_t i = 0; i < r->n_files; i++)
		cJSON_AddItemToArray(files, file_ref_json(&r->files[i]));
	cJSON_AddNumberToObject(o, "exit_code", r->exec.exit_code);
	cJSON_AddBoolToObject(o, "timed_out", r->exec.timed_out);
	cJSON_AddNumberToObject(o, "duration_ms", (double)r->total_us / 1000.0);
	cJSON_AddBoolToObject(o, "has_state", r->has_state);
	if (r->has_state) {
		cJSON_AddNumberToObject(o, "state_size", (double)r->state_size);
		cJSON_AddStringToObject(o, "state_hash", r->state_hash);
	}
	return o;
}

/* ---- handlers ------------------------------------------------------- */

static void
h_exec(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_exec_call c = { 0 };
	struct kcr_exec_result r = { 0 };
	struct verr v = { 0 };
	kcr_error_t err = NULL;

	if (parse_exec(req, &c, &v) < 0)
		reply_verr(resp, req, &v);
	else if (kcr_service_exec(api->svc, &c, &r, &err) < 0)
		reply_service_error(resp, req, err);
	else
		kcr_http_reply_json(resp, 200, exec_reply(&r));
	kcr_exec_result_release(&r);
	kcr_exec_call_release(&c);
}

static bool
is_file_part(const struct kcr_http_part *p)
{
	return p->filename && (strcmp(p->name, "file") == 0 || strcmp(p->name, "files") == 0);
}

/* Checks every file of an upload before storing any: all or nothing. */
static int
check_upload(const struct kcr_http_req *req, const struct kcr_api *api, size_t *n_files,
	     struct verr *v)
{
	const struct kcr_http_part *ent = kcr_http_part(req, "entity_id");

	*n_files = 0;
	for (size_t i = 0; i < req->n_parts; i++) {
		const struct kcr_http_part *p = &req->parts[i];

		if (!is_file_part(p))
			continue;
		if (bad_name_reason(p->filename))
			return fail(v, 400, "file", "file name '%.64s' %s", p->filename,
				    bad_name_reason(p->filename));
		if (p->data.len > api->file_max)
			return fail(v, 413, "file", "'%.64s' is %zu bytes, over the limit of %llu",
				    p->filename, p->data.len, (unsigned long long)api->file_max);
		(*n_files)++;
	}
	if (*n_files == 0)
		return fail(v, 422, "file", "no file part (send the file as multipart field 'file')");
	if (*n_files > api->files_per_upload)
		return fail(v, 413, "file", "%zu files in one upload, over the limit of %zu",
			    *n_files, api->files_per_upload);
	if (ent && (ent->data.len == 0 || !valid_entity_id(ent->data.data)))
		return fail(v, 400, "entity_id", "entity_id must be 1..40 characters of [A-Za-z0-9_-]");
	return 0;
}

static cJSON *
upload_reply(const char *sid, cJSON *files, bool batch, size_t ok, size_t failed)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "message",
				!batch || failed == 0 ? "success" : ok ? "partial" : "error");
	cJSON_AddStringToObject(o, "session_id", sid);
	cJSON_AddStringToObject(o, "storage_session_id", sid);
	cJSON_AddItemToObject(o, "files", files);
	if (batch) {
		cJSON_AddNumberToObject(o, "succeeded", (double)ok);
		cJSON_AddNumberToObject(o, "failed", (double)failed);
	}
	return o;
}

static cJSON *
upload_entry(const struct kcr_file_meta *m, const char *filename, const struct kcr_error *e,
	     bool batch)
{
	cJSON *f = cJSON_CreateObject();

	if (batch)
		cJSON_AddStringToObject(f, "status", e ? "error" : "success");
	if (e) {
		cJSON_AddStringToObject(f, "filename", filename);
		cJSON_AddStringToObject(f, "error", e->msg);
		return f;
	}
	cJSON_AddStringToObject(f, "fileId", m->id);
	cJSON_AddStringToObject(f, "filename", m->name);
	cJSON_AddStringToObject(f, "session_id", m->session_id);
	cJSON_AddNumberToObject(f, "size", (double)m->size);
	return f;
}

/* Removes what a failed upload had stored already, so nothing half-done stays. */
static void
undo_upload(struct kcr_api *api, cJSON *files)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, files)
	{
		const cJSON *fid = cJSON_GetObjectItemCaseSensitive(f, "fileId");
		const cJSON *sid = cJSON_GetObjectItemCaseSensitive(f, "session_id");
		kcr_error_t e = NULL;

		if (cJSON_IsString(fid) && cJSON_IsString(sid) &&
		    kcr_service_delete_file(api->svc, sid->valuestring, fid->valuestring, &e) < 0)
			kcr_error_warn_release(&e);
	}
	cJSON_Delete(files);
}

static void
handle_upload(struct kcr_http_req *req, struct kcr_http_resp *resp, struct kcr_api *api,
	      bool batch)
{
	const struct kcr_http_part *ent = kcr_http_part(req, "entity_id");
	const struct kcr_http_part *sess = kcr_http_part(req, "session_id");
	const char *user = kcr_http_header(req, "User-Id");
	char sid[KCR_ID_LEN + 1];
	struct verr v = { 0 };
	kcr_error_t err = NULL;
	size_t n, ok = 0, failed = 0;
	cJSON *files;

	if (req->mp == NULL) {
		kcr_http_reply_error(resp, req, 415, "validation", "body",
				     "uploads must be multipart/form-data");
		return;
	}
	if (check_upload(req, api, &n, &v) < 0) {
		reply_verr(resp, req, &v);
		return;
	}
	if (sess && !kcr_id_valid(sess->data.data ? sess->data.data : "")) {
		kcr_http_reply_error(resp, req, 400, "validation", "session_id", "invalid session id");
		return;
	}
	if (kcr_service_upload_session(api->svc, sess ? sess->data.data : NULL,
				       ent ? ent->data.data : NULL, user, sid,
				       &err) < 0) {
		reply_service_error(resp, req, err);
		return;
	}
	files = cJSON_CreateArray();
	for (size_t i = 0; i < req->n_parts; i++) {
		const struct kcr_http_part *p = &req->parts[i];
		struct kcr_file_meta m = { 0 };

		if (!is_file_part(p))
			continue;
		if (kcr_service_put_file(api->svc, sid, p->filename, p->data.data ? p->data.data : "",
					 p->data.len, &m, &err) < 0) {
			failed++;
			if (!batch) { /* one file failed: the whole upload fails */
				undo_upload(api, files);
				reply_service_error(resp, req, err);
				return;
			}
			cJSON_AddItemToArray(files, upload_entry(NULL, p->filename, err, true));
			kcr_error_release(&err);
			continue;
		}
		ok++;
		cJSON_AddItemToArray(files, upload_entry(&m, p->filename, NULL, batch));
		kcr_file_meta_release(&m);
	}
	kcr_http_reply_json(resp, 200, upload_reply(sid, files, batch, ok, failed));
}

static void
h_upload(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	handle_upload(req, resp, ud, false);
}

static void
h_upload_batch(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	handle_upload(req, resp, ud, true);
}

static cJSON *
list_entry(const struct kcr_file_meta *m, const char *detail, const char *now)
{
	cJSON *f = cJSON_CreateObject(), *md;
	kcr_autofree char *ref = kcr_strdup_printf("%s/%s", m->session_id, m->id);
	kcr_autofree char *path = kcr_strdup_printf("/mnt/data/%s", m->name);
	char modified[32];

	if (strcmp(detail, "summary") == 0) {
		/* LibreChat matches name "sid/fid" and re-uploads when
		 * lastModified is 23 h old: a live session reports now */
		cJSON_AddStringToObject(f, "name", ref);
		cJSON_AddStringToObject(f, "lastModified", now);
		return f;
	}
	cJSON_AddStringToObject(f, "id", m->id);
	if (strcmp(detail, "simple") == 0) {
		cJSON_AddStringToObject(f, "name", m->name);
		cJSON_AddStringToObject(f, "path", path);
		return f;
	}
	kcr_iso8601(m->modified, modified);
	/* the classic agents fallback derives the id from "sid/fid" */
	cJSON_AddStringToObject(f, "name", ref);
	cJSON_AddStringToObject(f, "filename", m->name);
	cJSON_AddStringToObject(f, "session_id", m->session_id);
	cJSON_AddStringToObject(f, "storage_session_id", m->session_id);
	cJSON_AddNullToObject(f, "content");
	cJSON_AddNumberToObject(f, "size", (double)m->size);
	cJSON_AddStringToObject(f, "lastModified", modified);
	cJSON_AddStringToObject(f, "etag", m->sha256);
	cJSON_AddStringToObject(f, "contentType", m->content_type ? m->content_type : "");
	cJSON_AddStringToObject(f, "path", path);
	md = cJSON_AddObjectToObject(f, "metadata");
	cJSON_AddStringToObject(md, "content-type", m->content_type ? m->content_type : "");
	cJSON_AddStringToObject(md, "original-filename",
				m->original_name ? m->original_name : m->name);
	return f;
}

static void
h_files(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	const char *detail = kcr_http_query(req, "detail");
	struct kcr_file_meta *files = NULL;
	kcr_error_t err = NULL;
	size_t n = 0;
	bool active;
	char now[32];
	cJSON *a;

	detail = detail && *detail ? detail : "full";
	if (strcmp(detail, "summary") && strcmp(detail, "simple") && strcmp(detail, "full")) {
		kcr_http_reply_error(resp, req, 400, "validation", "detail",
				     "detail must be summary, simple or full");
		return;
	}
	if (!kcr_id_valid(req->params[0])) {
		kcr_http_reply_error(resp, req, 400, "validation", "session_id", "invalid session id");
		return;
	}
	if (kcr_service_list(api->svc, req->params[0], &files, &n, &active, &err) < 0) {
		reply_service_error(resp, req, err);
		return;
	}
	kcr_iso8601(kcr_wall_time(), now);
	a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, list_entry(&files[i], detail, now));
	kcr_file_meta_list_free(files, n);
	kcr_http_reply_json(resp, 200, a);
}

static bool
check_ids(struct kcr_http_req *req, struct kcr_http_resp *resp)
{
	if (kcr_id_valid(req->params[0]) && kcr_id_valid(req->params[1]))
		return true;
	kcr_http_reply_error(resp, req, 400, "validation", "path",
			     "invalid session or file id (expected 21 characters of [A-Za-z0-9_-])");
	return false;
}

static void
cors(struct kcr_http_resp *resp)
{
	kcr_http_add_header(resp, "Access-Control-Allow-Origin", "*");
	kcr_http_add_header(resp, "Access-Control-Allow-Methods", "GET, OPTIONS");
	kcr_http_add_header(resp, "Access-Control-Allow-Headers", "X-API-Key, Authorization");
}

static char *
content_disposition(const char *name)
{
	kcr_autofree char *ascii = kcr_xstrdup(name);
	kcr_autofree char *pct = kcr_percent_encode(name);
	char *r;

	for (char *p = ascii; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '"' || *p == '\\')
			*p = '_';
	r = kcr_strdup_printf("attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii, pct);
	return r;
}

static void
h_download(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_file_meta m = { 0 };
	kcr_error_t err = NULL;
	kcr_autofree char *disp = NULL;
	char *data = NULL;
	size_t len = 0;

	if (!check_ids(req, resp))
		return;
	if (kcr_service_get_file(api->svc, req->params[0], req->params[1], &m, &data, &len,
				 &err) < 0) {
		reply_service_error(resp, req, err);
		return;
	}
	kcr_http_reply_bytes(resp, 200, data, len,
			     m.content_type ? m.content_type : "application/octet-stream");
	disp = content_disposition(m.name);
	kcr_http_add_header(resp, "Content-Disposition", disp);
	kcr_http_add_header(resp, "Cache-Control", "private, max-age=3600");
	kcr_http_add_header(resp, "ETag", m.sha256);
	cors(resp);
	kcr_file_meta_release(&m);
}

static void
h_download_options(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	kcr_http_reply_bytes(resp, 204, NULL, 0, "text/plain");
	cors(resp);
}

static void
h_delete(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	kcr_error_t err = NULL;

	if (!check_ids(req, resp))
		return;
	if (kcr_service_delete_file(api->svc, req->params[0], req->params[1], &err) < 0)
		reply_service_error(resp, req, err);
	else
		kcr_http_reply_bytes(resp, 200, NULL, 0, "text/plain");
}

/* ---- the Python state of a session (GET/POST/DELETE /state/{sid}) ------ */

/* KubeCodeRun's state errors: "error" is a code ("state_not_found"), the
 * text is in "message", with the members every error reply has. */
static void
reply_state_error(struct kcr_http_resp *resp, const struct kcr_http_req *req, const char *code,
		  kcr_error_t err)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", code);
	cJSON_AddStringToObject(o, "error_type", kcr_errc_name(err->code));
	cJSON_AddStringToObject(o, "message", err->msg);
	cJSON_AddArrayToObject(o, "details");
	cJSON_AddStringToObject(o, "request_id", req->request_id);
	cJSON_AddNumberToObject(o, "timestamp", kcr_wall_time());
	kcr_http_reply_json(resp, kcr_errc_http_status(err->code), o);
	kcr_error_free(err);
}

static bool
check_sid(struct kcr_http_req *req, struct kcr_http_resp *resp)
{
	if (kcr_id_valid(req->params[0]))
		return true;
	kcr_http_reply_error(resp, req, 400, "validation", "session_id", "invalid session id");
	return false;
}

/* If-None-Match: "*", or a list of entity tags of which one is ours. */
static bool
etag_matches(const char *inm, const char *hash)
{
	return inm && (strcmp(inm, "*") == 0 || strstr(inm, hash) != NULL);
}

static void
add_etag(struct kcr_http_resp *resp, const char *hash)
{
	char etag[70];

	snprintf(etag, sizeof(etag), "\"%s\"", hash);
	kcr_http_add_header(resp, "ETag", etag);
}

static void
h_state_get(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	const char *inm = kcr_http_header(req, "If-None-Match");
	struct kcr_state_info info;
	kcr_error_t err = NULL;
	char *data = NULL;
	size_t len = 0;

	if (!check_sid(req, resp))
		return;
	/* the client has it already: no need to read the bytes */
	if (inm && kcr_service_state_info(api->svc, req->params[0], &info, &err) == 0 &&
	    etag_matches(inm, info.hash)) {
		kcr_http_reply_bytes(resp, 304, NULL, 0, "application/octet-stream");
		add_etag(resp, info.hash);
		return;
	}
	kcr_error_release(&err);
	if (kcr_service_state_get(api->svc, req->params[0], &data, &len, &info, &err) < 0) {
		if (err->code == KCR_E_NOTFOUND)
			reply_state_error(resp, req, "state_not_found", err);
		else
			reply_service_error(resp, req, err);
		return;
	}
	kcr_http_reply_bytes(resp, 200, data, len, "application/octet-stream");
	add_etag(resp, info.hash);
	kcr_http_add_header(resp, "Cache-Control", "private, no-cache");
}

static void
h_state_post(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_state_info info;
	kcr_error_t err = NULL;
	cJSON *o;

	if (!check_sid(req, resp))
		return;
	if (req->mp != NULL) {
		kcr_error_set(&err, KCR_E_INVALID, 0,
			      "send the state as the raw body (application/octet-stream), "
			      "not as multipart/form-data");
		reply_state_error(resp, req, "invalid_state", err);
		return;
	}
	if (kcr_service_state_put(api->svc, req->params[0], req->body.data ? req->body.data : "",
				  req->body.len, &info, &err) < 0) {
		switch (err->code) {
		case KCR_E_NOTFOUND: reply_state_error(resp, req, "session_not_found", err); break;
		case KCR_E_LIMIT: reply_state_error(resp, req, "state_too_large", err); break;
		case KCR_E_INVALID: reply_state_error(resp, req, "invalid_state", err); break;
		default: reply_service_error(resp, req, err); break;
		}
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "message", "state_uploaded");
	cJSON_AddNumberToObject(o, "size", (double)info.size);
	kcr_http_reply_json(resp, 201, o);
}

static void
h_state_delete(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	kcr_error_t err = NULL;

	if (!check_sid(req, resp))
		return;
	if (kcr_service_state_delete(api->svc, req->params[0], &err) < 0)
		reply_service_error(resp, req, err);
	else
		kcr_http_reply_bytes(resp, 204, NULL, 0, "text/plain");
}

static void
h_state_info(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_state_info info;
	kcr_error_t err = NULL;
	bool exists;

	if (!check_sid(req, resp))
		return;
	exists = kcr_service_state_info(api->svc, req->params[0], &info, &err) == 0;
	if (!exists && err->code != KCR_E_NOTFOUND) {
		reply_service_error(resp, req, err);
		return;
	}
	kcr_error_release(&err);
	kcr_http_reply_json(resp, 200, kcr_state_info_json(req->params[0], exists ? &info : NULL));
}

static void
h_health(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	cJSON *o = cJSON_CreateObject();
	unsigned int running, waiting;

	kcr_service_load(api->svc, &running, &waiting);
	cJSON_AddStringToObject(o, "status", "healthy");
	cJSON_AddStringToObject(o, "version", PACKAGE_VERSION);
	cJSON_AddNumberToObject(o, "executions_running", running);
	cJSON_AddNumberToObject(o, "executions_waiting", waiting);
	kcr_http_reply_json(resp, 200, o);
}

static void
h_ready(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", "ready");
	kcr_http_reply_json(resp, 200, o);
}

/* Public (KCR_ROUTE_PUBLIC) so that a Prometheus scraper needs no key,
 * unless server.metrics_public is false: then it checks the key itself. */
static void
h_metrics(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_buf b;
	unsigned int running, waiting;
	size_t len;
	char *text;

	if (!api->metrics_public && !kcr_api_authorize(req, resp, ud))
		return;
	kcr_service_load(api->svc, &running, &waiting);
	kcr_metrics_update_process(running, waiting);
	kcr_buf_init(&b);
	kcr_metrics_render(&b);
	text = kcr_buf_steal(&b, &len);
	kcr_http_reply_bytes(resp, 200, text, len, KCR_METRICS_CONTENT_TYPE);
}

static const struct kcr_http_route routes[] = {
	{ "POST", "/exec", h_exec, KCR_ROUTE_SLOW, "exec" },
	{ "POST", "/upload", h_upload, KCR_ROUTE_MULTIPART | KCR_ROUTE_SLOW, "upload" },
	{ "POST", "/upload/batch", h_upload_batch, KCR_ROUTE_MULTIPART | KCR_ROUTE_SLOW,
	  "upload_batch" },
	{ "GET", "/files/{}", h_files, 0, "files" },
	{ "DELETE", "/files/{}/{}", h_delete, 0, "delete" },
	{ "GET", "/download/{}/{}", h_download, 0, "download" },
	{ "OPTIONS", "/download/{}/{}", h_download_options, KCR_ROUTE_PUBLIC, "download_options" },
	{ "GET", "/state/{}", h_state_get, 0, "state_get" },
	{ "POST", "/state/{}", h_state_post, KCR_ROUTE_SLOW, "state_upload" },
	{ "DELETE", "/state/{}", h_state_delete, 0, "state_delete" },
	{ "GET", "/state/{}/info", h_state_info, 0, "state_info" },
	{ "GET", "/pool", kcr_api_pool_status, 0, "pool" },
	{ "POST", "/pool/warmup", kcr_api_pool_warmup, KCR_ROUTE_SLOW, "pool_warmup" },
	{ "GET", "/health", h_health, KCR_ROUTE_PUBLIC, "health" },
	{ "GET", "/ready", h_ready, KCR_ROUTE_PUBLIC, "ready" },
	{ "GET", "/metrics", h_metrics, KCR_ROUTE_PUBLIC, "metrics" },
	{ NULL },
};

const struct kcr_http_route *
kcr_api_routes(void)
{
	return routes;
}

/* ---- auth ------------------------------------------------------------ */

/* The key from X-API-Key, Authorization: Bearer|ApiKey, or, for JSON
 * bodies, LIBRECHAT_CODE_API_KEY (agents >= 3.1.68 send it only there). */
static char *
find_key(struct kcr_http_req *req)
{
	const char *h = kcr_http_header(req, "X-API-Key");
	const char *ct = kcr_http_header(req, "Content-Type");
	static const char *const body_keys[] = { "LIBRECHAT_CODE_API_KEY", "api_key", "apiKey" };
	char *key = NULL;
	cJSON *o;

	if (h && *h)
		return kcr_xstrdup(h);
	h = kcr_http_header(req, "Authorization");
	if (h && strncasecmp(h, "Bearer ", 7) == 0)
		return kcr_xstrdup(h + 7);
	if (h && strncasecmp(h, "ApiKey ", 7) == 0)
		return kcr_xstrdup(h + 7);
	if (!ct || strncasecmp(ct, "application/json", 16) != 0 || req->body.len == 0)
		return NULL;
	o = cJSON_ParseWithLength(req->body.data, req->body.len);
	for (size_t i = 0; cJSON_IsObject(o) && !key && i < KCR_ARRAY_SIZE(body_keys); i++) {
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, body_keys[i]);

		if (cJSON_IsString(k))
			key = kcr_xstrdup(k->valuestring);
	}
	cJSON_Delete(o);
	return key;
}

bool
kcr_api_authorize(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	kcr_autofree char *key = find_key(req);
	bool ok;

	pthread_rwlock_rdlock(&api->auth_lock);
	ok = kcr_auth_trusted(api->auth, req->peer) || kcr_auth_check_key(api->auth, key);
	pthread_rwlock_unlock(&api->auth_lock);
	if (key)
		kcr_auth_key_hash(key, req->key_hash);
	if (!ok)
		kcr_http_reply_error(resp, req, 401, "authentication", NULL,
				     key ? "Invalid API key" : "Missing API key");
	return ok;
}

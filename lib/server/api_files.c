/* Files: POST /upload and /upload/batch, GET /files/{sid}, GET
 * /download/{sid}/{fid}, DELETE /files/{sid}/{fid}. */
#include <config.h>

#include "base/clock.h"
#include "base/encode.h"
#include "server/api-internal.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
		if (api_bad_name_reason(p->filename))
			return api_fail(v, 400, "file", "file name '%.64s' %s", p->filename,
					api_bad_name_reason(p->filename));
		if (p->size > api->file_max)
			return api_fail(v, 413, "file",
					"'%.64s' is %llu bytes, over the limit of %llu",
					p->filename, (unsigned long long)p->size,
					(unsigned long long)api->file_max);
		(*n_files)++;
	}
	if (*n_files == 0)
		return api_fail(v, 422, "file",
				"no file part (send the file as multipart field 'file')");
	if (*n_files > api->files_per_upload)
		return api_fail(v, 413, "file", "%zu files in one upload, over the limit of %zu",
				*n_files, api->files_per_upload);
	if (ent && (ent->data.len == 0 || !api_valid_entity_id(ent->data.data)))
		return api_fail(v, 400, "entity_id",
				"entity_id must be 1..40 characters of [A-Za-z0-9_-]");
	return 0;
}

static cJSON *
upload_reply(const char *sid, cJSON *files, bool batch, size_t ok, size_t failed)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "message",
				!batch || failed == 0 ? "success"
				: ok                  ? "partial"
						      : "error");
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
undo_upload(struct kcr_api *api, const char *tenant, cJSON *files)
{
	const cJSON *f;

	cJSON_ArrayForEach (f, files) {
		const cJSON *fid = cJSON_GetObjectItemCaseSensitive(f, "fileId");
		const cJSON *sid = cJSON_GetObjectItemCaseSensitive(f, "session_id");
		kcr_error_t e = NULL;

		if (cJSON_IsString(fid) && cJSON_IsString(sid) &&
		    kcr_service_delete_file(api->svc, tenant, sid->valuestring, fid->valuestring,
					    &e) < 0)
			kcr_error_warn_release(&e);
	}
	cJSON_Delete(files);
}

static void
handle_upload(struct kcr_http_req *req, struct kcr_http_resp *resp, struct kcr_api *api, bool batch)
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
		api_reply_verr(resp, req, &v);
		return;
	}
	if (sess && !kcr_id_valid(sess->data.data ? sess->data.data : "")) {
		kcr_http_reply_error(resp, req, 400, "validation", "session_id",
				     "invalid session id");
		return;
	}
	if (kcr_service_upload_session(api->svc, req->tenant, sess ? sess->data.data : NULL,
				       ent ? ent->data.data : NULL, user, sid, &err) < 0) {
		api_reply_service_error(resp, req, err);
		return;
	}
	files = cJSON_CreateArray();
	for (size_t i = 0; i < req->n_parts; i++) {
		const struct kcr_http_part *p = &req->parts[i];
		struct kcr_file_meta m = { 0 };

		if (!is_file_part(p))
			continue;
		if (kcr_service_put_file(api->svc, sid, p->filename,
					 p->data.data ? p->data.data : "", p->fd, p->size, &m,
					 &err) < 0) {
			failed++;
			if (!batch) { /* one file failed: the whole upload fails */
				undo_upload(api, req->tenant, files);
				api_reply_service_error(resp, req, err);
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

void
api_h_upload(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	handle_upload(req, resp, ud, false);
}

void
api_h_upload_batch(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
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

void
api_h_files(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
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
	if (!api_id_plausible(req->params[0])) {
		kcr_http_reply_error(resp, req, 400, "validation", "session_id",
				     "invalid session id");
		return;
	}
	if (!kcr_id_valid(req->params[0])) { /* unknown, as LibreChat expects: no files */
		kcr_http_reply_json(resp, 200, cJSON_CreateArray());
		return;
	}
	if (kcr_service_list(api->svc, req->tenant, req->params[0], &files, &n, &active, &err) <
	    0) {
		api_reply_service_error(resp, req, err);
		return;
	}
	kcr_iso8601(kcr_wall_time(), now);
	a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, list_entry(&files[i], detail, now));
	kcr_file_meta_list_free(files, n);
	kcr_http_reply_json(resp, 200, a);
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

void
api_h_download(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_file_meta m = { 0 };
	kcr_error_t err = NULL;
	kcr_autofree char *disp = NULL;
	uint64_t len = 0;
	int fd = -1;

	if (!api_check_ids(req, resp))
		return;
	/* through a spool: a file of a GiB never sits in kcr's memory */
	if (kcr_service_get_file_fd(api->svc, req->tenant, req->params[0], req->params[1], &m, &fd,
				    &len, &err) < 0) {
		api_reply_service_error(resp, req, err);
		return;
	}
	kcr_http_reply_fd(resp, 200, fd, len,
			  m.content_type ? m.content_type : "application/octet-stream");
	disp = content_disposition(m.name);
	kcr_http_add_header(resp, "Content-Disposition", disp);
	kcr_http_add_header(resp, "Cache-Control", "private, max-age=3600");
	kcr_http_add_header(resp, "ETag", m.sha256);
	kcr_file_meta_release(&m);
}

/* KubeCodeRun's preflight route: 204. The CORS headers, when
 * server.cors_origins allows the origin, are the server's (http_server.c). */
void
api_h_download_options(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	kcr_http_reply_bytes(resp, 204, NULL, 0, "text/plain");
}

void
api_h_delete(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	kcr_error_t err = NULL;

	if (!api_check_ids(req, resp))
		return;
	if (kcr_service_delete_file(api->svc, req->tenant, req->params[0], req->params[1], &err) <
	    0)
		api_reply_service_error(resp, req, err);
	else
		kcr_http_reply_bytes(resp, 200, NULL, 0, "text/plain");
}

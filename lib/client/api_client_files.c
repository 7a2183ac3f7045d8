/* Files from the CLI: POST /upload (streamed multipart), GET /download,
 * GET /files and DELETE /files. */
#include <config.h>

#include "base/clock.h"
#include "base/filename.h"
#include "base/json.h"
#include "client/api_client-internal.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	const char *msg = kcr_json_str(o, "message"), *s = kcr_json_str(o, "session_id");
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "files");

	if (msg == NULL || strcmp(msg, "success") != 0)
		return apic_malformed(c, "the upload's message is not \"success\"", err);
	if (!kcr_id_valid(s))
		return apic_malformed(c, "no valid session_id", err);
	if (!cJSON_IsArray(list) || (size_t)cJSON_GetArraySize(list) != n)
		return apic_malformed(c, "not one entry per uploaded file", err);
	memcpy(sid, s, KCR_ID_LEN + 1);
	for (size_t i = 0; i < n; i++) {
		const cJSON *f = cJSON_GetArrayItem(list, (int)i);
		const char *id = kcr_json_str(f, "fileId"), *name = kcr_json_str(f, "filename");

		if (!kcr_id_valid(id))
			return apic_malformed(c, "a file without a valid fileId", err);
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
	int r = apic_perform_json(c, "POST", "/upload", NULL, mime, &o, err);

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
int
apic_check_ids(const char *sid, const char *fid, kcr_error_t *err)
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

	if (apic_check_ids(sid, fid, err) < 0)
		return -1;
	path = kcr_strdup_printf("/download/%s/%s", sid, fid);
	if (apic_perform(c, "GET", path, NULL, NULL, &r, err) < 0) {
		apic_reply_release(&r);
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
	apic_reply_release(&r);
	return 0;
}

/* One entry of detail=full: kcr's {id, filename, ...} or KubeCodeRun's
 * {id, name: <file name>, metadata: {original-filename}}. */
static int
parse_list_entry(const struct kcr_api_client *c, const cJSON *f, const char *sid,
		 struct kcr_file_meta *m, kcr_error_t *err)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(f, "metadata");
	const char *id = kcr_json_str(f, "id"), *name = kcr_json_str(f, "filename");
	const char *orig = kcr_json_str(md, "original-filename");
	const char *etag = kcr_json_str(f, "etag"), *ctype = kcr_json_str(f, "contentType");

	if (!kcr_id_valid(id))
		return apic_malformed(c, "a file without a valid id", err);
	if (name == NULL && (name = kcr_json_str(f, "name")) != NULL && strchr(name, '/'))
		name = orig;
	memset(m, 0, sizeof(*m));
	memcpy(m->id, id, sizeof(m->id));
	memcpy(m->session_id, sid, sizeof(m->session_id));
	m->name = kcr_sanitize_filename(name && *name ? name : id);
	m->original_name = orig ? kcr_xstrdup(orig) : NULL;
	m->content_type = ctype ? kcr_xstrdup(ctype) : NULL;
	m->size = kcr_json_u64(f, "size", 0);
	m->created = m->modified = kcr_iso8601_parse(kcr_json_str(f, "lastModified"));
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

	if (apic_check_ids(sid, NULL, err) < 0)
		return -1;
	path = kcr_strdup_printf("/files/%s?detail=full", sid);
	if (apic_perform_json(c, "GET", path, NULL, NULL, &o, err) < 0)
		return -1;
	if (!cJSON_IsArray(o)) {
		cJSON_Delete(o);
		return apic_malformed(c, "the file list is not an array", err);
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

	if (apic_check_ids(sid, fid, err) < 0)
		return -1;
	path = kcr_strdup_printf("/files/%s/%s", sid, fid);
	ret = apic_perform(c, "DELETE", path, NULL, NULL, &r, err);
	apic_reply_release(&r);
	return ret;
}

/* Files of a session: bytes in the file store first, then the record in
 * the session store, so a record never points at missing bytes. */
#include <config.h>

#include "base/clock.h"
#include "base/encode.h"
#include "base/filename.h"
#include "base/files.h"
#include "engine/service-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *
svc_blob_key(const char *sid, const char *fid)
{
	return kcr_strdup_printf("%s/%s", sid, fid);
}

/* Stores bytes (data, or the file fd > 0 holds), then the record: a
 * record never points at missing bytes. */
int
svc_store_file(struct kcr_service *s, struct kcr_file_meta *m, const void *data, int fd,
	       uint64_t len, kcr_error_t *err)
{
	kcr_autofree char *key = svc_blob_key(m->session_id, m->id);

	m->size = len;
	if (fd <= 0)
		kcr_sha256_hex(data, (size_t)len, m->sha256);
	else if (kcr_sha256_hex_fd(fd, m->sha256) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "reading the output '%s'", m->name);
	if (m->content_type == NULL)
		m->content_type = kcr_xstrdup(kcr_content_type_for(m->name));
	if ((fd > 0 ? kcr_store_file_put_fd(&s->stores, key, fd, len, err)
		    : kcr_store_file_put(&s->stores, key, data, (size_t)len, err)) < 0)
		return kcr_error_wrap(err, "storing '%s'", m->name);
	if (kcr_store_meta_put(&s->stores, m, err) < 0) {
		kcr_error_t e = NULL;

		kcr_store_file_del(&s->stores, key, &e);
		kcr_error_free(e);
		return kcr_error_wrap(err, "storing '%s'", m->name);
	}
	return 0;
}

void
svc_new_meta(struct kcr_file_meta *m, const char *sid, const char *name, const char *kind)
{
	double now = kcr_wall_time();

	memset(m, 0, sizeof(*m));
	kcr_id_generate(m->id);
	memcpy(m->session_id, sid, KCR_ID_LEN + 1);
	m->name = kcr_xstrdup(name);
	m->kind = kcr_xstrdup(kind);
	m->created = m->modified = now;
}

int
kcr_service_put_file(struct kcr_service *s, const char *sid, const char *name, const void *data,
		     int fd, uint64_t len, struct kcr_file_meta *out, kcr_error_t *err)
{
	if (len > s->file_max)
		return kcr_error_set(err, KCR_E_LIMIT, 0,
				     "'%s' is %llu bytes, over the limit of %llu", name,
				     (unsigned long long)len, (unsigned long long)s->file_max);
	svc_new_meta(out, sid, "", "upload");
	free(out->name);
	out->name = kcr_sanitize_filename(name);
	out->original_name = kcr_xstrdup(name);
	if (svc_store_file(s, out, data, fd, len, err) < 0) {
		kcr_file_meta_release(out);
		return -1;
	}
	return 0;
}

int
kcr_service_get_file(struct kcr_service *s, const char *tenant, const char *sid, const char *fid,
		     struct kcr_file_meta *meta, char **data, size_t *len, kcr_error_t *err)
{
	kcr_autofree char *key = NULL;

	if (!kcr_id_valid(sid) || !kcr_id_valid(fid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session or file id");
	/* expired, not yet swept: gone all the same */
	if (svc_session_need(s, tenant, sid, false, err) < 0 ||
	    kcr_store_meta_get(&s->stores, sid, fid, meta, err) < 0)
		return -1;
	if (data == NULL)
		return 0;
	key = svc_blob_key(sid, fid);
	if (kcr_store_file_get(&s->stores, key, s->file_max, data, len, err) < 0) {
		kcr_file_meta_release(meta);
		return -1;
	}
	return 0;
}

int
kcr_service_get_file_fd(struct kcr_service *s, const char *tenant, const char *sid, const char *fid,
			struct kcr_file_meta *meta, int *fd, uint64_t *len, kcr_error_t *err)
{
	kcr_autofree char *key = NULL;
	kcr_autoclose int spool = -1;

	if (kcr_service_get_file(s, tenant, sid, fid, meta, NULL, NULL, err) < 0)
		return -1;
	key = svc_blob_key(sid, fid);
	spool = kcr_spool_open(kcr_engine_spool_dir(s->engine), err);
	if (spool < 0 || kcr_store_file_get_fd(&s->stores, key, s->file_max, spool, len, err) < 0) {
		kcr_file_meta_release(meta);
		return -1;
	}
	*fd = kcr_steal_fd(&spool);
	return 0;
}

int
kcr_service_list(struct kcr_service *s, const char *tenant, const char *sid,
		 struct kcr_file_meta **files, size_t *n, bool *active, kcr_error_t *err)
{
	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	if (svc_session_active(s, tenant, sid, active, err) < 0)
		return -1;
	if (!*active) { /* unknown or expired: no files (LibreChat re-uploads) */
		*files = kcr_xzalloc(sizeof(**files));
		*n = 0;
		return 0;
	}
	return kcr_store_meta_list(&s->stores, sid, files, n, err);
}

int
kcr_service_delete_file(struct kcr_service *s, const char *tenant, const char *sid, const char *fid,
			kcr_error_t *err)
{
	kcr_autofree char *key = NULL;

	if (!kcr_id_valid(sid) || !kcr_id_valid(fid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session or file id");
	if (svc_session_need(s, tenant, sid, false, err) < 0 ||
	    kcr_store_meta_delete(&s->stores, sid, fid, err) < 0)
		return -1;
	key = svc_blob_key(sid, fid);
	return kcr_store_file_del(&s->stores, key, err);
}

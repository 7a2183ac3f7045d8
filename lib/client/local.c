/* The CLI's sessions in the local state dir: lib/engine/service*.c directly, with
 * the checks `kcr serve` makes in front of it (lib/server/api.c), in the same
 * words, so that local and remote runs answer alike. */
#include <config.h>

#include "client/client-internal.h"
#include "base/ids.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

struct local {
	struct kcr_service *svc;
	size_t files_per_upload;
	uint64_t file_max;
};

static int
local_open(void **self, const struct kcr_config *cfg, kcr_error_t *err)
{
	struct kcr_service *svc = kcr_service_new(cfg, err);
	struct local *l;

	if (svc == NULL)
		return -1;
	l = kcr_xzalloc(sizeof(*l));
	l->svc = svc;
	l->files_per_upload = (size_t)kcr_config_int(cfg, "limits.files_per_upload");
	l->file_max = (uint64_t)kcr_config_int(cfg, "limits.file_size_mb") << 20;
	*self = l;
	return 0;
}

static void
local_close(void *self)
{
	struct local *l = self;

	if (l == NULL)
		return;
	kcr_service_free(l->svc);
	free(l);
}

/* What POST /upload checks before it stores anything. */
static int
check_upload(const struct local *l, const struct kcr_file *files, size_t n, kcr_error_t *err)
{
	for (size_t i = 0; i < n; i++)
		if (files[i].len > l->file_max)
			return kcr_error_set(
				err, KCR_E_LIMIT, 0, "'%.64s' is %zu bytes, over the limit of %llu",
				files[i].name, files[i].len, (unsigned long long)l->file_max);
	if (n > l->files_per_upload)
		return kcr_error_set(err, KCR_E_LIMIT, 0,
				     "%zu files in one upload, over the limit of %zu", n,
				     l->files_per_upload);
	return 0;
}

static void
undo_upload(struct local *l, struct kcr_file_meta *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		kcr_error_t e = NULL;

		if (kcr_service_delete_file(l->svc, NULL, m[i].session_id, m[i].id, &e) < 0)
			kcr_error_warn_release(&e);
	}
	kcr_file_meta_list_free(m, n);
}

static int
local_upload(void *self, const char *session_id, const char *entity_id,
	     const struct kcr_file *files, size_t n, char sid[KCR_ID_LEN + 1],
	     struct kcr_file_meta **out, kcr_error_t *err)
{
	struct local *l = self;
	struct kcr_file_meta *m;

	if (check_upload(l, files, n, err) < 0 ||
	    kcr_service_upload_session(l->svc, NULL, session_id, entity_id, NULL, sid, err) < 0)
		return -1;
	m = kcr_xzalloc((n + 1) * sizeof(*m));
	for (size_t i = 0; i < n; i++)
		if (kcr_service_put_file(l->svc, sid, files[i].name,
					 files[i].data ? files[i].data : "", files[i].fd,
					 files[i].len, &m[i], err) < 0) {
			undo_upload(l, m, i);
			return -1;
		}
	*out = m;
	return 0;
}

static int
local_exec(void *self, struct kcr_exec_request *call, struct kcr_exec_result *res, kcr_error_t *err)
{
	struct local *l = self;

	return kcr_service_exec(l->svc, call, res, err);
}

static int
local_get_file(void *self, const char *sid, const char *fid, struct kcr_file_meta *meta,
	       char **data, size_t *len, kcr_error_t *err)
{
	struct local *l = self;

	return kcr_service_get_file(l->svc, NULL, sid, fid, meta, data, len, err);
}

static int
local_list(void *self, const char *sid, struct kcr_file_meta **files, size_t *n, kcr_error_t *err)
{
	struct local *l = self;
	bool active;

	return kcr_service_list(l->svc, NULL, sid, files, n, &active, err);
}

static int
local_delete_file(void *self, const char *sid, const char *fid, kcr_error_t *err)
{
	struct local *l = self;

	return kcr_service_delete_file(l->svc, NULL, sid, fid, err);
}

static int
local_state_get(void *self, const char *sid, char **data, size_t *len, struct kcr_state_info *info,
		kcr_error_t *err)
{
	struct local *l = self;

	return kcr_service_state_get(l->svc, NULL, sid, data, len, info, err);
}

static int
local_state_put(void *self, const char *sid, const void *data, size_t len, kcr_error_t *err)
{
	struct local *l = self;
	struct kcr_state_info info;

	return kcr_service_state_put(l->svc, NULL, sid, data, len, &info, err);
}

static int
local_state_delete(void *self, const char *sid, kcr_error_t *err)
{
	struct local *l = self;

	return kcr_service_state_delete(l->svc, NULL, sid, err);
}

static int
local_state_info(void *self, const char *sid, struct kcr_state_info *info, kcr_error_t *err)
{
	struct local *l = self;

	return kcr_service_state_info(l->svc, NULL, sid, info, err);
}

const struct kcr_client_ops kcr_client_local_ops = {
	.name = "local",
	.open = local_open,
	.upload = local_upload,
	.exec = local_exec,
	.get_file = local_get_file,
	.list = local_list,
	.delete_file = local_delete_file,
	.state_get = local_state_get,
	.state_put = local_state_put,
	.state_delete = local_state_delete,
	.state_info = local_state_info,
	.close = local_close,
};

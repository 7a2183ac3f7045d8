/* The CLI's sessions on a kcr server: lib/client/api_client.c behind the client
 * ops, with client.server and client.api_key from the configuration. */
#include <config.h>

#include "client/api_client.h"
#include "base/ids.h"
#include "client/client-internal.h"

static int
remote_open(void **self, const struct kcr_config *cfg, kcr_error_t *err)
{
	struct kcr_api_client *c = kcr_api_client_new(kcr_config_str(cfg, "client.server"),
						      kcr_config_str(cfg, "client.api_key"), err);

	if (c == NULL)
		return -1;
	kcr_api_client_set_ca_file(c, kcr_config_str(cfg, "client.ca_file"));
	*self = c;
	return 0;
}

static void
remote_close(void *self)
{
	kcr_api_client_free(self);
}

static int
remote_upload(void *self, const char *session_id, const char *entity_id,
	      const struct kcr_file *files, size_t n, char sid[KCR_ID_LEN + 1],
	      struct kcr_file_meta **out, kcr_error_t *err)
{
	return kcr_api_client_upload(self, session_id, entity_id, files, n, sid, out, err);
}

static int
remote_exec(void *self, struct kcr_exec_request *call, struct kcr_exec_result *res,
	    kcr_error_t *err)
{
	return kcr_api_client_exec(self, call, res, err);
}

static int
remote_get_file(void *self, const char *sid, const char *fid, struct kcr_file_meta *meta,
		char **data, size_t *len, kcr_error_t *err)
{
	return kcr_api_client_download(self, sid, fid, meta, data, len, err);
}

static int
remote_list(void *self, const char *sid, struct kcr_file_meta **files, size_t *n,
	    kcr_error_t *err)
{
	return kcr_api_client_list(self, sid, files, n, err);
}

static int
remote_delete_file(void *self, const char *sid, const char *fid, kcr_error_t *err)
{
	return kcr_api_client_delete(self, sid, fid, err);
}

static int
remote_state_get(void *self, const char *sid, char **data, size_t *len,
		 struct kcr_state_info *info, kcr_error_t *err)
{
	return kcr_api_client_state_get(self, sid, data, len, info, err);
}

static int
remote_state_put(void *self, const char *sid, const void *data, size_t len, kcr_error_t *err)
{
	return kcr_api_client_state_put(self, sid, data, len, err);
}

static int
remote_state_delete(void *self, const char *sid, kcr_error_t *err)
{
	return kcr_api_client_state_delete(self, sid, err);
}

static int
remote_state_info(void *self, const char *sid, struct kcr_state_info *info, kcr_error_t *err)
{
	return kcr_api_client_state_info(self, sid, info, err);
}

const struct kcr_client_ops kcr_client_remote_ops = {
	.name = "remote",
	.open = remote_open,
	.upload = remote_upload,
	.exec = remote_exec,
	.get_file = remote_get_file,
	.list = remote_list,
	.delete_file = remote_delete_file,
	.state_get = remote_state_get,
	.state_put = remote_state_put,
	.state_delete = remote_state_delete,
	.state_info = remote_state_info,
	.close = remote_close,
};

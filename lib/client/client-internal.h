/* The implementations behind lib/client/client.h: a const ops table plus an
 * opaque self each (like the sandbox providers and the stores). */
#ifndef KCR_CLIENT_INTERNAL_H
#define KCR_CLIENT_INTERNAL_H

#include "client/client.h"
#include "base/ids.h"

struct kcr_client_ops {
	const char *name; /* "local" | "remote" */
	int (*open)(void **self, const struct kcr_config *cfg, kcr_error_t *err);
	int (*upload)(void *self, const char *session_id, const char *entity_id,
		      const struct kcr_file *files, size_t n, char sid[KCR_ID_LEN + 1],
		      struct kcr_file_meta **out, kcr_error_t *err);
	int (*exec)(void *self, struct kcr_exec_request *call, struct kcr_exec_result *res,
		    kcr_error_t *err);
	int (*get_file)(void *self, const char *sid, const char *fid, struct kcr_file_meta *meta,
			char **data, size_t *len, kcr_error_t *err);
	int (*list)(void *self, const char *sid, struct kcr_file_meta **files, size_t *n,
		    kcr_error_t *err);
	int (*delete_file)(void *self, const char *sid, const char *fid, kcr_error_t *err);
	int (*state_get)(void *self, const char *sid, char **data, size_t *len,
			 struct kcr_state_info *info, kcr_error_t *err);
	int (*state_put)(void *self, const char *sid, const void *data, size_t len,
			 kcr_error_t *err);
	int (*state_delete)(void *self, const char *sid, kcr_error_t *err);
	int (*state_info)(void *self, const char *sid, struct kcr_state_info *info,
			  kcr_error_t *err);
	void (*close)(void *self);
};

extern const struct kcr_client_ops kcr_client_local_ops;
extern const struct kcr_client_ops kcr_client_remote_ops;

#endif

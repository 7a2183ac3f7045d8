/* Sessions and files for the CLI (kcr exec --session, upload, download,
 * files): the same calls against the local state dir (lib/engine/service*.c) or a
 * kcr server (lib/client/api_client.c), chosen by client.server, so that each
 * command behaves and prints the same either way. */
#ifndef KCR_CLIENT_H
#define KCR_CLIENT_H

#include "base/settings.h"
#include "base/error.h"
#include "base/ids.h"
#include "engine/engine.h"
#include "engine/service.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>

struct kcr_client;

/* A server when client.server is set (with client.api_key), else the
 * local state dir and engine. */
struct kcr_client *kcr_client_open(const struct kcr_config *cfg, kcr_error_t *err);
void kcr_client_close(struct kcr_client *c);
bool kcr_client_is_remote(const struct kcr_client *c);

/* Stores files in one session: session_id (which must exist), else the
 * entity's newest one, else a new one. All or nothing. *out (one record
 * per file, in order) is the caller's: kcr_file_meta_list_free(*out, n). */
int kcr_client_upload(struct kcr_client *c, const char *session_id, const char *entity_id,
		      const struct kcr_file *files, size_t n, char sid[KCR_ID_LEN + 1],
		      struct kcr_file_meta **out, kcr_error_t *err);
/* Runs call in its session (see lib/engine/service.h for how it is chosen). */
int kcr_client_exec(struct kcr_client *c, struct kcr_exec_request *call,
		    struct kcr_exec_result *res, kcr_error_t *err);
/* meta is the caller's (kcr_file_meta_release), and so is *data. */
int kcr_client_get_file(struct kcr_client *c, const char *sid, const char *fid,
			struct kcr_file_meta *meta, char **data, size_t *len, kcr_error_t *err);
/* The files of a session, oldest first; none for an unknown or expired
 * session (the API cannot tell those from an empty one). */
int kcr_client_list(struct kcr_client *c, const char *sid, struct kcr_file_meta **files,
		    size_t *n, kcr_error_t *err);
int kcr_client_delete_file(struct kcr_client *c, const char *sid, const char *fid,
			   kcr_error_t *err);

/* The Python state of a session (lib/base/pystate_blob.h), as GET/POST/DELETE
 * /state/SID and GET /state/SID/info move it. get: info may be NULL.
 * put: the bytes are checked first, and the old state stays when they
 * fail (KCR_E_INVALID, KCR_E_LIMIT). KCR_E_NOTFOUND: no state (get, info)
 * or no session (put); delete: no state is not an error. */
int kcr_client_state_get(struct kcr_client *c, const char *sid, char **data, size_t *len,
			 struct kcr_state_info *info, kcr_error_t *err);
int kcr_client_state_put(struct kcr_client *c, const char *sid, const void *data, size_t len,
			 kcr_error_t *err);
int kcr_client_state_delete(struct kcr_client *c, const char *sid, kcr_error_t *err);
int kcr_client_state_info(struct kcr_client *c, const char *sid, struct kcr_state_info *info,
			  kcr_error_t *err);

/* Checks ids given by a user; KCR_E_INVALID saying what is wrong. */
int kcr_client_check_id(const char *what, const char *id, kcr_error_t *err);
int kcr_client_check_entity(const char *entity_id, kcr_error_t *err);

#endif

#include <config.h>

#include "client/client-internal.h"
#include "base/ids.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

#define ENTITY_ID_MAX 40
#define ID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

struct kcr_client {
	const struct kcr_client_ops *ops;
	void *self;
};

struct kcr_client *
kcr_client_open(const struct kcr_config *cfg, kcr_error_t *err)
{
	struct kcr_client *c = kcr_xzalloc(sizeof(*c));

	c->ops = *kcr_config_str(cfg, "client.server") ? &kcr_client_remote_ops
						       : &kcr_client_local_ops;
	if (c->ops->open(&c->self, cfg, err) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

void
kcr_client_close(struct kcr_client *c)
{
	if (c == NULL)
		return;
	c->ops->close(c->self);
	free(c);
}

bool
kcr_client_is_remote(const struct kcr_client *c)
{
	return c->ops == &kcr_client_remote_ops;
}

int
kcr_client_check_id(const char *what, const char *id, kcr_error_t *err)
{
	if (kcr_id_valid(id))
		return 0;
	return kcr_error_set(err, KCR_E_INVALID, 0,
			     "invalid %s id '%.64s' (expected 21 characters of [A-Za-z0-9_-])",
			     what, id ? id : "");
}

int
kcr_client_check_entity(const char *entity_id, kcr_error_t *err)
{
	size_t n = entity_id ? strlen(entity_id) : 0;

	if (n > 0 && n <= ENTITY_ID_MAX && strspn(entity_id, ID_CHARS) == n)
		return 0;
	return kcr_error_set(err, KCR_E_INVALID, 0,
			     "invalid entity id '%.64s' (expected 1 to 40 characters of "
			     "[A-Za-z0-9_-])",
			     entity_id ? entity_id : "");
}

int
kcr_client_upload(struct kcr_client *c, const char *session_id, const char *entity_id,
		  const struct kcr_file *files, size_t n, char sid[KCR_ID_LEN + 1],
		  struct kcr_file_meta **out, kcr_error_t *err)
{
	if (session_id && kcr_client_check_id("session", session_id, err) < 0)
		return -1;
	if (entity_id && kcr_client_check_entity(entity_id, err) < 0)
		return -1;
	if (n == 0)
		return kcr_error_set(err, KCR_E_INVALID, 0, "no files to upload");
	for (size_t i = 0; i < n; i++)
		if (!kcr_name_is_safe(files[i].name))
			return kcr_error_set(err, KCR_E_INVALID, 0, "bad file name '%.64s'",
					     files[i].name);
	return c->ops->upload(c->self, session_id, entity_id, files, n, sid, out, err);
}

int
kcr_client_exec(struct kcr_client *c, struct kcr_exec_request *call, struct kcr_exec_result *res,
		kcr_error_t *err)
{
	if (call->session_id && kcr_client_check_id("session", call->session_id, err) < 0)
		return -1;
	if (call->entity_id && kcr_client_check_entity(call->entity_id, err) < 0)
		return -1;
	for (size_t i = 0; i < call->n_files; i++)
		if (kcr_client_check_id("file", call->files[i].id, err) < 0 ||
		    kcr_client_check_id("session", call->files[i].session_id, err) < 0)
			return -1;
	return c->ops->exec(c->self, call, res, err);
}

/* "file not found", "session expired", the server's 404 text: all say the
 * same to a user, in the same words locally and remotely. */
static int
file_error(const char *sid, const char *fid, kcr_error_t *err)
{
	if ((*err)->code != KCR_E_NOTFOUND)
		return -1;
	kcr_error_release(err);
	return kcr_error_set(err, KCR_E_NOTFOUND, 0, "file '%s' not found in session '%s'", fid,
			     sid);
}

int
kcr_client_get_file(struct kcr_client *c, const char *sid, const char *fid,
		    struct kcr_file_meta *meta, char **data, size_t *len, kcr_error_t *err)
{
	if (kcr_client_check_id("session", sid, err) < 0 ||
	    kcr_client_check_id("file", fid, err) < 0)
		return -1;
	if (c->ops->get_file(c->self, sid, fid, meta, data, len, err) < 0)
		return file_error(sid, fid, err);
	return 0;
}

int
kcr_client_list(struct kcr_client *c, const char *sid, struct kcr_file_meta **files, size_t *n,
		kcr_error_t *err)
{
	if (kcr_client_check_id("session", sid, err) < 0)
		return -1;
	return c->ops->list(c->self, sid, files, n, err);
}

int
kcr_client_delete_file(struct kcr_client *c, const char *sid, const char *fid,
		       kcr_error_t *err)
{
	if (kcr_client_check_id("session", sid, err) < 0 ||
	    kcr_client_check_id("file", fid, err) < 0)
		return -1;
	if (c->ops->delete_file(c->self, sid, fid, err) < 0)
		return file_error(sid, fid, err);
	return 0;
}

/* The same words for "no state" locally and from a server. */
static int
state_error(const char *sid, bool put, kcr_error_t *err)
{
	if ((*err)->code != KCR_E_NOTFOUND)
		return -1;
	kcr_error_release(err);
	if (put)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session '%s' not found", sid);
	return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session '%s' has no state", sid);
}

int
kcr_client_state_get(struct kcr_client *c, const char *sid, char **data, size_t *len,
		     struct kcr_state_info *info, kcr_error_t *err)
{
	if (kcr_client_check_id("session", sid, err) < 0)
		return -1;
	if (c->ops->state_get(c->self, sid, data, len, info, err) < 0)
		return state_error(sid, false, err);
	return 0;
}

int
kcr_client_state_put(struct kcr_client *c, const char *sid, const void *data, size_t len,
		     kcr_error_t *err)
{
	if (kcr_client_check_id("session", sid, err) < 0)
		return -1;
	if (c->ops->state_put(c->self, sid, data, len, err) < 0)
		return state_error(sid, true, err);
	return 0;
}

int
kcr_client_state_delete(struct kcr_client *c, const char *sid, kcr_error_t *err)
{
	if (kcr_client_check_id("session", sid, err) < 0)
		return -1;
	return c->ops->state_delete(c->self, sid, err);
}

int
kcr_client_state_info(struct kcr_client *c, const char *sid, struct kcr_state_info *info,
		      kcr_error_t *err)
{
	if (kcr_client_check_id("session", sid, err) < 0)
		return -1;
	if (c->ops->state_info(c->self, sid, info, err) < 0)
		return state_error(sid, false, err);
	return 0;
}

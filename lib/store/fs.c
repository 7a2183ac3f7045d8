/* The embedded stores: sessions, file metadata and file bytes as files
 * under the state dir. Every write is a rename of a complete temporary
 * file, so a crash never leaves a half-written record or blob.
 *
 *   <state>/sessions/<sid>/session.json
 *   <state>/sessions/<sid>/files/<fid>.json
 *   <state>/sessions/<sid>/state.bin     Python state (lib/base/pystate_blob.h), and
 *   <state>/sessions/<sid>/state.json    its size, hash, created, expires
 *   <state>/entities/<entity id>          newest session of an entity
 *   <state>/blobs/<sid>/<fid>             file bytes */
#include <config.h>

#include "base/json.h"
#include "base/clock.h"
#include "base/encode.h"
#include "base/files.h"
#include "base/ids.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fs_store {
	char *root;
};

static int
fs_open(void **self, const struct kcr_config *cfg, kcr_error_t *err)
{
	struct fs_store *s;
	const char *dir = kcr_config_str(cfg, "state_dir");

	if (kcr_mkdir_p(dir, 0700, err) < 0)
		return -1;
	s = kcr_xzalloc(sizeof(*s));
	s->root = kcr_xstrdup(dir);
	*self = s;
	return 0;
}

static void
fs_close(void *self)
{
	struct fs_store *s = self;

	if (s == NULL)
		return;
	free(s->root);
	free(s);
}

/* Writes path through a temporary file and a rename: all or nothing. */
static int
write_atomic(const char *path, const void *data, size_t len, kcr_error_t *err)
{
	kcr_autofree char *dir = kcr_xstrdup(path);
	kcr_autofree char *tmp = NULL;

	*strrchr(dir, '/') = '\0';
	if (kcr_mkdir_p(dir, 0700, err) < 0)
		return -1;
	tmp = kcr_strdup_printf("%s/.tmp-%d-%lx", dir, (int)getpid(), (unsigned long)kcr_now_ns());
	if (kcr_write_file(tmp, data, len, 0600, err) < 0) {
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return kcr_error_set(err, KCR_E_IO, errno, "cannot store '%s'", path);
	}
	return 0;
}

static int
read_record(const char *path, uint64_t max, char **data, size_t *len, const char *what,
	    kcr_error_t *err)
{
	kcr_error_t e = NULL;

	if (kcr_read_file(path, max, data, len, &e) == 0)
		return 0;
	if (e->code == KCR_E_NOTFOUND) {
		kcr_error_free(e);
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "%s not found", what);
	}
	*err = e;
	return -1;
}

static int
fs_session_put(void *self, const struct kcr_session *s, kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autofree char *json = kcr_session_to_json(s);
	kcr_autofree char *path = kcr_strdup_printf("%s/sessions/%s/session.json", fs->root, s->id);
	kcr_autofree char *epath = NULL;

	if (write_atomic(path, json, strlen(json), err) < 0)
		return -1;
	if (s->entity_id == NULL)
		return 0;
	epath = kcr_strdup_printf("%s/entities/%s", fs->root, s->entity_id);
	return write_atomic(epath, s->id, strlen(s->id), err);
}

static int
fs_session_get(void *self, const char *id, struct kcr_session *out, kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autofree char *path = NULL, *data = NULL;
	size_t len;

	if (!kcr_id_valid(id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session not found");
	path = kcr_strdup_printf("%s/sessions/%s/session.json", fs->root, id);
	if (read_record(path, 1 << 20, &data, &len, "session", err) < 0 ||
	    kcr_session_from_json(data, len, out, err) < 0)
		return -1;
	if (out->expires > 0 && out->expires < kcr_wall_time()) {
		kcr_session_release(out);
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session expired");
	}
	return 0;
}

static int
fs_session_delete(void *self, const char *id, kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autofree char *dir = NULL;

	if (!kcr_id_valid(id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session not found");
	dir = kcr_strdup_printf("%s/sessions/%s", fs->root, id);
	if (kcr_rm_rf(dir) < 0 && errno != ENOENT)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot delete session %s", id);
	return 0;
}

static int
fs_session_by_entity(void *self, const char *entity_id, struct kcr_session *out,
		     kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autofree char *path = kcr_strdup_printf("%s/entities/%s", fs->root, entity_id);
	kcr_autofree char *sid = NULL;
	size_t len;

	if (!kcr_name_is_safe(entity_id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "entity not found");
	if (read_record(path, 64, &sid, &len, "entity", err) < 0)
		return -1;
	return fs_session_get(self, sid, out, err);
}

static int
fs_sessions_expired(void *self, double now, char ***ids, kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autofree char *dir = kcr_strdup_printf("%s/sessions", fs->root);
	DIR *d = opendir(dir);
	struct dirent *de;

	*ids = kcr_xzalloc(sizeof(char *));
	if (d == NULL)
		return errno == ENOENT ? 0 : kcr_error_set(err, KCR_E_IO, errno, "%s", dir);
	while ((de = readdir(d)) != NULL) {
		struct kcr_session s;
		kcr_error_t e = NULL;

		if (!kcr_id_valid(de->d_name))
			continue;
		if (fs_session_get(self, de->d_name, &s, &e) < 0) {
			if (e->code == KCR_E_NOTFOUND)
				kcr_strv_push(ids, de->d_name);
			kcr_error_free(e);
			continue;
		}
		if (s.expires > 0 && s.expires < now)
			kcr_strv_push(ids, de->d_name);
		kcr_session_release(&s);
	}
	closedir(d);
	return 0;
}

static char *
meta_path(const struct fs_store *fs, const char *sid, const char *fid)
{
	return kcr_strdup_printf("%s/sessions/%s/files/%s.json", fs->root, sid, fid);
}

static int
fs_file_put(void *self, const struct kcr_file_meta *m, kcr_error_t *err)
{
	kcr_autofree char *json = kcr_file_meta_to_json(m);
	kcr_autofree char *path = meta_path(self, m->session_id, m->id);

	return write_atomic(path, json, strlen(json), err);
}

static int
fs_file_get(void *self, const char *sid, const char *fid, struct kcr_file_meta *out,
	    kcr_error_t *err)
{
	kcr_autofree char *path = NULL, *data = NULL;
	size_t len;

	if (!kcr_id_valid(sid) || !kcr_id_valid(fid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "file not found");
	path = meta_path(self, sid, fid);
	if (read_record(path, 1 << 20, &data, &len, "file", err) < 0)
		return -1;
	return kcr_file_meta_from_json(data, len, out, err);
}

static int
cmp_created(const void *a, const void *b)
{
	const struct kcr_file_meta *x = a, *y = b;

	return x->created < y->created ? -1 : x->created > y->created;
}

static int
fs_file_list(void *self, const char *sid, struct kcr_file_meta **out, size_t *n,
	     kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autofree char *dir = kcr_strdup_printf("%s/sessions/%s/files", fs->root, sid);
	DIR *d = kcr_id_valid(sid) ? opendir(dir) : NULL;
	struct dirent *de;
	size_t cap = 8;

	*n = 0;
	*out = kcr_xzalloc(cap * sizeof(**out));
	if (d == NULL)
		return 0; /* an unknown session has no files */
	while ((de = readdir(d)) != NULL) {
		char fid[KCR_ID_LEN + 1];
		kcr_error_t e = NULL;

		if (strlen(de->d_name) != KCR_ID_LEN + 5 || strcmp(de->d_name + KCR_ID_LEN, ".json"))
			continue;
		memcpy(fid, de->d_name, KCR_ID_LEN);
		fid[KCR_ID_LEN] = '\0';
		if (*n == cap)
			*out = kcr_xrealloc(*out, (cap *= 2) * sizeof(**out));
		if (fs_file_get(self, sid, fid, &(*out)[*n], &e) < 0) {
			kcr_error_free(e); /* deleted meanwhile */
			continue;
		}
		(*n)++;
	}
	closedir(d);
	qsort(*out, *n, sizeof(**out), cmp_created);
	return 0;
}

static int
fs_file_delete(void *self, const char *sid, const char *fid, kcr_error_t *err)
{
	kcr_autofree char *path = NULL;

	if (!kcr_id_valid(sid) || !kcr_id_valid(fid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "file not found");
	path = meta_path(self, sid, fid);
	if (unlink(path) == 0)
		return 0;
	if (errno == ENOENT)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "file not found");
	return kcr_error_set(err, KCR_E_IO, errno, "cannot delete file %s", fid);
}

/* ---- the Python state of a session ------------------------------------ */

/* state.bin is written before state.json, and state.json goes first on
 * delete: a record never points at missing bytes. A reader racing a
 * writer may pair a new state.bin with the old record, so get takes the
 * size and hash from the bytes it read. */
static char *
state_path(const struct fs_store *fs, const char *sid, const char *file)
{
	return kcr_strdup_printf("%s/sessions/%s/%s", fs->root, sid, file);
}

static char *
state_info_to_json(const struct kcr_state_info *i)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "size", (double)i->size);
	cJSON_AddStringToObject(o, "hash", i->hash);
	cJSON_AddNumberToObject(o, "created", i->created);
	cJSON_AddNumberToObject(o, "expires", i->expires);
	return kcr_json_print_free(o);
}

static int
state_info_from_json(const char *json, size_t len, struct kcr_state_info *i, kcr_error_t *err)
{
	cJSON *o = cJSON_ParseWithLength(json, len);
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
	const cJSON *hash = cJSON_GetObjectItemCaseSensitive(o, "hash");
	const cJSON *created = cJSON_GetObjectItemCaseSensitive(o, "created");
	const cJSON *expires = cJSON_GetObjectItemCaseSensitive(o, "expires");
	int r = 0;

	memset(i, 0, sizeof(*i));
	if (!cJSON_IsNumber(size) || !cJSON_IsString(hash) || strlen(hash->valuestring) != 64 ||
	    !cJSON_IsNumber(created) || !cJSON_IsNumber(expires))
		r = kcr_error_set(err, KCR_E_IO, 0, "damaged state record");
	else {
		i->size = (uint64_t)size->valuedouble;
		memcpy(i->hash, hash->valuestring, sizeof(i->hash));
		i->created = created->valuedouble;
		i->expires = expires->valuedouble;
	}
	cJSON_Delete(o);
	return r;
}

static int
fs_state_put(void *self, const char *sid, const void *data, size_t len,
	     const struct kcr_state_info *info, kcr_error_t *err)
{
	kcr_autofree char *bin = NULL, *rec = NULL, *json = NULL;

	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	bin = state_path(self, sid, "state.bin");
	rec = state_path(self, sid, "state.json");
	json = state_info_to_json(info);
	if (write_atomic(bin, data, len, err) < 0 || write_atomic(rec, json, strlen(json), err) < 0)
		return kcr_error_wrap(err, "storing the state of session %s", sid);
	return 0;
}

static int
fs_state_info(void *self, const char *sid, struct kcr_state_info *info, kcr_error_t *err)
{
	kcr_autofree char *rec = NULL, *json = NULL;
	size_t len;

	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "state not found");
	rec = state_path(self, sid, "state.json");
	if (read_record(rec, 1 << 16, &json, &len, "state", err) < 0 ||
	    state_info_from_json(json, len, info, err) < 0)
		return -1;
	if (info->expires > 0 && info->expires < kcr_wall_time())
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "state expired");
	return 0;
}

static int
fs_state_get(void *self, const char *sid, uint64_t max, char **data, size_t *len,
	     struct kcr_state_info *info, kcr_error_t *err)
{
	struct kcr_state_info tmp;
	kcr_autofree char *bin = NULL;

	if (info == NULL)
		info = &tmp;
	if (fs_state_info(self, sid, info, err) < 0)
		return -1;
	bin = state_path(self, sid, "state.bin");
	if (read_record(bin, (size_t)max, data, len, "state", err) < 0)
		return -1;
	info->size = *len;
	kcr_sha256_hex(*data, *len, info->hash);
	return 0;
}

static int
fs_state_delete(void *self, const char *sid, kcr_error_t *err)
{
	kcr_autofree char *bin = NULL, *rec = NULL;

	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	bin = state_path(self, sid, "state.bin");
	rec = state_path(self, sid, "state.json");
	if ((unlink(rec) < 0 && errno != ENOENT) || (unlink(bin) < 0 && errno != ENOENT))
		return kcr_error_set(err, KCR_E_IO, errno, "cannot delete the state of session %s",
				     sid);
	return 0;
}

const struct kcr_session_store_ops kcr_session_store_fs_ops = {
	.name = "fs",
	.open = fs_open,
	.session_put = fs_session_put,
	.session_get = fs_session_get,
	.session_delete = fs_session_delete,
	.session_by_entity = fs_session_by_entity,
	.sessions_expired = fs_sessions_expired,
	.file_put = fs_file_put,
	.file_get = fs_file_get,
	.file_list = fs_file_list,
	.file_delete = fs_file_delete,
	.state_put = fs_state_put,
	.state_get = fs_state_get,
	.state_delete = fs_state_delete,
	.state_info = fs_state_info,
	.close = fs_close,
};

/* Blob keys are "<sid>/<fid>"; both parts are validated ids. */
static char *
blob_path(const struct fs_store *fs, const char *key, kcr_error_t *err)
{
	const char *slash = strchr(key, '/');

	if (slash == NULL || slash - key != KCR_ID_LEN || !kcr_id_valid(slash + 1)) {
		kcr_error_set(err, KCR_E_INVALID, 0, "bad file key '%s'", key);
		return NULL;
	}
	return kcr_strdup_printf("%s/blobs/%s", fs->root, key);
}

static int
fs_blob_put(void *self, const char *key, const void *data, size_t len, kcr_error_t *err)
{
	kcr_autofree char *path = blob_path(self, key, err);

	return path ? write_atomic(path, data, len, err) : -1;
}

static int
fs_blob_get(void *self, const char *key, uint64_t max, char **data, size_t *len,
	    kcr_error_t *err)
{
	kcr_autofree char *path = blob_path(self, key, err);

	if (path == NULL)
		return -1;
	return read_record(path, max, data, len, "file", err) < 0 ? -1 : 0;
}

static int
fs_blob_del(void *self, const char *key, kcr_error_t *err)
{
	kcr_autofree char *path = blob_path(self, key, err);

	if (path == NULL)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot delete '%s'", key);
	return 0;
}

const struct kcr_file_store_ops kcr_file_store_fs_ops = {
	.name = "fs",
	.open = fs_open,
	.put = fs_blob_put,
	.get = fs_blob_get,
	.del = fs_blob_del,
	.close = fs_close,
};

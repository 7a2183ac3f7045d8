/* The fs file store: the bytes of files, one file each under
 * <state>/blobs/<sid>/<fid>, written whole by a rename. */
#include <config.h>

#include "base/ids.h"
#include "store/fs-internal.h"

#include <string.h>

static const char *const blob_dirs[] = { "blobs" };

static int
fs_blob_ping(void *self, kcr_error_t *err)
{
	return fs_ping_dirs(self, blob_dirs, KCR_ARRAY_SIZE(blob_dirs), err);
}

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

	return path ? fs_write_atomic(path, data, len, err) : -1;
}

static int
fs_blob_get(void *self, const char *key, uint64_t max, char **data, size_t *len, kcr_error_t *err)
{
	kcr_autofree char *path = blob_path(self, key, err);

	if (path == NULL)
		return -1;
	return fs_read_record(path, max, data, len, "file", err) < 0 ? -1 : 0;
}

static int
fs_blob_del(void *self, const char *key, kcr_error_t *err)
{
	kcr_autofree char *path = blob_path(self, key, err);

	return path ? fs_remove(path, "file", true, err) : -1;
}

const struct kcr_file_store_ops kcr_file_store_fs_ops = {
	.name = "fs",
	.open = fs_open,
	.ping = fs_blob_ping,
	.put = fs_blob_put,
	.get = fs_blob_get,
	.del = fs_blob_del,
	.close = fs_close,
};

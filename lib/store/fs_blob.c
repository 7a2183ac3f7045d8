/* The fs file store: the bytes of files, one file each under
 * <state>/blobs/<sid>/<fid>, written whole by a rename. */
#include <config.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/ids.h"
#include "store/fs-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* The spool becomes the blob when both are on one file system (an
 * O_TMPFILE spool links in: no copy); else its bytes are copied. Either
 * way the blob appears whole, by a rename. */
static int
fs_blob_put_fd(void *self, const char *key, int fd, uint64_t len, kcr_error_t *err)
{
	kcr_autofree char *path = blob_path(self, key, err), *dir = NULL, *tmp = NULL;
	char proc[64];
	uint64_t copied = 0;
	int ret = -1;

	if (path == NULL)
		return -1;
	dir = kcr_xstrdup(path);
	*strrchr(dir, '/') = '\0';
	if (kcr_mkdir_p(dir, 0700, err) < 0)
		return -1;
	tmp = kcr_strdup_printf("%s/.tmp-%d-%lx", dir, (int)getpid(), (unsigned long)kcr_now_ns());
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0) {
		kcr_autoclose int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

		if (out < 0) {
			kcr_error_set(err, KCR_E_IO, errno, "cannot create '%s'", tmp);
			goto out;
		}
		if (kcr_copy_fd(fd, out, &copied, err) < 0)
			goto out;
		if (copied != len) {
			kcr_error_set(err, KCR_E_IO, 0, "the spool holds %llu bytes, not %llu",
				      (unsigned long long)copied, (unsigned long long)len);
			goto out;
		}
	}
	if (rename(tmp, path) < 0) {
		kcr_error_set(err, KCR_E_IO, errno, "cannot store '%s'", path);
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		unlink(tmp);
	return ret;
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

static int
fs_blob_get_fd(void *self, const char *key, uint64_t max, int out_fd, uint64_t *len,
	       kcr_error_t *err)
{
	kcr_autofree char *path = blob_path(self, key, err);
	kcr_autoclose int in = -1;
	struct stat st;
	uint64_t copied = 0;

	if (path == NULL)
		return -1;
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 && errno == ENOENT)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "file not found");
	if (in < 0 || fstat(in, &st) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot open '%s'", path);
	if ((uint64_t)st.st_size > max)
		return kcr_error_set(err, KCR_E_LIMIT, 0, "file is over %llu bytes",
				     (unsigned long long)max);
	if (ftruncate(out_fd, 0) < 0 || lseek(out_fd, 0, SEEK_SET) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot rewind the download spool");
	if (kcr_copy_fd(in, out_fd, &copied, err) < 0)
		return -1;
	if (len)
		*len = copied;
	return 0;
}

/* prefix is "<sid>/": the session's directory goes, whole. */
static int
fs_blob_del_prefix(void *self, const char *prefix, kcr_error_t *err)
{
	const struct fs_store *fs = self;
	size_t n = strlen(prefix);
	kcr_autofree char *sid = NULL, *dir = NULL;

	if (n != KCR_ID_LEN + 1 || prefix[KCR_ID_LEN] != '/')
		return kcr_error_set(err, KCR_E_INVALID, 0, "bad session prefix '%s'", prefix);
	sid = kcr_xstrndup(prefix, KCR_ID_LEN);
	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "bad session prefix '%s'", prefix);
	dir = kcr_strdup_printf("%s/blobs/%s", fs->root, sid);
	if (kcr_rm_rf(dir) < 0 && errno != ENOENT)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot delete '%s'", dir);
	return 0;
}

static int
fs_blob_sessions(void *self, char ***sids, kcr_error_t *err)
{
	const struct fs_store *fs = self;
	kcr_autofree char *dir = kcr_strdup_printf("%s/blobs", fs->root);

	return fs_dir_names(dir, "", kcr_id_valid, sids, err);
}

const struct kcr_file_store_ops kcr_file_store_fs_ops = {
	.name = "fs",
	.open = fs_open,
	.ping = fs_blob_ping,
	.put = fs_blob_put,
	.put_fd = fs_blob_put_fd,
	.get = fs_blob_get,
	.del = fs_blob_del,
	.get_fd = fs_blob_get_fd,
	.del_prefix = fs_blob_del_prefix,
	.sessions = fs_blob_sessions,
	.close = fs_close,
};

/* The fs store's Python state of a session (lib/base/pystate_blob.h): its
 * bytes and their record, beside the session's record.
 *
 * state.bin is written before state.json, and state.json goes first on
 * delete: a record never points at missing bytes. A reader racing a
 * writer may pair a new state.bin with the old record, so get takes the
 * size and hash from the bytes it read. put and archive hold the lock of
 * "state:<sid>", so an archive never drops the bytes of a newer save. */
#include <config.h>

#include "base/clock.h"
#include "base/encode.h"
#include "base/ids.h"
#include "store/fs-internal.h"

#include <string.h>

static char *
state_path(const struct fs_store *fs, const char *sid, const char *file)
{
	return kcr_strdup_printf("%s/sessions/%s/%s", fs->root, sid, file);
}

static int
state_lock(const struct fs_store *fs, const char *sid, int *fd, kcr_error_t *err)
{
	kcr_autofree char *name = kcr_strdup_printf("state:%s", sid);

	return fs_lock(fs, name, fd, err);
}

int
fs_state_put(void *self, const char *sid, const void *data, size_t len,
	     const struct kcr_state_info *info, kcr_error_t *err)
{
	kcr_autofree char *bin = NULL, *rec = NULL, *json = NULL;
	kcr_autoclose int lock = -1;

	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	if (state_lock(self, sid, &lock, err) < 0)
		return -1;
	bin = state_path(self, sid, "state.bin");
	rec = state_path(self, sid, "state.json");
	json = kcr_state_record_to_json(info);
	if (fs_write_atomic(bin, data, len, err) < 0 ||
	    fs_write_atomic(rec, json, strlen(json), err) < 0)
		return kcr_error_wrap(err, "storing the state of session %s", sid);
	return 0;
}

int
fs_state_info(void *self, const char *sid, struct kcr_state_info *info, kcr_error_t *err)
{
	kcr_autofree char *rec = NULL, *json = NULL;
	size_t len;

	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "state not found");
	rec = state_path(self, sid, "state.json");
	if (fs_read_record(rec, 1 << 16, &json, &len, "state", err) < 0 ||
	    kcr_state_record_from_json(json, len, info, err) < 0)
		return -1;
	if (info->expires > 0 && info->expires < kcr_wall_time())
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "state expired");
	return 0;
}

int
fs_state_get(void *self, const char *sid, uint64_t max, char **data, size_t *len,
	     struct kcr_state_info *info, kcr_error_t *err)
{
	struct kcr_state_info tmp;
	kcr_autofree char *bin = NULL;

	if (info == NULL)
		info = &tmp;
	if (fs_state_info(self, sid, info, err) < 0)
		return -1;
	if (info->archived) {
		*data = kcr_xstrdup("");
		*len = 0;
		return 0;
	}
	bin = state_path(self, sid, "state.bin");
	if (fs_read_record(bin, (size_t)max, data, len, "state", err) < 0)
		return -1;
	info->size = *len;
	kcr_sha256_hex(*data, *len, info->hash);
	return 0;
}

int
fs_state_delete(void *self, const char *sid, kcr_error_t *err)
{
	kcr_autofree char *bin = NULL, *rec = NULL;

	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	bin = state_path(self, sid, "state.bin");
	rec = state_path(self, sid, "state.json");
	if (fs_remove(rec, "state", true, err) < 0 || fs_remove(bin, "state", true, err) < 0)
		return kcr_error_wrap(err, "deleting the state of session %s", sid);
	return 0;
}

/* Under the state's lock (*lock), its record, if it is (archived) with
 * that hash: the compare of state_archive's and state_unarchive's
 * compare-and-set. */
static int
state_expect(struct fs_store *fs, const char *sid, const char *hash, bool archived, int *lock,
	     struct kcr_state_info *info, kcr_error_t *err)
{
	if (!kcr_id_valid(sid))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "state not found");
	if (state_lock(fs, sid, lock, err) < 0 || fs_state_info(fs, sid, info, err) < 0)
		return -1;
	if (info->archived != archived || strcmp(info->hash, hash) != 0)
		return kcr_error_set(err, KCR_E_CONFLICT, 0, "the state changed");
	return 0;
}

/* Archive (data NULL: drop the bytes) or unarchive (put data back), under
 * the state's lock and only from the expected record. The order keeps
 * the rule of this file: bytes before their record, record before the
 * bytes go. */
static int
state_move(struct fs_store *fs, const char *sid, const char *hash, const void *data, size_t len,
	   bool archive, kcr_error_t *err)
{
	struct kcr_state_info info;
	kcr_autofree char *bin = NULL, *rec = NULL, *json = NULL;
	kcr_autoclose int lock = -1;

	if (state_expect(fs, sid, hash, !archive, &lock, &info, err) < 0)
		return -1;
	info.archived = archive;
	if (!archive)
		info.restored = kcr_wall_time();
	bin = state_path(fs, sid, "state.bin");
	rec = state_path(fs, sid, "state.json");
	json = kcr_state_record_to_json(&info);
	if ((!archive && fs_write_atomic(bin, data, len, err) < 0) ||
	    fs_write_atomic(rec, json, strlen(json), err) < 0 ||
	    (archive && fs_remove(bin, "state", true, err) < 0))
		return kcr_error_wrap(err, "%s the state of session %s",
				      archive ? "archiving" : "restoring", sid);
	return 0;
}

int
fs_state_archive(void *self, const char *sid, const char *hash, kcr_error_t *err)
{
	return state_move(self, sid, hash, NULL, 0, true, err);
}

int
fs_state_unarchive(void *self, const char *sid, const void *data, size_t len, const char *hash,
		   kcr_error_t *err)
{
	return state_move(self, sid, hash, data, len, false, err);
}

int
fs_states_idle(void *self, double before, size_t max, char ***sids, kcr_error_t *err)
{
	const struct fs_store *fs = self;
	kcr_autofree char *dir = kcr_strdup_printf("%s/sessions", fs->root);
	kcr_autostrv char **all = NULL;
	size_t n = 0;

	if (fs_dir_names(dir, "", kcr_id_valid, &all, err) < 0)
		return -1;
	*sids = kcr_xzalloc(sizeof(char *));
	for (size_t i = 0; all[i] && n < max; i++) {
		struct kcr_state_info info;
		kcr_error_t e = NULL;

		/* absent, expired or unreadable: not this sweep's to move */
		if (fs_state_info(self, all[i], &info, &e) < 0) {
			kcr_error_free(e);
			continue;
		}
		if (info.archived || kcr_state_last_use(&info) >= before)
			continue;
		*sids = kcr_xrealloc(*sids, (n + 2) * sizeof(char *));
		(*sids)[n++] = kcr_xstrdup(all[i]);
		(*sids)[n] = NULL;
	}
	return 0;
}

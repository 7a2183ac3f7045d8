/* The embedded stores: sessions, file metadata and file bytes as files
 * under the state dir. Every write is a rename of a complete temporary
 * file, so a crash never leaves a half-written record or blob; a
 * read-modify-write holds a lock file (fs_lock), so that threads and
 * processes sharing the state dir never lose each other's updates.
 *
 *   <state>/sessions/<sid>/session.json
 *   <state>/sessions/<sid>/files/<fid>.json
 *   <state>/sessions/<sid>/state.bin     Python state (fs_state.c)
 *   <state>/sessions/<sid>/state.json
 *   <state>/owners/<owner key>            newest session of a (tenant,
 *                                         entity, user): kcr_session_owner_key
 *   <state>/keys/<sha256 hex>.json        API keys (fs_keys.c)
 *   <state>/counters/<name>               counters (fs_keys.c)
 *   <state>/locks/<n>                     lock files (fs_lock)
 *   <state>/blobs/<sid>/<fid>             file bytes (fs_blob.c)
 *
 * Expiry is a field of the records: fs is not native_ttl, and the
 * service's sweep removes what expired (sessions_expired, counters_sweep). */
#include <config.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/ids.h"
#include "store/fs-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Lock files: a session or counter maps to one of these by a hash of its
 * name. Few enough to keep around for good, enough that unrelated
 * sessions seldom wait for each other. */
#define FS_LOCKS 32

/* What the session store writes under the state dir; ping checks each. */
static const char *const session_dirs[] = { "sessions", "owners", "keys", "counters", "locks" };

int
fs_open(void **self, const struct kcr_config *cfg, kcr_error_t *err)
{
	struct fs_store *s;
	const char *dir = kcr_config_str(cfg, "state_dir");

	if (kcr_private_dir(dir, "state directory", err) < 0)
		return -1;
	s = kcr_xzalloc(sizeof(*s));
	s->root = kcr_xstrdup(dir);
	*self = s;
	return 0;
}

void
fs_close(void *self)
{
	struct fs_store *s = self;

	if (s == NULL)
		return;
	free(s->root);
	free(s);
}

/* Each directory exists (or can be made) and takes a new file: root
 * passes access(2) even where it cannot write, so this really writes. */
int
fs_ping_dirs(const struct fs_store *fs, const char *const *dirs, size_t n, kcr_error_t *err)
{
	for (size_t i = 0; i < n; i++) {
		kcr_autofree char *dir = kcr_strdup_printf("%s/%s", fs->root, dirs[i]);
		kcr_autofree char *probe = kcr_strdup_printf("%s/.ping-%d-%lx", dir, (int)getpid(),
							     (unsigned long)kcr_now_ns());

		if (kcr_mkdir_p(dir, 0700, err) < 0 || kcr_write_file(probe, "", 0, 0600, err) < 0)
			return kcr_error_wrap(err, "state dir not writable");
		unlink(probe);
	}
	return 0;
}

static int
fs_session_ping(void *self, kcr_error_t *err)
{
	return fs_ping_dirs(self, session_dirs, KCR_ARRAY_SIZE(session_dirs), err);
}

int
fs_write_atomic(const char *path, const void *data, size_t len, kcr_error_t *err)
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

int
fs_read_record(const char *path, uint64_t max, char **data, size_t *len, const char *what,
	       kcr_error_t *err)
{
	kcr_error_t e = NULL;

	if (kcr_read_file(path, max, data, len, &e) == 0)
		return 0;
	if (e->code == KCR_E_NOTFOUND) {
		kcr_error_free(e);
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "%s not found", what);
	}
	if (e->code != KCR_E_LIMIT) /* a directory in the way is the store's fault */
		e->code = KCR_E_IO;
	*err = e;
	return -1;
}

int
fs_remove(const char *path, const char *what, bool missing_ok, kcr_error_t *err)
{
	if (unlink(path) == 0 || (errno == ENOENT && missing_ok))
		return 0;
	if (errno == ENOENT)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "%s not found", what);
	return kcr_error_set(err, KCR_E_IO, errno, "cannot delete '%s'", path);
}

static int
open_lock(const struct fs_store *fs, const char *path, int *fd, kcr_error_t *err)
{
	kcr_autofree char *dir = NULL;

	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0 && errno == ENOENT) { /* the state dir was emptied meanwhile */
		dir = kcr_strdup_printf("%s/locks", fs->root);
		if (kcr_mkdir_p(dir, 0700, err) < 0)
			return -1;
		*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	}
	if (*fd < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot open the lock '%s'", path);
	return 0;
}

/* flock(2) on a descriptor of our own: it excludes the other threads of
 * this process (each opens its own) as well as other processes. */
int
fs_lock(const struct fs_store *fs, const char *what, int *fd, kcr_error_t *err)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	kcr_autofree char *path = NULL;

	for (const char *p = what; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	path = kcr_strdup_printf("%s/locks/%02u", fs->root, (unsigned)(h % FS_LOCKS));
	if (open_lock(fs, path, fd, err) < 0)
		return -1;
	while (flock(*fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return kcr_error_set(err, KCR_E_IO, errno, "cannot lock '%s'", path);
	return 0;
}

int
fs_dir_names(const char *dir, const char *suffix, bool (*valid)(const char *name), char ***names,
	     kcr_error_t *err)
{
	DIR *d = opendir(dir);
	size_t slen = strlen(suffix);
	struct dirent *de;

	*names = kcr_xzalloc(sizeof(char *));
	if (d == NULL)
		return errno == ENOENT
			       ? 0
			       : kcr_error_set(err, KCR_E_IO, errno, "cannot list '%s'", dir);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		kcr_autofree char *stem = NULL;

		if (n <= slen || strcmp(de->d_name + n - slen, suffix) != 0)
			continue;
		stem = kcr_xstrndup(de->d_name, n - slen);
		if (valid(stem))
			kcr_strv_push(names, stem);
	}
	closedir(d);
	return 0;
}

/* ---- sessions ------------------------------------------------------------ */

static char *
session_path(const struct fs_store *fs, const char *sid)
{
	return kcr_strdup_printf("%s/sessions/%s/session.json", fs->root, sid);
}

/* The record, and with newest the pointer that makes it its owner's
 * newest session. Callers hold the session's lock. */
static int
session_write(const struct fs_store *fs, const struct kcr_session *s, bool newest, kcr_error_t *err)
{
	kcr_autofree char *json = kcr_session_to_json(s);
	kcr_autofree char *path = session_path(fs, s->id);
	kcr_autofree char *owner = kcr_session_owner_key(s->tenant, s->entity_id, s->user_id);
	kcr_autofree char *opath = NULL;

	if (fs_write_atomic(path, json, strlen(json), err) < 0)
		return -1;
	if (!newest || owner == NULL)
		return 0;
	opath = kcr_strdup_printf("%s/owners/%s", fs->root, owner);
	return fs_write_atomic(opath, s->id, strlen(s->id), err);
}

static int
fs_session_put(void *self, const struct kcr_session *s, kcr_error_t *err)
{
	kcr_autoclose int lock = -1;

	if (!kcr_id_valid(s->id))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	if (fs_lock(self, s->id, &lock, err) < 0)
		return -1;
	return session_write(self, s, true, err);
}

static int
fs_session_get(void *self, const char *id, struct kcr_session *out, kcr_error_t *err)
{
	kcr_autofree char *path = NULL, *data = NULL;
	size_t len;

	if (!kcr_id_valid(id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session not found");
	path = session_path(self, id);
	if (fs_read_record(path, 1 << 20, &data, &len, "session", err) < 0 ||
	    kcr_session_from_json(data, len, out, err) < 0)
		return -1;
	if (out->expires > 0 && out->expires < kcr_wall_time()) {
		kcr_session_release(out);
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session expired");
	}
	return 0;
}

/* The session as it is now, or init's copy when there is none: *found
 * says which. Callers hold the session's lock. */
static int
session_current(void *self, const struct kcr_session *init, struct kcr_session *cur, bool *found,
		kcr_error_t *err)
{
	kcr_error_t e = NULL;

	*found = fs_session_get(self, init->id, cur, &e) == 0;
	if (*found)
		return 0;
	if (e->code != KCR_E_NOTFOUND) {
		*err = e;
		return -1;
	}
	kcr_error_free(e);
	kcr_session_copy(cur, init);
	return 0;
}

static int
fs_session_touch(void *self, const struct kcr_session *init, double ttl_s, struct kcr_session *out,
		 bool *created, kcr_error_t *err)
{
	kcr_autoclose int lock = -1;
	struct kcr_session cur;
	double now = kcr_wall_time();
	bool found;

	if (!kcr_id_valid(init->id))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session id");
	if (fs_lock(self, init->id, &lock, err) < 0 ||
	    session_current(self, init, &cur, &found, err) < 0)
		return -1;
	cur.last_used = now;
	cur.expires = ttl_s > 0 ? now + ttl_s : 0;
	if (session_write(self, &cur, true, err) < 0) {
		kcr_session_release(&cur);
		return -1;
	}
	if (created)
		*created = !found;
	if (out)
		*out = cur;
	else
		kcr_session_release(&cur);
	return 0;
}

static int
fs_session_expire(void *self, const char *id, double expires_at, kcr_error_t *err)
{
	kcr_autoclose int lock = -1;
	struct kcr_session s;
	int r;

	if (!kcr_id_valid(id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session not found");
	if (fs_lock(self, id, &lock, err) < 0 || fs_session_get(self, id, &s, err) < 0)
		return -1;
	s.expires = expires_at;
	r = session_write(self, &s, false, err);
	kcr_session_release(&s);
	return r;
}

/* The owner's pointer, if it still names the session being deleted: so
 * that owners/ does not grow with every (tenant, entity, user) ever seen.
 * Best effort: a record that is gone or corrupt leaves its pointer, which
 * then names a missing session (the same as none). */
static void
owner_pointer_remove(const struct fs_store *fs, const char *id)
{
	kcr_autofree char *path = session_path(fs, id), *data = NULL, *opath = NULL;
	kcr_autofree char *owner = NULL, *sid = NULL;
	struct kcr_session s;
	kcr_error_t e = NULL;
	size_t len;

	if (fs_read_record(path, 1 << 20, &data, &len, "session", &e) < 0 ||
	    kcr_session_from_json(data, len, &s, &e) < 0) {
		kcr_error_free(e);
		return;
	}
	owner = kcr_session_owner_key(s.tenant, s.entity_id, s.user_id);
	kcr_session_release(&s);
	if (owner == NULL)
		return;
	opath = kcr_strdup_printf("%s/owners/%s", fs->root, owner);
	if (fs_read_record(opath, 64, &sid, &len, "owner", &e) == 0 && strcmp(sid, id) == 0)
		unlink(opath);
	kcr_error_free(e);
}

static int
fs_session_delete(void *self, const char *id, kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autoclose int lock = -1;
	kcr_autofree char *dir = NULL;

	if (!kcr_id_valid(id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "session not found");
	if (fs_lock(fs, id, &lock, err) < 0)
		return -1;
	owner_pointer_remove(fs, id);
	dir = kcr_strdup_printf("%s/sessions/%s", fs->root, id);
	if (kcr_rm_rf(dir) < 0 && errno != ENOENT)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot delete session %s", id);
	return 0;
}

static int
fs_session_by_owner(void *self, const char *tenant, const char *entity_id, const char *user_id,
		    struct kcr_session *out, kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autofree char *owner = kcr_session_owner_key(tenant, entity_id, user_id);
	kcr_autofree char *path = NULL, *sid = NULL;
	size_t len;

	if (owner == NULL)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no entity");
	path = kcr_strdup_printf("%s/owners/%s", fs->root, owner);
	if (fs_read_record(path, 64, &sid, &len, "entity", err) < 0)
		return -1;
	return fs_session_get(self, sid, out, err);
}

/* Includes sessions whose record is gone (or does not parse): a
 * directory without a live session is all there is to remove. */
static int
fs_sessions_expired(void *self, double now, char ***ids, kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autofree char *dir = kcr_strdup_printf("%s/sessions", fs->root);
	kcr_autostrv char **all = NULL;

	*ids = NULL;
	if (fs_dir_names(dir, "", kcr_id_valid, &all, err) < 0)
		return -1;
	*ids = kcr_xzalloc(sizeof(char *));
	for (size_t i = 0; all[i]; i++) {
		struct kcr_session s;
		kcr_error_t e = NULL;

		if (fs_session_get(self, all[i], &s, &e) < 0) {
			if (e->code == KCR_E_NOTFOUND)
				kcr_strv_push(ids, all[i]);
			kcr_error_free(e);
			continue;
		}
		if (s.expires > 0 && s.expires < now)
			kcr_strv_push(ids, all[i]);
		kcr_session_release(&s);
	}
	return 0;
}

/* Live sessions, at most max: a directory listing and a read of each. */
static int
fs_sessions_list(void *self, size_t max, char ***ids, kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autofree char *dir = kcr_strdup_printf("%s/sessions", fs->root);
	kcr_autostrv char **all = NULL;
	double now = kcr_wall_time();

	*ids = NULL;
	if (fs_dir_names(dir, "", kcr_id_valid, &all, err) < 0)
		return -1;
	*ids = kcr_xzalloc(sizeof(char *));
	for (size_t i = 0, n = 0; all[i] && n < max; i++) {
		struct kcr_session s;
		kcr_error_t e = NULL;

		if (fs_session_get(self, all[i], &s, &e) < 0) {
			kcr_error_free(e); /* gone meanwhile, or expired */
			continue;
		}
		if (s.expires <= 0 || s.expires >= now) {
			kcr_strv_push(ids, all[i]);
			n++;
		}
		kcr_session_release(&s);
	}
	return 0;
}

/* ---- file records ---------------------------------------------------------- */

static char *
meta_path(const struct fs_store *fs, const char *sid, const char *fid)
{
	return kcr_strdup_printf("%s/sessions/%s/files/%s.json", fs->root, sid, fid);
}

static int
fs_file_put(void *self, const struct kcr_file_meta *m, kcr_error_t *err)
{
	kcr_autofree char *json = NULL, *path = NULL;

	if (!kcr_id_valid(m->session_id) || !kcr_id_valid(m->id))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid session or file id");
	json = kcr_file_meta_to_json(m);
	path = meta_path(self, m->session_id, m->id);
	return fs_write_atomic(path, json, strlen(json), err);
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
	if (fs_read_record(path, 1 << 20, &data, &len, "file", err) < 0)
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
fs_file_list(void *self, const char *sid, struct kcr_file_meta **out, size_t *n, kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autofree char *dir = kcr_strdup_printf("%s/sessions/%s/files", fs->root, sid);
	kcr_autostrv char **fids = NULL;

	*n = 0;
	*out = NULL;
	if (kcr_id_valid(sid) && fs_dir_names(dir, ".json", kcr_id_valid, &fids, err) < 0)
		return -1;
	*out = kcr_xzalloc((kcr_strv_len(fids) + 1) * sizeof(**out));
	for (size_t i = 0; fids && fids[i]; i++) {
		kcr_error_t e = NULL;

		if (fs_file_get(self, sid, fids[i], &(*out)[*n], &e) < 0) {
			kcr_error_free(e); /* deleted meanwhile */
			continue;
		}
		(*n)++;
	}
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
	return fs_remove(path, "file", false, err);
}

const struct kcr_session_store_ops kcr_session_store_fs_ops = {
	.name = "fs",
	.native_ttl = false,
	.open = fs_open,
	.ping = fs_session_ping,
	.session_put = fs_session_put,
	.session_get = fs_session_get,
	.session_touch = fs_session_touch,
	.session_expire = fs_session_expire,
	.session_delete = fs_session_delete,
	.session_by_owner = fs_session_by_owner,
	.sessions_expired = fs_sessions_expired,
	.sessions_list = fs_sessions_list,
	.file_put = fs_file_put,
	.file_get = fs_file_get,
	.file_list = fs_file_list,
	.file_delete = fs_file_delete,
	.state_put = fs_state_put,
	.state_get = fs_state_get,
	.state_archive = fs_state_archive,
	.state_unarchive = fs_state_unarchive,
	.states_idle = fs_states_idle,
	.state_delete = fs_state_delete,
	.state_info = fs_state_info,
	.key_put = fs_key_put,
	.key_get = fs_key_get,
	.key_list = fs_key_list,
	.key_delete = fs_key_delete,
	.counter_add = fs_counter_add,
	.counters_sweep = fs_counters_sweep,
	.close = fs_close,
};

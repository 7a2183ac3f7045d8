/* What the files of the fs store (lib/store/fs*.c) share, and no one
 * else: the handle, whole-file writes and reads, the lock files, and the
 * ops that live in a file of their own but go in fs.c's ops table. */
#ifndef KCR_FS_INTERNAL_H
#define KCR_FS_INTERNAL_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The handle holds nothing that changes after open: threads share it
 * without a lock (store.h, "Threads"). */
struct fs_store {
	char *root; /* the state dir */
};

/* Both stores' handle is the state dir (fs.c). */
int fs_open(void **self, const struct kcr_config *cfg, kcr_error_t *err);
void fs_close(void *self);
/* Each of dirs, under the state dir, exists and takes a new file. */
int fs_ping_dirs(const struct fs_store *fs, const char *const *dirs, size_t n, kcr_error_t *err);
/* Writes path through a temporary file and a rename: all or nothing. */
int fs_write_atomic(const char *path, const void *data, size_t len, kcr_error_t *err);
/* Reads a whole file: KCR_E_NOTFOUND "<what> not found" when it is not
 * there, KCR_E_LIMIT over max, any other failure KCR_E_IO. */
int fs_read_record(const char *path, uint64_t max, char **data, size_t *len, const char *what,
		   kcr_error_t *err);
/* Removes a file: a missing one is KCR_E_NOTFOUND "<what> not found",
 * or no error with missing_ok. */
int fs_remove(const char *path, const char *what, bool missing_ok, kcr_error_t *err);
/* Takes the lock file that guards `what` (a session id, a counter name):
 * *fd holds it until it is closed (kcr_autoclose). */
int fs_lock(const struct fs_store *fs, const char *what, int *fd, kcr_error_t *err);
/* The names in dir that end in suffix and are valid() without it, with
 * the suffix cut (*names: NULL-terminated; a missing dir has none). */
int fs_dir_names(const char *dir, const char *suffix, bool (*valid)(const char *name),
		 char ***names, kcr_error_t *err);

/* fs_state.c */
int fs_state_put(void *self, const char *sid, const void *data, size_t len,
		 const struct kcr_state_info *info, kcr_error_t *err);
int fs_state_get(void *self, const char *sid, uint64_t max, char **data, size_t *len,
		 struct kcr_state_info *info, kcr_error_t *err);
int fs_state_delete(void *self, const char *sid, kcr_error_t *err);
int fs_state_info(void *self, const char *sid, struct kcr_state_info *info, kcr_error_t *err);
int fs_state_archive(void *self, const char *sid, const char *hash, kcr_error_t *err);
int fs_state_unarchive(void *self, const char *sid, const void *data, size_t len, const char *hash,
		       kcr_error_t *err);
int fs_states_idle(void *self, double before, size_t max, char ***sids, kcr_error_t *err);

/* fs_keys.c */
int fs_key_put(void *self, const struct kcr_api_key_record *k, kcr_error_t *err);
int fs_key_get(void *self, const char *id, struct kcr_api_key_record *out, kcr_error_t *err);
int fs_key_list(void *self, struct kcr_api_key_record **out, size_t *n, kcr_error_t *err);
int fs_key_delete(void *self, const char *id, kcr_error_t *err);
int fs_counter_add(void *self, const char *name, int64_t delta, double ttl_s, int64_t *value_out,
		   kcr_error_t *err);
int fs_counters_sweep(void *self, double now, kcr_error_t *err);

#endif

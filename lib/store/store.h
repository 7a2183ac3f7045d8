/* Session and file stores (DESIGN.md §2): a const ops table plus an
 * opaque handle each, chosen by name from configuration. The embedded
 * defaults are "fs" (a directory under the state dir); Redis and S3 plug
 * in behind the same tables without touching the API routes. */
#ifndef KCR_STORE_H
#define KCR_STORE_H

#include "base/settings.h"
#include "base/error.h"
#include "base/file.h"
#include "base/ids.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kcr_session {
	char id[KCR_ID_LEN + 1];
	char *entity_id; /* may be NULL */
	char *user_id;   /* may be NULL */
	double created, last_used, expires; /* epoch seconds; expires 0: never */
};

/* A session's Python state (lib/base/pystate_blob.h): its bytes are stored as a whole,
 * with this record. */
struct kcr_state_info {
	uint64_t size;
	char hash[65];           /* SHA-256 of the bytes, hex */
	double created, expires; /* epoch seconds; expires 0: with the session */
};

struct kcr_session_store_ops {
	const char *name;
	int (*open)(void **self, const struct kcr_config *cfg, kcr_error_t *err);
	int (*session_put)(void *self, const struct kcr_session *s, kcr_error_t *err);
	/* KCR_E_NOTFOUND when missing or expired */
	int (*session_get)(void *self, const char *id, struct kcr_session *out, kcr_error_t *err);
	int (*session_delete)(void *self, const char *id, kcr_error_t *err);
	/* The newest active session of an entity, or KCR_E_NOTFOUND. */
	int (*session_by_entity)(void *self, const char *entity_id, struct kcr_session *out,
				 kcr_error_t *err);
	/* Ids of sessions that expired before now. */
	int (*sessions_expired)(void *self, double now, char ***ids, kcr_error_t *err);
	int (*file_put)(void *self, const struct kcr_file_meta *m, kcr_error_t *err);
	int (*file_get)(void *self, const char *sid, const char *fid, struct kcr_file_meta *out,
			kcr_error_t *err);
	int (*file_list)(void *self, const char *sid, struct kcr_file_meta **out, size_t *n,
			 kcr_error_t *err);
	int (*file_delete)(void *self, const char *sid, const char *fid, kcr_error_t *err);
	/* The Python state of a session, replaced as a whole (all or nothing).
	 * get and info: KCR_E_NOTFOUND when there is none or it expired; get
	 * fills info (may be NULL) with the size and hash of the bytes it read.
	 * delete: no state is not an error. */
	int (*state_put)(void *self, const char *sid, const void *data, size_t len,
			 const struct kcr_state_info *info, kcr_error_t *err);
	int (*state_get)(void *self, const char *sid, uint64_t max, char **data, size_t *len,
			 struct kcr_state_info *info, kcr_error_t *err);
	int (*state_delete)(void *self, const char *sid, kcr_error_t *err);
	int (*state_info)(void *self, const char *sid, struct kcr_state_info *info,
			  kcr_error_t *err);
	void (*close)(void *self);
};

struct kcr_file_store_ops {
	const char *name;
	int (*open)(void **self, const struct kcr_config *cfg, kcr_error_t *err);
	/* Keys are "<session id>/<file id>". put is all-or-nothing. */
	int (*put)(void *self, const char *key, const void *data, size_t len, kcr_error_t *err);
	int (*get)(void *self, const char *key, uint64_t max, char **data, size_t *len,
		   kcr_error_t *err);
	int (*del)(void *self, const char *key, kcr_error_t *err);
	void (*close)(void *self);
};

extern const struct kcr_session_store_ops kcr_session_store_fs_ops;
extern const struct kcr_file_store_ops kcr_file_store_fs_ops;

struct kcr_stores {
	const struct kcr_session_store_ops *sessions;
	void *sessions_self;
	const struct kcr_file_store_ops *files;
	void *files_self;
};

int kcr_stores_open(struct kcr_stores *s, const struct kcr_config *cfg, kcr_error_t *err);
void kcr_stores_close(struct kcr_stores *s);

void kcr_session_release(struct kcr_session *s);
/* JSON (de)serialisation used by the fs and redis stores. */
char *kcr_session_to_json(const struct kcr_session *s);
int kcr_session_from_json(const char *json, size_t len, struct kcr_session *s, kcr_error_t *err);
char *kcr_file_meta_to_json(const struct kcr_file_meta *m);
/* GET /state/{sid}/info's body, {exists, session_id, size_bytes, hash,
 * created_at, expires_at}; info NULL: no state (the values are null). */
cJSON *kcr_state_info_json(const char *sid, const struct kcr_state_info *info);
int kcr_file_meta_from_json(const char *json, size_t len, struct kcr_file_meta *m,
			    kcr_error_t *err);

#endif

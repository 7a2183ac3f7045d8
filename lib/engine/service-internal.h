/* What the files of the service (lib/engine/service*.c) share, and no one
 * else: struct kcr_service and the steps of an execution that live in the
 * file of their concept (sessions, files, state) but run from
 * service_exec.c. */
#ifndef KCR_SERVICE_INTERNAL_H
#define KCR_SERVICE_INTERNAL_H

#include "engine/service.h"
#include "base/ids.h"
#include "engine/engine.h"

#include <pthread.h>
#include <stdbool.h>

struct kcr_service {
	struct kcr_stores stores;
	struct kcr_engine *engine;
	pthread_mutex_t lock;
	pthread_cond_t slot_free;
	unsigned int running, waiting;
	/* reloadable, under lock */
	unsigned int max_running, max_waiting;
	uint64_t queue_timeout_ms;
	double ttl_s;
	uint64_t file_max;
	struct kcr_limits limits[32]; /* per language, by table index */
	bool state_enabled;           /* Python state (lib/base/pystate_blob.h) */
	uint64_t state_max;
	double state_ttl_s;
	double state_archive_s; /* 0: states are not archived */
};

/* The most bytes of a stored state read back, whatever state.max_size_mb
 * is now (its largest value). */
#define STATE_READ_MAX ((uint64_t)100 << 20)

/* The state settings one execution sees (they may be reloaded meanwhile). */
struct state_cfg {
	bool enabled;
	uint64_t max;
	double ttl_s;
};

/* service.c */
unsigned int svc_lang_index(const struct kcr_lang *l);
int svc_slot_acquire(struct kcr_service *s, kcr_error_t *err);
void svc_slot_release(struct kcr_service *s);

/* service_session.c */
int svc_session_active(struct kcr_service *s, const char *tenant, const char *sid, bool *active,
		       kcr_error_t *err);
int svc_session_need(struct kcr_service *s, const char *tenant, const char *sid, bool for_state,
		     kcr_error_t *err);
/* A session whose files a run read (an agent's uploads, through files[])
 * lives on as if used: its TTL counts again from now. Best effort. */
void svc_session_keep(struct kcr_service *s, const char *sid);
int svc_resolve_session(struct kcr_service *s, const struct kcr_exec_request *c,
			char sid[KCR_ID_LEN + 1], kcr_error_t *err);

/* service_files.c */
int svc_store_file(struct kcr_service *s, struct kcr_file_meta *m, const void *data, int fd,
		   uint64_t len,
		   kcr_error_t *err);
void svc_new_meta(struct kcr_file_meta *m, const char *sid, const char *name, const char *kind);
char *svc_blob_key(const char *sid, const char *fid);

/* service_state.c */
void svc_state_cfg(struct kcr_service *s, struct state_cfg *sc);
bool svc_state_applies(const struct state_cfg *sc, const struct kcr_exec_request *c);
int svc_load_state(struct kcr_service *s, const char *sid, const struct state_cfg *sc,
		   struct kcr_exec_request *x, char **note, kcr_error_t *err);
void svc_save_state(struct kcr_service *s, const char *sid, const struct state_cfg *sc,
		    struct kcr_exec_result *res);
/* The file-store key of a session's archived state (beside its files). */
char *svc_state_archive_key(const char *sid);
/* Moves states idle longer than state.archive_after_seconds to the file
 * store; returns how many. */
int svc_archive_states(struct kcr_service *s, kcr_error_t *err);

#endif

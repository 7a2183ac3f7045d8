/* Sessions and files around the engine: what `kcr serve` and the CLI's
 * --session mode share (DESIGN.md §2, spec/librechat-api.md §5-6).
 * A session is a bucket of files; an execution resolves its session
 * (explicit id, else the first input file's, else the entity's newest,
 * else a new one), copies input files from other sessions into it, runs,
 * and stores the files the run created or changed as new files of it. */
#ifndef KCR_SERVICE_H
#define KCR_SERVICE_H

#include "base/settings.h"
#include "base/error.h"
#include "base/exec.h"
#include "base/ids.h"
#include "store/store.h"

struct kcr_service;

struct kcr_service *kcr_service_new(const struct kcr_config *cfg, kcr_error_t *err);
void kcr_service_free(struct kcr_service *s);
/* Keeps warm sandboxes (kcr serve); see lib/engine/pool.h. */
int kcr_service_enable_pool(struct kcr_service *s, const struct kcr_config *cfg, kcr_error_t *err);
/* kcr_engine_prepare_many() of its engine: a server's. */
void kcr_service_prepare_many(struct kcr_service *s);
struct kcr_pool *kcr_service_pool(struct kcr_service *s);
/* The stores (store.h): API keys and counters for the server's limits. */
struct kcr_stores *kcr_service_stores(struct kcr_service *s);
/* Limits that SIGHUP may change. */
void kcr_service_reload(struct kcr_service *s, const struct kcr_config *cfg);

int kcr_service_exec(struct kcr_service *s, struct kcr_exec_request *call,
		     struct kcr_exec_result *res, kcr_error_t *err);
/* Tenants (base/tenant.h). Every function that takes a session takes the
 * tenant that asks (NULL: the local operator) and answers for another
 * tenant's session exactly as for an unknown one: KCR_E_NOTFOUND, or for
 * kcr_service_list no files. An execution's tenant is its request's.
 *
 * The session an upload goes to: explicit (must be the tenant's), else
 * the newest active one of (tenant, entity_id, user_id), else a new one. */
int kcr_service_upload_session(struct kcr_service *s, const char *tenant, const char *session_id,
			       const char *entity_id, const char *user_id, char sid[KCR_ID_LEN + 1],
			       kcr_error_t *err);
/* Into sid as kcr_service_upload_session gave it (not checked again):
 * the len bytes of data, or of the spool fd (> 0, from offset 0; it stays
 * the caller's) when the upload was never held in memory. */
int kcr_service_put_file(struct kcr_service *s, const char *sid, const char *name, const void *data,
			 int fd, uint64_t len, struct kcr_file_meta *out, kcr_error_t *err);
int kcr_service_list(struct kcr_service *s, const char *tenant, const char *sid,
		     struct kcr_file_meta **files, size_t *n, bool *active, kcr_error_t *err);
int kcr_service_get_file(struct kcr_service *s, const char *tenant, const char *sid,
			 const char *fid, struct kcr_file_meta *meta, char **data, size_t *len,
			 kcr_error_t *err);
/* kcr_service_get_file with the bytes in a spool (*fd, the caller's to
 * close, *len bytes from offset 0): a large file never sits in memory. */
int kcr_service_get_file_fd(struct kcr_service *s, const char *tenant, const char *sid,
			    const char *fid, struct kcr_file_meta *meta, int *fd, uint64_t *len,
			    kcr_error_t *err);
int kcr_service_delete_file(struct kcr_service *s, const char *tenant, const char *sid,
			    const char *fid, kcr_error_t *err);
/* The Python state of a session (lib/base/pystate_blob.h; DESIGN.md §2): the session
 * must exist. get: KCR_E_NOTFOUND when there is none (or it expired), and
 * info may be NULL. put checks the bytes first (KCR_E_INVALID, KCR_E_LIMIT
 * over state.max_size_mb) and leaves the old state alone if they fail.
 * delete: no state is not an error. */
int kcr_service_state_get(struct kcr_service *s, const char *tenant, const char *sid, char **data,
			  size_t *len, struct kcr_state_info *info, kcr_error_t *err);
int kcr_service_state_put(struct kcr_service *s, const char *tenant, const char *sid,
			  const void *data, size_t len, struct kcr_state_info *info,
			  kcr_error_t *err);
int kcr_service_state_delete(struct kcr_service *s, const char *tenant, const char *sid,
			     kcr_error_t *err);
int kcr_service_state_info(struct kcr_service *s, const char *tenant, const char *sid,
			   struct kcr_state_info *info, kcr_error_t *err);
/* Deletes expired sessions and their files; returns how many. Called
 * every period_s seconds by each replica; only the one holding this
 * period's lease (kcr_store_lease) sweeps, the others return 0. */
int kcr_service_cleanup(struct kcr_service *s, double period_s, kcr_error_t *err);
/* One dependency as GET /health/detailed reports it. */
struct kcr_health_check {
	const char *name;    /* "sandbox", "session_store", "file_store" */
	const char *backend; /* "local", "fs", ... */
	bool ok;
	double latency_ms; /* of the check itself */
	char *error;       /* why not ok, or NULL */
};
#define KCR_HEALTH_CHECKS 3
/* Checks each dependency in turn, into checks; returns how many failed.
 * Release with kcr_health_checks_release. */
int kcr_service_health(struct kcr_service *s, struct kcr_health_check checks[KCR_HEALTH_CHECKS]);
void kcr_health_checks_release(struct kcr_health_check checks[KCR_HEALTH_CHECKS]);
/* The two store checks of kcr_service_health alone (session_store,
 * file_store: whether each answers and takes writes), for /ready;
 * release them with kcr_health_checks_release_n(checks, 2). */
int kcr_service_store_checks(struct kcr_service *s, struct kcr_health_check checks[2]);
void kcr_health_checks_release_n(struct kcr_health_check *checks, size_t n);
/* Executions running and waiting, for /health and metrics. */
void kcr_service_load(struct kcr_service *s, unsigned int *running, unsigned int *waiting);

#endif

/* The engine: one execution from request to result (DESIGN.md §2):
 * validate, acquire a sandbox, put the input files, run, collect the files
 * the run created or changed, destroy the sandbox. */
#ifndef KCR_ENGINE_H
#define KCR_ENGINE_H

#include "base/settings.h"
#include "base/error.h"
#include "base/exec.h"

#include <stdbool.h>

struct kcr_engine;
struct kcr_sandbox_provider;

/* On the provider sandbox.provider names. */
struct kcr_engine *kcr_engine_new(const struct kcr_config *cfg, kcr_error_t *err);
/* On an opened provider (a test's fake), which the engine takes: *prov is
 * left empty, and kcr_engine_free() closes it. */
struct kcr_engine *kcr_engine_new_with_provider(struct kcr_sandbox_provider *prov,
						const struct kcr_config *cfg);
/* Keeps warm sandboxes from now on (kcr serve); NULL until then. */
int kcr_engine_enable_pool(struct kcr_engine *e, const struct kcr_config *cfg, kcr_error_t *err);
/* Many executions will follow (kcr serve, with or without a pool): the
 * provider's prepare_many(); enable_pool() does it too. */
void kcr_engine_prepare_many(struct kcr_engine *e);
struct kcr_pool *kcr_engine_pool(struct kcr_engine *e);
/* <state_dir>/spool, where bytes too many for memory wait (kcr_spool_open). */
const char *kcr_engine_spool_dir(const struct kcr_engine *e);
void kcr_engine_free(struct kcr_engine *e);
/* Whether the sandbox provider can create sandboxes now; *provider (may
 * be NULL) is its name. */
int kcr_engine_health(struct kcr_engine *e, const char **provider, kcr_error_t *err);
/* Checks what can be checked without a provider: the code and the input
 * names (kcr exec, before it opens one). */
int kcr_engine_check_request(const struct kcr_exec_request *req, kcr_error_t *err);
/* Checks what can be checked before any sandbox exists: the request, and
 * whether the provider can run its language (KCR_E_UNAVAILABLE). */
int kcr_engine_validate(struct kcr_engine *e, const struct kcr_exec_request *req, kcr_error_t *err);
int kcr_engine_run(struct kcr_engine *e, const struct kcr_exec_request *req,
		   struct kcr_exec_result *res, kcr_error_t *err);

#endif

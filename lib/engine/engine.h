/* The orchestrator: one execution from request to result (DESIGN.md §2):
 * validate, acquire a sandbox, put the input files, run, collect the files
 * the run created or changed, destroy the sandbox. */
#ifndef KCR_ORCHESTRATOR_H
#define KCR_ORCHESTRATOR_H

#include "base/settings.h"
#include "base/error.h"
#include "base/exec.h"

#include <stdbool.h>

/* A whole file in memory: an input placed in /mnt/data, or an output. */
struct kcr_file {
	char *name;
	char *data;
	size_t len;
	bool was_input; /* an output that replaces an input of the same name */
};

struct kcr_run_req {
	struct kcr_exec_req exec;
	struct kcr_file *inputs;
	size_t n_inputs;
};

struct kcr_run_res {
	struct kcr_exec_res exec;
	struct kcr_file *outputs;
	size_t n_outputs;
	uint64_t setup_us;  /* creating the sandbox */
	uint64_t total_us;  /* the whole execution, as the caller saw it */
};

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
struct kcr_pool *kcr_engine_pool(struct kcr_engine *e);
void kcr_engine_free(struct kcr_engine *e);
/* Checks what can be checked without a provider: the code and the input
 * names (kcr exec, before it opens one). */
int kcr_engine_check_request(const struct kcr_run_req *req, kcr_error_t *err);
/* Checks what can be checked before any sandbox exists: the request, and
 * whether the provider can run its language (KCR_E_UNAVAILABLE). */
int kcr_engine_validate(struct kcr_engine *e, const struct kcr_run_req *req, kcr_error_t *err);
int kcr_engine_run(struct kcr_engine *e, const struct kcr_run_req *req,
		   struct kcr_run_res *res, kcr_error_t *err);

void kcr_file_release(struct kcr_file *f);
void kcr_run_req_release(struct kcr_run_req *r);
void kcr_run_res_release(struct kcr_run_res *r);

#endif

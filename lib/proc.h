/* Running one untrusted program inside a sandbox (used by kcr-runner):
 * write the source, compile if the language needs it, run with stdin,
 * args, a clean environment, rlimits, no_new_privs and seccomp, capture
 * output with caps, enforce the wall timeout and kill the whole tree. */
#ifndef KCR_PROC_H
#define KCR_PROC_H

#include "error.h"
#include "exec.h"

/* data_dir is the program's cwd ("/mnt/data"); src_dir receives the source
 * and compiled output ("/tmp/.kcr"). Fills res, including the files in
 * data_dir created or changed by the run. Returns -1 only when kcr itself
 * failed (the program failing is a result, not an error). */
int kcr_proc_run(const struct kcr_exec_req *req, const char *data_dir, const char *src_dir,
		 struct kcr_exec_res *res, kcr_error_t *err);

/* Starts lang's interpreter now (Python and JavaScript), importing the
 * comma-separated modules of preload, to run the next execution's program
 * with no start-up cost; an execution that doesn't fit it (another
 * language, other rlimits) discards it and runs cold. lim: the rlimits the
 * sandbox's executions will ask for. */
int kcr_proc_prewarm(const struct kcr_lang *l, const struct kcr_limits *lim,
		     const char *data_dir, const char *preload, kcr_error_t *err);

#endif

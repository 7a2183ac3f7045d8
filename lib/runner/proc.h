/* Running one untrusted program inside a sandbox (used by kcr-runner):
 * write the source, compile if the language needs it, run with stdin,
 * args, a clean environment, rlimits, no_new_privs and seccomp, capture
 * output with caps, enforce the wall timeout and kill the whole tree. */
#ifndef KCR_PROC_H
#define KCR_PROC_H

#include "base/error.h"
#include "base/exec.h"

#include <stdbool.h>
#include <sys/types.h>

/* data_dir is the program's cwd ("/mnt/data"); src_dir receives the source
 * and compiled output ("/tmp/.kcr"). Fills res, including the files in
 * data_dir created or changed by the run. Returns -1 only when kcr itself
 * failed (the program failing is a result, not an error). */
int kcr_proc_run(const struct kcr_exec_request *req, const char *data_dir, const char *src_dir,
		 struct kcr_exec_result *res, kcr_error_t *err);

/* Starts lang's interpreter now (Python, JavaScript and Bash), importing
 * the comma-separated modules of preload, to run the next execution's
 * program with no start-up cost; an execution that doesn't fit it (another
 * language, other rlimits) discards it and runs cold. lim: the rlimits the
 * sandbox's executions will ask for; src_dir: where they write the source
 * (Bash is started with its script's path). */
int kcr_proc_prewarm(const struct kcr_lang *l, const struct kcr_limits *lim, const char *data_dir,
		     const char *src_dir, const char *preload, kcr_error_t *err);

/* An interpreter waiting for its program: the runner's own (above), or a
 * cell a zygote forked (lib/runner/cell.c). */
struct kcr_proc_warm;

/* Takes over a cell: pid, a child of ours and pid 1 of its own pid
 * namespace, reads the message on fds[0] (ours to write), writes fds[1]
 * and fds[2], and says "X<status>\n" on fds[3] once its program is done
 * and stdout and stderr are closed. lim: the rlimits it was set up with.
 * Owns the fds. */
struct kcr_proc_warm *kcr_proc_warm_adopt(const struct kcr_lang *l, const struct kcr_limits *lim,
					  pid_t pid, const int fds[4]);
/* Runs req in the cell w, which serves one execution. src_dir is the
 * cell's source directory as the runner reaches it, inner_src the same
 * directory as the program sees it. KCR_E_CONFLICT: w doesn't fit req. */
int kcr_proc_run_cell(struct kcr_proc_warm *w, const struct kcr_exec_request *req,
		      const char *data_dir, const char *src_dir, const char *inner_src,
		      struct kcr_exec_result *res, kcr_error_t *err);
bool kcr_proc_warm_alive(struct kcr_proc_warm *w);
/* Kills and reaps what is left of w. */
void kcr_proc_warm_free(struct kcr_proc_warm *w);

/* The environment programs of l get (a NULL-terminated, malloc'd strv). */
char **kcr_proc_clean_env(const struct kcr_lang *l);

#endif

/* What the files of lib/runner/proc*.c share, and no one else: the
 * context of one execution, the pipes of one step, and the steps that
 * live in the file of their concept (the child, the parent's I/O, the
 * results, the warm interpreters) but are called from another. */
#ifndef KCR_PROC_INTERNAL_H
#define KCR_PROC_INTERNAL_H

#include "runner/proc.h"
#include "base/util.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
/* How the pieces fit: kcr_proc_run() snapshots data_dir, writes the source
 * into a fresh src_dir, runs the compile step (if any) and the program with
 * run_step(), then compares data_dir with the snapshot. run_step() forks a
 * child that sets itself up (child_main) and execs; the parent pumps the
 * pipes (supervise), kills the whole tree when the program exits or the
 * deadline passes, and reaps every process left.
 *
 * Killing and reaping assume kcr_proc_run() owns every child of its
 * process, as in kcr-runner: as pid 1 of a sandbox it kill(-1)s, otherwise
 * it kills the program's process group plus any child of this process
 * (orphans come back to it through PR_SET_CHILD_SUBREAPER). */

#define GRACE_MS     500    /* draining the pipes after the tree was killed */
#define REAP_MS      2000   /* waiting for a killed tree to go away */
#define TICK_MS      50     /* exit polling without a pidfd */
#define MAX_SNAPSHOT 100000 /* top-level entries looked at in data_dir */

struct proc_ctx {
	const struct kcr_limits *limits;
	char **envp;
	uint64_t deadline_ms; /* compile + run */
	pid_t runner;         /* getpid() of the runner */
	bool is_init;         /* the runner is pid 1 of a sandbox */
	bool switch_id;       /* the runner is uid 0: run as KCR_SANDBOX_UID */
	bool own_pidns;       /* the program is pid 1 of its own pid namespace */
	bool spare_warm;      /* a warm interpreter waits beside this step (a
			       * compile): end the step's process group only */
};

struct step_res {
	struct kcr_buf out, err;
	uint64_t out_over, err_over; /* bytes discarded past the cap */
	int status;
	bool timed_out;
	uint64_t cpu_us; /* user + system time of the step's process and the
			  * children it waited for */
};

/* Parent ends: fd[0] writes stdin, fd[1] and fd[2] read stdout and
 * stderr; child[] are the ends the child gets as 0, 1 and 2. */
struct io {
	int fd[3], child[3];
	int pidfd;
	int done_fd; /* a cell: "X<status>\n" when its program is done (a hint) */
	const char *in;
	size_t in_left;
};

struct child_report {
	int errnum;
	bool at_exec; /* execve itself failed: the runtime is missing or broken */
	char msg[240];
};

struct snap_ent {
	char *name;
	uint64_t size;
	uint64_t allocated; /* bytes of blocks it occupies (st_blocks) */
	int64_t mtime_ns, ctime_ns;
	ino_t ino;
	mode_t mode;
	nlink_t nlink;
};

struct snapshot {
	struct snap_ent *v;
	size_t n;
};

/* An interpreter waiting for its program (runner/proc.h). */
struct kcr_proc_warm {
	bool active;
	bool cell; /* adopted: pid 1 of its own pid namespace, set up by a zygote */
	const struct kcr_lang *lang;
	struct kcr_limits limits; /* the child's rlimits came from these */
	struct proc_ctx pc;
	struct io io;
	pid_t pid;
	char *src_dir; /* Bash's: where its script will be (sh_bootstrap) */
};

/* The runner's own pre-warmed interpreter (kcr_proc_prewarm). */
extern struct kcr_proc_warm proc_own_warm;

char **proc_clean_env(const struct kcr_lang *l, double cpus);
/* src_dir emptied, or made, 0700 and the program's: an fd on it, or -1. */
int proc_fresh_src_dir(const struct proc_ctx *pc, const char *src_dir, kcr_error_t *err);
/* dir/name (dfd) written, 0600 and the program's. */
int proc_write_owned(const struct proc_ctx *pc, int dfd, const char *dir, const char *name,
		     const void *data, size_t len, kcr_error_t *err);
void proc_normalize_limits(struct kcr_limits *l);
void proc_child_main(const struct proc_ctx *pc, char **argv, const char *cwd, const int child[3],
		     int report) __attribute__((noreturn));
pid_t proc_spawn(const struct proc_ctx *pc, char **argv, const char *cwd, const struct io *io,
		 kcr_error_t *err);
void proc_kill_tree(const struct proc_ctx *pc, pid_t pgid);
void proc_reap_tree(const struct proc_ctx *pc, pid_t pgid);
void proc_io_close(struct io *io);
int proc_io_open(struct io *io, const char *in, size_t in_len, kcr_error_t *err);
void proc_supervise(const struct proc_ctx *pc, pid_t pid, struct io *io, struct step_res *sr);
void proc_sigpipe_block(sigset_t *old);
void proc_sigpipe_restore(const sigset_t *old);
int proc_run_step(const struct proc_ctx *pc, char **argv, const char *cwd, const char *in,
		  size_t in_len, struct step_res *sr, kcr_error_t *err);
void proc_step_res_release(struct step_res *sr);
void proc_set_result(struct kcr_exec_result *res, struct step_res *sr, const struct kcr_limits *l);
void proc_snapshot_release(struct snapshot *s);
int proc_snapshot_take(const char *dir, struct snapshot *s, kcr_error_t *err);
void proc_changed_files(const struct snapshot *before, const struct snapshot *after,
			const struct kcr_limits *l, struct kcr_exec_result *res);
void proc_warm_discard(struct kcr_proc_warm *w);
bool proc_warm_fits(struct kcr_proc_warm *w, const struct kcr_exec_request *req,
		    const char *src_dir);
int proc_run_warm(struct kcr_proc_warm *w, struct proc_ctx *pc, const struct kcr_exec_request *req,
		  const char *src_dir, uint64_t compile_cpu_us, struct kcr_exec_result *res);

#endif

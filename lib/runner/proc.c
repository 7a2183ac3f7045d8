#include <config.h>

#include "base/clock.h"
#include "base/files.h"
#include "runner/proc-internal.h"
#include "base/encode.h"
#include "runner/pystate_hook.h"
#include "runner/sandbox_init.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- setting up ---- */

/* The language's argv template with src_dir for KCR_SRC_DIR, plus args. */
static char **
expand(const char *const *tmpl, const struct kcr_lang *l, const char *src_dir, char *const *args)
{
	char **v = kcr_lang_expand_in(tmpl, l, src_dir);

	for (size_t i = 0; args && args[i]; i++)
		kcr_strv_push(&v, args[i]);
	return v;
}

char **
proc_clean_env(const struct kcr_lang *l, double cpus)
{
	static const char *const base[] = {
		"PATH=" KCR_SANDBOX_PATH, "HOME=/tmp",    "TMPDIR=/tmp",
		"LANG=C.UTF-8",           "USER=sandbox", "LOGNAME=sandbox",
	};
	char **env = kcr_xzalloc(sizeof(char *));

	for (size_t i = 0; i < KCR_ARRAY_SIZE(base); i++)
		kcr_strv_push(&env, base[i]);
	for (const char *const *e = l->env; e && *e; e++)
		kcr_strv_push(&env, *e);
	if (l->cpu_env && cpus > 0) {
		kcr_autofree char *v =
			kcr_strdup_printf("%s=%u", l->cpu_env, (unsigned int)ceil(cpus));

		kcr_strv_push(&env, v);
	}
	return env;
}

/* Hands a path to the program's uid. EINVAL: that uid is not mapped in
 * this user namespace, and the program will run as uid 0 without caps. */
static int
give_to_program(const struct proc_ctx *pc, int fd, const char *what, kcr_error_t *err)
{
	if (!pc->switch_id || fchown(fd, KCR_SANDBOX_UID, KCR_SANDBOX_GID) == 0 || errno == EINVAL)
		return 0;
	return kcr_error_set(err, KCR_E_IO, errno, "chown %s", what);
}

/* Writes dir/name (0600, the program's). */
int
proc_write_owned(const struct proc_ctx *pc, int dfd, const char *dir, const char *name,
		 const void *data, size_t len, kcr_error_t *err)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", dir, name);
	kcr_autoclose int fd =
		openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0 || kcr_write_all(fd, data, len) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "writing %s", path);
	return give_to_program(pc, fd, path, err);
}

/* The Python state's hook in src_dir/pystate, and the state to restore. */
static int
prepare_pystate(const struct proc_ctx *pc, const struct kcr_exec_request *req, int dfd,
		const char *src_dir, kcr_error_t *err)
{
	kcr_autofree char *dir = kcr_strdup_printf("%s/" KCR_PYSTATE_DIR, src_dir);
	kcr_autoclose int hfd = -1;

	if (mkdirat(dfd, KCR_PYSTATE_DIR, 0700) < 0 ||
	    (hfd = openat(dfd, KCR_PYSTATE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
		    0)
		return kcr_error_set(err, KCR_E_IO, errno, "creating %s", dir);
	if (give_to_program(pc, hfd, dir, err) < 0 ||
	    proc_write_owned(pc, hfd, dir, KCR_PYSTATE_HOOK, kcr_pystate_hook,
			     strlen(kcr_pystate_hook), err) < 0 ||
	    proc_write_owned(pc, hfd, dir, KCR_PYSTATE_IMPL, kcr_pystate_impl,
			     strlen(kcr_pystate_impl), err) < 0)
		return -1;
	if (req->state_in == NULL)
		return 0;
	return proc_write_owned(pc, dfd, src_dir, KCR_PYSTATE_IN, req->state_in, req->state_in_len,
				err);
}

int
proc_fresh_src_dir(const struct proc_ctx *pc, const char *src_dir, kcr_error_t *err)
{
	kcr_autoclose int dfd = -1;

	kcr_rm_rf(src_dir);
	if (mkdir(src_dir, 0700) < 0 && errno != EEXIST)
		return kcr_error_set(err, KCR_E_IO, errno, "creating %s", src_dir);
	dfd = open(src_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "opening %s", src_dir);
	if (give_to_program(pc, dfd, src_dir, err) < 0)
		return -1;
	return kcr_steal_fd(&dfd);
}

/* A fresh src_dir (0700, the program's) holding the source file. */
static int
prepare_src(const struct proc_ctx *pc, const struct kcr_exec_request *req, const char *src_dir,
	    kcr_error_t *err)
{
	kcr_autoclose int dfd = proc_fresh_src_dir(pc, src_dir, err);

	if (dfd < 0 || proc_write_owned(pc, dfd, src_dir, req->lang->source_file,
					req->code ? req->code : "", req->code_len, err) < 0)
		return -1;
	return kcr_pystate_wanted(req) ? prepare_pystate(pc, req, dfd, src_dir, err) : 0;
}

/* A regular file of src_dir, which the program owns: no symlink, no FIFO. */
static int
read_src_file(const char *src_dir, const char *name, uint64_t max, char **out, size_t *len,
	      kcr_error_t *err)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", src_dir, name);
	kcr_autoclose int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return kcr_error_set(err, errno == ENOENT ? KCR_E_NOTFOUND : KCR_E_IO, errno,
				     "opening %s", name);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return kcr_error_set(err, KCR_E_INVALID, 0, "%s is not a regular file", name);
	if ((uint64_t)st.st_size > max)
		return kcr_error_set(err, KCR_E_LIMIT, 0,
				     "%s is %lld bytes, over the limit of %llu", name,
				     (long long)st.st_size, (unsigned long long)max);
	return kcr_read_fd(fd, (size_t)max, out, len, err);
}

/* After a run that exited with 0: the globals the hook pickled, and what
 * it could not save (its notes) in the result's state_note: the program's
 * stderr stays its own. */
static void
collect_pystate(const struct kcr_exec_request *req, const char *src_dir,
		struct kcr_exec_result *res)
{
	uint64_t limit = kcr_pystate_limit(req);
	kcr_autofree char *notes = NULL;
	kcr_error_t err = NULL;
	size_t len = 0;

	if (!kcr_pystate_wanted(req) || limit == 0 || res->exit_code != 0 || res->timed_out)
		return;
	if (read_src_file(src_dir, KCR_PYSTATE_NOTES, 4096, &notes, &len, &err) == 0) {
		for (char *line = notes, *nl; line && *line; line = nl) {
			if ((nl = strchr(line, '\n')) != NULL)
				*nl++ = '\0';
			kcr_autofree char *clean = NULL;

			if (strncmp(line, "kcr: state: ", 12) == 0)
				line += 12; /* the hook's prefix, for its lines on stderr */
			/* the program names its globals: valid UTF-8 for the JSON */
			clean = kcr_utf8_clean(line, strlen(line));
			if (*clean)
				kcr_exec_result_state_note(res, "%s", clean);
		}
	}
	kcr_error_release(&err);
	if (read_src_file(src_dir, KCR_PYSTATE_OUT, limit, &res->state_out, &res->state_out_len,
			  &err) < 0 &&
	    err->code != KCR_E_NOTFOUND)
		kcr_exec_result_state_note(res, "not saved: %s", err->msg);
	kcr_error_release(&err);
}

static bool
step_ok(const struct step_res *sr)
{
	return !sr->timed_out && WIFEXITED(sr->status) && WEXITSTATUS(sr->status) == 0;
}

/* Compiles in src_dir if the language needs it. 1: compiled (or nothing
 * to compile), go on; 0: the compile failed and is the result, its status
 * and output, nothing run; -1: err. *cpu_us: the compile's CPU. */
static int
compile_step(const struct proc_ctx *pc, const struct kcr_exec_request *req, const char *src_dir,
	     struct kcr_exec_result *res, uint64_t *cpu_us, kcr_error_t *err)
{
	const struct kcr_lang *l = req->lang;
	kcr_autostrv char **argv = NULL;
	struct step_res sr;

	*cpu_us = 0;
	if (l->compile == NULL)
		return 1;
	argv = expand(l->compile, l, src_dir, NULL);
	if (proc_run_step(pc, argv, src_dir, NULL, 0, &sr, err) < 0)
		return kcr_error_wrap(err, "compiling");
	if (!step_ok(&sr)) {
		proc_set_result(res, &sr, pc->limits);
		return 0;
	}
	*cpu_us = sr.cpu_us;
	proc_step_res_release(&sr); /* warnings of a good compile are dropped */
	return 1;
}

/* Runs the program as a new process, in data_dir. */
static int
spawn_run(const struct proc_ctx *pc, const struct kcr_exec_request *req, const char *data_dir,
	  const char *src_dir, uint64_t compile_cpu_us, struct kcr_exec_result *res,
	  kcr_error_t *err)
{
	kcr_autostrv char **argv = expand(req->lang->run, req->lang, src_dir, req->args);
	struct step_res sr;

	if (proc_run_step(pc, argv, data_dir, req->stdin_data, req->stdin_len, &sr, err) < 0)
		return -1;
	sr.cpu_us += compile_cpu_us; /* the execution's CPU: building it too */
	proc_set_result(res, &sr, pc->limits);
	return 0;
}

void
proc_normalize_limits(struct kcr_limits *l)
{
	if (l->timeout_ms == 0)
		l->timeout_ms = KCR_DEFAULT_TIMEOUT_MS;
	if (l->output_bytes == 0)
		l->output_bytes = KCR_DEFAULT_OUTPUT_BYTES;
	if (l->max_output_files == 0)
		l->max_output_files = KCR_DEFAULT_MAX_OUTPUT_FILES;
}

static int
run_with(struct kcr_proc_warm *w, const struct kcr_exec_request *req, const char *data_dir,
	 const char *src_dir, const char *inner_src, struct kcr_exec_result *res, kcr_error_t *err)
{
	struct snapshot before = { 0 }, after = { 0 };
	struct kcr_limits lim = req->limits;
	struct proc_ctx pc = { .limits = &lim, .runner = getpid() }, compile_pc;
	uint64_t start, compile_cpu_us;
	bool fits = proc_warm_fits(w, req, src_dir);
	int r = -1;

	memset(res, 0, sizeof(*res));
	proc_normalize_limits(&lim);
	pc.is_init = pc.runner == 1 && !w->cell;
	pc.switch_id = geteuid() == 0;
	pc.envp = proc_clean_env(req->lang, lim.cpus);
	if (kcr_pystate_wanted(req))
		kcr_pystate_env(&pc.envp, src_dir, kcr_pystate_limit(req));
	if (w->cell && !fits) {
		kcr_error_set(err, KCR_E_CONFLICT, 0,
			      w->active && !kcr_child_exited(w->pid)
				      ? "this cell was made for another language or other limits"
				      : "this cell is gone");
		goto out;
	}
	if (proc_snapshot_take(data_dir, &before, err) < 0 ||
	    prepare_src(&pc, req, src_dir, err) < 0)
		goto out;
	start = kcr_now_ms();
	pc.deadline_ms = start + lim.timeout_ms;
	compile_pc = pc;
	/* decided once: a cell that dies meanwhile reports its end, its
	 * program never runs here in the runner */
	if (!fits)
		proc_warm_discard(w);
	/* a compiled language's warm interpreter runs what the compiler made */
	compile_pc.spare_warm = fits;
	if ((r = compile_step(&compile_pc, req, src_dir, res, &compile_cpu_us, err)) > 0)
		r = fits ? proc_run_warm(w, &pc, req, inner_src, compile_cpu_us, res)
			 : spawn_run(&pc, req, data_dir, src_dir, compile_cpu_us, res, err);
	else
		proc_warm_discard(w); /* nothing for it to run */
	if (r < 0)
		goto out;
	r = -1;
	res->duration_ms = kcr_now_ms() - start;
	collect_pystate(req, src_dir, res);
	if (proc_snapshot_take(data_dir, &after, err) < 0)
		goto out;
	proc_changed_files(&before, &after, &lim, res);
	r = 0;
out:
	if (r < 0)
		kcr_exec_result_release(res);
	proc_snapshot_release(&before);
	proc_snapshot_release(&after);
	kcr_strv_free(pc.envp);
	return r;
}

int
kcr_proc_run(const struct kcr_exec_request *req, const char *data_dir, const char *src_dir,
	     struct kcr_exec_result *res, kcr_error_t *err)
{
	return run_with(&proc_own_warm, req, data_dir, src_dir, src_dir, res, err);
}

int
kcr_proc_run_cell(struct kcr_proc_warm *w, const struct kcr_exec_request *req, const char *data_dir,
		  const char *src_dir, const char *inner_src, struct kcr_exec_result *res,
		  kcr_error_t *err)
{
	return run_with(w, req, data_dir, src_dir, inner_src, res, err);
}

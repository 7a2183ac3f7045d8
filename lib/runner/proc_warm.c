/* Pre-warmed interpreters: the runner's own (kcr_proc_prewarm) and cells
 * a zygote cloned (kcr_proc_warm_adopt), each running exactly one program. */
#include <config.h>

#include "base/files.h"
#include "base/json.h"
#include "runner/proc-internal.h"
#include "runner/pyboot.h"
#include "runner/pystate_hook.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
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

/* ---- pre-warmed interpreters ----
 * A sandbox made for one language may start that language's interpreter
 * before any code arrives (kcr_proc_prewarm): set up like any program
 * (uid, rlimits, no_new_privs, seccomp), with the usual libraries imported,
 * blocked reading its stdin. An execution then writes one message there,
 * an 8-digit length and a JSON {"argv": [...]} (argv[0] the source file),
 * followed by the program's own stdin, and supervises it as usual. The
 * sandbox still serves one execution: the interpreter runs one program. */

/* Node: the same message on stdin, then the file runs as the main module,
 * exactly as `node file.js` runs it (Module.runMain). */
static const char js_bootstrap[] =
	"'use strict';\n"
	"const fs = require('fs');\n"
	"const readN = (n) => {\n"
	"  const b = Buffer.alloc(n);\n"
	"  for (let o = 0; o < n;) {\n"
	"    const r = fs.readSync(0, b, o, n - o, null);\n"
	"    if (r === 0) process.exit(125);\n"
	"    o += r;\n"
	"  }\n"
	"  return b;\n"
	"};\n"
	"const msg = JSON.parse(readN(parseInt(readN(8).toString(), 10)).toString());\n"
	"process.argv = [process.argv[0], ...msg.argv];\n"
	"require('module').runMain();\n";

/* Bash: started as `bash SRC/code.sh` before that file exists, with
 * BASH_ENV naming this file. Bash runs it at start-up and opens its script
 * only after it, so the script then runs exactly as `bash SRC/code.sh
 * args` would run it: $0, BASH_SOURCE, FUNCNAME, $- and `return` are the
 * script's own. Bash has read all of the file when its first line says so
 * on stderr (bash_started), and the runner then removes it. The message
 * is an 8-digit count and that many NUL-terminated args; bash's read takes
 * a pipe a byte at a time, so what follows is the program's stdin,
 * untouched. Its names are gone before the script starts. */
#define SH_STARTED 'K'
static const char sh_bootstrap[] = "printf K >&2\n"
				   "IFS= read -r -N 8 __kcr_n || exit 125\n"
				   "__kcr_a=()\n"
				   "for ((__kcr_n = 10#$__kcr_n; __kcr_n > 0; __kcr_n--)); do\n"
				   "  IFS= read -r -d '' __kcr_x || exit 125\n"
				   "  __kcr_a+=(\"$__kcr_x\")\n"
				   "done\n"
				   "set -- \"${__kcr_a[@]}\"\n"
				   "unset __kcr_n __kcr_a __kcr_x BASH_ENV\n";

#define SH_BOOTSTRAP ".kcr-bash-env"
#define SH_START_MS  10000

/* The runner's own pre-warmed interpreter (kcr_proc_prewarm). */
struct kcr_proc_warm proc_own_warm;

/* Node's languages (js, and ts once esbuild made its code.js) start Node
 * ahead; Bash its script (sh_bootstrap); the others, Python. */
static bool
is_node(const struct kcr_lang *l)
{
	return strcmp(l->run[0], "/usr/bin/node") == 0;
}

static bool
is_bash(const struct kcr_lang *l)
{
	return strcmp(l->run[0], "/bin/bash") == 0;
}

static char **
warm_argv(const struct kcr_lang *l, const char *src_dir)
{
	char **v = NULL;

	if (!(l->caps & KCR_LANG_PREWARM))
		return NULL;
	if (is_bash(l))
		return kcr_lang_expand_in(l->run, l, src_dir);
	kcr_strv_push(&v, l->run[0]);
	kcr_strv_push(&v, is_node(l) ? "-e" : "-c");
	kcr_strv_push(&v, is_node(l) ? js_bootstrap : kcr_pyboot_src);
	return v;
}

/* Bash's start-up file, in src_dir, and BASH_ENV naming it. */
static int
bash_bootstrap(struct proc_ctx *pc, const char *src_dir, kcr_error_t *err)
{
	kcr_autoclose int dfd = proc_fresh_src_dir(pc, src_dir, err);
	kcr_autofree char *env = NULL;

	if (dfd < 0 || proc_write_owned(pc, dfd, src_dir, SH_BOOTSTRAP, sh_bootstrap,
					strlen(sh_bootstrap), err) < 0)
		return -1;
	env = kcr_strdup_printf("BASH_ENV=%s/" SH_BOOTSTRAP, src_dir);
	kcr_strv_push(&pc->envp, env);
	return 0;
}

void
proc_warm_discard(struct kcr_proc_warm *w)
{
	if (!w->active)
		return;
	proc_kill_tree(&w->pc, w->pid);
	if (w->cell)
		while (waitpid(w->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	else
		proc_reap_tree(&w->pc, w->pid);
	proc_io_close(&w->io);
	kcr_strv_free(kcr_steal(&w->pc.envp));
	kcr_freep(&w->src_dir);
	w->active = false;
}

/* Waits for sh_bootstrap's mark on stderr, and removes its file: an
 * execution that comes at once then never empties src_dir while bash
 * still reads it, and finds there its own source alone. */
static int
bash_started(struct kcr_proc_warm *w, kcr_error_t *err)
{
	struct pollfd p = { .fd = w->io.fd[2], .events = POLLIN };
	kcr_autofree char *path = kcr_strdup_printf("%s/" SH_BOOTSTRAP, w->src_dir);
	char c = 0;
	int n;

	while ((n = poll(&p, 1, SH_START_MS)) < 0 && errno == EINTR)
		;
	if (n <= 0 || read(w->io.fd[2], &c, 1) != 1 || c != SH_STARTED)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, n < 0 ? errno : 0,
				     "bash did not start within %d ms", SH_START_MS);
	if (unlink(path) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "removing %s", path);
	return 0;
}

char **
kcr_proc_clean_env(const struct kcr_lang *l)
{
	return proc_clean_env(l, 0);
}

int
kcr_proc_prewarm(const struct kcr_lang *l, const struct kcr_limits *lim, const char *data_dir,
		 const char *src_dir, const char *preload, kcr_error_t *err)
{
	kcr_autostrv char **argv = warm_argv(l, src_dir);
	kcr_autofree char *pre = kcr_strdup_printf("KCR_PRELOAD=%s", preload ? preload : "");

	if (argv == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0, "no pre-warmed interpreter for %s",
				     l->id);
	proc_warm_discard(&proc_own_warm);
	proc_own_warm.limits = *lim;
	proc_normalize_limits(&proc_own_warm.limits);
	proc_own_warm.pc = (struct proc_ctx){ .limits = &proc_own_warm.limits,
					      .runner = getpid(),
					      .is_init = getpid() == 1,
					      .switch_id = geteuid() == 0,
					      .envp = proc_clean_env(l, 0) };
	/* for the bootstrap that imports the modules (and takes it out of the
	 * environment); the program of any other language never sees it */
	if (l->caps & KCR_LANG_PRELOAD)
		kcr_strv_push(&proc_own_warm.pc.envp, pre);
	if (is_bash(l) && bash_bootstrap(&proc_own_warm.pc, src_dir, err) < 0)
		goto fail;
	if (proc_io_open(&proc_own_warm.io, "", 0, err) < 0)
		goto fail;
	proc_own_warm.pid = proc_spawn(&proc_own_warm.pc, argv, data_dir, &proc_own_warm.io, err);
	for (int i = 0; i < 3; i++)
		kcr_closep(&proc_own_warm.io.child[i]);
	if (proc_own_warm.pid <= 0)
		goto fail;
#ifdef SYS_pidfd_open
	proc_own_warm.io.pidfd = (int)syscall(SYS_pidfd_open, proc_own_warm.pid, 0);
#endif
	proc_own_warm.lang = l;
	proc_own_warm.src_dir = is_bash(l) ? kcr_xstrdup(src_dir) : NULL;
	proc_own_warm.active = true;
	if (is_bash(l) && bash_started(&proc_own_warm, err) < 0) {
		proc_warm_discard(&proc_own_warm);
		return -1;
	}
	return 0;
fail:
	proc_io_close(&proc_own_warm.io);
	kcr_strv_free(kcr_steal(&proc_own_warm.pc.envp));
	return -1;
}

struct kcr_proc_warm *
kcr_proc_warm_adopt(const struct kcr_lang *l, const struct kcr_limits *lim, pid_t pid,
		    const int fds[4])
{
	struct kcr_proc_warm *w = kcr_xzalloc(sizeof(*w));

	w->limits = *lim;
	proc_normalize_limits(&w->limits);
	w->pc = (struct proc_ctx){ .limits = &w->limits,
				   .runner = getpid(),
				   .switch_id = geteuid() == 0,
				   .own_pidns = true };
	w->io.pidfd = -1;
	for (int i = 0; i < 3; i++) {
		w->io.fd[i] = fds[i];
		w->io.child[i] = -1;
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
	}
	w->io.done_fd = fds[3];
	fcntl(fds[3], F_SETFL, O_NONBLOCK);
#ifdef SYS_pidfd_open
	w->io.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	w->pid = pid;
	w->lang = l;
	w->cell = true;
	w->active = true;
	return w;
}

bool
kcr_proc_warm_alive(struct kcr_proc_warm *w)
{
	return w->active && !kcr_child_exited(w->pid);
}

void
kcr_proc_warm_free(struct kcr_proc_warm *w)
{
	if (w == NULL)
		return;
	proc_warm_discard(w);
	free(w);
}

/* Whether req can run in the waiting interpreter: same language, the
 * limits the child was set up with are the ones asked for, and Bash's
 * script is where this execution writes it. */
bool
proc_warm_fits(struct kcr_proc_warm *w, const struct kcr_exec_request *req, const char *src_dir)
{
	const struct kcr_limits *l = &w->limits, *q = &req->limits;

	return w->active && w->lang == req->lang && !kcr_child_exited(w->pid) &&
	       l->nofile == q->nofile && l->file_size == q->file_size && l->pids == q->pids &&
	       (w->src_dir == NULL || strcmp(w->src_dir, src_dir) == 0);
}

/* Bash's (sh_bootstrap): its script's path is its own already. */
static char *
bash_message(const struct kcr_exec_request *req, size_t *len)
{
	struct kcr_buf b;
	size_t n = 0;

	while (req->args && req->args[n])
		n++;
	kcr_buf_init(&b);
	kcr_buf_addf(&b, "%08zu", n);
	for (size_t i = 0; i < n; i++)
		kcr_buf_add(&b, req->args[i], strlen(req->args[i]) + 1);
	if (req->stdin_data)
		kcr_buf_add(&b, req->stdin_data, req->stdin_len);
	return kcr_buf_steal(&b, len);
}

/* The message the interpreter waits for, then the program's stdin.
 * src_dir: where the interpreter sees the source. The argv is the
 * language's run command's, the interpreter left out: the program's file
 * (the source, or what the compiler made of it) and the request's args. */
static char *
warm_message(const struct kcr_exec_request *req, const char *src_dir, size_t *len)
{
	cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "argv");
	kcr_autostrv char **run = kcr_lang_expand_in(req->lang->run, req->lang, src_dir);
	kcr_autofree char *json = NULL;
	struct kcr_buf b;

	for (size_t i = 1; run[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(run[i]));
	for (size_t i = 0; req->args && req->args[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(req->args[i]));
	if (kcr_pystate_wanted(req)) {
		kcr_autofree char *hook =
			kcr_strdup_printf("%s/" KCR_PYSTATE_DIR "/" KCR_PYSTATE_HOOK, src_dir);
		cJSON *st = cJSON_AddArrayToObject(o, "pystate");

		cJSON_AddItemToArray(st, cJSON_CreateString(hook));
		cJSON_AddItemToArray(st, cJSON_CreateNumber((double)kcr_pystate_limit(req)));
	}
	json = kcr_json_print_free(o);
	kcr_buf_init(&b);
	kcr_buf_addf(&b, "%08zu%s", strlen(json), json);
	if (req->stdin_data)
		kcr_buf_add(&b, req->stdin_data, req->stdin_len);
	return kcr_buf_steal(&b, len);
}

int
proc_run_warm(struct kcr_proc_warm *w, struct proc_ctx *pc, const struct kcr_exec_request *req,
	      const char *src_dir, uint64_t compile_cpu_us, struct kcr_exec_result *res)
{
	size_t len;
	kcr_autofree char *msg =
		is_bash(req->lang) ? bash_message(req, &len) : warm_message(req, src_dir, &len);
	struct step_res sr = { 0 };
	sigset_t old;

	w->pc.limits = pc->limits; /* this request's output cap and deadline */
	w->pc.deadline_ms = pc->deadline_ms;
	w->io.in = msg;
	w->io.in_left = len;
	proc_sigpipe_block(&old);
	proc_supervise(&w->pc, w->pid, &w->io, &sr);
	proc_reap_tree(&w->pc, w->pid);
	proc_sigpipe_restore(&old);
	proc_io_close(&w->io);
	kcr_strv_free(kcr_steal(&w->pc.envp));
	kcr_freep(&w->src_dir);
	w->active = false;
	w->pc.limits = &w->limits;
	sr.cpu_us += compile_cpu_us;
	proc_set_result(res, &sr, pc->limits);
	return 0;
}

/* inner_src: src_dir as the program sees it (a cell's /tmp is mounted
 * elsewhere in the runner). cell: w is an adopted cell, which is the only
 * place the program may run. */

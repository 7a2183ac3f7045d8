/* The local sandbox provider: one kcr-runner per sandbox, in new user, pid,
 * mount, net, ipc and uts namespaces and its own cgroups, serving HTTP on a
 * unix socket that kcr bound before starting it.
 *
 * create():
 *   1. socket <run_dir>/sb-<id>.sock, bound and listening;
 *   2. cgroups kcr-<id> with the limits (a warning, once, when unusable);
 *   3. clone(CLONE_NEW{USER,PID,NS,NET,IPC,UTS}), with clone3 straight into
 *      the cgroup on v2; the child blocks on the sync socket;
 *   4. the parent writes uid_map/gid_map and sends one byte on the sync
 *      socket (keeping its end open);
 *   5. the child moves itself into its v1 cgroups (writing "0" to the
 *      "tasks" files kcr opened for it), becomes root of its user
 *      namespace (kuid 100000), sets PR_SET_PDEATHSIG, checks kcr is still
 *      there, puts the socket at fd 3 and the error pipe at fd 4 and execs
 *      "kcr-runner --sandbox --listen-fd=3 --error-fd=4 ...";
 *   6. the runner's kcr_sandbox_init_main() builds the file system, then
 *      writes the single byte KCR_SANDBOX_READY (ASCII ACK) to fd 4 and closes
 *      it; or it writes one line of error text and the runner exits;
 *   7. the parent reads fd 4 to EOF: exactly the ready byte means ready;
 *      text is the error; nothing at all means the runner died.
 * A child failing before execve writes "\001<errno> <step>" instead. */
#include <config.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/log.h"
#include "sandbox/runner_client.h"
#include "sandbox/local-internal.h"
#include "runner/sandbox_init.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <unistd.h>
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

/* ---- the parent side ------------------------------------------------------- */

struct spawn_fds {
	int sync[2], err[2], nul, exe;
	int cg_tasks[KCR_CGROUP_MAX_FDS];
	int n_cg_tasks;
};

static void
spawn_fds_close(struct spawn_fds *f)
{
	int *all[] = { &f->sync[0], &f->sync[1], &f->err[0], &f->err[1], &f->nul, &f->exe };

	for (size_t i = 0; i < KCR_ARRAY_SIZE(all); i++)
		kcr_closep(all[i]);
	for (int i = 0; i < f->n_cg_tasks; i++)
		kcr_closep(&f->cg_tasks[i]);
}

static int
spawn_fds_open(struct spawn_fds *f, const char *runner, const struct kcr_cgroup *cg,
	       kcr_error_t *err)
{
	/* sync is a socket pair: send(MSG_NOSIGNAL) cannot SIGPIPE kcr */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sync) < 0 ||
	    pipe2(f->err, O_CLOEXEC) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot create a pipe");
	f->nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (f->nul < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot open /dev/null");
	/* Opened here, as kcr, so the path need not be reachable by the
	 * sandbox's uid: the child execs the file descriptor. */
	f->exe = open(runner, O_PATH | O_CLOEXEC);
	if (f->exe < 0)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, errno, "cannot open '%s'", runner);
	f->n_cg_tasks = kcr_cgroup_open_tasks(cg, f->cg_tasks, err);
	return f->n_cg_tasks < 0 ? -1 : 0;
}

/* The interpreter is set up with the rlimits executions will ask for. */
static void
prewarm_args(char ***v, const struct local *lp, const struct kcr_sandbox_spec *spec)
{
	const struct kcr_limits *l = &spec->limits;
	char buf[128];

	snprintf(buf, sizeof(buf), "--prewarm=%s", spec->lang->id);
	kcr_strv_push(v, buf);
	if ((spec->lang->caps & KCR_LANG_PRELOAD) && spec->preload) {
		kcr_autofree char *pre = kcr_strdup_printf("--preload=%s", lp->py_preload);

		kcr_strv_push(v, pre);
	}
	snprintf(buf, sizeof(buf), "--nofile=%u", l->nofile);
	kcr_strv_push(v, buf);
	snprintf(buf, sizeof(buf), "--file-size=%llu", (unsigned long long)l->file_size);
	kcr_strv_push(v, buf);
	snprintf(buf, sizeof(buf), "--pids=%u", l->pids);
	kcr_strv_push(v, buf);
}

/* A host: its runner starts the zygotes, bare and with pool.py_preload. */
static void
host_args(char ***v, const struct local *lp, const struct kcr_sandbox_spec *spec)
{
	kcr_autofree char *z = kcr_strdup_printf("--zygote=%s", spec->lang->id);
	kcr_autofree char *n = kcr_strdup_printf("--zygotes=%d", lp->py_zygotes);
	kcr_autofree char *pre = kcr_strdup_printf("--preload=%s", lp->py_preload);
	kcr_autofree char *chan = kcr_strdup_printf("--fd-channel=%d", CHANNEL_FD);

	kcr_strv_push(v, z);
	kcr_strv_push(v, n);
	kcr_strv_push(v, pre);
	kcr_strv_push(v, chan);
}

/* The sizes of a sandbox's (or a cell's) /tmp and /mnt/data: its limits,
 * else the configured ones. */
uint32_t
local_tmp_mb(const struct local *lp, const struct kcr_limits *l)
{
	return l->tmp_size_mb ? l->tmp_size_mb : lp->tmp_mb;
}

uint32_t
local_data_mb(const struct local *lp, const struct kcr_limits *l)
{
	return l->data_size_mb ? l->data_size_mb : lp->data_mb;
}

/* The build cache, where the language wants it. */
static void
cache_args(char ***v, const struct kcr_sandbox_spec *spec, const struct local_cache *cache)
{
	kcr_autofree char *at = kcr_strdup_printf("--cache-at=%s", spec->lang->build_cache);
	kcr_autofree char *from = kcr_strdup_printf("--cache=%s", cache->path);

	kcr_strv_push(v, from);
	kcr_strv_push(v, at);
	if (cache->rw)
		kcr_strv_push(v, "--cache-rw");
}

static char **
runner_argv(const struct local *lp, const struct kcr_sandbox_spec *spec, bool host,
	    const struct local_cache *cache)
{
	const struct kcr_limits *l = &spec->limits;
	char **v = NULL;
	kcr_autofree char *tmp = NULL;
	kcr_autofree char *data = NULL;

	tmp = kcr_strdup_printf("--tmp-size-mb=%u", local_tmp_mb(lp, l));
	data = kcr_strdup_printf("--data-size-mb=%u", local_data_mb(lp, l));
	kcr_strv_push(&v, "kcr-runner");
	kcr_strv_push(&v, "--sandbox");
	kcr_strv_push(&v, "--listen-fd=3");
	kcr_strv_push(&v, "--error-fd=4");
	kcr_strv_push(&v, tmp);
	kcr_strv_push(&v, data);
	if (lp->seccomp_fd >= 0)
		kcr_strv_push(&v, "--seccomp-fd=" KCR_STR(SECCOMP_FD));
	if (host)
		host_args(&v, lp, spec);
	else if (spec->prewarm && spec->lang && (spec->lang->caps & KCR_LANG_PREWARM))
		prewarm_args(&v, lp, spec);
	if (!host && cache && cache->path && spec->lang && spec->lang->build_cache)
		cache_args(&v, spec, cache);
	return v;
}

char **
local_runner_envp(void)
{
	char **v = NULL;

	kcr_strv_push(&v, "PATH=" KCR_SANDBOX_PATH);
	kcr_strv_push(&v, "LANG=C.UTF-8");
	kcr_strv_push(&v, "HOME=/tmp");
	kcr_strv_push(&v, "TMPDIR=/tmp");
	return v;
}

static int
write_proc(pid_t pid, const char *file, const char *val, kcr_error_t *err)
{
	kcr_autofree char *path = kcr_strdup_printf("/proc/%ld/%s", (long)pid, file);
	kcr_autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t n = strlen(val);

	if (fd < 0 || write(fd, val, n) != (ssize_t)n)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot write %s", path);
	return 0;
}

/* As root: 0..65535 inside are 100000.. outside, and setgroups stays
 * allowed (the child drops its groups). Otherwise only ourselves. */
static int
map_ids(const struct local *lp, pid_t pid, kcr_error_t *err)
{
	char uid[64], gid[64];

	if (lp->root) {
		snprintf(uid, sizeof(uid), "0 %u %u\n", SUBID_BASE, SUBID_COUNT);
		snprintf(gid, sizeof(gid), "%s", uid);
	} else {
		snprintf(uid, sizeof(uid), "0 %u 1\n", (unsigned)geteuid());
		snprintf(gid, sizeof(gid), "0 %u 1\n", (unsigned)getegid());
	}
	if (write_proc(pid, "uid_map", uid, err) < 0)
		return -1;
	if (!lp->root && write_proc(pid, "setgroups", "deny", err) < 0)
		return -1;
	return write_proc(pid, "gid_map", gid, err);
}

/* The child's report: "\001<errno> <step>" or the runner's line of text. */
static int
child_error(const char *msg, kcr_error_t *err)
{
	const char *nl;
	char *end;

	if (msg[0] == '\001') {
		long e = strtol(msg + 1, &end, 10);

		return kcr_error_set(err, KCR_E_UNAVAILABLE, (int)e, "sandbox setup: %s",
				     *end == ' ' ? end + 1 : "failed");
	}
	nl = strchrnul(msg, '\n');
	return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "sandbox setup: %.*s", (int)(nl - msg),
			     msg);
}

/* when: "" or " during ..." */
static int
exit_error(struct local_sb *ls, int st, const char *when, kcr_error_t *err)
{
	ls->pid = -1;
	if (WIFSIGNALED(st))
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				     "kcr-runner was killed by signal %d%s", WTERMSIG(st), when);
	return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "kcr-runner exited with status %d%s",
			     WEXITSTATUS(st), when);
}

/* Reads the error pipe to EOF (or the deadline, or cancel_fd readable)
 * into msg. */
static int
read_report(int fd, int cancel_fd, uint64_t deadline, struct kcr_buf *msg, kcr_error_t *err)
{
	uint64_t start = kcr_now_ms();
	char buf[512];

	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = cancel_fd > 0 ? cancel_fd : -1, .events = POLLIN } };
		uint64_t now = kcr_now_ms();
		ssize_t n;

		if (now >= deadline || poll(p, 2, (int)(deadline - now)) == 0)
			return kcr_error_set(
				err, KCR_E_TIMEOUT, 0,
				"sandbox setup: kcr-runner not ready after %llu ms",
				(unsigned long long)(deadline > start ? deadline - start : 0));
		if (p[1].revents)
			return kcr_error_set(err, KCR_E_UNAVAILABLE, ECANCELED,
					     "sandbox setup: canceled");
		if (!p[0].revents)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return 0;
		if (msg->len < 4096)
			kcr_buf_add(msg, buf, (size_t)n);
	}
}

/* EOF without the ready byte or text: the runner is exiting; give the
 * kernel a moment to make it reapable so the status can be shown. */
static int
lost_during_setup(struct local_sb *ls, kcr_error_t *err)
{
	int st;

	for (int i = 0; i < 100; i++) {
		if (waitpid(ls->pid, &st, WNOHANG) == ls->pid)
			return exit_error(ls, st, " during sandbox setup", err);
		usleep(1000);
	}
	return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
			     "sandbox setup: kcr-runner closed fd %d without reporting ready",
			     ERROR_FD);
}

/* Step 7: exactly the ready byte means ready. */
static int
wait_ready(struct local_sb *ls, int fd, kcr_error_t *err)
{
	struct kcr_buf msg;
	int ret;

	kcr_buf_init(&msg);
	ret = read_report(fd, ls->cancel_fd, ls->ready_by, &msg, err);
	if (ret == 0 && msg.len == 1 && msg.data[0] == KCR_SANDBOX_READY)
		ret = 0;
	else if (ret == 0 && msg.len > 0)
		ret = child_error(msg.data[0] == KCR_SANDBOX_READY ? msg.data + 1 : msg.data, err);
	else if (ret == 0)
		ret = lost_during_setup(ls, err);
	kcr_buf_release(&msg);
	return ret;
}

/* Steps 4 and 7 of the protocol, once the child exists. in_cg: the child
 * is in its cgroups already (v2: clone3) or moves itself (v1: "tasks"),
 * else kcr moves it here, overlapping with the runner's start (nothing
 * untrusted runs before create() returns, which is after the move). */
static int
start_child(const struct local *lp, struct local_sb *ls, struct spawn_fds *f, bool in_cg,
	    kcr_error_t *err)
{
	kcr_closep(&f->sync[0]);
	kcr_closep(&f->err[1]);
	if (map_ids(lp, ls->pid, err) < 0)
		return kcr_error_wrap(err, "sandbox user namespace");
	if (send(f->sync[1], "x", 1, MSG_NOSIGNAL) != 1)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot start the sandbox");
	if (ls->cg && !in_cg && kcr_cgroup_add_pid(ls->cg, ls->pid, err) < 0)
		return -1;
	return wait_ready(ls, f->err[0], err);
}

static int
spawn(struct local *lp, struct local_sb *ls, const struct kcr_sandbox_spec *spec, int lfd, int chan,
      const struct local_cache *cache, kcr_error_t *err)
{
	__attribute__((cleanup(spawn_fds_close))) struct spawn_fds f = {
		.sync = { -1, -1 }, .err = { -1, -1 }, .nul = -1, .exe = -1
	};
	kcr_autostrv char **argv = runner_argv(lp, spec, chan >= 0, cache);
	kcr_autostrv char **envp = local_runner_envp();
	struct child_args a;
	bool in_cg;
	long pid;

	if (spawn_fds_open(&f, lp->runner, ls->cg, err) < 0)
		return -1;
	a = (struct child_args){ .sync_r = f.sync[0],
				 .sync_w = f.sync[1],
				 .err_r = f.err[0],
				 .err_w = f.err[1],
				 .lfd = lfd,
				 .nul = f.nul,
				 .exe = f.exe,
				 .seccomp = lp->seccomp_fd,
				 .chan = chan,
				 .cg_tasks = f.cg_tasks,
				 .n_cg_tasks = f.n_cg_tasks,
				 .setgroups = lp->root,
				 .argv = argv,
				 .envp = envp };
	pid = local_template_clone(lp, &a, kcr_cgroup_fd(ls->cg), &in_cg);
	if (pid == LOCAL_NO_TEMPLATE)
		pid = local_clone_sandbox(kcr_cgroup_fd(ls->cg), &a, ls, &in_cg);
	if (pid < 0)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, errno,
				     "cannot create the sandbox's namespaces%s",
				     errno == EPERM || errno == ENOSPC || errno == EINVAL
					     ? " (are user namespaces disabled? see "
					       "/proc/sys/user/max_user_namespaces)"
					     : "");
	ls->pid = (pid_t)pid;
	if (start_child(lp, ls, &f, in_cg || f.n_cg_tasks > 0, err) < 0)
		return -1;          /* the caller kills and reaps the child, then frees its stack */
	local_free_child_stack(ls); /* the runner has exec'd: the stack is ours again */
	return 0;
}

static int
listen_unix(const char *path, kcr_error_t *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	kcr_autoclose int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return kcr_error_set(err, KCR_E_INVALID, 0, "socket path too long: '%s'", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot create a unix socket");
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot bind '%s'", path);
	if (listen(fd, 16) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot listen on '%s'", path);
	return kcr_steal_fd(&fd);
}

int
local_make_cgroup(struct local *lp, struct local_sb *ls, const char *id, const struct kcr_limits *l,
		  kcr_error_t *err)
{
	kcr_error_t e = NULL;

	ls->cg = NULL;
	if (kcr_cgroup_create(id, l, &ls->cg, &e) == 0)
		return 0;
	if (!lp->allow_unlimited) {
		kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
			      "no sandbox without its memory and process limits: %s (kcr doctor "
			      "says why; limits.allow_unlimited: true runs without them)",
			      e->msg);
		kcr_error_free(e);
		return -1;
	}
	if (!atomic_exchange(&lp->cg_warned, true))
		kcr_log_warn("%s; sandboxes run without memory, process and cpu limits "
			     "(limits.allow_unlimited; rlimits still apply)",
			     e->msg);
	kcr_error_release(&e);
	return 0;
}

/* Kills and reaps the sandbox, removes its cgroups and socket. */
int
local_sb_teardown(struct local_sb *ls, kcr_error_t *err)
{
	int st, ret;

	if (ls->pid > 0) {
		kill(ls->pid, SIGKILL);
		while (waitpid(ls->pid, &st, 0) < 0 && errno == EINTR)
			;
		ls->pid = -1;
	}
	local_free_child_stack(ls);
	ret = kcr_cgroup_destroy(ls->cg, err);
	ls->cg = NULL;
	if (ls->sock)
		unlink(ls->sock);
	return ret;
}

void
local_sb_free(struct kcr_sandbox *sb)
{
	struct local_sb *ls = sb->priv;

	if (ls) {
		free(ls->sock);
		free(ls);
	}
	free(sb->endpoint);
	free(sb);
}

/* A sandbox (or a cell) with limits l, not started yet. */
struct kcr_sandbox *
local_sb_new(const struct kcr_limits *l)
{
	struct kcr_sandbox *sb = kcr_xzalloc(sizeof(*sb));
	struct local_sb *ls = kcr_xzalloc(sizeof(*ls));

	sb->priv = ls;
	ls->pid = -1;
	ls->memory_mb = l->memory_mb;
	ls->pids = l->pids;
	atomic_init(&ls->claimed, false);
	local_new_id(sb->id);
	return sb;
}

/* The runner is ready by READY_TIMEOUT_MS from now, or deadline_ms when
 * that is sooner. */
static uint64_t
ready_by(uint64_t deadline_ms)
{
	uint64_t own = kcr_now_ms() + READY_TIMEOUT_MS;

	return deadline_ms && deadline_ms < own ? deadline_ms : own;
}

/* A sandbox with its own runner; chan >= 0 makes it a host. */
int
local_create_sandbox(struct local *lp, const struct kcr_sandbox_spec *spec, int chan,
		     uint64_t deadline_ms, struct kcr_sandbox **out, kcr_error_t *err)
{
	struct local_cache cache = { .path = chan < 0 ? local_cache_path(lp, spec) : NULL };
	int ret = local_create_cached(lp, spec, chan, &cache, deadline_ms, out, err);

	free(cache.path);
	return ret;
}

int
local_create_cached(struct local *lp, const struct kcr_sandbox_spec *spec, int chan,
		    const struct local_cache *cache, uint64_t deadline_ms, struct kcr_sandbox **out,
		    kcr_error_t *err)
{
	uint64_t t0 = kcr_now_ns();
	struct kcr_sandbox *sb;
	struct local_sb *ls;
	kcr_autoclose int lfd = -1;

	if (deadline_ms && kcr_now_ms() >= deadline_ms)
		return kcr_error_set(err, KCR_E_TIMEOUT, 0, "sandbox setup: past its deadline");
	sb = local_sb_new(&spec->limits);
	ls = sb->priv;
	ls->ready_by = ready_by(deadline_ms);
	ls->cancel_fd = spec->cancel_fd;
	ls->sock = local_sock_path(lp, sb->id);
	lfd = listen_unix(ls->sock, err);
	if (lfd < 0 || local_make_cgroup(lp, ls, sb->id, &spec->limits, err) < 0 ||
	    spawn(lp, ls, spec, lfd, chan, cache, err) < 0) {
		local_sb_teardown(ls, NULL);
		local_sb_free(sb);
		return -1;
	}
	sb->endpoint = kcr_strdup_printf("unix:%s", ls->sock);
	sb->setup_ns = kcr_now_ns() - t0;
	*out = sb;
	return 0;
}

static int
local_create(void *self, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
	     struct kcr_sandbox **out, kcr_error_t *err)
{
	struct local *lp = self;
	kcr_error_t e = NULL;

	/* a pool's warm Python, or any Python once a host is up */
	if (local_wants_cell(lp, spec)) {
		if (local_cell_create(lp, spec, deadline_ms, out, &e) == 0)
			return 0;
		if (spec->prewarm)
			kcr_log_warn("warm cell: %s; making a sandbox instead", e->msg);
		kcr_error_release(&e);
	}
	return local_create_sandbox(lp, spec, -1, deadline_ms, out, err);
}

/* Why the runner stopped answering, if it is gone. */
static int
explain_lost(struct local_sb *ls, uint64_t oom0, kcr_error_t *err)
{
	int st;

	if (ls->cg && kcr_cgroup_oom_kills(ls->cg) > oom0)
		kcr_error_wrap(err, "sandbox out of memory (limit %u MiB)", ls->memory_mb);
	if (ls->pid > 0 && waitpid(ls->pid, &st, WNOHANG) == ls->pid) {
		kcr_error_t e = NULL;

		exit_error(ls, st, "", &e);
		kcr_error_wrap(err, "%s", e->msg);
		kcr_error_release(&e);
	}
	return -1;
}

static int
local_exec(void *self, struct kcr_sandbox *sb, const struct kcr_exec_request *req,
	   struct kcr_exec_result *res, kcr_error_t *err)
{
	struct local_sb *ls = sb->priv;
	uint64_t oom0 = kcr_cgroup_oom_kills(ls->cg);
	uint64_t pids0 = kcr_cgroup_pids_hit(ls->cg);

	if (kcr_runner_execute(sb->endpoint, req, res, err) < 0)
		return explain_lost(ls, oom0, err);
	if (res->exit_code == 0 && res->signal == 0)
		return 0;
	if (kcr_cgroup_oom_kills(ls->cg) > oom0) {
		res->oom_killed = true;
		if (ls->memory_mb)
			kcr_exec_result_append_err(res, "kcr: killed: out of memory (limit %u MiB)",
						   ls->memory_mb);
		else
			kcr_exec_result_append_err(res, "kcr: killed: out of memory");
	} else if (kcr_cgroup_pids_hit(ls->cg) > pids0) {
		kcr_exec_result_append_err(res, "kcr: process limit reached (%u)", ls->pids);
	}
	return 0;
}

static int
local_put_file(void *self, struct kcr_sandbox *sb, const char *name, const void *buf, size_t len,
	       kcr_error_t *err)
{
	return kcr_runner_put_file(sb->endpoint, name, buf, len, err);
}

static int
local_get_file(void *self, struct kcr_sandbox *sb, const char *name, uint64_t max, int out,
	       uint64_t *len, kcr_error_t *err)
{
	return kcr_runner_get_file(sb->endpoint, name, max, out, len, err);
}

static int
local_check(void *self, struct kcr_sandbox *sb, kcr_error_t *err)
{
	(void)self;
	return kcr_runner_health(sb->endpoint, err);
}

/* One kcr process is the only replica that sees its sandboxes: a conflict
 * means the same sandbox was handed out twice. */
static int
local_claim(void *self, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct local_sb *ls = sb->priv;
	bool was = false;

	(void)self;
	if (!atomic_compare_exchange_strong(&ls->claimed, &was, true))
		return kcr_error_set(err, KCR_E_CONFLICT, 0, "sandbox %s is claimed already",
				     sb->id);
	/* a runner killed since the last health check: the request would
	 * get a refused connection, where the next ready one serves it */
	if (ls->host ? local_host_gone(ls->host) : ls->pid > 0 && kcr_child_exited(ls->pid))
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "sandbox %s is gone: %s exited",
				     sb->id, ls->host ? "its cells host" : "its runner");
	return 0;
}

static int
local_release(void *self, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct local_sb *ls = sb->priv;
	bool was = true;

	(void)self;
	if (!atomic_compare_exchange_strong(&ls->claimed, &was, false))
		return kcr_error_set(err, KCR_E_INVALID, 0, "sandbox %s is not claimed", sb->id);
	return 0;
}

static int
local_destroy(void *self, struct kcr_sandbox *sb, kcr_error_t *err)
{
	int ret;

	if (sb == NULL)
		return 0;
	if (sb->priv && ((struct local_sb *)sb->priv)->host)
		return local_cell_destroy(self, sb, err);
	ret = sb->priv ? local_sb_teardown(sb->priv, err) : 0;
	local_sb_free(sb);
	return ret;
}

const struct kcr_sandbox_ops kcr_sandbox_local_ops = {
	.name = "local",
	.open = local_open,
	.available = local_available,
	.health = local_health,
	.prepare_many = local_prepare_many,
	.create = local_create,
	.check = local_check,
	.claim = local_claim,
	.release = local_release,
	.exec = local_exec,
	.put_file = local_put_file,
	.get_file = local_get_file,
	.list = local_list,
	.adopt = local_adopt,
	.destroy = local_destroy,
	.close = local_close,
};

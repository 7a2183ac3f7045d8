#include <config.h>

#include "base/json.h"
#include "base/clock.h"
#include "base/files.h"
#include "runner/proc.h"
#include "runner/pyboot.h"
#include "runner/pystate_hook.h"
#include "runner/sandbox_init.h"
#include "runner/seccomp.h"
#include "base/util.h"

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

#define GRACE_MS 500         /* draining the pipes after the tree was killed */
#define REAP_MS 2000         /* waiting for a killed tree to go away */
#define TICK_MS 50           /* exit polling without a pidfd */
#define MAX_SNAPSHOT 100000  /* top-level entries looked at in data_dir */
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_OUTPUT_BYTES (1u << 20)
#define DEFAULT_MAX_FILES 64

struct proc_ctx {
	const struct kcr_limits *limits;
	char **envp;
	uint64_t deadline_ms; /* compile + run */
	pid_t runner;         /* getpid() of the runner */
	bool is_init;         /* the runner is pid 1 of a sandbox */
	bool switch_id;       /* the runner is uid 0: run as KCR_SANDBOX_UID */
	bool own_pidns;       /* the program is pid 1 of its own pid namespace */
};

struct step_res {
	struct kcr_buf out, err;
	uint64_t out_over, err_over; /* bytes discarded past the cap */
	int status;
	bool timed_out;
	bool reaped; /* false: a cell said how it ended; its zombie is left */
};

/* Parent ends: fd[0] writes stdin, fd[1] and fd[2] read stdout and
 * stderr; child[] are the ends the child gets as 0, 1 and 2. */
struct io {
	int fd[3], child[3];
	int pidfd;
	int done_fd;     /* a cell: "X<status>\n" when its program is done */
	bool said_done;
	int done_status;
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
	int64_t mtime_ns, ctime_ns;
	ino_t ino;
};

struct snapshot {
	struct snap_ent *v;
	size_t n;
};

/* ---- the child, between fork and execve ---- */

static void __attribute__((noreturn, format(printf, 4, 5)))
child_fail(int fd, bool at_exec, int errnum, const char *fmt, ...)
{
	struct child_report r = { .errnum = errnum, .at_exec = at_exec };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r.msg, sizeof(r.msg), fmt, ap);
	va_end(ap);
	if (write(fd, &r, sizeof(r)) < 0) {
		/* the parent sees a child that died without exec */
	}
	_exit(127);
}

static void
reset_signals(void)
{
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Makes the child ends fds 0, 1 and 2 and closes every other descriptor
 * but the report pipe (the runner's sockets must not leak). */
static int
setup_stdio(const int child[3], int report)
{
	int tmp[3];

	for (int i = 0; i < 3; i++)
		if ((tmp[i] = fcntl(child[i], F_DUPFD, 3)) < 0)
			return -1;
	for (int i = 0; i < 3; i++)
		if (dup2(tmp[i], i) < 0)
			return -1;
	if (report > 3)
		close_range(3, (unsigned int)report - 1, 0);
	close_range((unsigned int)report + 1, ~0U, 0);
	return 0;
}

static int
set_limit(int resource, uint64_t value)
{
	struct rlimit rl = { .rlim_cur = value, .rlim_max = value };

	if (setrlimit(resource, &rl) == 0)
		return 0;
	if (errno != EPERM || getrlimit(resource, &rl) < 0)
		return -1;
	/* not privileged: the hard limit is as far as it goes */
	if (value < rl.rlim_max)
		rl.rlim_max = value;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(resource, &rl) == 0)
		return 0;
	/* the hard limit cannot change at all (valgrind's NOFILE) */
	if (getrlimit(resource, &rl) < 0)
		return -1;
	rl.rlim_cur = value < rl.rlim_max ? value : rl.rlim_max;
	return setrlimit(resource, &rl);
}

static int
set_rlimits(const struct proc_ctx *pc, const char **what)
{
	const struct kcr_limits *l = pc->limits;

	*what = "RLIMIT_CORE";
	if (set_limit(RLIMIT_CORE, 0) < 0)
		return -1;
	*what = "RLIMIT_NOFILE";
	if (l->nofile && set_limit(RLIMIT_NOFILE, l->nofile) < 0)
		return -1;
	*what = "RLIMIT_FSIZE";
	if (l->file_size && set_limit(RLIMIT_FSIZE, l->file_size) < 0)
		return -1;
	/* inside a sandbox the pids cgroup does this, and RLIMIT_NPROC
	 * would count the processes of every sandbox sharing the kuid */
	*what = "RLIMIT_NPROC";
	if (l->pids && !pc->is_init && set_limit(RLIMIT_NPROC, l->pids) < 0)
		return -1;
	return 0;
}

/* The sandbox uid is not mapped (unprivileged user namespace): stay uid 0
 * of the namespace but without any capability, now or after execve. */
static int
drop_caps(const char **what)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	*what = "dropping capabilities";
	for (int cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(data, 0, sizeof(data));
	return (int)syscall(SYS_capset, &hdr, data);
}

/* When the sandbox's memory runs out, the kernel should kill the program,
 * not the runner that reports what happened. Raising the score needs no
 * privilege; a failure only loses that preference. */
static void
prefer_for_oom_kill(void)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, "1000", 4) < 0) {
		/* keep the default score */
	}
	close(fd);
}

static int
set_identity(const struct proc_ctx *pc, const char **what)
{
	if (!pc->switch_id)
		return 0;
	*what = "setgroups";
	/* EPERM: setgroups is denied in this user namespace */
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		return -1;
	*what = "setresgid";
	if (setresgid(KCR_SANDBOX_GID, KCR_SANDBOX_GID, KCR_SANDBOX_GID) < 0)
		return errno == EINVAL ? drop_caps(what) : -1;
	*what = "setresuid";
	if (setresuid(KCR_SANDBOX_UID, KCR_SANDBOX_UID, KCR_SANDBOX_UID) < 0)
		return errno == EINVAL ? drop_caps(what) : -1;
	return 0;
}

static void __attribute__((noreturn))
child_main(const struct proc_ctx *pc, char **argv, const char *cwd, const int child[3],
	   int report)
{
	kcr_error_t err = NULL;
	const char *what = "";

	if ((report = fcntl(report, F_DUPFD_CLOEXEC, 3)) < 0)
		_exit(127);
	reset_signals();
	if (setup_stdio(child, report) < 0)
		child_fail(report, false, errno, "redirecting stdio");
	if (setsid() < 0)
		child_fail(report, false, errno, "setsid");
	if (chdir(cwd) < 0)
		child_fail(report, false, errno, "changing to %s", cwd);
	prefer_for_oom_kill();
	if (set_rlimits(pc, &what) < 0 || set_identity(pc, &what) < 0)
		child_fail(report, false, errno, "%s", what);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(report, false, errno, "PR_SET_NO_NEW_PRIVS");
	/* after the uid change, which clears the parent-death signal */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail(report, false, errno, "PR_SET_PDEATHSIG");
	if (getppid() != pc->runner)
		_exit(127);
	if (kcr_seccomp_load(&err) < 0)
		child_fail(report, false, 0, "%s", err->msg); /* has strerror */
	execve(argv[0], argv, pc->envp);
	child_fail(report, true, errno, "execve");
}

/* ---- the parent: starting, killing, reaping ---- */

/* Returns the child's pid once it has exec'd, or -1 with the reason the
 * child gave. */
static pid_t
spawn(const struct proc_ctx *pc, char **argv, const char *cwd, const struct io *io,
      kcr_error_t *err)
{
	struct child_report rep;
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "pipe");
	pid = fork();
	if (pid == 0)
		child_main(pc, argv, cwd, io->child, p[1]);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return kcr_error_set(err, KCR_E_IO, errno, "fork");
	}
	do
		n = read(p[0], &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == 0)
		return pid;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(rep))
		return kcr_error_set(err, KCR_E_INTERNAL, 0, "starting %s: child died", argv[0]);
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	if (rep.at_exec)
		return kcr_error_set(err, rep.errnum == ENOENT ? KCR_E_UNAVAILABLE : KCR_E_INTERNAL,
				     rep.errnum, "cannot execute %s", argv[0]);
	return kcr_error_set(err, KCR_E_INTERNAL, rep.errnum, "starting %s: %s", argv[0], rep.msg);
}

/* Every child the runner has (orphans of the tree were re-parented to it). */
static void
kill_children(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		kcr_autofree char *path = NULL, *list = NULL;
		size_t len;

		if (e->d_name[0] == '.')
			continue;
		path = kcr_strdup_printf("/proc/self/task/%s/children", e->d_name);
		if (kcr_read_file(path, 1 << 20, &list, &len, NULL) < 0)
			continue;
		for (char *p = list, *end; *p; p = end) {
			long pid = strtol(p, &end, 10);

			if (end == p)
				break;
			if (pid > 1)
				kill((pid_t)pid, SIGKILL);
		}
	}
	closedir(d);
}

static void
kill_tree(const struct proc_ctx *pc, pid_t pgid)
{
	if (pc->own_pidns) {
		/* the kernel kills the rest of its namespace */
		kill(pgid, SIGKILL);
		return;
	}
	if (pc->is_init) {
		/* every process of the sandbox's pid namespace but us */
		kill(-1, SIGKILL);
		return;
	}
	kill(-pgid, SIGKILL);
	kill_children();
}

static void
reap_tree(const struct proc_ctx *pc, pid_t pgid)
{
	const struct timespec pause = { .tv_nsec = 2 * 1000 * 1000 };
	uint64_t until = kcr_now_ms() + REAP_MS;

	/* supervise() reaped it; nothing else in its namespace is ours, and
	 * waiting for anyone else would take other cells' statuses */
	if (pc->own_pidns)
		return;
	for (;;) {
		pid_t r = waitpid(-1, NULL, WNOHANG | __WALL);

		if (r > 0 || (r < 0 && errno == EINTR))
			continue;
		if (r < 0 || kcr_now_ms() >= until)
			return;
		kill_tree(pc, pgid);
		nanosleep(&pause, NULL);
	}
}

/* ---- the parent: pipes ---- */

static void
io_close(struct io *io)
{
	for (int i = 0; i < 3; i++) {
		kcr_closep(&io->fd[i]);
		kcr_closep(&io->child[i]);
	}
	kcr_closep(&io->pidfd);
	kcr_closep(&io->done_fd);
}

static int
io_pipe(int *parent, int *child, bool parent_writes)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	*parent = parent_writes ? p[1] : p[0];
	*child = parent_writes ? p[0] : p[1];
	return fcntl(*parent, F_SETFL, O_NONBLOCK);
}

static int
io_open(struct io *io, const char *in, size_t in_len, kcr_error_t *err)
{
	memset(io, 0, sizeof(*io));
	for (int i = 0; i < 3; i++)
		io->fd[i] = io->child[i] = -1;
	io->pidfd = -1;
	io->done_fd = -1;
	io->in = in;
	io->in_left = in ? in_len : 0;
	if (in != NULL ? io_pipe(&io->fd[0], &io->child[0], true) < 0
		       : (io->child[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		goto fail;
	if (io_pipe(&io->fd[1], &io->child[1], false) < 0 ||
	    io_pipe(&io->fd[2], &io->child[2], false) < 0)
		goto fail;
	return 0;
fail:
	kcr_error_set(err, KCR_E_IO, errno, "creating the program's pipes");
	io_close(io);
	return -1;
}

static void
io_write_stdin(struct io *io)
{
	size_t n = io->in_left < 65536 ? io->in_left : 65536;
	ssize_t w = n ? write(io->fd[0], io->in, n) : 0;

	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (w > 0) {
		io->in += w;
		io->in_left -= (size_t)w;
	}
	/* all written, or the program closed its stdin (EPIPE) */
	if (w <= 0 || io->in_left == 0)
		kcr_closep(&io->fd[0]);
}

static void
io_read(int *fd, struct kcr_buf *b, uint64_t *over, uint64_t cap)
{
	char tmp[65536];

	for (int i = 0; i < 16; i++) {
		ssize_t r = read(*fd, tmp, sizeof(tmp));
		size_t keep;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			kcr_closep(fd);
			return;
		}
		keep = b->len >= cap ? 0 : (size_t)r < cap - b->len ? (size_t)r : cap - b->len;
		kcr_buf_add(b, tmp, keep);
		*over += (uint64_t)r - keep;
	}
}

/* A cell's word that its program is done, with the status: its output is
 * complete then (it closed stdout and stderr first), and the runner need
 * not wait for the kernel to tear the process down. Anything else, or
 * nothing, leaves it to the pidfd. */
static void
io_read_done(struct io *io)
{
	char buf[16];
	ssize_t n = read(io->done_fd, buf, sizeof(buf) - 1);
	char *end;
	long v;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	kcr_closep(&io->done_fd);
	if (n < 3 || buf[0] != 'X')
		return;
	buf[n] = '\0';
	v = strtol(buf + 1, &end, 10);
	if (*end == '\n' && v >= 0 && v <= 255) {
		io->said_done = true;
		io->done_status = (int)v;
	}
}

/* One poll() round over the pipes (and the pidfd while the program runs). */
static void
io_poll(struct io *io, struct step_res *sr, uint64_t cap, uint64_t until, bool exited)
{
	struct pollfd p[5];
	int idx[5], n = 0, timeout;
	uint64_t now = kcr_now_ms();

	for (int i = 0; i < 3; i++) {
		if (io->fd[i] < 0)
			continue;
		p[n] = (struct pollfd){ .fd = io->fd[i], .events = i ? POLLIN : POLLOUT };
		idx[n++] = i;
	}
	if (!exited && io->pidfd >= 0) {
		p[n] = (struct pollfd){ .fd = io->pidfd, .events = POLLIN };
		idx[n++] = 3;
	}
	if (!exited && io->done_fd >= 0) {
		p[n] = (struct pollfd){ .fd = io->done_fd, .events = POLLIN };
		idx[n++] = 4;
	}
	timeout = until <= now ? 0 : until - now > INT_MAX ? INT_MAX : (int)(until - now);
	if (!exited && io->pidfd < 0 && timeout > TICK_MS)
		timeout = TICK_MS;
	if (poll(p, (nfds_t)n, timeout) <= 0)
		return;
	for (int k = 0; k < n; k++) {
		if (p[k].revents == 0 || idx[k] == 3)
			continue;
		if (idx[k] == 4)
			io_read_done(io);
		else if (idx[k] == 0)
			io_write_stdin(io);
		else if (idx[k] == 1)
			io_read(&io->fd[1], &sr->out, &sr->out_over, cap);
		else
			io_read(&io->fd[2], &sr->err, &sr->err_over, cap);
	}
}

/* Pumps the pipes until the program exits or the deadline passes, then
 * kills the tree, collects the program's status and drains what is left. */
static void
supervise(const struct proc_ctx *pc, pid_t pid, struct io *io, struct step_res *sr)
{
	uint64_t cap = pc->limits->output_bytes, until = pc->deadline_ms;
	bool exited = false;

	for (;;) {
		uint64_t now = kcr_now_ms();

		if (!exited) {
			bool done = io->said_done || kcr_child_exited(pid);

			if (done || now >= pc->deadline_ms) {
				sr->timed_out = !done;
				kill_tree(pc, pid);
				if (io->said_done && !sr->timed_out) {
					sr->status = W_EXITCODE(io->done_status, 0);
				} else {
					while (waitpid(pid, &sr->status, __WALL) < 0 && errno == EINTR)
						;
					sr->reaped = true;
				}
				kcr_closep(&io->fd[0]);
				exited = true;
				until = now + GRACE_MS;
			}
		}
		if (exited && ((io->fd[1] < 0 && io->fd[2] < 0) || now >= until))
			return;
		io_poll(io, sr, cap, until, exited);
	}
}

static void
sigpipe_block(sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &s, old);
}

/* Discards a SIGPIPE a write to a closed stdin raised, then unblocks it. */
static void
sigpipe_restore(const sigset_t *old)
{
	const struct timespec zero = { 0, 0 };
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	if (!sigismember(old, SIGPIPE))
		while (sigtimedwait(&s, NULL, &zero) > 0)
			;
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static int
run_step(const struct proc_ctx *pc, char **argv, const char *cwd, const char *in,
	 size_t in_len, struct step_res *sr, kcr_error_t *err)
{
	struct io io;
	sigset_t old;
	pid_t pid;

	memset(sr, 0, sizeof(*sr));
	if (io_open(&io, in, in_len, err) < 0)
		return -1;
	sigpipe_block(&old);
	pid = spawn(pc, argv, cwd, &io, err);
	for (int i = 0; i < 3; i++)
		kcr_closep(&io.child[i]);
	if (pid > 0) {
#ifdef SYS_pidfd_open
		io.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
		supervise(pc, pid, &io, sr);
		reap_tree(pc, pid);
	}
	io_close(&io);
	sigpipe_restore(&old);
	return pid > 0 ? 0 : -1;
}

static void
step_res_release(struct step_res *sr)
{
	kcr_buf_release(&sr->out);
	kcr_buf_release(&sr->err);
}

/* ---- results ---- */

/* On stderr for both streams: stdout must stay the program's own bytes. */
static void
note_truncated(struct kcr_exec_res *res, const char *stream, uint64_t over, uint64_t limit)
{
	kcr_exec_res_append_err(res, "[kcr: %s truncated: %" PRIu64 " bytes over the %" PRIu64
				"-byte limit]", stream, over, limit);
}

static void
set_result(struct kcr_exec_res *res, struct step_res *sr, const struct kcr_limits *l)
{
	res->out = kcr_buf_steal(&sr->out, &res->out_len);
	res->err = kcr_buf_steal(&sr->err, &res->err_len);
	res->out_truncated = sr->out_over > 0;
	res->err_truncated = sr->err_over > 0;
	if (sr->timed_out) {
		res->timed_out = true;
		res->exit_code = 124;
	} else if (WIFSIGNALED(sr->status)) {
		res->signal = WTERMSIG(sr->status);
		res->exit_code = 128 + res->signal;
	} else {
		res->exit_code = WEXITSTATUS(sr->status);
	}
	if (sr->out_over)
		note_truncated(res, "stdout", sr->out_over, l->output_bytes);
	if (sr->err_over)
		note_truncated(res, "stderr", sr->err_over, l->output_bytes);
	if (sr->timed_out)
		kcr_exec_res_append_err(res, "kcr: timed out after %g s (wall-clock limit)",
					l->timeout_ms / 1000.0);
}

static int
snap_cmp(const void *a, const void *b)
{
	return strcmp(((const struct snap_ent *)a)->name, ((const struct snap_ent *)b)->name);
}

static void
snapshot_release(struct snapshot *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void
snapshot_add(struct snapshot *s, const char *name, const struct stat *st)
{
	if ((s->n & (s->n - 1)) == 0) /* 0, 1, 2, 4...: grow to twice */
		s->v = kcr_xrealloc(s->v, (s->n ? 2 * s->n : 1) * sizeof(*s->v));
	s->v[s->n++] = (struct snap_ent){
		.name = kcr_xstrdup(name),
		.size = (uint64_t)st->st_size,
		.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
		.ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec,
		.ino = st->st_ino,
	};
}

/* The top-level regular files of dir, sorted by name; names starting with
 * '.', directories and symlinks are left out. */
static int
snapshot_take(const char *dir, struct snapshot *s, kcr_error_t *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;

	if (d == NULL) {
		kcr_error_set(err, KCR_E_IO, errno, "opening %s", dir);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((e = readdir(d)) != NULL && s->n < MAX_SNAPSHOT) {
		struct stat st;

		if (e->d_name[0] == '.' ||
		    fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		snapshot_add(s, e->d_name, &st);
	}
	closedir(d);
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), snap_cmp);
	return 0;
}

static void
changed_files(const struct snapshot *before, const struct snapshot *after, size_t max,
	      struct kcr_exec_res *res)
{
	res->changed = kcr_xzalloc((after->n < max ? after->n : max) * sizeof(*res->changed));
	for (size_t i = 0; i < after->n && res->n_changed < max; i++) {
		const struct snap_ent *a = &after->v[i], *b;

		b = before->n ? bsearch(a, before->v, before->n, sizeof(*a), snap_cmp) : NULL;
		if (b && b->size == a->size && b->mtime_ns == a->mtime_ns &&
		    b->ctime_ns == a->ctime_ns && b->ino == a->ino)
			continue;
		res->changed[res->n_changed++] = (struct kcr_file_info){
			.name = kcr_xstrdup(a->name), .size = a->size, .mtime_ns = a->mtime_ns
		};
	}
}

/* ---- setting up ---- */

/* The language's argv template with src_dir for KCR_SRC_DIR, plus args. */
static char **
expand(const char *const *tmpl, const struct kcr_lang *l, const char *src_dir,
       char *const *args)
{
	char **v = kcr_lang_expand_in(tmpl, l, src_dir);

	for (size_t i = 0; args && args[i]; i++)
		kcr_strv_push(&v, args[i]);
	return v;
}

static char **
clean_env(const struct kcr_lang *l)
{
	static const char *const base[] = {
		"PATH=" KCR_SANDBOX_PATH, "HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8",
		"USER=sandbox", "LOGNAME=sandbox",
	};
	char **env = kcr_xzalloc(sizeof(char *));

	for (size_t i = 0; i < KCR_ARRAY_SIZE(base); i++)
		kcr_strv_push(&env, base[i]);
	for (const char *const *e = l->env; e && *e; e++)
		kcr_strv_push(&env, *e);
	return env;
}

/* Hands a path to the program's uid. EINVAL: that uid is not mapped in
 * this user namespace, and the program will run as uid 0 without caps. */
static int
give_to_program(const struct proc_ctx *pc, int fd, const char *what, kcr_error_t *err)
{
	if (!pc->switch_id || fchown(fd, KCR_SANDBOX_UID, KCR_SANDBOX_GID) == 0 ||
	    errno == EINVAL)
		return 0;
	return kcr_error_set(err, KCR_E_IO, errno, "chown %s", what);
}

/* Writes dir/name (0600, the program's). */
static int
write_owned(const struct proc_ctx *pc, int dfd, const char *dir, const char *name,
	    const void *data, size_t len, kcr_error_t *err)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", dir, name);
	kcr_autoclose int fd = openat(dfd, name,
				      O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0 || kcr_write_all(fd, data, len) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "writing %s", path);
	return give_to_program(pc, fd, path, err);
}

/* The Python state's hook in src_dir/pystate, and the state to restore. */
static int
prepare_pystate(const struct proc_ctx *pc, const struct kcr_exec_req *req, int dfd,
		const char *src_dir, kcr_error_t *err)
{
	kcr_autofree char *dir = kcr_strdup_printf("%s/" KCR_PYSTATE_DIR, src_dir);
	kcr_autoclose int hfd = -1;

	if (mkdirat(dfd, KCR_PYSTATE_DIR, 0700) < 0 ||
	    (hfd = openat(dfd, KCR_PYSTATE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "creating %s", dir);
	if (give_to_program(pc, hfd, dir, err) < 0 ||
	    write_owned(pc, hfd, dir, KCR_PYSTATE_HOOK, kcr_pystate_hook,
			strlen(kcr_pystate_hook), err) < 0 ||
	    write_owned(pc, hfd, dir, KCR_PYSTATE_IMPL, kcr_pystate_impl,
			strlen(kcr_pystate_impl), err) < 0)
		return -1;
	if (req->state_in == NULL)
		return 0;
	return write_owned(pc, dfd, src_dir, KCR_PYSTATE_IN, req->state_in, req->state_in_len, err);
}

/* A fresh src_dir (0700, the program's) holding the source file. */
static int
prepare_src(const struct proc_ctx *pc, const struct kcr_exec_req *req, const char *src_dir,
	    kcr_error_t *err)
{
	kcr_autoclose int dfd = -1;

	kcr_rm_rf(src_dir);
	if (mkdir(src_dir, 0700) < 0 && errno != EEXIST)
		return kcr_error_set(err, KCR_E_IO, errno, "creating %s", src_dir);
	dfd = open(src_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "opening %s", src_dir);
	if (give_to_program(pc, dfd, src_dir, err) < 0 ||
	    write_owned(pc, dfd, src_dir, req->lang->source_file, req->code ? req->code : "",
			req->code_len, err) < 0)
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
		return kcr_error_set(err, KCR_E_LIMIT, 0, "%s is %lld bytes, over the limit of %llu",
				     name, (long long)st.st_size, (unsigned long long)max);
	return kcr_read_fd(fd, (size_t)max, out, len, err);
}

/* After a run that exited with 0: the globals the hook pickled, and what
 * it could not save (its notes) at the end of stderr. */
static void
collect_pystate(const struct kcr_exec_req *req, const char *src_dir, struct kcr_exec_res *res)
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
			kcr_exec_res_append_err(res, "%s", line);
		}
	}
	kcr_error_release(&err);
	if (read_src_file(src_dir, KCR_PYSTATE_OUT, limit, &res->state_out, &res->state_out_len,
			  &err) < 0 && err->code != KCR_E_NOTFOUND)
		kcr_exec_res_append_err(res, "kcr: state: not saved: %s", err->msg);
	kcr_error_release(&err);
}

static bool
step_ok(const struct step_res *sr)
{
	return !sr->timed_out && WIFEXITED(sr->status) && WEXITSTATUS(sr->status) == 0;
}

/* Compiles (in src_dir) if the language needs it, then runs (in data_dir).
 * A failed compile is the result: its status and output, nothing run. */
static int
compile_and_run(const struct proc_ctx *pc, const struct kcr_exec_req *req,
		const char *data_dir, const char *src_dir, struct kcr_exec_res *res,
		kcr_error_t *err)
{
	const struct kcr_lang *l = req->lang;
	kcr_autostrv char **argv = NULL;
	struct step_res sr;

	if (l->compile) {
		argv = expand(l->compile, l, src_dir, NULL);
		if (run_step(pc, argv, src_dir, NULL, 0, &sr, err) < 0)
			return kcr_error_wrap(err, "compiling");
		if (!step_ok(&sr)) {
			set_result(res, &sr, pc->limits);
			return 0;
		}
		step_res_release(&sr); /* warnings of a good compile are dropped */
		kcr_strv_free(kcr_steal(&argv));
	}
	argv = expand(l->run, l, src_dir, req->args);
	if (run_step(pc, argv, data_dir, req->stdin_data, req->stdin_len, &sr, err) < 0)
		return -1;
	set_result(res, &sr, pc->limits);
	return 0;
}

static void
normalize_limits(struct kcr_limits *l)
{
	if (l->timeout_ms == 0)
		l->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (l->output_bytes == 0)
		l->output_bytes = DEFAULT_OUTPUT_BYTES;
	if (l->max_output_files == 0)
		l->max_output_files = DEFAULT_MAX_FILES;
}

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

struct kcr_proc_warm {
	bool active;
	bool zombie; /* a cell that said it was done, not reaped yet */
	bool cell; /* adopted: pid 1 of its own pid namespace, set up by a zygote */
	const struct kcr_lang *lang;
	struct kcr_limits limits; /* the child's rlimits came from these */
	struct proc_ctx pc;
	struct io io;
	pid_t pid;
};

/* The runner's own pre-warmed interpreter (kcr_proc_prewarm). */
static struct kcr_proc_warm warm;

static char **
warm_argv(const struct kcr_lang *l)
{
	char **v = NULL;

	if (!l->prewarm)
		return NULL;
	kcr_strv_push(&v, l->run[0]);
	kcr_strv_push(&v, strcmp(l->id, "js") == 0 ? "-e" : "-c");
	kcr_strv_push(&v, strcmp(l->id, "js") == 0 ? js_bootstrap : kcr_pyboot_src);
	return v;
}

static void
warm_discard(struct kcr_proc_warm *w)
{
	if (!w->active)
		return;
	kill_tree(&w->pc, w->pid);
	if (w->cell)
		while (waitpid(w->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	else
		reap_tree(&w->pc, w->pid);
	io_close(&w->io);
	kcr_strv_free(kcr_steal(&w->pc.envp));
	w->active = false;
}

char **
kcr_proc_clean_env(const struct kcr_lang *l)
{
	return clean_env(l);
}

int
kcr_proc_prewarm(const struct kcr_lang *l, const struct kcr_limits *lim, const char *data_dir,
		 const char *preload, kcr_error_t *err)
{
	kcr_autostrv char **argv = warm_argv(l);
	kcr_autofree char *pre = kcr_strdup_printf("KCR_PRELOAD=%s", preload ? preload : "");

	if (argv == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0, "no pre-warmed interpreter for %s",
				     l->id);
	warm_discard(&warm);
	warm.limits = *lim;
	normalize_limits(&warm.limits);
	warm.pc = (struct proc_ctx){ .limits = &warm.limits, .runner = getpid(),
				     .is_init = getpid() == 1, .switch_id = geteuid() == 0,
				     .envp = clean_env(l) };
	kcr_strv_push(&warm.pc.envp, pre);
	if (io_open(&warm.io, "", 0, err) < 0)
		goto fail;
	warm.pid = spawn(&warm.pc, argv, data_dir, &warm.io, err);
	for (int i = 0; i < 3; i++)
		kcr_closep(&warm.io.child[i]);
	if (warm.pid <= 0)
		goto fail;
#ifdef SYS_pidfd_open
	warm.io.pidfd = (int)syscall(SYS_pidfd_open, warm.pid, 0);
#endif
	warm.lang = l;
	warm.active = true;
	return 0;
fail:
	io_close(&warm.io);
	kcr_strv_free(kcr_steal(&warm.pc.envp));
	return -1;
}

struct kcr_proc_warm *
kcr_proc_warm_adopt(const struct kcr_lang *l, const struct kcr_limits *lim, pid_t pid,
		    const int fds[4])
{
	struct kcr_proc_warm *w = kcr_xzalloc(sizeof(*w));

	w->limits = *lim;
	normalize_limits(&w->limits);
	w->pc = (struct proc_ctx){ .limits = &w->limits, .runner = getpid(),
				   .switch_id = geteuid() == 0, .own_pidns = true };
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
	warm_discard(w);
	if (w->zombie)
		while (waitpid(w->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	free(w);
}

/* Whether req can run in the waiting interpreter: same language, and the
 * limits the child was set up with are the ones asked for. */
static bool
warm_fits(struct kcr_proc_warm *w, const struct kcr_exec_req *req)
{
	const struct kcr_limits *l = &w->limits, *q = &req->limits;

	return w->active && w->lang == req->lang && !kcr_child_exited(w->pid) &&
	       l->nofile == q->nofile && l->file_size == q->file_size && l->pids == q->pids;
}

/* The message the interpreter waits for, then the program's stdin.
 * src_dir: where the interpreter sees the source. */
static char *
warm_message(const struct kcr_exec_req *req, const char *src_dir, size_t *len)
{
	cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "argv");
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", src_dir, req->lang->source_file);
	kcr_autofree char *json = NULL;
	struct kcr_buf b;

	cJSON_AddItemToArray(a, cJSON_CreateString(path));
	for (size_t i = 0; req->args && req->args[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(req->args[i]));
	if (kcr_pystate_wanted(req)) {
		kcr_autofree char *hook = kcr_strdup_printf("%s/" KCR_PYSTATE_DIR "/" KCR_PYSTATE_HOOK,
							    src_dir);
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

static int
run_warm(struct kcr_proc_warm *w, struct proc_ctx *pc, const struct kcr_exec_req *req,
	 const char *src_dir, struct kcr_exec_res *res)
{
	size_t len;
	kcr_autofree char *msg = warm_message(req, src_dir, &len);
	struct step_res sr = { 0 };
	sigset_t old;

	w->pc.limits = pc->limits; /* this request's output cap and deadline */
	w->pc.deadline_ms = pc->deadline_ms;
	w->io.in = msg;
	w->io.in_left = len;
	sigpipe_block(&old);
	supervise(&w->pc, w->pid, &w->io, &sr);
	reap_tree(&w->pc, w->pid);
	sigpipe_restore(&old);
	io_close(&w->io);
	kcr_strv_free(kcr_steal(&w->pc.envp));
	w->active = false;
	w->zombie = !sr.reaped;
	w->pc.limits = &w->limits;
	set_result(res, &sr, pc->limits);
	return 0;
}

/* inner_src: src_dir as the program sees it (a cell's /tmp is mounted
 * elsewhere in the runner). cell: w is an adopted cell, which is the only
 * place the program may run. */
static int
run_with(struct kcr_proc_warm *w, const struct kcr_exec_req *req, const char *data_dir,
	 const char *src_dir, const char *inner_src, struct kcr_exec_res *res, kcr_error_t *err)
{
	struct snapshot before = { 0 }, after = { 0 };
	struct kcr_limits lim = req->limits;
	struct proc_ctx pc = { .limits = &lim, .runner = getpid() };
	uint64_t start;
	bool fits = warm_fits(w, req);
	int r = -1;

	memset(res, 0, sizeof(*res));
	normalize_limits(&lim);
	pc.is_init = pc.runner == 1 && !w->cell;
	pc.switch_id = geteuid() == 0;
	pc.envp = clean_env(req->lang);
	if (kcr_pystate_wanted(req))
		kcr_pystate_env(&pc.envp, src_dir, kcr_pystate_limit(req));
	if (w->cell && !fits) {
		kcr_error_set(err, KCR_E_CONFLICT, 0,
			      w->active && !kcr_child_exited(w->pid)
				      ? "this cell was made for another language or other limits"
				      : "this cell is gone");
		goto out;
	}
	if (snapshot_take(data_dir, &before, err) < 0 || prepare_src(&pc, req, src_dir, err) < 0)
		goto out;
	start = kcr_now_ms();
	pc.deadline_ms = start + lim.timeout_ms;
	/* decided once: a cell that dies meanwhile reports its end, its
	 * program never runs here in the runner */
	if (fits) {
		r = run_warm(w, &pc, req, inner_src, res);
	} else {
		warm_discard(w);
		r = compile_and_run(&pc, req, data_dir, src_dir, res, err);
	}
	if (r < 0)
		goto out;
	r = -1;
	res->duration_ms = kcr_now_ms() - start;
	collect_pystate(req, src_dir, res);
	if (snapshot_take(data_dir, &after, err) < 0)
		goto out;
	changed_files(&before, &after, lim.max_output_files, res);
	r = 0;
out:
	if (r < 0)
		kcr_exec_res_release(res);
	snapshot_release(&before);
	snapshot_release(&after);
	kcr_strv_free(pc.envp);
	return r;
}

int
kcr_proc_run(const struct kcr_exec_req *req, const char *data_dir, const char *src_dir,
	     struct kcr_exec_res *res, kcr_error_t *err)
{
	return run_with(&warm, req, data_dir, src_dir, src_dir, res, err);
}

int
kcr_proc_run_cell(struct kcr_proc_warm *w, const struct kcr_exec_req *req,
		  const char *data_dir, const char *src_dir, const char *inner_src,
		  struct kcr_exec_res *res, kcr_error_t *err)
{
	return run_with(w, req, data_dir, src_dir, inner_src, res, err);
}

/* The parent side of one step: starting the child, pumping its pipes
 * with caps, enforcing the deadline, killing and reaping the whole tree. */
#include <config.h>

#include "base/clock.h"
#include "base/files.h"
#include "runner/proc-internal.h"
#include "runner/seccomp.h"

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

/* ---- the parent: starting, killing, reaping ---- */

/* vfork, as posix_spawn does: the child borrows this thread's memory
 * until it execs, so no page table of the threaded runner is copied and
 * no page is copied on write (fork and the child's first writes cost
 * ~2 ms of every execution). The child gets every signal blocked, so no
 * handler of ours runs on our memory in it; it resets them and unblocks. */
static pid_t
spawn_child(const struct proc_ctx *pc, char **argv, const char *cwd, const int child[3], int report)
{
	sigset_t all, old;
	pid_t pid;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = vfork();
	if (pid == 0)
		proc_child_main(pc, argv, cwd, child, report);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pid;
}

/* Returns the child's pid once it has exec'd, or -1 with the reason the
 * child gave. */
pid_t
proc_spawn(const struct proc_ctx *pc, char **argv, const char *cwd, const struct io *io,
      kcr_error_t *err)
{
	struct child_report rep;
	int p[2], status;
	ssize_t n;
	pid_t pid;

	/* compiled here, once per process: the child only installs it */
	if (kcr_seccomp_prepare(err) < 0)
		return -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "pipe");
	pid = spawn_child(pc, argv, cwd, io->child, p[1]);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return kcr_error_set(err, KCR_E_IO, errno, "vfork");
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

void
proc_kill_tree(const struct proc_ctx *pc, pid_t pgid)
{
	if (pc->own_pidns) {
		/* the kernel kills the rest of its namespace */
		kill(pgid, SIGKILL);
		return;
	}
	if (pc->spare_warm) {
		/* what else the step left runs until the program's end, which
		 * kills the whole sandbox's processes (below) */
		kill(-pgid, SIGKILL);
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

void
proc_reap_tree(const struct proc_ctx *pc, pid_t pgid)
{
	const struct timespec pause = { .tv_nsec = 2 * 1000 * 1000 };
	uint64_t until = kcr_now_ms() + REAP_MS;

	/* proc_supervise() reaped it; nothing else in its namespace is ours, and
	 * waiting for anyone else would take other cells' statuses (or a warm
	 * interpreter's, waiting for the program) */
	if (pc->own_pidns || pc->spare_warm)
		return;
	for (;;) {
		pid_t r = waitpid(-1, NULL, WNOHANG | __WALL);

		if (r > 0 || (r < 0 && errno == EINTR))
			continue;
		if (r < 0 || kcr_now_ms() >= until)
			return;
		proc_kill_tree(pc, pgid);
		nanosleep(&pause, NULL);
	}
}

/* ---- the parent: pipes ---- */

void
proc_io_close(struct io *io)
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

int
proc_io_open(struct io *io, const char *in, size_t in_len, kcr_error_t *err)
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
	proc_io_close(io);
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

/* A cell's word that its program is done ("X<status>"), read and
 * dropped: the program runs in that very process and can write the same
 * bytes to the same pipe, so the status the runner reports is always the
 * kernel's (waitpid, once the pidfd says it exited), never this one. */
static void
io_read_done(struct io *io)
{
	char buf[16];
	ssize_t n = read(io->done_fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		kcr_closep(&io->done_fd);
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

static uint64_t
tv_us(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000u + (uint64_t)tv->tv_usec;
}

/* Pumps the pipes until the program exits or the deadline passes, then
 * kills the tree, collects the program's status and drains what is left. */
void
proc_supervise(const struct proc_ctx *pc, pid_t pid, struct io *io, struct step_res *sr)
{
	uint64_t cap = pc->limits->output_bytes, until = pc->deadline_ms;
	bool exited = false;

	for (;;) {
		uint64_t now = kcr_now_ms();

		if (!exited) {
			bool done = kcr_child_exited(pid);

			if (done || now >= pc->deadline_ms) {
				sr->timed_out = !done;
				/* a program that ended is a zombie: the kill leaves its
				 * status as it was */
				proc_kill_tree(pc, pid);
				struct rusage ru = { 0 };

				while (wait4(pid, &sr->status, __WALL, &ru) < 0 && errno == EINTR)
					;
				sr->cpu_us = tv_us(&ru.ru_utime) + tv_us(&ru.ru_stime);
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

void
proc_sigpipe_block(sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &s, old);
}

/* Discards a SIGPIPE a write to a closed stdin raised, then unblocks it. */
void
proc_sigpipe_restore(const sigset_t *old)
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

int
proc_run_step(const struct proc_ctx *pc, char **argv, const char *cwd, const char *in,
	 size_t in_len, struct step_res *sr, kcr_error_t *err)
{
	struct io io;
	sigset_t old;
	pid_t pid;

	memset(sr, 0, sizeof(*sr));
	if (proc_io_open(&io, in, in_len, err) < 0)
		return -1;
	proc_sigpipe_block(&old);
	pid = proc_spawn(pc, argv, cwd, &io, err);
	for (int i = 0; i < 3; i++)
		kcr_closep(&io.child[i]);
	if (pid > 0) {
#ifdef SYS_pidfd_open
		io.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
		proc_supervise(pc, pid, &io, sr);
		proc_reap_tree(pc, pid);
	}
	proc_io_close(&io);
	proc_sigpipe_restore(&old);
	return pid > 0 ? 0 : -1;
}

void
proc_step_res_release(struct step_res *sr)
{
	kcr_buf_release(&sr->out);
	kcr_buf_release(&sr->err);
}

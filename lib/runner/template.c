/* kcr-runner --template: the loop that clones local sandboxes from a
 * started runner (template.h says why and how). The template has one
 * thread and allocates nothing per request, so its children may use
 * glibc freely, as after fork(). */
#include <config.h>

#include "runner/template.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/prctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_GET_TID_ADDRESS
#define PR_GET_TID_ADDRESS 40
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

extern char **environ;

/* A request as received: its descriptors, and argv and envp pointing
 * into req->str. */
struct tpl_job {
	struct kcr_template_req req;
	int fds[KCR_TEMPLATE_FDS_MAX];
	int n_fds;
	char *argv[256], *envp[64];
};

/* ---- the child --------------------------------------------------------------- */

/* "\001<errno> <step>", as kcr's own clone child reports (local.c reads it). */
static void __attribute__((noreturn)) child_fail(int fd, const char *step, int e)
{
	char buf[200];
	int n = snprintf(buf, sizeof(buf), "\001%d %s", e, step);

	if (fd >= 0 && n > 0 && write(fd, buf, (size_t)n) < 0) {
		/* kcr reports the exit status instead */
	}
	_exit(127);
}

static int
role_fd(const struct tpl_job *j, int role)
{
	for (int i = 0; i < j->n_fds; i++)
		if (j->req.fd_at[i] == role)
			return j->fds[i];
	return -1;
}

static void
wait_go(const struct tpl_job *j, int report)
{
	int sync = role_fd(j, KCR_TEMPLATE_SYNC);
	ssize_t n;
	char c;

	do
		n = read(sync, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(1); /* kcr gave up on us */
	for (int i = 0; i < j->n_fds; i++)
		if (j->req.fd_at[i] == KCR_TEMPLATE_JOIN && write(j->fds[i], "0", 1) != 1)
			child_fail(report, "cannot join the sandbox's cgroup", errno);
}

/* Root of the new user namespace for real, as local_clone.c's child_ids. */
static void
take_ids(const struct tpl_job *j, int report)
{
	if (setresgid(0, 0, 0) < 0)
		child_fail(report, "setresgid", errno);
	if (j->req.setgroups && setgroups(0, NULL) < 0)
		child_fail(report, "setgroups", errno);
	if (setresuid(0, 0, 0) < 0)
		child_fail(report, "setresuid", errno);
	if (setpriority(PRIO_PROCESS, 0, j->req.nice) < 0) {
		/* only kcr's threads' share of the CPU is at stake */
	}
	/* after the id change, which clears the parent-death signal */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail(report, "prctl(PR_SET_PDEATHSIG)", errno);
}

static bool
parent_gone(const struct tpl_job *j)
{
	struct pollfd p = { .fd = role_fd(j, KCR_TEMPLATE_SYNC), .events = POLLIN };

	return poll(&p, 1, 0) != 0;
}

static bool
placed_at(const struct tpl_job *j, int fd)
{
	for (int i = 0; i < j->n_fds; i++)
		if (j->req.fd_at[i] == fd)
			return true;
	return false;
}

/* Each placed descriptor at its number (by way of a copy above them all,
 * so that none overwrites another's source), stderr kept unless placed,
 * and nothing else. */
static void
place_fds(const struct tpl_job *j, int report)
{
	int high[KCR_TEMPLATE_FDS_MAX];

	for (int i = 0; i < j->n_fds; i++) {
		high[i] = -1;
		if (j->req.fd_at[i] >= 0 &&
		    (high[i] = fcntl(j->fds[i], F_DUPFD, KCR_TEMPLATE_FD_TOP)) < 0)
			child_fail(report, "fcntl(F_DUPFD)", errno);
	}
	for (int i = 0; i < j->n_fds; i++)
		if (high[i] >= 0 && dup3(high[i], j->req.fd_at[i], 0) < 0)
			child_fail(report, "dup3", errno);
	for (int fd = 0; fd < KCR_TEMPLATE_FD_TOP; fd++)
		if (fd != STDERR_FILENO && !placed_at(j, fd))
			close(fd);
	if (syscall(SYS_close_range, KCR_TEMPLATE_FD_TOP, ~0U, 0) < 0)
		for (int fd = KCR_TEMPLATE_FD_TOP; fd < 65536; fd++)
			close(fd);
}

/* Fields 4 to 51 of /proc/self/stat, by their number in proc(5). */
static bool
read_stat(unsigned long f[52])
{
	char buf[1024], *p, *end;
	int fd, n, i;

	if ((fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || (p = strrchr((buf[n] = '\0', buf), ')')) == NULL || strlen(p) < 4)
		return false;
	for (i = 4, p += 3; i < 52 && *p; i++, p = end) /* ") S " comes before field 4 */
		f[i] = strtoul(p, &end, 10);
	return i == 52;
}

/* What ps and /proc/PID/cmdline show of the child: its own argv, not the
 * template's line. The kernel reads a command line from the mm's
 * arg_start..arg_end; PR_SET_MM_MAP, which needs no privilege, moves
 * them, given every other field as it is. Best effort: else the
 * template's line shows. */
static void
show_argv(const struct tpl_job *j)
{
	struct prctl_mm_map m = { .exe_fd = (uint32_t)-1 };
	unsigned long f[52] = { 0 };
	unsigned int size = 0;
	size_t len = 0;
	char *copy;

	if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &size, 0, 0) < 0 || size != sizeof(m) ||
	    !read_stat(f))
		return;
	m.start_code = f[26], m.end_code = f[27], m.start_stack = f[28];
	m.start_data = f[45], m.end_data = f[46], m.start_brk = f[47];
	m.brk = (uint64_t)(uintptr_t)sbrk(0);
	m.env_start = f[50], m.env_end = f[51];
	for (uint32_t k = 0; k < j->req.argc; k++)
		len += strlen(j->argv[k]) + 1;
	/* anonymous memory: the kernel reads a command line with FOLL_ANON,
	 * and the request is in the runner's .bss, partly a file's page */
	copy = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (copy == MAP_FAILED)
		return;
	memcpy(copy, j->argv[0], len);
	m.arg_start = (uint64_t)(uintptr_t)copy;
	m.arg_end = m.arg_start + len;
	if (prctl(PR_SET_MM, PR_SET_MM_MAP, &m, sizeof(m), 0) < 0)
		munmap(copy, len); /* the template's line it is */
}

static void __attribute__((noreturn))
child_main(struct tpl_job *j, int ctl, int (*run)(int, char **))
{
	int report = -1;

	for (int i = 0; i < j->n_fds; i++)
		if (j->req.fd_at[i] == j->req.report_at)
			report = j->fds[i];
	close(ctl);
	wait_go(j, report);
	take_ids(j, report);
	if (parent_gone(j))
		_exit(1);
	place_fds(j, report);
	show_argv(j);
	environ = j->envp;
	exit(run((int)j->req.argc, j->argv));
}

/* ---- the template's loop ------------------------------------------------------ */

static void
close_fds(struct tpl_job *j)
{
	for (int i = 0; i < j->n_fds; i++)
		close(j->fds[i]);
	j->n_fds = 0;
}

static bool
split_strings(struct tpl_job *j)
{
	const struct kcr_template_req *q = &j->req;
	uint32_t want = q->argc + q->envc, n = 0;
	size_t off = 0;

	if (q->argc == 0 || q->argc >= KCR_ARRAY_SIZE(j->argv) ||
	    q->envc >= KCR_ARRAY_SIZE(j->envp) || q->str_len > sizeof(q->str) ||
	    (q->str_len && q->str[q->str_len - 1] != '\0'))
		return false;
	while (off < q->str_len && n < want) {
		char *s = j->req.str + off;

		if (n < q->argc)
			j->argv[n] = s;
		else
			j->envp[n - q->argc] = s;
		off += strlen(s) + 1;
		n++;
	}
	j->argv[q->argc] = NULL;
	j->envp[q->envc] = NULL;
	return n == want && off == q->str_len;
}

static bool
valid(struct tpl_job *j, ssize_t len)
{
	const struct kcr_template_req *q = &j->req;
	bool report = false;

	if (len < (ssize_t)KCR_TEMPLATE_REQ_HEAD || q->n_fds != (uint32_t)j->n_fds ||
	    (size_t)len != KCR_TEMPLATE_REQ_HEAD + q->str_len)
		return false;
	for (int i = 0; i < j->n_fds; i++) {
		if (q->fd_at[i] >= KCR_TEMPLATE_FD_TOP || q->fd_at[i] < KCR_TEMPLATE_CGROUP)
			return false;
		report |= q->fd_at[i] == q->report_at && q->report_at >= 0;
	}
	return report && role_fd(j, KCR_TEMPLATE_SYNC) >= 0 && split_strings(j);
}

/* One request: 1 with the job, 0 at EOF, -1 if receiving failed (errno),
 * -2 for a broken request (its descriptors closed). */
static ssize_t
recv_job(int ctl, struct tpl_job *j)
{
	char cbuf[CMSG_SPACE(sizeof(int) * KCR_TEMPLATE_FDS_MAX)];
	struct iovec iov = { .iov_base = &j->req, .iov_len = sizeof(j->req) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n;

	j->n_fds = 0;
	do
		n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -1 : 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		for (int i = 0; i < k && j->n_fds < KCR_TEMPLATE_FDS_MAX; i++)
			memcpy(&j->fds[j->n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !valid(j, n)) {
		close_fds(j);
		return -2;
	}
	return 1;
}

/* CLONE_PARENT: the child is kcr's, which waits for it and kills it as
 * any sandbox; clone3 then wants exit_signal 0, and the kernel uses ours,
 * SIGCHLD. CLONE_CHILD_SETTID: glibc's cached tid becomes the child's, as
 * its fork() would do. */
static long
clone_job(struct tpl_job *j, uint64_t tid_addr, bool *in_cg)
{
	int cg = role_fd(j, KCR_TEMPLATE_CGROUP);
	struct clone_args ca = { .flags = j->req.clone_flags | CLONE_PARENT | CLONE_CHILD_SETTID,
				 .child_tid = tid_addr };
	long pid;

	if (cg >= 0) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)cg;
	}
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0 && cg >= 0 && (errno == E2BIG || errno == EINVAL)) {
		ca.flags &= ~CLONE_INTO_CGROUP; /* kcr moves it */
		pid = syscall(SYS_clone3, &ca, sizeof(ca));
		cg = -1;
	}
	*in_cg = pid > 0 && cg >= 0;
	return pid < 0 ? -errno : pid;
}

/* A raw clone3 copies the calling thread only: with another thread (a
 * runtime's), a lock it holds would stay held in every child. */
static bool
one_thread(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n == 1;
}

int
kcr_template_serve(int ctl, int (*run)(int, char **))
{
	static struct tpl_job job; /* one at a time; the child has its copy */
	uint64_t tid_addr = 0;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() == 1 ||
	    prctl(PR_GET_TID_ADDRESS, &tid_addr, 0, 0, 0) < 0 || !one_thread()) {
		fprintf(stderr, "kcr-runner: --template: cannot serve (not kcr's, or not one "
				"thread)\n");
		return 1;
	}
	for (;;) {
		struct kcr_template_reply rep = { 0 };
		ssize_t n = recv_job(ctl, &job);
		bool in_cg = false;

		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return 0;
		if (n == -1)
			return 1;
		if (n == -2) {
			rep.pid = -EBADMSG;
		} else {
			fflush(NULL);
			rep.pid = clone_job(&job, tid_addr, &in_cg);
			if (rep.pid == 0)
				child_main(&job, ctl, run);
			rep.in_cg = in_cg;
			close_fds(&job);
		}
		if (send(ctl, &rep, sizeof(rep), MSG_NOSIGNAL) != (ssize_t)sizeof(rep))
			return 0; /* kcr is gone */
	}
}

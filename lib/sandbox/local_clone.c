/* Cloning a local sandbox: the clone itself (sharing kcr's memory where
 * it can), and the child's code between clone and execve of kcr-runner. */
#include <config.h>

#include "sandbox/local-internal.h"

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

/* ---- the child, between clone and execve ---------------------------------
 * kcr serve is multi-threaded: another thread may have held malloc's or
 * stdio's locks at clone time. So: raw system calls and plain memory only.
 *
 * On x86-64 the child shares kcr's memory (CLONE_VM, like vfork) instead of
 * copying its page tables: a fork of the server holds its mmap lock for
 * the copy, and a burst of sandboxes then stalls every other thread, /health
 * included, for tens of milliseconds. A child sharing memory must not touch
 * errno (it is the cloning thread's), so it makes system calls through
 * csys(), which returns -errno itself. */

/* The child's code must not be instrumented either: a sanitizer's runtime
 * state (fake stacks, the thread's own data) belongs to the cloning thread. */
#define CHILD_CODE __attribute__((no_sanitize("address", "undefined"), noinline))

#if defined(__x86_64__)
#define SANDBOX_CLONE_VM 1
static CHILD_CODE long
csys(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
#define SANDBOX_CLONE_VM 0
static long
csys(long n, long a, long b, long c, long d, long e, long f)
{
	long r = syscall(n, a, b, c, d, e, f); /* a forked child: errno is its own */

	return r < 0 ? -errno : r;
}
#endif
#define CSYS(n, a, b, c, d, e, f) \
	csys((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static CHILD_CODE size_t
child_fmt_ulong(char *p, unsigned long v)
{
	char tmp[24];
	size_t n = 0, i = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		p[i++] = tmp[--n];
	return i;
}

static CHILD_CODE void __attribute__((noreturn))
child_exit(int code)
{
	for (;;)
		CSYS(SYS_exit_group, code, 0, 0, 0, 0, 0);
}

static CHILD_CODE void __attribute__((noreturn))
child_fail(int fd, const char *step, int e)
{
	char buf[160];
	size_t n = 0;

	buf[n++] = '\001';
	n += child_fmt_ulong(buf + n, (unsigned long)e);
	buf[n++] = ' ';
	for (const char *s = step; *s && n < sizeof(buf); s++)
		buf[n++] = *s;
	if (CSYS(SYS_write, fd, buf, n, 0, 0, 0) < 0) {
		/* the parent reports the exit status instead */
	}
	child_exit(127);
}

/* Becomes root of the new user namespace for real (kuid SUBID_BASE), so
 * that execve keeps the namespace's capabilities. */
static CHILD_CODE void
child_ids(const struct child_args *a)
{
	long r;

	if ((r = CSYS(SYS_SETRESGID, 0, 0, 0, 0, 0, 0)) < 0)
		child_fail(a->err_w, "setresgid", (int)-r);
	if (a->setgroups && (r = CSYS(SYS_SETGROUPS, 0, NULL, 0, 0, 0, 0)) < 0)
		child_fail(a->err_w, "setgroups", (int)-r);
	if ((r = CSYS(SYS_SETRESUID, 0, 0, 0, 0, 0, 0)) < 0)
		child_fail(a->err_w, "setresuid", (int)-r);
}

/* True when kcr has gone: its end of the sync pipe was closed. */
static CHILD_CODE bool
child_parent_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec zero = { 0, 0 };

	return CSYS(SYS_ppoll, &p, 1, &zero, NULL, 8, 0) != 0;
}

static CHILD_CODE int
child_dup_high(const struct child_args *a, int fd)
{
	long r = CSYS(SYS_fcntl, fd, F_DUPFD, 10, 0, 0, 0);

	if (r < 0)
		child_fail(a->err_w, "fcntl(F_DUPFD)", (int)-r);
	return (int)r;
}

/* 0, 1: /dev/null; 2: kcr's stderr; 3: the socket; 4: the error pipe;
 * 5: the runner binary (close-on-exec); 6: the seccomp filter; 7: a host's
 * fd channel; nothing else. */
static CHILD_CODE void
child_fds(const struct child_args *a)
{
	int l = child_dup_high(a, a->lfd);
	int e = child_dup_high(a, a->err_w);
	int n = child_dup_high(a, a->nul);
	int x = child_dup_high(a, a->exe);
	int s = a->seccomp >= 0 ? child_dup_high(a, a->seccomp) : -1;
	int c = a->chan >= 0 ? child_dup_high(a, a->chan) : -1;
	long r;

	if ((r = CSYS(SYS_dup3, n, 0, 0, 0, 0, 0)) < 0 || (r = CSYS(SYS_dup3, n, 1, 0, 0, 0, 0)) < 0 ||
	    (r = CSYS(SYS_dup3, l, LISTEN_FD, 0, 0, 0, 0)) < 0 ||
	    (r = CSYS(SYS_dup3, e, ERROR_FD, 0, 0, 0, 0)) < 0 ||
	    (r = CSYS(SYS_dup3, x, EXE_FD, O_CLOEXEC, 0, 0, 0)) < 0)
		child_fail(e, "dup3", (int)-r);
	if ((s >= 0 && (r = CSYS(SYS_dup3, s, SECCOMP_FD, 0, 0, 0, 0)) < 0) ||
	    (c >= 0 && (r = CSYS(SYS_dup3, c, CHANNEL_FD, 0, 0, 0, 0)) < 0))
		child_fail(e, "dup3", (int)-r);
	if (s < 0)
		CSYS(SYS_close, SECCOMP_FD, 0, 0, 0, 0, 0);
	if (c < 0)
		CSYS(SYS_close, CHANNEL_FD, 0, 0, 0, 0, 0);
	if (CSYS(SYS_close_range, CHANNEL_FD + 1, ~0U, 0, 0, 0, 0) < 0) {
		for (int fd = CHANNEL_FD + 1; fd < 65536; fd++)
			CSYS(SYS_close, fd, 0, 0, 0, 0, 0);
	}
}

static CHILD_CODE void __attribute__((noreturn))
child_main(const struct child_args *a)
{
	char c;
	long n;

	CSYS(SYS_close, a->sync_w, 0, 0, 0, 0, 0);
	CSYS(SYS_close, a->err_r, 0, 0, 0, 0, 0);
	do
		n = CSYS(SYS_read, a->sync_r, &c, 1, 0, 0, 0);
	while (n == -EINTR);
	if (n != 1)
		child_exit(1); /* kcr gave up on us */
	for (int i = 0; i < a->n_cg_tasks; i++) {
		if ((n = CSYS(SYS_write, a->cg_tasks[i], "0", 1, 0, 0, 0)) != 1)
			child_fail(a->err_w, "cannot join the sandbox's cgroup", (int)-n);
	}
	child_ids(a);
	/* Untrusted work yields to kcr's own threads: a burst of sandboxes must
	 * not make /health or request parsing wait for a CPU. */
	CSYS(SYS_setpriority, PRIO_PROCESS, 0, SANDBOX_NICE, 0, 0, 0);
	/* after the id change, which clears the parent-death signal */
	if ((n = CSYS(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0)) < 0)
		child_fail(a->err_w, "prctl(PR_SET_PDEATHSIG)", (int)-n);
	if (child_parent_gone(a->sync_r))
		child_exit(1);
	child_fds(a);
	n = CSYS(SYS_execveat, EXE_FD, "", a->argv, a->envp, AT_EMPTY_PATH, 0);
	child_fail(ERROR_FD, "cannot execute kcr-runner", (int)-n);
}


#define CHILD_STACK (64 * 1024)

/* valgrind can't run a general clone(); there the child copies kcr's memory. */
bool
local_on_valgrind(void)
{
#ifdef HAVE_VALGRIND_VALGRIND_H
	return RUNNING_ON_VALGRIND != 0;
#else
	return false;
#endif
}

static CHILD_CODE int
child_entry(void *arg)
{
	child_main(arg);
}

/* clone3 straight into the v2 cgroup when there is one (a copy of kcr's
 * page tables, but no second move), else a clone sharing kcr's memory
 * on a stack of its own (ls->stack, unmapped once the child has exec'd or
 * died), else a plain fork-like clone. */
long
local_clone_sandbox(int cgfd, struct child_args *a, struct local_sb *ls, bool *in_cg)
{
	long pid;

	*in_cg = false;
#ifdef SYS_clone3
	if (cgfd >= 0) {
		struct clone_args ca = {
			.flags = SANDBOX_FLAGS | CLONE_INTO_CGROUP,
			.exit_signal = SIGCHLD,
			.cgroup = (uint64_t)cgfd,
		};

		pid = syscall(SYS_clone3, &ca, sizeof(ca));
		if (pid == 0)
			child_main(a);
		if (pid >= 0 || (errno != ENOSYS && errno != E2BIG && errno != EINVAL)) {
			*in_cg = pid >= 0;
			return pid;
		}
	}
#endif
	if (SANDBOX_CLONE_VM && !local_on_valgrind()) {
		ls->stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (ls->stack == MAP_FAILED) {
			ls->stack = NULL;
			return -1;
		}
		return clone(child_entry, (char *)ls->stack + CHILD_STACK,
			     SANDBOX_FLAGS | CLONE_VM | SIGCHLD, a);
	}
	pid = syscall(SYS_clone, SANDBOX_FLAGS | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		child_main(a);
	return pid;
}

void
local_free_child_stack(struct local_sb *ls)
{
	if (ls->stack)
		munmap(ls->stack, CHILD_STACK);
	ls->stack = NULL;
}

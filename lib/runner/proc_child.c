/* The child of one step, between vfork and execve: its stdio, signals,
 * rlimits, identity, capabilities, no_new_privs and seccomp, then exec.
 * It runs on its parent's memory (proc_spawn), so nothing here may
 * allocate, take a lock, or change anything but the stack and errno; and
 * the ids change by system call, not through libc, whose setxid would
 * change them in every thread of the runner's, which it thinks are ours. */
#include <config.h>

#include "runner/proc-internal.h"
#include "runner/sandbox_init.h"
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

/* ---- the child, between vfork and execve ---- */

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
	if (syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM)
		return -1;
	*what = "setresgid";
	if (syscall(SYS_setresgid, KCR_SANDBOX_GID, KCR_SANDBOX_GID, KCR_SANDBOX_GID) < 0)
		return errno == EINVAL ? drop_caps(what) : -1;
	*what = "setresuid";
	if (syscall(SYS_setresuid, KCR_SANDBOX_UID, KCR_SANDBOX_UID, KCR_SANDBOX_UID) < 0)
		return errno == EINVAL ? drop_caps(what) : -1;
	return 0;
}

void __attribute__((noreturn))
proc_child_main(const struct proc_ctx *pc, char **argv, const char *cwd, const int child[3],
	   int report)
{
	const char *what = "";
	int r;

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
	if ((r = kcr_seccomp_install()) < 0)
		child_fail(report, false, -r, "loading the seccomp filter");
	execve(argv[0], argv, pc->envp);
	child_fail(report, true, errno, "execve");
}

#include <config.h>

#include "runner/seccomp.h"
#include "base/files.h"
#include "base/util.h"

#include <errno.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

/* An allow-list, after the default profile container engines ship
 * (moby's profiles/seccomp/default.json): what programs, compilers and
 * runtimes use. A syscall on neither list (a newer one, say) fails with
 * ENOSYS, so that a library falls back as it would on an older kernel;
 * another architecture's ABI (i386's int 0x80, x32) kills the process.
 * clone, socket and personality are allowed below for some arguments only.
 * A name this architecture does not have is skipped. */
static const char *const allowed[] = {
	"accept",
	"accept4",
	"access",
	"alarm",
	"arch_prctl",
	"bind",
	"brk",
	"capget",
	"capset",
	"chdir",
	"chmod",
	"chown",
	"clock_adjtime",
	"clock_getres",
	"clock_gettime",
	"clock_nanosleep",
	"close",
	"close_range",
	"connect",
	"copy_file_range",
	"creat",
	"dup",
	"dup2",
	"dup3",
	"epoll_create",
	"epoll_create1",
	"epoll_ctl",
	"epoll_pwait",
	"epoll_pwait2",
	"epoll_wait",
	"eventfd",
	"eventfd2",
	"execve",
	"execveat",
	"exit",
	"exit_group",
	"faccessat",
	"faccessat2",
	"fadvise64",
	"fallocate",
	"fchdir",
	"fchmod",
	"fchmodat",
	"fchown",
	"fchownat",
	"fcntl",
	"fdatasync",
	"fgetxattr",
	"flistxattr",
	"flock",
	"fork",
	"fremovexattr",
	"fsetxattr",
	"fstat",
	"fstatfs",
	"fsync",
	"ftruncate",
	"futex",
	"futex_waitv",
	"futimesat",
	"get_mempolicy",
	"get_robust_list",
	"getcpu",
	"getcwd",
	"getdents",
	"getdents64",
	"getegid",
	"geteuid",
	"getgid",
	"getgroups",
	"getitimer",
	"getpeername",
	"getpgid",
	"getpgrp",
	"getpid",
	"getppid",
	"getpriority",
	"getrandom",
	"getresgid",
	"getresuid",
	"getrlimit",
	"getrusage",
	"getsid",
	"getsockname",
	"getsockopt",
	"gettid",
	"gettimeofday",
	"getuid",
	"getxattr",
	"inotify_add_watch",
	"inotify_init",
	"inotify_init1",
	"inotify_rm_watch",
	"io_cancel",
	"io_destroy",
	"io_getevents",
	"io_pgetevents",
	"io_setup",
	"io_submit",
	"ioctl",
	"ioprio_get",
	"ioprio_set",
	"kill",
	"lchown",
	"lgetxattr",
	"link",
	"linkat",
	"listen",
	"listxattr",
	"llistxattr",
	"lremovexattr",
	"lseek",
	"lsetxattr",
	"lstat",
	"madvise",
	"mbind",
	"membarrier",
	"memfd_create",
	"mincore",
	"mkdir",
	"mkdirat",
	"mknod",
	"mknodat",
	"mlock",
	"mlock2",
	"mlockall",
	"mmap",
	"mprotect",
	"mq_getsetattr",
	"mq_notify",
	"mq_open",
	"mq_timedreceive",
	"mq_timedsend",
	"mq_unlink",
	"mremap",
	"msgctl",
	"msgget",
	"msgrcv",
	"msgsnd",
	"msync",
	"munlock",
	"munlockall",
	"munmap",
	"nanosleep",
	"newfstatat",
	"open",
	"openat",
	"openat2",
	"pause",
	"pidfd_getfd",
	"pidfd_open",
	"pidfd_send_signal",
	"pipe",
	"pipe2",
	"pkey_alloc",
	"pkey_free",
	"pkey_mprotect",
	"poll",
	"ppoll",
	"prctl",
	"pread64",
	"preadv",
	"preadv2",

	"process_mrelease",
	"pselect6",
	"pwrite64",
	"pwritev",
	"pwritev2",
	"read",
	"readahead",
	"readlink",
	"readlinkat",
	"readv",
	"recvfrom",
	"recvmmsg",
	"recvmsg",
	"remap_file_pages",
	"removexattr",
	"rename",
	"renameat",
	"renameat2",
	"restart_syscall",
	"rmdir",
	"rseq",
	"rt_sigaction",
	"rt_sigpending",
	"rt_sigprocmask",
	"rt_sigqueueinfo",
	"rt_sigreturn",
	"rt_sigsuspend",
	"rt_sigtimedwait",
	"rt_tgsigqueueinfo",
	"sched_get_priority_max",
	"sched_get_priority_min",
	"sched_getaffinity",
	"sched_getattr",
	"sched_getparam",
	"sched_getscheduler",
	"sched_rr_get_interval",

	"sched_yield",
	"seccomp",
	"select",
	"semctl",
	"semget",
	"semop",
	"semtimedop",
	"sendfile",
	"sendmmsg",
	"sendmsg",
	"sendto",
	"set_mempolicy",
	"set_robust_list",
	"set_thread_area",
	"set_tid_address",
	"setfsgid",
	"setfsuid",
	"setgid",
	"setgroups",
	"setitimer",
	"setpgid",

	"setregid",
	"setresgid",
	"setresuid",
	"setreuid",
	"setrlimit",
	"setsid",
	"setsockopt",
	"setuid",
	"setxattr",
	"shmat",
	"shmctl",
	"shmdt",
	"shmget",
	"shutdown",
	"sigaltstack",
	"signalfd",
	"signalfd4",
	"socketpair",
	"splice",
	"stat",
	"statfs",
	"statx",
	"symlink",
	"symlinkat",
	"sync",
	"sync_file_range",
	"syncfs",
	"sysinfo",
	"tee",
	"tgkill",
	"time",
	"timer_create",
	"timer_delete",
	"timer_getoverrun",
	"timer_gettime",
	"timer_settime",
	"timerfd_create",
	"timerfd_gettime",
	"timerfd_settime",
	"times",
	"tkill",
	"truncate",
	"umask",
	"uname",
	"unlink",
	"unlinkat",
	"utime",
	"utimensat",
	"utimes",
	"vfork",
	"vmsplice",
	"wait4",
	"waitid",
	"write",
	"writev",
};

/* Syscalls that reach privileged or namespace surfaces of the kernel:
 * EPERM, as a container engine answers, rather than ENOSYS. */
static const char *const denied[] = {
	"ptrace",
	"mount",
	"umount2",
	"unshare",
	"setns",
	"bpf",
	"keyctl",
	"add_key",
	"request_key",
	"perf_event_open",
	"userfaultfd",
	"pivot_root",
	"chroot",
	"kexec_load",
	"kexec_file_load",
	"init_module",
	"finit_module",
	"delete_module",
	"reboot",
	"swapon",
	"swapoff",
	"open_by_handle_at",
	"name_to_handle_at",
	"process_vm_readv",
	"process_vm_writev",
	"iopl",
	"ioperm",
	"acct",
	"quotactl",
	"settimeofday",
	"clock_settime",
	"adjtimex",
	"syslog",
	"lookup_dcookie",
	"mount_setattr",
	"move_mount",
	"open_tree",
	"fsopen",
	"fsmount",
	"fspick",
	"kcmp",
	"modify_ldt",
	"vhangup",
	"uselib",
	"nfsservctl",
	"fanotify_init",
	/* io_uring runs operations (socket, openat...) outside of this
	 * filter; every runtime kcr ships falls back to plain syscalls */
	"io_uring_setup",
	"io_uring_enter",
	"io_uring_register",
};

static const unsigned long clone_ns_flags[] = {
	CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID,    CLONE_NEWNET,
	CLONE_NEWIPC,  CLONE_NEWUTS, CLONE_NEWCGROUP,
};

static int
add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned int n,
	 const struct scmp_arg_cmp *cmp, kcr_error_t *err)
{
	int nr = seccomp_syscall_resolve_name(name);
	int r;

	if (nr == __NR_SCMP_ERROR)
		return 0;
	r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	if (r < 0)
		return kcr_error_set(err, KCR_E_INTERNAL, -r, "seccomp rule for %s", name);
	return 0;
}

static int
add_list(scmp_filter_ctx ctx, uint32_t action, const char *const *names, size_t n, kcr_error_t *err)
{
	for (size_t i = 0; i < n; i++)
		if (add_rule(ctx, action, names[i], 0, NULL, err) < 0)
			return -1;
	return 0;
}

/* clone() without a namespace flag is allowed; with one, EPERM (one rule
 * per flag: a rule's comparisons are ANDed, separate rules are ORed).
 * clone3 passes its flags in memory a filter cannot read: ENOSYS makes
 * glibc fall back to clone. */
static int
add_clone(scmp_filter_ctx ctx, kcr_error_t *err)
{
	unsigned long all = 0;
	struct scmp_arg_cmp c;

	for (size_t i = 0; i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]); i++) {
		c = SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]);
		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &c, err) < 0)
			return -1;
		all |= clone_ns_flags[i];
	}
	c = SCMP_A0(SCMP_CMP_MASKED_EQ, all, 0);
	/* clone3: on no list, so the default, ENOSYS */
	return add_rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &c, err);
}

/* socket() for AF_UNIX (1), AF_INET (2) and AF_INET6 (10) only; any other
 * family is EAFNOSUPPORT. The comparisons are on all 64 bits, so garbage
 * in the upper half can only make a call fail, never let a family through. */
static int
add_socket(scmp_filter_ctx ctx, kcr_error_t *err)
{
	static const int ok[] = { AF_UNIX, AF_INET, AF_INET6 };
	const uint32_t no = SCMP_ACT_ERRNO(EAFNOSUPPORT);
	struct scmp_arg_cmp c;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)ok[i]);
		if (add_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &c, err) < 0)
			return -1;
	}
	c = SCMP_A0(SCMP_CMP_EQ, AF_UNSPEC);
	if (add_rule(ctx, no, "socket", 1, &c, err) < 0)
		return -1;
	for (int family = AF_INET + 1; family < AF_INET6; family++) {
		c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)family);
		if (add_rule(ctx, no, "socket", 1, &c, err) < 0)
			return -1;
	}
	c = SCMP_A0(SCMP_CMP_GT, AF_INET6);
	return add_rule(ctx, no, "socket", 1, &c, err);
}

/* personality(): reading it, and the Linux personalities with or without
 * ADDR_NO_RANDOMIZE (as container engines allow); not the others. */
static int
add_personality(scmp_filter_ctx ctx, kcr_error_t *err)
{
	static const scmp_datum_t ok[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, ok[i]);

		if (add_rule(ctx, SCMP_ACT_ALLOW, "personality", 1, &c, err) < 0)
			return -1;
	}
	return 0;
}

/* Calls that change another process's limits or scheduling: on itself
 * only (pid 0), or to read them. Without a cgroup's own uid, kcr's runner
 * shares the program's uid in the sandbox (kcr not root), and a program
 * could otherwise lower the runner's limits (prlimit(1, RLIMIT_NOFILE)) or
 * starve it. */
static int
add_self_only(scmp_filter_ctx ctx, kcr_error_t *err)
{
	static const struct {
		const char *name;
		unsigned int pid_arg;
	} calls[] = {
		{ "prlimit64", 0 },      { "sched_setaffinity", 0 }, { "sched_setscheduler", 0 },
		{ "sched_setparam", 0 }, { "sched_setattr", 0 },     { "setpriority", 1 },
	};
	struct scmp_arg_cmp c;

	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		c = (struct scmp_arg_cmp){ calls[i].pid_arg, SCMP_CMP_EQ, 0, 0 };
		if (add_rule(ctx, SCMP_ACT_ALLOW, calls[i].name, 1, &c, err) < 0)
			return -1;
		c = (struct scmp_arg_cmp){ calls[i].pid_arg, SCMP_CMP_NE, 0, 0 };
		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), calls[i].name, 1, &c, err) < 0)
			return -1;
	}
	return 0;
}

static scmp_filter_ctx
build(kcr_error_t *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));

	if (ctx == NULL) {
		kcr_error_set(err, KCR_E_INTERNAL, 0, "seccomp_init failed");
		return NULL;
	}
	/* a binary tree over the syscall numbers, not a list of ~350 tests
	 * that every call of the program walks; libseccomp 2.5 and later */
#if SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 5)
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
#endif
	/* only the native ABI: i386 (int 0x80) and x32 calls kill */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0 ||
	    add_list(ctx, SCMP_ACT_ALLOW, allowed, sizeof(allowed) / sizeof(allowed[0]), err) < 0 ||
	    add_list(ctx, SCMP_ACT_ERRNO(EPERM), denied, sizeof(denied) / sizeof(denied[0]), err) <
		    0 ||
	    add_clone(ctx, err) < 0 || add_socket(ctx, err) < 0 || add_personality(ctx, err) < 0 ||
	    add_self_only(ctx, err) < 0) {
		if (err && *err == NULL)
			kcr_error_set(err, KCR_E_INTERNAL, 0, "seccomp: cannot kill other ABIs");
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

size_t
kcr_seccomp_allowed_count(void)
{
	size_t n = 9; /* clone, socket, personality and add_self_only's, for some arguments */

	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		n += seccomp_syscall_resolve_name(allowed[i]) != __NR_SCMP_ERROR;
	return n;
}

/* The filter compiled once per process. libseccomp builds its database
 * and generates BPF in milliseconds of CPU (the largest part of what kcr
 * added between a request and the program's execve, measured with strace),
 * and a child forked from the multi-threaded runner should not allocate:
 * so it is compiled before the first fork, and the child only installs it.
 * A local sandbox's runner compiles nothing: kcr did, once, and hands the
 * BPF over (kcr_seccomp_prepare_fd), which saves each sandbox's start ~2 ms
 * of CPU. */
static struct {
	pthread_once_t once;
	struct sock_fprog prog;
	char *bpf;
	size_t len;
	int given_fd;       /* kcr's BPF to read instead, or -1 */
	enum kcr_errc code; /* why compiling failed (msg has strerror) */
	char msg[200];
} compiled = { .once = PTHREAD_ONCE_INIT, .given_fd = -1 };

/* Every runner holds the same open file: pread, not read and its shared
 * offset. */
static int
read_given(int fd, kcr_error_t *err)
{
	struct stat st;
	size_t off = 0;

	if (fstat(fd, &st) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "reading kcr's seccomp filter");
	if (st.st_size <= 0 || st.st_size > (1 << 20))
		return kcr_error_set(err, KCR_E_INTERNAL, 0, "kcr's seccomp filter is %lld bytes",
				     (long long)st.st_size);
	compiled.bpf = kcr_xmalloc((size_t)st.st_size);
	compiled.len = (size_t)st.st_size;
	while (off < compiled.len) {
		ssize_t n = pread(fd, compiled.bpf + off, compiled.len - off, (off_t)off);

		if (n <= 0)
			return kcr_error_set(err, KCR_E_IO, n < 0 ? errno : 0,
					     "reading kcr's seccomp filter");
		off += (size_t)n;
	}
	return 0;
}

static int
export_built(kcr_error_t *err)
{
	scmp_filter_ctx ctx = build(err);
	kcr_autoclose int fd = -1;
	int r;

	if (ctx == NULL)
		return -1;
	fd = memfd_create("kcr-seccomp", MFD_CLOEXEC);
	r = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	if (r < 0)
		return kcr_error_set(err, KCR_E_INTERNAL, -r, "exporting the seccomp filter");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "reading the seccomp filter");
	return kcr_read_fd(fd, 1 << 20, &compiled.bpf, &compiled.len, err);
}

static void
compile_once(void)
{
	kcr_error_t err = NULL;
	int r = compiled.given_fd >= 0 ? read_given(compiled.given_fd, &err) : export_built(&err);

	if (r == 0 && (compiled.len == 0 || compiled.len % sizeof(struct sock_filter) != 0 ||
		       compiled.len / sizeof(struct sock_filter) > USHRT_MAX))
		kcr_error_set(
			&err, KCR_E_INTERNAL, 0,
			"the seccomp filter is %zu bytes: not 1 to 65535 BPF instructions of 8",
			compiled.len);
	if (err == NULL) {
		compiled.prog.len = (unsigned short)(compiled.len / sizeof(struct sock_filter));
		compiled.prog.filter = (struct sock_filter *)compiled.bpf;
		return;
	}
	compiled.code = err->code;
	snprintf(compiled.msg, sizeof(compiled.msg), "%s", err->msg);
	kcr_error_free(err);
}

int
kcr_seccomp_prepare(kcr_error_t *err)
{
	pthread_once(&compiled.once, compile_once);
	if (compiled.prog.filter == NULL)
		return kcr_error_set(err, compiled.code, 0, "%s", compiled.msg);
	return 0;
}

int
kcr_seccomp_prepare_fd(int fd, kcr_error_t *err)
{
	int r;

	compiled.given_fd = fd;
	r = kcr_seccomp_prepare(err);
	compiled.given_fd = -1;
	return r;
}

int
kcr_seccomp_install(void)
{
	if (compiled.prog.filter == NULL)
		return -EINVAL;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &compiled.prog, 0, 0) < 0)
		return -errno;
	return 0;
}

int
kcr_seccomp_export(char **bpf, size_t *len, kcr_error_t *err)
{
	if (kcr_seccomp_prepare(err) < 0)
		return -1;
	*bpf = kcr_xmalloc(compiled.len);
	memcpy(*bpf, compiled.bpf, compiled.len);
	*len = compiled.len;
	return 0;
}

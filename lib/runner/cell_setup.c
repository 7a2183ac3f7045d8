/* The zygote's loop and a warm cell's set-up, in C: a shared object of
 * its own (kcr-cell.so, not part of libkcr) that the zygote
 * (lib/runner/pyboot.py) loads with ctypes from a sealed memfd the runner
 * hands it (lib/runner/cell.c), and calls once, when its imports are
 * done. kcr_cell_serve() answers the runner's requests, clones each cell
 * and, in the child, does all its set-up before it returns 0 there.
 *
 * Why C: after a clone every page the zygote or the cell writes is
 * copied (a page fault, and a TLB flush). Python code touches objects
 * all over the heap (reference counts, the interpreter's inline caches),
 * this loop only its stack. The cell's side runs between a raw clone3
 * and PyOS_AfterFork_Child, so it calls no Python and allocates
 * nothing. The zygote has one thread, so glibc's wrappers need no locks. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runner/cell_setup.h"

#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* A cell being set up: the request, its descriptors and the zygote's
 * constants. */
struct cell {
	const struct kcr_cell_req *req;
	const int *fds;
	int n_fds;
	const struct sock_fprog *prog; /* the runner's seccomp filter */
	const uint64_t *populate;      /* address, length: what a cell writes */
	uint64_t n_populate;
};

/* PyOS_BeforeFork and PyOS_AfterFork_Parent, which the zygote passes */
typedef void (*py_hook)(void);

int kcr_cell_serve(int ctl, uint64_t tid_addr, const void *bpf, uint64_t bpf_len, py_hook before,
		   py_hook after_parent, const uint64_t *populate, uint64_t n_populate);

/* The set-up failed: the report pipe says why, as the runner shows it. */
static void __attribute__((noreturn)) fail(const struct cell *c, const char *what)
{
	char msg[256];
	int e = errno;
	int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(e));

	if (n > 0 && write(c->fds[KCR_CELL_FD_REPORT], msg, (size_t)n) < 0)
		n = 0;
	_exit(127);
}

static int
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -1 : 0;
}

/* Into its cgroups (v1 "tasks", v2 "cgroup.procs") before anything of
 * the program's can run. */
static void
join_cgroups(const struct cell *c)
{
	for (int i = KCR_CELL_FD_JOIN; i < c->n_fds; i++)
		if (write(c->fds[i], "0", 1) < 0)
			fail(c, "joining its cgroup");
}

/* Its own /mnt/data and /tmp (tmpfs the runner made for this cell alone,
 * mounted nowhere), /dev/shm and /proc. */
static void
mounts(const struct cell *c)
{
	char opts[64];

	if (syscall(SYS_move_mount, c->fds[KCR_CELL_FD_DATA], "", AT_FDCWD, "/mnt/data",
		    MOVE_MOUNT_F_EMPTY_PATH) < 0)
		fail(c, "move_mount /mnt/data");
	if (syscall(SYS_move_mount, c->fds[KCR_CELL_FD_TMP], "", AT_FDCWD, "/tmp",
		    MOVE_MOUNT_F_EMPTY_PATH) < 0)
		fail(c, "move_mount /tmp");
	snprintf(opts, sizeof(opts), "mode=1777,size=%llum", (unsigned long long)c->req->shm_mb);
	if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		fail(c, "mount /dev/shm");
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		fail(c, "mount /proc");
}

/* No capability left: bounding set, ambient, then the sets themselves. */
static void
drop_caps(const struct cell *c)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 } };

	for (int cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			fail(c, "prctl(PR_CAPBSET_DROP)");
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail(c, "capset");
}

/* uid 1000 without capabilities, then a user namespace of its own in
 * which only 1000 is mapped. Raw system calls: glibc's wrappers would
 * signal the other threads of a process, and the cell has no others. */
static void
identity(const struct cell *c)
{
	char map[64];

	if (syscall(SYS_setgroups, 0, NULL) < 0 ||
	    syscall(SYS_setresgid, c->req->gid, c->req->gid, c->req->gid) < 0 ||
	    syscall(SYS_setresuid, c->req->uid, c->req->uid, c->req->uid) < 0)
		fail(c, "becoming the sandbox's user");
	/* the id change made /proc/self root's; the maps below are ours */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		fail(c, "prctl(PR_SET_DUMPABLE)");
	if (unshare(CLONE_NEWUSER) < 0)
		fail(c, "unshare(CLONE_NEWUSER)");
	if (write_file("/proc/self/setgroups", "deny") < 0)
		fail(c, "/proc/self/setgroups");
	snprintf(map, sizeof(map), "%llu %llu 1", (unsigned long long)c->req->uid,
		 (unsigned long long)c->req->uid);
	if (write_file("/proc/self/uid_map", map) < 0)
		fail(c, "/proc/self/uid_map");
	snprintf(map, sizeof(map), "%llu %llu 1", (unsigned long long)c->req->gid,
		 (unsigned long long)c->req->gid);
	if (write_file("/proc/self/gid_map", map) < 0)
		fail(c, "/proc/self/gid_map");
	drop_caps(c);
}

static void
limits(const struct cell *c)
{
	struct rlimit core = { 0, 0 };
	struct rlimit nofile = { c->req->nofile, c->req->nofile };
	struct rlimit fsize = { c->req->fsize, c->req->fsize };

	if (setrlimit(RLIMIT_CORE, &core) < 0 ||
	    (c->req->nofile && setrlimit(RLIMIT_NOFILE, &nofile) < 0) ||
	    (c->req->fsize && setrlimit(RLIMIT_FSIZE, &fsize) < 0))
		fail(c, "setrlimit");
}

/* Its stdio, its report pipe as fd 3 (close-on-exec), and no other
 * descriptor of the zygote's (its control socket was 3). */
static void
descriptors(const struct cell *c)
{
	int report = c->fds[KCR_CELL_FD_REPORT];

	for (int i = 0; i < 3; i++)
		if (dup2(c->fds[i], i) < 0)
			fail(c, "dup2");
	if ((report == 3 ? fcntl(3, F_SETFD, FD_CLOEXEC) : dup3(report, 3, O_CLOEXEC)) < 0)
		fail(c, "dup3");
	if (syscall(SYS_close_range, 4, ~0U, 0) < 0)
		fail(c, "close_range");
}

/* The zygote's pages a cell writes anyway (pyboot.py's learn()), copied
 * now, in the cell's memory cgroup, while it waits: a copy in the kernel
 * costs a third of a fault. A range the zygote has unmapped since (or a
 * kernel before 5.14) only loses that. */
static void
copy_written_pages(const struct cell *c)
{
	for (uint64_t i = 0; i < c->n_populate; i++)
		if (madvise((void *)(uintptr_t)c->populate[2 * i], c->populate[2 * i + 1],
			    MADV_POPULATE_WRITE) < 0 &&
		    errno == EINVAL)
			return;
}

static void
cell_setup(const struct cell *c)
{
	join_cgroups(c);
	copy_written_pages(c);
	mounts(c);
	identity(c);
	limits(c);
	if (setsid() < 0)
		fail(c, "setsid");
	if (write_file("/proc/self/oom_score_adj", "1000") < 0)
		fail(c, "/proc/self/oom_score_adj");
	if (chdir("/mnt/data") < 0)
		fail(c, "chdir /mnt/data");
	descriptors(c);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(c, "prctl(PR_SET_NO_NEW_PRIVS)");
	if (prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0) < 0)
		fail(c, "prctl(PR_SET_PDEATHSIG)");
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, c->prog, 0, 0) < 0)
		fail(c, "seccomp");
}

/* The cell's pid in the zygote, -errno if clone3 failed, and 0 in the
 * cell once it is set up (it exits if that fails).
 *
 * CLONE_PARENT: the cell is the runner's child (which waits for it and
 * kills it as any program); clone3 then wants exit_signal 0 and the
 * kernel uses the zygote's own, SIGCHLD. CLONE_CHILD_SETTID: glibc's
 * cached tid becomes the cell's, as its fork() would do. */
static long
cell_clone(const struct cell *c, uint64_t tid_addr)
{
	struct clone_args ca = { .flags = CLONE_PARENT | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |
					  CLONE_NEWIPC | CLONE_NEWUTS | CLONE_CHILD_SETTID |
					  CLONE_CHILD_CLEARTID,
				 .child_tid = tid_addr,
				 .exit_signal = 0 };
	long pid = syscall(SYS_clone3, &ca, sizeof(ca));

	if (pid < 0)
		return -errno;
	if (pid == 0)
		cell_setup(c);
	return pid;
}

/* One request: the struct and its descriptors. 0 at EOF, -1 on error. */
static ssize_t
recv_req(int ctl, struct kcr_cell_req *req, int *fds, int *n_fds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * KCR_CELL_FDS_MAX)];
	struct iovec iov = { .iov_base = req, .iov_len = sizeof(*req) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n;

	while ((n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	*n_fds = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); n >= 0 && cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < k && *n_fds < KCR_CELL_FDS_MAX; i++)
			memcpy(&fds[(*n_fds)++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	if (n > 0 && (n != sizeof(*req) || req->magic != KCR_CELL_REQ_MAGIC ||
		      *n_fds < KCR_CELL_FD_JOIN || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))) {
		errno = EBADMSG;
		n = -1;
	}
	return n;
}

static void
reply(int ctl, long pid, const char *what, int e)
{
	char msg[256];
	int n = pid > 0 ? snprintf(msg, sizeof(msg), "{\"pid\": %ld}", pid)
			: snprintf(msg, sizeof(msg), "{\"error\": \"%s: %s\"}", what, strerror(e));

	if (n > 0)
		send(ctl, msg, (size_t)n, MSG_NOSIGNAL);
}

/* The zygote's loop: 1 when the runner closes the control socket, 0 in
 * each cell, set up (its report pipe is fd 3). The zygote holds the GIL
 * (a PyDLL call), so the Python fork hooks run as os.fork runs them. */
int
kcr_cell_serve(int ctl, uint64_t tid_addr, const void *bpf, uint64_t bpf_len, py_hook before,
	       py_hook after_parent, const uint64_t *populate, uint64_t n_populate)
{
	const struct sock_fprog prog = { .len = (unsigned short)bpf_len,
					 .filter = (struct sock_filter *)(uintptr_t)bpf };

	for (;;) {
		struct kcr_cell_req req;
		int fds[KCR_CELL_FDS_MAX];
		struct cell c = { .req = &req,
				  .fds = fds,
				  .prog = &prog,
				  .populate = populate,
				  .n_populate = n_populate };
		ssize_t n = recv_req(ctl, &req, fds, &c.n_fds);
		long pid;

		if (n == 0)
			return 1;
		if (n < 0 && errno != EBADMSG)
			return -1;
		if (n < 0) {
			reply(ctl, -1, "bad request", errno);
		} else {
			before();
			pid = cell_clone(&c, tid_addr);
			if (pid == 0)
				return 0;
			after_parent();
			reply(ctl, pid, "clone3", (int)-pid);
		}
		for (int i = 0; i < c.n_fds; i++)
			close(fds[i]);
	}
}

#include <config.h>

#include "runner/seccomp.h"
#include "base/files.h"
#include "base/util.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

/* Syscalls that reach privileged or namespace surfaces of the kernel. A
 * name this architecture does not have is skipped. */
static const char *const denied[] = {
	"ptrace", "mount", "umount2", "unshare", "setns", "bpf",
	"keyctl", "add_key", "request_key", "perf_event_open", "userfaultfd",
	"pivot_root", "chroot", "kexec_load", "kexec_file_load",
	"init_module", "finit_module", "delete_module", "reboot",
	"swapon", "swapoff", "open_by_handle_at", "name_to_handle_at",
	"process_vm_readv", "process_vm_writev", "iopl", "ioperm", "acct",
	"quotactl", "settimeofday", "clock_settime", "adjtimex", "syslog",
	"lookup_dcookie", "mount_setattr", "move_mount", "open_tree",
	"fsopen", "fsmount", "fspick",
	/* io_uring runs operations (socket, openat...) outside of this
	 * filter; every runtime kcr ships falls back to plain syscalls */
	"io_uring_setup", "io_uring_enter", "io_uring_register",
};

static const unsigned long clone_ns_flags[] = {
	CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET,
	CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP,
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
add_denied(scmp_filter_ctx ctx, kcr_error_t *err)
{
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0, NULL, err) < 0)
			return -1;
	return 0;
}

/* clone() that would create a namespace: one rule per flag (a rule's
 * comparisons are ANDed, separate rules are ORed). clone3 passes its flags
 * in memory a filter cannot read: ENOSYS makes glibc fall back to clone. */
static int
add_clone(scmp_filter_ctx ctx, kcr_error_t *err)
{
	for (size_t i = 0; i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]); i++) {
		struct scmp_arg_cmp c =
			SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]);

		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &c, err) < 0)
			return -1;
	}
	return add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err);
}

/* socket() for any family but AF_UNIX (1), AF_INET (2) and AF_INET6 (10).
 * The comparisons are on all 64 bits, so garbage in the upper half can
 * only make a call fail, never let a family through. */
static int
add_socket(scmp_filter_ctx ctx, kcr_error_t *err)
{
	const uint32_t act = SCMP_ACT_ERRNO(EAFNOSUPPORT);
	struct scmp_arg_cmp c;

	c = SCMP_A0(SCMP_CMP_EQ, AF_UNSPEC);
	if (add_rule(ctx, act, "socket", 1, &c, err) < 0)
		return -1;
	for (int family = AF_INET + 1; family < AF_INET6; family++) {
		c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)family);
		if (add_rule(ctx, act, "socket", 1, &c, err) < 0)
			return -1;
	}
	c = SCMP_A0(SCMP_CMP_GT, AF_INET6);
	return add_rule(ctx, act, "socket", 1, &c, err);
}

static scmp_filter_ctx
build(kcr_error_t *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	if (ctx == NULL) {
		kcr_error_set(err, KCR_E_INTERNAL, 0, "seccomp_init failed");
		return NULL;
	}
	if (add_denied(ctx, err) < 0 || add_clone(ctx, err) < 0 || add_socket(ctx, err) < 0) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

int
kcr_seccomp_load(kcr_error_t *err)
{
	scmp_filter_ctx ctx = build(err);
	int r;

	if (ctx == NULL)
		return -1;
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return kcr_error_set(err, KCR_E_IO, -r, "loading the seccomp filter");
	return 0;
}

int
kcr_seccomp_export(char **bpf, size_t *len, kcr_error_t *err)
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
	return kcr_read_fd(fd, 1 << 20, bpf, len, err);
}

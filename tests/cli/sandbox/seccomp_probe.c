/* Run inside a kcr sandbox by 045-seccomp.bats: each denied family of
 * syscalls, a syscall on no list, and the other ABIs. One line each:
 * "NAME errno=E" (the call returned -1 with errno E), "NAME ok", or "NAME
 * killed=SIG" (the child that made it was killed). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define X32_BIT 0x40000000L

static void
probe(const char *name, long nr, long a0, long a1, long a2)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		long r = syscall(nr, a0, a1, a2, 0L, 0L, 0L);

		if (r < 0)
			printf("%s errno=%s\n", name, strerrorname_np(errno));
		else
			printf("%s ok\n", name);
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		printf("%s killed=%s\n", name, sigabbrev_np(WTERMSIG(st)));
	fflush(stdout);
}

static void
probe_int80(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		long r = 20; /* i386 getpid */

		__asm__ volatile("int $0x80" : "+a"(r) : : "memory");
		printf("int80 ok\n");
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		printf("int80 killed=%s\n", sigabbrev_np(WTERMSIG(st)));
	fflush(stdout);
}

int
main(void)
{
	probe("mount", SYS_mount, 0, 0, 0);
	probe("umount2", SYS_umount2, 0, 0, 0);
	probe("ptrace", SYS_ptrace, 0 /* TRACEME */, 0, 0);
	probe("unshare", SYS_unshare, CLONE_NEWUSER, 0, 0);
	probe("setns", SYS_setns, 0, 0, 0);
	probe("clone-newns", SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0);
	probe("bpf", SYS_bpf, 0, 0, 0);
	probe("keyctl", SYS_keyctl, 0, 0, 0);
	probe("add_key", SYS_add_key, 0, 0, 0);
	probe("perf_event_open", SYS_perf_event_open, 0, 0, 0);
	probe("userfaultfd", SYS_userfaultfd, 0, 0, 0);
	probe("kexec_load", SYS_kexec_load, 0, 0, 0);
	probe("init_module", SYS_init_module, 0, 0, 0);
	probe("finit_module", SYS_finit_module, -1, 0, 0);
	probe("open_by_handle_at", SYS_open_by_handle_at, -1, 0, 0);
	probe("pivot_root", SYS_pivot_root, 0, 0, 0);
	probe("swapon", SYS_swapon, 0, 0, 0);
	probe("reboot", SYS_reboot, 0, 0, 0);
	probe("settimeofday", SYS_settimeofday, 0, 0, 0);
	probe("io_uring_setup", SYS_io_uring_setup, 1, 0, 0);
	probe("socket-netlink", SYS_socket, AF_NETLINK, SOCK_RAW, 0);
	probe("socket-packet", SYS_socket, AF_PACKET, SOCK_RAW, 0);
	probe("personality-other", SYS_personality, 0x0400000 /* READ_IMPLIES_EXEC */, 0, 0);
	probe("clone3", SYS_clone3, 0, 0, 0);
	probe("unlisted-456", 456, 0, 0, 0); /* no syscall here yet */
	probe("x32-getpid", X32_BIT | SYS_getpid, 0, 0, 0);
	probe_int80();
	probe("getpid", SYS_getpid, 0, 0, 0);
	return 0;
}

/* The seccomp filter loaded before an untrusted program starts. */
#ifndef KCR_SECCOMP_H
#define KCR_SECCOMP_H

#include "base/error.h"

#include <stddef.h>

/* An allow-list (seccomp.c): EPERM for the syscalls that reach the
 * kernel's privileged or namespace surfaces, ENOSYS for any other not on
 * the list, and another ABI (i386, x32) kills the process.
 *
 * kcr_seccomp_prepare() compiles it once per process (thread-safe; later
 * calls return the first one's result). Call it before forking the child
 * that installs it with kcr_seccomp_install(), after PR_SET_NO_NEW_PRIVS,
 * right before execve: that one only makes a system call (no allocation),
 * so it is safe in a child of a threaded process; -errno, or -EINVAL when
 * nothing was compiled. */
int kcr_seccomp_prepare(kcr_error_t *err);
/* kcr_seccomp_prepare() with the BPF read from fd (kcr_seccomp_export()'s
 * bytes, which kcr compiled) instead of compiling it: the first call of
 * either decides. */
int kcr_seccomp_prepare_fd(int fd, kcr_error_t *err);
int kcr_seccomp_install(void);
/* Syscalls the filter allows on this architecture (some for some
 * arguments only), for kcr doctor. */
size_t kcr_seccomp_allowed_count(void);

/* The same filter as classic BPF (struct sock_filter[]), for a process
 * that loads it itself with prctl(PR_SET_SECCOMP): a zygote's cells. */
int kcr_seccomp_export(char **bpf, size_t *len, kcr_error_t *err);

#endif

/* The seccomp filter loaded before an untrusted program starts. */
#ifndef KCR_SECCOMP_H
#define KCR_SECCOMP_H

#include "base/error.h"

#include <stddef.h>

/* Must be called after PR_SET_NO_NEW_PRIVS, in the child, right before
 * execve. An allow-list (seccomp.c): EPERM for the syscalls that reach the
 * kernel's privileged or namespace surfaces, ENOSYS for any other not on
 * the list, and another ABI (i386, x32) kills the process. */
int kcr_seccomp_load(kcr_error_t *err);
/* Compiles the filter once, ahead of the executions (the runner at
 * start): kcr_seccomp_load() then only hands it to the kernel, instead of
 * building it with libseccomp in every child (~3 ms of CPU, and memory
 * allocated between fork and execve). Not thread-safe: before any fork. */
int kcr_seccomp_prepare(kcr_error_t *err);
/* Syscalls the filter allows on this architecture (some for some
 * arguments only), for kcr doctor. */
size_t kcr_seccomp_allowed_count(void);

/* The same filter as classic BPF (struct sock_filter[]), for a process
 * that loads it itself with prctl(PR_SET_SECCOMP): a zygote's cells. */
int kcr_seccomp_export(char **bpf, size_t *len, kcr_error_t *err);

#endif

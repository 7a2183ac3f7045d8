/* The seccomp filter loaded before an untrusted program starts. */
#ifndef KCR_SECCOMP_H
#define KCR_SECCOMP_H

#include "base/error.h"

#include <stddef.h>

/* Must be called after PR_SET_NO_NEW_PRIVS, in the child, right before
 * execve. Default allow; EPERM for the syscalls that reach the kernel's
 * privileged or namespace surfaces. */
int kcr_seccomp_load(kcr_error_t *err);

/* The same filter as classic BPF (struct sock_filter[]), for a process
 * that loads it itself with prctl(PR_SET_SECCOMP): a zygote's cells. */
int kcr_seccomp_export(char **bpf, size_t *len, kcr_error_t *err);

#endif

/* Files and descriptors: whole reads and writes with limits, directories,
 * descriptors passed over unix sockets, children that exited. */
#ifndef KCR_FILES_H
#define KCR_FILES_H

#include "base/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads to EOF, at most max bytes (more is KCR_E_LIMIT); *out is the
 * caller's, NUL-terminated. */
int kcr_read_fd(int fd, size_t max, char **out, size_t *len, kcr_error_t *err);
int kcr_read_file(const char *path, size_t max, char **out, size_t *len, kcr_error_t *err);
int kcr_write_file(const char *path, const void *p, size_t n, mode_t mode, kcr_error_t *err);
/* Writes all n bytes, retrying on EINTR; -1 with errno. */
int kcr_write_all(int fd, const void *p, size_t n);
/* Copies in's bytes from offset 0 to EOF to out's current offset (in's
 * own offset is left alone); *copied (may be NULL) counts them. */
int kcr_copy_fd(int in, int out, uint64_t *copied, kcr_error_t *err);
/* A spool for bytes too many to hold in memory: an anonymous file in dir
 * (made private when missing), gone once closed. */
int kcr_spool_open(const char *dir, kcr_error_t *err);
/* One message of len bytes on a unix socket, with n descriptors
 * (SCM_RIGHTS, at most KCR_SEND_FDS_MAX). -1 with errno. */
#define KCR_SEND_FDS_MAX 16
int kcr_send_fds(int sock, const void *p, size_t len, const int *fds, int n);
/* Whether our child pid has exited (or is not our child any more),
 * without reaping it. */
bool kcr_child_exited(pid_t pid);
int kcr_mkdir_p(const char *path, mode_t mode, kcr_error_t *err);
/* A directory of kcr's own (the state and run dirs): made 0700 when
 * missing; refused when it is not a directory or another user owns it
 * (who could read what kcr keeps there, or plant files it would trust);
 * made 0700 when it is ours but open to others. what names it in errors
 * ("state directory"). */
int kcr_private_dir(const char *dir, const char *what, kcr_error_t *err);
int kcr_rm_rf(const char *path);
bool kcr_file_executable(const char *path);

#endif

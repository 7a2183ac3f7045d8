/* Memory, strings, buffers, files and cleanup attributes shared by all of kcr. */
#ifndef KCR_UTIL_H
#define KCR_UTIL_H

#include "base/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define KCR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KCR_UNUSED __attribute__((unused))

void kcr_oom(void) __attribute__((noreturn));
void *kcr_xmalloc(size_t n);
void *kcr_xzalloc(size_t n);
void *kcr_xrealloc(void *p, size_t n);
char *kcr_xstrdup(const char *s);
char *kcr_xstrndup(const char *s, size_t n);
char *kcr_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Cleanup attributes (crun utils.h, bubblewrap). */
void kcr_freep(void *p);
void kcr_closep(int *fd);
void kcr_fclosep(FILE **f);
void kcr_strv_freep(char ***v);
#define kcr_autofree __attribute__((cleanup(kcr_freep)))
#define kcr_autoclose __attribute__((cleanup(kcr_closep)))
#define kcr_autofclose __attribute__((cleanup(kcr_fclosep)))
#define kcr_autostrv __attribute__((cleanup(kcr_strv_freep)))

/* Hands ownership on: returns *pp and clears it (bubblewrap steal_pointer). */
static inline void *
kcr_steal_ptr(void *pp)
{
	void **p = (void **)pp;
	void *v = *p;

	*p = NULL;
	return v;
}
#define kcr_steal(pp) ((__typeof__(*(pp)))kcr_steal_ptr(pp))
static inline int
kcr_steal_fd(int *fd)
{
	int v = *fd;

	*fd = -1;
	return v;
}

/* NULL-terminated string vectors. */
size_t kcr_strv_len(char *const *v);
void kcr_strv_free(char **v);
char **kcr_strv_dup(char *const *v);
void kcr_strv_push(char ***v, const char *s);

/* A growable byte buffer, always NUL-terminated. */
struct kcr_buf {
	char *data;
	size_t len, cap;
};
void kcr_buf_init(struct kcr_buf *b);
void kcr_buf_release(struct kcr_buf *b);
void kcr_buf_add(struct kcr_buf *b, const void *p, size_t n);
void kcr_buf_adds(struct kcr_buf *b, const char *s);
void kcr_buf_addf(struct kcr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *kcr_buf_steal(struct kcr_buf *b, size_t *len);

/* Files. */
int kcr_read_fd(int fd, size_t max, char **out, size_t *len, kcr_error_t *err);
int kcr_read_file(const char *path, size_t max, char **out, size_t *len, kcr_error_t *err);
int kcr_write_file(const char *path, const void *p, size_t n, mode_t mode, kcr_error_t *err);
int kcr_write_all(int fd, const void *p, size_t n);
/* One message of len bytes on a unix socket, with n descriptors
 * (SCM_RIGHTS, at most KCR_SEND_FDS_MAX). -1 with errno. */
#define KCR_SEND_FDS_MAX 16
int kcr_send_fds(int sock, const void *p, size_t len, const int *fds, int n);
/* Whether our child pid has exited (or is not our child any more),
 * without reaping it. */
bool kcr_child_exited(pid_t pid);
int kcr_mkdir_p(const char *path, mode_t mode, kcr_error_t *err);
int kcr_rm_rf(const char *path);
bool kcr_file_executable(const char *path);

/* Time. */
uint64_t kcr_now_ms(void);   /* monotonic */
uint64_t kcr_now_ns(void);   /* monotonic */
double kcr_wall_time(void);  /* seconds since the epoch */

/* Encodings. Results are allocated, NUL-terminated. */
char *kcr_base64_encode(const void *p, size_t n);
int kcr_base64_decode(const char *s, char **out, size_t *len, kcr_error_t *err);
void kcr_sha256_hex(const void *p, size_t n, char out[65]);

/* Parsing numbers with range checks; returns -1 and sets err on bad input. */
int kcr_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, kcr_error_t *err);
int kcr_parse_double(const char *s, double min, double max, double *out, kcr_error_t *err);
bool kcr_parse_bool(const char *s, bool *out);

/* 21-character ids: ^[A-Za-z0-9_-]{21}$, first and last alphanumeric. */
#define KCR_ID_LEN 21
void kcr_id_generate(char out[KCR_ID_LEN + 1]);
bool kcr_id_valid(const char *s);

/* A file name that is safe as one path component (no '/', NUL, "." or ".."). */
bool kcr_name_is_safe(const char *name);

#endif

/* Text safe for a JSON string shown to people and models: invalid UTF-8
 * becomes U+FFFD; NUL and control characters other than \t \n \r go. */
char *kcr_utf8_clean(const char *p, size_t n);
/* RFC 3986 percent-encoding of everything but unreserved characters. */
char *kcr_percent_encode(const char *s);
/* "2026-11-22T10:00:00.123Z" */
void kcr_iso8601(double t, char out[32]);

/* Memory, cleanup attributes, string vectors and buffers: what every file
 * of kcr uses. Files, clocks, encodings, numbers and ids have headers of
 * their own beside this one. */
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
/* Appends the formatted text to *s (NULL: none yet), after sep when *s
 * already holds something: a list of notes or names built item by item. */
void kcr_str_append_printf(char **s, const char *sep, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

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

#endif

#include <config.h>

#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void
kcr_oom(void)
{
	static const char msg[] = "kcr: out of memory\n";

	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	abort();
}

void *
kcr_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		kcr_oom();
	return p;
}

void *
kcr_xzalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (p == NULL)
		kcr_oom();
	return p;
}

void *
kcr_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		kcr_oom();
	return p;
}

char *
kcr_xstrdup(const char *s)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = strdup(s);
	if (p == NULL)
		kcr_oom();
	return p;
}

char *
kcr_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		kcr_oom();
	return p;
}

char *
kcr_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	return s;
}

void
kcr_str_append_printf(char **s, const char *sep, const char *fmt, ...)
{
	char *item, *all;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&item, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	if (*s == NULL) {
		*s = item;
		return;
	}
	all = kcr_strdup_printf("%s%s%s", *s, sep, item);
	free(item);
	free(*s);
	*s = all;
}

void
kcr_freep(void *p)
{
	free(*(void **)p);
}

void
kcr_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void
kcr_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
	*f = NULL;
}

void
kcr_strv_freep(char ***v)
{
	kcr_strv_free(*v);
	*v = NULL;
}

size_t
kcr_strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

void
kcr_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

char **
kcr_strv_dup(char *const *v)
{
	size_t n = kcr_strv_len(v);
	char **r = kcr_xzalloc((n + 1) * sizeof(char *));

	for (size_t i = 0; i < n; i++)
		r[i] = kcr_xstrdup(v[i]);
	return r;
}

void
kcr_strv_push(char ***v, const char *s)
{
	size_t n = kcr_strv_len(*v);

	*v = kcr_xrealloc(*v, (n + 2) * sizeof(char *));
	(*v)[n] = kcr_xstrdup(s);
	(*v)[n + 1] = NULL;
}

void
kcr_buf_init(struct kcr_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void
kcr_buf_release(struct kcr_buf *b)
{
	free(b->data);
	kcr_buf_init(b);
}

static void
buf_grow(struct kcr_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	b->cap = b->cap ? b->cap : 256;
	while (b->cap < need)
		b->cap *= 2;
	b->data = kcr_xrealloc(b->data, b->cap);
}

void
kcr_buf_add(struct kcr_buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
kcr_buf_adds(struct kcr_buf *b, const char *s)
{
	kcr_buf_add(b, s, strlen(s));
}

void
kcr_buf_addf(struct kcr_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *
kcr_buf_steal(struct kcr_buf *b, size_t *len)
{
	char *p;

	if (b->data == NULL)
		kcr_buf_add(b, "", 0);
	p = b->data;
	if (len)
		*len = b->len;
	kcr_buf_init(b);
	return p;
}

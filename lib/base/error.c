#include <config.h>

#include "base/error.h"
#include "base/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char *
vformat(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		kcr_oom();
	return s;
}

int
kcr_error_set(kcr_error_t *err, enum kcr_errc code, int errno_,
	      const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	if (*err != NULL) /* keep the first error; it is the cause */
		goto out;
	*err = kcr_xmalloc(sizeof(**err));
	(*err)->code = code;
	(*err)->sys_errno = errno_;
	if (errno_ > 0) {
		(*err)->msg = kcr_strdup_printf("%s: %s", msg, strerror(errno_));
	} else {
		(*err)->msg = msg;
		msg = NULL;
	}
out:
	free(msg);
	return -1;
}

int
kcr_error_wrap(kcr_error_t *err, const char *fmt, ...)
{
	va_list ap;
	char *prefix, *msg;

	if (err == NULL || *err == NULL)
		return -1;
	va_start(ap, fmt);
	prefix = vformat(fmt, ap);
	va_end(ap);
	msg = kcr_strdup_printf("%s: %s", prefix, (*err)->msg);
	free(prefix);
	free((*err)->msg);
	(*err)->msg = msg;
	return -1;
}

void
kcr_error_free(kcr_error_t err)
{
	if (err == NULL)
		return;
	free(err->msg);
	free(err);
}

void
kcr_error_release(kcr_error_t *err)
{
	kcr_error_free(*err);
	*err = NULL;
}

void
kcr_error_warn_release(kcr_error_t *err)
{
	if (*err)
		fprintf(stderr, "kcr: %s\n", (*err)->msg);
	kcr_error_release(err);
}

static const struct {
	const char *name;
	int http;
	int exit;
} errc_table[] = {
	[KCR_E_OK] = { "ok", 200, 0 },
	[KCR_E_INVALID] = { "validation", 400, 2 },
	[KCR_E_NOTFOUND] = { "resource_not_found", 404, 125 },
	[KCR_E_UNAVAILABLE] = { "service_unavailable", 503, 125 },
	[KCR_E_TIMEOUT] = { "timeout", 408, 124 },
	[KCR_E_LIMIT] = { "resource_exhausted", 413, 125 },
	[KCR_E_AUTH] = { "authentication", 401, 125 },
	[KCR_E_CONFLICT] = { "resource_conflict", 409, 125 },
	[KCR_E_BACKEND] = { "external_service", 502, 125 },
	[KCR_E_IO] = { "internal_server", 500, 125 },
	[KCR_E_INTERNAL] = { "internal_server", 500, 125 },
};

const char *
kcr_errc_name(enum kcr_errc code)
{
	return errc_table[code].name;
}

int
kcr_errc_http_status(enum kcr_errc code)
{
	return errc_table[code].http;
}

int
kcr_errc_exit_code(enum kcr_errc code)
{
	return errc_table[code].exit;
}

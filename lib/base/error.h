/* kcr errors: an out-parameter that the CLI maps to exit codes and the
 * server to HTTP status (crun's libcrun_error_t, plus a category). */
#ifndef KCR_ERROR_H
#define KCR_ERROR_H

#include <stdio.h>

enum kcr_errc {
	KCR_E_OK = 0,
	KCR_E_INVALID,     /* bad input from the user: 400, exit 2 */
	KCR_E_NOTFOUND,    /* 404, exit 125 */
	KCR_E_UNAVAILABLE, /* runtime or backend missing: 503, exit 125 */
	KCR_E_TIMEOUT,     /* 408, exit 124 */
	KCR_E_LIMIT,       /* a configured limit was hit: 413, exit 125 */
	KCR_E_AUTH,        /* 401 */
	KCR_E_CONFLICT,    /* 409 */
	KCR_E_BACKEND,     /* a backend failed: 502, exit 125 */
	KCR_E_IO,          /* local I/O or system call: 500, exit 125 */
	KCR_E_INTERNAL,    /* 500, exit 125 */
};

struct kcr_error {
	enum kcr_errc code;
	int sys_errno;
	char *msg;
};
typedef struct kcr_error *kcr_error_t;

/* Sets *err (which must be NULL) and returns -1. errno_ > 0 appends
 * ": strerror(errno_)". */
int kcr_error_set(kcr_error_t *err, enum kcr_errc code, int errno_,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Prefixes the message of an existing error: "what: <old msg>". Returns -1. */
int kcr_error_wrap(kcr_error_t *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void kcr_error_free(kcr_error_t err);
void kcr_error_release(kcr_error_t *err);
const char *kcr_errc_name(enum kcr_errc code);
int kcr_errc_http_status(enum kcr_errc code);
int kcr_errc_exit_code(enum kcr_errc code);
/* Prints "kcr: msg" to stderr and releases the error (for loops that go on). */
void kcr_error_warn_release(kcr_error_t *err);

#endif

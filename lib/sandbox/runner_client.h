/* Talking to a kcr-runner (plain HTTP/1.1). An endpoint is
 * "unix:/path/to.sock" or "http://host:port", optionally naming a part of
 * the runner: "unix:/path/to.sock#/cells/ID", "http://host:port/cells/ID".
 * Used by every sandbox provider. */
#ifndef KCR_RUNNER_CLIENT_H
#define KCR_RUNNER_CLIENT_H

#include "base/error.h"
#include "base/exec.h"

#include <stddef.h>
#include <stdint.h>

int kcr_runner_execute(const char *endpoint, const struct kcr_exec_request *req,
		       struct kcr_exec_result *res, kcr_error_t *err);
int kcr_runner_put_file(const char *endpoint, const char *name, const void *buf,
			size_t len, kcr_error_t *err);
/* Streams name from the sandbox's /mnt/data to out: at most max bytes
 * (KCR_E_LIMIT beyond), never all of them in memory; *len counts them. */
int kcr_runner_get_file(const char *endpoint, const char *name, uint64_t max, int out,
			uint64_t *len, kcr_error_t *err);
int kcr_runner_health(const char *endpoint, kcr_error_t *err);
/* Any other request; json may be NULL. A 2xx is success, and *reply (if
 * reply is not NULL) the body. */
int kcr_runner_call(const char *endpoint, const char *method, const char *path, const char *json,
		    char **reply, kcr_error_t *err);
/* kcr_runner_call that gives up waiting for the reply (KCR_E_UNAVAILABLE,
 * ECANCELED) once cancel_fd (> 0) is readable. */
int kcr_runner_call_cancelable(const char *endpoint, const char *method, const char *path,
			       const char *json, int cancel_fd, char **reply, kcr_error_t *err);
/* How long a call may wait for the runner in all (KCR_E_TIMEOUT after);
 * an execution gets its own timeout on top. Default 120 s; for tests. */
void kcr_runner_client_set_timeout(uint64_t ms);

#endif

/* Talking to a kcr-runner (libcurl). An endpoint is "unix:/path/to.sock"
 * or "http://host:port". Used by every sandbox provider. */
#ifndef KCR_RUNNER_CLIENT_H
#define KCR_RUNNER_CLIENT_H

#include "error.h"
#include "exec.h"

#include <stddef.h>
#include <stdint.h>

int kcr_runner_execute(const char *endpoint, const struct kcr_exec_req *req,
		       struct kcr_exec_res *res, kcr_error_t *err);
int kcr_runner_put_file(const char *endpoint, const char *name, const void *buf,
			size_t len, kcr_error_t *err);
int kcr_runner_get_file(const char *endpoint, const char *name, uint64_t max, char **buf,
			size_t *len, kcr_error_t *err);
int kcr_runner_health(const char *endpoint, kcr_error_t *err);

#endif

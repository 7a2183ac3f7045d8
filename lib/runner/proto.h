/* The kcr <-> kcr-runner wire format (JSON over HTTP):
 *
 *   POST /execute   {"language","code","args":[],"stdin_b64","timeout_ms",
 *                    "output_bytes","nofile","file_size","pids",
 *                    "state_in_b64"?,"want_state"?,"state_max"?}
 *               ->  {"exit_code","signal","timed_out","stdout_b64","stderr_b64",
 *                    "stdout_truncated","stderr_truncated","duration_ms",
 *                    "changed":[{"name","size","mtime_ns"}],"state_out_b64"?}
 *   POST /files?name=N   raw body       -> 201 {"name","size"}
 *   GET  /files                          -> {"files":[{"name","size","mtime_ns"}]}
 *   GET  /files/N                        -> raw bytes
 *   DELETE /files/N                      -> 204
 *   GET  /health, GET /ready             -> {"status":...}
 * Errors are {"error": "..."} with a 4xx/5xx status. Byte streams travel
 * base64-encoded because program output may hold NULs and invalid UTF-8. */
#ifndef KCR_PROTO_H
#define KCR_PROTO_H

#include "base/error.h"
#include "base/exec.h"

char *kcr_proto_exec_req_encode(const struct kcr_exec_request *req);
int kcr_proto_exec_req_decode(const char *json, size_t len, struct kcr_exec_request *req,
			      kcr_error_t *err);
char *kcr_proto_exec_res_encode(const struct kcr_exec_result *res);
int kcr_proto_exec_res_decode(const char *json, size_t len, struct kcr_exec_result *res,
			      kcr_error_t *err);
char *kcr_proto_files_encode(const struct kcr_file_info *files, size_t n);
char *kcr_proto_error_encode(const char *msg);

#endif

/* A libcurl client of the kcr/LibreChat Code Interpreter API
 * (spec/librechat-api.md §4): what the CLI uses with --server. Requests
 * and results are the service's own structs (lib/engine/service.h), so the CLI
 * handles a remote session exactly like a local one. Server errors, JSON
 * {error, error_type, ...}, become kcr errors with the server's message
 * and a code from the HTTP status. */
#ifndef KCR_API_CLIENT_H
#define KCR_API_CLIENT_H

#include "base/error.h"
#include "base/ids.h"
#include "engine/engine.h"
#include "engine/service.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <stddef.h>

struct kcr_api_client;

/* base_url: "http://HOST:PORT" or "https://...", with an optional path
 * prefix ("http://host:8000/v1"); api_key: sent as X-API-Key, NULL or ""
 * for none. */
struct kcr_api_client *kcr_api_client_new(const char *base_url, const char *api_key,
					  kcr_error_t *err);
/* The PEM CA certificates an https:// server is checked with (client.ca_file);
 * NULL or "": the system's. */
void kcr_api_client_set_ca_file(struct kcr_api_client *c, const char *path);
void kcr_api_client_free(struct kcr_api_client *c);
/* The base URL, without a trailing '/'. */
const char *kcr_api_client_url(const struct kcr_api_client *c);

/* POST /exec with call's lang, code, args, limits.timeout_ms (0: the
 * server's default), session_id, entity_id, user_id and files. Fills
 * res->session_id, the program part (out, err, exit_code, timed_out), res->files
 * (id, session_id, name) and res->total_us. */
int kcr_api_client_exec(struct kcr_api_client *c, const struct kcr_exec_request *call,
			struct kcr_exec_result *res, kcr_error_t *err);
/* POST /upload: an entity_id part and a session_id part when given, then
 * one "file" part per file. All or nothing: when the server put the files
 * in another session than session_id, they are deleted again and the
 * upload fails. *out gets one record per file (id, session_id, name, size). */
int kcr_api_client_upload(struct kcr_api_client *c, const char *session_id,
			  const char *entity_id, const struct kcr_file *files, size_t n,
			  char sid[KCR_ID_LEN + 1], struct kcr_file_meta **out, kcr_error_t *err);
/* GET /download/SID/FID: the bytes, and meta's name (from
 * Content-Disposition, sanitized), content_type and size. */
int kcr_api_client_download(struct kcr_api_client *c, const char *sid, const char *fid,
			    struct kcr_file_meta *meta, char **data, size_t *len, kcr_error_t *err);
/* GET /files/SID?detail=full. */
int kcr_api_client_list(struct kcr_api_client *c, const char *sid, struct kcr_file_meta **files,
			size_t *n, kcr_error_t *err);
/* DELETE /files/SID/FID. */
int kcr_api_client_delete(struct kcr_api_client *c, const char *sid, const char *fid,
			  kcr_error_t *err);

/* Any other route with a JSON reply (GET /pool, POST /pool/warmup, ...):
 * json is the body of a POST or NULL; *out the parsed reply. */
int kcr_api_client_request_json(struct kcr_api_client *c, const char *method, const char *path,
				const char *json, cJSON **out, kcr_error_t *err);

/* The Python state of a session: GET /state/SID (the bytes; info, which
 * may be NULL, gets their size and SHA-256), POST /state/SID (the bytes as
 * the body), DELETE /state/SID, GET /state/SID/info (KCR_E_NOTFOUND when
 * it says the state does not exist). */
int kcr_api_client_state_get(struct kcr_api_client *c, const char *sid, char **data, size_t *len,
			     struct kcr_state_info *info, kcr_error_t *err);
int kcr_api_client_state_put(struct kcr_api_client *c, const char *sid, const void *data,
			     size_t len, kcr_error_t *err);
int kcr_api_client_state_delete(struct kcr_api_client *c, const char *sid, kcr_error_t *err);
int kcr_api_client_state_info(struct kcr_api_client *c, const char *sid,
			      struct kcr_state_info *info, kcr_error_t *err);

/* The kcr error code for an HTTP status of the API. */
enum kcr_errc kcr_api_status_errc(long status);

#endif

/* What every route needs to read a request and answer it: checks of ids
 * and names from clients, validation errors that name their field, and
 * the reply for an error of the service. */
#include <config.h>

#include "server/api-internal.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- request validation -------------------------------------------- */

/* cJSON turns "\u0000" into a C string that ends early; a NUL can't be
 * checked after parsing, so look for the escape itself (an odd number of
 * backslashes before the 'u'). */
bool
api_json_has_nul_escape(const char *s, size_t n)
{
	for (size_t i = 0; i + 6 <= n; i++) {
		size_t bs = 0;

		if (memcmp(s + i, "\\u0000", 6) != 0)
			continue;
		for (size_t j = i; j > 0 && s[j - 1] == '\\'; j--)
			bs++;
		if (bs % 2 == 0)
			return true;
	}
	return false;
}

bool
api_valid_entity_id(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= ENTITY_ID_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* A name from a client: no path, no NUL, not too long. */
const char *
api_bad_name_reason(const char *name)
{
	if (*name == '\0')
		return "is empty";
	if (strlen(name) > 255)
		return "is longer than 255 bytes";
	if (strchr(name, '/') || strchr(name, '\\') || strcmp(name, "..") == 0 ||
	    strcmp(name, ".") == 0)
		return "is a path, not a file name";
	return NULL;
}

int
api_fail(struct verr *v, int status, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&v->msg, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	v->status = status;
	v->field = field;
	return -1;
}

/* An optional string field: absent or null is fine, another type is not. */
int
api_opt_string(const cJSON *o, const char *name, const char *field, char **out, struct verr *v)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);

	if (x == NULL || cJSON_IsNull(x))
		return 0;
	if (!cJSON_IsString(x))
		return api_fail(v, 422, field, "'%s' must be a string", name);
	*out = kcr_xstrdup(x->valuestring);
	return 0;
}

/* ---- replies -------------------------------------------------------- */

void
api_reply_verr(struct kcr_http_resp *resp, const struct kcr_http_req *req, struct verr *v)
{
	kcr_http_reply_error(resp, req, v->status, "validation", v->field, "%s", v->msg);
	free(v->msg);
}

/* Service errors: 503 carries Retry-After (the bounded queue is full). */
void
api_reply_service_error(struct kcr_http_resp *resp, const struct kcr_http_req *req, kcr_error_t err)
{
	kcr_http_reply_kcr_error(resp, req, err);
	if (err->code == KCR_E_UNAVAILABLE && strstr(err->msg, "server busy"))
		kcr_http_add_header(resp, "Retry-After", "1");
	kcr_error_free(err);
}

cJSON *
api_file_ref_json(const struct kcr_file_meta *m)
{
	cJSON *f = cJSON_CreateObject();
	kcr_autofree char *path = kcr_strdup_printf("/mnt/data/%s", m->name);

	cJSON_AddStringToObject(f, "id", m->id);
	cJSON_AddStringToObject(f, "name", m->name);
	cJSON_AddStringToObject(f, "path", path);
	cJSON_AddStringToObject(f, "session_id", m->session_id);
	cJSON_AddStringToObject(f, "storage_session_id", m->session_id);
	if (m->modified_from[0]) {
		cJSON *mf = cJSON_AddObjectToObject(f, "modified_from");

		cJSON_AddStringToObject(mf, "id", m->modified_from);
		cJSON_AddStringToObject(mf, "storage_session_id", m->modified_from_session);
	}
	return f;
}

bool
api_check_ids(struct kcr_http_req *req, struct kcr_http_resp *resp)
{
	if (kcr_id_valid(req->params[0]) && kcr_id_valid(req->params[1]))
		return true;
	if (api_id_plausible(req->params[0]) && api_id_plausible(req->params[1]))
		kcr_http_reply_error(resp, req, 404, "resource_not_found", NULL,
				     "file %s/%s not found", req->params[0], req->params[1]);
	else
		kcr_http_reply_error(resp, req, 400, "validation", "path",
				     "invalid session or file id (expected [A-Za-z0-9_-])");
	return false;
}

/* Unknown is not malformed: an id of another length may name nothing
 * here, but only characters outside [A-Za-z0-9_-] make it one that never
 * could (KubeCodeRun answers the former as unknown). */
bool
api_id_plausible(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	return n > 0 && n <= 128 &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* POST /exec: the request validated into an execution, and the reply
 * LibreChat reads (spec/librechat-api.md §4). */
#include <config.h>

#include "base/encode.h"
#include "server/api-internal.h"
#include "base/clock.h"
#include "base/log.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int
parse_file_ref(const cJSON *f, struct kcr_file_ref *ref, struct verr *v)
{
	if (!cJSON_IsObject(f))
		return api_fail(v, 422, "body -> files", "each file must be an object");
	if (api_opt_string(f, "id", "body -> files -> id", &ref->id, v) < 0 ||
	    api_opt_string(f, "session_id", "body -> files -> session_id", &ref->session_id, v) <
		    0 ||
	    api_opt_string(f, "name", "body -> files -> name", &ref->name, v) < 0)
		return -1;
	if (ref->session_id == NULL &&
	    api_opt_string(f, "storage_session_id", "body -> files -> storage_session_id",
			   &ref->session_id, v) < 0)
		return -1;
	if (ref->id == NULL || ref->session_id == NULL)
		return api_fail(v, 422, "body -> files", "a file needs 'id' and 'session_id'");
	if (!kcr_id_valid(ref->id) || !kcr_id_valid(ref->session_id))
		return api_fail(v, 400, "body -> files", "invalid file or session id in files");
	if (ref->name && api_bad_name_reason(ref->name))
		return api_fail(v, 400, "body -> files -> name", "file name '%.64s' %s", ref->name,
				api_bad_name_reason(ref->name));
	return 0;
}

static int
parse_files(const cJSON *o, struct kcr_exec_request *c, struct verr *v)
{
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(o, "files"), *f;

	if (files == NULL || cJSON_IsNull(files))
		return 0;
	if (!cJSON_IsArray(files))
		return api_fail(v, 422, "body -> files", "'files' must be an array");
	c->files = kcr_xzalloc(((size_t)cJSON_GetArraySize(files) + 1) * sizeof(*c->files));
	cJSON_ArrayForEach (f, files) {
		if (parse_file_ref(f, &c->files[c->n_files++], v) < 0)
			return -1;
	}
	return 0;
}

static void
parse_args(const cJSON *o, struct kcr_exec_request *c)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(o, "args"), *a;

	/* KubeCodeRun accepts any type here; strings become argv, the rest is ignored */
	c->args = kcr_xzalloc(sizeof(char *));
	if (cJSON_IsString(args)) {
		kcr_strv_push(&c->args, args->valuestring);
		return;
	}
	if (!cJSON_IsArray(args))
		return;
	cJSON_ArrayForEach (a, args) {
		if (cJSON_IsString(a))
			kcr_strv_push(&c->args, a->valuestring);
	}
}

static int
parse_timeout(const cJSON *o, struct kcr_exec_request *c, struct verr *v)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "timeout");

	if (t == NULL || cJSON_IsNull(t))
		return 0;
	if (!cJSON_IsNumber(t))
		return api_fail(v, 422, "body -> timeout",
				"'timeout' must be a number of milliseconds");
	if (t->valuedouble < 1000 || t->valuedouble > 300000)
		return api_fail(v, 400, "body -> timeout", "'timeout' must be 1000..300000 ms");
	c->limits.timeout_ms = (uint32_t)t->valuedouble;
	return 0;
}

static int
parse_ids(const cJSON *o, struct kcr_exec_request *c, struct verr *v)
{
	if (api_opt_string(o, "session_id", "body -> session_id", &c->session_id, v) < 0 ||
	    api_opt_string(o, "entity_id", "body -> entity_id", &c->entity_id, v) < 0 ||
	    api_opt_string(o, "user_id", "body -> user_id", &c->user_id, v) < 0)
		return -1;
	if (c->session_id && !kcr_id_valid(c->session_id))
		return api_fail(v, 400, "body -> session_id", "invalid session id");
	if (c->entity_id && !api_valid_entity_id(c->entity_id))
		return api_fail(v, 400, "body -> entity_id",
				"entity_id must be 1..40 characters of [A-Za-z0-9_-]");
	return 0;
}

static int
parse_lang_code(const cJSON *o, struct kcr_exec_request *c, struct verr *v)
{
	const cJSON *lang = cJSON_GetObjectItemCaseSensitive(o, "lang");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "code");

	if (!cJSON_IsString(lang))
		return api_fail(v, 422, "body -> lang", "'lang' is required and must be a string");
	if (!cJSON_IsString(code))
		return api_fail(v, 422, "body -> code", "'code' is required and must be a string");
	c->lang = kcr_lang_find(lang->valuestring);
	if (c->lang == NULL)
		return api_fail(v, 400, "body -> lang", "Unsupported programming language: %.40s",
				lang->valuestring);
	c->code = kcr_xstrdup(code->valuestring);
	c->code_len = strlen(code->valuestring);
	return 0;
}

int
api_parse_exec(const char *body, size_t len, struct kcr_exec_request *c, struct verr *v)
{
	cJSON *o;
	int r = -1;

	body = body ? body : "";
	if (api_json_has_nul_escape(body, len))
		return api_fail(v, 400, "body", "NUL characters are not allowed");
	o = cJSON_ParseWithLength(body, len);
	if (o == NULL)
		return api_fail(v, 400, "body", "malformed JSON");
	if (!cJSON_IsObject(o))
		api_fail(v, 422, "body", "the body must be a JSON object");
	else if (parse_lang_code(o, c, v) == 0 && parse_ids(o, c, v) == 0 &&
		 parse_files(o, c, v) == 0 && parse_timeout(o, c, v) == 0)
		r = 0;
	if (r == 0)
		parse_args(o, c);
	cJSON_Delete(o);
	return r;
}

/* LibreChat shows stdout to a model: clean text with a final newline. */
static void
add_stream(cJSON *o, const char *name, const char *p, size_t n, bool newline)
{
	kcr_autofree char *s = kcr_utf8_clean(p ? p : "", p ? n : 0);
	size_t len = strlen(s);

	if (newline && len && s[len - 1] != '\n') {
		char *t = kcr_strdup_printf("%s\n", s);

		free(s);
		s = t;
	}
	cJSON_AddStringToObject(o, name, s);
}

static cJSON *
exec_reply(const struct kcr_exec_result *r)
{
	cJSON *o = cJSON_CreateObject(), *files;

	cJSON_AddStringToObject(o, "session_id", r->session_id);
	add_stream(o, "stdout", r->out, r->out_len, true);
	add_stream(o, "stderr", r->err, r->err_len, false);
	files = cJSON_AddArrayToObject(o, "files");
	for (size_t i = 0; i < r->n_files; i++)
		cJSON_AddItemToArray(files, api_file_ref_json(&r->files[i]));
	cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
	cJSON_AddBoolToObject(o, "timed_out", r->timed_out);
	cJSON_AddNumberToObject(o, "duration_ms", (double)r->total_us / 1000.0);
	cJSON_AddBoolToObject(o, "has_state", r->has_state);
	if (r->has_state) {
		cJSON_AddNumberToObject(o, "state_size", (double)r->state_size);
		cJSON_AddStringToObject(o, "state_hash", r->state_hash);
	}
	/* what of the globals was not saved: for the client and the log, not
	 * in the program's stderr (a chat would show it as an error) */
	if (r->state_note)
		cJSON_AddStringToObject(o, "state_note", r->state_note);
	return o;
}

/* ---- handlers ------------------------------------------------------- */

/* What each key used, per language (usage.h): executions, those that
 * failed (a non-zero exit, a timeout, or no result), the milliseconds
 * they ran in their sandboxes (wall) and the CPU time they used, and the
 * bytes they returned (stdout, stderr and output files). GET /admin/usage reads them back. */
static void
record_usage(struct kcr_api *api, const struct kcr_http_req *req, const struct kcr_lang *lang,
	     const struct kcr_exec_result *r, bool ok)
{
	int64_t v[KCR_USAGE_FIELDS] = {
		[KCR_USAGE_EXECUTIONS] = 1,
		[KCR_USAGE_ERRORS] = !ok || r->exit_code != 0 || r->timed_out,
		[KCR_USAGE_RUN_MS] = (int64_t)r->duration_ms,
		[KCR_USAGE_BYTES] = (int64_t)(r->out_len + r->err_len),
		[KCR_USAGE_CPU_MS] = (int64_t)r->cpu_ms,
	};

	if (strncmp(req->tenant, "key:", 4) != 0 || lang == NULL)
		return;
	for (size_t i = 0; i < r->n_files; i++)
		v[KCR_USAGE_BYTES] += (int64_t)r->files[i].size;
	kcr_usage_add(api->usage, req->tenant + 4, lang->id, v);
}

/* The dashboard's executions per minute and latency (activity.h): every
 * tenant's, timed from the request's arrival, so a wait for a sandbox
 * counts as the client sees it. */
static void
record_activity(struct kcr_api *api, const struct kcr_http_req *req, const struct kcr_lang *lang,
		const struct kcr_exec_result *r, bool ok)
{
	if (lang == NULL || api->activity == NULL)
		return;
	kcr_activity_exec(api->activity, lang->id, (double)(kcr_now_ns() - req->start_ns) / 1e6,
			  !ok || r->exit_code != 0 || r->timed_out);
}

void
api_h_exec(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	struct kcr_api *api = ud;
	struct kcr_exec_request c = { 0 };
	struct kcr_exec_result r = { 0 };
	struct verr v = { 0 };
	kcr_error_t err = NULL;

	/* the key's cap on executions at once, in this replica */
	if (!kcr_conc_acquire(api->conc, req->tenant, req->max_concurrent)) {
		kcr_http_req_add_header(req, "Retry-After", "1");
		kcr_http_reply_error(resp, req, 429, "rate_limited", NULL,
				     "too many executions at once for this key (at most %u)",
				     req->max_concurrent);
		return;
	}
	c.tenant = kcr_xstrdup(req->tenant);
	if (api_parse_exec(req->body.data, req->body.len, &c, &v) < 0)
		api_reply_verr(resp, req, &v);
	else if (kcr_service_exec(api->svc, &c, &r, &err) < 0) {
		record_usage(api, req, c.lang, &r, false);
		record_activity(api, req, c.lang, &r, false);
		api_reply_service_error(resp, req, err);
	} else {
		if (r.state_note)
			kcr_log_info("request %s, session %s: state: %s", req->request_id,
				     r.session_id, r.state_note);
		record_usage(api, req, c.lang, &r, true);
		record_activity(api, req, c.lang, &r, true);
		kcr_http_reply_json(resp, 200, exec_reply(&r));
	}
	kcr_conc_release(api->conc, req->tenant);
	kcr_exec_result_release(&r);
	kcr_exec_request_release(&c);
}

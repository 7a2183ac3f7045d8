/* POST /exec from the CLI: the request body, and the reply read back into
 * an execution result. */
#include <config.h>

#include "base/filename.h"
#include "base/json.h"
#include "client/api_client-internal.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- POST /exec ------------------------------------------------------- */

static char *
exec_body(const struct kcr_exec_request *call)
{
	cJSON *o = cJSON_CreateObject(), *args, *files;

	cJSON_AddStringToObject(o, "lang", call->lang->id);
	cJSON_AddStringToObject(o, "code", call->code);
	args = cJSON_AddArrayToObject(o, "args");
	for (size_t i = 0; call->args && call->args[i]; i++)
		cJSON_AddItemToArray(args, cJSON_CreateString(call->args[i]));
	apic_add_opt_string(o, "session_id", call->session_id);
	apic_add_opt_string(o, "entity_id", call->entity_id);
	apic_add_opt_string(o, "user_id", call->user_id);
	files = cJSON_AddArrayToObject(o, "files");
	for (size_t i = 0; i < call->n_files; i++) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddStringToObject(f, "id", call->files[i].id);
		cJSON_AddStringToObject(f, "session_id", call->files[i].session_id);
		apic_add_opt_string(f, "name", call->files[i].name);
		cJSON_AddItemToArray(files, f);
	}
	if (call->limits.timeout_ms)
		cJSON_AddNumberToObject(o, "timeout", call->limits.timeout_ms);
	return kcr_json_print_free(o);
}

static void
set_stream(char **p, size_t *len, const char *s)
{
	*p = kcr_xstrdup(s ? s : "");
	*len = strlen(*p);
}

static int
parse_output_file(const struct kcr_api_client *c, const cJSON *f, const char *sid,
		  struct kcr_file_meta *m, kcr_error_t *err)
{
	const char *id = kcr_json_str(f, "id"), *fsid = kcr_json_str(f, "session_id");
	const char *name = kcr_json_str(f, "name");

	if (!kcr_id_valid(id))
		return apic_malformed(c, "an output file without a valid id", err);
	memset(m, 0, sizeof(*m));
	memcpy(m->id, id, sizeof(m->id));
	memcpy(m->session_id, kcr_id_valid(fsid) ? fsid : sid, sizeof(m->session_id));
	m->name = kcr_sanitize_filename(name && *name ? name : id);
	m->size = kcr_json_u64(f, "size", 0);
	m->kind = kcr_xstrdup("output");
	return 0;
}

static int
parse_exec_reply(const struct kcr_api_client *c, const cJSON *o, struct kcr_exec_result *res,
		 kcr_error_t *err)
{
	const char *sid = kcr_json_str(o, "session_id");
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(o, "files"), *f;

	if (!cJSON_IsArray(files))
		files = NULL; /* KubeCodeRun may leave it out */
	if (!kcr_id_valid(sid))
		return apic_malformed(c, "no valid session_id", err);
	memcpy(res->session_id, sid, sizeof(res->session_id));
	set_stream(&res->out, &res->out_len, kcr_json_str(o, "stdout"));
	set_stream(&res->err, &res->err_len, kcr_json_str(o, "stderr"));
	res->exit_code = (int)kcr_json_num(o, "exit_code", 0);
	res->timed_out = kcr_json_bool(o, "timed_out", false);
	res->has_state = kcr_json_bool(o, "has_state", false);
	res->state_size = kcr_json_u64(o, "state_size", 0);
	res->state_note = kcr_xstrdup(kcr_json_str(o, "state_note"));
	if (kcr_json_str(o, "state_hash") && strlen(kcr_json_str(o, "state_hash")) == 64)
		memcpy(res->state_hash, kcr_json_str(o, "state_hash"), sizeof(res->state_hash));
	res->total_us = (uint64_t)(kcr_json_num(o, "duration_ms", 0) * 1000);
	res->files = kcr_xzalloc(((size_t)cJSON_GetArraySize(files) + 1) * sizeof(*res->files));
	cJSON_ArrayForEach (f, files) {
		if (parse_output_file(c, f, sid, &res->files[res->n_files], err) < 0)
			return -1;
		res->n_files++;
	}
	return 0;
}

int
kcr_api_client_exec(struct kcr_api_client *c, const struct kcr_exec_request *call,
		    struct kcr_exec_result *res, kcr_error_t *err)
{
	kcr_autofree char *body = NULL;
	cJSON *o = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	if (call->lang == NULL || call->code == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0, "no language or code given");
	if (memchr(call->code, '\0', call->code_len))
		return kcr_error_set(err, KCR_E_INVALID, 0, "the code contains NUL bytes");
	body = exec_body(call);
	if (apic_perform_json(c, "POST", "/exec", body, NULL, &o, err) < 0)
		return -1;
	r = parse_exec_reply(c, o, res, err);
	cJSON_Delete(o);
	if (r < 0)
		kcr_exec_result_release(res);
	return r;
}

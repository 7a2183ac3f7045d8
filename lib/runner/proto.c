#include <config.h>

#include "base/json.h"
#include "base/encode.h"
#include "base/ids.h"
#include "runner/proto.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

static void
add_b64(cJSON *o, const char *name, const char *p, size_t n)
{
	kcr_autofree char *b = kcr_base64_encode(p ? p : "", p ? n : 0);

	cJSON_AddStringToObject(o, name, b);
}

char *
kcr_proto_exec_req_encode(const struct kcr_exec_request *req)
{
	cJSON *o = cJSON_CreateObject(), *args = cJSON_AddArrayToObject(o, "args");
	const struct kcr_limits *l = &req->limits;

	cJSON_AddStringToObject(o, "language", req->lang->id);
	add_b64(o, "code_b64", req->code, req->code_len);
	for (size_t i = 0; req->args && req->args[i]; i++)
		cJSON_AddItemToArray(args, cJSON_CreateString(req->args[i]));
	if (req->stdin_data)
		add_b64(o, "stdin_b64", req->stdin_data, req->stdin_len);
	cJSON_AddNumberToObject(o, "timeout_ms", l->timeout_ms);
	cJSON_AddNumberToObject(o, "output_bytes", (double)l->output_bytes);
	cJSON_AddNumberToObject(o, "nofile", l->nofile);
	cJSON_AddNumberToObject(o, "file_size", (double)l->file_size);
	cJSON_AddNumberToObject(o, "pids", l->pids);
	if (l->cpus > 0)
		cJSON_AddNumberToObject(o, "cpus", l->cpus);
	cJSON_AddNumberToObject(o, "max_output_files", l->max_output_files);
	/* the runner does not know the data size: the cap travels resolved */
	if (l->output_total || l->data_size_mb)
		cJSON_AddNumberToObject(o, "output_total",
					(double)(l->output_total
							 ? l->output_total
							 : (uint64_t)l->data_size_mb << 20));
	if (req->state_in)
		add_b64(o, "state_in_b64", req->state_in, req->state_in_len);
	if (req->want_state)
		cJSON_AddBoolToObject(o, "want_state", true);
	if (req->state_max)
		cJSON_AddNumberToObject(o, "state_max", (double)req->state_max);
	return kcr_json_print_free(o);
}

static int
get_b64(const cJSON *o, const char *name, bool required, char **out, size_t *len, kcr_error_t *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (v == NULL && !required)
		return 0;
	if (!cJSON_IsString(v))
		return kcr_error_set(err, KCR_E_INVALID, 0, "'%s' must be a base64 string", name);
	if (kcr_base64_decode(v->valuestring, out, len, err) < 0)
		return kcr_error_wrap(err, "'%s'", name);
	return 0;
}

static int
decode_args(const cJSON *o, char ***out, kcr_error_t *err)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(o, "args"), *a;
	char **v = kcr_xzalloc(sizeof(char *));

	cJSON_ArrayForEach (a, args) {
		if (!cJSON_IsString(a)) {
			kcr_strv_free(v);
			return kcr_error_set(err, KCR_E_INVALID, 0, "'args' must be strings");
		}
		kcr_strv_push(&v, a->valuestring);
	}
	*out = v;
	return 0;
}

int
kcr_proto_exec_req_decode(const char *json, size_t len, struct kcr_exec_request *req,
			  kcr_error_t *err)
{
	cJSON *o = cJSON_ParseWithLength(json, len);
	const char *lang;
	struct kcr_limits *l = &req->limits;
	int r = -1;

	memset(req, 0, sizeof(*req));
	if (!cJSON_IsObject(o)) {
		kcr_error_set(err, KCR_E_INVALID, 0, "request body is not a JSON object");
		goto out;
	}
	lang = kcr_json_str(o, "language");
	req->lang = kcr_lang_lookup(lang ? lang : "", err);
	if (req->lang == NULL ||
	    get_b64(o, "code_b64", true, &req->code, &req->code_len, err) < 0 ||
	    get_b64(o, "stdin_b64", false, &req->stdin_data, &req->stdin_len, err) < 0 ||
	    get_b64(o, "state_in_b64", false, &req->state_in, &req->state_in_len, err) < 0 ||
	    decode_args(o, &req->args, err) < 0)
		goto out;
	l->timeout_ms = (uint32_t)kcr_json_u64(o, "timeout_ms", KCR_DEFAULT_TIMEOUT_MS);
	l->output_bytes = kcr_json_u64(o, "output_bytes", KCR_DEFAULT_OUTPUT_BYTES);
	l->nofile = (uint32_t)kcr_json_u64(o, "nofile", KCR_DEFAULT_NOFILE);
	l->file_size = kcr_json_u64(o, "file_size", (uint64_t)KCR_DEFAULT_FILE_SIZE_MB << 20);
	/* an absent "pids" sets no RLIMIT_NPROC, as --pids left out of kcr-runner does */
	l->pids = (uint32_t)kcr_json_u64(o, "pids", 0);
	l->cpus = kcr_json_num(o, "cpus", 0);
	l->max_output_files =
		(uint32_t)kcr_json_u64(o, "max_output_files", KCR_DEFAULT_MAX_OUTPUT_FILES);
	l->output_total = kcr_json_u64(o, "output_total", 0);
	req->want_state = kcr_json_bool(o, "want_state", false);
	req->state_max = kcr_json_u64(o, "state_max", 0);
	r = 0;
out:
	if (r < 0)
		kcr_exec_request_release(req);
	cJSON_Delete(o);
	return r;
}

static cJSON *
files_array(const struct kcr_file_info *files, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddStringToObject(f, "name", files[i].name);
		cJSON_AddNumberToObject(f, "size", (double)files[i].size);
		char ns[24];

		snprintf(ns, sizeof(ns), "%lld", (long long)files[i].mtime_ns);
		cJSON_AddStringToObject(f, "mtime_ns", ns); /* a double would lose precision */
		cJSON_AddItemToArray(a, f);
	}
	return a;
}

char *
kcr_proto_files_encode(const struct kcr_file_info *files, size_t n)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddItemToObject(o, "files", files_array(files, n));
	return kcr_json_print_free(o);
}

char *
kcr_proto_exec_res_encode(const struct kcr_exec_result *res)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "exit_code", res->exit_code);
	cJSON_AddNumberToObject(o, "signal", res->signal);
	cJSON_AddBoolToObject(o, "timed_out", res->timed_out);
	add_b64(o, "stdout_b64", res->out, res->out_len);
	add_b64(o, "stderr_b64", res->err, res->err_len);
	cJSON_AddBoolToObject(o, "stdout_truncated", res->out_truncated);
	cJSON_AddBoolToObject(o, "stderr_truncated", res->err_truncated);
	cJSON_AddNumberToObject(o, "duration_ms", (double)res->duration_ms);
	cJSON_AddNumberToObject(o, "cpu_ms", (double)res->cpu_ms);
	cJSON_AddItemToObject(o, "changed", files_array(res->changed, res->n_changed));
	if (res->state_out)
		add_b64(o, "state_out_b64", res->state_out, res->state_out_len);
	if (res->state_note)
		cJSON_AddStringToObject(o, "state_note", res->state_note);
	return kcr_json_print_free(o);
}

static int
decode_changed(const cJSON *o, struct kcr_exec_result *res, kcr_error_t *err)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "changed"), *f;
	size_t n = (size_t)cJSON_GetArraySize(a), i = 0;

	res->changed = kcr_xzalloc((n ? n : 1) * sizeof(*res->changed));
	cJSON_ArrayForEach (f, a) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");

		if (!cJSON_IsString(name) || !kcr_name_is_safe(name->valuestring))
			return kcr_error_set(err, KCR_E_BACKEND, 0, "runner sent a bad file name");
		res->changed[i].name = kcr_xstrdup(name->valuestring);
		res->changed[i].size = kcr_json_u64(f, "size", 0);
		const char *mt = kcr_json_str(f, "mtime_ns");

		res->changed[i].mtime_ns = mt ? strtoll(mt, NULL, 10) : 0;
		res->n_changed = ++i;
	}
	return 0;
}

int
kcr_proto_exec_res_decode(const char *json, size_t len, struct kcr_exec_result *res,
			  kcr_error_t *err)
{
	cJSON *o = cJSON_ParseWithLength(json, len);
	int r = -1;

	kcr_exec_result_clear_program(res);
	if (!cJSON_IsObject(o)) {
		kcr_error_set(err, KCR_E_BACKEND, 0, "runner sent an invalid response");
		goto out;
	}
	if (get_b64(o, "stdout_b64", true, &res->out, &res->out_len, err) < 0 ||
	    get_b64(o, "stderr_b64", true, &res->err, &res->err_len, err) < 0 ||
	    get_b64(o, "state_out_b64", false, &res->state_out, &res->state_out_len, err) < 0 ||
	    decode_changed(o, res, err) < 0)
		goto out;
	res->exit_code = (int)kcr_json_u64(o, "exit_code", 125);
	res->signal = (int)kcr_json_u64(o, "signal", 0);
	res->timed_out = kcr_json_bool(o, "timed_out", false);
	res->out_truncated = kcr_json_bool(o, "stdout_truncated", false);
	res->err_truncated = kcr_json_bool(o, "stderr_truncated", false);
	res->duration_ms = kcr_json_u64(o, "duration_ms", 0);
	res->cpu_ms = kcr_json_u64(o, "cpu_ms", 0);
	res->state_note = kcr_xstrdup(kcr_json_str(o, "state_note"));
	r = 0;
out:
	if (r < 0)
		kcr_exec_result_clear_program(res);
	cJSON_Delete(o);
	return r;
}

char *
kcr_proto_error_encode(const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", msg);
	return kcr_json_print_free(o);
}

#include <config.h>

#include "base/exec.h"
#include "base/util.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void
kcr_limits_defaults(struct kcr_limits *l)
{
	*l = (struct kcr_limits){
		.timeout_ms = KCR_DEFAULT_TIMEOUT_MS,
		.memory_mb = KCR_DEFAULT_MEMORY_MB,
		.pids = KCR_DEFAULT_PIDS,
		.cpus = KCR_DEFAULT_CPUS,
		.nofile = KCR_DEFAULT_NOFILE,
		.file_size = (uint64_t)KCR_DEFAULT_FILE_SIZE_MB << 20,
		.output_bytes = KCR_DEFAULT_OUTPUT_BYTES,
		.tmp_size_mb = KCR_DEFAULT_TMP_SIZE_MB,
		.data_size_mb = KCR_DEFAULT_DATA_SIZE_MB,
		.max_output_files = KCR_DEFAULT_MAX_OUTPUT_FILES,
		.code_bytes = KCR_DEFAULT_CODE_BYTES,
	};
}

void
kcr_limits_from_config(struct kcr_limits *l, const struct kcr_config *c,
		       const struct kcr_lang *lang)
{
	int64_t t = kcr_config_int(c, "limits.timeout");
	int64_t m = kcr_config_int(c, "limits.memory_mb");

	kcr_limits_defaults(l);
	if (t > 0 || lang)
		l->timeout_ms = (uint32_t)((t > 0 ? t : lang->timeout_s) * 1000);
	if (m > 0 || lang)
		l->memory_mb = (uint32_t)(m > 0 ? m : lang->memory_mb);
	l->pids = (uint32_t)kcr_config_int(c, "limits.pids");
	l->cpus = kcr_config_double(c, "limits.cpus");
	l->nofile = (uint32_t)kcr_config_int(c, "limits.nofile");
	l->file_size = (uint64_t)kcr_config_int(c, "limits.file_size_mb") << 20;
	l->output_bytes = (uint64_t)kcr_config_int(c, "limits.output_bytes");
	l->tmp_size_mb = (uint32_t)kcr_config_int(c, "limits.tmp_size_mb");
	l->data_size_mb = (uint32_t)kcr_config_int(c, "limits.data_size_mb");
	l->max_output_files = (uint32_t)kcr_config_int(c, "limits.max_output_files");
	l->output_total = (uint64_t)kcr_config_int(c, "limits.output_total_mb") << 20;
	l->code_bytes = (uint64_t)kcr_config_int(c, "limits.code_bytes");
}

void
kcr_exec_request_release(struct kcr_exec_request *r)
{
	free(r->code);
	kcr_strv_free(r->args);
	free(r->stdin_data);
	free(r->state_in);
	free(r->tenant);
	free(r->session_id);
	free(r->entity_id);
	free(r->user_id);
	for (size_t i = 0; i < r->n_files; i++)
		kcr_file_ref_release(&r->files[i]);
	free(r->files);
	for (size_t i = 0; i < r->n_inputs; i++)
		kcr_file_release(&r->inputs[i]);
	free(r->inputs);
	memset(r, 0, sizeof(*r));
}

void
kcr_exec_result_clear_program(struct kcr_exec_result *r)
{
	free(r->out);
	free(r->err);
	for (size_t i = 0; i < r->n_changed; i++)
		kcr_file_info_release(&r->changed[i]);
	free(r->changed);
	free(r->state_note);
	free(r->state_out);
	/* the program's part runs from the first member to state_out_len */
	memset(r, 0, offsetof(struct kcr_exec_result, state_out_len) + sizeof(r->state_out_len));
}

void
kcr_exec_result_release(struct kcr_exec_result *r)
{
	kcr_exec_result_clear_program(r);
	for (size_t i = 0; i < r->n_outputs; i++)
		kcr_file_release(&r->outputs[i]);
	free(r->outputs);
	kcr_file_meta_list_free(r->files, r->n_files);
	memset(r, 0, sizeof(*r));
}

void
kcr_exec_result_append_err(struct kcr_exec_result *r, const char *fmt, ...)
{
	struct kcr_buf b = { .data = r->err, .len = r->err_len, .cap = r->err_len + 1 };
	kcr_autofree char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	if (b.data == NULL)
		kcr_buf_init(&b);
	if (b.len > 0 && b.data[b.len - 1] != '\n')
		kcr_buf_add(&b, "\n", 1);
	kcr_buf_addf(&b, "%s\n", line);
	r->err = kcr_buf_steal(&b, &r->err_len);
}

void
kcr_exec_result_state_note(struct kcr_exec_result *r, const char *fmt, ...)
{
	kcr_autofree char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	kcr_str_append_printf(&r->state_note, "\n", "%s", line);
}

/* kcr exec: run a program in a sandbox, exit with its exit code. */
#include <config.h>

#include "cmd.h"
#include "exec.h"
#include "orchestrator.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { O_LANG, O_CODE, O_STDIN, O_FILE, O_OUTDIR, O_FORCE, O_TIMEOUT, O_MEMORY, O_JSON };

static const struct kcr_opt exec_opts[] = {
	[O_LANG] = { "lang", 'l', "LANG", "language (see 'kcr languages'); default: from FILE's extension", "lang" },
	[O_CODE] = { "code", 'c', "CODE", "run CODE instead of a file", NULL },
	[O_STDIN] = { "stdin", 0, "FILE", "feed FILE to the program's standard input", "file" },
	[O_FILE] = { "file", 'f', "PATH", "place PATH in /mnt/data (repeatable)", "file" },
	[O_OUTDIR] = { "output-dir", 'o', "DIR", "write created or changed files to DIR (default: .)", "dir" },
	[O_FORCE] = { "force", 0, NULL, "overwrite existing files in the output dir", NULL },
	[O_TIMEOUT] = { "timeout", 0, "SECONDS", "wall-clock limit (default: the language's)", NULL },
	[O_MEMORY] = { "memory", 0, "MB", "memory limit in MiB (default: the language's)", NULL },
	[O_JSON] = { "json", 0, NULL, "print the result as JSON instead of the program's output", NULL },
	{ NULL },
};

struct exec_args {
	const char *lang, *code, *stdin_path, *outdir, *timeout, *memory;
	char **files;
	bool force, json;
};

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	struct exec_args *a = data;

	switch (id) {
	case O_LANG: a->lang = arg; break;
	case O_CODE: a->code = arg; break;
	case O_STDIN: a->stdin_path = arg; break;
	case O_FILE: kcr_strv_push(&a->files, arg); break;
	case O_OUTDIR: a->outdir = arg; break;
	case O_FORCE: a->force = true; break;
	case O_TIMEOUT: a->timeout = arg; break;
	case O_MEMORY: a->memory = arg; break;
	case O_JSON: a->json = true; break;
	default: return -1;
	}
	return 0;
}

static int
read_source(const char *path, const char *code, struct kcr_exec_req *x, kcr_error_t *err)
{
	if (code) {
		x->code = kcr_xstrdup(code);
		x->code_len = strlen(code);
		return 0;
	}
	if (strcmp(path, "-") == 0) {
		if (kcr_read_fd(0, 0, &x->code, &x->code_len, err) < 0)
			return kcr_error_wrap(err, "reading code from stdin");
		return 0;
	}
	return kcr_read_file(path, 0, &x->code, &x->code_len, err);
}

static int
pick_lang(const struct exec_args *a, const char *path, struct kcr_exec_req *x, kcr_error_t *err)
{
	if (a->lang) {
		x->lang = kcr_lang_lookup(a->lang, err);
		return x->lang ? 0 : -1;
	}
	x->lang = path && strcmp(path, "-") ? kcr_lang_for_path(path) : NULL;
	if (x->lang == NULL)
		return kcr_cmd_usage_error(&kcr_cmd_exec, err,
					   path && strcmp(path, "-")
						   ? "cannot tell the language of '%s'; use -l LANG"
						   : "no language given%s; use -l LANG", path && strcmp(path, "-") ? path : "");
	return 0;
}

static int
read_inputs(char **files, struct kcr_run_req *req, kcr_error_t *err)
{
	size_t n = kcr_strv_len(files);

	req->inputs = kcr_xzalloc((n ? n : 1) * sizeof(*req->inputs));
	for (size_t i = 0; i < n; i++) {
		struct kcr_file *f = &req->inputs[i];
		kcr_autofree char *copy = kcr_xstrdup(files[i]);

		if (kcr_read_file(files[i], 0, &f->data, &f->len, err) < 0)
			return kcr_error_wrap(err, "-f");
		f->name = kcr_xstrdup(basename(copy));
		req->n_inputs = i + 1;
	}
	return 0;
}

static int
apply_limits(const struct exec_args *a, struct kcr_limits *l, kcr_error_t *err)
{
	uint64_t v;

	if (a->timeout) {
		double s;

		if (kcr_parse_double(a->timeout, 0.1, 3600, &s, err) < 0)
			return kcr_error_wrap(err, "--timeout");
		l->timeout_ms = (uint32_t)(s * 1000);
	}
	if (a->memory) {
		if (kcr_parse_u64(a->memory, 16, 1 << 20, &v, err) < 0)
			return kcr_error_wrap(err, "--memory");
		l->memory_mb = (uint32_t)v;
	}
	return 0;
}

static int
build_request(struct kcr_ctx *ctx, const struct exec_args *a, const char *path, char **args,
	      struct kcr_run_req *req, kcr_error_t *err)
{
	struct kcr_exec_req *x = &req->exec;

	if (pick_lang(a, path, x, err) < 0)
		return -1;
	kcr_limits_from_config(&x->limits, ctx->cfg, x->lang);
	if (apply_limits(a, &x->limits, err) < 0 || read_source(path, a->code, x, err) < 0)
		return -1;
	if (a->stdin_path &&
	    kcr_read_file(a->stdin_path, 0, &x->stdin_data, &x->stdin_len, err) < 0)
		return kcr_error_wrap(err, "--stdin");
	x->args = kcr_strv_dup(args);
	return read_inputs(a->files, req, err);
}

/* Picks where an output goes without overwriting: name, else name.1, ... */
static char *
output_path(const char *dir, const char *name, bool force)
{
	char *p = kcr_strdup_printf("%s/%s", dir, name);

	for (int n = 1; !force && access(p, F_OK) == 0 && n < 10000; n++) {
		free(p);
		p = kcr_strdup_printf("%s/%s.%d", dir, name, n);
	}
	return p;
}

static int
write_outputs(const struct exec_args *a, struct kcr_run_res *res, cJSON *jfiles,
	      kcr_error_t *err)
{
	const char *dir = a->outdir ? a->outdir : ".";

	if (res->n_outputs && kcr_mkdir_p(dir, 0755, err) < 0)
		return -1;
	for (size_t i = 0; i < res->n_outputs; i++) {
		const struct kcr_file *f = &res->outputs[i];
		kcr_autofree char *want = kcr_strdup_printf("%s/%s", dir, f->name);
		kcr_autofree char *path = output_path(dir, f->name, a->force);
		cJSON *j;

		if (kcr_write_file(path, f->data, f->len, 0644, err) < 0)
			return -1;
		if (jfiles) {
			j = cJSON_CreateObject();
			cJSON_AddStringToObject(j, "name", f->name);
			cJSON_AddStringToObject(j, "path", path);
			cJSON_AddNumberToObject(j, "size", (double)f->len);
			cJSON_AddItemToArray(jfiles, j);
		} else if (strcmp(want, path) != 0) {
			fprintf(stderr, "kcr: wrote %s (%zu bytes; %s exists, --force overwrites)\n",
				path, f->len, want);
		} else {
			fprintf(stderr, "kcr: wrote %s (%zu bytes)\n", path, f->len);
		}
	}
	return 0;
}

static void
print_json(const struct kcr_run_res *res, cJSON *jfiles)
{
	const struct kcr_exec_res *x = &res->exec;
	cJSON *o = cJSON_CreateObject();
	kcr_autofree char *s = NULL;

	cJSON_AddNumberToObject(o, "exit_code", x->exit_code);
	cJSON_AddBoolToObject(o, "timed_out", x->timed_out);
	cJSON_AddBoolToObject(o, "oom_killed", x->oom_killed);
	cJSON_AddStringToObject(o, "stdout", x->out ? x->out : "");
	cJSON_AddStringToObject(o, "stderr", x->err ? x->err : "");
	cJSON_AddNumberToObject(o, "duration_ms", (double)x->duration_ms);
	cJSON_AddNumberToObject(o, "setup_ms", res->setup_us / 1000.0);
	cJSON_AddNumberToObject(o, "total_ms", res->total_us / 1000.0);
	cJSON_AddItemToObject(o, "files", jfiles);
	s = cJSON_Print(o);
	printf("%s\n", s);
	cJSON_Delete(o);
}

static int
report(const struct exec_args *a, struct kcr_run_res *res, kcr_error_t *err)
{
	cJSON *jfiles = a->json ? cJSON_CreateArray() : NULL;

	if (!a->json) {
		kcr_write_all(1, res->exec.out, res->exec.out_len);
		kcr_write_all(2, res->exec.err, res->exec.err_len);
	}
	if (write_outputs(a, res, jfiles, err) < 0) {
		cJSON_Delete(jfiles);
		return -1;
	}
	if (a->json)
		print_json(res, jfiles);
	fflush(stdout);
	return res->exec.exit_code;
}

static int
exec_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct exec_args a = { 0 };
	struct kcr_run_req req = { 0 };
	struct kcr_run_res res = { 0 };
	struct kcr_engine *engine = NULL;
	const char *path = NULL;
	int first, r;

	r = kcr_cmd_parse(&kcr_cmd_exec, argc, argv, on_opt, &a, &first, err);
	if (r != 0) {
		r = r == 1 ? 0 : -1; /* 1: --help was shown */
		goto out;
	}
	if (first < argc && strcmp(argv[first], "--") != 0)
		path = argv[first++];
	if (first < argc && strcmp(argv[first], "--") != 0) {
		r = kcr_cmd_usage_error(&kcr_cmd_exec, err,
					"unexpected argument '%s' (program arguments go after --)",
					argv[first]);
		goto out;
	}
	if (first < argc)
		first++; /* the "--" */
	r = -1;
	if (path == NULL && a.code == NULL)
		kcr_cmd_usage_error(&kcr_cmd_exec, err, "no code given (FILE, '-' or -c CODE)");
	else if (path && a.code)
		kcr_cmd_usage_error(&kcr_cmd_exec, err, "give either FILE or -c CODE, not both");
	else if (build_request(ctx, &a, path, argv + first, &req, err) == 0 &&
		 kcr_engine_validate(&req, err) == 0 &&
		 (engine = kcr_engine_new(ctx->cfg, err)) != NULL &&
		 kcr_engine_run(engine, &req, &res, err) == 0)
		r = report(&a, &res, err);
out:
	kcr_run_res_release(&res);
	kcr_run_req_release(&req);
	kcr_engine_free(engine);
	kcr_strv_free(a.files);
	return r;
}

const struct kcr_cmd kcr_cmd_exec = {
	.name = "exec",
	.usage = "kcr exec [-l LANG] [FILE|-] [-c CODE] [--stdin FILE] [-f PATH]... "
		 "[-o DIR] [--timeout S] [--memory MB] [--json] [-- ARGS...]",
	.summary = "Run code in a sandbox and exit with its exit code (124: timed out, "
		   "125: kcr failed, 2: usage).",
	.examples = "  kcr exec -l py -c 'print(6 * 7)'\n"
		    "  kcr exec hello.go\n"
		    "  echo 'console.log(1)' | kcr exec -l js -\n"
		    "  kcr exec plot.py -f data.csv -o out/\n"
		    "  kcr exec -l c prog.c --stdin input.txt -- arg1 arg2",
	.opts = exec_opts,
	.run = exec_run,
};

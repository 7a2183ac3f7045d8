/* kcr exec: run a program in a sandbox, exit with its exit code. With
 * --server, --session or --entity the run goes through a session (on a
 * kcr server, or in the local state dir): inputs are uploaded, outputs are
 * stored and fetched back, and the session can be used again. */
#include <config.h>

#include "client/client.h"
#include "base/files.h"
#include "base/ids.h"
#include "base/parse.h"
#include "cmd.h"
#include "base/exec.h"
#include "engine/engine.h"
#include "base/filename.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	O_LANG,
	O_CODE,
	O_STDIN,
	O_FILE,
	O_OUTDIR,
	O_FORCE,
	O_TIMEOUT,
	O_MEMORY,
	O_JSON,
	O_SERVER,
	O_SESSION,
	O_ENTITY,
};

static const struct kcr_opt exec_opts[] = {
	[O_LANG] = { "lang", 'l', "LANG",
		     "language (see 'kcr languages'); default: from FILE's extension", "lang" },
	[O_CODE] = { "code", 'c', "CODE", "run CODE instead of a file", NULL },
	[O_STDIN] = { "stdin", 0, "FILE", "feed FILE to the program's standard input", "file" },
	[O_FILE] = { "file", 'f', "PATH", "place PATH in /mnt/data (repeatable)", "file" },
	[O_OUTDIR] = { "output-dir", 'o', "DIR",
		       "write created or changed files to DIR (default: .)", "dir" },
	[O_FORCE] = { "force", 0, NULL, "overwrite existing files in the output dir", NULL },
	[O_TIMEOUT] = { "timeout", 0, "SECONDS", "wall-clock limit (default: the language's)",
			NULL },
	[O_MEMORY] = { "memory", 0, "MB", "memory limit in MiB (default: the language's)", NULL },
	[O_JSON] = { "json", 0, NULL, "print the result as JSON instead of the program's output",
		     NULL },
	[O_SERVER] = { "server", 0, "URL", "run on the kcr server at URL (default: client.server)",
		       NULL },
	[O_SESSION] = { "session", 0, "ID", "run in session ID, keeping inputs and outputs there",
			NULL },
	[O_ENTITY] = { "entity", 0, "ID", "run in the newest session of entity ID (an agent)",
		       NULL },
	{ NULL },
};

struct exec_args {
	struct kcr_config *cfg;
	const char *lang, *code, *stdin_path, *outdir, *timeout, *memory;
	const char *session, *entity;
	char **files;
	bool force, json;
};

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	struct exec_args *a = data;

	switch (id) {
	case O_LANG:
		a->lang = arg;
		break;
	case O_CODE:
		a->code = arg;
		break;
	case O_STDIN:
		a->stdin_path = arg;
		break;
	case O_FILE:
		kcr_strv_push(&a->files, arg);
		break;
	case O_OUTDIR:
		a->outdir = arg;
		break;
	case O_FORCE:
		a->force = true;
		break;
	case O_TIMEOUT:
		a->timeout = arg;
		break;
	case O_MEMORY:
		a->memory = arg;
		break;
	case O_JSON:
		a->json = true;
		break;
	case O_SERVER:
		return kcr_config_set(a->cfg, "client.server", arg, KCR_SRC_FLAG, err);
	case O_SESSION:
		a->session = arg;
		break;
	case O_ENTITY:
		a->entity = arg;
		break;
	default:
		return -1;
	}
	return 0;
}

static int
read_source(const char *path, const char *code, struct kcr_exec_request *x, kcr_error_t *err)
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
pick_lang(const struct exec_args *a, const char *path, struct kcr_exec_request *x, kcr_error_t *err)
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
						   : "no language given%s; use -l LANG",
					   path && strcmp(path, "-") ? path : "");
	return 0;
}

static int
read_inputs(char **files, struct kcr_exec_request *req, kcr_error_t *err)
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
	      struct kcr_exec_request *req, kcr_error_t *err)
{
	if (pick_lang(a, path, req, err) < 0)
		return -1;
	kcr_limits_from_config(&req->limits, ctx->cfg, req->lang);
	if (apply_limits(a, &req->limits, err) < 0 || read_source(path, a->code, req, err) < 0)
		return -1;
	if (a->stdin_path &&
	    kcr_read_file(a->stdin_path, 0, &req->stdin_data, &req->stdin_len, err) < 0)
		return kcr_error_wrap(err, "--stdin");
	req->args = kcr_strv_dup(args);
	return read_inputs(a->files, req, err);
}

/* Writes an output without overwriting anything: NAME, else NAME.1, NAME.2,
 * ... (O_EXCL, so a file that appears meanwhile is not clobbered either). */
static char *
write_output(const char *dir, const struct kcr_file *f, bool force, kcr_error_t *err)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL);

	for (int n = 0; n < 10000; n++) {
		char *p = n ? kcr_strdup_printf("%s/%s.%d", dir, f->name, n)
			    : kcr_strdup_printf("%s/%s", dir, f->name);
		kcr_autoclose int fd = open(p, flags, 0644);

		if (fd < 0 && errno == EEXIST && !force) {
			free(p);
			continue;
		}
		if (fd < 0 || kcr_file_write_to(f, fd) < 0) {
			kcr_error_set(err, KCR_E_IO, errno, "cannot write '%s'", p);
			free(p);
			return NULL;
		}
		return p;
	}
	kcr_error_set(err, KCR_E_IO, 0, "no free name for '%s' in %s", f->name, dir);
	return NULL;
}

/* "out/" and "out" name the same directory; print paths without "//". */
static char *
output_dir(const char *dir)
{
	char *d = kcr_xstrdup(dir ? dir : ".");
	size_t n = strlen(d);

	while (n > 1 && d[n - 1] == '/')
		d[--n] = '\0';
	return d;
}

/* ids: the stored files' records (session runs), or NULL. */
static int
write_outputs(const struct exec_args *a, const struct kcr_file *files, size_t n,
	      const struct kcr_file_meta *ids, cJSON *jfiles, kcr_error_t *err)
{
	kcr_autofree char *dir = output_dir(a->outdir);

	if (n && kcr_mkdir_p(dir, 0755, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct kcr_file *f = &files[i];
		kcr_autofree char *want = kcr_strdup_printf("%s/%s", dir, f->name);
		kcr_autofree char *path = write_output(dir, f, a->force, err);
		cJSON *j;

		if (path == NULL)
			return -1;
		if (jfiles) {
			j = cJSON_CreateObject();
			if (ids)
				cJSON_AddStringToObject(j, "id", ids[i].id);
			cJSON_AddStringToObject(j, "name", f->name);
			cJSON_AddStringToObject(j, "path", path);
			cJSON_AddNumberToObject(j, "size", (double)f->len);
			cJSON_AddItemToArray(jfiles, j);
		} else if (strcmp(want, path) != 0) {
			fprintf(stderr,
				"kcr: wrote %s (%zu bytes; %s exists, --force overwrites)\n", path,
				f->len, want);
		} else {
			fprintf(stderr, "kcr: wrote %s (%zu bytes)\n", path, f->len);
		}
	}
	return 0;
}

/* The --json result both kinds of run print: the program's outcome and
 * the files, plus what only one kind knows (extra's members, or NULL). */
static void
print_json(const struct kcr_exec_result *x, double duration_ms, cJSON *jfiles, cJSON *extra)
{
	cJSON *o = extra ? extra : cJSON_CreateObject();
	kcr_autofree char *s = NULL;

	cJSON_AddNumberToObject(o, "exit_code", x->exit_code);
	cJSON_AddBoolToObject(o, "timed_out", x->timed_out);
	cJSON_AddStringToObject(o, "stdout", x->out ? x->out : "");
	cJSON_AddStringToObject(o, "stderr", x->err ? x->err : "");
	cJSON_AddNumberToObject(o, "duration_ms", duration_ms);
	cJSON_AddItemToObject(o, "files", jfiles);
	s = cJSON_Print(o);
	printf("%s\n", s);
	cJSON_Delete(o);
}

static void
print_oneshot_json(const struct kcr_exec_result *res, cJSON *jfiles)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "oom_killed", res->oom_killed);
	cJSON_AddNumberToObject(o, "setup_ms", res->setup_us / 1000.0);
	cJSON_AddNumberToObject(o, "total_ms", res->total_us / 1000.0);
	print_json(res, (double)res->duration_ms, jfiles, o);
}

static int
report(const struct exec_args *a, struct kcr_exec_result *res, kcr_error_t *err)
{
	cJSON *jfiles = a->json ? cJSON_CreateArray() : NULL;

	if (!a->json) {
		kcr_write_all(1, res->out, res->out_len);
		kcr_write_all(2, res->err, res->err_len);
	}
	if (write_outputs(a, res->outputs, res->n_outputs, NULL, jfiles, err) < 0) {
		cJSON_Delete(jfiles);
		return -1;
	}
	if (a->json)
		print_oneshot_json(res, jfiles);
	fflush(stdout);
	return res->exit_code;
}

/* ---- runs in a session ------------------------------------------------- */

static bool
remote(const struct kcr_ctx *ctx)
{
	return *kcr_config_str(ctx->cfg, "client.server") != '\0';
}

static bool
session_mode(const struct kcr_ctx *ctx, const struct exec_args *a)
{
	return remote(ctx) || a->session || a->entity;
}

/* POST /exec takes 1000 to 300000 ms. */
static bool
api_timeout_ok(const char *s)
{
	double t = strtod(s, NULL);

	return t >= 1 && t <= 300;
}

static int
check_session_args(const struct kcr_ctx *ctx, const struct exec_args *a, kcr_error_t *err)
{
	if (remote(ctx) && a->stdin_path)
		return kcr_cmd_usage_error(&kcr_cmd_exec, err,
					   "--stdin is not part of the kcr API; it cannot be used "
					   "with --server");
	if (remote(ctx) && a->memory)
		return kcr_cmd_usage_error(&kcr_cmd_exec, err,
					   "--memory is not part of the kcr API; with --server the "
					   "server's limits apply");
	if (remote(ctx) && a->timeout && !api_timeout_ok(a->timeout))
		return kcr_cmd_usage_error(&kcr_cmd_exec, err,
					   "--timeout '%s': with --server it must be 1 to 300 "
					   "seconds (the API's range)",
					   a->timeout);
	if (a->session && kcr_client_check_id("session", a->session, err) < 0)
		return -1;
	if (a->entity && kcr_client_check_entity(a->entity, err) < 0)
		return -1;
	return 0;
}

/* What a session run checks before it uploads anything. Inputs get
 * LibreChat's names in a session, so two may collide only there. */
static int
check_inputs(const struct kcr_ctx *ctx, const struct kcr_exec_request *req, kcr_error_t *err)
{
	if (!remote(ctx) && kcr_engine_check_request(req, err) < 0)
		return -1;
	if (strspn(req->code, " \t\r\n\f\v") == req->code_len)
		return kcr_error_set(err, KCR_E_INVALID, 0, "empty code");
	for (size_t i = 0; i < req->n_inputs; i++) {
		kcr_autofree char *ni = kcr_sanitize_filename(req->inputs[i].name);

		for (size_t j = 0; j < i; j++) {
			kcr_autofree char *nj = kcr_sanitize_filename(req->inputs[j].name);

			if (strcmp(ni, nj) == 0)
				return kcr_error_set(err, KCR_E_INVALID, 0,
						     "two input files named '%s'", ni);
		}
	}
	return 0;
}

static bool
has_ref(const struct kcr_exec_request *call, const char *name)
{
	for (size_t i = 0; i < call->n_files; i++)
		if (strcmp(call->files[i].name, name) == 0)
			return true;
	return false;
}

static void
add_ref(struct kcr_exec_request *call, const struct kcr_file_meta *m)
{
	struct kcr_file_ref *f = &call->files[call->n_files++];

	f->id = kcr_xstrdup(m->id);
	f->session_id = kcr_xstrdup(m->session_id);
	f->name = kcr_xstrdup(m->name);
}

/* In session mode the request keeps its program; of the limits only
 * --timeout goes with it (the service, or the server, applies its own).
 * Its inputs, uploaded by now, become references: the uploaded ones, then
 * the newest file of each other name in --session (a session's files are
 * in /mnt/data when it is used again). */
static void
refer_to_session(const struct exec_args *a, struct kcr_exec_request *req,
		 const struct kcr_file_meta *up, const struct kcr_file_meta *sess, size_t n_sess)
{
	uint32_t timeout = a->timeout ? req->limits.timeout_ms : 0;
	size_t n_up = req->n_inputs;

	memset(&req->limits, 0, sizeof(req->limits));
	req->limits.timeout_ms = timeout;
	req->session_id = a->session ? kcr_xstrdup(a->session) : NULL;
	req->entity_id = a->entity ? kcr_xstrdup(a->entity) : NULL;
	req->files = kcr_xzalloc((n_up + n_sess + 1) * sizeof(*req->files));
	for (size_t i = 0; i < n_up; i++)
		add_ref(req, &up[i]);
	for (size_t i = n_sess; i-- > 0;) /* newest last */
		if (!has_ref(req, sess[i].name))
			add_ref(req, &sess[i]);
	for (size_t i = 0; i < n_up; i++)
		kcr_file_release(&req->inputs[i]);
	free(kcr_steal(&req->inputs));
	req->n_inputs = 0;
}

static void
undo_upload(struct kcr_client *c, const struct kcr_file_meta *up, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		kcr_error_t e = NULL;

		if (kcr_client_delete_file(c, up[i].session_id, up[i].id, &e) < 0)
			kcr_error_warn_release(&e);
	}
}

/* Every output is fetched before any is written. */
static int
fetch_outputs(struct kcr_client *c, const struct kcr_exec_result *res, struct kcr_file *out,
	      kcr_error_t *err)
{
	for (size_t i = 0; i < res->n_files; i++) {
		const struct kcr_file_meta *f = &res->files[i];
		struct kcr_file_meta m;

		if (kcr_client_get_file(c, f->session_id, f->id, &m, &out[i].data, &out[i].len,
					err) < 0)
			return kcr_error_wrap(err, "fetching output '%s'", f->name);
		kcr_file_meta_release(&m);
		out[i].name = kcr_xstrdup(f->name);
	}
	return 0;
}

/* kcr's words about the state, after the program's own stderr. */
static void
print_state_note(const char *note)
{
	kcr_autofree char *copy = kcr_xstrdup(note);

	for (char *line = copy, *nl; line && *line; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		fprintf(stderr, "kcr: state: %s\n", line);
	}
}

static void
print_session_json(const struct kcr_exec_result *res, cJSON *jfiles)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "session_id", res->session_id);
	if (res->state_note)
		cJSON_AddStringToObject(o, "state_note", res->state_note);
	print_json(res, res->total_us / 1000.0, jfiles, o);
}

static int
exit_status(const struct kcr_exec_result *x)
{
	if (x->timed_out)
		return 124;
	return x->exit_code >= 0 && x->exit_code <= 255 ? x->exit_code : 125;
}

static int
report_session(struct kcr_client *c, const struct exec_args *a, const struct kcr_exec_result *res,
	       kcr_error_t *err)
{
	struct kcr_file *out = kcr_xzalloc((res->n_files + 1) * sizeof(*out));
	cJSON *jfiles = a->json ? cJSON_CreateArray() : NULL;
	int r = -1;

	if (!a->json) {
		kcr_write_all(1, res->out, res->out_len);
		kcr_write_all(2, res->err, res->err_len);
	}
	if (a->session && strcmp(a->session, res->session_id) != 0)
		fprintf(stderr,
			"kcr: session %s not found (unknown or expired); ran in a new one\n",
			a->session);
	if (fetch_outputs(c, res, out, err) == 0 &&
	    write_outputs(a, out, res->n_files, res->files, jfiles, err) == 0)
		r = exit_status(res);
	if (r >= 0 && a->json) {
		print_session_json(res, jfiles);
		jfiles = NULL;
	} else if (r >= 0) {
		print_state_note(res->state_note);
		fprintf(stderr, "kcr: session %s\n", res->session_id);
	}
	cJSON_Delete(jfiles);
	for (size_t i = 0; i < res->n_files; i++)
		kcr_file_release(&out[i]);
	free(out);
	fflush(stdout);
	return r;
}

/* Inputs are uploaded first (one upload, one session, like LibreChat's
 * attachments), then the run refers to them. */
static int
session_exec(struct kcr_ctx *ctx, const struct exec_args *a, struct kcr_exec_request *req,
	     kcr_error_t *err)
{
	struct kcr_exec_result res = { 0 };
	struct kcr_file_meta *up = NULL, *sess = NULL;
	struct kcr_client *c = NULL;
	char up_sid[KCR_ID_LEN + 1];
	size_t n_up = req->n_inputs, n_sess = 0;
	int r = -1;

	if (check_inputs(ctx, req, err) < 0 ||
	    (!remote(ctx) && a->memory &&
	     kcr_config_set(ctx->cfg, "limits.memory_mb", a->memory, KCR_SRC_FLAG, err) < 0) ||
	    (c = kcr_client_open(ctx->cfg, err)) == NULL ||
	    (a->session && kcr_client_list(c, a->session, &sess, &n_sess, err) < 0))
		goto out;
	if (req->n_inputs &&
	    kcr_client_upload(c, NULL, a->entity, req->inputs, req->n_inputs, up_sid, &up, err) < 0)
		goto out;
	refer_to_session(a, req, up, sess, n_sess);
	if (kcr_client_exec(c, req, &res, err) < 0)
		undo_upload(c, up, n_up);
	else
		r = report_session(c, a, &res, err);
out:
	kcr_exec_result_release(&res);
	kcr_file_meta_list_free(up, up ? n_up : 0);
	kcr_file_meta_list_free(sess, n_sess);
	kcr_client_close(c);
	return r;
}

static int
exec_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct exec_args a = { .cfg = ctx->cfg };
	struct kcr_exec_request req = { 0 };
	struct kcr_exec_result res = { 0 };
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
	else if (session_mode(ctx, &a)) {
		if (check_session_args(ctx, &a, err) == 0 &&
		    build_request(ctx, &a, path, argv + first, &req, err) == 0)
			r = session_exec(ctx, &a, &req, err);
	} else if (build_request(ctx, &a, path, argv + first, &req, err) == 0 &&
		   kcr_engine_check_request(&req, err) == 0 &&
		   (engine = kcr_engine_new(ctx->cfg, err)) != NULL &&
		   kcr_engine_run(engine, &req, &res, err) == 0)
		r = report(&a, &res, err);
out:
	kcr_exec_result_release(&res);
	kcr_exec_request_release(&req);
	kcr_engine_free(engine);
	kcr_strv_free(a.files);
	return r;
}

const struct kcr_cmd kcr_cmd_exec = {
	.name = "exec",
	.usage = "kcr exec [-l LANG] [FILE|-] [-c CODE] [--stdin FILE] [-f PATH]... "
		 "[-o DIR] [--timeout S] [--memory MB] [--json] [--server URL] [--session ID] "
		 "[--entity ID] [-- ARGS...]",
	.summary = "Run code in a sandbox and exit with its exit code (124: timed out, "
		   "125: kcr failed, 2: usage).",
	.examples = "  kcr exec -l py -c 'print(6 * 7)'\n"
		    "  kcr exec hello.go\n"
		    "  echo 'console.log(1)' | kcr exec -l js -\n"
		    "  kcr exec plot.py -f data.csv -o out/\n"
		    "  kcr exec -l c prog.c --stdin input.txt -- arg1 arg2\n"
		    "  kcr exec --server http://127.0.0.1:8000 plot.py -f data.csv\n"
		    "  kcr exec --session Gq7Lm2Nx9PzR4tY8kWc3D -l py -c "
		    "'print(open(\"data.csv\").read())'",
	.opts = exec_opts,
	.run = exec_run,
};

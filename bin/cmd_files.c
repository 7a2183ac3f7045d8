/* kcr files ls|rm: the stored files of a session, locally or on a server. */
#include <config.h>

#include "client/client.h"
#include "base/clock.h"
#include "cmd.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const struct kcr_cmd kcr_cmd_files_ls, kcr_cmd_files_rm;

enum { O_SERVER, O_JSON };

static const struct kcr_opt ls_opts[] = {
	[O_SERVER] = { "server", 0, "URL", "use the kcr server at URL (default: client.server; "
					  "none: the local state dir)", NULL },
	[O_JSON] = { "json", 0, NULL, "print JSON", NULL },
	{ NULL },
};

static const struct kcr_opt rm_opts[] = {
	[O_SERVER] = { "server", 0, "URL", "use the kcr server at URL (default: client.server; "
					  "none: the local state dir)", NULL },
	{ NULL },
};

struct files_args {
	struct kcr_config *cfg;
	bool json;
};

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	struct files_args *a = data;

	switch (id) {
	case O_SERVER: return kcr_config_set(a->cfg, "client.server", arg, KCR_SRC_FLAG, err);
	case O_JSON: a->json = true; break;
	default: return -1;
	}
	return 0;
}

/* Parses the options and checks the SESSION operand (and FILE_IDs for rm). */
static int
parse(const struct kcr_cmd *cmd, struct files_args *a, int argc, char **argv, bool want_fids,
      int *first, kcr_error_t *err)
{
	int r = kcr_cmd_parse(cmd, argc, argv, on_opt, a, first, err);

	if (r != 0)
		return r;
	if (*first >= argc)
		return kcr_cmd_usage_error(cmd, err, "no session given");
	if (want_fids && *first + 1 >= argc)
		return kcr_cmd_usage_error(cmd, err, "no file id given");
	if (!want_fids && *first + 1 < argc)
		return kcr_cmd_usage_error(cmd, err, "unexpected argument '%s'", argv[*first + 1]);
	if (kcr_client_check_id("session", argv[*first], err) < 0)
		return -1;
	for (int i = *first + 1; i < argc; i++)
		if (kcr_client_check_id("file", argv[i], err) < 0)
			return -1;
	return 0;
}

/* ---- ls ------------------------------------------------------------------ */

/* "2026-11-22T10:00:00Z": kcr_iso8601 without the milliseconds. */
static void
modified_text(double t, char out[32])
{
	kcr_iso8601(t, out);
	strcpy(out + 19, "Z");
}

static void
print_table(const struct kcr_file_meta *m, size_t n)
{
	int wname = 4, wsize = 4;

	for (size_t i = 0; i < n; i++) {
		int ws = snprintf(NULL, 0, "%llu", (unsigned long long)m[i].size);

		if ((int)strlen(m[i].name) > wname)
			wname = (int)strlen(m[i].name);
		if (ws > wsize)
			wsize = ws;
	}
	printf("%-21s  %-*s  %*s  %s\n", "ID", wname, "NAME", wsize, "SIZE", "MODIFIED");
	for (size_t i = 0; i < n; i++) {
		char mod[32];

		modified_text(m[i].modified, mod);
		printf("%-21s  %-*s  %*llu  %s\n", m[i].id, wname, m[i].name, wsize,
		       (unsigned long long)m[i].size, mod);
	}
}

static void
print_json(const struct kcr_file_meta *m, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	kcr_autofree char *s = NULL;

	for (size_t i = 0; i < n; i++) {
		cJSON *f = cJSON_CreateObject();
		char mod[32];

		kcr_iso8601(m[i].modified, mod);
		cJSON_AddStringToObject(f, "id", m[i].id);
		cJSON_AddStringToObject(f, "session_id", m[i].session_id);
		cJSON_AddStringToObject(f, "name", m[i].name);
		cJSON_AddStringToObject(f, "original_name",
					m[i].original_name ? m[i].original_name : m[i].name);
		cJSON_AddNumberToObject(f, "size", (double)m[i].size);
		cJSON_AddStringToObject(f, "content_type",
					m[i].content_type ? m[i].content_type : "");
		cJSON_AddStringToObject(f, "modified", mod);
		cJSON_AddStringToObject(f, "sha256", m[i].sha256);
		cJSON_AddItemToArray(a, f);
	}
	s = cJSON_Print(a);
	printf("%s\n", s);
	cJSON_Delete(a);
}

static int
ls_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct files_args a = { .cfg = ctx->cfg };
	struct kcr_client *c = NULL;
	struct kcr_file_meta *m = NULL;
	size_t n = 0;
	int first, r = parse(&kcr_cmd_files_ls, &a, argc, argv, false, &first, err);

	if (r != 0)
		return r == 1 ? 0 : -1;
	r = -1;
	if ((c = kcr_client_open(ctx->cfg, err)) != NULL &&
	    kcr_client_list(c, argv[first], &m, &n, err) == 0) {
		if (a.json)
			print_json(m, n);
		else
			print_table(m, n);
		kcr_file_meta_list_free(m, n);
		r = 0;
	}
	kcr_client_close(c);
	return r;
}

static const struct kcr_cmd kcr_cmd_files_ls = {
	.name = "ls",
	.usage = "kcr files ls [--server URL] [--json] SESSION",
	.summary = "List the files of a session: ID, NAME, SIZE, MODIFIED (none for an unknown "
		   "or expired session).",
	.examples = "  kcr files ls Gq7Lm2Nx9PzR4tY8kWc3D\n"
		    "  kcr files ls --server http://127.0.0.1:8000 --json Gq7Lm2Nx9PzR4tY8kWc3D",
	.opts = ls_opts,
	.run = ls_run,
};

/* ---- rm ------------------------------------------------------------------ */

static bool
listed(const struct kcr_file_meta *m, size_t n, const char *fid)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(m[i].id, fid) == 0)
			return true;
	return false;
}

/* All the files must exist before any is removed. */
static int
remove_files(struct kcr_client *c, const char *sid, char **fids, size_t n_fids,
	     kcr_error_t *err)
{
	struct kcr_file_meta *m = NULL;
	size_t n = 0;
	int r = 0;

	if (kcr_client_list(c, sid, &m, &n, err) < 0)
		return -1;
	for (size_t i = 0; r == 0 && i < n_fids; i++)
		if (!listed(m, n, fids[i]))
			r = kcr_error_set(err, KCR_E_NOTFOUND, 0, "file '%s' not found in session '%s'",
					  fids[i], sid);
	kcr_file_meta_list_free(m, n);
	for (size_t i = 0; r == 0 && i < n_fids; i++) {
		bool twice = false;

		for (size_t j = 0; j < i; j++)
			twice = twice || strcmp(fids[i], fids[j]) == 0;
		if (!twice)
			r = kcr_client_delete_file(c, sid, fids[i], err);
	}
	return r;
}

static int
rm_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct files_args a = { .cfg = ctx->cfg };
	struct kcr_client *c = NULL;
	int first, r = parse(&kcr_cmd_files_rm, &a, argc, argv, true, &first, err);

	if (r != 0)
		return r == 1 ? 0 : -1;
	r = -1;
	if ((c = kcr_client_open(ctx->cfg, err)) != NULL &&
	    remove_files(c, argv[first], argv + first + 1, (size_t)(argc - first - 1), err) == 0)
		r = 0;
	kcr_client_close(c);
	return r;
}

static const struct kcr_cmd kcr_cmd_files_rm = {
	.name = "rm",
	.usage = "kcr files rm [--server URL] SESSION FILE_ID...",
	.summary = "Delete files of a session; none is deleted unless all exist.",
	.examples = "  kcr files rm Gq7Lm2Nx9PzR4tY8kWc3D p0Lk2Jd8Hs5Fq1Wz3Xc7V\n"
		    "  kcr files rm --server http://127.0.0.1:8000 Gq7Lm2Nx9PzR4tY8kWc3D "
		    "p0Lk2Jd8Hs5Fq1Wz3Xc7V",
	.opts = rm_opts,
	.run = rm_run,
};

/* ---- files ---------------------------------------------------------------- */

static const struct kcr_cmd *const files_subcmds[] = { &kcr_cmd_files_ls, &kcr_cmd_files_rm,
						       NULL };

static int
files_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	return kcr_cmd_dispatch_sub(&kcr_cmd_files, ctx, argc, argv, err);
}

static const struct kcr_opt no_opts[] = { { NULL } };

const struct kcr_cmd kcr_cmd_files = {
	.name = "files",
	.usage = "kcr files ls|rm [--server URL] SESSION [FILE_ID...]",
	.summary = "List or delete the stored files of a session.",
	.examples = "  kcr files ls Gq7Lm2Nx9PzR4tY8kWc3D\n"
		    "  kcr files rm Gq7Lm2Nx9PzR4tY8kWc3D p0Lk2Jd8Hs5Fq1Wz3Xc7V",
	.opts = no_opts,
	.subcmds = files_subcmds,
	.run = files_run,
};

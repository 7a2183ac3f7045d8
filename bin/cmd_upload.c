/* kcr upload: store files in a session, locally or on a kcr server. */
#include <config.h>

#include "client/client.h"
#include "base/files.h"
#include "base/ids.h"
#include "cmd.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

enum { O_SERVER, O_SESSION, O_ENTITY, O_JSON };

static const struct kcr_opt upload_opts[] = {
	[O_SERVER] = { "server", 0, "URL", "use the kcr server at URL (default: client.server; "
					  "none: the local state dir)", NULL },
	[O_SESSION] = { "session", 0, "ID", "add the files to session ID, which must exist", NULL },
	[O_ENTITY] = { "entity", 0, "ID", "use the newest session of entity ID (an agent), or "
					 "start one for it", NULL },
	[O_JSON] = { "json", 0, NULL, "print the reply as JSON", NULL },
	{ NULL },
};

struct upload_args {
	struct kcr_config *cfg;
	const char *session, *entity;
	bool json;
};

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	struct upload_args *a = data;

	switch (id) {
	case O_SERVER: return kcr_config_set(a->cfg, "client.server", arg, KCR_SRC_FLAG, err);
	case O_SESSION: a->session = arg; break;
	case O_ENTITY: a->entity = arg; break;
	case O_JSON: a->json = true; break;
	default: return -1;
	}
	return 0;
}

static void
files_free(struct kcr_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kcr_file_release(&f[i]);
	free(f);
}

/* Every file is read before anything is sent: a typo uploads nothing. */
static struct kcr_file *
read_files(char **paths, size_t n, kcr_error_t *err)
{
	struct kcr_file *f = kcr_xzalloc((n + 1) * sizeof(*f));

	for (size_t i = 0; i < n; i++) {
		kcr_autofree char *copy = kcr_xstrdup(paths[i]);

		if (kcr_read_file(paths[i], 0, &f[i].data, &f[i].len, err) < 0) {
			files_free(f, i);
			return NULL;
		}
		f[i].name = kcr_xstrdup(basename(copy));
	}
	return f;
}

static void
print_json(const char *sid, const struct kcr_file_meta *m, size_t n)
{
	cJSON *o = cJSON_CreateObject(), *files;
	kcr_autofree char *s = NULL;

	cJSON_AddStringToObject(o, "message", "success");
	cJSON_AddStringToObject(o, "session_id", sid);
	files = cJSON_AddArrayToObject(o, "files");
	for (size_t i = 0; i < n; i++) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddStringToObject(f, "fileId", m[i].id);
		cJSON_AddStringToObject(f, "filename", m[i].name);
		cJSON_AddStringToObject(f, "session_id", m[i].session_id);
		cJSON_AddNumberToObject(f, "size", (double)m[i].size);
		cJSON_AddItemToArray(files, f);
	}
	s = cJSON_Print(o);
	printf("%s\n", s);
	cJSON_Delete(o);
}

static int
upload(struct kcr_ctx *ctx, const struct upload_args *a, char **paths, size_t n,
       kcr_error_t *err)
{
	struct kcr_file *files = read_files(paths, n, err);
	struct kcr_client *c = NULL;
	struct kcr_file_meta *m = NULL;
	char sid[KCR_ID_LEN + 1];
	int r = -1;

	if (files == NULL)
		return -1;
	if ((c = kcr_client_open(ctx->cfg, err)) != NULL &&
	    kcr_client_upload(c, a->session, a->entity, files, n, sid, &m, err) == 0) {
		if (a->json) {
			print_json(sid, m, n);
		} else {
			printf("session %s\n", sid);
			for (size_t i = 0; i < n; i++)
				printf("%s  %s\n", m[i].id, m[i].name);
		}
		kcr_file_meta_list_free(m, n);
		r = 0;
	}
	kcr_client_close(c);
	files_free(files, n);
	return r;
}

static int
upload_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct upload_args a = { .cfg = ctx->cfg };
	int first, r = kcr_cmd_parse(&kcr_cmd_upload, argc, argv, on_opt, &a, &first, err);

	if (r != 0)
		return r == 1 ? 0 : -1;
	if (first >= argc)
		return kcr_cmd_usage_error(&kcr_cmd_upload, err, "no files given");
	if ((a.session && kcr_client_check_id("session", a.session, err) < 0) ||
	    (a.entity && kcr_client_check_entity(a.entity, err) < 0))
		return -1;
	return upload(ctx, &a, argv + first, (size_t)(argc - first), err);
}

const struct kcr_cmd kcr_cmd_upload = {
	.name = "upload",
	.usage = "kcr upload [--server URL] [--session ID] [--entity ID] [--json] FILE...",
	.summary = "Store files in a session for later runs (kcr exec --session) and print "
		   "their ids.",
	.examples = "  kcr upload data.csv\n"
		    "  kcr upload --server http://127.0.0.1:8000 --entity asst_1 a.csv b.csv\n"
		    "  kcr upload --session Gq7Lm2Nx9PzR4tY8kWc3D --json notes.txt",
	.opts = upload_opts,
	.run = upload_run,
};

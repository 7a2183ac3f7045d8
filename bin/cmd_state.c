/* kcr state get|put|rm|info: the Python state of a session (the globals a
 * session's Python runs keep; lib/base/pystate_blob.h), locally or on a server. */
#include <config.h>

#include "client/client.h"
#include "base/clock.h"
#include "base/files.h"
#include "cmd.h"
#include "base/pystate_blob.h"
#include "base/util.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What `state put` reads at most: state.max_size_mb's largest value, plus
 * one byte so that the server (or the store) says it is too large. */
#define PUT_MAX (((size_t)100 << 20) + 1)

static const struct kcr_cmd kcr_cmd_state_get, kcr_cmd_state_put, kcr_cmd_state_rm,
	kcr_cmd_state_info;

enum { O_SERVER, O_OUTPUT, O_FORCE };
enum { I_SERVER, I_JSON };

#define SERVER_OPT                                                                        \
	{ "server", 0, "URL", "use the kcr server at URL (default: client.server; none: the " \
			      "local state dir)", NULL }

static const struct kcr_opt get_opts[] = {
	[O_SERVER] = SERVER_OPT,
	[O_OUTPUT] = { "output", 'o', "FILE", "write the state to FILE (default: stdout)", "file" },
	[O_FORCE] = { "force", 0, NULL, "overwrite FILE if it exists", NULL },
	{ NULL },
};

static const struct kcr_opt server_opts[] = {
	[O_SERVER] = SERVER_OPT,
	{ NULL },
};

static const struct kcr_opt info_opts[] = {
	[I_SERVER] = SERVER_OPT,
	[I_JSON] = { "json", 0, NULL, "print JSON", NULL },
	{ NULL },
};

struct state_args {
	struct kcr_config *cfg;
	const struct kcr_cmd *cmd;
	const char *output;
	bool force, json;
};

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	struct state_args *a = data;

	if (id == O_SERVER) /* I_SERVER too */
		return kcr_config_set(a->cfg, "client.server", arg, KCR_SRC_FLAG, err);
	if (a->cmd == &kcr_cmd_state_info && id == I_JSON)
		a->json = true;
	else if (a->cmd == &kcr_cmd_state_get && id == O_OUTPUT)
		a->output = arg;
	else if (a->cmd == &kcr_cmd_state_get && id == O_FORCE)
		a->force = true;
	else
		return -1;
	return 0;
}

/* Parses the options and checks the operands: SESSION, and n_more after it. */
static int
parse(const struct kcr_cmd *cmd, struct state_args *a, int argc, char **argv, int n_more,
      const char *more, int *first, kcr_error_t *err)
{
	int r;

	a->cmd = cmd;
	r = kcr_cmd_parse(cmd, argc, argv, on_opt, a, first, err);
	if (r != 0)
		return r;
	if (*first >= argc)
		return kcr_cmd_usage_error(cmd, err, "no session given");
	if (argc - *first - 1 < n_more)
		return kcr_cmd_usage_error(cmd, err, "no %s given", more);
	if (argc - *first - 1 > n_more)
		return kcr_cmd_usage_error(cmd, err, "unexpected argument '%s'",
					   argv[*first + 1 + n_more]);
	return kcr_client_check_id("session", argv[*first], err);
}

/* Runs fn with a client for the session's operands. */
static int
with_client(struct kcr_ctx *ctx, const struct kcr_cmd *cmd, struct state_args *a, int argc,
	    char **argv, int n_more, const char *more,
	    int (*fn)(struct kcr_client *c, struct state_args *a, char **ops, kcr_error_t *err),
	    kcr_error_t *err)
{
	struct kcr_client *c;
	int first, r;

	a->cfg = ctx->cfg;
	r = parse(cmd, a, argc, argv, n_more, more, &first, err);
	if (r != 0)
		return r == 1 ? 0 : -1;
	c = kcr_client_open(ctx->cfg, err);
	if (c == NULL)
		return -1;
	r = fn(c, a, argv + first, err);
	kcr_client_close(c);
	return r;
}

/* ---- get ------------------------------------------------------------------ */

static int
write_output(const struct state_args *a, const char *data, size_t len, kcr_error_t *err)
{
	int fd;

	if (a->output == NULL || strcmp(a->output, "-") == 0) {
		if (isatty(STDOUT_FILENO))
			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "the state is binary: give -o FILE, or redirect stdout");
		if (kcr_write_all(STDOUT_FILENO, data, len) < 0)
			return kcr_error_set(err, KCR_E_IO, errno, "writing stdout");
		return 0;
	}
	fd = open(a->output, O_WRONLY | O_CREAT | O_CLOEXEC | (a->force ? O_TRUNC : O_EXCL), 0644);
	if (fd < 0 && errno == EEXIST)
		return kcr_error_set(err, KCR_E_INVALID, 0, "'%s' exists; --force overwrites",
				     a->output);
	if (fd < 0 || kcr_write_all(fd, data, len) < 0 || close(fd) < 0) {
		int e = errno;

		if (fd >= 0)
			unlink(a->output);
		return kcr_error_set(err, KCR_E_IO, e, "writing '%s'", a->output);
	}
	fprintf(stderr, "kcr: wrote %s (%zu bytes)\n", a->output, len);
	return 0;
}

static int
do_get(struct kcr_client *c, struct state_args *a, char **ops, kcr_error_t *err)
{
	kcr_autofree char *data = NULL;
	size_t len;

	if (kcr_client_state_get(c, ops[0], &data, &len, NULL, err) < 0)
		return -1;
	return write_output(a, data, len, err);
}

static int
get_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct state_args a = { 0 };

	return with_client(ctx, &kcr_cmd_state_get, &a, argc, argv, 0, NULL, do_get, err);
}

static const struct kcr_cmd kcr_cmd_state_get = {
	.name = "get",
	.usage = "kcr state get [--server URL] [-o FILE] [--force] SESSION",
	.summary = "Write a session's Python state (GET /state/SESSION) to FILE or stdout.",
	.examples = "  kcr state get -o state.bin Gq7Lm2Nx9PzR4tY8kWc3D\n"
		    "  kcr state get --server http://127.0.0.1:8000 Gq7Lm2Nx9PzR4tY8kWc3D >state.bin",
	.opts = get_opts,
	.run = get_run,
};

/* ---- put ------------------------------------------------------------------ */

static int
do_put(struct kcr_client *c, struct state_args *a, char **ops, kcr_error_t *err)
{
	kcr_autofree char *data = NULL;
	size_t len;
	int r;

	(void)a;
	if (strcmp(ops[1], "-") == 0)
		r = kcr_read_fd(STDIN_FILENO, PUT_MAX, &data, &len, err);
	else
		r = kcr_read_file(ops[1], PUT_MAX, &data, &len, err);
	if (r < 0)
		return kcr_error_wrap(err, "reading the state");
	return kcr_client_state_put(c, ops[0], data, len, err);
}

static int
put_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct state_args a = { 0 };

	return with_client(ctx, &kcr_cmd_state_put, &a, argc, argv, 1, "state file", do_put, err);
}

static const struct kcr_cmd kcr_cmd_state_put = {
	.name = "put",
	.usage = "kcr state put [--server URL] SESSION FILE|-",
	.summary = "Replace a session's Python state with FILE; an invalid one leaves the old.",
	.examples = "  kcr state put Gq7Lm2Nx9PzR4tY8kWc3D state.bin\n"
		    "  kcr state get Gq7Lm2Nx9PzR4tY8kWc3D | kcr state put Vb3k9Qm2LpX7aZt0Rw1sE -",
	.opts = server_opts,
	.run = put_run,
};

/* ---- rm ------------------------------------------------------------------- */

static int
do_rm(struct kcr_client *c, struct state_args *a, char **ops, kcr_error_t *err)
{
	(void)a;
	return kcr_client_state_delete(c, ops[0], err);
}

static int
rm_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct state_args a = { 0 };

	return with_client(ctx, &kcr_cmd_state_rm, &a, argc, argv, 0, NULL, do_rm, err);
}

static const struct kcr_cmd kcr_cmd_state_rm = {
	.name = "rm",
	.usage = "kcr state rm [--server URL] SESSION",
	.summary = "Delete a session's Python state: its next Python run starts afresh.",
	.examples = "  kcr state rm Gq7Lm2Nx9PzR4tY8kWc3D\n"
		    "  kcr state rm --server http://127.0.0.1:8000 Gq7Lm2Nx9PzR4tY8kWc3D",
	.opts = server_opts,
	.run = rm_run,
};

/* ---- info ----------------------------------------------------------------- */

static void
print_info(const char *sid, const struct kcr_state_info *i, bool json)
{
	char created[32], expires[32];
	kcr_autofree char *s = NULL;
	cJSON *o;

	if (!json) {
		kcr_iso8601(i->created, created);
		if (i->expires > 0)
			kcr_iso8601(i->expires, expires);
		else
			strcpy(expires, "with the session");
		printf("session  %s\nsize     %llu\nsha256   %s\ncreated  %s\nexpires  %s\n", sid,
		       (unsigned long long)i->size, i->hash, created, expires);
		return;
	}
	o = kcr_state_info_json(sid, i);
	s = cJSON_Print(o);
	printf("%s\n", s);
	cJSON_Delete(o);
}

static int
do_info(struct kcr_client *c, struct state_args *a, char **ops, kcr_error_t *err)
{
	struct kcr_state_info info;

	if (kcr_client_state_info(c, ops[0], &info, err) < 0)
		return -1;
	print_info(ops[0], &info, a->json);
	return 0;
}

static int
info_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct state_args a = { 0 };

	return with_client(ctx, &kcr_cmd_state_info, &a, argc, argv, 0, NULL, do_info, err);
}

static const struct kcr_cmd kcr_cmd_state_info = {
	.name = "info",
	.usage = "kcr state info [--server URL] [--json] SESSION",
	.summary = "Show the size, SHA-256, creation and expiry of a session's Python state.",
	.examples = "  kcr state info Gq7Lm2Nx9PzR4tY8kWc3D\n"
		    "  kcr state info --server http://127.0.0.1:8000 --json Gq7Lm2Nx9PzR4tY8kWc3D",
	.opts = info_opts,
	.run = info_run,
};

/* ---- state ---------------------------------------------------------------- */

static const struct kcr_cmd *const state_subcmds[] = {
	&kcr_cmd_state_get, &kcr_cmd_state_put, &kcr_cmd_state_rm, &kcr_cmd_state_info, NULL,
};

static int
state_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	return kcr_cmd_dispatch_sub(&kcr_cmd_state, ctx, argc, argv, err);
}

static const struct kcr_opt no_opts[] = { { NULL } };

const struct kcr_cmd kcr_cmd_state = {
	.name = "state",
	.usage = "kcr state get|put|rm|info [--server URL] SESSION [FILE|-]",
	.summary = "Get, replace, delete or describe the Python state of a session: the globals "
		   "its Python runs keep.",
	.examples = "  kcr state info Gq7Lm2Nx9PzR4tY8kWc3D\n"
		    "  kcr state get -o state.bin Gq7Lm2Nx9PzR4tY8kWc3D\n"
		    "  kcr state put Vb3k9Qm2LpX7aZt0Rw1sE state.bin\n"
		    "  kcr state rm Gq7Lm2Nx9PzR4tY8kWc3D",
	.opts = no_opts,
	.subcmds = state_subcmds,
	.run = state_run,
};

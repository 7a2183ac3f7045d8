/* kcr: run untrusted code in sandboxes, from a terminal or as a server. */
#include <config.h>

#include "cmd.h"
#include "base/log.h"
#include "base/util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct globals {
	const char *config;
	char **sets;
	bool verbose;
};

/* The global options, in the order kcr --help lists them. */
enum { G_CONFIG, G_SET, G_VERBOSE, G_HELP, G_VERSION };

const struct kcr_opt kcr_global_opts[] = {
	[G_CONFIG] = { "config", 0, "FILE", "read settings from FILE instead of kcr.yaml", "file" },
	[G_SET] = { "set", 0, "KEY=VALUE", "override one setting (see 'kcr config show')", NULL },
	[G_VERBOSE] = { "verbose", 'v', NULL, "log what kcr does to stderr", NULL },
	[G_HELP] = { "help", 'h', NULL, "show help", NULL },
	[G_VERSION] = { "version", 0, NULL, "show the version", NULL },
	{ NULL },
};

static void
print_main_help(FILE *f)
{
	fprintf(f, "Usage: kcr [global options] <command> [options] [args]\n\n"
		   "Run untrusted code in sandboxes, from a terminal, CI or as a server.\n\n"
		   "Commands:\n");
	for (const struct kcr_cmd *const *c = kcr_cmd_table(); *c; c++)
		if (!(*c)->hidden)
			fprintf(f, "  %-12s %s\n", (*c)->name, (*c)->summary);
	fprintf(f, "\nGlobal options:\n");
	kcr_cmd_print_opts(kcr_global_opts, f);
	fprintf(f, "\nRun 'kcr <command> --help' for a command's options.\n"
		   "\nExamples:\n"
		   "  kcr exec -l py -c 'print(6 * 7)'\n"
		   "  kcr exec script.py -f data.csv -o out/\n"
		   "  kcr languages\n");
}

/* The global option word names: "--set", "--set=K=V" (*value points past
 * the '='), "-v"; NULL for none. Whole names only, as before getopt. */
static const struct kcr_opt *
find_global(const char *word, const char **value)
{
	*value = NULL;
	for (const struct kcr_opt *o = kcr_global_opts; o->name; o++) {
		size_t n = strlen(o->name);

		if (word[1] != '-') {
			if (o->shortopt && word[1] == o->shortopt && word[2] == '\0')
				return o;
		} else if (strncmp(word + 2, o->name, n) == 0) {
			if (word[2 + n] == '\0')
				return o;
			if (word[2 + n] == '=' && o->arg) {
				*value = word + 3 + n;
				return o;
			}
		}
	}
	return NULL;
}

static void
set_global(struct globals *g, const struct kcr_opt *o, const char *value)
{
	switch (o - kcr_global_opts) {
	case G_CONFIG:
		g->config = value;
		break;
	case G_SET:
		kcr_strv_push(&g->sets, value);
		break;
	case G_VERBOSE:
		g->verbose = true;
		break;
	case G_HELP:
		print_main_help(stdout);
		exit(0);
	default: /* G_VERSION */
		printf("kcr %s\n", PACKAGE_VERSION);
		exit(0);
	}
}

/* Global options come before the command name; returns the index of the
 * command, argc when there is none, or -1 on a usage error. */
static int
parse_globals(int argc, char **argv, struct globals *g, kcr_error_t *err)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *value;
		const struct kcr_opt *o = find_global(a, &value);

		if (o == NULL)
			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "unknown option '%s'; see 'kcr --help'", a);
		if (o->arg && value == NULL) {
			if (i + 1 >= argc)
				return kcr_error_set(err, KCR_E_INVALID, 0,
						     "'%s' needs a value; see 'kcr --help'", a);
			value = argv[++i];
		}
		set_global(g, o, value);
	}
	return i;
}

static int
apply_sets(struct kcr_config *cfg, char **sets, kcr_error_t *err)
{
	for (size_t i = 0; sets && sets[i]; i++) {
		kcr_autofree char *kv = kcr_xstrdup(sets[i]);
		char *eq = strchr(kv, '=');

		if (eq == NULL)
			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "--set '%s': expected KEY=VALUE", sets[i]);
		*eq = '\0';
		if (kcr_config_set(cfg, kv, eq + 1, KCR_SRC_FLAG, err) < 0)
			return kcr_error_wrap(err, "--set");
	}
	return 0;
}

static int
setup_config(struct kcr_ctx *ctx, struct globals *g, kcr_error_t *err)
{
	ctx->cfg = kcr_config_new();
	if (kcr_config_load(ctx->cfg, g->config, err) < 0 || apply_sets(ctx->cfg, g->sets, err) < 0)
		return -1;
	kcr_log_setup(g->verbose ? "debug" : kcr_config_str(ctx->cfg, "log.level"),
		      kcr_config_str(ctx->cfg, "log.format"));
	return 0;
}

static int
run(int argc, char **argv, struct kcr_ctx *ctx, kcr_error_t *err)
{
	struct globals g = { 0 };
	const struct kcr_cmd *cmd;
	int first, ret;

	first = parse_globals(argc, argv, &g, err);
	if (first < 0)
		goto fail;
	if (first >= argc) {
		print_main_help(stderr);
		kcr_strv_free(g.sets);
		return 2;
	}
	cmd = kcr_cmd_find(kcr_cmd_table(), argv[first]);
	if (cmd == NULL) {
		kcr_error_set(err, KCR_E_INVALID, 0, "unknown command '%s'; see 'kcr --help'",
			      argv[first]);
		goto fail;
	}
	if (setup_config(ctx, &g, err) < 0)
		goto fail;
	kcr_strv_free(g.sets);
	return cmd->run(ctx, argc - first, argv + first, err);
fail:
	ret = -1;
	kcr_strv_free(g.sets);
	return ret;
}

int
main(int argc, char **argv)
{
	struct kcr_ctx ctx = { 0 };
	kcr_error_t err = NULL;
	int ret;

	signal(SIGPIPE, SIG_IGN);
	ret = run(argc, argv, &ctx, &err);
	if (ret < 0) {
		fprintf(stderr, "kcr: %s\n", err ? err->msg : "failed");
		ret = err ? kcr_errc_exit_code(err->code) : 125;
		if (ret == 0 || ret == 124)
			ret = 125;
		kcr_error_free(err);
	}
	kcr_config_free(ctx.cfg);
	return ret;
}

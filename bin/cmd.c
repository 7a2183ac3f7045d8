#include <config.h>

#include "cmd.h"
#include "base/util.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const struct kcr_cmd *const table[] = {
	&kcr_cmd_exec,
	&kcr_cmd_upload,
	&kcr_cmd_download,
	&kcr_cmd_files,
	&kcr_cmd_state,
	&kcr_cmd_serve,
	&kcr_cmd_pool,
	&kcr_cmd_keys,
	&kcr_cmd_cluster,
	&kcr_cmd_images,
	&kcr_cmd_bench,
	&kcr_cmd_languages,
	&kcr_cmd_doctor,
	&kcr_cmd_config,
	&kcr_cmd_version,
	&kcr_cmd_help,
	&kcr_cmd_complete,
	NULL,
};

const struct kcr_cmd *const *
kcr_cmd_table(void)
{
	return table;
}

const struct kcr_cmd *
kcr_cmd_find(const struct kcr_cmd *const *t, const char *name)
{
	for (; t && *t; t++)
		if (strcmp((*t)->name, name) == 0)
			return *t;
	return NULL;
}

/* The command's full name, from its usage line: the leading words up to
 * the first option, operand or alternative ("kcr config show [--json]"
 * gives "kcr config show"). */
static size_t
command_path_len(const struct kcr_cmd *cmd)
{
	const char *u = cmd ? cmd->usage : "kcr", *w = u;
	size_t n = 3;

	while (*w) {
		const char *e = w + strcspn(w, " ");

		if (*w == '[' || *w == '-' || *w == '<' || (*w >= 'A' && *w <= 'Z') ||
		    memchr(w, '|', (size_t)(e - w)))
			break;
		n = (size_t)(e - u);
		w = e + strspn(e, " ");
	}
	return n;
}

int
kcr_cmd_usage_error(const struct kcr_cmd *cmd, kcr_error_t *err, const char *fmt, ...)
{
	kcr_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	return kcr_error_set(err, KCR_E_INVALID, 0, "%s; see '%.*s --help'", msg,
			     (int)command_path_len(cmd), cmd ? cmd->usage : "kcr");
}

void
kcr_cmd_print_opts(const struct kcr_opt *o, FILE *f)
{
	for (; o && o->name; o++) {
		char left[64];

		if (o->shortopt)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->shortopt, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		/* at least two spaces between: what tests/cli/010-help.bats splits at */
		fprintf(f, "  %-28s%s%s\n", left, strlen(left) < 28 ? " " : "  ", o->help);
	}
}

void
kcr_cmd_print_help(const struct kcr_cmd *cmd, FILE *f)
{
	fprintf(f, "Usage: %s\n\n%s\n", cmd->usage, cmd->summary);
	if (cmd->subcmds) {
		fprintf(f, "\nCommands:\n");
		for (const struct kcr_cmd *const *s = cmd->subcmds; *s; s++)
			if (!(*s)->hidden)
				fprintf(f, "  %-12s %s\n", (*s)->name, (*s)->summary);
	}
	if (cmd->opts && cmd->opts[0].name) {
		fprintf(f, "\nOptions:\n");
		kcr_cmd_print_opts(cmd->opts, f);
	}
	if (cmd->examples)
		fprintf(f, "\nExamples:\n%s\n", cmd->examples);
}

static struct option *
build_longopts(const struct kcr_opt *opts, char *shortopts, size_t n_short)
{
	size_t n = 0, s = 0;
	struct option *lo;

	while (opts && opts[n].name)
		n++;
	lo = kcr_xzalloc((n + 2) * sizeof(*lo));
	shortopts[s++] = ':';
	for (size_t i = 0; i < n; i++) {
		lo[i].name = opts[i].name;
		lo[i].has_arg = opts[i].arg ? required_argument : no_argument;
		lo[i].val = 1000 + (int)i;
		if (opts[i].shortopt && s + 3 < n_short) {
			shortopts[s++] = (char)opts[i].shortopt;
			if (opts[i].arg)
				shortopts[s++] = ':';
		}
	}
	lo[n].name = "help";
	lo[n].val = 'h';
	shortopts[s++] = 'h';
	shortopts[s] = '\0';
	return lo;
}

static int
short_to_id(const struct kcr_opt *opts, int c)
{
	for (int i = 0; opts && opts[i].name; i++)
		if (opts[i].shortopt == c)
			return i;
	return -1;
}

int
kcr_cmd_parse(const struct kcr_cmd *cmd, int argc, char **argv,
	      int (*on_opt)(int id, const char *arg, void *data, kcr_error_t *err), void *data,
	      int *optind_out, kcr_error_t *err)
{
	char shortopts[128];
	kcr_autofree struct option *lo = build_longopts(cmd->opts, shortopts, sizeof(shortopts));
	int c, end = argc;

	/* Options may follow operands ("kcr exec x.py -o out/"), but what comes
	 * after "--" belongs to the program: getopt only sees what is before. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			end = i;
			break;
		}
	optind = 0; /* full re-initialisation of getopt */
	opterr = 0;
	while ((c = getopt_long(end, argv, shortopts, lo, NULL)) != -1) {
		int id = c >= 1000 ? c - 1000 : short_to_id(cmd->opts, c);

		if (c == 'h' && id < 0) {
			kcr_cmd_print_help(cmd, stdout);
			return 1;
		}
		if (c == '?')
			return kcr_cmd_usage_error(cmd, err, "unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			return kcr_cmd_usage_error(cmd, err, "option '%s' needs a value",
						   argv[optind - 1]);
		if (on_opt(id, optarg, data, err) < 0)
			return -1;
	}
	*optind_out = optind;
	return 0;
}

int
kcr_cmd_dispatch_sub(const struct kcr_cmd *cmd, struct kcr_ctx *ctx, int argc, char **argv,
		     kcr_error_t *err)
{
	const struct kcr_cmd *sub;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		kcr_cmd_print_help(cmd, stdout);
		return 0;
	}
	if (argc < 2)
		return kcr_cmd_usage_error(cmd, err, "missing subcommand");
	sub = kcr_cmd_find(cmd->subcmds, argv[1]);
	if (sub == NULL)
		return kcr_cmd_usage_error(cmd, err, "unknown subcommand '%s'", argv[1]);
	return sub->run(ctx, argc - 1, argv + 1, err);
}

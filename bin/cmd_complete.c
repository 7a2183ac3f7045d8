/* kcr __complete WORD...: completion candidates for the last WORD, from
 * the same tables as --help (git's --git-completion-helper). The shell
 * scripts in completions/ are thin wrappers around it. Prints one
 * candidate per line; "__file__" or "__dir__" asks the shell to complete
 * paths itself. */
#include <config.h>

#include "cmd.h"
#include "base/lang.h"
#include "base/util.h"

#include <string.h>

static void
emit(const char *cur, const char *cand)
{
	if (strncmp(cand, cur, strlen(cur)) == 0)
		printf("%s\n", cand);
}

static void
emit_opts(const char *cur, const struct kcr_opt *o)
{
	bool help = false;

	for (; o && o->name; o++) {
		kcr_autofree char *s = kcr_strdup_printf("--%s", o->name);

		emit(cur, s);
		help = help || strcmp(o->name, "help") == 0;
	}
	if (!help) /* every command takes it; the global table names it */
		emit(cur, "--help");
}

static void
emit_value(const char *cur, const char *kind)
{
	if (kind && strcmp(kind, "lang") == 0) {
		for (unsigned int i = 0; i < kcr_lang_count(); i++)
			emit(cur, kcr_lang_at(i)->id);
	} else if (kind && strcmp(kind, "scenario") == 0) {
		for (size_t i = 0; kcr_bench_scenario(i); i++)
			emit(cur, kcr_bench_scenario(i));
	} else if (kind && strcmp(kind, "engine") == 0) {
		emit(cur, "docker");
		emit(cur, "podman");
		emit(cur, "buildah");
	} else if (kind && strcmp(kind, "dir") == 0) {
		printf("__dir__\n");
	} else if (kind && strcmp(kind, "file") == 0) {
		printf("__file__\n");
	}
}

/* The option that takes a value, if word is one ("--lang", "-l"). */
static const struct kcr_opt *
value_opt(const struct kcr_opt *o, const char *word)
{
	for (; o && o->name; o++) {
		if (!o->arg)
			continue;
		if ((strncmp(word, "--", 2) == 0 && strcmp(word + 2, o->name) == 0) ||
		    (o->shortopt && word[0] == '-' && word[1] == o->shortopt && !word[2]))
			return o;
	}
	return NULL;
}

static void
emit_commands(const char *cur, const struct kcr_cmd *const *t)
{
	for (; t && *t; t++)
		if (!(*t)->hidden)
			emit(cur, (*t)->name);
}

static int
complete_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	const struct kcr_cmd *const *table = kcr_cmd_table();
	const struct kcr_opt *opts = kcr_global_opts, *vo = NULL;
	const struct kcr_cmd *cmd = NULL;
	const char *cur = argc > 1 ? argv[argc - 1] : "";
	bool sub_pending = true;

	for (int i = 1; i < argc - 1; i++) {
		const struct kcr_cmd *c;

		vo = value_opt(opts, argv[i]);
		if (vo) {
			i++;
			vo = NULL;
			continue;
		}
		if (argv[i][0] == '-' || !sub_pending)
			continue;
		c = kcr_cmd_find(table, argv[i]);
		if (c == NULL) {
			sub_pending = false;
			continue;
		}
		cmd = c;
		opts = c->opts;
		/* "kcr help <TAB>" completes command names */
		table = c == &kcr_cmd_help ? kcr_cmd_table() : c->subcmds;
		sub_pending = table != NULL;
	}
	vo = argc > 2 ? value_opt(opts, argv[argc - 2]) : NULL;
	if (vo)
		emit_value(cur, vo->complete);
	else if (cur[0] == '-')
		emit_opts(cur, opts);
	else if (cmd == NULL || sub_pending)
		emit_commands(cur, table);
	else
		emit_value(cur, cmd->operands ? cmd->operands : "file");
	return 0;
}

static const struct kcr_opt no_opts[] = { { NULL } };

const struct kcr_cmd kcr_cmd_complete = {
	.name = "__complete",
	.usage = "kcr __complete WORD...",
	.summary = "Print completion candidates (used by the shell completions).",
	.opts = no_opts,
	.hidden = true,
	.run = complete_run,
};

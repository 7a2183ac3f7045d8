/* The kcr command table: one entry per command (tmux cmd_entry), feeding
 * dispatch, --help, the man page test and shell completion. */
#ifndef KCR_CMD_H
#define KCR_CMD_H

#include "base/settings.h"
#include "base/error.h"

#include <stdbool.h>

struct kcr_opt {
	const char *name;  /* long name, without "--" */
	int shortopt;      /* or 0 */
	const char *arg;   /* "LANG", or NULL for a flag */
	const char *help;
	const char *complete; /* "lang", "file", "dir", or NULL */
};

struct kcr_ctx {
	struct kcr_config *cfg;
};

struct kcr_cmd {
	const char *name;
	const char *usage;    /* "kcr exec [options] [FILE|-] [-- ARGS...]" */
	const char *summary;
	const char *examples; /* lines, '\n'-separated */
	const struct kcr_opt *opts; /* terminated by { NULL } */
	const struct kcr_cmd *const *subcmds;
	const char *operands; /* what they complete to: "lang", "scenario"; NULL: files */
	bool hidden;
	/* Returns the exit code (>= 0), or -1 with err set. */
	int (*run)(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err);
};

extern const struct kcr_cmd kcr_cmd_exec, kcr_cmd_languages, kcr_cmd_doctor, kcr_cmd_version,
	kcr_cmd_help, kcr_cmd_config, kcr_cmd_complete, kcr_cmd_serve, kcr_cmd_upload,
	kcr_cmd_download, kcr_cmd_files, kcr_cmd_pool, kcr_cmd_bench, kcr_cmd_state,
	kcr_cmd_cluster, kcr_cmd_images, kcr_cmd_keys;

const struct kcr_cmd *const *kcr_cmd_table(void);
/* The name of kcr bench's scenario i, or NULL past the last. */
const char *kcr_bench_scenario(size_t i);
const struct kcr_cmd *kcr_cmd_find(const struct kcr_cmd *const *table, const char *name);
/* The options before the command (bin/main.c): what it parses, what
 * kcr --help lists and kcr __complete offers. */
extern const struct kcr_opt kcr_global_opts[];

/* getopt_long over a command's option table. Calls on_opt(id, arg, data)
 * for each option, where id is the index into cmd->opts; --help prints the
 * usage and makes the function return 1. Options may come after operands;
 * parsing stops at "--". Leaves *optind_out at the first operand: the
 * operands are argv[*optind_out..] up to a "--", and after it come
 * arguments for the program. Returns 0, 1 (help shown) or -1 (usage error
 * in err). */
int kcr_cmd_parse(const struct kcr_cmd *cmd, int argc, char **argv,
		  int (*on_opt)(int id, const char *arg, void *data, kcr_error_t *err),
		  void *data, int *optind_out, kcr_error_t *err);
/* Runs argv[1] as one of cmd->subcmds. */
int kcr_cmd_dispatch_sub(const struct kcr_cmd *cmd, struct kcr_ctx *ctx, int argc, char **argv,
			 kcr_error_t *err);
void kcr_cmd_print_help(const struct kcr_cmd *cmd, FILE *f);
/* The lines of an Options: section, one per entry of o. */
void kcr_cmd_print_opts(const struct kcr_opt *o, FILE *f);
/* The canonical usage error: "<what>; see 'kcr <cmd> --help'". */
int kcr_cmd_usage_error(const struct kcr_cmd *cmd, kcr_error_t *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif

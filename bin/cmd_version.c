/* kcr version and kcr help. */
#include <config.h>

#include "cmd.h"
#include "base/curl_dl.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <lz4.h>
#include <microhttpd.h>
#include <openssl/opensslv.h>
#include <seccomp.h>
#include <string.h>
#include <yaml.h>

static const struct kcr_opt no_opts[] = { { NULL } };

static int
no_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	return 0;
}

static int
version_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	const struct scmp_version *sv = seccomp_version();
	int first, r = kcr_cmd_parse(&kcr_cmd_version, argc, argv, no_opt, NULL, &first, err);

	if (r != 0)
		return r == 1 ? 0 : -1;
	if (first < argc)
		return kcr_cmd_usage_error(&kcr_cmd_version, err, "unexpected argument '%s'",
					   argv[first]);
	printf("kcr %s\n", PACKAGE_VERSION);
	if (kcr_curl_load(NULL) == 0)
		printf("libcurl %s, ", curl_version_info(CURLVERSION_NOW)->version);
	else
		printf("libcurl not installed, ");
	printf("libmicrohttpd %s, cJSON %s, libyaml %s, %s, lz4 %s, libseccomp %u.%u.%u\n",
	       MHD_get_version(), cJSON_Version(),
	       yaml_get_version_string(), OPENSSL_VERSION_TEXT, LZ4_versionString(),
	       sv->major, sv->minor, sv->micro);
	return 0;
}

const struct kcr_cmd kcr_cmd_version = {
	.name = "version",
	.usage = "kcr version",
	.summary = "Show the version of kcr and of the libraries it uses.",
	.examples = "  kcr version",
	.opts = no_opts,
	.run = version_run,
};

static int
help_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	const struct kcr_cmd *cmd;
	int first, r = kcr_cmd_parse(&kcr_cmd_help, argc, argv, no_opt, NULL, &first, err);

	if (r != 0)
		return r == 1 ? 0 : -1;
	argc -= first - 1; /* argv[1] is now the first operand */
	argv += first - 1;
	if (argc < 2) {
		printf("Usage: kcr [global options] <command> [options] [args]\n\nCommands:\n");
		for (const struct kcr_cmd *const *c = kcr_cmd_table(); *c; c++)
			if (!(*c)->hidden)
				printf("  %-12s %s\n", (*c)->name, (*c)->summary);
		printf("\nRun 'kcr help COMMAND' or 'kcr COMMAND --help' for details.\n");
		return 0;
	}
	cmd = kcr_cmd_find(kcr_cmd_table(), argv[1]);
	if (cmd == NULL)
		return kcr_cmd_usage_error(&kcr_cmd_help, err, "unknown command '%s'", argv[1]);
	for (int i = 2; cmd->subcmds && i < argc; i++) {
		const struct kcr_cmd *sub = kcr_cmd_find(cmd->subcmds, argv[i]);

		if (sub == NULL)
			return kcr_cmd_usage_error(cmd, err, "unknown subcommand '%s'", argv[i]);
		cmd = sub;
	}
	kcr_cmd_print_help(cmd, stdout);
	return 0;
}

const struct kcr_cmd kcr_cmd_help = {
	.name = "help",
	.usage = "kcr help [COMMAND [SUBCOMMAND]]",
	.summary = "Show help for kcr or one of its commands.",
	.examples = "  kcr help\n  kcr help exec",
	.opts = no_opts,
	.run = help_run,
};

/* kcr config show: every setting's effective value and where it came from. */
#include <config.h>

#include "cmd.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <string.h>

static const struct kcr_cmd kcr_cmd_config_show;

enum { O_JSON };

static const struct kcr_opt config_show_opts[] = {
	[O_JSON] = { "json", 0, NULL, "print JSON", NULL },
	{ NULL },
};

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	*(bool *)data = true;
	return 0;
}

static const char *
shown_value(const struct kcr_cfg_key *k, const char *v)
{
	return k->secret && *v ? "********" : v;
}

static char *
origin_text(const struct kcr_config *cfg, const char *name)
{
	const char *origin = NULL;
	enum kcr_cfg_source s = kcr_config_source(cfg, name, &origin);

	if (origin)
		return kcr_strdup_printf("%s %s", kcr_cfg_source_name(s), origin);
	return kcr_xstrdup(kcr_cfg_source_name(s));
}

static int
show_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	bool json = false;
	cJSON *o = NULL;
	int first, r = kcr_cmd_parse(&kcr_cmd_config_show, argc, argv, on_opt, &json, &first, err);

	if (r != 0)
		return r == 1 ? 0 : -1;
	if (first < argc)
		return kcr_cmd_usage_error(&kcr_cmd_config_show, err, "unexpected argument '%s'",
					   argv[first]);
	if (json)
		o = cJSON_CreateObject();
	else if (kcr_config_file(ctx->cfg))
		printf("# file: %s\n", kcr_config_file(ctx->cfg));
	for (unsigned int i = 0; i < kcr_config_key_count(); i++) {
		const struct kcr_cfg_key *k = kcr_config_key_at(i);
		const char *v = shown_value(k, kcr_config_str(ctx->cfg, k->name));
		kcr_autofree char *origin = origin_text(ctx->cfg, k->name);

		if (json) {
			cJSON *e = cJSON_AddObjectToObject(o, k->name);

			cJSON_AddStringToObject(e, "value", v);
			cJSON_AddStringToObject(e, "source", origin);
			cJSON_AddStringToObject(e, "env", k->env);
		} else {
			printf("%-26s %-24s # %s\n", k->name, v, origin);
		}
	}
	if (json) {
		kcr_autofree char *s = cJSON_Print(o);

		printf("%s\n", s);
		cJSON_Delete(o);
	}
	return 0;
}

static const struct kcr_cmd kcr_cmd_config_show = {
	.name = "show",
	.usage = "kcr config show [--json]",
	.summary = "Print each setting's effective value and where it came from (secrets masked).",
	.examples = "  kcr config show\n  KCR_TIMEOUT=5 kcr config show | grep timeout\n"
		    "  kcr --set limits.pids=64 config show --json",
	.opts = config_show_opts,
	.run = show_run,
};

static const struct kcr_cmd *const config_subcmds[] = { &kcr_cmd_config_show, NULL };

static int
config_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	return kcr_cmd_dispatch_sub(&kcr_cmd_config, ctx, argc, argv, err);
}

static const struct kcr_opt no_opts[] = { { NULL } };

const struct kcr_cmd kcr_cmd_config = {
	.name = "config",
	.usage = "kcr config show [--json]",
	.summary = "Show the effective configuration.",
	.examples = "  kcr config show",
	.opts = no_opts,
	.subcmds = config_subcmds,
	.run = config_run,
};

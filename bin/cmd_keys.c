/* kcr keys create|ls|rm|set: managed API keys (lib/server/keys.h), on a
 * running kcr serve through its admin API (--server URL and the admin
 * key, client.admin_key), or, without a server, in the session store of
 * this machine's configuration (the state dir, or Redis), which every
 * kcr serve on that store reads. */
#include <config.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/parse.h"
#include "base/util.h"
#include "client/api_client.h"
#include "cmd.h"
#include "server/keys.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const struct kcr_cmd kcr_cmd_keys_create, kcr_cmd_keys_ls, kcr_cmd_keys_rm, kcr_cmd_keys_set;

#define SERVER_OPT                                                                                 \
	{                                                                                          \
		"server", 0, "URL",                                                                \
			"use the kcr serve at URL with the admin key (default: "                   \
			"client.server; none: this machine's session store)",                      \
			NULL                                                                       \
	}
#define JSON_OPT                                                                                   \
	{                                                                                          \
		"json", 0, NULL, "print JSON", NULL                                                \
	}
#define LIMIT_OPTS                                                                                 \
	{ "name", 0, "NAME", "a name to know the key by", NULL },                                  \
		{ "per-second", 0, "N", "requests per second (0: no limit)", NULL },               \
		{ "per-minute", 0, "N", "requests per clock minute (0: no limit)", NULL },         \
		{ "per-hour", 0, "N", "requests per clock hour (0: no limit)", NULL },             \
		{ "per-day", 0, "N", "requests per UTC day (0: no limit)", NULL },                 \
		{ "max-concurrent", 0, "N", "executions at once, per replica (0: no cap)", NULL }, \
	{                                                                                          \
		"expires-in", 0, "DURATION", "expire after DURATION (30d, 12h, 90m, 3600s)", NULL  \
	}

static const struct kcr_opt create_opts[] = {
	SERVER_OPT, JSON_OPT, LIMIT_OPTS, { "disabled", 0, NULL, "create it disabled", NULL },
	{ NULL },
};

static const struct kcr_opt set_opts[] = {
	SERVER_OPT,
	JSON_OPT,
	LIMIT_OPTS,
	{ "no-expiry", 0, NULL, "never expire", NULL },
	{ "enable", 0, NULL, "let the key in again", NULL },
	{ "disable", 0, NULL, "refuse the key (401) until enabled again", NULL },
	{ NULL },
};

static const struct kcr_opt ls_opts[] = {
	SERVER_OPT,
	JSON_OPT,
	{ NULL },
};

static const struct kcr_opt rm_opts[] = {
	SERVER_OPT,
	{ NULL },
};

struct keys_args {
	struct kcr_ctx *ctx;
	const struct kcr_cmd *cmd;
	bool json;
	cJSON *body; /* the record's members the options give */
};

/* "30d", "12h", "90m", "3600s" or "3600": seconds. */
static int
parse_duration(const char *s, uint64_t *out, kcr_error_t *err)
{
	static const struct {
		char suffix;
		uint64_t seconds;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	size_t len = strlen(s);
	uint64_t mult = 1;
	kcr_autofree char *num = kcr_xstrdup(s);

	for (size_t i = 0; len > 1 && i < KCR_ARRAY_SIZE(units); i++)
		if (s[len - 1] == units[i].suffix) {
			mult = units[i].seconds;
			num[len - 1] = '\0';
		}
	if (kcr_parse_u64(num, 1, UINT64_C(3153600000) / mult, out, err) < 0)
		return kcr_error_wrap(err, "--expires-in '%s' (e.g. 30d, 12h, 90m, 3600s)", s);
	*out *= mult;
	return 0;
}

static cJSON *
limits_of(cJSON *body)
{
	cJSON *rl = cJSON_GetObjectItemCaseSensitive(body, "rate_limits");

	return rl ? rl : cJSON_AddObjectToObject(body, "rate_limits");
}

static int
on_count(struct keys_args *a, const char *name, const char *arg, kcr_error_t *err)
{
	kcr_autofree char *member = kcr_xstrdup(name);
	uint64_t v;

	if (kcr_parse_u64(arg, 0, UINT32_MAX, &v, err) < 0)
		return kcr_error_wrap(err, "--%s", name);
	for (char *p = member; *p; p++)
		*p = *p == '-' ? '_' : *p;
	cJSON_AddNumberToObject(strncmp(name, "per-", 4) == 0 ? limits_of(a->body) : a->body,
				member, (double)v);
	return 0;
}

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	struct keys_args *a = data;
	const char *name = a->cmd->opts[id].name;
	uint64_t secs;

	if (strcmp(name, "server") == 0)
		return kcr_config_set(a->ctx->cfg, "client.server", arg, KCR_SRC_FLAG, err);
	if (strcmp(name, "json") == 0)
		a->json = true;
	else if (strcmp(name, "name") == 0)
		cJSON_AddStringToObject(a->body, "name", arg);
	else if (strncmp(name, "per-", 4) == 0 || strcmp(name, "max-concurrent") == 0)
		return on_count(a, name, arg, err);
	else if (strcmp(name, "expires-in") == 0) {
		if (parse_duration(arg, &secs, err) < 0)
			return -1;
		cJSON_AddNumberToObject(a->body, "expires_in", (double)secs);
	} else if (strcmp(name, "no-expiry") == 0)
		cJSON_AddNumberToObject(a->body, "expires", 0);
	else if (strcmp(name, "enable") == 0 || strcmp(name, "disable") == 0 ||
		 strcmp(name, "disabled") == 0)
		cJSON_AddBoolToObject(a->body, "enabled", strcmp(name, "enable") == 0);
	else
		return -1;
	return 0;
}

/* ---- where the keys are: a server, or this machine's store --------------- */

struct target {
	struct kcr_api_client *api;
	struct kcr_stores st;
	bool st_open;
};

static int
target_open(struct target *t, struct kcr_ctx *ctx, kcr_error_t *err)
{
	const char *url = kcr_config_str(ctx->cfg, "client.server");

	memset(t, 0, sizeof(*t));
	if (*url) {
		t->api = kcr_api_client_new(url, kcr_config_str(ctx->cfg, "client.admin_key"), err);
		if (t->api)
			kcr_api_client_set_ca_file(t->api,
						   kcr_config_str(ctx->cfg, "client.ca_file"));
		return t->api ? 0 : -1;
	}
	if (kcr_stores_open(&t->st, ctx->cfg, err) < 0)
		return -1;
	t->st_open = true;
	return 0;
}

static void
target_close(struct target *t)
{
	kcr_api_client_free(t->api);
	if (t->st_open)
		kcr_stores_close(&t->st);
}

/* The record of a key by id or prefix, as JSON (*out); with body, changed
 * by it first. */
static int
local_key(struct target *t, const char *want, const cJSON *body, cJSON **out, kcr_error_t *err)
{
	struct kcr_api_key_record rec;
	char id[KCR_KEY_ID_LEN + 1];

	if (kcr_keys_resolve(&t->st, want, id, err) < 0)
		return -1;
	if (body ? kcr_keys_update(&t->st, id, body, &rec, err) < 0
		 : kcr_store_key_get(&t->st, id, &rec, err) < 0)
		return -1;
	*out = kcr_key_record_json(&rec, kcr_wall_time());
	kcr_api_key_release(&rec);
	return 0;
}

static int
target_request(struct target *t, const char *method, const char *id, const cJSON *body, cJSON **out,
	       kcr_error_t *err)
{
	kcr_autofree char *path =
		id ? kcr_strdup_printf("/admin/keys/%s", id) : kcr_xstrdup("/admin/keys");
	kcr_autofree char *json = body ? cJSON_PrintUnformatted(body) : NULL;

	return kcr_api_client_request_json(t->api, method, path, json, out, err);
}

/* ---- output --------------------------------------------------------------- */

static void
print_json(const cJSON *o)
{
	kcr_autofree char *s = cJSON_Print(o);

	printf("%s\n", s);
}

/* "60/m 1000/h", or "-" */
static void
limits_text(const cJSON *k, char *buf, size_t size)
{
	static const char *const names[] = { "per_second", "per_minute", "per_hour", "per_day" };
	static const char *const units[] = { "s", "m", "h", "d" };
	const cJSON *rl = cJSON_GetObjectItemCaseSensitive(k, "rate_limits");
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < KCR_ARRAY_SIZE(names); i++) {
		double v = kcr_json_num(rl, names[i], 0);

		if (v > 0 && used < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%.0f/%s",
						 used ? " " : "", v, units[i]);
	}
	if (used == 0)
		snprintf(buf, size, "-");
}

static void
print_row(const cJSON *k)
{
	char limits[96], expires[32] = "never";
	double exp = kcr_json_num(k, "expires", 0);
	const char *id = kcr_json_str(k, "id");

	if (exp > 0)
		kcr_iso8601(exp, expires);
	limits_text(k, limits, sizeof(limits));
	printf("%-16.16s %-20s %-8s %-24s %5.0f  %s\n", id ? id : "?",
	       kcr_json_str(k, "name") && *kcr_json_str(k, "name") ? kcr_json_str(k, "name") : "-",
	       kcr_json_str(k, "status") ? kcr_json_str(k, "status") : "?", limits,
	       kcr_json_num(k, "max_concurrent", 0), expires);
}

static void
print_header(void)
{
	printf("%-16s %-20s %-8s %-24s %5s  %s\n", "ID", "NAME", "STATUS", "LIMITS", "CONC",
	       "EXPIRES");
}

/* ---- subcommands ---------------------------------------------------------- */

/* Parses the options of a->cmd; *first: the first operand. */
static int
parse(struct keys_args *a, struct kcr_ctx *ctx, const struct kcr_cmd *cmd, int argc, char **argv,
      int *first, kcr_error_t *err)
{
	a->ctx = ctx;
	a->cmd = cmd;
	a->body = cJSON_CreateObject();
	return kcr_cmd_parse(cmd, argc, argv, on_opt, a, first, err);
}

static int
create_key(struct target *t, const cJSON *body, cJSON **out, kcr_error_t *err)
{
	struct kcr_api_key_record rec;
	char key[KCR_KEY_LEN + 1];

	if (t->api)
		return target_request(t, "POST", NULL, body, out, err);
	if (kcr_keys_create(&t->st, body, key, &rec, err) < 0)
		return -1;
	*out = kcr_key_record_json(&rec, kcr_wall_time());
	cJSON_AddStringToObject(*out, "key", key);
	kcr_api_key_release(&rec);
	return 0;
}

static int
create_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct keys_args a = { 0 };
	struct target t;
	cJSON *out = NULL;
	int first, r = parse(&a, ctx, &kcr_cmd_keys_create, argc, argv, &first, err);

	if (r == 0 && first < argc)
		r = kcr_cmd_usage_error(&kcr_cmd_keys_create, err, "unexpected argument '%s'",
					argv[first]);
	if (r == 0 && (r = target_open(&t, ctx, err)) == 0) {
		r = create_key(&t, a.body, &out, err);
		target_close(&t);
	}
	if (r == 0 && a.json)
		print_json(out);
	else if (r == 0) {
		/* the key alone on stdout, for a script to take */
		printf("%s\n", kcr_json_str(out, "key") ? kcr_json_str(out, "key") : "");
		fprintf(stderr, "kcr: created key %s; it is shown only now: keep it safe\n",
			kcr_json_str(out, "id") ? kcr_json_str(out, "id") : "?");
	}
	cJSON_Delete(out);
	cJSON_Delete(a.body);
	return r == 1 ? 0 : r;
}

static int
ls_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct keys_args a = { 0 };
	struct target t;
	cJSON *out = NULL;
	const cJSON *k;
	int first, r = parse(&a, ctx, &kcr_cmd_keys_ls, argc, argv, &first, err);

	cJSON_Delete(a.body);
	if (r == 0 && first < argc)
		r = kcr_cmd_usage_error(&kcr_cmd_keys_ls, err, "unexpected argument '%s'",
					argv[first]);
	if (r != 0 || target_open(&t, ctx, err) < 0)
		return r == 1 ? 0 : -1;
	if (t.api) {
		r = target_request(&t, "GET", NULL, NULL, &out, err);
	} else {
		struct kcr_api_key_record *list = NULL;
		size_t n = 0;

		cJSON *keys;

		r = kcr_store_key_list(&t.st, &list, &n, err);
		out = cJSON_CreateObject();
		keys = cJSON_AddArrayToObject(out, "keys");
		for (size_t i = 0; r == 0 && i < n; i++)
			cJSON_AddItemToArray(keys, kcr_key_record_json(&list[i], kcr_wall_time()));
		kcr_api_key_list_free(list, n);
	}
	target_close(&t);
	if (r == 0 && a.json)
		print_json(out);
	else if (r == 0) {
		print_header();
		cJSON_ArrayForEach (k, cJSON_GetObjectItemCaseSensitive(out, "keys"))
			print_row(k);
	}
	cJSON_Delete(out);
	return r;
}

static int
rm_one(struct target *t, const char *want, kcr_error_t *err)
{
	char id[KCR_KEY_ID_LEN + 1];
	cJSON *out = NULL;

	if (t->api) {
		int r = target_request(t, "DELETE", want, NULL, &out, err);

		cJSON_Delete(out);
		return r;
	}
	if (kcr_keys_resolve(&t->st, want, id, err) < 0 ||
	    kcr_store_key_delete(&t->st, id, err) < 0)
		return -1;
	return 0;
}

static int
rm_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct keys_args a = { 0 };
	struct target t;
	int first, r = parse(&a, ctx, &kcr_cmd_keys_rm, argc, argv, &first, err);

	cJSON_Delete(a.body);
	if (r == 0 && first >= argc)
		r = kcr_cmd_usage_error(&kcr_cmd_keys_rm, err, "no key id given");
	if (r != 0 || target_open(&t, ctx, err) < 0)
		return r == 1 ? 0 : -1;
	for (int i = first; r == 0 && i < argc; i++)
		if ((r = rm_one(&t, argv[i], err)) == 0)
			fprintf(stderr, "kcr: revoked key %s\n", argv[i]);
	target_close(&t);
	return r;
}

static int
set_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct keys_args a = { 0 };
	struct target t;
	cJSON *out = NULL;
	int first, r = parse(&a, ctx, &kcr_cmd_keys_set, argc, argv, &first, err);

	if (r == 0 && argc - first != 1)
		r = kcr_cmd_usage_error(&kcr_cmd_keys_set, err,
					first >= argc ? "no key id given" : "one key id at a time");
	if (r == 0 && (r = target_open(&t, ctx, err)) == 0) {
		r = t.api ? target_request(&t, "PATCH", argv[first], a.body, &out, err)
			  : local_key(&t, argv[first], a.body, &out, err);
		target_close(&t);
	}
	if (r == 0 && a.json)
		print_json(out);
	else if (r == 0) {
		print_header();
		print_row(out);
	}
	cJSON_Delete(out);
	cJSON_Delete(a.body);
	return r == 1 ? 0 : r;
}

static const struct kcr_cmd kcr_cmd_keys_create = {
	.name = "create",
	.usage = "kcr keys create [--server URL] [--name NAME] [--per-second N] [--per-minute N] "
		 "[--per-hour N] [--per-day N] [--max-concurrent N] [--expires-in DURATION] "
		 "[--disabled] [--json]",
	.summary = "Create a managed API key and print it, the only time it is shown; the store "
		   "keeps its SHA-256, which is its id.",
	.examples = "  kcr keys create --name ci --per-minute 60 --per-day 5000\n"
		    "  KCR_ADMIN_KEY=... kcr keys create --server http://127.0.0.1:8000 "
		    "--expires-in 30d",
	.opts = create_opts,
	.operands = "none",
	.run = create_run,
};

static const struct kcr_cmd kcr_cmd_keys_ls = {
	.name = "ls",
	.usage = "kcr keys ls [--server URL] [--json]",
	.summary = "List the managed keys: id, name, status, rate limits, cap, expiry.",
	.examples = "  kcr keys ls\n  kcr keys ls --server http://127.0.0.1:8000 --json",
	.opts = ls_opts,
	.operands = "none",
	.run = ls_run,
};

static const struct kcr_cmd kcr_cmd_keys_rm = {
	.name = "rm",
	.usage = "kcr keys rm [--server URL] ID...",
	.summary = "Revoke keys, by id or a prefix of at least 8 hex digits; every replica "
		   "refuses them within server.key_cache_ms.",
	.examples = "  kcr keys rm 3f2a9c01",
	.opts = rm_opts,
	.operands = "none",
	.run = rm_run,
};

static const struct kcr_cmd kcr_cmd_keys_set = {
	.name = "set",
	.usage = "kcr keys set [--server URL] [--name NAME] [--per-second N] [--per-minute N] "
		 "[--per-hour N] [--per-day N] [--max-concurrent N] [--expires-in DURATION] "
		 "[--no-expiry] [--enable|--disable] [--json] ID",
	.summary = "Change a key's name, rate limits, cap, expiry or whether it is enabled; what "
		   "is not given stays as it is.",
	.examples = "  kcr keys set --per-minute 0 --per-hour 1000 3f2a9c01\n"
		    "  kcr keys set --disable 3f2a9c01",
	.opts = set_opts,
	.operands = "none",
	.run = set_run,
};

static const struct kcr_cmd *const keys_subcmds[] = {
	&kcr_cmd_keys_create, &kcr_cmd_keys_ls, &kcr_cmd_keys_rm, &kcr_cmd_keys_set, NULL,
};

static int
keys_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	return kcr_cmd_dispatch_sub(&kcr_cmd_keys, ctx, argc, argv, err);
}

static const struct kcr_opt no_opts[] = { { NULL } };

const struct kcr_cmd kcr_cmd_keys = {
	.name = "keys",
	.usage = "kcr keys create|ls|rm|set [options]",
	.summary = "Create, list, revoke and change the managed API keys of kcr serve.",
	.examples = "  kcr keys create --name ci --per-minute 60\n"
		    "  kcr keys ls --server http://127.0.0.1:8000",
	.opts = no_opts,
	.subcmds = keys_subcmds,
	.run = keys_run,
};

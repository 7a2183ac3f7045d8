/* kcr pool status|warmup: the warm sandbox pools of a running kcr serve
 * (--server URL or KCR_SERVER), or of an engine in this process. */
#include <config.h>

#include "server/api.h"
#include "base/clock.h"
#include "base/parse.h"
#include "base/pool_floor.h"
#include "client/api_client.h"
#include "cmd.h"
#include "base/json.h"
#include "engine/engine.h"
#include "engine/pool.h"
#include "base/util.h"
#include "sandbox/kubernetes.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { O_SERVER, O_JSON, O_WATCH, O_SIZE, O_TIMEOUT };

static const struct kcr_opt status_opts[] = {
	[O_SERVER] = { "server", 0, "URL", "ask the kcr serve at URL (default: $KCR_SERVER)",
		       NULL },
	[O_JSON] = { "json", 0, NULL, "print JSON", NULL },
	[O_WATCH] = { "watch", 'w', NULL, "refresh every second until interrupted", NULL },
	{ NULL },
};

static const struct kcr_opt warmup_opts[] = {
	[O_SERVER] = { "server", 0, "URL", "fill the pools of the kcr serve at URL", NULL },
	[O_JSON] = { "json", 0, NULL, "print the final statistics as JSON", NULL },
	[O_WATCH] = { "quiet", 'q', NULL, "no progress display", NULL },
	[O_SIZE] = { "size", 'n', "N", "set each named pool's size to N first", NULL },
	[O_TIMEOUT] = { "timeout", 0, "SECONDS", "give up after SECONDS (default 120)", NULL },
	{ NULL },
};

struct pool_args {
	bool json, watch_or_quiet;
	const char *size, *timeout;
};

/* Where the statistics come from: a server, the cluster's labelled pods
 * (sandbox.provider kubernetes), or a pool in this process. */
struct source {
	struct kcr_api_client *api;
	struct kcr_k8s *k8s;
	const struct kcr_config *cfg;
	struct kcr_engine *engine;
};

static const struct kcr_cmd kcr_cmd_pool_status, kcr_cmd_pool_warmup;

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	struct {
		struct pool_args *a;
		struct kcr_ctx *ctx;
	} *d = data;

	switch (id) {
	case O_SERVER:
		return kcr_config_set(d->ctx->cfg, "client.server", arg, KCR_SRC_FLAG, err);
	case O_JSON:
		d->a->json = true;
		return 0;
	case O_WATCH:
		d->a->watch_or_quiet = true;
		return 0;
	case O_SIZE:
		d->a->size = arg;
		return 0;
	case O_TIMEOUT:
		d->a->timeout = arg;
		return 0;
	default:
		return -1;
	}
}

static int
source_open(struct source *s, struct kcr_ctx *ctx, bool cluster, kcr_error_t *err)
{
	const char *url = kcr_config_str(ctx->cfg, "client.server");
	const char *key = kcr_config_str(ctx->cfg, "client.admin_key");

	memset(s, 0, sizeof(*s));
	if (*url) {
		/* warmup is an admin route; the admin key reads the status too */
		if (*key == '\0')
			key = kcr_config_str(ctx->cfg, "client.api_key");
		s->api = kcr_api_client_new(url, key, err);
		if (s->api)
			kcr_api_client_set_ca_file(s->api,
						   kcr_config_str(ctx->cfg, "client.ca_file"));
		return s->api ? 0 : -1;
	}
	if (cluster && strcmp(kcr_config_str(ctx->cfg, "sandbox.provider"), "kubernetes") == 0) {
		s->cfg = ctx->cfg;
		s->k8s = kcr_k8s_open(ctx->cfg, NULL, err);
		return s->k8s ? 0 : -1;
	}
	s->engine = kcr_engine_new(ctx->cfg, err);
	if (s->engine == NULL || kcr_engine_enable_pool(s->engine, ctx->cfg, err) < 0)
		return -1;
	return 0;
}

static void
source_close(struct source *s)
{
	kcr_api_client_free(s->api);
	kcr_k8s_free(s->k8s);
	kcr_engine_free(s->engine);
}

/* The pools of the cluster: each language with pods or a pool size. */
static int
fetch_cluster(struct source *s, cJSON **out, kcr_error_t *err)
{
	struct kcr_k8s_pool_count *c = NULL;
	size_t n = 0, j = 0;
	cJSON *pools;

	if (kcr_k8s_pool_counts(s->k8s, &c, &n, err) < 0)
		return kcr_error_wrap(err, "the pools of the cluster at %s",
				      kcr_k8s_server(s->k8s));
	*out = cJSON_CreateObject();
	cJSON_AddStringToObject(*out, "provider", "kubernetes");
	cJSON_AddStringToObject(*out, "namespace", kcr_k8s_namespace(s->k8s));
	pools = cJSON_AddArrayToObject(*out, "pools");
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		const char *id = kcr_lang_at(i)->id;
		struct kcr_k8s_pool_count zero = { 0 }, *pc = &zero;
		long target = kcr_pool_floor_of(s->cfg, kcr_lang_at(i), "kubernetes");
		cJSON *p;

		if (j < n && strcmp(c[j].lang, id) == 0)
			pc = &c[j++];
		else if (target <= 0)
			continue;
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "language", id);
		cJSON_AddNumberToObject(p, "target", (double)target);
		cJSON_AddNumberToObject(p, "ready", pc->ready);
		cJSON_AddNumberToObject(p, "claimed", pc->claimed);
		cJSON_AddNumberToObject(p, "creating", pc->creating);
		cJSON_AddNumberToObject(p, "failed", pc->failed);
		cJSON_AddNumberToObject(p, "jobs", pc->jobs);
		cJSON_AddNumberToObject(p, "oldest_ready_s", (double)pc->oldest_ready_s);
		cJSON_AddItemToArray(pools, p);
	}
	free(c);
	return 0;
}

static int
fetch(struct source *s, cJSON **out, kcr_error_t *err)
{
	if (s->k8s)
		return fetch_cluster(s, out, err);
	if (s->api)
		return kcr_api_client_request_json(s->api, "GET", "/pool", NULL, out, err);
	*out = kcr_pool_stats_json(kcr_engine_pool(s->engine));
	return 0;
}

static void
print_table(const cJSON *stats, FILE *f)
{
	const cJSON *p;

	fprintf(f, "%-5s %5s %6s %6s %8s %6s %8s %6s %8s %6s %10s\n", "LANG", "FLOOR", "TARGET",
		"READY", "CREATING", "IN_USE", "HITS", "WAITS", "MISSES", "FAILED", "MISS_WAIT");
	cJSON_ArrayForEach (p, cJSON_GetObjectItemCaseSensitive(stats, "pools")) {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(p, "language");

		fprintf(f, "%-5s %5.0f %6.0f %6.0f %8.0f %6.0f %8.0f %6.0f %8.0f %6.0f %8.1fms\n",
			cJSON_IsString(l) ? l->valuestring : "?", kcr_json_num(p, "floor", 0),
			kcr_json_num(p, "target", 0), kcr_json_num(p, "ready", 0),
			kcr_json_num(p, "creating", 0), kcr_json_num(p, "in_use", 0),
			kcr_json_num(p, "hits", 0), kcr_json_num(p, "waits", 0),
			kcr_json_num(p, "misses", 0), kcr_json_num(p, "failed", 0),
			kcr_json_num(p, "miss_wait_ms_avg", 0));
	}
	if (cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(stats, "adaptive")))
		fprintf(f,
			"adaptive targets: %s (up to %.0f); memory: %.0f MiB of a %.0f MiB "
			"budget\n",
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(stats, "adaptive")) ? "on"
											  : "off",
			kcr_json_num(stats, "adaptive_max", 0), kcr_json_num(stats, "memory_mb", 0),
			kcr_json_num(stats, "memory_budget_mb", 0));
}

/* "42s", "7m", "3h", "2d"; "-" for none. */
static void
age(char *buf, size_t size, const cJSON *p, bool any)
{
	double s = kcr_json_num(p, "oldest_ready_s", 0);

	if (!any)
		snprintf(buf, size, "-");
	else if (s < 120)
		snprintf(buf, size, "%.0fs", s);
	else if (s < 7200)
		snprintf(buf, size, "%.0fm", s / 60);
	else if (s < 172800)
		snprintf(buf, size, "%.0fh", s / 3600);
	else
		snprintf(buf, size, "%.0fd", s / 86400);
}

static void
print_cluster_table(const cJSON *stats, FILE *f)
{
	const cJSON *p;

	fprintf(f, "%-5s %6s %6s %8s %8s %6s %6s %12s\n", "LANG", "TARGET", "READY", "CLAIMED",
		"CREATING", "FAILED", "JOBS", "OLDEST_READY");
	cJSON_ArrayForEach (p, cJSON_GetObjectItemCaseSensitive(stats, "pools")) {
		char old[16];

		age(old, sizeof(old), p, kcr_json_num(p, "ready", 0) > 0);
		fprintf(f, "%-5s %6.0f %6.0f %8.0f %8.0f %6.0f %6.0f %12s\n",
			kcr_json_str(p, "language") ? kcr_json_str(p, "language") : "?",
			kcr_json_num(p, "target", 0), kcr_json_num(p, "ready", 0),
			kcr_json_num(p, "claimed", 0), kcr_json_num(p, "creating", 0),
			kcr_json_num(p, "failed", 0), kcr_json_num(p, "jobs", 0), old);
	}
}

static int
show(const struct pool_args *a, cJSON *stats)
{
	if (a->json) {
		kcr_autofree char *s = cJSON_Print(stats);

		printf("%s\n", s);
	} else if (kcr_json_str(stats, "provider")) {
		print_cluster_table(stats, stdout);
	} else {
		print_table(stats, stdout);
	}
	fflush(stdout);
	return 0;
}

static int
status_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct pool_args a = { 0 };
	struct {
		struct pool_args *a;
		struct kcr_ctx *ctx;
	} d = { &a, ctx };
	struct source src;
	int first, r = kcr_cmd_parse(&kcr_cmd_pool_status, argc, argv, on_opt, &d, &first, err);

	if (r != 0)
		return r == 1 ? 0 : -1;
	if (first < argc)
		return kcr_cmd_usage_error(&kcr_cmd_pool_status, err, "unexpected argument '%s'",
					   argv[first]);
	if (source_open(&src, ctx, true, err) < 0) {
		source_close(&src);
		return -1;
	}
	do {
		cJSON *stats = NULL;

		if (fetch(&src, &stats, err) < 0) {
			r = -1;
			break;
		}
		if (a.watch_or_quiet && isatty(1))
			printf("\033[H\033[2J");
		show(&a, stats);
		cJSON_Delete(stats);
		if (a.watch_or_quiet)
			sleep(1);
	} while (a.watch_or_quiet);
	source_close(&src);
	return r;
}

/* ---- warmup ------------------------------------------------------------ */

static bool
lang_full(const cJSON *stats, const char *const *langs, size_t n, unsigned *ready, unsigned *target)
{
	const cJSON *p;

	*ready = *target = 0;
	cJSON_ArrayForEach (p, cJSON_GetObjectItemCaseSensitive(stats, "pools")) {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(p, "language");
		double r = kcr_json_num(p, "ready", 0), t = kcr_json_num(p, "target", 0);
		bool want = n == 0;

		for (size_t i = 0; i < n && cJSON_IsString(l); i++)
			want |= strcmp(langs[i], l->valuestring) == 0;
		if (!want)
			continue;
		*ready += (unsigned)(r < t ? r : t);
		*target += (unsigned)t;
	}
	return *ready >= *target;
}

static char *
warmup_body(char **langs, size_t n, const char *size)
{
	cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "languages");

	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(langs[i]));
	if (size)
		cJSON_AddNumberToObject(o, "size", atof(size));
	cJSON_AddNumberToObject(o, "timeout_ms", 0); /* set the targets; we watch ourselves */
	return kcr_json_print_free(o);
}

static int
start_warmup(struct source *src, char **langs, size_t n, const char *size, kcr_error_t *err)
{
	kcr_autofree char *body = warmup_body(langs, n, size);
	cJSON *reply = NULL;
	int r;

	if (src->api) {
		r = kcr_api_client_request_json(src->api, "POST", "/pool/warmup", body, &reply,
						err);
		cJSON_Delete(reply);
		return r;
	}
	for (size_t i = 0; size && i < n; i++)
		if (kcr_pool_set_target(kcr_engine_pool(src->engine), langs[i],
					(unsigned)atoi(size), err) < 0)
			return -1;
	return 0;
}

static int
watch_warmup(struct source *src, const struct pool_args *a, char **langs, size_t n,
	     uint64_t timeout_ms, kcr_error_t *err)
{
	uint64_t t0 = kcr_now_ms();
	bool tty = isatty(2) && !a->watch_or_quiet;
	unsigned ready = 0, target = 0;
	cJSON *stats = NULL;

	for (;;) {
		cJSON_Delete(stats);
		stats = NULL;
		if (fetch(src, &stats, err) < 0)
			return -1;
		bool full = lang_full(stats, (const char *const *)langs, n, &ready, &target);

		if (tty)
			fprintf(stderr, "\rkcr: warming up: %u/%u sandboxes ready (%.1f s)", ready,
				target, (kcr_now_ms() - t0) / 1000.0);
		if (full || kcr_now_ms() - t0 > timeout_ms)
			break;
		usleep(100000);
	}
	if (tty)
		fprintf(stderr, "\n");
	show(a, stats);
	cJSON_Delete(stats);
	if (ready < target)
		return kcr_error_set(err, KCR_E_TIMEOUT, 0,
				     "only %u of %u sandboxes ready after %.0f s", ready, target,
				     timeout_ms / 1000.0);
	return 0;
}

static int
warmup_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct pool_args a = { 0 };
	struct {
		struct pool_args *a;
		struct kcr_ctx *ctx;
	} d = { &a, ctx };
	kcr_autostrv char **langs = kcr_xzalloc(sizeof(char *));
	struct source src = { 0 };
	uint64_t v, timeout_ms = 120000;
	int first, r = kcr_cmd_parse(&kcr_cmd_pool_warmup, argc, argv, on_opt, &d, &first, err);

	if (r != 0)
		return r == 1 ? 0 : -1;
	if (a.size && kcr_parse_u64(a.size, 0, 1024, &v, err) < 0)
		return kcr_error_wrap(err, "--size");
	if (a.timeout) {
		if (kcr_parse_u64(a.timeout, 1, 3600, &v, err) < 0)
			return kcr_error_wrap(err, "--timeout");
		timeout_ms = v * 1000;
	}
	for (int i = first; i < argc; i++) {
		const struct kcr_lang *l = kcr_lang_lookup(argv[i], err);

		if (l == NULL)
			return -1;
		kcr_strv_push(&langs, l->id);
	}
	if (a.size && kcr_strv_len(langs) == 0)
		return kcr_cmd_usage_error(&kcr_cmd_pool_warmup, err, "--size needs the languages");
	r = source_open(&src, ctx, false, err) < 0 ||
			    start_warmup(&src, langs, kcr_strv_len(langs), a.size, err) < 0 ||
			    watch_warmup(&src, &a, langs, kcr_strv_len(langs), timeout_ms, err) < 0
		    ? -1
		    : 0;
	source_close(&src);
	return r;
}

static const struct kcr_cmd kcr_cmd_pool_status = {
	.name = "status",
	.usage = "kcr pool status [--server URL] [--json] [--watch]",
	.summary = "Show each language's warm sandboxes: target, ready, in use, hits, misses; "
		   "with sandbox.provider kubernetes and no server, the cluster's pool pods "
		   "(every replica's): ready, claimed, creating, failed, Jobs, oldest ready.",
	.examples = "  kcr pool status --server http://127.0.0.1:8000\n"
		    "  KCR_SERVER=http://127.0.0.1:8000 kcr pool status --watch\n"
		    "  kcr pool status --json | jq '.pools[] | select(.language==\"py\")'\n"
		    "  kcr --set sandbox.provider=kubernetes pool status",
	.opts = status_opts,
	.run = status_run,
};

static const struct kcr_cmd kcr_cmd_pool_warmup = {
	.name = "warmup",
	.usage =
		"kcr pool warmup [--server URL] [-n N] [--timeout SECONDS] [--json] [-q] [LANG...]",
	.summary = "Fill the pools (all, or the LANGs named) and wait until their sandboxes are "
		   "ready, with a progress display. Without a server it fills a pool in this "
		   "process, which shows how fast this machine makes sandboxes.",
	.examples = "  kcr pool warmup --server http://127.0.0.1:8000\n"
		    "  kcr pool warmup --server http://127.0.0.1:8000 -n 8 py js\n"
		    "  kcr pool warmup py",
	.opts = warmup_opts,
	.operands = "lang",
	.run = warmup_run,
};

static const struct kcr_cmd *const pool_subcmds[] = {
	&kcr_cmd_pool_status,
	&kcr_cmd_pool_warmup,
	NULL,
};

static int
pool_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	return kcr_cmd_dispatch_sub(&kcr_cmd_pool, ctx, argc, argv, err);
}

static const struct kcr_opt no_opts[] = { { NULL } };

const struct kcr_cmd kcr_cmd_pool = {
	.name = "pool",
	.usage = "kcr pool status|warmup [options]",
	.summary = "Show or fill the warm sandbox pools of kcr serve.",
	.examples = "  kcr pool status --server http://127.0.0.1:8000\n"
		    "  kcr pool warmup --server http://127.0.0.1:8000 py",
	.opts = no_opts,
	.subcmds = pool_subcmds,
	.run = pool_run,
};

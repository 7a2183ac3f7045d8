/* kcr bench: named scenarios run against a server (--server URL) or the
 * engine in this process (with its warm pools), and in the same run
 * against the bare runtime (the program started directly: no sandbox, no
 * HTTP). Prints p50/p95/p99, executions per second, errors and the ratio
 * to bare. */
#include <config.h>

#include "api_client.h"
#include "cmd.h"
#include "lang.h"
#include "pool.h"
#include "service.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { O_SERVER, O_JSON, O_DURATION, O_CLIENTS, O_LIST };

static const struct kcr_opt bench_opts[] = {
	[O_SERVER] = { "server", 0, "URL", "benchmark the kcr serve at URL (default: this process's engine)", NULL },
	[O_JSON] = { "json", 0, NULL, "print the results as JSON", NULL },
	[O_DURATION] = { "duration", 'd', "SECONDS", "how long each scenario runs (default 5)", NULL },
	[O_CLIENTS] = { "clients", 'c', "N", "clients at once (default 1; the sweep uses 1, 2, 4, 8)", NULL },
	[O_LIST] = { "list", 0, NULL, "list the scenarios", NULL },
	{ NULL },
};

struct scenario {
	const char *name, *lang, *code, *help;
	const char *const *bare; /* argv run directly for the baseline, or NULL */
};

#define V(...) ((const char *const[]){ __VA_ARGS__, NULL })
static const struct scenario scenarios[] = {
	{ "py", "py", "print(1)", "Python print(1)", V("/usr/bin/python3", "-c", "print(1)") },
	{ "pandas", "py", "import pandas as pd\nprint(pd.DataFrame({'a': [1, 2]}).a.sum())",
	  "Python importing pandas", V("/usr/bin/python3", "-c", "import pandas") },
	{ "js", "js", "console.log(1)", "JavaScript", V("/usr/bin/node", "-e", "console.log(1)") },
	{ "php", "php", "<?php echo 1;", "PHP", V("/usr/bin/php", "-r", "echo 1;") },
	{ "bash", "bash", "echo 1", "Bash", V("/bin/bash", "-c", "echo 1") },
	{ "r", "r", "cat(1)", "R", V("/usr/bin/Rscript", "-e", "cat(1)") },
	{ "c", "c", "#include <stdio.h>\nint main(void) { puts(\"1\"); return 0; }", "C (compile + run)",
	  NULL },
	{ "files", "py", "d = open('in.bin', 'rb').read()\nopen('out.bin', 'wb').write(d[::-1])",
	  "a 1 MiB file in, another out", NULL },
	{ "sweep", "py", "print(1)", "Python print(1) at 1, 2, 4 and 8 clients", NULL },
};

struct bench_run {
	const struct scenario *sc;
	struct kcr_service *svc;
	const char *url, *key;
	uint64_t until_ms;
	pthread_mutex_t lock;
	double *lat;
	size_t n, cap;
	unsigned int errors;
	char *input;     /* the "files" scenario's input */
	size_t input_len;
};

struct stats {
	double p50, p95, p99, per_s;
	size_t n;
	unsigned int errors;
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
record(struct bench_run *b, double ms, bool ok)
{
	pthread_mutex_lock(&b->lock);
	if (!ok) {
		b->errors++;
	} else {
		if (b->n == b->cap)
			b->lat = kcr_xrealloc(b->lat, (b->cap = b->cap ? b->cap * 2 : 256) * sizeof(double));
		b->lat[b->n++] = ms;
	}
	pthread_mutex_unlock(&b->lock);
}

static void
fill_call(const struct bench_run *b, struct kcr_exec_call *c, struct kcr_file_ref *ref)
{
	memset(c, 0, sizeof(*c));
	c->exec.lang = kcr_lang_find(b->sc->lang);
	c->exec.code = kcr_xstrdup(b->sc->code);
	c->exec.code_len = strlen(b->sc->code);
	if (ref) {
		c->files = ref;
		c->n_files = 1;
	}
}

/* One execution through the engine or the server; true when it ran and
 * the program exited 0. */
static bool
one(struct bench_run *b, struct kcr_api_client *api, struct kcr_file_ref *ref)
{
	struct kcr_exec_call c;
	struct kcr_exec_result r = { 0 };
	kcr_error_t err = NULL;
	int rc;

	fill_call(b, &c, ref);
	rc = api ? kcr_api_client_exec(api, &c, &r, &err) : kcr_service_exec(b->svc, &c, &r, &err);
	c.files = NULL;
	c.n_files = 0;
	kcr_exec_call_release(&c);
	rc = rc == 0 && r.exec.exit_code == 0 ? 0 : -1;
	kcr_exec_result_release(&r);
	kcr_error_free(err);
	return rc == 0;
}

/* The "files" scenario's input goes into a session first. */
static int
upload_input(struct bench_run *b, struct kcr_api_client *api, struct kcr_file_ref *ref,
	     kcr_error_t *err)
{
	struct kcr_file f = { .name = "in.bin", .data = b->input, .len = b->input_len };
	struct kcr_file_meta *metas = NULL, m = { 0 };
	char sid[KCR_ID_LEN + 1];

	if (api) {
		if (kcr_api_client_upload(api, NULL, NULL, &f, 1, sid, &metas, err) < 0)
			return -1;
		m = metas[0];
		free(metas);
	} else if (kcr_service_upload_session(b->svc, NULL, NULL, NULL, sid, err) < 0 ||
		   kcr_service_put_file(b->svc, sid, f.name, f.data, f.len, &m, err) < 0) {
		return -1;
	}
	ref->id = kcr_xstrdup(m.id);
	ref->session_id = kcr_xstrdup(m.session_id);
	ref->name = kcr_xstrdup("in.bin");
	kcr_file_meta_release(&m);
	return 0;
}

static void *
client_thread(void *arg)
{
	struct bench_run *b = arg;
	struct kcr_api_client *api = b->url ? kcr_api_client_new(b->url, b->key, NULL) : NULL;
	struct kcr_file_ref ref = { 0 };
	kcr_error_t err = NULL;
	bool files = strcmp(b->sc->name, "files") == 0;

	if ((b->url && api == NULL) || (files && upload_input(b, api, &ref, &err) < 0)) {
		record(b, 0, false);
		kcr_error_free(err);
		kcr_api_client_free(api);
		return NULL;
	}
	while (kcr_now_ms() < b->until_ms) {
		uint64_t t0 = kcr_now_ns();
		bool ok = one(b, api, files ? &ref : NULL);

		record(b, (double)(kcr_now_ns() - t0) / 1e6, ok);
	}
	free(ref.id);
	free(ref.session_id);
	free(ref.name);
	kcr_api_client_free(api);
	return NULL;
}

static double
percentile(const double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return n ? v[i < n ? i : n - 1] : 0;
}

static void
summarize(struct bench_run *b, double secs, struct stats *st)
{
	qsort(b->lat, b->n, sizeof(double), cmp_double);
	st->n = b->n;
	st->errors = b->errors;
	st->p50 = percentile(b->lat, b->n, 0.50);
	st->p95 = percentile(b->lat, b->n, 0.95);
	st->p99 = percentile(b->lat, b->n, 0.99);
	st->per_s = (double)b->n / secs;
}

static void
run_clients(struct bench_run *b, unsigned int clients, double secs, struct stats *st)
{
	pthread_t t[64];
	uint64_t t0 = kcr_now_ms();

	b->n = 0;
	b->errors = 0;
	b->until_ms = t0 + (uint64_t)(secs * 1000);
	for (unsigned int i = 0; i < clients && i < 64; i++)
		pthread_create(&t[i], NULL, client_thread, b);
	for (unsigned int i = 0; i < clients && i < 64; i++)
		pthread_join(t[i], NULL);
	summarize(b, (double)(kcr_now_ms() - t0) / 1000.0, st);
}

/* The bare runtime: the program started directly, with the sandbox's
 * clean environment, serially for secs. */
static void
run_bare(const struct scenario *sc, double secs, struct stats *st)
{
	char *const envp[] = { "PATH=" KCR_SANDBOX_PATH, "HOME=/tmp", "LANG=C.UTF-8",
			       "MPLBACKEND=Agg", NULL };
	struct bench_run b = { .sc = sc };
	posix_spawn_file_actions_t fa;
	uint64_t t0 = kcr_now_ms(), until = t0 + (uint64_t)(secs * 1000);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	pthread_mutex_init(&b.lock, NULL);
	while (kcr_now_ms() < until) {
		uint64_t s = kcr_now_ns();
		pid_t pid;
		int status = 1;

		if (posix_spawn(&pid, sc->bare[0], &fa, NULL, (char *const *)sc->bare, envp) == 0)
			waitpid(pid, &status, 0);
		record(&b, (double)(kcr_now_ns() - s) / 1e6, status == 0);
	}
	summarize(&b, (double)(kcr_now_ms() - t0) / 1000.0, st);
	posix_spawn_file_actions_destroy(&fa);
	pthread_mutex_destroy(&b.lock);
	free(b.lat);
}

struct bench_args {
	struct kcr_ctx *ctx;
	bool json, list;
	double secs;
	unsigned int clients;
};

static void
print_row(const char *name, unsigned int clients, const struct stats *t, const struct stats *bare)
{
	printf("%-8s %3u %8.1f %8.1f %8.1f %9.1f %6u", name, clients, t->p50, t->p95, t->p99,
	       t->per_s, t->errors);
	if (bare && bare->n)
		printf(" %8.1f %6.2f\n", bare->p50, t->p50 / bare->p50);
	else
		printf(" %8s %6s\n", "-", "-");
}

static cJSON *
stats_json(const struct stats *s)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "p50_ms", s->p50);
	cJSON_AddNumberToObject(o, "p95_ms", s->p95);
	cJSON_AddNumberToObject(o, "p99_ms", s->p99);
	cJSON_AddNumberToObject(o, "per_second", s->per_s);
	cJSON_AddNumberToObject(o, "executions", (double)s->n);
	cJSON_AddNumberToObject(o, "errors", s->errors);
	return o;
}

static void
add_result(cJSON *a, const char *name, unsigned int clients, const struct stats *t,
	   const struct stats *bare)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "scenario", name);
	cJSON_AddNumberToObject(o, "clients", clients);
	cJSON_AddItemToObject(o, "kcr", stats_json(t));
	if (bare && bare->n) {
		cJSON_AddItemToObject(o, "bare", stats_json(bare));
		cJSON_AddNumberToObject(o, "ratio_p50", t->p50 / bare->p50);
	}
	cJSON_AddItemToArray(a, o);
}

static void
report(const struct bench_args *a, cJSON *out, const char *name, unsigned int clients,
       const struct stats *t, const struct stats *bare)
{
	if (a->json)
		add_result(out, name, clients, t, bare);
	else
		print_row(name, clients, t, bare);
	fflush(stdout);
}

static void
run_scenario(const struct bench_args *a, struct bench_run *b, cJSON *out)
{
	static const unsigned int sweep[] = { 1, 2, 4, 8 };
	struct stats t, bare = { 0 };

	if (b->sc->bare)
		run_bare(b->sc, a->secs, &bare);
	if (strcmp(b->sc->name, "sweep") != 0) {
		run_clients(b, a->clients, a->secs, &t);
		report(a, out, b->sc->name, a->clients, &t, &bare);
		return;
	}
	run_bare(&scenarios[0], a->secs, &bare);
	for (size_t i = 0; i < KCR_ARRAY_SIZE(sweep); i++) {
		run_clients(b, sweep[i], a->secs, &t);
		report(a, out, b->sc->name, sweep[i], &t, &bare);
	}
}

static const struct scenario *
find_scenario(const char *name, kcr_error_t *err)
{
	for (size_t i = 0; i < KCR_ARRAY_SIZE(scenarios); i++)
		if (strcmp(scenarios[i].name, name) == 0)
			return &scenarios[i];
	kcr_error_set(err, KCR_E_INVALID, 0, "unknown scenario '%s'; see 'kcr bench --list'", name);
	return NULL;
}

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	struct bench_args *a = data;
	uint64_t v;

	switch (id) {
	case O_SERVER: return kcr_config_set(a->ctx->cfg, "client.server", arg, KCR_SRC_FLAG, err);
	case O_JSON: a->json = true; return 0;
	case O_LIST: a->list = true; return 0;
	case O_DURATION: return kcr_parse_double(arg, 0.1, 3600, &a->secs, err) < 0 ?
					 kcr_error_wrap(err, "--duration") : 0;
	case O_CLIENTS:
		if (kcr_parse_u64(arg, 1, 64, &v, err) < 0)
			return kcr_error_wrap(err, "--clients");
		a->clients = (unsigned int)v;
		return 0;
	default: return -1;
	}
}

/* The engine in this process: its own state dir, pools filled first. */
static struct kcr_service *
local_engine(struct kcr_ctx *ctx, char *dir, kcr_error_t *err)
{
	struct kcr_service *svc;

	if (mkdtemp(dir) == NULL) {
		kcr_error_set(err, KCR_E_IO, errno, "mkdtemp");
		return NULL;
	}
	if (kcr_config_set(ctx->cfg, "state_dir", dir, KCR_SRC_FLAG, err) < 0)
		return NULL;
	svc = kcr_service_new(ctx->cfg, err);
	if (svc == NULL || kcr_service_enable_pool(svc, ctx->cfg, err) < 0 ||
	    kcr_pool_wait_full(kcr_service_pool(svc), NULL, 0, 120000, err) < 0) {
		kcr_service_free(svc);
		return NULL;
	}
	return svc;
}

static void
list_scenarios(void)
{
	for (size_t i = 0; i < KCR_ARRAY_SIZE(scenarios); i++)
		printf("%-8s %s%s\n", scenarios[i].name, scenarios[i].help,
		       scenarios[i].bare ? "" : " (no bare baseline)");
}

static int
run_all(struct bench_args *a, char **names, int n, kcr_error_t *err)
{
	struct bench_run b = { .url = kcr_config_str(a->ctx->cfg, "client.server"),
			       .key = kcr_config_str(a->ctx->cfg, "client.api_key") };
	char dir[] = "/tmp/kcr-bench-XXXXXX";
	cJSON *out = a->json ? cJSON_CreateArray() : NULL;
	int r = 0;

	if (!*b.url) {
		b.url = NULL;
		if ((b.svc = local_engine(a->ctx, dir, err)) == NULL)
			return -1;
	}
	pthread_mutex_init(&b.lock, NULL);
	b.input_len = 1 << 20;
	b.input = kcr_xmalloc(b.input_len);
	for (size_t i = 0; i < b.input_len; i++)
		b.input[i] = (char)(i * 7);
	if (!a->json)
		printf("%-8s %3s %8s %8s %8s %9s %6s %8s %6s\n", "SCENARIO", "CL", "P50_MS",
		       "P95_MS", "P99_MS", "EXEC/S", "ERRORS", "BARE_P50", "RATIO");
	for (int i = 0; i < n && r == 0; i++) {
		if ((b.sc = find_scenario(names[i], err)) == NULL)
			r = -1;
		else
			run_scenario(a, &b, out);
	}
	if (out) {
		kcr_autofree char *s = cJSON_Print(out);

		printf("%s\n", s);
		cJSON_Delete(out);
	}
	free(b.input);
	free(b.lat);
	pthread_mutex_destroy(&b.lock);
	kcr_service_free(b.svc);
	if (b.svc || !b.url)
		kcr_rm_rf(dir);
	return r;
}

static int
bench_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	static char *defaults[] = { "py", "pandas", "files", "sweep" };
	struct bench_args a = { .ctx = ctx, .secs = 5, .clients = 1 };
	int first, r = kcr_cmd_parse(&kcr_cmd_bench, argc, argv, on_opt, &a, &first, err);

	if (r != 0)
		return r == 1 ? 0 : -1;
	if (a.list) {
		list_scenarios();
		return 0;
	}
	for (int i = first; i < argc; i++)
		if (find_scenario(argv[i], err) == NULL)
			return -1;
	if (first < argc)
		return run_all(&a, argv + first, argc - first, err);
	return run_all(&a, defaults, (int)KCR_ARRAY_SIZE(defaults), err);
}

const struct kcr_cmd kcr_cmd_bench = {
	.name = "bench",
	.usage = "kcr bench [--server URL] [-d SECONDS] [-c N] [--json] [--list] [SCENARIO...]",
	.summary = "Measure executions (default scenarios: py pandas files sweep) against a "
		   "server or this process's engine, and the bare runtime in the same run.",
	.examples = "  kcr bench\n"
		    "  kcr bench --server http://127.0.0.1:8000 -d 30 -c 8 py\n"
		    "  kcr bench --list\n"
		    "  kcr bench --json pandas > pandas.json",
	.opts = bench_opts,
	.run = bench_run,
};

/* kcr bench: named scenarios run against a server (--server URL) or the
 * engine in this process (with its warm pools), and in the same run
 * against the bare runtime (the program started directly: no sandbox, no
 * HTTP). Prints p50/p95/p99, executions per second, errors and the ratio
 * to bare. */
#include <config.h>

#include "client/api_client.h"
#include "base/clock.h"
#include "base/files.h"
#include "base/ids.h"
#include "base/parse.h"
#include "cmd.h"
#include "base/lang.h"
#include "engine/pool.h"
#include "engine/service.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum { O_SERVER, O_JSON, O_DURATION, O_CLIENTS, O_LIST };

static const struct kcr_opt bench_opts[] = {
	[O_SERVER] = { "server", 0, "URL",
		       "benchmark the kcr serve at URL (default: this process's engine)", NULL },
	[O_JSON] = { "json", 0, NULL, "print the results as JSON", NULL },
	[O_DURATION] = { "duration", 'd', "SECONDS", "how long each scenario runs (default 5)",
			 NULL },
	[O_CLIENTS] = { "clients", 'c', "N",
			"clients at once (default 1; the sweep uses 1, 2, 4, 8)", NULL },
	[O_LIST] = { "list", 0, NULL, "list the scenarios", NULL },
	{ NULL },
};

/* What a scenario's bare baseline is. */
enum bare_kind {
	BARE_NONE,
	BARE_ARGV, /* .bare, as is */
	BARE_LANG, /* .code with the language's own compile and run commands */
};

struct scenario {
	const char *name, *lang, *code, *help;
	enum bare_kind bare_kind;
	const char *const *bare;
};

#define V(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define HELLO(id, what, src)                                                                       \
	{                                                                                          \
		id, id, src, "hello world in " what, BARE_LANG, NULL                               \
	}
/* The state scenario's program, and the same done bare: the globals
 * pickled to a file and read back by the next run. The file is in the
 * bare run's own directory (a mkdtemp(3) one, its cwd): a fixed path in
 * /tmp would let another user plant a pickle that the bench loads. */
#define STATE_CODE "x = globals().get('x', 0) + 1\nprint(x)"
#define STATE_BARE "state.pkl"
static const struct scenario scenarios[] = {
	{ "py", "py", "print(1)", "Python print(1)", BARE_ARGV,
	  V("/usr/bin/python3", "-c", "print(1)") },
	{ "pandas", "py", "import pandas as pd\nprint(pd.DataFrame({'a': [1, 2]}).a.sum())",
	  "Python importing pandas", BARE_ARGV,
	  V("/usr/bin/python3", "-c",
	    "import pandas as pd\nprint(pd.DataFrame({'a': [1, 2]}).a.sum())") },
	HELLO("js", "JavaScript", "console.log('hello')"),
	HELLO("ts", "TypeScript (esbuild + node)", "const s: string = 'hello'; console.log(s)"),
	HELLO("go", "Go (build + run)",
	      "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hello\") }\n"),
	HELLO("java", "Java",
	      "public class Main { public static void main(String[] a) "
	      "{ System.out.println(\"hello\"); } }\n"),
	HELLO("c", "C (compile + run)",
	      "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n"),
	HELLO("cpp", "C++ (compile + run)",
	      "#include <iostream>\nint main() { std::cout << \"hello\" << std::endl; }\n"),
	HELLO("php", "PHP", "<?php echo \"hello\\n\";"),
	HELLO("rs", "Rust (compile + run)", "fn main() { println!(\"hello\"); }\n"),
	HELLO("r", "R", "cat(\"hello\\n\")"),
	HELLO("f90", "Fortran (compile + run)",
	      "program hello\n  print *, \"hello\"\nend program hello\n"),
	HELLO("d", "D (compile + run)", "import std.stdio;\nvoid main() { writeln(\"hello\"); }\n"),
	HELLO("bash", "Bash", "echo hello"),
	{ "files", "py", "d = open('in.bin', 'rb').read()\nopen('out.bin', 'wb').write(d[::-1])",
	  "a 1 MiB file in, another out", BARE_NONE, NULL },
	{ "state", "py", STATE_CODE,
	  "Python state round trip: a session's globals loaded and saved", BARE_ARGV,
	  V("/usr/bin/python3", "-c",
	    "import os, pickle\np = '" STATE_BARE "'\n"
	    "g = pickle.load(open(p, 'rb')) if os.path.exists(p) else {}\n"
	    "g['x'] = g.get('x', 0) + 1\nprint(g['x'])\npickle.dump(g, open(p, 'wb'))") },
	{ "sweep", "py", "print(1)", "Python print(1) at 1, 2, 4 and 8 clients", BARE_NONE, NULL },
};

struct bench_run {
	const struct scenario *sc;
	struct kcr_service *svc;
	const char *url, *key, *ca_file;
	uint64_t until_ms;
	pthread_mutex_t lock;
	double *lat;
	size_t n, cap;
	unsigned int errors;
	char *input; /* the "files" scenario's input */
	size_t input_len;
};

struct stats {
	double p50, p95, p99, per_s;
	double cpu_ms; /* CPU per execution: see cpu_per_exec() */
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
			b->lat = kcr_xrealloc(b->lat, (b->cap = b->cap ? b->cap * 2 : 256) *
							      sizeof(double));
		b->lat[b->n++] = ms;
	}
	pthread_mutex_unlock(&b->lock);
}

static void
fill_call(const struct bench_run *b, struct kcr_exec_request *c, struct kcr_file_ref *ref,
	  const char *session)
{
	memset(c, 0, sizeof(*c));
	c->lang = kcr_lang_find(b->sc->lang);
	c->code = kcr_xstrdup(b->sc->code);
	c->code_len = strlen(b->sc->code);
	c->session_id = session && *session ? kcr_xstrdup(session) : NULL;
	if (ref) {
		c->files = ref;
		c->n_files = 1;
	}
}

/* One execution through the engine or the server; true when it ran and
 * the program exited 0. session: the session to run in ("" or NULL: a new
 * one), set to the one it ran in. */
static bool
one(struct bench_run *b, struct kcr_api_client *api, struct kcr_file_ref *ref,
    char session[KCR_ID_LEN + 1])
{
	struct kcr_exec_request c = { 0 };
	struct kcr_exec_result r = { 0 };
	kcr_error_t err = NULL;
	int rc;

	fill_call(b, &c, ref, session);
	rc = api ? kcr_api_client_exec(api, &c, &r, &err) : kcr_service_exec(b->svc, &c, &r, &err);
	c.files = NULL;
	c.n_files = 0;
	kcr_exec_request_release(&c);
	rc = rc == 0 && r.exit_code == 0 ? 0 : -1;
	if (rc == 0 && session)
		memcpy(session, r.session_id, KCR_ID_LEN + 1);
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
	} else if (kcr_service_upload_session(b->svc, NULL, NULL, NULL, NULL, sid, err) < 0 ||
		   kcr_service_put_file(b->svc, sid, f.name, f.data, -1, f.len, &m, err) < 0) {
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
	bool state = strcmp(b->sc->name, "state") == 0;
	char session[KCR_ID_LEN + 1] = "";

	if (api)
		kcr_api_client_set_ca_file(api, b->ca_file);
	if ((b->url && api == NULL) || (files && upload_input(b, api, &ref, &err) < 0)) {
		record(b, 0, false);
		kcr_error_free(err);
		kcr_api_client_free(api);
		return NULL;
	}
	/* the state scenario: each client's session, its state made once */
	if (state && !one(b, api, NULL, session))
		record(b, 0, false);
	while (kcr_now_ms() < b->until_ms) {
		uint64_t t0 = kcr_now_ns();
		bool ok = one(b, api, files ? &ref : NULL, state ? session : NULL);

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

/* CPU time in ms: the machine's, all processes (/proc/stat: user, nice,
 * system, irq and softirq; not idle, iowait or steal), and this process's
 * own or its waited-for children's (getrusage). */
static double
machine_busy_ms(void)
{
	unsigned long long v[7] = { 0 };
	FILE *f = fopen("/proc/stat", "re");
	long hz = sysconf(_SC_CLK_TCK);
	int n;

	if (f == NULL)
		return 0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &v[6]);
	fclose(f);
	if (n != 7 || hz <= 0)
		return 0;
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6]) * 1000.0 / (double)hz;
}

static double
rusage_ms(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru) < 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

/* The CPU an execution costs, everything included: for a server, the
 * machine's CPU over the run less this client's own (so it means something
 * when kcr serve runs here and nothing else is busy); for the engine in
 * this process, the machine's. */
struct cpu_mark {
	double machine, self;
};

static struct cpu_mark
cpu_mark(void)
{
	return (struct cpu_mark){ machine_busy_ms(), rusage_ms(RUSAGE_SELF) };
}

static double
cpu_per_exec(const struct cpu_mark *m0, bool server, size_t n)
{
	struct cpu_mark m1 = cpu_mark();
	double cpu = m1.machine - m0->machine - (server ? m1.self - m0->self : 0);

	return n && cpu > 0 ? cpu / (double)n : 0;
}

static void
run_clients(struct bench_run *b, unsigned int clients, double secs, struct stats *st)
{
	pthread_t t[64];
	uint64_t t0 = kcr_now_ms();
	struct cpu_mark m0 = cpu_mark();

	b->n = 0;
	b->errors = 0;
	b->until_ms = t0 + (uint64_t)(secs * 1000);
	for (unsigned int i = 0; i < clients && i < 64; i++)
		pthread_create(&t[i], NULL, client_thread, b);
	for (unsigned int i = 0; i < clients && i < 64; i++)
		pthread_join(t[i], NULL);
	summarize(b, (double)(kcr_now_ms() - t0) / 1000.0, st);
	st->cpu_ms = cpu_per_exec(&m0, b->url != NULL, b->n + b->errors);
}

/* A bare baseline: the program started directly, serially, with the
 * sandbox's clean environment; for BARE_LANG in a directory of its own
 * that it keeps between runs (so a compiler's cache is warm, as on a
 * developer's machine; a sandbox starts with none). */
struct bare_prog {
	char dir[32];
	char **compile, **run, **envp;
	char *bin; /* the compiler's output, removed before each run */
	/* a language with a build cache (Go: // comments): the source gets a
	 * new comment before each run, so the warm bare cache holds the
	 * standard library but never the program, as a sandbox's */
	char *src;
	const char *code;
	unsigned long runs;
};

static void
bare_new_source(struct bare_prog *bp)
{
	kcr_autofree char *text = NULL;

	if (bp->src == NULL)
		return;
	text = kcr_strdup_printf("%s\n// run %lu\n", bp->code, bp->runs++);
	kcr_write_file(bp->src, text, strlen(text), 0600, NULL);
}

static void
bare_prog_release(struct bare_prog *bp)
{
	kcr_strv_free(bp->compile);
	kcr_strv_free(bp->run);
	kcr_strv_free(bp->envp);
	free(bp->bin);
	free(bp->src);
	if (bp->dir[0])
		kcr_rm_rf(bp->dir);
}

static int
bare_prepare(const struct scenario *sc, struct bare_prog *bp)
{
	const struct kcr_lang *l = kcr_lang_find(sc->lang);
	kcr_autofree char *src = NULL;

	kcr_strv_push(&bp->envp, "PATH=" KCR_SANDBOX_PATH);
	kcr_strv_push(&bp->envp, "LANG=C.UTF-8");
	kcr_strv_push(&bp->envp, "MPLBACKEND=Agg");
	snprintf(bp->dir, sizeof(bp->dir), "/tmp/kcr-bare-XXXXXX");
	if (mkdtemp(bp->dir) == NULL) {
		bp->dir[0] = '\0';
		return -1;
	}
	if (sc->bare_kind == BARE_ARGV) {
		kcr_autofree char *home = kcr_strdup_printf("HOME=%s", bp->dir);

		kcr_strv_push(&bp->envp, home);
		for (const char *const *a = sc->bare; *a; a++)
			kcr_strv_push(&bp->run, *a);
		return 0;
	}
	src = kcr_strdup_printf("%s/%s", bp->dir, l->source_file);
	if (kcr_write_file(src, sc->code, strlen(sc->code), 0600, NULL) < 0)
		return -1;
	for (const char *const *e = l->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		kcr_autofree char *v = eq && strncmp(eq + 1, "/tmp/", 5) == 0
					       ? kcr_strdup_printf("%.*s=%s/%s", (int)(eq - *e), *e,
								   bp->dir, eq + 6)
					       : kcr_xstrdup(*e);

		kcr_strv_push(&bp->envp, v);
	}
	{
		kcr_autofree char *home = kcr_strdup_printf("HOME=%s", bp->dir);

		kcr_strv_push(&bp->envp, home);
	}
	bp->compile = l->compile ? kcr_lang_expand_in(l->compile, l, bp->dir) : NULL;
	bp->bin = kcr_strdup_printf("%s/prog", bp->dir);
	if (l->build_cache) {
		bp->src = kcr_steal_ptr(&src);
		bp->code = sc->code;
	}
	bp->run = kcr_lang_expand_in(l->run, l, bp->dir);
	return 0;
}

static bool
spawn_wait(char **argv, char **envp, const posix_spawn_file_actions_t *fa)
{
	pid_t pid;
	int status = 1;

	if (posix_spawn(&pid, argv[0], fa, NULL, argv, envp) != 0)
		return false;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void
run_bare(const struct scenario *sc, double secs, struct stats *st)
{
	struct bench_run b = { .sc = sc };
	struct bare_prog bp = { 0 };
	posix_spawn_file_actions_t fa;
	uint64_t t0 = kcr_now_ms(), until = t0 + (uint64_t)(secs * 1000);
	double c0 = rusage_ms(RUSAGE_CHILDREN);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	pthread_mutex_init(&b.lock, NULL);
	if (bare_prepare(sc, &bp) < 0) {
		record(&b, 0, false);
		until = t0;
	} else if (bp.dir[0]) {
		posix_spawn_file_actions_addchdir_np(&fa, bp.dir);
	}
	while (kcr_now_ms() < until) {
		uint64_t s;
		bool ok;

		/* a sandbox has no old binary: go build would skip the link */
		if (bp.bin)
			unlink(bp.bin);
		bare_new_source(&bp);
		s = kcr_now_ns();
		ok = (bp.compile == NULL || spawn_wait(bp.compile, bp.envp, &fa)) &&
		     spawn_wait(bp.run, bp.envp, &fa);

		record(&b, (double)(kcr_now_ns() - s) / 1e6, ok);
	}
	summarize(&b, (double)(kcr_now_ms() - t0) / 1000.0, st);
	if (b.n)
		st->cpu_ms = (rusage_ms(RUSAGE_CHILDREN) - c0) / (double)b.n;
	bare_prog_release(&bp);
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
	printf("%-8s %3u %8.1f %8.1f %8.1f %9.1f %6u %7.1f", name, clients, t->p50, t->p95, t->p99,
	       t->per_s, t->errors, t->cpu_ms);
	if (bare && bare->n)
		printf(" %8.1f %6.2f %8.1f %7.2f\n", bare->p50, t->p50 / bare->p50, bare->cpu_ms,
		       t->per_s * bare->p50 / 1000.0);
	else
		printf(" %8s %6s %8s %7s\n", "-", "-", "-", "-");
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
	cJSON_AddNumberToObject(o, "cpu_ms_per_execution", s->cpu_ms);
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
		/* throughput in bare starts: executions a second, each worth
		 * one bare run's time (issue 14's measure) */
		cJSON_AddNumberToObject(o, "bare_starts_per_second", t->per_s * bare->p50 / 1000.0);
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

	if (b->sc->bare_kind != BARE_NONE)
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

const char *
kcr_bench_scenario(size_t i)
{
	return i < KCR_ARRAY_SIZE(scenarios) ? scenarios[i].name : NULL;
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
	case O_SERVER:
		return kcr_config_set(a->ctx->cfg, "client.server", arg, KCR_SRC_FLAG, err);
	case O_JSON:
		a->json = true;
		return 0;
	case O_LIST:
		a->list = true;
		return 0;
	case O_DURATION:
		return kcr_parse_double(arg, 0.1, 3600, &a->secs, err) < 0
			       ? kcr_error_wrap(err, "--duration")
			       : 0;
	case O_CLIENTS:
		if (kcr_parse_u64(arg, 1, 64, &v, err) < 0)
			return kcr_error_wrap(err, "--clients");
		a->clients = (unsigned int)v;
		return 0;
	default:
		return -1;
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
		       scenarios[i].bare_kind != BARE_NONE ? "" : " (no bare baseline)");
}

static int
run_all(struct bench_args *a, char **names, int n, kcr_error_t *err)
{
	struct bench_run b = { .url = kcr_config_str(a->ctx->cfg, "client.server"),
			       .key = kcr_config_str(a->ctx->cfg, "client.api_key"),
			       .ca_file = kcr_config_str(a->ctx->cfg, "client.ca_file") };
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
		printf("%-8s %3s %8s %8s %8s %9s %6s %7s %8s %6s %8s %7s\n", "SCENARIO", "CL",
		       "P50_MS", "P95_MS", "P99_MS", "EXEC/S", "ERRORS", "CPU_MS", "BARE_P50",
		       "RATIO", "BARE_CPU", "BARE_X");
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
	.operands = "scenario",
	.run = bench_run,
};

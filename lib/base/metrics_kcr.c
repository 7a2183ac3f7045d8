/* kcr's own metrics: executions, HTTP requests, and the process, registered
 * once on the registry of base/metrics.c. */
#include <config.h>

#include "base/metrics.h"
#include "base/metrics_kcr.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
	struct kcr_metric *exec_total, *exec_seconds, *setup_seconds;
	struct kcr_metric *http_total, *http_seconds, *store_ops;
	struct kcr_metric *running, *waiting, *rss, *fds, *build;
} kcr_m;

static const double exec_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				       0.5,   1,      2.5,   5,    10,    30,   60 };
static const double setup_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					0.1,    0.25,  0.5,    1,     2.5,  5 };
static const double http_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
				       0.25,   0.5,   1,      2.5,   5,    10,    30,   60 };

static void
register_kcr(void)
{
	kcr_m.exec_total = kcr_metrics_counter(
		"kcr_executions_total",
		"Executions by language and outcome (ok: exit 0, error: non-zero exit, timeout, "
		"oom, failed: kcr could not run it).",
		"language,outcome");
	kcr_m.exec_seconds = kcr_metrics_histogram(
		"kcr_execution_duration_seconds",
		"Time from an execution's start to its end, queueing and file handling included.",
		"language", exec_buckets, KCR_ARRAY_SIZE(exec_buckets));
	kcr_m.setup_seconds = kcr_metrics_histogram(
		"kcr_sandbox_setup_duration_seconds", "Time spent creating an execution's sandbox.",
		"language", setup_buckets, KCR_ARRAY_SIZE(setup_buckets));
	kcr_m.running = kcr_metrics_gauge("kcr_executions_running", "Executions running now.",
					  NULL);
	kcr_m.waiting = kcr_metrics_gauge("kcr_executions_waiting",
					  "Executions waiting for a free slot.", NULL);
	kcr_m.http_total = kcr_metrics_counter(
		"kcr_http_requests_total",
		"HTTP requests answered, by route (none: no route matched) and status class.",
		"route,status");
	kcr_m.http_seconds = kcr_metrics_histogram(
		"kcr_http_request_duration_seconds",
		"Time from a request's arrival to its reply being queued.", "route", http_buckets,
		KCR_ARRAY_SIZE(http_buckets));
	kcr_m.store_ops = kcr_metrics_counter(
		"kcr_store_operations_total",
		"Operations on the session and file stores, by store, backend and result "
		"(error: the store failed and the request got 503).",
		"store,backend,result");
	kcr_m.rss = kcr_metrics_gauge("kcr_process_resident_memory_bytes",
				      "Resident memory of the kcr process.", NULL);
	kcr_m.fds = kcr_metrics_gauge("kcr_process_open_fds",
				      "File descriptors the kcr process has open.", NULL);
	kcr_m.build = kcr_metrics_gauge("kcr_build_info",
					"The kcr version; the value is always 1.", "version");
	kcr_metrics_set(kcr_m.build, 1, PACKAGE_VERSION);
}

void
kcr_metrics_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, register_kcr);
}

void
kcr_metrics_execution(const char *lang, const char *outcome, double seconds, double setup_s)
{
	kcr_metrics_init();
	kcr_metrics_inc(kcr_m.exec_total, lang, outcome);
	kcr_metrics_observe(kcr_m.exec_seconds, seconds, lang);
	if (setup_s >= 0)
		kcr_metrics_observe(kcr_m.setup_seconds, setup_s, lang);
}

void
kcr_metrics_http_request(const char *route, int status, double seconds)
{
	static const char *const classes[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	const char *cls = status >= 100 && status < 600 ? classes[status / 100 - 1] : "5xx";

	kcr_metrics_init();
	if (route == NULL)
		route = "none";
	kcr_metrics_inc(kcr_m.http_total, route, cls);
	kcr_metrics_observe(kcr_m.http_seconds, seconds, route);
}

void
kcr_metrics_store_op(const char *store, const char *backend, const char *result)
{
	kcr_metrics_init();
	kcr_metrics_inc(kcr_m.store_ops, store, backend, result);
}

static double
resident_bytes(void)
{
	unsigned long long size, rss;
	FILE *f = fopen("/proc/self/statm", "re");
	int n;

	if (f == NULL)
		return NAN;
	n = fscanf(f, "%llu %llu", &size, &rss);
	fclose(f);
	return n == 2 ? (double)rss * (double)sysconf(_SC_PAGESIZE) : NAN;
}

static double
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	double n = 0;

	if (d == NULL)
		return NAN;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

void
kcr_metrics_update_process(unsigned int running, unsigned int waiting)
{
	kcr_metrics_init();
	kcr_metrics_set(kcr_m.running, running);
	kcr_metrics_set(kcr_m.waiting, waiting);
	kcr_metrics_set(kcr_m.rss, resident_bytes());
	kcr_metrics_set(kcr_m.fds, open_fds());
}

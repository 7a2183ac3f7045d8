#include <config.h>

#include "base/metrics.h"
#include "base/metrics_kcr.h"
#include "tap.h"
#include "base/util.h"

#include <pthread.h>
#include <stdlib.h>

/* The registry is process-wide, so each test renders only what it added:
 * the text from its first "# HELP <name> " to the end. */
static char *
render_from(const char *name)
{
	struct kcr_buf b;
	kcr_autofree char *all = NULL;
	kcr_autofree char *head = kcr_strdup_printf("# HELP %s ", name);
	const char *at;

	kcr_buf_init(&b);
	kcr_metrics_render(&b);
	all = kcr_buf_steal(&b, NULL);
	at = strstr(all, head);
	return kcr_xstrdup(at ? at : "");
}

static int
test_counter_labels(void)
{
	struct kcr_metric *c = kcr_metrics_counter("t_exec_total", "Runs by language.",
						   "language,outcome");
	kcr_autofree char *text = NULL;

	kcr_metrics_inc(c, "py", "ok");
	kcr_metrics_inc(c, "py", "ok");
	kcr_metrics_inc(c, "js", "timeout");
	kcr_metrics_add(c, 2.5, "py", "error");
	kcr_metrics_add(c, -1, "py", "ok");   /* a counter never goes down */
	kcr_metrics_inc(c, "py");             /* wrong number of values: dropped */
	/* registering again returns the same metric */
	TAP_ASSERT(kcr_metrics_counter("t_exec_total", "other help", "language,outcome") == c);
	text = render_from("t_exec_total");
	TAP_STREQ(text, "# HELP t_exec_total Runs by language.\n"
			"# TYPE t_exec_total counter\n"
			"t_exec_total{language=\"js\",outcome=\"timeout\"} 1\n"
			"t_exec_total{language=\"py\",outcome=\"error\"} 2.5\n"
			"t_exec_total{language=\"py\",outcome=\"ok\"} 2\n");
	return 0;
}

static int
test_histogram(void)
{
	static const double bounds[] = { 0.125, 0.5, 1, 60 };
	struct kcr_metric *h = kcr_metrics_histogram("t_duration_seconds", "Run time.", "language",
						     bounds, KCR_ARRAY_SIZE(bounds));
	kcr_autofree char *text = NULL;

	kcr_metrics_observe(h, 0.0625, "py");
	kcr_metrics_observe(h, 0.125, "py"); /* on the bound: in that bucket */
	kcr_metrics_observe(h, 0.75, "py");
	kcr_metrics_observe(h, 120, "py");   /* only in +Inf */
	kcr_metrics_observe(h, 0.25, "c");
	text = render_from("t_duration_seconds");
	TAP_STREQ(text, "# HELP t_duration_seconds Run time.\n"
			"# TYPE t_duration_seconds histogram\n"
			"t_duration_seconds_bucket{language=\"c\",le=\"0.125\"} 0\n"
			"t_duration_seconds_bucket{language=\"c\",le=\"0.5\"} 1\n"
			"t_duration_seconds_bucket{language=\"c\",le=\"1\"} 1\n"
			"t_duration_seconds_bucket{language=\"c\",le=\"60\"} 1\n"
			"t_duration_seconds_bucket{language=\"c\",le=\"+Inf\"} 1\n"
			"t_duration_seconds_sum{language=\"c\"} 0.25\n"
			"t_duration_seconds_count{language=\"c\"} 1\n"
			"t_duration_seconds_bucket{language=\"py\",le=\"0.125\"} 2\n"
			"t_duration_seconds_bucket{language=\"py\",le=\"0.5\"} 2\n"
			"t_duration_seconds_bucket{language=\"py\",le=\"1\"} 3\n"
			"t_duration_seconds_bucket{language=\"py\",le=\"60\"} 3\n"
			"t_duration_seconds_bucket{language=\"py\",le=\"+Inf\"} 4\n"
			"t_duration_seconds_sum{language=\"py\"} 120.9375\n"
			"t_duration_seconds_count{language=\"py\"} 4\n");
	/* the bounds' text: the fewest digits that read back */
	{
		static const double odd[] = { 1e-9, 0.001, 0.0025, 2.5 };
		kcr_autofree char *t2 = NULL;

		kcr_metrics_histogram("t_odd_seconds", "Bounds.", NULL, odd, KCR_ARRAY_SIZE(odd));
		t2 = render_from("t_odd_seconds");
		TAP_ASSERT(strstr(t2, "\nt_odd_seconds_bucket{le=\"1e-09\"} 0\n"
				      "t_odd_seconds_bucket{le=\"0.001\"} 0\n"
				      "t_odd_seconds_bucket{le=\"0.0025\"} 0\n"
				      "t_odd_seconds_bucket{le=\"2.5\"} 0\n"));
	}
	return 0;
}

static int
test_escaping(void)
{
	struct kcr_metric *g = kcr_metrics_gauge("t_escaped", "Help with \\ and\na newline \"kept\".",
						 "v");
	kcr_autofree char *text = NULL;

	kcr_metrics_set(g, -3, "a\\b\"c\nd");
	text = render_from("t_escaped");
	TAP_STREQ(text, "# HELP t_escaped Help with \\\\ and\\na newline \"kept\".\n"
			"# TYPE t_escaped gauge\n"
			"t_escaped{v=\"a\\\\b\\\"c\\nd\"} -3\n");
	return 0;
}

static int
test_no_labels(void)
{
	static const double bounds[] = { 1 };
	struct kcr_metric *g = kcr_metrics_gauge("t_plain", "A gauge.", NULL);
	kcr_autofree char *text = NULL;

	kcr_metrics_histogram("t_plain_seconds", "Untouched.", "", bounds, 1);
	/* shown at zero before anything happened */
	text = render_from("t_plain");
	TAP_STREQ(text, "# HELP t_plain A gauge.\n"
			"# TYPE t_plain gauge\n"
			"t_plain 0\n"
			"# HELP t_plain_seconds Untouched.\n"
			"# TYPE t_plain_seconds histogram\n"
			"t_plain_seconds_bucket{le=\"1\"} 0\n"
			"t_plain_seconds_bucket{le=\"+Inf\"} 0\n"
			"t_plain_seconds_sum 0\n"
			"t_plain_seconds_count 0\n");
	free(text);
	kcr_metrics_set(g, 0.1);
	kcr_metrics_set(g, 1e300);
	text = render_from("t_plain");
	TAP_ASSERT(strncmp(strstr(text, "\nt_plain "), "\nt_plain 1e+300\n", 16) == 0);
	free(text);
	kcr_metrics_set(g, 0.1);
	text = render_from("t_plain");
	TAP_ASSERT(strstr(text, "\nt_plain 0.1\n") != NULL);
	return 0;
}

static int
test_series_cap(void)
{
	struct kcr_metric *c = kcr_metrics_counter("t_many_total", "Many.", "n");
	kcr_autofree char *text = NULL;
	size_t lines = 0;

	for (int i = 0; i < KCR_METRICS_MAX_SERIES + 10; i++) {
		char v[16];

		snprintf(v, sizeof(v), "%04d", i);
		kcr_metrics_inc(c, v);
	}
	kcr_metrics_inc(c, "0000"); /* an existing one still counts */
	text = render_from("t_many_total");
	for (const char *p = text; (p = strstr(p, "\nt_many_total{")); p++)
		lines++;
	TAP_ASSERT(lines == KCR_METRICS_MAX_SERIES);
	TAP_ASSERT(strstr(text, "t_many_total{n=\"0000\"} 2\n") != NULL);
	return 0;
}

static void *
hammer(void *arg)
{
	struct kcr_metric **m = arg;

	for (int i = 0; i < 10000; i++) {
		kcr_metrics_inc(m[0], i % 2 ? "a" : "b");
		kcr_metrics_observe(m[1], 0.01);
	}
	return NULL;
}

static int
test_threads(void)
{
	static const double bounds[] = { 0.1 };
	struct kcr_metric *m[2] = {
		kcr_metrics_counter("t_threads_total", "Hammered.", "k"),
		kcr_metrics_histogram("t_threads_seconds", "Hammered.", NULL, bounds, 1),
	};
	pthread_t t[4];
	kcr_autofree char *text = NULL;

	for (int i = 0; i < 4; i++)
		TAP_ASSERT(pthread_create(&t[i], NULL, hammer, m) == 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	text = render_from("t_threads_total");
	TAP_ASSERT(strstr(text, "t_threads_total{k=\"a\"} 20000\n") != NULL);
	TAP_ASSERT(strstr(text, "t_threads_total{k=\"b\"} 20000\n") != NULL);
	TAP_ASSERT(strstr(text, "t_threads_seconds_bucket{le=\"+Inf\"} 40000\n") != NULL);
	TAP_ASSERT(strstr(text, "t_threads_seconds_count 40000\n") != NULL);
	return 0;
}

static int
test_kcr_metrics(void)
{
	kcr_autofree char *text = NULL;

	kcr_metrics_execution("py", "ok", 0.2, 0.003);
	kcr_metrics_execution("py", "failed", 0.0001, -1);
	kcr_metrics_http_request("exec", 200, 0.2);
	kcr_metrics_http_request(NULL, 404, 0.001);
	kcr_metrics_update_process(2, 1);
	text = render_from("kcr_executions_total");
	TAP_ASSERT(strstr(text, "kcr_executions_total{language=\"py\",outcome=\"ok\"} 1\n"));
	TAP_ASSERT(strstr(text, "kcr_executions_total{language=\"py\",outcome=\"failed\"} 1\n"));
	TAP_ASSERT(strstr(text, "kcr_execution_duration_seconds_count{language=\"py\"} 2\n"));
	TAP_ASSERT(strstr(text, "kcr_sandbox_setup_duration_seconds_count{language=\"py\"} 1\n"));
	TAP_ASSERT(strstr(text, "kcr_http_requests_total{route=\"exec\",status=\"2xx\"} 1\n"));
	TAP_ASSERT(strstr(text, "kcr_http_requests_total{route=\"none\",status=\"4xx\"} 1\n"));
	TAP_ASSERT(strstr(text, "\nkcr_executions_running 2\n"));
	TAP_ASSERT(strstr(text, "\nkcr_executions_waiting 1\n"));
	TAP_ASSERT(strstr(text, "\nkcr_build_info{version=\"" PACKAGE_VERSION "\"} 1\n"));
	TAP_ASSERT(strstr(text, "\n# TYPE kcr_process_resident_memory_bytes gauge\n"));
	TAP_ASSERT(!strstr(text, "kcr_process_resident_memory_bytes 0\n"));
	TAP_ASSERT(!strstr(text, "NaN"));
	return 0;
}

int
main(void)
{
	TAP_PLAN(7);
	RUN_TEST(test_counter_labels);
	RUN_TEST(test_histogram);
	RUN_TEST(test_escaping);
	RUN_TEST(test_no_labels);
	RUN_TEST(test_series_cap);
	RUN_TEST(test_threads);
	RUN_TEST(test_kcr_metrics);
	return TAP_DONE();
}

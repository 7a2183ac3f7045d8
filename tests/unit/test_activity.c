/* The dashboard's activity (lib/server/activity.h) on a clock of the
 * test's own: minute buckets that fill, turn over and expire, latency
 * percentiles within the histogram's precision, the ring of errors, and
 * counts that stay exact under threads. */
#include <config.h>

#include "server/activity.h"
#include "tap.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* An hour and a bit after the epoch's minute 28000000 began. */
static double now = 28000000.0 * 60 + 5;

static double
test_clock(void *ud)
{
	(void)ud;
	return now;
}

/* The series of lang in j's "executions" (or "errors"), or NULL. */
static const cJSON *
series(const cJSON *j, const char *what, const char *lang)
{
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, what), lang);
}

static double
at(const cJSON *s, int i)
{
	return cJSON_GetArrayItem(s, i)->valuedouble;
}

static double
lat(const cJSON *j, const char *lang, const char *field)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "latency");

	l = lang ? cJSON_GetObjectItemCaseSensitive(
			   cJSON_GetObjectItemCaseSensitive(l, "languages"), lang)
		 : cJSON_GetObjectItemCaseSensitive(l, "overall");
	return cJSON_GetObjectItemCaseSensitive(l, field)->valuedouble;
}

static int
test_minutes(void)
{
	struct kcr_activity *a = kcr_activity_new(test_clock, NULL);
	cJSON *j;
	const cJSON *py, *err;

	kcr_activity_exec(a, "py", 10, false);
	kcr_activity_exec(a, "py", 10, true);
	kcr_activity_exec(a, "bash", 10, false);
	kcr_activity_exec(a, "cobol", 10, false); /* not a language: not counted */
	now += 60;                                /* the next minute */
	kcr_activity_exec(a, "py", 10, false);
	j = kcr_activity_json(a, 15);
	py = series(j, "executions", "py");
	err = series(j, "errors", "py");
	TAP_ASSERT(cJSON_GetArraySize(py) == KCR_ACTIVITY_MINUTES);
	TAP_ASSERT(at(py, 59) == 1 && at(py, 58) == 2 && at(py, 57) == 0);
	TAP_ASSERT(at(err, 59) == 0 && at(err, 58) == 1);
	TAP_ASSERT(at(series(j, "executions", "bash"), 58) == 1);
	TAP_ASSERT(series(j, "executions", "cobol") == NULL);
	TAP_ASSERT(series(j, "executions", "go") == NULL); /* none in the hour */
	TAP_ASSERT(cJSON_GetObjectItem(j, "minute_start")->valuedouble ==
		   (floor(now / 60) - 59) * 60);
	cJSON_Delete(j);
	/* 59 minutes on, the first minute is the oldest shown; one more and
	 * it is gone, though its slot of the ring was not written again */
	now += 58 * 60;
	j = kcr_activity_json(a, 15);
	TAP_ASSERT(at(series(j, "executions", "py"), 0) == 2);
	cJSON_Delete(j);
	now += 60;
	j = kcr_activity_json(a, 60);
	py = series(j, "executions", "py");
	TAP_ASSERT(at(py, 0) == 1 && at(py, 59) == 0);
	TAP_ASSERT(series(j, "executions", "bash") == NULL);
	cJSON_Delete(j);
	/* a write into a slot that held a minute an hour old starts it afresh */
	kcr_activity_exec(a, "py", 10, false);
	j = kcr_activity_json(a, 60);
	TAP_ASSERT(at(series(j, "executions", "py"), 59) == 1);
	cJSON_Delete(j);
	kcr_activity_free(a);
	return 0;
}

static bool
near(double got, double want)
{
	return fabs(got - want) <= 0.1 * want; /* the histogram's precision */
}

static int
test_latency(void)
{
	struct kcr_activity *a = kcr_activity_new(test_clock, NULL);
	cJSON *j;

	/* 1..100 ms in py; the overall includes bash's 1000 slow ones */
	for (int i = 1; i <= 100; i++)
		kcr_activity_exec(a, "py", i, false);
	j = kcr_activity_json(a, 15);
	TAP_ASSERT(lat(j, "py", "count") == 100);
	TAP_ASSERT(near(lat(j, "py", "p50_ms"), 50));
	TAP_ASSERT(near(lat(j, "py", "p95_ms"), 95));
	TAP_ASSERT(near(lat(j, "py", "p99_ms"), 99));
	TAP_ASSERT(lat(j, "py", "max_ms") == 100);
	TAP_ASSERT(lat(j, "py", "p99_ms") <= 100); /* never above the max */
	cJSON_Delete(j);
	for (int i = 0; i < 1000; i++)
		kcr_activity_exec(a, "bash", 5000, false);
	kcr_activity_exec(a, "bash", 0.2, false); /* under a millisecond */
	kcr_activity_exec(a, "bash", 1e9, false); /* beyond the last bucket */
	j = kcr_activity_json(a, 15);
	TAP_ASSERT(lat(j, NULL, "count") == 1102);
	TAP_ASSERT(near(lat(j, NULL, "p50_ms"), 5000));
	TAP_ASSERT(near(lat(j, "bash", "p50_ms"), 5000));
	TAP_ASSERT(lat(j, "bash", "max_ms") == 1e9);
	cJSON_Delete(j);
	/* the window: 20 minutes on, a 15-minute window holds none of them,
	 * a 30-minute one all */
	now += 20 * 60;
	kcr_activity_exec(a, "py", 7, false);
	j = kcr_activity_json(a, 15);
	TAP_ASSERT(lat(j, NULL, "count") == 1);
	TAP_ASSERT(near(lat(j, "py", "p99_ms"), 7));
	TAP_ASSERT(cJSON_GetObjectItemCaseSensitive(
			   cJSON_GetObjectItemCaseSensitive(
				   cJSON_GetObjectItemCaseSensitive(j, "latency"), "languages"),
			   "bash") == NULL);
	cJSON_Delete(j);
	j = kcr_activity_json(a, 30);
	TAP_ASSERT(lat(j, NULL, "count") == 1103);
	cJSON_Delete(j);
	kcr_activity_free(a);
	return 0;
}

static void
add_error(struct kcr_activity *a, int i)
{
	struct kcr_activity_error e = { .status = 400 + i % 100 };

	snprintf(e.message, sizeof(e.message), "error %d", i);
	snprintf(e.route, sizeof(e.route), "exec");
	kcr_activity_error(a, &e);
}

static int
test_errors(void)
{
	struct kcr_activity *a = kcr_activity_new(test_clock, NULL);
	cJSON *j, *r;

	for (int i = 0; i < 3; i++)
		add_error(a, i);
	j = kcr_activity_json(a, 15);
	r = cJSON_GetObjectItem(j, "recent_errors");
	TAP_ASSERT(cJSON_GetArraySize(r) == 3);
	TAP_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 0), "message")->valuestring,
		  "error 2"); /* newest first */
	TAP_ASSERT(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 0), "ts")->valuedouble == now);
	cJSON_Delete(j);
	for (int i = 3; i < 120; i++)
		add_error(a, i);
	j = kcr_activity_json(a, 15);
	r = cJSON_GetObjectItem(j, "recent_errors");
	TAP_ASSERT(cJSON_GetArraySize(r) == KCR_ACTIVITY_ERRORS);
	TAP_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 0), "message")->valuestring,
		  "error 119");
	TAP_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 49), "message")->valuestring,
		  "error 70");
	cJSON_Delete(j);
	kcr_activity_free(a);
	return 0;
}

static int
test_copy(void)
{
	char out[8], big[KCR_ACTIVITY_MSG_MAX + 1];
	char *s = malloc(1000);

	kcr_activity_copy(out, sizeof(out), "short");
	TAP_STREQ(out, "short");
	kcr_activity_copy(out, sizeof(out), "exactly");
	TAP_STREQ(out, "exactly");
	kcr_activity_copy(out, sizeof(out), "too long by far");
	TAP_STREQ(out, "too ...");
	/* "ab" then é (c3 a9): cut before the é, never inside it */
	kcr_activity_copy(out, sizeof(out), "abc\xc3\xa9xyz");
	TAP_STREQ(out, "abc...");
	kcr_activity_copy(out, sizeof(out), "a\xc3\xa9\xc3\xa9xyz");
	TAP_STREQ(out, "a\xc3\xa9...");
	memset(s, 'x', 999);
	s[999] = '\0';
	kcr_activity_copy(big, sizeof(big), s);
	TAP_ASSERT(strlen(big) == KCR_ACTIVITY_MSG_MAX);
	free(s);
	return 0;
}

static void *
hammer(void *arg)
{
	struct kcr_activity *a = arg;

	for (int i = 0; i < 20000; i++) {
		kcr_activity_exec(a, i % 2 ? "py" : "bash", i % 300, i % 10 == 0);
		if (i % 100 == 0)
			add_error(a, i);
	}
	return NULL;
}

static int
test_threads(void)
{
	struct kcr_activity *a = kcr_activity_new(test_clock, NULL);
	pthread_t t[4];
	cJSON *j;

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hammer, a);
	for (int i = 0; i < 10; i++) /* snapshots while they write */
		cJSON_Delete(kcr_activity_json(a, 60));
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	j = kcr_activity_json(a, 60);
	TAP_ASSERT(at(series(j, "executions", "py"), 59) == 40000);
	TAP_ASSERT(at(series(j, "executions", "bash"), 59) == 40000);
	TAP_ASSERT(at(series(j, "errors", "bash"), 59) == 8000);
	TAP_ASSERT(lat(j, NULL, "count") == 80000);
	TAP_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "recent_errors")) ==
		   KCR_ACTIVITY_ERRORS);
	cJSON_Delete(j);
	kcr_activity_free(a);
	return 0;
}

int
main(void)
{
	TAP_PLAN(5);
	RUN_TEST(test_minutes);
	RUN_TEST(test_latency);
	RUN_TEST(test_errors);
	RUN_TEST(test_copy);
	RUN_TEST(test_threads);
	return TAP_DONE();
}

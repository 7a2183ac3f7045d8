/* The pure parts of managed keys and rate limits (lib/server/keys.c,
 * lib/server/ratelimit.c): the form of a key, the records' JSON, the
 * window arithmetic, which window the headers name, and the bounded
 * tables of failed authentications and executions at once. */
#include <config.h>

#include "server/keys.h"
#include "server/ratelimit.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static int
test_key_format(void)
{
	char a[KCR_KEY_LEN + 1], b[KCR_KEY_LEN + 1];

	kcr_key_generate(a);
	kcr_key_generate(b);
	TAP_ASSERT(strlen(a) == 46 && strncmp(a, "sk-", 3) == 0);
	TAP_ASSERT(kcr_key_format_valid(a) && kcr_key_format_valid(b));
	TAP_ASSERT(strcmp(a, b) != 0);
	TAP_ASSERT(!kcr_key_format_valid("sk-short"));
	a[10] = '-'; /* not base62 */
	TAP_ASSERT(!kcr_key_format_valid(a));
	TAP_ASSERT(!kcr_key_format_valid(NULL));
	/* every character of base62 turns up, none more often than chance allows */
	{
		int seen[128] = { 0 };

		for (int i = 0; i < 400; i++) {
			kcr_key_generate(a);
			for (const char *p = a + 3; *p; p++)
				seen[(unsigned char)*p]++;
		}
		for (int c = 0; c < 128; c++) {
			bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
				     (c >= 'A' && c <= 'Z');

			TAP_ASSERT(alnum ? seen[c] > 150 && seen[c] < 420 : seen[c] == 0);
		}
	}
	return 0;
}

static int
test_record_patch(void)
{
	struct kcr_api_key_record k = { .enabled = true };
	cJSON *o = cJSON_Parse("{\"name\":\"ci\",\"rate_limits\":{\"per_minute\":3,\"hourly\":100},"
			       "\"max_concurrent\":2,\"expires_in\":60}");
	cJSON *bad = cJSON_Parse("{\"rate_limits\":{\"per_day\":-1}}");
	cJSON *j;
	kcr_error_t err = NULL;

	TAP_ASSERT(kcr_key_record_patch(&k, o, 1000, &err) == 0);
	TAP_STREQ(k.name, "ci");
	TAP_ASSERT(k.per_minute == 3 && k.per_hour == 100 && k.per_second == 0);
	TAP_ASSERT(k.max_concurrent == 2 && k.expires == 1060);
	TAP_ASSERT(kcr_key_refusal(&k, 1059) == NULL);
	TAP_STREQ(kcr_key_refusal(&k, 1060), "API key expired");
	j = kcr_key_record_json(&k, 2000);
	TAP_STREQ(cJSON_GetObjectItem(j, "status")->valuestring, "expired");
	cJSON_Delete(j);
	TAP_ASSERT(kcr_key_record_patch(&k, bad, 1000, &err) < 0 && err->code == KCR_E_INVALID);
	TAP_ASSERT(strstr(err->msg, "per_day") != NULL);
	TAP_ASSERT(k.per_day == 0 && k.per_minute == 3); /* unchanged */
	kcr_error_free(err);
	k.enabled = false;
	TAP_STREQ(kcr_key_refusal(&k, 0), "API key disabled");
	cJSON_Delete(o);
	cJSON_Delete(bad);
	kcr_api_key_release(&k);
	return 0;
}

static int
test_windows(void)
{
	char name[KCR_COUNTER_NAME_MAX + 1];

	TAP_ASSERT(kcr_rl_window_index(119.9, 60) == 1 && kcr_rl_window_index(120, 60) == 2);
	TAP_ASSERT(kcr_rl_window_end(119.9, 60) == 120 && kcr_rl_window_end(120, 60) == 180);
	TAP_ASSERT(kcr_rl_window_end(86399, 86400) == 86400);
	kcr_rl_counter_name("ab", KCR_RL_HOUR, 7, name, sizeof(name));
	TAP_STREQ(name, "rl:ab:hour:7");
	TAP_ASSERT(kcr_counter_name_valid(name));
	return 0;
}

static int
test_decide(void)
{
	struct kcr_rl_limits l = { .per = { [KCR_RL_MINUTE] = 3, [KCR_RL_HOUR] = 10 } };
	int64_t counts[KCR_RL_WINDOWS] = { [KCR_RL_MINUTE] = 1, [KCR_RL_HOUR] = 9 };
	struct kcr_rl_verdict v;
	double now = 3600 * 5 + 61.5; /* 1.5 s into a minute, 61.5 s into an hour */

	/* the tightest window: the hour has 1 left, the minute 2 */
	kcr_rl_decide(&l, counts, now, &v);
	TAP_ASSERT(v.any && !v.limited && v.window == KCR_RL_HOUR);
	TAP_ASSERT(v.limit == 10 && v.remaining == 1 && v.reset == 3600 * 6);
	/* a tie goes to the window that resets first */
	counts[KCR_RL_MINUTE] = 2;
	kcr_rl_decide(&l, counts, now, &v);
	TAP_ASSERT(v.window == KCR_RL_MINUTE && v.remaining == 1 && v.reset == 3600 * 5 + 120);
	/* over the minute only: wait for the minute */
	counts[KCR_RL_MINUTE] = 4;
	counts[KCR_RL_HOUR] = 4;
	kcr_rl_decide(&l, counts, now, &v);
	TAP_ASSERT(v.limited && v.window == KCR_RL_MINUTE && v.remaining == 0);
	TAP_ASSERT(v.retry_after == 59); /* ceil(120 - 61.5) */
	/* over both: wait for the hour, which ends last */
	counts[KCR_RL_HOUR] = 11;
	kcr_rl_decide(&l, counts, now, &v);
	TAP_ASSERT(v.limited && v.window == KCR_RL_HOUR && v.limit == 10);
	TAP_ASSERT(v.retry_after == 3600 - 61 && v.reset == 3600 * 6);
	/* no limits: no headers */
	memset(&l, 0, sizeof(l));
	kcr_rl_decide(&l, counts, now, &v);
	TAP_ASSERT(!v.any && !v.limited);
	return 0;
}

static int
test_authfail(void)
{
	struct kcr_authfail *t = kcr_authfail_new(4);
	unsigned int retry;
	char addr[32];

	for (int i = 0; i < 3; i++)
		kcr_authfail_record(t, "10.0.0.1", 100, 60);
	TAP_ASSERT(!kcr_authfail_blocked(t, "10.0.0.1", 100, 4, 60, &retry));
	TAP_ASSERT(kcr_authfail_blocked(t, "10.0.0.1", 100, 3, 60, &retry) && retry == 20);
	TAP_ASSERT(!kcr_authfail_blocked(t, "10.0.0.2", 100, 3, 60, &retry));
	TAP_ASSERT(!kcr_authfail_blocked(t, "10.0.0.1", 100, 0, 60, &retry)); /* 0: off */
	/* the next window starts afresh */
	TAP_ASSERT(!kcr_authfail_blocked(t, "10.0.0.1", 120, 3, 60, &retry));
	/* a flood of addresses stays in the table's 4 slots */
	for (int i = 0; i < 10000; i++) {
		snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
		kcr_authfail_record(t, addr, 100, 60);
	}
	kcr_authfail_free(t);
	return 0;
}

static int
test_conc(void)
{
	struct kcr_conc *t = kcr_conc_new();

	TAP_ASSERT(kcr_conc_acquire(t, "key:a", 2) && kcr_conc_acquire(t, "key:a", 2));
	TAP_ASSERT(!kcr_conc_acquire(t, "key:a", 2));
	TAP_ASSERT(kcr_conc_acquire(t, "key:b", 2));
	TAP_ASSERT(kcr_conc_running(t, "key:a") == 2);
	kcr_conc_release(t, "key:a");
	TAP_ASSERT(kcr_conc_acquire(t, "key:a", 2));
	TAP_ASSERT(kcr_conc_acquire(t, "key:c", 0)); /* no cap */
	for (int i = 0; i < 2; i++)
		kcr_conc_release(t, "key:a");
	kcr_conc_release(t, "key:b");
	kcr_conc_release(t, "key:c");
	TAP_ASSERT(kcr_conc_running(t, "key:a") == 0 && kcr_conc_running(t, "key:b") == 0);
	kcr_conc_free(t);
	return 0;
}

int
main(void)
{
	TAP_PLAN(6);
	RUN_TEST(test_key_format);
	RUN_TEST(test_record_patch);
	RUN_TEST(test_windows);
	RUN_TEST(test_decide);
	RUN_TEST(test_authfail);
	RUN_TEST(test_conc);
	return TAP_DONE();
}

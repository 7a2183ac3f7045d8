/* Managed keys, rate limits and usage (lib/server/keys.c, ratelimit.c,
 * usage.c): the form of a key, the records' JSON, the window arithmetic,
 * which window the headers name, the bounded tables of failed
 * authentications and executions at once; and, on an fs store, the key
 * cache and the usage flush. */
#include <config.h>

#include "base/encode.h"
#include "base/files.h"
#include "server/keys.h"
#include "server/ratelimit.h"
#include "server/usage.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* An fs session store in a temporary state dir (NULL: none to be had). */
static struct kcr_config *
fs_stores(struct kcr_stores *st)
{
	char dir[] = "/tmp/kcr-test-keys.XXXXXX";
	struct kcr_config *cfg = kcr_config_new();

	if (mkdtemp(dir) == NULL || kcr_config_set(cfg, "state_dir", dir, KCR_SRC_FLAG, NULL) < 0 ||
	    kcr_stores_open_ops(st, &kcr_session_store_fs_ops, &kcr_file_store_fs_ops, cfg, NULL) <
		    0) {
		kcr_config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void
fs_stores_close(struct kcr_stores *st, struct kcr_config *cfg)
{
	kcr_stores_close(st);
	kcr_rm_rf(kcr_config_str(cfg, "state_dir"));
	kcr_config_free(cfg);
}

/* Managed keys in a store: created hashed, found by a prefix, cached for
 * the time asked and no longer, forgotten on demand. */
static int
test_keys_in_store(void)
{
	struct kcr_stores st;
	struct kcr_config *cfg = fs_stores(&st);
	struct kcr_key_cache *c = kcr_key_cache_new(8);
	struct kcr_api_key_record rec, got;
	char key[KCR_KEY_LEN + 1], id[KCR_KEY_ID_LEN + 1], hex[65], prefix[9];
	cJSON *body = cJSON_Parse("{\"name\":\"t\",\"rate_limits\":{\"per_minute\":7}}");
	kcr_error_t err = NULL;

	if (cfg == NULL)
		return 77;
	TAP_ASSERT(kcr_keys_create(&st, body, key, &rec, &err) == 0);
	kcr_sha256_hex(key, strlen(key), hex);
	TAP_STREQ(rec.id, hex);
	snprintf(prefix, sizeof(prefix), "%.8s", rec.id);
	TAP_ASSERT(kcr_keys_resolve(&st, prefix, id, &err) == 0);
	TAP_STREQ(id, rec.id);
	TAP_ASSERT(kcr_keys_resolve(&st, "0123", id, &err) < 0 && err->code == KCR_E_INVALID);
	kcr_error_free(err);
	err = NULL;
	TAP_ASSERT(kcr_key_cache_lookup(c, &st, rec.id, 60, &got, &err) == 1);
	TAP_ASSERT(got.per_minute == 7 && got.enabled);
	TAP_ASSERT(kcr_key_cache_lookup(c, &st, hex, 60, &got, &err) == 1);
	/* revoked in the store: still cached for 60 s, gone for a cache of 0 s */
	TAP_ASSERT(kcr_store_key_delete(&st, rec.id, &err) == 0);
	TAP_ASSERT(kcr_key_cache_lookup(c, &st, rec.id, 60, &got, &err) == 1);
	TAP_ASSERT(kcr_key_cache_lookup(c, &st, rec.id, 0, &got, &err) == 0);
	/* and the absence is cached too, until forgotten */
	TAP_ASSERT(kcr_store_key_put(&st, &rec, &err) == 0);
	TAP_ASSERT(kcr_key_cache_lookup(c, &st, rec.id, 60, &got, &err) == 0);
	kcr_key_cache_forget(c, rec.id);
	TAP_ASSERT(kcr_key_cache_lookup(c, &st, rec.id, 60, &got, &err) == 1);
	kcr_api_key_release(&rec);
	kcr_key_cache_free(c);
	cJSON_Delete(body);
	fs_stores_close(&st, cfg);
	return 0;
}

/* Counted in memory, written by a flush, added to what the store had. */
static int
test_usage_flush(void)
{
	struct kcr_stores st;
	struct kcr_config *cfg = fs_stores(&st);
	struct kcr_usage *u;
	const int64_t a[KCR_USAGE_FIELDS] = { 1, 0, 30, 5 }, b[KCR_USAGE_FIELDS] = { 1, 1, 12, 0 };
	char name[KCR_COUNTER_NAME_MAX + 1];
	int64_t v = -1;
	kcr_error_t err = NULL;

	if (cfg == NULL)
		return 77;
	u = kcr_usage_new(&st, 0);
	kcr_usage_add(u, "abc", "py", a);
	kcr_usage_add(u, "abc", "py", b);
	kcr_usage_add(u, "abc", "js", a);
	kcr_usage_counter_name("abc", "py", KCR_USAGE_RUN_MS, name, sizeof(name));
	TAP_STREQ(name, "usage:abc:py:run_ms");
	TAP_ASSERT(kcr_store_counter_add(&st, name, 0, 0, &v, &err) == 0 && v == 0);
	TAP_ASSERT(kcr_usage_flush(u, &err) == 0);
	TAP_ASSERT(kcr_store_counter_add(&st, name, 0, 0, &v, &err) == 0 && v == 42);
	kcr_usage_add(u, "abc", "py", b);
	kcr_usage_free(u); /* flushes what is left */
	TAP_ASSERT(kcr_store_counter_add(&st, name, 0, 0, &v, &err) == 0 && v == 54);
	kcr_usage_counter_name("abc", "py", KCR_USAGE_ERRORS, name, sizeof(name));
	TAP_ASSERT(kcr_store_counter_add(&st, name, 0, 0, &v, &err) == 0 && v == 2);
	fs_stores_close(&st, cfg);
	return 0;
}

int
main(void)
{
	TAP_PLAN(8);
	RUN_TEST(test_key_format);
	RUN_TEST(test_record_patch);
	RUN_TEST(test_windows);
	RUN_TEST(test_decide);
	RUN_TEST(test_authfail);
	RUN_TEST(test_conc);
	RUN_TEST(test_keys_in_store);
	RUN_TEST(test_usage_flush);
	return TAP_DONE();
}

/* The redis session store beyond the conformance suite (test_store.c):
 * its URLs, the address from KubeCodeRun's settings, and, against
 * redis-servers of the test's own, what only Redis does: TCP with a
 * password and a db, a server that restarts or goes away, a database
 * emptied behind the store's back, keys that expire by themselves, and
 * two handles (two replicas) racing to touch one session. */
#include <config.h>

#include "base/clock.h"
#include "base/encode.h"
#include "base/files.h"
#include "base/ids.h"
#include "base/settings.h"
#include "base/util.h"
#include "redis_server.h"
#include "store/redis-internal.h"
#include "tap.h"
#include "tap_err.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- URLs ------------------------------------------------------------------- */

static const struct {
	const char *url, *host, *path, *user, *password;
	int port, db;
} good_urls[] = {
	{ "redis://localhost", "localhost", NULL, NULL, NULL, 6379, 0 },
	{ "redis://10.0.0.5:6380/2", "10.0.0.5", NULL, NULL, NULL, 6380, 2 },
	{ "redis://:secret@redis:6379/0", "redis", NULL, NULL, "secret", 6379, 0 },
	{ "redis://kcr:p%40ss%3Aw%2Fd@redis/15", "redis", NULL, "kcr", "p@ss:w/d", 6379, 15 },
	{ "redis://:a@b@host", "host", NULL, NULL, "a@b", 6379, 0 },
	{ "redis://[::1]:7000/1", "::1", NULL, NULL, NULL, 7000, 1 },
	{ "redis://host/", "host", NULL, NULL, NULL, 6379, 0 },
	{ "redis://host?db=3&password=pw", "host", NULL, NULL, "pw", 6379, 3 },
	{ "unix:///run/redis/redis.sock", NULL, "/run/redis/redis.sock", NULL, NULL, 6379, 0 },
	{ "unix:///tmp/r.sock?db=4", NULL, "/tmp/r.sock", NULL, NULL, 6379, 4 },
	{ "unix://:pw@/tmp/r.sock", NULL, "/tmp/r.sock", NULL, "pw", 6379, 0 },
	{ "redis+unix:///tmp/r.sock?db=1&password=x%20y", NULL, "/tmp/r.sock", NULL, "x y", 6379,
	  1 },
};

static bool
same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static int
test_url_good(void)
{
	for (size_t i = 0; i < KCR_ARRAY_SIZE(good_urls); i++) {
		struct redis_url u;
		kcr_error_t e = NULL;

		if (redis_url_parse(good_urls[i].url, &u, &e) < 0)
			TAP_FAIL("%s: %s", good_urls[i].url, e->msg);
		if (!same(u.host, good_urls[i].host) || !same(u.path, good_urls[i].path) ||
		    !same(u.user, good_urls[i].user) || !same(u.password, good_urls[i].password) ||
		    u.port != good_urls[i].port || u.db != good_urls[i].db) {
			redis_url_release(&u);
			TAP_FAIL("%s: parsed wrong", good_urls[i].url);
		}
		redis_url_release(&u);
	}
	return 0;
}

/* Each bad URL fails with KCR_E_INVALID and a message that says why,
 * and never echoes the password. */
static const struct {
	const char *url, *says;
} bad_urls[] = {
	{ "http://host", "not a redis URL" },
	{ "host:6379", "not a redis URL" },
	{ "rediss://:hunter2@host", "TLS" },
	{ "redis://", "no host" },
	{ "redis://:hunter2@", "no host" },
	{ "redis://host:0", "bad port" },
	{ "redis://host:65536", "bad port" },
	{ "redis://host:63x9", "bad port" },
	{ "redis://host:", "bad port" },
	{ "redis://host/x", "bad db" },
	{ "redis://host/1/2", "bad db" },
	{ "redis://host?db=-1", "bad db" },
	{ "redis://host?tls=1", "unknown parameter 'tls'" },
	{ "redis://hunter2@host", "':' before the password" },
	{ "redis://:hunter2%4@host", "%-escape" },
	{ "redis://[::1:6379", "IPv6" },
	{ "unix://relative.sock", "absolute path" },
	{ "unix://", "absolute path" },
	{ "unix:///tmp/s?db=x", "bad db" },
};

static int
test_url_bad(void)
{
	for (size_t i = 0; i < KCR_ARRAY_SIZE(bad_urls); i++) {
		struct redis_url u;
		kcr_error_t e = NULL;

		if (redis_url_parse(bad_urls[i].url, &u, &e) == 0) {
			redis_url_release(&u);
			TAP_FAIL("%s: accepted", bad_urls[i].url);
		}
		if (e->code != KCR_E_INVALID || strstr(e->msg, bad_urls[i].says) == NULL ||
		    strstr(e->msg, "hunter2") != NULL) {
			fprintf(stderr, "# %s: %s (%s)\n", bad_urls[i].url, e->msg,
				kcr_errc_name(e->code));
			kcr_error_free(e);
			TAP_FAIL("%s: wrong error", bad_urls[i].url);
		}
		kcr_error_free(e);
	}
	return 0;
}

static int
test_url_addr(void)
{
	struct redis_url u;
	kcr_autofree char *a = NULL, *b = NULL;

	OK(redis_url_parse("redis://:pw@[::1]:7000", &u, &e_));
	a = redis_url_addr(&u);
	redis_url_release(&u);
	OK(redis_url_parse("unix://:pw@/tmp/r.sock", &u, &e_));
	b = redis_url_addr(&u);
	redis_url_release(&u);
	TAP_STREQ(a, "[::1]:7000");
	TAP_STREQ(b, "unix:/tmp/r.sock");
	return 0;
}

/* REDIS_HOST, REDIS_PORT, REDIS_PASSWORD and REDIS_DB make the address
 * when there is no URL; a URL wins over them. */
static int
test_config_address(void)
{
	struct kcr_config *cfg = kcr_config_new();
	struct redis_store *rs = NULL;
	kcr_error_t e = NULL;
	int r = -1;

	setenv("REDIS_HOST", "cache.internal", 1);
	setenv("REDIS_PORT", "6390", 1);
	setenv("REDIS_PASSWORD", "pw", 1);
	setenv("REDIS_DB", "5", 1);
	setenv("REDIS_KEY_PREFIX", "lc:", 1);
	if (kcr_config_load_env(cfg, &e) < 0 || redis_store_open(&rs, cfg, &e) < 0)
		goto out;
	if (strcmp(rs->url.host, "cache.internal") != 0 || rs->url.port != 6390 ||
	    strcmp(rs->url.password, "pw") != 0 || rs->url.db != 5 || strcmp(rs->prefix, "lc:"))
		goto out;
	redis_store_close(rs);
	rs = NULL;
	setenv("REDIS_URL", "unix:///tmp/x.sock?db=2", 1);
	if (kcr_config_load_env(cfg, &e) < 0 || redis_store_open(&rs, cfg, &e) < 0)
		goto out;
	if (rs->url.host != NULL || strcmp(rs->url.path, "/tmp/x.sock") != 0 || rs->url.db != 2 ||
	    rs->url.password != NULL)
		goto out;
	redis_store_close(rs);
	rs = NULL;
	setenv("REDIS_URL", "redis://host:99999", 1);
	if (kcr_config_load_env(cfg, &e) == 0 && redis_store_open(&rs, cfg, &e) == 0)
		goto out;
	if (e == NULL || e->code != KCR_E_INVALID || strstr(e->msg, "store.redis.url") == NULL)
		goto out;
	r = 0;
out:
	if (r < 0 && e)
		fprintf(stderr, "# %s\n", e->msg);
	kcr_error_free(e);
	redis_store_close(rs);
	kcr_config_free(cfg);
	unsetenv("REDIS_HOST");
	unsetenv("REDIS_PORT");
	unsetenv("REDIS_PASSWORD");
	unsetenv("REDIS_DB");
	unsetenv("REDIS_KEY_PREFIX");
	unsetenv("REDIS_URL");
	return r;
}

/* ---- against a server ------------------------------------------------------ */

static struct test_redis srv; /* unix socket; restarted by some tests */
static bool srv_up;
static pid_t srv_owner;

static char fs_dir[] = "/tmp/kcr-test-redis-fs.XXXXXX"; /* the file store's */

static void
srv_stop_at_exit(void)
{
	if (getpid() != srv_owner)
		return;
	test_redis_stop(&srv);
	kcr_rm_rf(fs_dir);
}

/* The shared server, emptied. 77: no redis-server here. */
static int
srv_need(void)
{
	if (!srv_up) {
		int r = test_redis_start(&srv, false, NULL);

		if (r != 0)
			return r;
		srv_up = true;
		srv_owner = getpid();
		atexit(srv_stop_at_exit);
	}
	return test_redis_cmd(&srv, "FLUSHALL");
}

/* A store on url (and prefix); the file store is not used here. */
static struct kcr_stores *
open_store(const char *url, const char *prefix, const char *timeout_ms)
{
	struct kcr_config *cfg = kcr_config_new();
	struct kcr_stores *st = kcr_xzalloc(sizeof(*st));
	kcr_error_t e = NULL;

	if ((fs_dir[strlen(fs_dir) - 1] == 'X' && mkdtemp(fs_dir) == NULL) ||
	    kcr_config_set(cfg, "state_dir", fs_dir, KCR_SRC_FLAG, &e) < 0 ||
	    kcr_config_set(cfg, "store.redis.url", url, KCR_SRC_FLAG, &e) < 0 ||
	    (prefix && kcr_config_set(cfg, "store.redis.prefix", prefix, KCR_SRC_FLAG, &e) < 0) ||
	    kcr_config_set(cfg, "store.redis.command_timeout_ms", timeout_ms, KCR_SRC_FLAG, &e) <
		    0 ||
	    kcr_config_set(cfg, "store.redis.connect_timeout_ms", timeout_ms, KCR_SRC_FLAG, &e) <
		    0 ||
	    kcr_stores_open_ops(st, &kcr_session_store_redis_ops, &kcr_file_store_fs_ops, cfg, &e) <
		    0) {
		fprintf(stderr, "# open %s: %s\n", url, e ? e->msg : "?");
		kcr_error_free(e);
		free(st);
		st = NULL;
	}
	kcr_config_free(cfg);
	return st;
}

static void
close_store(struct kcr_stores *st)
{
	if (st) {
		kcr_stores_close(st);
		free(st);
	}
}

static struct kcr_session
new_session(const char *entity, double expires)
{
	struct kcr_session s = { .created = kcr_wall_time(), .expires = expires };

	kcr_id_generate(s.id);
	s.last_used = s.created;
	s.tenant = (char *)"key:t1";
	s.entity_id = (char *)entity;
	s.user_id = (char *)"user-1";
	return s;
}

static int
put_get(struct kcr_stores *st)
{
	struct kcr_session s = new_session("ent", 0), out;

	OK(kcr_store_session_put(st, &s, &e_));
	OK(kcr_store_session_get(st, s.id, &out, &e_));
	TAP_STREQ(out.id, s.id);
	kcr_session_release(&out);
	return 0;
}

/* TCP, a password with characters a URL must escape, a db, and the
 * ACL form (user "default"); a wrong password is a failure of the
 * store, not an absence. */
static int
test_tcp_password_db(void)
{
	struct test_redis tcp;
	kcr_autofree char *good = NULL, *acl = NULL, *db0 = NULL, *bad = NULL;
	struct kcr_stores *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	struct kcr_session s = new_session("ent", 0), out;
	kcr_error_t e = NULL;
	int r = test_redis_start(&tcp, true, "s3:cr@t");

	if (r != 0)
		return r;
	good = kcr_strdup_printf("redis://:s3%%3Acr%%40t@127.0.0.1:%d/3", tcp.port);
	acl = kcr_strdup_printf("redis://default:s3%%3Acr%%40t@127.0.0.1:%d/3", tcp.port);
	db0 = kcr_strdup_printf("redis://127.0.0.1:%d?password=s3%%3Acr%%40t", tcp.port);
	bad = kcr_strdup_printf("redis://:wrong@127.0.0.1:%d/3", tcp.port);
	r = -1;
	if ((a = open_store(good, NULL, "5000")) == NULL ||
	    (b = open_store(acl, NULL, "5000")) == NULL ||
	    (c = open_store(db0, NULL, "5000")) == NULL ||
	    (d = open_store(bad, NULL, "5000")) == NULL)
		goto out;
	if (put_get(a) < 0 || kcr_store_session_put(a, &s, &e) < 0 ||
	    kcr_store_session_get(b, s.id, &out, &e) < 0)
		goto out;
	kcr_session_release(&out);
	/* db 0 is another database: not there */
	if (kcr_store_session_get(c, s.id, &out, &e) == 0 || e->code != KCR_E_NOTFOUND)
		goto out;
	kcr_error_release(&e);
	if (kcr_store_session_get(d, s.id, &out, &e) == 0 || e->code != KCR_E_UNAVAILABLE ||
	    strstr(e->msg, "127.0.0.1") == NULL || strstr(e->msg, "AUTH") == NULL)
		goto out;
	r = 0;
out:
	if (r < 0 && e)
		fprintf(stderr, "# %s\n", e->msg);
	kcr_error_free(e);
	close_store(a);
	close_store(b);
	close_store(c);
	close_store(d);
	test_redis_stop(&tcp);
	return r;
}

/* The store works again within a few seconds, by itself. */
static int
wait_recovered(struct kcr_stores *st)
{
	for (int i = 0; i < 50; i++) {
		kcr_error_t e = NULL;

		if (kcr_store_ping(st, NULL, &e) == 0)
			return 0;
		kcr_error_free(e);
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	return -1;
}

/* session_get of sid fails with code, and a message that says says
 * (NULL: anything); *e holds the error. */
static bool
get_fails(struct kcr_stores *st, const char *sid, enum kcr_errc code, const char *says,
	  kcr_error_t *e)
{
	struct kcr_session out;

	if (kcr_store_session_get(st, sid, &out, e) == 0) {
		kcr_session_release(&out);
		return false;
	}
	return (*e)->code == code && (says == NULL || strstr((*e)->msg, says) != NULL);
}

/* The server restarts (empty): the pooled connections are dead, and the
 * next op uses a new one without an error. While it is gone, ops fail at
 * once, naming it; when it is back, the store works again by itself. */
static int
test_restart(void)
{
	struct kcr_stores *st;
	struct kcr_session s = new_session("ent", 0);
	kcr_error_t e = NULL;
	uint64_t t0;
	int r = srv_need();

	if (r != 0)
		return r;
	if ((st = open_store(srv.url, NULL, "2000")) == NULL)
		return -1;
	r = -1;
	if (put_get(st) < 0 || test_redis_restart(&srv) < 0)
		goto out;
	if (!get_fails(st, s.id, KCR_E_NOTFOUND, NULL, &e))
		goto out; /* an empty server: truly not there, and no error */
	kcr_error_release(&e);
	if (put_get(st) < 0)
		goto out;
	test_redis_kill(&srv);
	t0 = kcr_now_ms();
	if (!get_fails(st, s.id, KCR_E_UNAVAILABLE, "session store redis: redis at unix:", &e))
		goto out;
	kcr_error_release(&e);
	if (kcr_store_ping(st, NULL, &e) == 0 || e->code != KCR_E_UNAVAILABLE ||
	    kcr_now_ms() - t0 > 5000)
		goto out;
	kcr_error_release(&e);
	if (test_redis_restart(&srv) != 0 || wait_recovered(st) < 0 || put_get(st) < 0)
		goto out;
	r = 0;
out:
	if (r < 0 && e)
		fprintf(stderr, "# %s\n", e->msg);
	kcr_error_free(e);
	close_store(st);
	return r;
}

/* A server that takes connections and never answers (SIGSTOP): an op
 * fails after the command timeout, saying so, rather than hanging; when
 * it answers again, so does the store. */
static int
test_paused(void)
{
	struct kcr_stores *st;
	struct kcr_session s = new_session("ent", 0);
	kcr_error_t e = NULL;
	int r = srv_need();

	if (r != 0)
		return r;
	if ((st = open_store(srv.url, NULL, "1000")) == NULL)
		return -1;
	r = -1;
	if (put_get(st) < 0 || test_redis_pause(&srv) < 0)
		goto out;
	if (!get_fails(st, s.id, KCR_E_UNAVAILABLE, "no answer to HMGET within 1000 ms", &e))
		goto out;
	kcr_error_release(&e);
	if (test_redis_resume(&srv) < 0 || wait_recovered(st) < 0 || put_get(st) < 0)
		goto out;
	r = 0;
out:
	if (r < 0 && e)
		fprintf(stderr, "# %s\n", e->msg);
	kcr_error_free(e);
	test_redis_resume(&srv);
	close_store(st);
	return r;
}

/* FLUSHDB between two calls: everything is absent, never another
 * session's data, and nothing fails. */
static int
test_flushdb(void)
{
	struct kcr_stores *st;
	struct kcr_session s = new_session("ent-f", 0), out;
	struct kcr_file_meta m = { 0 }, mo, *list = NULL;
	struct kcr_state_info info = { .size = 3, .created = kcr_wall_time() }, io;
	struct kcr_api_key_record k = { .enabled = true }, ko;
	size_t n;
	int64_t v;
	int r = srv_need();

	if (r != 0)
		return r;
	if ((st = open_store(srv.url, NULL, "5000")) == NULL)
		return -1;
	kcr_id_generate(m.id);
	memcpy(m.session_id, s.id, sizeof(s.id));
	m.name = (char *)"a.txt";
	kcr_sha256_hex("abc", 3, info.hash);
	kcr_sha256_hex("sk", 2, k.id);
	r = -1;
	OK(kcr_store_session_put(st, &s, &e_));
	OK(kcr_store_meta_put(st, &m, &e_));
	OK(kcr_store_state_put(st, s.id, "abc", 3, &info, &e_));
	OK(kcr_store_key_put(st, &k, &e_));
	OK(kcr_store_counter_add(st, "c", 5, 60, &v, &e_));
	TAP_ASSERT(test_redis_cmd(&srv, "FLUSHDB") == 0);
	FAILS(KCR_E_NOTFOUND, kcr_store_session_get(st, s.id, &out, &e_));
	FAILS(KCR_E_NOTFOUND,
	      kcr_store_session_by_owner(st, "key:t1", "ent-f", "user-1", &out, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_meta_get(st, s.id, m.id, &mo, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_state_info(st, s.id, &io, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_key_get(st, k.id, &ko, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_session_expire(st, s.id, kcr_wall_time() + 60, &e_));
	OK(kcr_store_meta_list(st, s.id, &list, &n, &e_));
	kcr_file_meta_list_free(list, n);
	TAP_ASSERT(n == 0);
	OK(kcr_store_counter_add(st, "c", 1, 60, &v, &e_));
	TAP_ASSERT(v == 1);
	close_store(st);
	return 0;
}

/* Raw TTL of a key of the store (ms; -2: none; -1: never expires). */
static long long
pttl(const char *key)
{
	const char *argv[] = { "PTTL", key };
	redis_autoreply redisReply *rep = test_redis_call(&srv, 2, argv);

	return rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -3;
}

/* Every key of a session gets the session's expiry, and goes with it
 * without a sweep; a touch moves them all. */
static int
test_native_expiry(void)
{
	struct kcr_stores *st;
	struct kcr_session s = new_session("ent-x", 0), out;
	struct kcr_file_meta m = { 0 }, *list = NULL;
	struct kcr_state_info info = { .size = 3, .created = kcr_wall_time() }, io;
	kcr_autofree char *ks = NULL, *kf = NULL, *kst = NULL, *ki = NULL, *ko = NULL, *own = NULL;
	size_t n;
	int64_t v;
	int r = srv_need();

	if (r != 0)
		return r;
	if ((st = open_store(srv.url, "x:", "5000")) == NULL)
		return -1;
	kcr_id_generate(m.id);
	memcpy(m.session_id, s.id, sizeof(s.id));
	m.name = (char *)"a.txt";
	kcr_sha256_hex("abc", 3, info.hash);
	own = kcr_session_owner_key(s.tenant, s.entity_id, s.user_id);
	ks = kcr_strdup_printf("x:session:%s", s.id);
	kf = kcr_strdup_printf("x:files:%s", s.id);
	kst = kcr_strdup_printf("x:state:%s", s.id);
	ki = kcr_strdup_printf("x:stateinfo:%s", s.id);
	ko = kcr_strdup_printf("x:owner:%s", own);
	OK(kcr_store_session_put(st, &s, &e_));
	OK(kcr_store_meta_put(st, &m, &e_));
	OK(kcr_store_state_put(st, s.id, "abc", 3, &info, &e_));
	TAP_ASSERT(pttl(ks) == -1 && pttl(kf) == -1 && pttl(kst) == -1 && pttl(ko) == -1);
	OK(kcr_store_session_touch(st, &s, 600, NULL, NULL, &e_));
	TAP_ASSERT(pttl(ks) > 500000 && pttl(kf) > 500000 && pttl(kst) > 500000);
	TAP_ASSERT(pttl(ki) > 500000 && pttl(ko) > 500000);
	OK(kcr_store_session_expire(st, s.id, kcr_wall_time() + 1, &e_));
	OK(kcr_store_counter_add(st, "win", 3, 1, &v, &e_));
	TAP_ASSERT(pttl(ks) <= 1000 && pttl(kf) <= 1000 && pttl(ko) <= 1000);
	nanosleep(&(struct timespec){ 2, 500 * 1000 * 1000 }, NULL);
	TAP_ASSERT(pttl(ks) == -2 && pttl(kf) == -2 && pttl(kst) == -2 && pttl(ki) == -2);
	TAP_ASSERT(pttl(ko) == -2 && pttl("x:counter:win") == -2);
	FAILS(KCR_E_NOTFOUND, kcr_store_session_get(st, s.id, &out, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_state_info(st, s.id, &io, &e_));
	OK(kcr_store_meta_list(st, s.id, &list, &n, &e_));
	kcr_file_meta_list_free(list, n);
	TAP_ASSERT(n == 0);
	close_store(st);
	return 0;
}

/* Two prefixes in one database never see each other. */
static int
test_prefix(void)
{
	struct kcr_stores *a, *b;
	struct kcr_session s = new_session("ent-p", 0), out;
	int r = srv_need();

	if (r != 0)
		return r;
	a = open_store(srv.url, "a:", "5000");
	b = open_store(srv.url, "b:", "5000");
	TAP_ASSERT(a && b);
	OK(kcr_store_session_put(a, &s, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_session_get(b, s.id, &out, &e_));
	FAILS(KCR_E_NOTFOUND,
	      kcr_store_session_by_owner(b, "key:t1", "ent-p", "user-1", &out, &e_));
	close_store(a);
	close_store(b);
	return 0;
}

/* A pooled connection is close-on-exec: no program kcr starts inherits
 * it. */
static int
test_cloexec(void)
{
	struct kcr_stores *st;
	struct redis_store *rs;
	int r = srv_need();

	if (r != 0)
		return r;
	TAP_ASSERT((st = open_store(srv.url, NULL, "5000")) != NULL);
	OK(kcr_store_ping(st, NULL, &e_));
	rs = st->sessions_self;
	TAP_ASSERT(rs->n_idle == 1);
	TAP_ASSERT(fcntl(rs->idle[0]->fd, F_GETFD) & FD_CLOEXEC);
	close_store(st);
	return 0;
}

#define ROUNDS 30

struct racer {
	struct kcr_stores *st;
	pthread_barrier_t *go;
	char (*sids)[KCR_ID_LEN + 1];
	bool created[ROUNDS], failed;
};

static void *
race_thread(void *p)
{
	struct racer *t = p;

	for (int i = 0; i < ROUNDS; i++) {
		struct kcr_session init = new_session("ent-r", 0);
		kcr_error_t e = NULL;

		memcpy(init.id, t->sids[i], sizeof(init.id));
		pthread_barrier_wait(t->go);
		if (kcr_store_session_touch(t->st, &init, 60, NULL, &t->created[i], &e) < 0) {
			fprintf(stderr, "# touch: %s\n", e->msg);
			kcr_error_free(e);
			t->failed = true;
		}
	}
	return NULL;
}

/* Two replicas (two handles, two pools) touch one new session of one
 * owner at once, round after round: exactly one creates it, and it is
 * the owner's newest. */
static int
test_two_replicas(void)
{
	char sids[ROUNDS][KCR_ID_LEN + 1];
	struct racer t[2];
	pthread_t th[2];
	pthread_barrier_t go;
	struct kcr_session out;
	int r = srv_need();

	if (r != 0)
		return r;
	for (int i = 0; i < ROUNDS; i++)
		kcr_id_generate(sids[i]);
	pthread_barrier_init(&go, NULL, 2);
	for (int i = 0; i < 2; i++) {
		t[i] = (struct racer){ .st = open_store(srv.url, NULL, "5000"),
				       .go = &go,
				       .sids = sids };
		TAP_ASSERT(t[i].st != NULL);
	}
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, race_thread, &t[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	TAP_ASSERT(!t[0].failed && !t[1].failed);
	for (int i = 0; i < ROUNDS; i++)
		TAP_ASSERT(t[0].created[i] + t[1].created[i] == 1);
	OK(kcr_store_session_by_owner(t[0].st, "key:t1", "ent-r", "user-1", &out, &e_));
	TAP_STREQ(out.id, sids[ROUNDS - 1]);
	kcr_session_release(&out);
	close_store(t[0].st);
	close_store(t[1].st);
	return 0;
}

/* A state of many NULs and every byte value, bigger than one read. */
static int
test_binary_state(void)
{
	struct kcr_stores *st;
	struct kcr_session s = new_session(NULL, 0);
	struct kcr_state_info info = { .created = kcr_wall_time() }, got;
	const size_t n = 3 * 1024 * 1024 + 1;
	kcr_autofree char *blob = kcr_xzalloc(n), *data = NULL;
	size_t len;
	int r = srv_need();

	if (r != 0)
		return r;
	for (size_t i = 0; i < n; i += 7)
		blob[i] = (char)(i * 31);
	info.size = n;
	kcr_sha256_hex(blob, n, info.hash);
	TAP_ASSERT((st = open_store(srv.url, NULL, "5000")) != NULL);
	OK(kcr_store_session_put(st, &s, &e_));
	OK(kcr_store_state_put(st, s.id, blob, n, &info, &e_));
	OK(kcr_store_state_get(st, s.id, n, &data, &len, &got, &e_));
	TAP_ASSERT(len == n && memcmp(data, blob, n) == 0);
	TAP_STREQ(got.hash, info.hash);
	close_store(st);
	return 0;
}

int
main(void)
{
	TAP_PLAN(13);
	RUN_TEST(test_url_good);
	RUN_TEST(test_url_bad);
	RUN_TEST(test_url_addr);
	RUN_TEST(test_config_address);
	RUN_TEST(test_tcp_password_db);
	RUN_TEST(test_restart);
	RUN_TEST(test_paused);
	RUN_TEST(test_flushdb);
	RUN_TEST(test_native_expiry);
	RUN_TEST(test_prefix);
	RUN_TEST(test_cloexec);
	RUN_TEST(test_two_replicas);
	RUN_TEST(test_binary_state);
	return TAP_DONE();
}

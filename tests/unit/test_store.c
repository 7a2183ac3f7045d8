/* The store conformance suite: one table of checks (`checks`) run against
 * every pair of session and file store ops in `backends`, each check on a
 * fresh, empty store, through the kcr_store_*() wrappers callers use. A
 * new backend (redis, s3) is one more line in `backends`, with a setup
 * that returns 77 when its server is not there. */
#include <config.h>

#include "base/clock.h"
#include "base/encode.h"
#include "base/files.h"
#include "base/ids.h"
#include "base/settings.h"
#include "base/util.h"
#include "store/store.h"
#include "s3_servers.h"
#include "tap.h"
#include "tap_err.h"
#ifdef HAVE_REDIS
#include "redis_server.h"
#endif

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_THREADS 8
#define N_ADDS    25

struct backend {
	const char *name;
	const struct kcr_session_store_ops *sessions;
	const struct kcr_file_store_ops *files;
	/* Points cfg at a fresh, empty store; not 0: not available here
	 * (the checks skip). */
	int (*setup)(struct kcr_config *cfg);
	void (*teardown)(const struct kcr_config *cfg);
	/* Makes the session store fail, and repairs it (NULL: not checked). */
	int (*sabotage)(const struct kcr_config *cfg);
	int (*repair)(const struct kcr_config *cfg);
};

/* ---- fs ----------------------------------------------------------------- */

static int
fs_setup(struct kcr_config *cfg)
{
	char dir[] = "/tmp/kcr-test-store.XXXXXX";

	if (mkdtemp(dir) == NULL)
		return 77;
	if (kcr_config_set(cfg, "state_dir", dir, KCR_SRC_FLAG, NULL) < 0) {
		rmdir(dir);
		return 77;
	}
	return 0;
}

static void
fs_teardown(const struct kcr_config *cfg)
{
	kcr_rm_rf(kcr_config_str(cfg, "state_dir"));
}

static char *
fs_sub(const struct kcr_config *cfg, const char *name)
{
	return kcr_strdup_printf("%s/%s", kcr_config_str(cfg, "state_dir"), name);
}

/* A regular file where the sessions directory was: fails even for root,
 * which chmod would not stop. */
static int
fs_sabotage(const struct kcr_config *cfg)
{
	kcr_autofree char *dir = fs_sub(cfg, "sessions"), *off = fs_sub(cfg, "sessions.off");

	mkdir(dir, 0700);
	if (rename(dir, off) < 0)
		return -1;
	return kcr_write_file(dir, "x", 1, 0600, NULL);
}

static int
fs_repair(const struct kcr_config *cfg)
{
	kcr_autofree char *dir = fs_sub(cfg, "sessions"), *off = fs_sub(cfg, "sessions.off");

	return unlink(dir) < 0 || rename(off, dir) < 0 ? -1 : 0;
}

/* ---- redis ---------------------------------------------------------------- */

#ifdef HAVE_REDIS
/* One server for the whole run, emptied before each check; the file
 * store beside it is fs. */
static struct test_redis redis;
static pid_t redis_owner;

static void
redis_at_exit(void)
{
	if (getpid() == redis_owner)
		test_redis_stop(&redis);
}

static int
redis_setup(struct kcr_config *cfg)
{
	if (redis.pid == 0) {
		int r = test_redis_start(&redis, false, NULL);

		if (r != 0)
			return r == 77 ? 77 : -1;
		redis_owner = getpid();
		atexit(redis_at_exit);
	}
	if (test_redis_cmd(&redis, "FLUSHALL") < 0 || fs_setup(cfg) != 0)
		return -1;
	/* short: the failure check waits for a paused server's timeouts */
	if (kcr_config_set(cfg, "store.redis.url", redis.url, KCR_SRC_FLAG, NULL) < 0 ||
	    kcr_config_set(cfg, "store.redis.command_timeout_ms", "2000", KCR_SRC_FLAG, NULL) < 0)
		return -1;
	return 0;
}

static int
redis_sabotage(const struct kcr_config *cfg)
{
	(void)cfg;
	return test_redis_pause(&redis);
}

static int
redis_repair(const struct kcr_config *cfg)
{
	(void)cfg;
	return test_redis_resume(&redis);
}
#endif

/* ---- s3 (files; sessions in fs) ---------------------------------------------------- */

/* s3rver, started once for this program, a fresh bucket for each check */
static int
s3_setup(struct kcr_config *cfg)
{
	const char *endpoint = s3t_s3rver();

	if (endpoint == NULL)
		return 77;
	if (fs_setup(cfg) != 0)
		return 77;
	return s3t_configure(cfg, endpoint, NULL) < 0 ? -1 : 0;
}

#ifdef HAVE_REDIS
/* The pair a deployment of replicas runs: Redis and S3 together. */
static int
redis_s3_setup(struct kcr_config *cfg)
{
	const char *endpoint = s3t_s3rver();
	int r;

	if (endpoint == NULL)
		return 77;
	if ((r = redis_setup(cfg)) != 0)
		return r;
	return s3t_configure(cfg, endpoint, NULL) < 0 ? -1 : 0;
}
#endif

static const struct backend backends[] = {
	{ "fs", &kcr_session_store_fs_ops, &kcr_file_store_fs_ops, fs_setup, fs_teardown,
	  fs_sabotage, fs_repair },
#ifdef HAVE_REDIS
	{ "redis", &kcr_session_store_redis_ops, &kcr_file_store_fs_ops, redis_setup, fs_teardown,
	  redis_sabotage, redis_repair },
	{ "redis+s3", &kcr_session_store_redis_ops, &kcr_file_store_s3_ops, redis_s3_setup,
	  fs_teardown, redis_sabotage, redis_repair },
#endif
	{ "s3", &kcr_session_store_fs_ops, &kcr_file_store_s3_ops, s3_setup, fs_teardown,
	  fs_sabotage, fs_repair },
};

/* ---- helpers ------------------------------------------------------------ */

/* The backend and config of the check that runs (for the ones that open
 * more handles or break the store). */
static const struct backend *cur_backend;
static struct kcr_config *cur_cfg;

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

static bool
same_time(double a, double b)
{
	return a - b < 1e-3 && b - a < 1e-3;
}

/* ---- sessions ------------------------------------------------------------ */

static int
check_session_put_get(struct kcr_stores *st)
{
	struct kcr_session s = new_session("ent-1", 0), out;
	char other[KCR_ID_LEN + 1];

	OK(kcr_store_session_put(st, &s, &e_));
	OK(kcr_store_session_get(st, s.id, &out, &e_));
	TAP_STREQ(out.id, s.id);
	TAP_STREQ(out.entity_id, "ent-1");
	TAP_STREQ(out.user_id, "user-1");
	TAP_ASSERT(same_time(out.created, s.created) && out.expires == 0);
	kcr_session_release(&out);
	kcr_id_generate(other);
	FAILS(KCR_E_NOTFOUND, kcr_store_session_get(st, other, &out, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_session_get(st, "../../etc", &out, &e_));
	return 0;
}

static int
check_session_delete(struct kcr_stores *st)
{
	struct kcr_session s = new_session(NULL, 0), out;

	OK(kcr_store_session_put(st, &s, &e_));
	OK(kcr_store_session_delete(st, s.id, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_session_get(st, s.id, &out, &e_));
	OK(kcr_store_session_delete(st, s.id, &e_)); /* missing: not an error */
	return 0;
}

static int
check_session_by_owner(struct kcr_stores *st)
{
	struct kcr_session a = new_session("ent-2", 0), b = new_session("ent-2", 0), out;
	struct kcr_session other_user = new_session("ent-2", 0);
	struct kcr_session other_tenant = new_session("ent-2", 0);

	other_user.user_id = (char *)"user-2";
	other_tenant.tenant = (char *)"key:t2";
	FAILS(KCR_E_NOTFOUND,
	      kcr_store_session_by_owner(st, "key:t1", "ent-2", "user-1", &out, &e_));
	OK(kcr_store_session_put(st, &a, &e_));
	OK(kcr_store_session_put(st, &b, &e_));
	OK(kcr_store_session_put(st, &other_user, &e_));
	OK(kcr_store_session_put(st, &other_tenant, &e_));
	OK(kcr_store_session_by_owner(st, "key:t1", "ent-2", "user-1", &out, &e_));
	TAP_STREQ(out.id, b.id); /* the newest of its owner, not of the agent */
	TAP_STREQ(out.tenant, "key:t1");
	kcr_session_release(&out);
	OK(kcr_store_session_by_owner(st, "key:t1", "ent-2", "user-2", &out, &e_));
	TAP_STREQ(out.id, other_user.id);
	kcr_session_release(&out);
	OK(kcr_store_session_by_owner(st, "key:t2", "ent-2", "user-1", &out, &e_));
	TAP_STREQ(out.id, other_tenant.id);
	kcr_session_release(&out);
	FAILS(KCR_E_NOTFOUND, kcr_store_session_by_owner(st, NULL, "ent-2", "user-1", &out, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_session_by_owner(st, "key:t1", "ent-2", NULL, &out, &e_));
	OK(kcr_store_session_delete(st, b.id, &e_));
	FAILS(KCR_E_NOTFOUND,
	      kcr_store_session_by_owner(st, "key:t1", "ent-2", "user-1", &out, &e_));
	FAILS(KCR_E_NOTFOUND,
	      kcr_store_session_by_owner(st, "key:t1", "no-such-entity", "user-1", &out, &e_));
	/* no owner index without an entity */
	FAILS(KCR_E_NOTFOUND, kcr_store_session_by_owner(st, "key:t1", NULL, "user-1", &out, &e_));
	return 0;
}

static bool
strv_has(char **v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Live sessions listed, expired ones not, and no more than asked for. */
static int
check_sessions_list(struct kcr_stores *st)
{
	double now = kcr_wall_time();
	struct kcr_session a = new_session(NULL, now + 100), b = new_session(NULL, 0);
	struct kcr_session dead = new_session(NULL, now - 1);
	kcr_autostrv char **ids = NULL, **one = NULL;

	OK(kcr_store_session_put(st, &a, &e_));
	OK(kcr_store_session_put(st, &b, &e_));
	OK(kcr_store_session_put(st, &dead, &e_));
	OK(kcr_store_sessions_list(st, 100000, &ids, &e_));
	TAP_ASSERT(strv_has(ids, a.id) && strv_has(ids, b.id) && !strv_has(ids, dead.id));
	OK(kcr_store_sessions_list(st, 1, &one, &e_));
	TAP_ASSERT(kcr_strv_len(one) == 1);
	return 0;
}

static int
check_sessions_expired(struct kcr_stores *st)
{
	double now = kcr_wall_time();
	struct kcr_session live = new_session(NULL, now + 100), dead = new_session(NULL, now - 1);
	struct kcr_session never = new_session(NULL, 0), out;
	kcr_autostrv char **ids = NULL;

	OK(kcr_store_session_put(st, &live, &e_));
	OK(kcr_store_session_put(st, &dead, &e_));
	OK(kcr_store_session_put(st, &never, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_session_get(st, dead.id, &out, &e_));
	if (kcr_store_native_ttl(st))
		return 0; /* gone by itself: nothing to sweep */
	OK(kcr_store_sessions_expired(st, now, &ids, &e_));
	TAP_ASSERT(strv_has(ids, dead.id));
	TAP_ASSERT(!strv_has(ids, live.id) && !strv_has(ids, never.id));
	return 0;
}

static int
check_session_touch(struct kcr_stores *st)
{
	struct kcr_session init = new_session("ent-3", 0), again, out;
	bool created;

	init.created = 1000;
	OK(kcr_store_session_touch(st, &init, 60, &out, &created, &e_));
	TAP_ASSERT(created && out.created == 1000);
	TAP_STREQ(out.entity_id, "ent-3");
	TAP_ASSERT(out.last_used > 1000 && same_time(out.expires, out.last_used + 60));
	kcr_session_release(&out);
	again = new_session("ent-other", 0);
	memcpy(again.id, init.id, sizeof(again.id));
	again.created = 2000;
	OK(kcr_store_session_touch(st, &again, 0, &out, &created, &e_));
	TAP_ASSERT(!created && out.created == 1000 && out.expires == 0);
	TAP_STREQ(out.entity_id, "ent-3"); /* the stored one stays */
	kcr_session_release(&out);
	OK(kcr_store_session_get(st, init.id, &out, &e_));
	TAP_ASSERT(out.created == 1000 && out.expires == 0);
	kcr_session_release(&out);
	OK(kcr_store_session_by_owner(st, "key:t1", "ent-3", "user-1", &out, &e_));
	TAP_STREQ(out.id, init.id);
	kcr_session_release(&out);
	init.id[0] = '.';
	FAILS(KCR_E_INVALID, kcr_store_session_touch(st, &init, 60, NULL, NULL, &e_));
	return 0;
}

struct toucher {
	struct kcr_stores *st;
	pthread_barrier_t *go;
	struct kcr_session init;
	bool created, failed;
	double seen_created;
};

static void *
touch_thread(void *p)
{
	struct toucher *t = p;
	struct kcr_session out;
	kcr_error_t e = NULL;

	pthread_barrier_wait(t->go);
	if (kcr_store_session_touch(t->st, &t->init, 60, &out, &t->created, &e) < 0) {
		fprintf(stderr, "# touch: %s\n", e->msg);
		kcr_error_free(e);
		t->failed = true;
		return NULL;
	}
	t->seen_created = out.created;
	kcr_session_release(&out);
	return NULL;
}

/* N touches of one new session at once: exactly one creates it, and all
 * see its creation time. */
static int
check_touch_threads(struct kcr_stores *st)
{
	struct toucher t[N_THREADS];
	pthread_t th[N_THREADS];
	pthread_barrier_t go;
	char sid[KCR_ID_LEN + 1];
	int creators = 0;
	double first = 0;

	kcr_id_generate(sid);
	pthread_barrier_init(&go, NULL, N_THREADS);
	for (int i = 0; i < N_THREADS; i++) {
		t[i] = (struct toucher){ .st = st, .go = &go, .init = new_session("ent-4", 0) };
		memcpy(t[i].init.id, sid, sizeof(sid));
		t[i].init.created = 1000 + i;
		pthread_create(&th[i], NULL, touch_thread, &t[i]);
	}
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < N_THREADS; i++) {
		TAP_ASSERT(!t[i].failed);
		creators += t[i].created;
		if (t[i].created)
			first = t[i].init.created;
	}
	TAP_ASSERT(creators == 1);
	for (int i = 0; i < N_THREADS; i++)
		TAP_ASSERT(t[i].seen_created == first);
	return 0;
}

/* A replica: its own handle on the same store, in a child process that
 * touches when the parent closes the go pipe (all at once). */
static void
touch_child(const char *sid, int i, int go, int out_fd)
{
	struct kcr_stores own;
	struct kcr_session init = new_session(NULL, 0), out;
	bool created;
	char line[64], c;
	int n;

	memcpy(init.id, sid, KCR_ID_LEN + 1);
	init.created = 1000 + i;
	if (kcr_stores_open_ops(&own, cur_backend->sessions, cur_backend->files, cur_cfg, NULL) <
		    0 ||
	    read(go, &c, 1) != 0 ||
	    kcr_store_session_touch(&own, &init, 60, &out, &created, NULL) < 0)
		_exit(1);
	n = snprintf(line, sizeof(line), "%d %.3f\n", created, out.created);
	_exit(write(out_fd, line, (size_t)n) == n ? 0 : 1);
}

static int
check_touch_processes(struct kcr_stores *st)
{
	char sid[KCR_ID_LEN + 1];
	int go[2], res[2], creators = 0, status, created;
	double seen[N_THREADS], c;
	kcr_autofclose FILE *f = NULL;

	(void)st;
	kcr_id_generate(sid);
	TAP_ASSERT(pipe(go) == 0 && pipe(res) == 0);
	fflush(NULL);
	for (int i = 0; i < N_THREADS; i++)
		if (fork() == 0) {
			close(go[1]);
			touch_child(sid, i, go[0], res[1]);
		}
	close(go[0]);
	close(res[1]);
	usleep(100 * 1000); /* let them open their stores */
	close(go[1]);
	while (wait(&status) > 0)
		TAP_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	f = fdopen(res[0], "r");
	for (int i = 0; i < N_THREADS; i++) {
		TAP_ASSERT(fscanf(f, "%d %lf", &created, &c) == 2);
		creators += created;
		seen[i] = c;
	}
	TAP_ASSERT(creators == 1);
	for (int i = 0; i < N_THREADS; i++)
		TAP_ASSERT(seen[i] == seen[0] && seen[i] >= 1000 && seen[i] < 1000 + N_THREADS);
	return 0;
}

static int
check_session_expire(struct kcr_stores *st)
{
	double now = kcr_wall_time();
	struct kcr_session s = new_session(NULL, 0), out;
	kcr_autostrv char **ids = NULL;
	char other[KCR_ID_LEN + 1];

	OK(kcr_store_session_put(st, &s, &e_));
	OK(kcr_store_session_expire(st, s.id, now + 50, &e_));
	OK(kcr_store_session_get(st, s.id, &out, &e_));
	TAP_ASSERT(same_time(out.expires, now + 50));
	kcr_session_release(&out);
	OK(kcr_store_session_expire(st, s.id, now - 1, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_session_get(st, s.id, &out, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_session_expire(st, s.id, now + 50, &e_));
	kcr_id_generate(other);
	FAILS(KCR_E_NOTFOUND, kcr_store_session_expire(st, other, now + 50, &e_));
	if (!kcr_store_native_ttl(st)) {
		OK(kcr_store_sessions_expired(st, kcr_wall_time(), &ids, &e_));
		TAP_ASSERT(strv_has(ids, s.id));
	}
	return 0;
}

/* ---- file records --------------------------------------------------------- */

static void
new_meta(struct kcr_file_meta *m, const char *sid, const char *name, double created)
{
	memset(m, 0, sizeof(*m));
	kcr_id_generate(m->id);
	memcpy(m->session_id, sid, KCR_ID_LEN + 1);
	m->name = (char *)name;
	m->kind = (char *)"upload";
	m->content_type = (char *)"text/plain";
	m->size = 3;
	m->created = m->modified = created;
	kcr_sha256_hex("abc", 3, m->sha256);
}

static int
check_meta(struct kcr_stores *st)
{
	struct kcr_session s = new_session(NULL, 0);
	struct kcr_file_meta m[3], out, *list = NULL;
	char other[KCR_ID_LEN + 1];
	size_t n;

	OK(kcr_store_session_put(st, &s, &e_));
	for (int i = 0; i < 3; i++) {
		new_meta(&m[i], s.id, i == 1 ? "b.txt" : "a.txt", 1000 + 10 * (3 - i));
		OK(kcr_store_meta_put(st, &m[i], &e_));
	}
	OK(kcr_store_meta_get(st, s.id, m[1].id, &out, &e_));
	TAP_STREQ(out.name, "b.txt");
	TAP_STREQ(out.sha256, m[1].sha256);
	TAP_ASSERT(out.size == 3 && out.created == m[1].created);
	kcr_file_meta_release(&out);
	OK(kcr_store_meta_list(st, s.id, &list, &n, &e_));
	TAP_ASSERT(n == 3 && strcmp(list[0].id, m[2].id) == 0 && strcmp(list[2].id, m[0].id) == 0);
	kcr_file_meta_list_free(list, n);
	OK(kcr_store_meta_delete(st, s.id, m[1].id, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_meta_get(st, s.id, m[1].id, &out, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_meta_delete(st, s.id, m[1].id, &e_));
	kcr_id_generate(other);
	OK(kcr_store_meta_list(st, other, &list, &n, &e_));
	TAP_ASSERT(n == 0);
	kcr_file_meta_list_free(list, n);
	return 0;
}

/* ---- state ----------------------------------------------------------------- */

static const char binary[] = "\x80\x04\0state\0with\0NULs\0.";

static int
check_state(struct kcr_stores *st)
{
	struct kcr_session s = new_session(NULL, 0);
	struct kcr_state_info info = { .size = sizeof(binary), .created = kcr_wall_time() }, got;
	kcr_autofree char *data = NULL;
	size_t len;

	kcr_sha256_hex(binary, sizeof(binary), info.hash);
	OK(kcr_store_session_put(st, &s, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_state_info(st, s.id, &got, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_state_get(st, s.id, 1 << 20, &data, &len, NULL, &e_));
	OK(kcr_store_state_put(st, s.id, binary, sizeof(binary), &info, &e_));
	OK(kcr_store_state_get(st, s.id, 1 << 20, &data, &len, &got, &e_));
	TAP_ASSERT(len == sizeof(binary) && memcmp(data, binary, len) == 0);
	TAP_ASSERT(got.size == len);
	TAP_STREQ(got.hash, info.hash);
	OK(kcr_store_state_info(st, s.id, &got, &e_));
	TAP_ASSERT(got.size == len && same_time(got.created, info.created));
	FAILS(KCR_E_LIMIT, kcr_store_state_get(st, s.id, 4, &data, &len, NULL, &e_));
	OK(kcr_store_state_delete(st, s.id, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_state_info(st, s.id, &got, &e_));
	OK(kcr_store_state_delete(st, s.id, &e_)); /* none: not an error */
	info.expires = kcr_wall_time() - 1;
	OK(kcr_store_state_put(st, s.id, binary, sizeof(binary), &info, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_state_info(st, s.id, &got, &e_));
	return 0;
}

static const char zero_hash[] = "0000000000000000000000000000000000000000000000000000000000000000";

/* Archiving: a compare-and-set on the hash, listed while idle, the record
 * kept without its bytes, and a newer save always wins. */
static int
check_state_archive(struct kcr_stores *st)
{
	struct kcr_session s = new_session(NULL, 0), idle_s = new_session(NULL, 0);
	struct kcr_state_info info = { .size = sizeof(binary), .created = kcr_wall_time() - 100 };
	struct kcr_state_info got, fresh = info;
	kcr_autofree char *data = NULL, *data2 = NULL;
	kcr_autostrv char **idle = NULL, **idle2 = NULL;
	size_t len;

	kcr_sha256_hex(binary, sizeof(binary), info.hash);
	fresh.created = kcr_wall_time();
	OK(kcr_store_session_put(st, &s, &e_));
	OK(kcr_store_session_put(st, &idle_s, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_state_archive(st, s.id, info.hash, &e_));
	OK(kcr_store_state_put(st, s.id, binary, sizeof(binary), &info, &e_));
	OK(kcr_store_state_put(st, idle_s.id, binary, sizeof(binary), &fresh, &e_));
	OK(kcr_store_states_idle(st, kcr_wall_time() - 50, 100, &idle, &e_));
	TAP_ASSERT(strv_has(idle, s.id) && !strv_has(idle, idle_s.id));
	FAILS(KCR_E_CONFLICT, kcr_store_state_archive(st, s.id, zero_hash, &e_));
	OK(kcr_store_state_archive(st, s.id, info.hash, &e_));
	FAILS(KCR_E_CONFLICT, kcr_store_state_archive(st, s.id, info.hash, &e_));
	OK(kcr_store_state_info(st, s.id, &got, &e_));
	TAP_ASSERT(got.archived && got.size == sizeof(binary));
	TAP_STREQ(got.hash, info.hash);
	OK(kcr_store_state_get(st, s.id, 1 << 20, &data, &len, &got, &e_));
	TAP_ASSERT(len == 0 && got.archived && got.size == sizeof(binary));
	TAP_STREQ(got.hash, info.hash);
	OK(kcr_store_states_idle(st, kcr_wall_time() - 50, 100, &idle2, &e_));
	TAP_ASSERT(!strv_has(idle2, s.id));
	/* back: only with the archived hash, and only once */
	FAILS(KCR_E_CONFLICT, kcr_store_state_unarchive(st, s.id, binary, 3, zero_hash, &e_));
	OK(kcr_store_state_unarchive(st, s.id, binary, sizeof(binary), info.hash, &e_));
	FAILS(KCR_E_CONFLICT,
	      kcr_store_state_unarchive(st, s.id, binary, sizeof(binary), info.hash, &e_));
	OK(kcr_store_state_get(st, s.id, 1 << 20, &data2, &len, &got, &e_));
	TAP_ASSERT(!got.archived && len == sizeof(binary) && memcmp(data2, binary, len) == 0);
	TAP_ASSERT(same_time(got.created, info.created));
	/* a restore is a use: not idle again at once */
	TAP_ASSERT(got.restored > kcr_wall_time() - 50);
	{
		kcr_autostrv char **idle3 = NULL;

		OK(kcr_store_states_idle(st, kcr_wall_time() - 50, 100, &idle3, &e_));
		TAP_ASSERT(!strv_has(idle3, s.id));
	}
	free(kcr_steal(&data2));
	OK(kcr_store_state_archive(st, s.id, info.hash, &e_));
	/* a save after the archive: live bytes again, and the old hash no
	 * longer archives them */
	OK(kcr_store_state_put(st, s.id, binary, sizeof(binary), &info, &e_));
	OK(kcr_store_state_get(st, s.id, 1 << 20, &data2, &len, &got, &e_));
	TAP_ASSERT(!got.archived && len == sizeof(binary) && memcmp(data2, binary, len) == 0);
	return 0;
}

/* ---- API keys -------------------------------------------------------------- */

static void
new_key(struct kcr_api_key_record *k, const char *secret, const char *name, double created)
{
	memset(k, 0, sizeof(*k));
	kcr_sha256_hex(secret, strlen(secret), k->id);
	k->name = (char *)name;
	k->enabled = true;
	k->created = created;
	k->per_minute = 60;
	k->per_day = 10000;
	k->max_concurrent = 4;
}

static int
check_keys(struct kcr_stores *st)
{
	struct kcr_api_key_record a, b, out, *list = NULL;
	size_t n;

	new_key(&a, "sk-a", "first", 2000);
	new_key(&b, "sk-b", NULL, 1000);
	b.enabled = false;
	b.expires = 1; /* long expired: returned all the same */
	OK(kcr_store_key_put(st, &a, &e_));
	OK(kcr_store_key_put(st, &b, &e_));
	OK(kcr_store_key_get(st, a.id, &out, &e_));
	TAP_STREQ(out.name, "first");
	TAP_ASSERT(out.enabled && out.per_minute == 60 && out.per_day == 10000);
	TAP_ASSERT(out.per_second == 0 && out.per_hour == 0 && out.max_concurrent == 4);
	kcr_api_key_release(&out);
	OK(kcr_store_key_list(st, &list, &n, &e_));
	TAP_ASSERT(n == 2 && strcmp(list[0].id, b.id) == 0 && !list[0].enabled);
	TAP_ASSERT(list[0].name == NULL && list[0].expires == 1);
	kcr_api_key_list_free(list, n);
	OK(kcr_store_key_delete(st, a.id, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_key_get(st, a.id, &out, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_key_delete(st, a.id, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_key_get(st, "not-a-hash", &out, &e_));
	memcpy(a.id, "../x", 5);
	FAILS(KCR_E_INVALID, kcr_store_key_put(st, &a, &e_));
	return 0;
}

/* ---- counters ---------------------------------------------------------------- */

static int
check_counter(struct kcr_stores *st)
{
	int64_t v;

	OK(kcr_store_counter_add(st, "rl:abc:m:1", 5, 60, &v, &e_));
	TAP_ASSERT(v == 5);
	OK(kcr_store_counter_add(st, "rl:abc:m:1", -2, 60, &v, &e_));
	TAP_ASSERT(v == 3);
	OK(kcr_store_counter_add(st, "rl:abc:m:2", 1, 0, NULL, &e_));
	FAILS(KCR_E_INVALID, kcr_store_counter_add(st, "../x", 1, 60, &v, &e_));
	FAILS(KCR_E_INVALID, kcr_store_counter_add(st, "", 1, 60, &v, &e_));
	/* expiry: the window restarts */
	OK(kcr_store_counter_add(st, "short", 7, 0.2, &v, &e_));
	OK(kcr_store_counter_add(st, "short", 1, 0.2, &v, &e_));
	TAP_ASSERT(v == 8);
	nanosleep(&(struct timespec){ 0, 300 * 1000 * 1000 }, NULL);
	OK(kcr_store_counter_add(st, "short", 1, 0.2, &v, &e_));
	TAP_ASSERT(v == 1);
	nanosleep(&(struct timespec){ 0, 300 * 1000 * 1000 }, NULL);
	OK(kcr_store_counters_sweep(st, kcr_wall_time(), &e_));
	OK(kcr_store_counter_add(st, "short", 0, 0.2, &v, &e_));
	TAP_ASSERT(v == 0);
	OK(kcr_store_counter_add(st, "rl:abc:m:1", 0, 60, &v, &e_)); /* the sweep kept it */
	TAP_ASSERT(v == 3);
	return 0;
}

struct adder {
	struct kcr_stores *st;
	int64_t seen[N_ADDS];
	bool failed;
};

static void *
add_thread(void *p)
{
	struct adder *a = p;

	for (int i = 0; i < N_ADDS; i++) {
		kcr_error_t e = NULL;

		if (kcr_store_counter_add(a->st, "concurrent", 1, 60, &a->seen[i], &e) < 0) {
			fprintf(stderr, "# counter_add: %s\n", e->msg);
			kcr_error_free(e);
			a->failed = true;
			return NULL;
		}
	}
	return NULL;
}

/* Adds from N threads at once: none is lost, and each sees its own value. */
static int
check_counter_threads(struct kcr_stores *st)
{
	struct adder a[N_THREADS];
	bool seen[N_THREADS * N_ADDS + 1] = { false };
	pthread_t th[N_THREADS];
	int64_t v;

	for (int i = 0; i < N_THREADS; i++) {
		a[i] = (struct adder){ .st = st };
		pthread_create(&th[i], NULL, add_thread, &a[i]);
	}
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N_THREADS; i++) {
		TAP_ASSERT(!a[i].failed);
		for (int j = 0; j < N_ADDS; j++) {
			int64_t x = a[i].seen[j];

			TAP_ASSERT(x >= 1 && x <= N_THREADS * N_ADDS && !seen[x]);
			seen[x] = true;
		}
	}
	OK(kcr_store_counter_add(st, "concurrent", 0, 60, &v, &e_));
	TAP_ASSERT(v == N_THREADS * N_ADDS);
	return 0;
}

/* Two handles on one store, as two replicas: one lease holder per
 * window, and another may take it once it lapsed. */
static int
check_lease(struct kcr_stores *st)
{
	struct kcr_stores other;
	kcr_error_t e = NULL;
	bool a, b;
	int ret = -1;

	if (kcr_stores_open_ops(&other, cur_backend->sessions, cur_backend->files, cur_cfg, &e) <
	    0) {
		fprintf(stderr, "# open: %s\n", e->msg);
		kcr_error_free(e);
		return -1;
	}
	if (kcr_store_lease(st, "sweep", 0.3, &a, &e) < 0 ||
	    kcr_store_lease(&other, "sweep", 0.3, &b, &e) < 0 || !a || b)
		goto out;
	if (kcr_store_lease(st, "sweep", 0.3, &a, &e) < 0 || a) /* not twice either */
		goto out;
	if (kcr_store_lease(&other, "other-job", 0.3, &b, &e) < 0 || !b)
		goto out;
	nanosleep(&(struct timespec){ 0, 500 * 1000 * 1000 }, NULL);
	if (kcr_store_lease(&other, "sweep", 0.3, &b, &e) < 0 || !b)
		goto out;
	ret = 0;
out:
	if (e)
		fprintf(stderr, "# lease: %s\n", e->msg);
	kcr_error_free(e);
	kcr_stores_close(&other);
	return ret;
}

/* ---- the file store, ping, failures ----------------------------------------- */

static int
check_file_store(struct kcr_stores *st)
{
	char sid[KCR_ID_LEN + 1], fid[KCR_ID_LEN + 1];
	kcr_autofree char *key = NULL, *data = NULL, *data2 = NULL;
	size_t len;

	kcr_id_generate(sid);
	kcr_id_generate(fid);
	key = kcr_strdup_printf("%s/%s", sid, fid);
	FAILS(KCR_E_NOTFOUND, kcr_store_file_get(st, key, 1 << 20, &data, &len, &e_));
	OK(kcr_store_file_put(st, key, binary, sizeof(binary), &e_));
	OK(kcr_store_file_get(st, key, 1 << 20, &data, &len, &e_));
	TAP_ASSERT(len == sizeof(binary) && memcmp(data, binary, len) == 0);
	FAILS(KCR_E_LIMIT, kcr_store_file_get(st, key, 4, &data2, &len, &e_));
	OK(kcr_store_file_put(st, key, "", 0, &e_)); /* replaced; empty is a file too */
	OK(kcr_store_file_get(st, key, 1 << 20, &data2, &len, &e_));
	TAP_ASSERT(len == 0);
	OK(kcr_store_file_del(st, key, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_store_file_get(st, key, 1 << 20, &data, &len, &e_));
	OK(kcr_store_file_del(st, key, &e_)); /* missing: not an error */
	FAILS(KCR_E_INVALID, kcr_store_file_put(st, "../../etc/passwd", "x", 1, &e_));
	return 0;
}

/* A spool of n bytes of pattern, its offset at the end (as after the
 * writes that filled it): put_fd reads from offset 0 all the same.
 * anonymous: O_TMPFILE (what kcr_spool_open makes), else a named file
 * unlinked at once (the fallback, which cannot be linked back). */
static int
spool_of(const char *dir, size_t n, bool anonymous)
{
	char tmpl[] = "/tmp/kcr-test-spool.XXXXXX";
	int fd = anonymous ? kcr_spool_open(dir, NULL) : mkstemp(tmpl);

	if (!anonymous && fd >= 0)
		unlink(tmpl);
	for (size_t i = 0; fd >= 0 && i < n; i += sizeof(binary))
		if (kcr_write_all(fd, binary, n - i < sizeof(binary) ? n - i : sizeof(binary)) < 0)
			return -1;
	return fd;
}

static int
check_file_store_fd(struct kcr_stores *st)
{
	const size_t n = 3 * 65536 + 7; /* several reads of a copy, and a part */
	char sid[KCR_ID_LEN + 1], fid[KCR_ID_LEN + 1];
	kcr_autofree char *key = NULL;
	kcr_autofree char *spools = kcr_strdup_printf("/tmp/kcr-test-spools-%d", (int)getpid());

	kcr_id_generate(sid);
	kcr_id_generate(fid);
	key = kcr_strdup_printf("%s/%s", sid, fid);
	for (int anonymous = 0; anonymous < 2; anonymous++) {
		kcr_autoclose int fd = spool_of(spools, n, anonymous);
		kcr_autofree char *data = NULL;
		size_t len;

		TAP_ASSERT(fd > 0);
		OK(kcr_store_file_put_fd(st, key, fd, n, &e_));
		OK(kcr_store_file_get(st, key, 1 << 20, &data, &len, &e_));
		TAP_ASSERT(len == n);
		for (size_t i = 0; i < n; i += sizeof(binary))
			TAP_ASSERT(memcmp(data + i, binary,
					  n - i < sizeof(binary) ? n - i : sizeof(binary)) == 0);
	}
	{ /* empty, and a bad key */
		kcr_autoclose int fd = spool_of(spools, 0, true);
		kcr_autofree char *data = NULL;
		size_t len = 1;

		OK(kcr_store_file_put_fd(st, key, fd, 0, &e_));
		OK(kcr_store_file_get(st, key, 1 << 20, &data, &len, &e_));
		TAP_ASSERT(len == 0);
		FAILS(KCR_E_INVALID, kcr_store_file_put_fd(st, "../../etc/passwd", fd, 0, &e_));
	}
	OK(kcr_store_file_del(st, key, &e_));
	kcr_rm_rf(spools);
	return 0;
}

/* get_fd: a spool that held something gets exactly the file; max,
 * missing and bad keys as get. A file over the multipart threshold of the
 * s3 tests (5 MiB) goes up in parts. */
static int
check_file_store_get_fd(struct kcr_stores *st)
{
	const size_t n = 11 * 1024 * 1024 + 13;
	char sid[KCR_ID_LEN + 1], fid[KCR_ID_LEN + 1];
	kcr_autofree char *key = NULL, *back = NULL;
	kcr_autofree char *spools = kcr_strdup_printf("/tmp/kcr-test-spools-%d", (int)getpid());
	kcr_autoclose int in = -1, out = -1;
	uint64_t len = 0;
	size_t blen;

	kcr_id_generate(sid);
	kcr_id_generate(fid);
	key = kcr_strdup_printf("%s/%s", sid, fid);
	in = spool_of(spools, n, true);
	out = spool_of(spools, 100, true); /* not empty: get_fd starts it over */
	TAP_ASSERT(in > 0 && out > 0);
	FAILS(KCR_E_NOTFOUND, kcr_store_file_get_fd(st, key, n, out, &len, &e_));
	OK(kcr_store_file_put_fd(st, key, in, n, &e_));
	OK(kcr_store_file_get_fd(st, key, n, out, &len, &e_));
	TAP_ASSERT(len == n);
	TAP_ASSERT(lseek(out, 0, SEEK_END) == (off_t)n);
	back = kcr_xmalloc(n);
	TAP_ASSERT(pread(out, back, n, 0) == (ssize_t)n);
	for (size_t i = 0; i < n; i += sizeof(binary))
		TAP_ASSERT(memcmp(back + i, binary,
				  n - i < sizeof(binary) ? n - i : sizeof(binary)) == 0);
	FAILS(KCR_E_LIMIT, kcr_store_file_get_fd(st, key, n - 1, out, &len, &e_));
	FAILS(KCR_E_INVALID, kcr_store_file_get_fd(st, "../x", n, out, &len, &e_));
	free(back);
	back = NULL;
	OK(kcr_store_file_get(st, key, n, &back, &blen, &e_)); /* the parts came back whole */
	TAP_ASSERT(blen == n && memcmp(back, binary, sizeof(binary)) == 0);
	OK(kcr_store_file_del(st, key, &e_));
	kcr_rm_rf(spools);
	return 0;
}

/* A session's files go at once; another session's stay. */
static int
check_file_store_del_session(struct kcr_stores *st)
{
	char sid[KCR_ID_LEN + 1], other[KCR_ID_LEN + 1], fid[KCR_ID_LEN + 1];
	kcr_autofree char *data = NULL;
	size_t len;

	kcr_id_generate(sid);
	kcr_id_generate(other);
	OK(kcr_store_file_del_session(st, sid, &e_)); /* none: not an error */
	for (int i = 0; i < 3; i++) {
		kcr_autofree char *key = NULL;

		kcr_id_generate(fid);
		key = kcr_strdup_printf("%s/%s", i < 2 ? sid : other, fid);
		OK(kcr_store_file_put(st, key, "abc", 3, &e_));
	}
	{
		kcr_autostrv char **sids = NULL;

		OK(kcr_store_file_sessions(st, &sids, &e_));
		TAP_ASSERT(strv_has(sids, sid) && strv_has(sids, other));
	}
	OK(kcr_store_file_del_session(st, sid, &e_));
	{
		kcr_autofree char *key = kcr_strdup_printf("%s/%s", other, fid);
		kcr_autostrv char **sids = NULL;

		/* a session whose files are gone is no longer listed */
		OK(kcr_store_file_sessions(st, &sids, &e_));
		TAP_ASSERT(!strv_has(sids, sid) && strv_has(sids, other));

		OK(kcr_store_file_get(st, key, 10, &data, &len, &e_));
		TAP_ASSERT(len == 3);
		OK(kcr_store_file_del_session(st, other, &e_));
		FAILS(KCR_E_NOTFOUND, kcr_store_file_get(st, key, 10, &data, &len, &e_));
	}
	FAILS(KCR_E_INVALID, kcr_store_file_del_session(st, "..", &e_));
	return 0;
}

static int
check_ping(struct kcr_stores *st)
{
	OK(kcr_store_ping(st, NULL, &e_));
	return 0;
}

/* A store that fails is never absent: 503 with the store's name, and
 * nothing for "no such session". */
static int
check_failure(struct kcr_stores *st)
{
	struct kcr_session s = new_session(NULL, 0), out;
	kcr_autofree char *prefix =
		kcr_strdup_printf("session store %s: ", cur_backend->sessions->name);
	const char *which = NULL;
	kcr_error_t e = NULL;

	if (cur_backend->sabotage == NULL)
		return 77;
	OK(kcr_store_session_put(st, &s, &e_));
	TAP_ASSERT(cur_backend->sabotage(cur_cfg) == 0);
	TAP_ASSERT(kcr_store_ping(st, &which, &e) < 0 && e->code == KCR_E_UNAVAILABLE);
	TAP_ASSERT(strncmp(e->msg, prefix, strlen(prefix)) == 0);
	TAP_STREQ(which, "sessions");
	kcr_error_release(&e);
	TAP_ASSERT(kcr_store_session_get(st, s.id, &out, &e) < 0 && e->code == KCR_E_UNAVAILABLE);
	TAP_ASSERT(strncmp(e->msg, prefix, strlen(prefix)) == 0);
	kcr_error_release(&e);
	FAILS(KCR_E_UNAVAILABLE, kcr_store_session_touch(st, &s, 60, NULL, NULL, &e_));
	TAP_ASSERT(cur_backend->repair(cur_cfg) == 0);
	OK(kcr_store_ping(st, NULL, &e_));
	OK(kcr_store_session_get(st, s.id, &out, &e_));
	kcr_session_release(&out);
	return 0;
}

/* ---- the table, and running it -------------------------------------------- */

static const struct {
	const char *name;
	int (*run)(struct kcr_stores *st);
} checks[] = {
	{ "session put/get", check_session_put_get },
	{ "session delete", check_session_delete },
	{ "session by owner", check_session_by_owner },
	{ "sessions expired", check_sessions_expired },
	{ "sessions listed", check_sessions_list },
	{ "session touch-or-create", check_session_touch },
	{ "session touch: N threads, one creates", check_touch_threads },
	{ "session touch: N processes, one creates", check_touch_processes },
	{ "session expire", check_session_expire },
	{ "file records", check_meta },
	{ "state: binary, max, expiry", check_state },
	{ "state archive: compare-and-set, idle list", check_state_archive },
	{ "API keys", check_keys },
	{ "counter add and TTL", check_counter },
	{ "counter: N threads, no add lost", check_counter_threads },
	{ "lease: one holder per window across handles", check_lease },
	{ "file store: binary, max, missing", check_file_store },
	{ "file store: put from a spool", check_file_store_fd },
	{ "file store: get to a spool", check_file_store_get_fd },
	{ "file store: a session's files, listed and deleted", check_file_store_del_session },
	{ "ping", check_ping },
	{ "a failing store is UNAVAILABLE, never NOTFOUND", check_failure },
};

static int
run_check(const struct backend *b, size_t i)
{
	struct kcr_stores st;
	kcr_error_t e = NULL;
	int r;

	cur_backend = b;
	cur_cfg = kcr_config_new();
	if ((r = b->setup(cur_cfg)) != 0) {
		kcr_config_free(cur_cfg);
		return r == 77 ? 77 : -1; /* 77: the backend is not there */
	}
	if (kcr_stores_open_ops(&st, b->sessions, b->files, cur_cfg, &e) < 0) {
		fprintf(stderr, "# open: %s\n", e->msg);
		kcr_error_free(e);
		r = -1;
	} else {
		r = checks[i].run(&st);
		kcr_stores_close(&st);
	}
	b->teardown(cur_cfg);
	kcr_config_free(cur_cfg);
	return r;
}

int
main(void)
{
	TAP_PLAN((int)(KCR_ARRAY_SIZE(backends) * KCR_ARRAY_SIZE(checks)));
	for (size_t b = 0; b < KCR_ARRAY_SIZE(backends); b++)
		for (size_t i = 0; i < KCR_ARRAY_SIZE(checks); i++) {
			int r = run_check(&backends[b], i);

			printf("%s %d - %s: %s%s\n", r == 0 || r == 77 ? "ok" : "not ok", ++tap_n,
			       backends[b].name, checks[i].name, r == 77 ? " # SKIP" : "");
			fflush(stdout);
			tap_failed += r != 0 && r != 77;
		}
	return TAP_DONE();
}

/* The s3 file store when things go wrong (the conformance suite,
 * test_store, checks it when they go right): a fault server
 * (tests/unit/s3_fault.py) for 500-then-OK, SlowDown, 403, 404
 * NoSuchBucket, a slow answer and connections dropped mid-body; s3rver
 * killed and started again; many threads on one handle; configuration. */
#include <config.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/ids.h"
#include "base/util.h"
#include "s3_servers.h"
#include "store/store.h"
#include "tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define N_THREADS 8
#define N_FILES   10

static char state_dir[64];
/* Each try of a request: long enough for the fault server on a loaded
 * machine (an ASan build beside other suites), short for test_slow. */
static const char *timeout_ms = "10000";

/* A config for the s3 file store at endpoint, bucket (NULL: a fresh one
 * that open creates), fs sessions in state_dir. */
static struct kcr_config *
config(const char *endpoint, const char *bucket, const char *retries)
{
	struct kcr_config *cfg = kcr_config_new();

	if (s3t_configure(cfg, endpoint, bucket) < 0 ||
	    kcr_config_set(cfg, "state_dir", state_dir, KCR_SRC_FLAG, NULL) < 0 ||
	    kcr_config_set(cfg, "store.s3.retries", retries, KCR_SRC_FLAG, NULL) < 0 ||
	    kcr_config_set(cfg, "store.s3.timeout_ms", timeout_ms, KCR_SRC_FLAG, NULL) < 0) {
		kcr_config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* Opens fs sessions and s3 files on cfg, and frees cfg. */
static int
open_cfg(struct kcr_stores *st, struct kcr_config *cfg, kcr_error_t *err)
{
	int r;

	if (cfg == NULL)
		return kcr_error_set(err, KCR_E_INTERNAL, 0, "config");
	r = kcr_stores_open_ops(st, &kcr_session_store_fs_ops, &kcr_file_store_s3_ops, cfg, err);
	kcr_config_free(cfg);
	return r;
}

static int
open_stores(struct kcr_stores *st, const char *endpoint, const char *bucket, const char *retries,
	    kcr_error_t *err)
{
	return open_cfg(st, config(endpoint, bucket, retries), err);
}

static char *
new_key(void)
{
	char sid[KCR_ID_LEN + 1], fid[KCR_ID_LEN + 1];

	kcr_id_generate(sid);
	kcr_id_generate(fid);
	return kcr_strdup_printf("%s/%s", sid, fid);
}

/* The requests the fault server saw for bucket. */
static int
count(const char *bucket)
{
	kcr_autofree char *cmd =
		kcr_strdup_printf("curl -sf %s/_count/%s", s3t_fault_server(), bucket);
	FILE *p = popen(cmd, "r");
	int n = -1;

	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

/* err is a store failure (503 naming the store), its message has want */
static int
unavailable(kcr_error_t *e, const char *want)
{
	int ok = *e && (*e)->code == KCR_E_UNAVAILABLE &&
		 strncmp((*e)->msg, "file store s3: ", 15) == 0 && strstr((*e)->msg, want);

	if (!ok)
		fprintf(stderr, "# expected UNAVAILABLE with '%s', got %s: %s\n", want,
			*e ? kcr_errc_name((*e)->code) : "nothing", *e ? (*e)->msg : "");
	kcr_error_release(e);
	return ok ? 0 : -1;
}

#define FAULT_OR_SKIP()                                                                            \
	const char *ep = s3t_fault_server();                                                       \
	if (ep == NULL)                                                                            \
	return 77

/* ---- the fault server ------------------------------------------------------ */

static int
test_500_then_ok(void)
{
	FAULT_OR_SKIP();
	struct kcr_stores st;
	kcr_autofree char *key = new_key(), *data = NULL;
	kcr_error_t e = NULL;
	size_t len;

	TAP_ASSERT(open_stores(&st, ep, "flaky-1", "2", &e) == 0); /* HEAD: 500, then 200 */
	TAP_ASSERT(kcr_store_file_put(&st, key, "hello", 5, &e) == 0);
	TAP_ASSERT(kcr_store_file_get(&st, key, 100, &data, &len, &e) == 0);
	TAP_ASSERT(len == 5 && memcmp(data, "hello", 5) == 0);
	TAP_ASSERT(count("flaky-1") == 6); /* each of the three twice */
	kcr_stores_close(&st);
	/* no retries: the 500 is the answer (a HEAD's has no body) */
	TAP_ASSERT(open_stores(&st, ep, "flaky-2", "0", &e) < 0);
	return unavailable(&e, "HEAD (bucket): HTTP 500");
}

/* Retries run out: the last answer, in S3's words. */
static int
test_500_always(void)
{
	FAULT_OR_SKIP();
	struct kcr_stores st;
	kcr_autofree char *key = new_key();
	kcr_error_t e = NULL;

	TAP_ASSERT(open_stores(&st, ep, "broken-1", "2", &e) == 0);
	TAP_ASSERT(kcr_store_file_put(&st, key, "x", 1, &e) < 0);
	TAP_ASSERT(count("broken-1") == 4); /* the HEAD, and three tries */
	kcr_stores_close(&st);
	return unavailable(&e, ": HTTP 500 InternalError: We encountered an internal error");
}

static int
test_slowdown(void)
{
	FAULT_OR_SKIP();
	struct kcr_stores st;
	kcr_autofree char *key = new_key();
	kcr_error_t e = NULL;

	TAP_ASSERT(open_stores(&st, ep, "slowdown-1", "3", &e) == 0);
	TAP_ASSERT(kcr_store_file_put(&st, key, "x", 1, &e) == 0);
	TAP_ASSERT(count("slowdown-1") == 6);
	kcr_stores_close(&st);
	return 0;
}

static int
test_403(void)
{
	FAULT_OR_SKIP();
	struct kcr_stores st;
	kcr_error_t e = NULL;

	TAP_ASSERT(open_stores(&st, ep, "denied-1", "3", &e) < 0);
	TAP_ASSERT(count("denied-1") == 1); /* a 403 is not retried */
	return unavailable(&e, "access denied to bucket 'denied-1' (HTTP 403)");
}

static int
test_404_bucket(void)
{
	FAULT_OR_SKIP();
	struct kcr_stores st;
	kcr_error_t e = NULL;

	TAP_ASSERT(open_stores(&st, ep, "nobucket-1", "3", &e) < 0);
	TAP_ASSERT(unavailable(&e, "bucket 'nobucket-1' does not exist") == 0);
	/* create_bucket: the PUT's NoSuchBucket is told as such */
	{
		struct kcr_config *cfg = config(ep, "nobucket-2", "0");

		TAP_ASSERT(kcr_config_set(cfg, "store.s3.create_bucket", "true", KCR_SRC_FLAG,
					  NULL) == 0);
		TAP_ASSERT(open_cfg(&st, cfg, &e) < 0);
	}
	return unavailable(&e,
			   "cannot create bucket 'nobucket-2': bucket 'nobucket-2' does not "
			   "exist (HTTP 404 NoSuchBucket: The specified bucket does not exist)");
}

static int
test_slow(void)
{
	FAULT_OR_SKIP();
	struct kcr_stores st;
	kcr_autofree char *key = new_key(), *data = NULL;
	kcr_error_t e = NULL;
	size_t len;
	double t0;

	timeout_ms = "1000"; /* the fault server answers after 3 s */
	TAP_ASSERT(open_stores(&st, ep, "slow-1", "1", &e) == 0);
	timeout_ms = "10000";
	TAP_ASSERT(kcr_store_file_put(&st, key, "x", 1, &e) == 0);
	t0 = kcr_wall_time();
	TAP_ASSERT(kcr_store_file_get(&st, key, 100, &data, &len, &e) < 0);
	TAP_ASSERT(kcr_wall_time() - t0 < 6); /* two tries of 1 s, not two of 3 */
	kcr_stores_close(&st);
	return unavailable(&e, "Timeout was reached (after 2 tries)");
}

/* A PUT cut off mid-body is a failure, and leaves no object. */
static int
test_drop_put(void)
{
	FAULT_OR_SKIP();
	struct kcr_stores st;
	kcr_autofree char *key = new_key(), *data = NULL, *big = kcr_xzalloc(1 << 20);
	kcr_autoclose int fd = -1;
	kcr_error_t e = NULL;
	char tmpl[] = "/tmp/kcr-test-s3-spool.XXXXXX";
	size_t len;

	TAP_ASSERT(open_stores(&st, ep, "dropput-1", "1", &e) == 0);
	TAP_ASSERT(kcr_store_file_put(&st, key, big, 1 << 20, &e) < 0);
	TAP_ASSERT(unavailable(&e, "PUT") == 0);
	fd = mkstemp(tmpl);
	unlink(tmpl);
	TAP_ASSERT(fd >= 0 && kcr_write_all(fd, big, 1 << 20) == 0);
	TAP_ASSERT(kcr_store_file_put_fd(&st, key, fd, 1 << 20, &e) < 0);
	TAP_ASSERT(unavailable(&e, "PUT") == 0);
	TAP_ASSERT(kcr_store_file_get(&st, key, 2 << 20, &data, &len, &e) < 0 &&
		   e->code == KCR_E_NOTFOUND);
	kcr_error_release(&e);
	kcr_stores_close(&st);
	return 0;
}

/* A GET cut off mid-body is a failure, never a short file. */
static int
test_drop_get(void)
{
	FAULT_OR_SKIP();
	struct kcr_stores st;
	kcr_autofree char *key = new_key(), *data = NULL, *big = kcr_xzalloc(1 << 20);
	kcr_autoclose int fd = -1;
	kcr_error_t e = NULL;
	char tmpl[] = "/tmp/kcr-test-s3-spool.XXXXXX";
	size_t len = 0;
	uint64_t n = 0;

	TAP_ASSERT(open_stores(&st, ep, "dropget-1", "1", &e) == 0);
	TAP_ASSERT(kcr_store_file_put(&st, key, big, 1 << 20, &e) == 0);
	TAP_ASSERT(kcr_store_file_get(&st, key, 2 << 20, &data, &len, &e) < 0 && data == NULL);
	TAP_ASSERT(unavailable(&e, "GET") == 0);
	fd = mkstemp(tmpl);
	unlink(tmpl);
	TAP_ASSERT(kcr_store_file_get_fd(&st, key, 2 << 20, fd, &n, &e) < 0);
	TAP_ASSERT(unavailable(&e, "GET") == 0);
	kcr_stores_close(&st);
	return 0;
}

/* What curl sends is what was signed: a server that checks signatures
 * with botocore takes every request, with a prefix that needs encoding,
 * a session token, a region of its own, and a multipart upload. */
static int
test_signature_verified(void)
{
	FAULT_OR_SKIP();
	struct kcr_config *cfg = config(ep, "verify-1", "0");
	struct kcr_stores st;
	kcr_autofree char *key = new_key(), *data = NULL, *big = kcr_xmalloc(6 << 20);
	kcr_error_t e = NULL;
	size_t len;

	for (size_t i = 0; i < 6 << 20; i++)
		big[i] = (char)(i * 7);
	TAP_ASSERT(kcr_config_set(cfg, "store.s3.prefix", "a b/\xc3\xa9+!*'()=&$/", KCR_SRC_FLAG,
				  NULL) == 0);
	TAP_ASSERT(kcr_config_set(cfg, "store.s3.session_token", "tok/en+=", KCR_SRC_FLAG, NULL) ==
		   0);
	TAP_ASSERT(kcr_config_set(cfg, "store.s3.region", "eu-west-3", KCR_SRC_FLAG, NULL) == 0);
	if (open_cfg(&st, cfg, &e) < 0)
		TAP_FAIL("open: %s", e->msg);
	if (kcr_store_file_put(&st, key, "signed", 6, &e) < 0 ||
	    kcr_store_file_get(&st, key, 100, &data, &len, &e) < 0 ||
	    kcr_store_file_put(&st, key, big, 6 << 20, &e) < 0 || /* in parts */
	    kcr_store_file_del(&st, key, &e) < 0) {
		kcr_stores_close(&st);
		TAP_FAIL("%s", e->msg);
	}
	kcr_stores_close(&st);
	TAP_ASSERT(len == 6 && memcmp(data, "signed", 6) == 0);
	/* and a wrong secret is refused: the check does check */
	cfg = config(ep, "verify-2", "0");
	TAP_ASSERT(kcr_config_set(cfg, "store.s3.secret_key", "wrong", KCR_SRC_FLAG, NULL) == 0);
	TAP_ASSERT(open_cfg(&st, cfg, &e) < 0);
	return unavailable(&e, "access denied to bucket 'verify-2' (HTTP 403)");
}

/* store.s3.path_style false: the bucket in the host name (curl takes
 * <bucket>.localhost for the loopback) */
static int
test_virtual_hosted(void)
{
	FAULT_OR_SKIP();
	kcr_autofree char *vhost = kcr_strdup_printf("http://localhost:%s", strrchr(ep, ':') + 1);
	struct kcr_config *cfg = config(vhost, "verify-vhost", "0");
	struct kcr_stores st;
	kcr_autofree char *key = new_key(), *data = NULL;
	kcr_error_t e = NULL;
	size_t len;

	TAP_ASSERT(kcr_config_set(cfg, "store.s3.path_style", "false", KCR_SRC_FLAG, NULL) == 0);
	if (open_cfg(&st, cfg, &e) < 0)
		TAP_FAIL("open: %s", e->msg);
	if (kcr_store_file_put(&st, key, "vhost", 5, &e) < 0 ||
	    kcr_store_file_get(&st, key, 100, &data, &len, &e) < 0) {
		kcr_stores_close(&st);
		TAP_FAIL("%s", e->msg);
	}
	kcr_stores_close(&st);
	TAP_ASSERT(len == 5 && memcmp(data, "vhost", 5) == 0);
	TAP_ASSERT(count("verify-vhost") == 3);
	return 0;
}

/* A session's files over several pages of ListObjectsV2 (the fault
 * server gives two keys a page), with a prefix that needs encoding. */
static int
test_del_session_pages(void)
{
	FAULT_OR_SKIP();
	struct kcr_config *cfg = config(ep, "verify-list", "0");
	struct kcr_stores st;
	char sid[KCR_ID_LEN + 1], other[KCR_ID_LEN + 1], fid[KCR_ID_LEN + 1];
	kcr_autofree char *kept = NULL, *data = NULL;
	kcr_error_t e = NULL;
	size_t len;

	TAP_ASSERT(kcr_config_set(cfg, "store.s3.prefix", "p q&/", KCR_SRC_FLAG, NULL) == 0);
	if (open_cfg(&st, cfg, &e) < 0)
		TAP_FAIL("open: %s", e->msg);
	kcr_id_generate(sid);
	kcr_id_generate(other);
	for (int i = 0; i < 6; i++) {
		kcr_autofree char *key = NULL;

		kcr_id_generate(fid);
		key = kcr_strdup_printf("%s/%s", i < 5 ? sid : other, fid);
		TAP_ASSERT(kcr_store_file_put(&st, key, "x", 1, &e) == 0);
	}
	kept = kcr_strdup_printf("%s/%s", other, fid);
	TAP_ASSERT(kcr_store_file_del_session(&st, sid, &e) == 0);
	TAP_ASSERT(count("verify-list") == 1 + 6 + 3 + 5); /* HEAD, puts, pages, deletes */
	TAP_ASSERT(kcr_store_file_get(&st, kept, 10, &data, &len, &e) == 0 && len == 1);
	kcr_stores_close(&st);
	return 0;
}

/* ---- s3rver --------------------------------------------------------------------- */

/* s3rver gone: every op fails as the store's failure, never as a missing
 * file; back on its port, the same handle works again. */
static int
test_server_killed(void)
{
	const char *ep = s3t_s3rver();
	struct kcr_stores st;
	kcr_autofree char *key = NULL, *data = NULL;
	kcr_error_t e = NULL;
	size_t len;

	if (ep == NULL)
		return 77;
	key = new_key();
	TAP_ASSERT(open_stores(&st, ep, NULL, "1", &e) == 0);
	TAP_ASSERT(kcr_store_file_put(&st, key, "kept", 4, &e) == 0);
	s3t_s3rver_stop();
	TAP_ASSERT(kcr_store_ping_files(&st, &e) < 0);
	TAP_ASSERT(unavailable(&e, "Couldn't connect") == 0);
	TAP_ASSERT(kcr_store_file_get(&st, key, 100, &data, &len, &e) < 0);
	TAP_ASSERT(unavailable(&e, "GET") == 0);
	TAP_ASSERT(kcr_store_file_put(&st, key, "x", 1, &e) < 0);
	TAP_ASSERT(unavailable(&e, "PUT") == 0);
	TAP_ASSERT(kcr_store_file_del(&st, key, &e) < 0);
	TAP_ASSERT(unavailable(&e, "DELETE") == 0);
	TAP_ASSERT(s3t_s3rver_restart() == 0);
	TAP_ASSERT(kcr_store_ping_files(&st, &e) == 0);
	TAP_ASSERT(kcr_store_file_get(&st, key, 100, &data, &len, &e) == 0);
	TAP_ASSERT(len == 4 && memcmp(data, "kept", 4) == 0);
	kcr_stores_close(&st);
	return 0;
}

struct worker {
	struct kcr_stores *st;
	int id;
	bool failed;
};

static void *
work(void *p)
{
	struct worker *w = p;

	for (int i = 0; i < N_FILES && !w->failed; i++) {
		kcr_autofree char *key = new_key(), *data = NULL;
		char body[64];
		size_t len;
		kcr_error_t e = NULL;
		int n = snprintf(body, sizeof(body), "thread %d file %d", w->id, i);

		if (kcr_store_file_put(w->st, key, body, (size_t)n, &e) < 0 ||
		    kcr_store_file_get(w->st, key, 100, &data, &len, &e) < 0 ||
		    kcr_store_file_del(w->st, key, &e) < 0 || len != (size_t)n ||
		    memcmp(data, body, len) != 0) {
			fprintf(stderr, "# thread %d: %s\n", w->id, e ? e->msg : "wrong bytes");
			kcr_error_free(e);
			w->failed = true;
		}
	}
	return NULL;
}

static int
test_threads(void)
{
	const char *ep = s3t_s3rver();
	struct kcr_stores st;
	struct worker w[N_THREADS];
	pthread_t th[N_THREADS];
	kcr_error_t e = NULL;

	if (ep == NULL)
		return 77;
	TAP_ASSERT(open_stores(&st, ep, NULL, "3", &e) == 0);
	for (int i = 0; i < N_THREADS; i++) {
		w[i] = (struct worker){ &st, i, false };
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(th[i], NULL);
	kcr_stores_close(&st);
	for (int i = 0; i < N_THREADS; i++)
		TAP_ASSERT(!w[i].failed);
	return 0;
}

static long
max_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* put_fd and get_fd stream: 48 MiB up (in parts) and down again leave
 * the process's peak memory nearly where it was. */
static int
test_streaming_memory(void)
{
	const char *ep = s3t_s3rver();
	const size_t n = 48 << 20;
	struct kcr_stores st;
	kcr_autofree char *key = NULL, *chunk = kcr_xmalloc(1 << 16);
	kcr_autoclose int in = -1, out = -1;
	char t1[] = "/tmp/kcr-test-s3-in.XXXXXX", t2[] = "/tmp/kcr-test-s3-out.XXXXXX";
	kcr_error_t e = NULL;
	uint64_t len = 0;
	long before;

	if (ep == NULL)
		return 77;
	key = new_key();
	in = mkstemp(t1);
	out = mkstemp(t2);
	unlink(t1);
	unlink(t2);
	TAP_ASSERT(in >= 0 && out >= 0);
	for (size_t i = 0; i < n; i += 1 << 16) {
		memset(chunk, (int)(i >> 16), 1 << 16);
		TAP_ASSERT(kcr_write_all(in, chunk, 1 << 16) == 0);
	}
	TAP_ASSERT(open_stores(&st, ep, NULL, "1", &e) == 0);
	before = max_rss_kib();
	TAP_ASSERT(kcr_store_file_put_fd(&st, key, in, n, &e) == 0);
	TAP_ASSERT(kcr_store_file_get_fd(&st, key, n, out, &len, &e) == 0);
	fprintf(stderr, "# peak RSS %ld KiB before, %ld KiB after\n", before, max_rss_kib());
	TAP_ASSERT(max_rss_kib() - before < 16 * 1024);
	TAP_ASSERT(len == n);
	TAP_ASSERT(pread(out, chunk, 1 << 16, (off_t)(n - (1 << 16))) == 1 << 16);
	TAP_ASSERT((unsigned char)chunk[0] == (unsigned char)((n - 1) >> 16));
	TAP_ASSERT(kcr_store_file_del(&st, key, &e) == 0);
	kcr_stores_close(&st);
	return 0;
}

/* MINIO_ENDPOINT's form: host:port, the scheme from store.s3.secure. */
static int
test_endpoint_without_scheme(void)
{
	const char *ep = s3t_s3rver();
	struct kcr_stores st;
	kcr_error_t e = NULL;

	if (ep == NULL)
		return 77;
	TAP_ASSERT(open_stores(&st, ep + strlen("http://"), NULL, "0", &e) == 0);
	TAP_ASSERT(kcr_store_ping_files(&st, &e) == 0);
	kcr_stores_close(&st);
	return 0;
}

static int
test_bad_config(void)
{
	struct kcr_stores st;
	kcr_error_t e = NULL;
	struct kcr_config *cfg = config("ftp://127.0.0.1:1", "b", "0");

	TAP_ASSERT(kcr_stores_open_ops(&st, &kcr_session_store_fs_ops, &kcr_file_store_s3_ops, cfg,
				       &e) < 0 &&
		   e->code == KCR_E_INVALID);
	kcr_error_release(&e);
	TAP_ASSERT(kcr_config_set(cfg, "store.s3.endpoint", "http://127.0.0.1:1", KCR_SRC_FLAG,
				  NULL) == 0);
	TAP_ASSERT(kcr_config_set(cfg, "store.s3.secret_key", "", KCR_SRC_FLAG, NULL) == 0);
	TAP_ASSERT(kcr_stores_open_ops(&st, &kcr_session_store_fs_ops, &kcr_file_store_s3_ops, cfg,
				       &e) < 0 &&
		   e->code == KCR_E_INVALID && strstr(e->msg, "secret_key"));
	kcr_error_release(&e);
	kcr_config_free(cfg);
	return 0;
}

int
main(void)
{
	int r;

	strcpy(state_dir, "/tmp/kcr-test-s3.XXXXXX");
	if (mkdtemp(state_dir) == NULL)
		return 99;
	TAP_PLAN(16);
	RUN_TEST(test_500_then_ok);
	RUN_TEST(test_500_always);
	RUN_TEST(test_slowdown);
	RUN_TEST(test_403);
	RUN_TEST(test_404_bucket);
	RUN_TEST(test_slow);
	RUN_TEST(test_drop_put);
	RUN_TEST(test_drop_get);
	RUN_TEST(test_signature_verified);
	RUN_TEST(test_virtual_hosted);
	RUN_TEST(test_del_session_pages);
	RUN_TEST(test_server_killed);
	RUN_TEST(test_threads);
	RUN_TEST(test_streaming_memory);
	RUN_TEST(test_endpoint_without_scheme);
	RUN_TEST(test_bad_config);
	r = TAP_DONE();
	kcr_rm_rf(state_dir);
	return r;
}

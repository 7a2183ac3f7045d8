/* The sandbox provider conformance suite: one table of checks (`checks`)
 * run against every provider in `backends`, each check on a freshly
 * opened provider, through the kcr_sandbox_*() wrappers callers use, so
 * every provider is held to what sandbox.h documents. A backend's hooks
 * do only what the interface cannot: tell whether a destroyed sandbox is
 * gone for good, leave one behind as a kcr that died would, and make the
 * provider learn of changes late.
 *
 * local needs root (skipped otherwise); kubernetes runs on the API
 * server simulator (tests/k8s/kube-sim.py, started once for the run;
 * skipped when it is not there), its runners reached at podIP:8080
 * (direct) and through the API server's pod proxy (proxy). */
#include <config.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/exec.h"
#include "base/files.h"
#include "base/lang.h"
#include "base/settings.h"
#include "base/util.h"
#include "sandbox/cgroup.h"
#include "sandbox/kubernetes.h"
#include "sandbox/runner_client.h"
#include "sandbox/sandbox.h"
#include "k8s_sim.h"
#include "tap.h"
#include "tap_err.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Generous: the checks wait for events, never for a fixed time, and a
 * loaded machine may be slow to start an interpreter. */
#define CREATE_MS  60000
#define GONE_MS    20000
#define LISTED_MS  20000
#define TIMEOUT_MS 3000 /* the program that runs past its time limit */
#define PODS       "/api/v1/namespaces/kcr/pods"

struct backend {
	const char *name;
	/* Points cfg at the provider; 77: not available here (the checks
	 * skip), -1: broken. */
	int (*setup)(struct kcr_config *cfg);
	/* 0 once the sandbox that had this id and endpoint (NULL: one that
	 * list() gave) is gone for good (waits for it up to GONE_MS), else -1
	 * saying why. */
	int (*gone)(const char *id, const char *endpoint);
	/* Leaves a sandbox behind as a kcr that died would; the id list()
	 * will give it in id. */
	int (*leave_orphan)(const struct kcr_config *cfg, char id[KCR_SANDBOX_REF_MAX]);
	/* Whether replicas share its ready sandboxes (claim() across
	 * providers means something). */
	bool shared;
	/* Makes what the provider learns of its sandboxes' changes late, for
	 * a few seconds (NULL: it learns nothing late). */
	void (*lag)(void);
};

/* The backend and config of the check that runs. */
static const struct backend *cur_backend;
static struct kcr_config *cur_cfg;
/* The last execution's result: released after each check, also a failed
 * one. */
static struct kcr_exec_result res;
/* Why the check that returned 77 skipped (NULL: its backend is not here). */
static const char *skip_why;

/* res's stdout is exactly text */
#define OUT_IS(text)                                                                               \
	do {                                                                                       \
		const char *t_ = (text);                                                           \
		if (res.out_len != strlen(t_) || memcmp(res.out, t_, res.out_len) != 0)            \
			TAP_FAIL("stdout '%.*s', expected '%s' (stderr '%.*s')", (int)res.out_len, \
				 res.out ? res.out : "", t_, (int)res.err_len,                     \
				 res.err ? res.err : "");                                          \
	} while (0)

static void
nap_ms(long ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000 }, NULL);
}

static int
set(struct kcr_config *cfg, const char *key, const char *value)
{
	kcr_error_t err = NULL;

	if (kcr_config_set(cfg, key, value, KCR_SRC_FLAG, &err) == 0)
		return 0;
	fprintf(stderr, "# %s: %s\n", key, err->msg);
	kcr_error_free(err);
	return -1;
}

/* ---- local ------------------------------------------------------------------ */

static char run_dir[64];

#ifndef KCR_TSAN /* see backends[] */
static int
local_setup(struct kcr_config *cfg)
{
	if (geteuid() != 0) {
		skip_why = "the local provider needs root here";
		return 77;
	}
	if (run_dir[0] == '\0') {
		strcpy(run_dir, "/tmp/kcr-test-sandbox.XXXXXX");
		if (mkdtemp(run_dir) == NULL) {
			run_dir[0] = '\0';
			return -1;
		}
	}
	return set(cfg, "sandbox.provider", "local") < 0 || set(cfg, "run_dir", run_dir) < 0 ||
			       set(cfg, "sandbox.runner", test_sim_runner()) < 0
		       ? -1
		       : 0;
}

/* Nothing answers at its endpoint; its socket and cgroups are gone (a
 * warm cell has neither: its host's are the provider's). */
static int
local_gone(const char *id, const char *endpoint)
{
	kcr_autofree char *sock = kcr_strdup_printf("%s/sb-%s.sock", run_dir, id);
	struct kcr_cgroup *cg = NULL;
	kcr_error_t e = NULL;

	if (endpoint && kcr_runner_health(endpoint, &e) == 0)
		TAP_FAIL("%s still answers", endpoint);
	kcr_error_free(e);
	if (endpoint && strchr(endpoint, '#'))
		return 0;
	if (access(sock, F_OK) == 0)
		TAP_FAIL("%s is still there", sock);
	cg = kcr_cgroup_find(id);
	if (cg) {
		kcr_cgroup_destroy(cg, NULL);
		TAP_FAIL("the cgroups of %s are still there", id);
	}
	return 0;
}

/* A child makes a sandbox and is killed, as kcr serve killed with
 * SIGKILL: its runner dies with it, its socket and cgroups stay. */
static int
local_leave_orphan(const struct kcr_config *cfg, char id[KCR_SANDBOX_REF_MAX])
{
	char got[KCR_SANDBOX_REF_MAX] = "";
	int fds[2], st;
	ssize_t n;
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct kcr_sandbox_provider p;
		struct kcr_sandbox_spec spec = { .lang = kcr_lang_find("bash") };
		struct kcr_sandbox *sb = NULL;

		close(fds[0]);
		kcr_limits_from_config(&spec.limits, cfg, spec.lang);
		if (kcr_sandbox_provider_open(&p, cfg, NULL) < 0 ||
		    kcr_sandbox_create(&p, &spec, kcr_now_ms() + CREATE_MS, &sb, NULL) < 0)
			_exit(1);
		(void)!write(fds[1], sb->id, strlen(sb->id));
		close(fds[1]);
		pause();
		_exit(0);
	}
	close(fds[1]);
	n = pid > 0 ? read(fds[0], got, sizeof(got) - 1) : -1;
	close(fds[0]);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	if (n <= 0)
		TAP_FAIL("the child made no sandbox");
	got[n] = '\0';
	snprintf(id, KCR_SANDBOX_REF_MAX, "%s", got);
	return 0;
}
#endif /* KCR_TSAN */

/* ---- kubernetes (on the simulator) --------------------------------------------------- */

static struct test_sim sim = { .srv = { .pid = -1 } };
static int sim_started; /* 0: not yet; 1: running; else 77 or -1 */

static void
sim_at_exit(void)
{
	test_sim_stop(&sim);
}

static int
kube_setup(struct kcr_config *cfg, const char *access)
{
	kcr_autofree char *kubeconfig = NULL;

	if (sim_started == 0) {
		int r = test_sim_start(&sim);

		atexit(sim_at_exit);
		sim_started = r == 0 ? 1 : r;
	}
	if (sim_started != 1) {
		skip_why = "no Kubernetes API simulator";
		return sim_started;
	}
	kubeconfig = test_sim_file(&sim, "kubeconfig");
	/* no sweep adopts an orphan behind a check's back: list() and
	 * adopt() are the check's to call */
	return set(cfg, "sandbox.provider", "kubernetes") < 0 ||
			       set(cfg, "kubernetes.kubeconfig", kubeconfig) < 0 ||
			       set(cfg, "kubernetes.in_cluster", "false") < 0 ||
			       set(cfg, "kubernetes.namespace", "kcr") < 0 ||
			       set(cfg, "kubernetes.runner_access", access) < 0 ||
			       set(cfg, "kubernetes.ready_timeout", "60") < 0 ||
			       set(cfg, "kubernetes.orphan_interval", "3600") < 0
		       ? -1
		       : 0;
}

static int
kube_direct_setup(struct kcr_config *cfg)
{
	return kube_setup(cfg, "direct");
}

static int
kube_proxy_setup(struct kcr_config *cfg)
{
	return kube_setup(cfg, "proxy");
}

/* The pod is gone from the API server (deleted, not only deleting). */
static int
kube_gone(const char *id, const char *endpoint)
{
	kcr_autofree char *path = kcr_strdup_printf(PODS "/%s", id);
	uint64_t until = kcr_now_ms() + GONE_MS;

	(void)endpoint;
	for (;;) {
		kcr_error_t e = NULL;
		cJSON *pod = NULL;

		if (kcr_k8s_get(sim.admin, path, &pod, &e) < 0 && e->code == KCR_E_NOTFOUND) {
			kcr_error_free(e);
			return 0;
		}
		cJSON_Delete(pod);
		kcr_error_free(e);
		if (kcr_now_ms() >= until)
			TAP_FAIL("pod %s is still there after %d ms", id, GONE_MS);
		nap_ms(100);
	}
}

/* Watches stall for 4 s: the provider learns of changes late. It saw the
 * last ones first (a moment), and every watch is in the stall when this
 * returns (it takes one pass of a watch's loop, a bookmark's second).
 * Waits, but no more than that: a check is as strict without them. */
static void
kube_lag(void)
{
	nap_ms(500);
	if (test_sim_control(&sim, "stall-watches", "{\"seconds\":4}") == 0)
		nap_ms(1500);
}

/* A dead process of this host: forked and reaped. It execs at once: a
 * fork of a process with threads (the providers' watches) that exits
 * would leave their memory behind, which valgrind counts as lost. */
static pid_t
dead_pid(void)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return pid;
}

/* A pool pod of a replica that ran on this host as a pid that is gone. */
static int
kube_leave_orphan(const struct kcr_config *cfg, char id[KCR_SANDBOX_REF_MAX])
{
	char host[256] = "", owner[64], name[64];
	struct kcr_k8s_pods *pods;
	struct kcr_k8s_pod_args a = { .role = "pool" };
	kcr_error_t err = NULL;
	cJSON *pod;
	pid_t pid = dead_pid();
	int r;

	if (pid <= 0 || (pods = kcr_k8s_pods_new(cfg, &err)) == NULL)
		TAP_FAIL("%s", err ? err->msg : "fork");
	gethostname(host, sizeof(host) - 1);
	host[KCR_SANDBOX_REF_MAX - 1] = '\0'; /* as the provider cuts its own */
	snprintf(owner, sizeof(owner), "sandbox-test-%ld-dead", (long)pid);
	snprintf(name, sizeof(name), "kcr-py-orphan-%ld-%ld", (long)getpid(), (long)pid);
	a.name = name;
	a.owner = owner;
	a.owner_host = host;
	a.owner_pid = (long)pid;
	pod = kcr_k8s_pod_manifest(pods, kcr_lang_find("py"), &a);
	r = kcr_k8s_create(sim.admin, PODS, pod, NULL, &err);
	cJSON_Delete(pod);
	kcr_k8s_pods_free(pods);
	if (r < 0) {
		fprintf(stderr, "# %s\n", err->msg);
		kcr_error_free(err);
		TAP_FAIL("creating pod %s", name);
	}
	snprintf(id, KCR_SANDBOX_REF_MAX, "%s", name);
	return 0;
}

static const struct backend backends[] = {
#ifndef KCR_TSAN
	/* sandboxes are cloned with CLONE_VM and raw syscalls, which
	 * ThreadSanitizer cannot follow (its runner dies in setup) */
	{ "local", local_setup, local_gone, local_leave_orphan, false, NULL },
#endif
	{ "kubernetes-direct", kube_direct_setup, kube_gone, kube_leave_orphan, true, kube_lag },
	{ "kubernetes-proxy", kube_proxy_setup, kube_gone, kube_leave_orphan, true, kube_lag },
};

/* ---- helpers -------------------------------------------------------------------- */

static struct kcr_sandbox_spec
spec_for(const char *lang, bool prewarm)
{
	struct kcr_sandbox_spec s = { .lang = kcr_lang_find(lang), .prewarm = prewarm };

	kcr_limits_from_config(&s.limits, cur_cfg, s.lang);
	return s;
}

static int
create(const struct kcr_sandbox_provider *p, const char *lang, bool prewarm,
       struct kcr_sandbox **sb)
{
	struct kcr_sandbox_spec spec = spec_for(lang, prewarm);

	*sb = NULL;
	OK(kcr_sandbox_create(p, &spec, kcr_now_ms() + CREATE_MS, sb, &e_));
	TAP_ASSERT(*sb != NULL && (*sb)->lang == spec.lang && (*sb)->endpoint != NULL);
	return 0;
}

/* Runs code in sb into res; timeout_ms 0: the language's. */
static int
run(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb, const char *code,
    uint32_t timeout_ms)
{
	struct kcr_exec_request req = { .lang = sb->lang,
					.code = (char *)code,
					.code_len = strlen(code) };

	kcr_limits_from_config(&req.limits, cur_cfg, sb->lang);
	if (timeout_ms)
		req.limits.timeout_ms = timeout_ms;
	kcr_exec_result_release(&res);
	OK(kcr_sandbox_exec(p, sb, &req, &res, &e_));
	return 0;
}

static int
destroy(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb)
{
	OK(kcr_sandbox_destroy(p, sb, &e_));
	return 0;
}

/* A new sandbox of lang for body, destroyed after it whatever it says. */
static int
with_sandbox(const struct kcr_sandbox_provider *p, const char *lang, bool prewarm,
	     int (*body)(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb))
{
	struct kcr_sandbox *sb;
	int r;

	if (create(p, lang, prewarm, &sb) < 0)
		return -1;
	r = body(p, sb);
	return destroy(p, sb) < 0 ? -1 : r;
}

/* Destroys a pool sandbox that may not be claimed: claimed first, as a
 * pool does, else destroy() would only free a handle (struct
 * kcr_sandbox_ops, claim). For the paths of a failed check. */
static void
discard(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb)
{
	kcr_sandbox_claim(p, sb, NULL);
	kcr_sandbox_destroy(p, sb, NULL);
}

/* destroy(), then the backend says it is gone */
static int
destroy_gone(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb)
{
	char id[sizeof(sb->id)];
	kcr_autofree char *endpoint = kcr_xstrdup(sb->endpoint);

	memcpy(id, sb->id, sizeof(id));
	if (destroy(p, sb) < 0)
		return -1;
	return cur_backend->gone(id, endpoint);
}

static int
tmp_fd(void)
{
	return open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

/* ---- the checks -------------------------------------------------------------------- */

static int
check_health(const struct kcr_sandbox_provider *p)
{
	OK(kcr_sandbox_health(p, &e_));
	return 0;
}

static int
check_available(const struct kcr_sandbox_provider *p)
{
	OK(kcr_sandbox_available(p, kcr_lang_find("py"), &e_));
	OK(kcr_sandbox_available(p, kcr_lang_find("bash"), &e_));
	return 0;
}

static int
exec_stdout(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb)
{
	if (run(p, sb, "import sys\nprint('hello', 6 * 7)\nprint('to stderr', file=sys.stderr)",
		0) < 0)
		return -1;
	OUT_IS("hello 42\n");
	TAP_ASSERT(res.err && memmem(res.err, res.err_len, "to stderr", 9) != NULL);
	TAP_ASSERT(res.exit_code == 0 && res.signal == 0 && !res.timed_out);
	return 0;
}

static int
check_exec(const struct kcr_sandbox_provider *p)
{
	return with_sandbox(p, "py", false, exec_stdout);
}

static int
exec_exit_code(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb)
{
	if (run(p, sb, "echo before\nexit 3", 0) < 0)
		return -1;
	OUT_IS("before\n");
	if (res.exit_code != 3 || res.signal != 0 || res.timed_out)
		TAP_FAIL("exit code %d, signal %d, timed_out %d (stderr '%.*s')", res.exit_code,
			 res.signal, res.timed_out, (int)res.err_len, res.err ? res.err : "");
	return 0;
}

static int
check_exec_exit_code(const struct kcr_sandbox_provider *p)
{
	return with_sandbox(p, "bash", false, exec_exit_code);
}

/* Many sandboxes to come (a server): create() and exec() behave the same
 * after prepare_many(), called twice as a server with a pool does (local:
 * the runners are clones of one template). */
static int
check_prepare_many(const struct kcr_sandbox_provider *p)
{
	kcr_sandbox_prepare_many(p);
	kcr_sandbox_prepare_many(p);
	for (int i = 0; i < 2; i++)
		if (check_exec(p) < 0 || check_exec_exit_code(p) < 0)
			return -1;
	return 0;
}

static int
exec_timeout(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb)
{
	if (run(p, sb, "import time\ntime.sleep(120)\nprint('woke up')", TIMEOUT_MS) < 0)
		return -1;
	if (!res.timed_out || res.exit_code != 124)
		TAP_FAIL("timed_out %d, exit code %d", res.timed_out, res.exit_code);
	TAP_ASSERT(res.out_len == 0);
	return 0;
}

static int
check_exec_timeout(const struct kcr_sandbox_provider *p)
{
	return with_sandbox(p, "py", false, exec_timeout);
}

static const char input[] = "kcr\0conformance\n\xff";

static int
put_then_read(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb)
{
	OK(kcr_sandbox_put_file(p, sb, "in.bin", input, sizeof(input) - 1, &e_));
	if (run(p, sb, "d = open('/mnt/data/in.bin', 'rb').read()\nprint(len(d), d.hex())", 0) < 0)
		return -1;
	OUT_IS("17 6b637200636f6e666f726d616e63650aff\n");
	TAP_ASSERT(res.exit_code == 0);
	return 0;
}

static int
check_put_file(const struct kcr_sandbox_provider *p)
{
	return with_sandbox(p, "py", false, put_then_read);
}

/* A file's name is one path component, never a way out of /mnt/data
 * nor, through a proxy, to another route of the runner. */
static int
bad_names(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb)
{
	static const char *const bad[] = { "", ".", "..", "../x", "a/b", "/etc/passwd" };
	kcr_autoclose int fd = tmp_fd();
	uint64_t len = 0;

	TAP_ASSERT(fd >= 0);
	OK(kcr_sandbox_put_file(p, sb, "x", "x", 1, &e_));
	for (size_t i = 0; i < KCR_ARRAY_SIZE(bad); i++) {
		FAILS(KCR_E_INVALID, kcr_sandbox_put_file(p, sb, bad[i], "x", 1, &e_));
		FAILS(KCR_E_INVALID, kcr_sandbox_get_file(p, sb, bad[i], 1 << 20, fd, &len, &e_));
	}
	TAP_ASSERT(lseek(fd, 0, SEEK_END) == 0);
	return 0;
}

static int
check_bad_names(const struct kcr_sandbox_provider *p)
{
	return with_sandbox(p, "bash", false, bad_names);
}

#define OUT_SIZE 300000

/* The file out.bin the program writes: byte i is i * 7 % 256. */
static int
same_as_written(int fd, uint64_t len)
{
	kcr_autofree unsigned char *buf = kcr_xmalloc(OUT_SIZE + 1);

	TAP_ASSERT(len == OUT_SIZE);
	TAP_ASSERT(pread(fd, buf, OUT_SIZE + 1, 0) == OUT_SIZE);
	for (size_t i = 0; i < OUT_SIZE; i++)
		if (buf[i] != (unsigned char)(i * 7 % 256))
			TAP_FAIL("byte %zu is %u", i, buf[i]);
	return 0;
}

static int
write_then_get(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb)
{
	kcr_autoclose int fd = tmp_fd(), small = tmp_fd(), none = tmp_fd();
	uint64_t len = 0;

	TAP_ASSERT(fd >= 0 && small >= 0 && none >= 0);
	if (run(p, sb,
		"open('/mnt/data/out.bin', 'wb').write(bytes(i * 7 % 256 for i in range(300000)))",
		0) < 0)
		return -1;
	TAP_ASSERT(res.exit_code == 0);
	OK(kcr_sandbox_get_file(p, sb, "out.bin", 1 << 20, fd, &len, &e_));
	if (same_as_written(fd, len) < 0)
		return -1;
	FAILS(KCR_E_LIMIT, kcr_sandbox_get_file(p, sb, "out.bin", 1000, small, &len, &e_));
	FAILS(KCR_E_NOTFOUND, kcr_sandbox_get_file(p, sb, "missing.bin", 1 << 20, none, &len, &e_));
	return 0;
}

static int
check_get_file(const struct kcr_sandbox_provider *p)
{
	return with_sandbox(p, "py", false, write_then_get);
}

/* A pool's sandbox: alive while ready, claimed once, released, claimed
 * again at once, even when the provider learns of the release late (a
 * claim needs a ready sandbox, not a provider that knows it is), then it
 * runs a program. */
static int
claims(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb)
{
	OK(kcr_sandbox_check(p, sb, &e_));
	OK(kcr_sandbox_claim(p, sb, &e_));
	FAILS(KCR_E_CONFLICT, kcr_sandbox_claim(p, sb, &e_));
	if (cur_backend->lag)
		cur_backend->lag();
	OK(kcr_sandbox_release(p, sb, &e_));
	OK(kcr_sandbox_claim(p, sb, &e_));
	OK(kcr_sandbox_check(p, sb, &e_));
	if (run(p, sb, "print('warm')", 0) < 0)
		return -1;
	OUT_IS("warm\n");
	return 0;
}

static int
check_pool_claim(const struct kcr_sandbox_provider *p)
{
	struct kcr_sandbox *sb;

	if (create(p, "py", true, &sb) < 0)
		return -1;
	if (claims(p, sb) < 0) {
		discard(p, sb);
		return -1;
	}
	return destroy_gone(p, sb);
}

static int
check_destroy(const struct kcr_sandbox_provider *p)
{
	struct kcr_sandbox *sb;

	if (create(p, "bash", false, &sb) < 0)
		return -1;
	OK(kcr_sandbox_check(p, sb, &e_));
	if (destroy_gone(p, sb) < 0)
		return -1;
	OK(kcr_sandbox_destroy(p, NULL, &e_));
	return 0;
}

static int
check_deadline(const struct kcr_sandbox_provider *p)
{
	struct kcr_sandbox_spec cold = spec_for("py", false), warm = spec_for("py", true);
	struct kcr_sandbox *sb = NULL;
	uint64_t t0 = kcr_now_ms();

	FAILS(KCR_E_TIMEOUT, kcr_sandbox_create(p, &cold, kcr_now_ms(), &sb, &e_));
	FAILS(KCR_E_TIMEOUT, kcr_sandbox_create(p, &warm, kcr_now_ms() - 1, &sb, &e_));
	TAP_ASSERT(sb == NULL);
	TAP_ASSERT(kcr_now_ms() - t0 < 1000);
	return 0;
}

/* Whether list() gives id; *owner gets its owner. */
static int
listed(const struct kcr_sandbox_provider *p, const char *id, bool *found, char *owner)
{
	struct kcr_sandbox_ref *refs = NULL;
	size_t n = 0;

	*found = false;
	OK(kcr_sandbox_list(p, &refs, &n, &e_));
	for (size_t i = 0; i < n && !*found; i++) {
		*found = strcmp(refs[i].id, id) == 0;
		if (*found)
			memcpy(owner, refs[i].owner, KCR_SANDBOX_REF_MAX);
	}
	free(refs);
	return 0;
}

static int
orphans(const struct kcr_sandbox_provider *p, const struct kcr_sandbox *live)
{
	struct kcr_sandbox_ref ref = { 0 };
	uint64_t until = kcr_now_ms() + LISTED_MS;
	bool found = false;
	char owner[KCR_SANDBOX_REF_MAX];

	if (cur_backend->leave_orphan(cur_cfg, ref.id) < 0)
		return -1;
	/* a provider may learn of it a moment later (a watch) */
	while (!found) {
		if (listed(p, ref.id, &found, ref.owner) < 0)
			return -1;
		if (!found && kcr_now_ms() >= until)
			TAP_FAIL("%s is not listed", ref.id);
		if (!found)
			nap_ms(100);
	}
	printf("# listed %s, left by %s\n", ref.id, ref.owner);
	TAP_ASSERT(ref.owner[0] != '\0');
	/* a live pool's sandbox is nobody's orphan */
	if (listed(p, live->id, &found, owner) < 0)
		return -1;
	if (found)
		TAP_FAIL("%s, alive, is listed as left by %s", live->id, owner);
	OK(kcr_sandbox_adopt(p, &ref, &e_));
	if (cur_backend->gone(ref.id, NULL) < 0)
		return -1;
	until = kcr_now_ms() + LISTED_MS;
	do {
		if (listed(p, ref.id, &found, ref.owner) < 0)
			return -1;
		if (found && kcr_now_ms() >= until)
			TAP_FAIL("%s is still listed once adopted", ref.id);
		if (found)
			nap_ms(100);
	} while (found);
	OK(kcr_sandbox_adopt(p, &ref, &e_)); /* gone already: no error */
	return 0;
}

static int
check_orphans(const struct kcr_sandbox_provider *p)
{
	struct kcr_sandbox *live;
	int r;

	if (create(p, "py", true, &live) < 0)
		return -1;
	r = orphans(p, live);
	discard(p, live);
	return r;
}

/* q (another replica) takes p's ready sandbox sb for a request: create()
 * hands out a ready pool sandbox of any replica when there is one. */
static int
take_from(const struct kcr_sandbox_provider *q, const struct kcr_sandbox *sb,
	  struct kcr_sandbox **out)
{
	struct kcr_sandbox_ref *refs = NULL;
	size_t n = 0;

	/* list() waits until q has seen the namespace's sandboxes */
	OK(kcr_sandbox_list(q, &refs, &n, &e_));
	free(refs);
	for (int i = 0; i < 5; i++) {
		if (create(q, "py", false, out) < 0)
			return -1;
		if (strcmp((*out)->id, sb->id) == 0)
			return 0;
		printf("# got %s, not %s: again\n", (*out)->id, sb->id);
		if (destroy(q, *out) < 0)
			return -1;
		*out = NULL;
		nap_ms(200);
	}
	TAP_FAIL("the other replica never got %s", sb->id);
}

static int
replicas(const struct kcr_sandbox_provider *p, const struct kcr_sandbox_provider *q,
	 struct kcr_sandbox **mine, struct kcr_sandbox **theirs)
{
	struct kcr_sandbox *sb = *mine;
	uint64_t until = kcr_now_ms() + LISTED_MS;
	char owner[KCR_SANDBOX_REF_MAX];
	bool found;

	if (take_from(q, sb, theirs) < 0)
		return -1;
	FAILS(KCR_E_CONFLICT, kcr_sandbox_claim(p, sb, &e_));
	if (listed(q, sb->id, &found, owner) < 0)
		return -1;
	if (found)
		TAP_FAIL("%s of a live replica is listed as left by %s", sb->id, owner);
	/* p's pool must replace it: check() says so once p knows */
	while (kcr_sandbox_check(p, sb, NULL) == 0) {
		if (kcr_now_ms() >= until)
			TAP_FAIL("%s, the other replica's, still checks for this one", sb->id);
		nap_ms(100);
	}
	/* the loser's handle goes, the winner's sandbox stays */
	*mine = NULL;
	OK(kcr_sandbox_destroy(p, sb, &e_));
	OK(kcr_sandbox_check(q, *theirs, &e_));
	if (run(q, *theirs, "print('taken')", 0) < 0)
		return -1;
	OUT_IS("taken\n");
	return 0;
}

static int
check_replicas(const struct kcr_sandbox_provider *p)
{
	struct kcr_sandbox_provider q;
	struct kcr_sandbox *mine = NULL, *theirs = NULL;
	kcr_error_t e = NULL;
	int r;

	if (create(p, "py", true, &mine) < 0)
		return -1;
	if (kcr_sandbox_provider_open(&q, cur_cfg, &e) < 0) {
		fprintf(stderr, "# second replica: %s\n", e->msg);
		kcr_error_free(e);
		discard(p, mine);
		return -1;
	}
	r = replicas(p, &q, &mine, &theirs);
	if (mine) /* failed before q took it */
		discard(p, mine);
	if (theirs && destroy_gone(&q, theirs) < 0)
		r = -1;
	kcr_sandbox_provider_close(&q);
	return r;
}

/* ---- the table, and running it ----------------------------------------------------- */

static const struct {
	const char *name;
	int (*run)(const struct kcr_sandbox_provider *p);
	bool shared_only; /* for providers whose replicas share sandboxes */
} checks[] = {
	{ "health", check_health },
	{ "available: py, bash", check_available },
	{ "exec: stdout, stderr, exit code 0", check_exec },
	{ "exec: a non-zero exit code", check_exec_exit_code },
	{ "prepare_many, then create and exec as before, twice", check_prepare_many },
	{ "exec: past its time limit, timed_out", check_exec_timeout },
	{ "put_file, then the program reads it", check_put_file },
	{ "get_file: exact, over max LIMIT, missing NOTFOUND", check_get_file },
	{ "put_file, get_file: a name not one path component is INVALID", check_bad_names },
	{ "a pool sandbox: claim, CONFLICT, release, claim", check_pool_claim },
	{ "check a live one; destroyed is gone; destroy(NULL)", check_destroy },
	{ "create past its deadline: TIMEOUT at once", check_deadline },
	{ "list and adopt what a dead kcr left", check_orphans },
	{ "two replicas: one's pool sandbox claimed by the other", check_replicas, true },
};

static bool
applies(const struct backend *b, size_t i)
{
	return !checks[i].shared_only || b->shared;
}

static int
run_check(const struct backend *b, size_t i)
{
	struct kcr_sandbox_provider p;
	kcr_error_t e = NULL;
	uint64_t t0;
	int r;

	cur_backend = b;
	skip_why = NULL;
	cur_cfg = kcr_config_new();
	if ((r = b->setup(cur_cfg)) != 0) {
		kcr_config_free(cur_cfg);
		return r == 77 ? 77 : -1;
	}
	t0 = kcr_now_ms(); /* the check's own time, not a server's start */
	if (kcr_sandbox_provider_open(&p, cur_cfg, &e) < 0) {
		fprintf(stderr, "# open: %s\n", e->msg);
		kcr_error_free(e);
		r = -1;
	} else {
		r = checks[i].run(&p);
		kcr_sandbox_provider_close(&p);
	}
	kcr_exec_result_release(&res);
	kcr_config_free(cur_cfg);
	printf("# %s: %s: %llu ms\n", b->name, checks[i].name,
	       (unsigned long long)(kcr_now_ms() - t0));
	return r;
}

static void
remove_run_dir(void)
{
	if (run_dir[0])
		kcr_rm_rf(run_dir);
}

int
main(void)
{
	unsetenv("KUBECONFIG");
	atexit(remove_run_dir);
	int planned = 0;

	for (size_t b = 0; b < KCR_ARRAY_SIZE(backends); b++)
		for (size_t i = 0; i < KCR_ARRAY_SIZE(checks); i++)
			planned += applies(&backends[b], i);
	TAP_PLAN(planned);
	for (size_t b = 0; b < KCR_ARRAY_SIZE(backends); b++)
		for (size_t i = 0; i < KCR_ARRAY_SIZE(checks); i++) {
			int r;

			if (!applies(&backends[b], i)) {
				/* not a test of this provider: neither a pass nor a skip */
				printf("# %s: %s: not applicable (each kcr sees only its own "
				       "sandboxes)\n",
				       backends[b].name, checks[i].name);
				continue;
			}
			r = run_check(&backends[b], i);
			printf("%s %d - %s: %s%s%s\n", r == 0 || r == 77 ? "ok" : "not ok", ++tap_n,
			       backends[b].name, checks[i].name, r == 77 ? " # SKIP " : "",
			       r != 77    ? ""
			       : skip_why ? skip_why
					  : "not available here");
			fflush(stdout);
			tap_failed += r != 0 && r != 77;
		}
	return TAP_DONE();
}

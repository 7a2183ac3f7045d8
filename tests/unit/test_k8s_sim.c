/* The Kubernetes API client against the API simulator
 * (tests/k8s/kube-sim.py; $KCR_K8S_SIM names another, the default is
 * $KCR_SRCDIR/tests/k8s/kube-sim.py): token and client-certificate
 * authentication over TLS with the simulator's CA, the pod's service
 * account and its token rotating, get, list, create and merge-patch (409
 * on a stale resourceVersion), delete, watches with bookmarks, 410 Gone
 * after /sim/compact, 429 and 500 faults retried, a stalled watch, and
 * the pod proxy to a kcr-runner's /health. Skips when the simulator is
 * not there. test_k8s_client covers what a well-behaved server never
 * does. */
#include <config.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/json.h"
#include "base/util.h"
#include "sandbox/k8s.h"
#include "k8s_sim.h"
#include "tap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CM "/api/v1/namespaces/kcr/configmaps"

static struct test_sim sim = { .srv = { .pid = -1 } };
static int port;
static struct kcr_k8s *admin; /* sim's */

/* ---- the simulator ------------------------------------------------------------ */

static char *
sim_file(const char *name)
{
	return test_sim_file(&sim, name);
}

static struct kcr_k8s *
client_from(const char *kubeconfig)
{
	return test_sim_client(&sim, kubeconfig);
}

/* POST /sim/<what> with body, as the admin. */
static int
control(const char *what, const char *body)
{
	return test_sim_control(&sim, what, body);
}

static void
cleanup(void)
{
	test_sim_stop(&sim);
}

/* Who the API server takes k for (a SelfSubjectReview). */
static char *
whoami(struct kcr_k8s *k)
{
	cJSON *body = cJSON_Parse("{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":"
				  "\"SelfSubjectReview\"}");
	cJSON *r = NULL;
	kcr_error_t err = NULL;
	char *name = NULL;

	if (kcr_k8s_create(k, "/apis/authentication.k8s.io/v1/selfsubjectreviews", body, &r, &err) <
	    0) {
		fprintf(stderr, "# whoami: %s\n", err->msg);
		kcr_error_release(&err);
	} else {
		const cJSON *st = cJSON_GetObjectItem(r, "status");
		const char *u = kcr_json_str(cJSON_GetObjectItem(st, "userInfo"), "username");

		name = u ? kcr_xstrdup(u) : NULL;
	}
	cJSON_Delete(body);
	cJSON_Delete(r);
	return name;
}

#define NEED_SIM()                                                                                 \
	do {                                                                                       \
		if (admin == NULL)                                                                 \
			return 77;                                                                 \
	} while (0)

/* ---- who we are ------------------------------------------------------------------ */

static int
test_token(void)
{
	kcr_autofree char *me = NULL;
	cJSON *r = NULL;
	kcr_error_t err = NULL;

	NEED_SIM();
	TAP_STREQ(kcr_k8s_namespace(admin), "kcr");
	if (kcr_k8s_get(admin, CM, &r, &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_STREQ(kcr_json_str(r, "kind"), "ConfigMapList");
	cJSON_Delete(r);
	me = whoami(admin);
	TAP_STREQ(me, "sim-admin");
	return 0;
}

static int
test_client_cert(void)
{
	kcr_autofree char *me = NULL, *me2 = NULL, *crt = sim_file("pki/admin.crt");
	kcr_autofree char *key = sim_file("pki/admin.key"), *ca = sim_file("pki/ca.crt");
	struct kcr_k8s *k;
	struct kcr_k8s_config c = { 0 };
	kcr_error_t err = NULL;

	NEED_SIM();
	k = client_from("kubeconfig-cert"); /* files, relative to the kubeconfig */
	TAP_ASSERT(k != NULL);
	me = whoami(k);
	kcr_k8s_free(k);
	TAP_STREQ(me, "sim-admin");
	/* the same from memory */
	c.server = kcr_strdup_printf("https://127.0.0.1:%d", port);
	c.namespace = kcr_xstrdup("kcr");
	TAP_ASSERT(kcr_read_file(crt, 1 << 16, &c.cert_pem, &(size_t){ 0 }, NULL) == 0);
	TAP_ASSERT(kcr_read_file(key, 1 << 16, &c.key_pem, &(size_t){ 0 }, NULL) == 0);
	TAP_ASSERT(kcr_read_file(ca, 1 << 16, &c.ca_pem, &(size_t){ 0 }, NULL) == 0);
	k = kcr_k8s_new(&c, &test_sim_opts, &err);
	kcr_k8s_config_release(&c);
	TAP_ASSERT(k != NULL);
	me2 = whoami(k);
	kcr_k8s_free(k);
	TAP_STREQ(me2, "sim-admin");
	return 0;
}

/* Replaces the service account's token in DIR/tokens and in sa/token. */
static int
rotate_sa_token(const char *old, const char *new)
{
	kcr_autofree char *tokens = sim_file("tokens"), *sa = sim_file("sa/token");
	kcr_autofree char *tmp = sim_file("sa/token.tmp");
	kcr_autofree char *text = NULL;
	struct kcr_buf b;
	size_t len;
	char *at;
	int r;

	if (kcr_read_file(tokens, 1 << 16, &text, &len, NULL) < 0 ||
	    (at = strstr(text, old)) == NULL)
		return -1;
	kcr_buf_init(&b);
	kcr_buf_add(&b, text, (size_t)(at - text));
	kcr_buf_adds(&b, new);
	kcr_buf_adds(&b, at + strlen(old));
	r = kcr_write_file(tokens, b.data, b.len, 0600, NULL);
	kcr_buf_release(&b);
	if (r < 0 || kcr_write_file(tmp, new, strlen(new), 0600, NULL) < 0)
		return -1;
	return rename(tmp, sa); /* as the kubelet swaps it */
}

static int
test_service_account(void)
{
	kcr_autofree char *sa = sim_file("sa"), *tokfile = sim_file("sa/token");
	kcr_autofree char *old = NULL, *me = NULL, *me2 = NULL;
	char p[16];
	struct kcr_k8s_config c;
	struct kcr_k8s *k;
	kcr_error_t err = NULL;
	size_t len;

	NEED_SIM();
	snprintf(p, sizeof(p), "%d", port);
	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", p, 1);
	if (kcr_k8s_config_load_in_cluster(&c, sa, &err) < 0)
		TAP_FAIL("%s", err->msg);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	TAP_STREQ(c.namespace, "kcr");
	k = kcr_k8s_new(&c, &test_sim_opts, &err);
	kcr_k8s_config_release(&c);
	TAP_ASSERT(k != NULL);
	me = whoami(k);
	TAP_STREQ(me, "system:serviceaccount:kcr:kcr");
	/* rotated: the old token no longer works, the client reads the new one */
	TAP_ASSERT(kcr_read_file(tokfile, 1024, &old, &len, NULL) == 0);
	TAP_ASSERT(rotate_sa_token(old, "sa-rotated-0123456789abcdef") == 0);
	me2 = whoami(k);
	TAP_STREQ(me2, "system:serviceaccount:kcr:kcr");
	kcr_k8s_free(k);
	return 0;
}

/* ---- objects ------------------------------------------------------------------------ */

static cJSON *
configmap(const char *name, const char *value)
{
	cJSON *o = cJSON_CreateObject(), *md = cJSON_AddObjectToObject(o, "metadata");

	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(o, "kind", "ConfigMap");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "labels"), "kcr.dev/test", "yes");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "data"), "v", value);
	return o;
}

static char *
rv_of(const cJSON *o)
{
	const char *rv = kcr_json_str(cJSON_GetObjectItem(o, "metadata"), "resourceVersion");

	return kcr_xstrdup(rv ? rv : "");
}

static int
patch_with_rv(const char *name, const char *rv, const char *value, kcr_error_t *err)
{
	kcr_autofree char *path = kcr_strdup_printf(CM "/%s", name);
	kcr_autofree char *text = kcr_strdup_printf(
		"{\"metadata\":{\"resourceVersion\":\"%s\",\"labels\":{\"kcr.dev/state\":"
		"\"claimed\"}},\"data\":{\"v\":\"%s\"}}",
		rv, value);
	cJSON *patch = cJSON_Parse(text);
	int r = kcr_k8s_merge_patch(admin, path, patch, NULL, err);

	cJSON_Delete(patch);
	return r;
}

static int
test_crud(void)
{
	cJSON *cm = configmap("crud", "1"), *r = NULL, *bad = cJSON_Parse("{\"metadata\":{}}");
	kcr_autofree char *rv = NULL, *sel = kcr_k8s_query_escape("kcr.dev/test=yes");
	kcr_autofree char *list = kcr_strdup_printf(CM "?labelSelector=%s", sel);
	kcr_error_t err = NULL;

	NEED_SIM();
	if (kcr_k8s_create(admin, CM, cm, &r, &err) < 0)
		TAP_FAIL("%s", err->msg);
	rv = rv_of(r);
	cJSON_Delete(r);
	/* again: AlreadyExists */
	TAP_ASSERT(kcr_k8s_create(admin, CM, cm, NULL, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_CONFLICT && err->sys_errno == 409);
	printf("# %s\n", err->msg);
	kcr_error_release(&err);
	cJSON_Delete(cm);
	TAP_ASSERT(kcr_k8s_create(admin, CM, bad, NULL, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_INVALID);
	kcr_error_release(&err);
	cJSON_Delete(bad);
	if (kcr_k8s_get(admin, list, &r, &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "items")) == 1);
	cJSON_Delete(r);
	/* a claim: the version last seen; a second claim from it conflicts */
	if (patch_with_rv("crud", rv, "2", &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_ASSERT(patch_with_rv("crud", rv, "3", &err) < 0);
	TAP_ASSERT(err->code == KCR_E_CONFLICT && err->sys_errno == 409);
	printf("# %s\n", err->msg);
	kcr_error_release(&err);
	TAP_ASSERT(kcr_k8s_get(admin, CM "/crud", &r, &err) == 0);
	TAP_STREQ(kcr_json_str(cJSON_GetObjectItem(r, "data"), "v"), "2");
	cJSON_Delete(r);
	TAP_ASSERT(kcr_k8s_delete(admin, CM "/crud", 0, "Background", &err) == 0);
	TAP_ASSERT(kcr_k8s_delete(admin, CM "/crud", 0, NULL, &err) == 0); /* gone: fine */
	TAP_ASSERT(kcr_k8s_get(admin, CM "/crud", &r, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_NOTFOUND && strstr(err->msg, "\"crud\" not found"));
	kcr_error_release(&err);
	return 0;
}

/* ---- watches ------------------------------------------------------------------------ */

struct seen {
	char types[512];
	int n, bookmarks;
	const char *stop_on; /* a type */
	int stop_bookmarks;  /* stop after that many */
};

static int
on_event(void *arg, const char *type, const cJSON *obj)
{
	struct seen *s = arg;

	(void)obj;
	if (strcmp(type, "BOOKMARK") == 0) {
		s->bookmarks++;
		return s->stop_bookmarks && s->bookmarks >= s->stop_bookmarks;
	}
	snprintf(s->types + strlen(s->types), sizeof(s->types) - strlen(s->types), "%s%s",
		 s->n++ ? " " : "", type);
	return s->stop_on && strcmp(type, s->stop_on) == 0;
}

struct watcher {
	char rv[128];
	struct seen seen;
	uint64_t idle_ms;
	int result;
	kcr_error_t err;
};

static void *
watch_thread(void *p)
{
	struct watcher *w = p;

	w->result = kcr_k8s_watch(admin, CM, "labelSelector=kcr.dev%2Ftest%3Dyes", w->rv, 20,
				  w->idle_ms, -1, on_event, &w->seen, &w->err);
	return NULL;
}

static char *
list_rv(void)
{
	cJSON *r = NULL;
	char *rv;

	if (kcr_k8s_get(admin, CM, &r, NULL) < 0)
		return kcr_xstrdup("");
	rv = rv_of(r);
	cJSON_Delete(r);
	return rv;
}

static int
test_watch(void)
{
	kcr_autofree char *rv0 = NULL, *rv1 = NULL, *rv_del = NULL;
	struct watcher w = { .idle_ms = 5000, .seen = { .stop_on = "DELETED" } };
	cJSON *cm = configmap("watched", "1"), *r = NULL;
	kcr_error_t err = NULL;
	pthread_t t;

	NEED_SIM();
	rv0 = list_rv();
	strcpy(w.rv, rv0);
	pthread_create(&t, NULL, watch_thread, &w);
	TAP_ASSERT(kcr_k8s_create(admin, CM, cm, &r, &err) == 0);
	cJSON_Delete(cm);
	rv1 = rv_of(r);
	cJSON_Delete(r);
	TAP_ASSERT(patch_with_rv("watched", rv1, "2", &err) == 0);
	TAP_ASSERT(kcr_k8s_delete(admin, CM "/watched", 0, NULL, &err) == 0);
	rv_del = list_rv();
	pthread_join(t, NULL);
	if (w.result != 0)
		TAP_FAIL("watch: %d %s", w.result, w.err ? w.err->msg : "");
	TAP_STREQ(w.seen.types, "ADDED MODIFIED DELETED");
	TAP_ASSERT(atoll(w.rv) > atoll(rv0) && atoll(w.rv) <= atoll(rv_del));
	return 0;
}

/* Nothing changes: bookmarks keep the stream alive (idle 2.5 s, a
 * bookmark a second) and move the version on. */
static int
test_bookmarks(void)
{
	kcr_autofree char *rv0 = NULL;
	struct watcher w = { .idle_ms = 2500, .seen = { .stop_bookmarks = 3 } };
	cJSON *cm = configmap("elsewhere", "1");
	kcr_error_t err = NULL;

	NEED_SIM();
	rv0 = list_rv();
	strcpy(w.rv, rv0);
	/* a change the selector does not see moves the version too */
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cm, "metadata"), "labels");
	TAP_ASSERT(kcr_k8s_create(admin, CM, cm, NULL, &err) == 0);
	cJSON_Delete(cm);
	watch_thread(&w);
	if (w.result != 0)
		TAP_FAIL("watch: %d %s", w.result, w.err ? w.err->msg : "");
	TAP_ASSERT(w.seen.bookmarks == 3 && w.seen.n == 0);
	TAP_ASSERT(atoll(w.rv) > atoll(rv0));
	TAP_ASSERT(kcr_k8s_delete(admin, CM "/elsewhere", 0, NULL, &err) == 0);
	return 0;
}

/* After a compaction an old version is gone: 1, list and watch again. */
static int
test_gone(void)
{
	kcr_autofree char *rv0 = NULL, *rv1 = NULL;
	struct watcher w = { .idle_ms = 5000, .seen = { .stop_bookmarks = 1 } };
	cJSON *cm = configmap("compacted", "1");
	kcr_error_t err = NULL;

	NEED_SIM();
	rv0 = list_rv();
	TAP_ASSERT(kcr_k8s_create(admin, CM, cm, NULL, &err) == 0);
	cJSON_Delete(cm);
	TAP_ASSERT(kcr_k8s_delete(admin, CM "/compacted", 0, NULL, &err) == 0);
	TAP_ASSERT(control("compact", "{}") == 0);
	strcpy(w.rv, rv0);
	watch_thread(&w);
	TAP_ASSERT(w.result == 1 && w.err == NULL);
	rv1 = list_rv();
	strcpy(w.rv, rv1);
	watch_thread(&w);
	if (w.result != 0)
		TAP_FAIL("watch: %d %s", w.result, w.err ? w.err->msg : "");
	return 0;
}

/* ---- faults ------------------------------------------------------------------------- */

static int
test_faults(void)
{
	cJSON *r = NULL, *cm = configmap("throttled", "1");
	kcr_error_t err = NULL;
	/* its own connections: the simulator leaves a faulted request's body
	 * unread on the connection */
	struct kcr_k8s *k = client_from("kubeconfig");
	uint64_t t0;

	NEED_SIM();
	TAP_ASSERT(k != NULL);
	/* a GET: 500 twice, then fine */
	TAP_ASSERT(control("fault", "{\"path_prefix\":\"" CM "\",\"method\":\"GET\","
				    "\"status\":500,\"count\":2}") == 0);
	if (kcr_k8s_get(k, CM, &r, &err) < 0)
		TAP_FAIL("%s", err->msg);
	cJSON_Delete(r);
	/* a create: 429 with Retry-After 1 is tried again ... */
	TAP_ASSERT(control("fault", "{\"path_prefix\":\"" CM "\",\"method\":\"POST\","
				    "\"status\":429,\"count\":1,\"retry_after\":1}") == 0);
	t0 = kcr_now_ms();
	if (kcr_k8s_create(k, CM, cm, NULL, &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_ASSERT(kcr_now_ms() - t0 >= 950);
	kcr_k8s_free(k);
	k = client_from("kubeconfig");
	/* ... a 500 is not (the server may have done it) */
	TAP_ASSERT(control("fault", "{\"path_prefix\":\"" CM "\",\"method\":\"POST\","
				    "\"status\":500,\"count\":1}") == 0);
	TAP_ASSERT(kcr_k8s_create(k, CM, cm, NULL, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_UNAVAILABLE && err->sys_errno == 500);
	TAP_ASSERT(strstr(err->msg, "injected by the simulator") != NULL);
	kcr_error_release(&err);
	kcr_k8s_free(k);
	cJSON_Delete(cm);
	TAP_ASSERT(kcr_k8s_delete(admin, CM "/throttled", 0, NULL, &err) == 0);
	return 0;
}

static int
test_faults_exhausted(void)
{
	struct kcr_k8s_opts once = test_sim_opts;
	kcr_autofree char *path = sim_file("kubeconfig");
	struct kcr_k8s_config c;
	struct kcr_k8s *k;
	kcr_error_t err = NULL;

	NEED_SIM();
	once.retries = 1;
	TAP_ASSERT(kcr_k8s_config_load_kubeconfig(&c, path, NULL, &err) == 0);
	k = kcr_k8s_new(&c, &once, &err);
	kcr_k8s_config_release(&c);
	TAP_ASSERT(control("fault", "{\"path_prefix\":\"" CM "\",\"method\":\"GET\","
				    "\"status\":503,\"count\":2}") == 0);
	TAP_ASSERT(kcr_k8s_get(k, CM, NULL, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_UNAVAILABLE && err->sys_errno == 503);
	printf("# %s\n", err->msg);
	kcr_error_release(&err);
	TAP_ASSERT(kcr_k8s_get(k, CM, NULL, &err) == 0);
	kcr_k8s_free(k);
	return 0;
}

/* A stream that goes quiet, bookmarks and all. */
static int
test_stalled_watch(void)
{
	kcr_autofree char *rv0 = NULL;
	struct watcher w = { .idle_ms = 1500 };
	uint64_t t0;

	NEED_SIM();
	rv0 = list_rv();
	strcpy(w.rv, rv0);
	TAP_ASSERT(control("stall-watches", "{\"seconds\":4}") == 0);
	t0 = kcr_now_ms();
	watch_thread(&w);
	TAP_ASSERT(w.result < 0 && w.err && w.err->code == KCR_E_TIMEOUT);
	TAP_ASSERT(kcr_now_ms() - t0 < 3500);
	kcr_error_release(&w.err);
	return 0;
}

/* ---- the pod proxy -------------------------------------------------------------------- */

#define POD_JSON                                                                                   \
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"proxied\"},"             \
	"\"spec\":{\"automountServiceAccountToken\":false,\"enableServiceLinks\":false,"           \
	"\"containers\":[{\"name\":\"runner\",\"image\":\"kcr/py:test\",\"command\":"              \
	"[\"kcr-runner\"],\"args\":[\"--port\",\"8080\",\"--data-dir\",\"/mnt/data\","             \
	"\"--src-dir\",\"/tmp/kcr-src\"],\"readinessProbe\":{\"httpGet\":{\"path\":"               \
	"\"/ready\",\"port\":8080},\"periodSeconds\":1},\"volumeMounts\":[{\"name\":\"data\","     \
	"\"mountPath\":\"/mnt/data\"},{\"name\":\"tmp\",\"mountPath\":\"/tmp\"}],"                 \
	"\"securityContext\":{\"runAsUser\":65532,\"runAsGroup\":65532,\"runAsNonRoot\":"          \
	"true,\"allowPrivilegeEscalation\":false,\"capabilities\":{\"drop\":[\"ALL\"]}}}],"        \
	"\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}},{\"name\":\"tmp\",\"emptyDir\":{}}]}}"

static bool
pod_ready(const cJSON *pod)
{
	const cJSON *c;

	cJSON_ArrayForEach (c,
			    cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "status"), "conditions")) {
		const char *t = kcr_json_str(c, "type"), *s = kcr_json_str(c, "status");

		if (t && s && strcmp(t, "Ready") == 0 && strcmp(s, "True") == 0)
			return true;
	}
	return false;
}

static int
test_proxy(void)
{
	const char *runner = test_sim_runner();
	cJSON *pod = cJSON_Parse(POD_JSON), *r = NULL;
	kcr_error_t err = NULL;
	char *reply = NULL;
	long http = 0;
	bool ready = false;

	NEED_SIM();
	if (access(runner, X_OK) != 0) {
		cJSON_Delete(pod);
		return 77;
	}
	if (kcr_k8s_create(admin, "/api/v1/namespaces/kcr/pods", pod, NULL, &err) < 0)
		TAP_FAIL("%s", err->msg);
	cJSON_Delete(pod);
	for (int i = 0; i < 300 && !ready; i++) {
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
		if (kcr_k8s_get(admin, "/api/v1/namespaces/kcr/pods/proxied", &r, NULL) == 0)
			ready = pod_ready(r);
		cJSON_Delete(r);
		r = NULL;
	}
	TAP_ASSERT(ready);
	if (kcr_k8s_proxy(admin, "proxied", 8080, "GET", "/health", NULL, 0, 5000, 4096, -1, NULL,
			  &reply, &http, &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_ASSERT(http == 200 && strstr(reply, "\"ok\"") != NULL);
	free(reply);
	TAP_ASSERT(kcr_k8s_proxy(admin, "nosuchpod", 8080, "GET", "/health", NULL, 0, 5000, 4096,
				 -1, NULL, &reply, &http, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_NOTFOUND);
	printf("# %s\n", err->msg);
	kcr_error_release(&err);
	TAP_ASSERT(kcr_k8s_delete(admin, "/api/v1/namespaces/kcr/pods/proxied", 0, NULL, &err) ==
		   0);
	return 0;
}

int
main(void)
{
	int r;

	atexit(cleanup);
	unsetenv("KUBECONFIG");
	if (test_sim_start(&sim) == 0) {
		admin = sim.admin;
		port = sim.port;
	}
	TAP_PLAN(11);
	RUN_TEST(test_token);
	RUN_TEST(test_client_cert);
	RUN_TEST(test_service_account);
	RUN_TEST(test_crud);
	RUN_TEST(test_watch);
	RUN_TEST(test_bookmarks);
	RUN_TEST(test_gone);
	RUN_TEST(test_faults);
	RUN_TEST(test_faults_exhausted);
	RUN_TEST(test_proxy);
	RUN_TEST(test_stalled_watch);
	r = TAP_DONE();
	return r;
}

/* `kcr cluster check`'s test pods: one per language, made as the provider
 * makes its pods (kcr_k8s_pod_manifest, role "check"), each in a thread of
 * its own so that the images pull side by side and each pod's timings are
 * its own. Readiness comes from a watch of the one pod (fieldSelector
 * metadata.name), never from polling; then its runner must answer /health,
 * directly or through the pod proxy as the provider would reach it. */
#include <config.h>

#include "sandbox/kubernetes_check-internal.h"
#include "sandbox/runner_client.h"
#include "base/clock.h"
#include "base/ids.h"
#include "base/json.h"
#include "base/util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WATCH_MAX_S   60
#define HEALTH_MS     10000
#define GRACE_EXTRA_S 60

static bool
is_one_of(const char *s, const char *const *list)
{
	for (size_t i = 0; s && list[i]; i++) {
		if (strcmp(s, list[i]) == 0)
			return true;
	}
	return false;
}

static void pod_fail(struct check_pod *p, char *fix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
pod_fail(struct check_pod *p, char *fix, const char *fmt, ...)
{
	va_list ap;

	if (p->why) {
		free(fix);
		return;
	}
	p->failed_ms = p->t0 ? kcr_now_ms() - p->t0 : 0;
	va_start(ap, fmt);
	if (vasprintf(&p->why, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	p->fix = fix;
}

static uint64_t
since(const struct check_pod *p)
{
	uint64_t t = kcr_now_ms() - p->t0;

	return t ? t : 1;
}

static bool
container_started(const cJSON *pod)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(pod, "status");
	const cJSON *cs;

	cJSON_ArrayForEach (cs, cJSON_GetObjectItemCaseSensitive(st, "containerStatuses")) {
		const cJSON *state = cJSON_GetObjectItemCaseSensitive(cs, "state");

		if (cJSON_GetObjectItemCaseSensitive(state, "running") ||
		    cJSON_GetObjectItemCaseSensitive(state, "terminated"))
			return true;
	}
	return false;
}

/* Why the scheduler has not placed it, or NULL. */
static const char *
unschedulable(const cJSON *pod)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(pod, "status");
	const cJSON *c;

	cJSON_ArrayForEach (c, cJSON_GetObjectItemCaseSensitive(st, "conditions")) {
		const char *type = kcr_json_str(c, "type"), *status = kcr_json_str(c, "status");

		if (type && strcmp(type, "PodScheduled") == 0 && status &&
		    strcmp(status, "False") == 0)
			return kcr_json_str(c, "message") ? kcr_json_str(c, "message")
							  : kcr_json_str(c, "reason");
	}
	return NULL;
}

static void
image_failed(struct check_pod *p, const char *reason, const char *msg)
{
	const char *image = kcr_k8s_pods_image(p->r->pods, p->lang);
	char *fix = kcr_strdup_printf(
		"build and push it (kcr images build --push) to the registry "
		"kubernetes.image_registry names, or set kubernetes.image_%s to an image the nodes "
		"can pull; a private registry needs kubernetes.image_pull_secrets",
		p->lang->id);

	pod_fail(p, fix, "image %s cannot be pulled (%s%s%s)", image, reason, msg ? ": " : "",
		 msg ? msg : "");
}

static void
timed_out(struct check_pod *p)
{
	pod_fail(p,
		 kcr_strdup_printf("kubectl describe pod -n %s -l kcr.dev/role=check shows why "
				   "(the pods of a later check: they are deleted at its end); "
				   "large images take longer the first time: --timeout",
				   p->r->ns),
		 "not Ready after %llu s (%s)", (unsigned long long)(p->r->timeout_ms / 1000),
		 *p->pending ? p->pending : "Pending");
}

/* What one state of the pod tells; true once there is nothing to wait for. */
static bool
observe(struct check_pod *p, const char *type, const cJSON *pod)
{
	static const char *const pull[] = { "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
					    "ErrImageNeverPull", NULL };
	static const char *const broken[] = { "CrashLoopBackOff", "CreateContainerConfigError",
					      "CreateContainerError", "RunContainerError", NULL };
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
	const char *node = kcr_json_str(spec, "nodeName");
	const char *phase = kcr_k8s_pod_phase(pod), *msg = NULL, *why;
	const char *image = kcr_k8s_pods_image(p->r->pods, p->lang);

	if (kcr_now_ms() >= p->t0 + p->r->timeout_ms) {
		/* what comes after the deadline (a watch that was held up) is too late */
		timed_out(p);
		return true;
	}
	if (strcmp(type, "DELETED") == 0) {
		pod_fail(p, NULL, "the test pod was deleted before it was Ready");
		return true;
	}
	if (node && *node && !p->scheduled_ms)
		p->scheduled_ms = since(p);
	why = kcr_k8s_pod_waiting_reason(pod, &msg);
	if (is_one_of(why, pull)) {
		image_failed(p, why, msg);
		return true;
	}
	if (container_started(pod) && !p->started_ms)
		p->started_ms = since(p);
	if (is_one_of(why, broken) || strcmp(phase, "Failed") == 0 ||
	    strcmp(phase, "Succeeded") == 0) {
		pod_fail(p,
			 kcr_strdup_printf("the image's entrypoint must be kcr-runner (images/ "
					   "of kcr); kubectl logs of a kcr pod shows why it stops"),
			 "the runner of %s does not run (%s%s%s%s%s)", image, phase,
			 why ? ", " : "", why ? why : "", msg ? ": " : "", msg ? msg : "");
		return true;
	}
	if (kcr_k8s_pod_is_ready(pod)) {
		const char *ip =
			kcr_json_str(cJSON_GetObjectItemCaseSensitive(pod, "status"), "podIP");

		snprintf(p->ip, sizeof(p->ip), "%s", ip ? ip : "");
		p->ready_ms = since(p);
		p->ready = true;
		return true;
	}
	snprintf(p->pending, sizeof(p->pending), "%s%s%s", phase,
		 unschedulable(pod) || why ? ": " : "",
		 unschedulable(pod) ? unschedulable(pod)
		 : why              ? why
				    : "");
	return false;
}

static int
on_event(void *arg, const char *type, const cJSON *object)
{
	struct check_pod *p = arg;

	if (strcmp(type, "BOOKMARK") == 0)
		return 0;
	return observe(p, type, object) ? 1 : 0;
}

static void
copy_rv(char *rv, const cJSON *obj)
{
	const char *v =
		kcr_json_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");

	snprintf(rv, 128, "%s", v ? v : "");
}

/* The watch lost its place (410 Gone): the pod as it is now, and on. */
static bool
reread(struct check_pod *p, char *rv)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", p->r->pods_path, p->name);
	kcr_error_t e = NULL;
	cJSON *pod = NULL;
	bool done;

	if (kcr_k8s_get(p->r->k, path, &pod, &e) < 0) {
		pod_fail(p, NULL, "the test pod is gone: %s", e->msg);
		kcr_error_free(e);
		return true;
	}
	copy_rv(rv, pod);
	done = observe(p, "MODIFIED", pod);
	cJSON_Delete(pod);
	return done;
}

static void
wait_ready(struct check_pod *p, const cJSON *created)
{
	struct check_run *r = p->r;
	kcr_autofree char *q = kcr_strdup_printf("fieldSelector=metadata.name%%3D%s", p->name);
	uint64_t deadline = p->t0 + r->timeout_ms;
	char rv[128];

	copy_rv(rv, created);
	if (observe(p, "ADDED", created))
		return;
	for (;;) {
		uint64_t now = kcr_now_ms(), left_s;
		kcr_error_t e = NULL;
		int w;

		if (now >= deadline) {
			timed_out(p);
			return;
		}
		left_s = (deadline - now + 999) / 1000;
		w = kcr_k8s_watch(r->k, r->pods_path, q, rv,
				  (unsigned int)(left_s < WATCH_MAX_S ? left_s : WATCH_MAX_S), 0,
				  r->o->stop_fd, on_event, p, &e);
		if (p->ready || p->why || check_stopped(r)) {
			kcr_error_free(e);
			return;
		}
		if (w < 0 && e->code != KCR_E_TIMEOUT) {
			pod_fail(p, NULL, "watching the test pod failed: %s", e->msg);
			kcr_error_free(e);
			return;
		}
		kcr_error_free(e);
		if (w == 1 && reread(p, rv))
			return;
	}
}

static void
health(struct check_pod *p)
{
	struct check_run *r = p->r;
	uint64_t t0 = kcr_now_ms();
	kcr_error_t e = NULL;
	int ret;

	if (r->direct) {
		kcr_autofree char *ep =
			strchr(p->ip, ':')
				? kcr_strdup_printf("http://[%s]:%d", p->ip, KCR_K8S_RUNNER_PORT)
				: kcr_strdup_printf("http://%s:%d", p->ip, KCR_K8S_RUNNER_PORT);

		ret = kcr_runner_call(ep, "GET", "/health", NULL, NULL, &e);
	} else {
		ret = kcr_k8s_proxy(r->k, p->name, KCR_K8S_RUNNER_PORT, "GET", "/health", NULL, 0,
				    HEALTH_MS, 1 << 16, -1, NULL, NULL, NULL, &e);
	}
	p->health_ms = kcr_now_ms() - t0;
	if (ret == 0)
		return;
	pod_fail(p,
		 kcr_xstrdup(r->direct ? "kcr must reach the pods' IPs on port 8080: a "
					 "NetworkPolicy must let kcr serve's pods in (the chart's "
					 "does)"
				       : "the API server must reach the pods (pods/proxy); "
					 "or run kcr in the cluster (kubernetes.runner_access "
					 "direct)"),
		 "Ready, but its runner does not answer /health (%s %s): %s",
		 r->direct ? "at" : "through the pod proxy of", r->direct ? p->ip : p->name,
		 e->msg);
	kcr_error_free(e);
}

static void
pod_name(struct check_pod *p)
{
	char id[KCR_ID_LEN + 1];

	kcr_id_generate(id);
	/* a DNS-1123 name: lowercase alphanumerics (the id's '-' and '_' too:
	 * a name may not end with one) */
	for (char *s = id; *s; s++)
		*s = (*s >= 'A' && *s <= 'Z')   ? (char)(*s - 'A' + 'a')
		     : (*s == '-' || *s == '_') ? 'x'
						: *s;
	snprintf(p->name, sizeof(p->name), "kcr-check-%s-%.10s", p->lang->id, id);
}

static char *
create_fix(const struct check_pod *p, const kcr_error_t e)
{
	if (e->code == KCR_E_AUTH)
		return kcr_xstrdup("kcr may not create pods here: see RBAC pods above, and the "
				   "namespace's PodSecurity admission (kcr's pods meet "
				   "\"restricted\")");
	if (e->code == KCR_E_INVALID)
		return kcr_strdup_printf("the API server refused kcr's pod: check kubernetes.* "
					 "in kcr.yaml (resources, node_selector, tolerations, "
					 "runtime_class) for %s",
					 p->lang->id);
	return NULL;
}

static void *
pod_thread(void *arg)
{
	struct check_pod *p = arg;
	struct check_run *r = p->r;
	struct kcr_k8s_pod_args a = { .role = "check",
				      .owner = r->owner,
				      .owner_host = r->host,
				      .owner_pod = r->owner_pod,
				      .owner_pid = (long)getpid() };
	cJSON *pod, *created = NULL;
	kcr_error_t e = NULL;

	pod_name(p);
	a.name = p->name;
	pod = kcr_k8s_pod_manifest(r->pods, p->lang, &a);
	/* a test pod that this process could not delete ends by itself */
	cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(pod, "spec"),
				"activeDeadlineSeconds",
				(double)(r->timeout_ms / 1000 + GRACE_EXTRA_S));
	p->t0 = kcr_now_ms();
	if (kcr_k8s_create(r->k, r->pods_path, pod, &created, &e) < 0) {
		pod_fail(p, create_fix(p, e), "cannot create a test pod: %s", e->msg);
		kcr_error_free(e);
		cJSON_Delete(pod);
		return NULL;
	}
	cJSON_Delete(pod);
	p->created = true;
	wait_ready(p, created);
	cJSON_Delete(created);
	if (p->ready && !p->why && !check_stopped(r))
		health(p);
	return NULL;
}

void
check_pods_run(struct check_pod *pods, size_t n)
{
	pthread_t *th = kcr_xzalloc((n ? n : 1) * sizeof(*th));
	bool *started = kcr_xzalloc((n ? n : 1) * sizeof(*started));

	for (size_t i = 0; i < n; i++)
		started[i] = pthread_create(&th[i], NULL, pod_thread, &pods[i]) == 0;
	for (size_t i = 0; i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			pod_thread(&pods[i]);
	}
	free(th);
	free(started);
}

void
check_pods_delete(struct check_pod *pods, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct check_run *r = pods[i].r;
		kcr_autofree char *path = NULL, *fix = NULL;
		kcr_error_t e = NULL;

		if (!pods[i].created)
			continue;
		path = kcr_strdup_printf("%s/%s", r->pods_path, pods[i].name);
		if (kcr_k8s_delete(r->k, path, 0, NULL, &e) == 0)
			continue;
		fix = kcr_strdup_printf("kubectl delete pod -n %s %s", r->ns, pods[i].name);
		check_add(r, "cleanup", false, 0, fix, "test pod %s was not deleted: %s",
			  pods[i].name, e->msg);
		kcr_error_free(e);
	}
}

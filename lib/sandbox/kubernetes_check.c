/* `kcr cluster check`: the cluster as the kubernetes provider needs it,
 * one check after another, each one result. The API server first (nothing
 * else can be asked without it), then the namespace, RBAC (a
 * SelfSubjectAccessReview per verb the provider uses), the runtimeClass,
 * a test pod per pooled language, and the NetworkPolicy from inside one
 * of those pods. */
#include <config.h>

#include "sandbox/kubernetes_check-internal.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/pool_floor.h"
#include "base/util.h"

#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- results ----------------------------------------------------------- */

static struct kcr_k8s_check *
check_new(struct check_run *r, const char *name)
{
	struct kcr_k8s_check_report *rep = r->rep;
	struct kcr_k8s_check *c;

	rep->checks = kcr_xrealloc(rep->checks, (rep->n + 1) * sizeof(*rep->checks));
	c = &rep->checks[rep->n++];
	memset(c, 0, sizeof(*c));
	c->name = kcr_xstrdup(name);
	return c;
}

static void
check_done(struct check_run *r, const struct kcr_k8s_check *c)
{
	if (!c->ok && !c->skipped)
		r->rep->failed++;
	if (r->o->report)
		r->o->report(r->o->arg, c);
}

void
check_add(struct check_run *r, const char *name, bool ok, uint64_t ms, const char *fix,
	  const char *fmt, ...)
{
	struct kcr_k8s_check *c = check_new(r, name);
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&c->detail, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	c->ok = ok;
	c->ms = ms;
	c->fix = ok || fix == NULL ? NULL : kcr_xstrdup(fix);
	check_done(r, c);
}

void
check_skip(struct check_run *r, const char *name, const char *why)
{
	struct kcr_k8s_check *c = check_new(r, name);

	c->skipped = true;
	c->detail = kcr_xstrdup(why);
	check_done(r, c);
}

void
check_list_add(char **list, const char *sep, const char *fmt, ...)
{
	kcr_autofree char *item = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&item, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	kcr_str_append_printf(list, sep, "%s", item);
}

bool
check_stopped(const struct check_run *r)
{
	struct pollfd p = { .fd = r->o->stop_fd, .events = POLLIN };

	if (r->o->stop_fd <= 0 || poll(&p, 1, 0) <= 0)
		return false;
	/* the test pods' threads ask too */
	__atomic_store_n(&r->rep->interrupted, true, __ATOMIC_RELAXED);
	return true;
}

void
kcr_k8s_check_report_release(struct kcr_k8s_check_report *rep)
{
	for (size_t i = 0; i < rep->n; i++) {
		free(rep->checks[i].name);
		free(rep->checks[i].detail);
		free(rep->checks[i].fix);
	}
	free(rep->checks);
	memset(rep, 0, sizeof(*rep));
}

bool
kcr_k8s_check_host_port_valid(const char *s)
{
	const char *colon = s ? strrchr(s, ':') : NULL;
	char *end;
	long port;

	if (colon == NULL || colon == s)
		return false;
	if (s[0] == '[' && colon[-1] != ']')
		return false;
	port = strtol(colon + 1, &end, 10);
	return *end == '\0' && colon[1] != '\0' && port >= 1 && port <= 65535;
}

/* ---- the API server, the namespace ----------------------------------- */

static bool
check_api(struct check_run *r)
{
	const char *server = kcr_k8s_server(r->k);
	kcr_autofree char *name = kcr_strdup_printf("API server %s", server);
	uint64_t t0 = kcr_now_ms(), ms;
	kcr_error_t e = NULL;
	cJSON *v = NULL;

	if (kcr_k8s_get(r->k, "/version", &v, &e) < 0) {
		const char *fix =
			e->code == KCR_E_AUTH
				? "the API server refused kcr's credentials: check "
				  "kubernetes.kubeconfig and kubernetes.context (kubectl auth "
				  "whoami), "
				  "or the service account's token"
				: "start the cluster or make its API server reachable from here "
				  "(kubectl cluster-info), or point kubernetes.kubeconfig and "
				  "kubernetes.context at the right one";

		check_add(r, name, false, kcr_now_ms() - t0, fix, "%s", e->msg);
		kcr_error_free(e);
		return false;
	}
	ms = kcr_now_ms() - t0;
	check_add(r, name, true, ms, NULL, "%s, %llu ms",
		  kcr_json_str(v, "gitVersion") ? kcr_json_str(v, "gitVersion") : "version unknown",
		  (unsigned long long)ms);
	cJSON_Delete(v);
	return true;
}

/* false when the namespace is missing (or cannot be used at all). */
static bool
check_namespace(struct check_run *r)
{
	kcr_autofree char *name = kcr_strdup_printf("namespace %s", r->ns);
	kcr_autofree char *path = kcr_strdup_printf("/api/v1/namespaces/%s", r->ns);
	kcr_autofree char *fix = NULL;
	uint64_t t0 = kcr_now_ms();
	kcr_error_t e = NULL;
	cJSON *o = NULL;
	bool ok;

	if (kcr_k8s_get(r->k, path, &o, &e) == 0) {
		const char *phase =
			kcr_json_str(cJSON_GetObjectItemCaseSensitive(o, "status"), "phase");

		check_add(r, name, true, kcr_now_ms() - t0, NULL, "exists, %s",
			  phase ? phase : "Active");
		cJSON_Delete(o);
		return true;
	}
	if (e->code == KCR_E_AUTH && e->sys_errno == 403) {
		check_add(r, name, true, kcr_now_ms() - t0, NULL,
			  "cannot tell: kcr may not read namespaces; the pod checks below use it");
		kcr_error_free(e);
		return true;
	}
	ok = false;
	fix = e->code == KCR_E_NOTFOUND
		      ? kcr_strdup_printf(
				"kubectl create namespace %s, or set kubernetes.namespace "
				"to the namespace kcr's Role is in",
				r->ns)
		      : kcr_strdup_printf("see the message; kubectl get namespace %s", r->ns);
	check_add(r, name, ok, kcr_now_ms() - t0, fix, "%s",
		  e->code == KCR_E_NOTFOUND ? "does not exist" : e->msg);
	kcr_error_free(e);
	return ok;
}

/* ---- RBAC ------------------------------------------------------------- */

struct rbac_need {
	const char *group, *resource, *subresource;
	const char *verbs[8];
	bool proxy_only; /* only when the runner is reached through the API server */
};

/* What the kubernetes provider does (lib/sandbox/kubernetes*.c): pods
 * made, read, listed and watched (its informer), claimed by a patch and
 * deleted; Jobs made and deleted; the runner through the pod proxy when
 * kcr is outside the cluster (GET /health and files: get, POST: create).
 * Nothing reads pods/log. */
static const struct rbac_need needs[] = {
	{ "", "pods", NULL, { "create", "get", "list", "watch", "delete", "patch" }, false },
	{ "", "pods", "proxy", { "get", "create" }, true },
	{ "batch", "jobs", NULL, { "create", "delete" }, false },
};

/* 1 allowed, 0 denied, -1 with err when the review itself failed. */
static int
access_review(struct check_run *r, const struct rbac_need *n, const char *verb, kcr_error_t *err)
{
	cJSON *req = cJSON_CreateObject(), *reply = NULL;
	cJSON *attrs;
	int ret;

	cJSON_AddStringToObject(req, "apiVersion", "authorization.k8s.io/v1");
	cJSON_AddStringToObject(req, "kind", "SelfSubjectAccessReview");
	attrs = cJSON_AddObjectToObject(cJSON_AddObjectToObject(req, "spec"), "resourceAttributes");
	cJSON_AddStringToObject(attrs, "namespace", r->ns);
	cJSON_AddStringToObject(attrs, "verb", verb);
	cJSON_AddStringToObject(attrs, "group", n->group);
	cJSON_AddStringToObject(attrs, "resource", n->resource);
	if (n->subresource)
		cJSON_AddStringToObject(attrs, "subresource", n->subresource);
	ret = kcr_k8s_create(r->k, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", req,
			     &reply, err);
	cJSON_Delete(req);
	if (ret == 0)
		ret = kcr_json_bool(cJSON_GetObjectItemCaseSensitive(reply, "status"), "allowed",
				    false)
			      ? 1
			      : 0;
	cJSON_Delete(reply);
	return ret;
}

static char *
rbac_fix(const struct check_run *r, const struct rbac_need *n, const char *missing)
{
	return kcr_strdup_printf(
		"grant them in the Role bound to kcr's identity in namespace %s (rules: apiGroups "
		"[\"%s\"], resources [\"%s%s%s\"], verbs [%s]); the chart's Role has them; "
		"kubectl auth can-i --list -n %s shows what it has",
		r->ns, n->group, n->resource, n->subresource ? "/" : "",
		n->subresource ? n->subresource : "", missing, r->ns);
}

static void
check_rbac_one(struct check_run *r, const struct rbac_need *n)
{
	kcr_autofree char *name =
		kcr_strdup_printf("RBAC %s%s%s%s%s", n->group, *n->group ? "/" : "", n->resource,
				  n->subresource ? "/" : "", n->subresource ? n->subresource : "");
	kcr_autofree char *allowed = NULL, *missing = NULL, *quoted = NULL, *fix = NULL;
	uint64_t t0 = kcr_now_ms();

	for (size_t i = 0; i < KCR_ARRAY_SIZE(n->verbs) && n->verbs[i]; i++) {
		kcr_error_t e = NULL;
		int a = access_review(r, n, n->verbs[i], &e);
		if (a < 0) {
			check_add(r, name, false, kcr_now_ms() - t0,
				  "kcr's identity must be allowed to create "
				  "selfsubjectaccessreviews (every authenticated user is, by "
				  "the default ClusterRole system:basic-user)",
				  "cannot ask the API server: %s", e->msg);
			kcr_error_free(e);
			return;
		}
		check_list_add(a == 1 ? &allowed : &missing, " ", "%s", n->verbs[i]);
		if (a == 0)
			check_list_add(&quoted, ", ", "\"%s\"", n->verbs[i]);
	}
	if (missing == NULL) {
		check_add(r, name, true, kcr_now_ms() - t0, NULL, "%s", allowed);
		return;
	}
	fix = rbac_fix(r, n, quoted);
	check_add(r, name, false, kcr_now_ms() - t0, fix, "missing %s", missing);
}

static void
check_rbac(struct check_run *r)
{
	for (size_t i = 0; i < KCR_ARRAY_SIZE(needs); i++) {
		if (needs[i].proxy_only && r->direct)
			continue;
		check_rbac_one(r, &needs[i]);
	}
}

/* ---- the runtimeClass ------------------------------------------------- */

/* The names of the cluster's RuntimeClasses, "" when it cannot say. */
static char *
runtime_classes(struct check_run *r)
{
	cJSON *list = NULL;
	const cJSON *it;
	char *names = NULL;

	if (kcr_k8s_get(r->k, "/apis/node.k8s.io/v1/runtimeclasses", &list, NULL) == 0) {
		cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(list, "items")) {
			const char *n = kcr_json_str(
				cJSON_GetObjectItemCaseSensitive(it, "metadata"), "name");

			if (n)
				check_list_add(&names, ", ", "%s", n);
		}
	}
	cJSON_Delete(list);
	return names ? names : kcr_xstrdup("");
}

/* false when the class is missing: no pod would start. */
static bool
check_runtime_class(struct check_run *r)
{
	const char *rc = kcr_k8s_pods_runtime_class(r->pods);
	kcr_autofree char *name = NULL, *path = NULL, *fix = NULL, *known = NULL;
	uint64_t t0 = kcr_now_ms();
	kcr_error_t e = NULL;
	cJSON *o = NULL;

	if (rc == NULL || *rc == '\0')
		return true;
	name = kcr_strdup_printf("runtimeClass %s", rc);
	path = kcr_strdup_printf("/apis/node.k8s.io/v1/runtimeclasses/%s", rc);
	if (kcr_k8s_get(r->k, path, &o, &e) == 0) {
		const char *h = kcr_json_str(o, "handler");

		check_add(r, name, true, kcr_now_ms() - t0, NULL, "handler %s", h ? h : "?");
		cJSON_Delete(o);
		return true;
	}
	if (e->code == KCR_E_AUTH && e->sys_errno == 403) {
		check_add(r, name, true, kcr_now_ms() - t0, NULL,
			  "cannot tell: kcr may not read runtimeclasses; the pod checks below "
			  "use it");
		kcr_error_free(e);
		return true;
	}
	known = runtime_classes(r);
	fix = kcr_strdup_printf("install the runtime on the nodes (gVisor's runsc, Kata) and "
				"create its RuntimeClass, or set kubernetes.runtime_class to %s%s",
				*known ? "one the cluster has: " : "\"\" for the default runtime",
				known);
	check_add(r, name, false, kcr_now_ms() - t0, fix, "%s",
		  e->code == KCR_E_NOTFOUND ? "does not exist" : e->msg);
	kcr_error_free(e);
	return false;
}

/* ---- the pools ---------------------------------------------------------- */

static const struct kcr_k8s_pool_count *
pool_of(const struct kcr_k8s_pool_count *c, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(c[i].lang, id) == 0)
			return &c[i];
	}
	return NULL;
}

/* The pool pods every replica made (kcr pool status's numbers): those
 * that failed are a problem now, whatever the test pods say. */
static void
check_pools(struct check_run *r)
{
	struct kcr_k8s_pool_count *c = NULL, zero = { 0 };
	kcr_autofree char *detail = NULL, *failed = NULL, *fix = NULL;
	uint64_t t0 = kcr_now_ms();
	kcr_error_t e = NULL;
	size_t n = 0;

	if (kcr_k8s_pool_counts(r->k, &c, &n, &e) < 0) {
		check_add(r, "pools", false, kcr_now_ms() - t0, "see RBAC pods above",
			  "cannot list kcr's pods: %s", e->msg);
		kcr_error_free(e);
		return;
	}
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		const char *id = kcr_lang_at(i)->id;
		long target = kcr_pool_floor_of(r->cfg, kcr_lang_at(i), "kubernetes");
		const struct kcr_k8s_pool_count *p = pool_of(c, n, id);

		if (p == NULL && target <= 0)
			continue;
		p = p ? p : &zero;
		if (p->creating)
			check_list_add(&detail, ", ", "%s %u/%ld ready (%u creating)", id, p->ready,
				       target, p->creating);
		else
			check_list_add(&detail, ", ", "%s %u/%ld ready", id, p->ready, target);
		if (p->failed)
			check_list_add(&failed, ", ", "%s %u", id, p->failed);
	}
	free(c);
	if (failed) {
		fix = kcr_strdup_printf(
			"kubectl describe pods -n %s -l kcr.dev/role=pool shows why "
			"(the image checks below tell an image that does not pull); "
			"kcr serve replaces them",
			r->ns);
		check_add(r, "pools", false, kcr_now_ms() - t0, fix, "pool pods failed: %s",
			  failed);
		return;
	}
	check_add(r, "pools", true, kcr_now_ms() - t0, NULL, "%s",
		  detail ? detail : "no pool pods and no pool.<lang> above 0");
}

/* ---- the test pods ----------------------------------------------------- */

static void
add_lang(const struct kcr_lang ***langs, size_t *n, const struct kcr_lang *l)
{
	for (size_t i = 0; i < *n; i++) {
		if ((*langs)[i] == l)
			return;
	}
	*langs = kcr_xrealloc(*langs, (*n + 1) * sizeof(**langs));
	(*langs)[(*n)++] = l;
}

/* The languages to test: those asked for, else the pooled ones, else py. */
static const struct kcr_lang **
test_langs(const struct check_run *r, size_t *n)
{
	const struct kcr_lang **langs = NULL;

	*n = 0;
	for (size_t i = 0; r->o->langs && r->o->langs[i]; i++) {
		const struct kcr_lang *l = kcr_lang_find(r->o->langs[i]);

		if (l)
			add_lang(&langs, n, l);
	}
	if (*n)
		return langs;
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		const struct kcr_lang *l = kcr_lang_at(i);

		if (kcr_pool_floor_of(r->cfg, l, "kubernetes") > 0)
			add_lang(&langs, n, l);
	}
	if (*n == 0)
		add_lang(&langs, n, kcr_lang_find("py"));
	return langs;
}

static void
report_pod(struct check_run *r, const struct check_pod *p)
{
	kcr_autofree char *name = kcr_strdup_printf("image %s", p->lang->id);
	const char *image = kcr_k8s_pods_image(r->pods, p->lang);

	if (p->why)
		check_add(r, name, false, p->failed_ms, p->fix, "%s", p->why);
	else
		check_add(r, name, true, p->ready_ms + p->health_ms, NULL,
			  "%s: scheduled %llu ms, pulled and started %llu ms, Ready %llu ms, "
			  "/health %llu ms",
			  image, (unsigned long long)p->scheduled_ms,
			  (unsigned long long)p->started_ms, (unsigned long long)p->ready_ms,
			  (unsigned long long)p->health_ms);
}

/* The pod the NetworkPolicy probe runs in: Python's, else the first
 * Ready one of a language the probe is written in, else any Ready one
 * (the probe in bash, which kcr's images have). */
static const struct check_pod *
probe_pod(const struct check_pod *pods, size_t n)
{
	static const char *const order[] = { "py", "js", "bash", NULL };

	for (size_t k = 0; k < KCR_ARRAY_SIZE(order); k++) {
		for (size_t i = 0; i < n; i++) {
			if (pods[i].ready && !pods[i].why &&
			    (order[k] == NULL || strcmp(pods[i].lang->id, order[k]) == 0))
				return &pods[i];
		}
	}
	return NULL;
}

static void
check_images_and_egress(struct check_run *r)
{
	size_t n;
	kcr_autofree const struct kcr_lang **langs = test_langs(r, &n);
	struct check_pod *pods = kcr_xzalloc(n * sizeof(*pods));
	const struct check_pod *probe;

	for (size_t i = 0; i < n; i++) {
		pods[i].r = r;
		pods[i].lang = langs[i];
	}
	check_pods_run(pods, n);
	for (size_t i = 0; i < n && !r->rep->interrupted; i++)
		report_pod(r, &pods[i]);
	probe = probe_pod(pods, n);
	if (probe && !r->rep->interrupted)
		check_egress(r, probe);
	else if (!r->rep->interrupted)
		check_skip(r, "NetworkPolicy", "no test pod is Ready to run the probe in");
	check_pods_delete(pods, n);
	for (size_t i = 0; i < n; i++) {
		free(pods[i].why);
		free(pods[i].fix);
	}
	free(pods);
}

/* ---- the run ----------------------------------------------------------- */

static int
runner_access(struct check_run *r, kcr_error_t *err)
{
	const char *v = kcr_config_str(r->cfg, "kubernetes.runner_access");

	if (strcmp(v, "auto") == 0)
		r->direct = r->in_cluster;
	else if (strcmp(v, "direct") == 0 || strcmp(v, "proxy") == 0)
		r->direct = strcmp(v, "direct") == 0;
	else
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "kubernetes.runner_access: '%s' is not auto, direct or proxy",
				     v);
	return 0;
}

/* Who made the test pods (kubernetes_orphans.c): a kcr serve deletes
 * them if this process dies before it could. */
static void
owner_init(struct check_run *r)
{
	const char *pod = getenv("POD_NAME"), *pns = getenv("POD_NAMESPACE");
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	snprintf(r->host, sizeof(r->host), "%s", host);
	if (pod && *pod)
		snprintf(r->owner_pod, sizeof(r->owner_pod), "%s/%s", pns && *pns ? pns : r->ns,
			 pod);
	snprintf(r->owner, sizeof(r->owner), "check-%ld", (long)getpid());
}

static void
run_checks(struct check_run *r)
{
	bool ns_ok, rc_ok;

	if (!check_api(r) || check_stopped(r))
		return;
	ns_ok = check_namespace(r);
	check_rbac(r);
	rc_ok = check_runtime_class(r);
	if (check_stopped(r))
		return;
	if (!ns_ok) {
		check_skip(r, "test pods", "the namespace is missing");
		return;
	}
	check_pools(r);
	if (!rc_ok) {
		check_skip(r, "test pods", "the runtimeClass is missing");
		return;
	}
	check_images_and_egress(r);
}

int
kcr_k8s_check_run(const struct kcr_config *cfg, const struct kcr_k8s_check_opts *o,
		  struct kcr_k8s_check_report *rep, kcr_error_t *err)
{
	struct check_run r = { .cfg = cfg, .o = o, .rep = rep };
	int ret = -1;

	memset(rep, 0, sizeof(*rep));
	r.pods = kcr_k8s_pods_new(cfg, err);
	if (r.pods == NULL || (r.k = kcr_k8s_open(cfg, &r.in_cluster, err)) == NULL ||
	    runner_access(&r, err) < 0)
		goto out;
	r.ns = kcr_k8s_namespace(r.k);
	r.pods_path = kcr_strdup_printf("/api/v1/namespaces/%s/pods", r.ns);
	r.timeout_ms = o->timeout_ms
			       ? o->timeout_ms
			       : (uint64_t)kcr_config_int(cfg, "kubernetes.ready_timeout") * 1000;
	owner_init(&r);
	run_checks(&r);
	ret = 0;
out:
	free(r.pods_path);
	kcr_k8s_free(r.k);
	kcr_k8s_pods_free(r.pods);
	return ret;
}

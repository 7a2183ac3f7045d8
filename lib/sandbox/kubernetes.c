/* The kubernetes sandbox provider: each sandbox is a pod running
 * kcr-runner, made ahead of time for a pool or, on the request path, taken
 * from the namespace's ready pool pods (any replica's) or run as a Job.
 * A pod serves one execution and is deleted.
 *
 * Several kcr replicas share the namespace. A pool pod is labelled
 * kcr.dev/state=ready and is anyone's until a replica claims it with a
 * merge patch that carries the resourceVersion it saw: the API server
 * lets exactly one such update through, and answers the others 409. */
#include <config.h>

#include "sandbox/kubernetes-internal.h"
#include "base/clock.h"
#include "base/ids.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

#define STEAL_TRIES 3
#define CLAIM_TRIES 3

/* ---- open and close -------------------------------------------------------- */

static void
kube_free(struct kube *kp)
{
	if (kp == NULL)
		return;
	kube_cache_stop(kp);
	kcr_k8s_free(kp->k);
	kcr_k8s_pods_free(kp->pods);
	free(kp->ns);
	free(kp->pods_path);
	free(kp->jobs_path);
	free(kp);
}

static int
runner_access(struct kube *kp, const struct kcr_config *cfg, bool in_cluster, kcr_error_t *err)
{
	const char *v = kcr_config_str(cfg, "kubernetes.runner_access");

	if (strcmp(v, "auto") == 0)
		kp->direct = in_cluster;
	else if (strcmp(v, "direct") == 0 || strcmp(v, "proxy") == 0)
		kp->direct = strcmp(v, "direct") == 0;
	else
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "kubernetes.runner_access: '%s' is not auto, direct or proxy",
				     v);
	return 0;
}

static int
kube_open(void **self, const struct kcr_config *cfg, kcr_error_t *err)
{
	struct kube *kp = kcr_xzalloc(sizeof(*kp));
	bool in_cluster = false;

	kp->cache.stop[0] = kp->cache.stop[1] = -1;
	kp->pods = kcr_k8s_pods_new(cfg, err);
	if (kp->pods == NULL || (kp->k = kcr_k8s_open(cfg, &in_cluster, err)) == NULL ||
	    runner_access(kp, cfg, in_cluster, err) < 0)
		goto fail;
	kp->ns = kcr_xstrdup(kcr_k8s_namespace(kp->k));
	kp->pods_path = kcr_strdup_printf("/api/v1/namespaces/%s/pods", kp->ns);
	kp->jobs_path = kcr_strdup_printf("/apis/batch/v1/namespaces/%s/jobs", kp->ns);
	kp->ready_timeout_ms = (uint64_t)kcr_config_int(cfg, "kubernetes.ready_timeout") * 1000;
	kp->orphan_interval_ms = (uint64_t)kcr_config_int(cfg, "kubernetes.orphan_interval") * 1000;
	kp->job_deadline_ms =
		(uint64_t)kcr_config_int(cfg, "kubernetes.job_deadline_seconds") * 1000;
	kube_owner_init(kp);
	if (kube_cache_start(kp, err) < 0)
		goto fail;
	*self = kp;
	return 0;
fail:
	kube_free(kp);
	return -1;
}

static void
kube_close(void *self)
{
	kube_free(self);
}

/* Whether an image exists is `kcr cluster check`'s to say: a pod that
 * cannot pull it fails its create() with the kubelet's reason. */
static int
kube_available(void *self, const struct kcr_lang *lang, kcr_error_t *err)
{
	(void)self;
	(void)lang;
	(void)err;
	return 0;
}

static int
kube_health(void *self, kcr_error_t *err)
{
	struct kube *kp = self;
	cJSON *v = NULL;

	if (kcr_k8s_get(kp->k, "/version", &v, err) < 0)
		return kcr_error_wrap(err, "kubernetes API server %s", kcr_k8s_server(kp->k));
	cJSON_Delete(v);
	return 0;
}

/* ---- sandboxes -------------------------------------------------------------- */

static struct kcr_sandbox *
sb_new(struct kube *kp, const struct kube_pod *p, const char *job, bool mine)
{
	struct kcr_sandbox *sb = kcr_xzalloc(sizeof(*sb));
	struct kube_sb *ks = kcr_xzalloc(sizeof(*ks));

	snprintf(sb->id, sizeof(sb->id), "%.31s", p->name);
	snprintf(ks->pod, sizeof(ks->pod), "%s", p->name);
	snprintf(ks->job, sizeof(ks->job), "%s", job ? job : "");
	snprintf(ks->ip, sizeof(ks->ip), "%s", p->ip);
	ks->mine = mine;
	sb->priv = ks;
	if (kp->direct)
		sb->endpoint =
			strchr(p->ip, ':')
				? kcr_strdup_printf("http://[%s]:%d", p->ip, KCR_K8S_RUNNER_PORT)
				: kcr_strdup_printf("http://%s:%d", p->ip, KCR_K8S_RUNNER_PORT);
	else
		sb->endpoint = kcr_strdup_printf("%s%s/%s:%d/proxy", kcr_k8s_server(kp->k),
						 kp->pods_path, p->name, KCR_K8S_RUNNER_PORT);
	return sb;
}

static void
sb_free(struct kcr_sandbox *sb)
{
	free(sb->endpoint);
	free(sb->priv);
	free(sb);
}

static uint64_t
ready_by(const struct kube *kp, uint64_t deadline_ms)
{
	uint64_t own = kcr_now_ms() + kp->ready_timeout_ms;

	return deadline_ms && deadline_ms < own ? deadline_ms : own;
}

static void
new_name(char *out, size_t size, const struct kcr_lang *lang, const char *kind)
{
	char id[KCR_ID_LEN + 1];

	kcr_id_generate(id);
	/* a DNS-1123 name: lowercase letters and digits */
	for (char *s = id; *s; s++) {
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
		else if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9'))
			*s = 'x';
	}
	snprintf(out, size, "kcr-%s-%s%.10s", lang->id, kind, id);
}

static void
pod_args(struct kube *kp, struct kcr_k8s_pod_args *a, const char *name, const char *role)
{
	a->name = name;
	a->role = role;
	a->owner = kp->owner;
	a->owner_host = kp->host;
	a->owner_pod = kp->owner_pod;
	a->owner_pid = kp->pid;
}

/* A pool pod: made, then left "ready" for any replica to claim. */
static int
create_pool_pod(struct kube *kp, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
		struct kcr_sandbox **out, kcr_error_t *err)
{
	struct kcr_k8s_pod_args a = { .prewarm = true,
				      .preload = spec->preload,
				      .limits = &spec->limits };
	struct kube_pod p;
	char name[KUBE_NAME_MAX];
	cJSON *pod;
	int r;

	new_name(name, sizeof(name), spec->lang, "");
	pod_args(kp, &a, name, "pool");
	pod = kcr_k8s_pod_manifest(kp->pods, spec->lang, &a);
	r = kcr_k8s_create(kp->k, kp->pods_path, pod, NULL, err);
	cJSON_Delete(pod);
	if (r < 0)
		return kcr_error_wrap(err, "creating a %s pool pod", spec->lang->name);
	if (kube_cache_wait_ready(kp, name, NULL, ready_by(kp, deadline_ms), &p, err) < 0) {
		kcr_error_t e = NULL;

		strcpy(p.name, name);
		p.job[0] = '\0';
		if (kube_delete_pod(kp, &p, &e) < 0)
			kcr_error_release(&e);
		return -1;
	}
	*out = sb_new(kp, &p, NULL, false);
	return 0;
}

/* The pod as the API server has it now (not as the watch last showed
 * it); gone is KCR_E_NOTFOUND. */
static int
pod_now(struct kube *kp, const char *name, struct kube_pod *out, kcr_error_t *err)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", kp->pods_path, name);
	cJSON *pod = NULL;
	bool ok;

	if (kcr_k8s_get(kp->k, path, &pod, err) < 0)
		return -1;
	ok = kube_pod_parse(pod, out);
	cJSON_Delete(pod);
	return ok ? 0 : kcr_error_set(err, KCR_E_BACKEND, 0, "pod %s: not a pod", name);
}

/* The claim: labels and the resourceVersion seen, in one merge patch. A
 * 409 because the kubelet changed the pod's status since is no claim by
 * another replica: read it again and try once more. */
static int
claim_pod(struct kube *kp, const char *name, const char *rv_seen, kcr_error_t *err)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", kp->pods_path, name);
	char rv[64];

	snprintf(rv, sizeof(rv), "%s", rv_seen);
	for (int i = 0; i < CLAIM_TRIES; i++) {
		cJSON *patch = cJSON_CreateObject();
		cJSON *meta = cJSON_AddObjectToObject(patch, "metadata");
		cJSON *labels = cJSON_AddObjectToObject(meta, "labels");
		struct kube_pod now;
		int r;

		cJSON_AddStringToObject(meta, "resourceVersion", rv);
		cJSON_AddStringToObject(labels, KCR_K8S_LABEL_STATE, "claimed");
		cJSON_AddStringToObject(labels, KCR_K8S_LABEL_CLAIMED_BY, kp->owner);
		r = kcr_k8s_merge_patch(kp->k, path, patch, NULL, err);
		cJSON_Delete(patch);
		if (r == 0)
			return 0;
		if ((*err)->code == KCR_E_NOTFOUND)
			(*err)->code = KCR_E_CONFLICT;
		if ((*err)->code != KCR_E_CONFLICT)
			return -1;
		if (pod_now(kp, name, &now, NULL) < 0)
			return -1;
		if (strcmp(now.state, "ready") != 0 || now.deleting)
			return kcr_error_wrap(err, "pod %s was claimed by %s", name,
					      *now.claimed_by ? now.claimed_by : "another replica");
		kcr_error_release(err);
		snprintf(rv, sizeof(rv), "%s", now.rv);
	}
	return kcr_error_set(err, KCR_E_CONFLICT, 0, "pod %s keeps changing", name);
}

/* On the request path: a ready pool pod of any replica, claimed. */
static struct kcr_sandbox *
steal(struct kube *kp, const struct kcr_sandbox_spec *spec)
{
	struct kube_pod cand[STEAL_TRIES];
	size_t n = kube_cache_ready_pool(kp, spec->lang->id, cand, STEAL_TRIES);

	for (size_t i = 0; i < n; i++) {
		kcr_error_t e = NULL;

		if (claim_pod(kp, cand[i].name, cand[i].rv, &e) == 0)
			return sb_new(kp, &cand[i], NULL, true);
		kcr_log_debug("kubernetes: %s", e->msg);
		kcr_error_release(&e);
	}
	return NULL;
}

/* KubeCodeRun's cold path: a Job of one pod, deleted after its run. */
static int
create_job(struct kube *kp, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
	   struct kcr_sandbox **out, kcr_error_t *err)
{
	struct kcr_k8s_pod_args a = { 0 };
	struct kube_pod p;
	char name[KUBE_NAME_MAX];
	cJSON *job;
	int r;

	new_name(name, sizeof(name), spec->lang, "job-");
	pod_args(kp, &a, name, "job");
	job = kcr_k8s_job_manifest(kp->pods, spec->lang, &a);
	r = kcr_k8s_create(kp->k, kp->jobs_path, job, NULL, err);
	cJSON_Delete(job);
	if (r < 0)
		return kcr_error_wrap(err, "creating a %s Job", spec->lang->name);
	if (kube_cache_wait_ready(kp, NULL, name, ready_by(kp, deadline_ms), &p, err) < 0) {
		kcr_error_t e = NULL;
		struct kube_pod jp = { 0 };

		snprintf(jp.job, sizeof(jp.job), "%s", name);
		if (kube_delete_pod(kp, &jp, &e) < 0)
			kcr_error_release(&e);
		return -1;
	}
	*out = sb_new(kp, &p, name, true);
	return 0;
}

static int
kube_create(void *self, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
	    struct kcr_sandbox **out, kcr_error_t *err)
{
	struct kube *kp = self;

	if (spec->prewarm)
		return create_pool_pod(kp, spec, deadline_ms, out, err);
	*out = steal(kp, spec);
	return *out ? 0 : create_job(kp, spec, deadline_ms, out, err);
}

static int
kube_check(void *self, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct kube *kp = self;
	struct kube_sb *ks = sb->priv;
	struct kube_pod p;

	if (!kube_cache_get(kp, ks->pod, &p))
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "pod %s is gone", ks->pod);
	if (p.deleting || !p.ready)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "pod %s is %s", ks->pod,
				     p.deleting ? "being deleted" : "not Ready");
	if (!ks->mine && strcmp(p.state, "ready") != 0)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "pod %s was claimed by %s", ks->pod,
				     *p.claimed_by ? p.claimed_by : "another replica");
	return 0;
}

static int
kube_claim(void *self, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct kube *kp = self;
	struct kube_sb *ks = sb->priv;
	struct kube_pod p;

	if (ks->mine)
		return kcr_error_set(err, KCR_E_CONFLICT, 0, "pod %s is claimed already", ks->pod);
	/* the watch may not show a release yet (this replica's, just now):
	 * the API server says whether the pod is ready, not the cache */
	if (!kube_cache_get(kp, ks->pod, &p) || p.deleting || strcmp(p.state, "ready") != 0) {
		if (pod_now(kp, ks->pod, &p, err) < 0) {
			if ((*err)->code == KCR_E_NOTFOUND)
				(*err)->code = KCR_E_CONFLICT;
			return -1;
		}
		if (p.deleting || strcmp(p.state, "ready") != 0)
			return kcr_error_set(err, KCR_E_CONFLICT, 0, "pod %s was claimed by %s",
					     ks->pod,
					     *p.claimed_by ? p.claimed_by : "another replica");
	}
	if (claim_pod(kp, ks->pod, p.rv, err) < 0)
		return -1;
	ks->mine = true;
	return 0;
}

static int
kube_release(void *self, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct kube *kp = self;
	struct kube_sb *ks = sb->priv;
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", kp->pods_path, ks->pod);
	cJSON *patch = cJSON_CreateObject();
	cJSON *labels =
		cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "metadata"), "labels");
	int r;

	if (!ks->mine || *ks->job) {
		cJSON_Delete(patch);
		return kcr_error_set(err, KCR_E_INVALID, 0, "pod %s is not claimed", ks->pod);
	}
	cJSON_AddStringToObject(labels, KCR_K8S_LABEL_STATE, "ready");
	cJSON_AddNullToObject(labels, KCR_K8S_LABEL_CLAIMED_BY);
	r = kcr_k8s_merge_patch(kp->k, path, patch, NULL, err);
	cJSON_Delete(patch);
	if (r == 0)
		ks->mine = false;
	return r;
}

static int
kube_exec(void *self, struct kcr_sandbox *sb, const struct kcr_exec_request *req,
	  struct kcr_exec_result *res, kcr_error_t *err)
{
	return kube_runner_exec(self, sb, req, res, err);
}

static int
kube_put_file(void *self, struct kcr_sandbox *sb, const char *name, const void *buf, size_t len,
	      kcr_error_t *err)
{
	return kube_runner_put(self, sb, name, buf, len, err);
}

static int
kube_get_file(void *self, struct kcr_sandbox *sb, const char *name, uint64_t max, int out,
	      uint64_t *len, kcr_error_t *err)
{
	return kube_runner_get(self, sb, name, max, out, len, err);
}

static int
kube_list(void *self, struct kcr_sandbox_ref **out, size_t *n, kcr_error_t *err)
{
	return kube_orphans_list(self, out, n, err);
}

static int
kube_adopt(void *self, const struct kcr_sandbox_ref *ref, kcr_error_t *err)
{
	return kube_orphans_adopt(self, ref, err);
}

/* Deletes what this replica owns; a handle of another replica's pod (a
 * lost claim) is only freed. */
static int
kube_destroy(void *self, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct kube *kp = self;
	struct kube_sb *ks;
	struct kube_pod p = { 0 };
	int r = 0;

	if (sb == NULL)
		return 0;
	ks = sb->priv;
	if (ks->mine) {
		snprintf(p.name, sizeof(p.name), "%s", ks->pod);
		snprintf(p.job, sizeof(p.job), "%s", ks->job);
		r = kube_delete_pod(kp, &p, err);
	}
	sb_free(sb);
	return r;
}

const struct kcr_sandbox_ops kcr_sandbox_kubernetes_ops = {
	.name = "kubernetes",
	.open = kube_open,
	.available = kube_available,
	.health = kube_health,
	.create = kube_create,
	.check = kube_check,
	.claim = kube_claim,
	.release = kube_release,
	.exec = kube_exec,
	.put_file = kube_put_file,
	.get_file = kube_get_file,
	.list = kube_list,
	.adopt = kube_adopt,
	.destroy = kube_destroy,
	.close = kube_close,
};

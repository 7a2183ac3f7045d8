/* Pods of replicas that died. Each pod names the replica that made it
 * (label kcr.dev/owner) and where it ran: its own pod in the cluster
 * (annotation owner-pod), else its host and pid. A replica is dead when
 * that pod is gone, or when it ran on this host and its pid is; a claimed
 * pod or a Job's older than a Job may live is stale whoever owns it. Found
 * at start (the pool's list()/adopt()) and every kubernetes.orphan_interval. */
#include <config.h>

#include "sandbox/kubernetes-internal.h"
#include "base/clock.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STALE_MARGIN_MS 60000
#define SYNC_WAIT_MS    10000

/* A label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends. */
static void
label_value(char *s)
{
	size_t n;

	for (char *p = s; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
			*p = '-';
	}
	n = strlen(s);
	while (n > 0 && (s[n - 1] == '-' || s[n - 1] == '.' || s[n - 1] == '_'))
		s[--n] = '\0';
}

void
kube_owner_init(struct kube *kp)
{
	const char *pod = getenv("POD_NAME");
	const char *ns = getenv("POD_NAMESPACE");
	char host[256] = "";
	char id[KCR_ID_LEN + 1];

	gethostname(host, sizeof(host) - 1);
	snprintf(kp->host, sizeof(kp->host), "%s", host);
	kp->pid = (long)getpid();
	if (pod && *pod)
		snprintf(kp->owner_pod, sizeof(kp->owner_pod), "%s/%s", ns && *ns ? ns : kp->ns,
			 pod);
	kcr_id_generate(id);
	/* host (cut), pid, and randomness: a restarted replica is another one */
	snprintf(kp->owner, sizeof(kp->owner), "%.36s-%ld-%.8s", pod && *pod ? pod : host, kp->pid,
		 id);
	label_value(kp->owner);
}

/* ---- who is dead -------------------------------------------------------- */

struct verdict {
	char owner[KUBE_NAME_MAX];
	bool dead;
};

static bool
owner_pod_gone(struct kube *kp, const char *owner_pod)
{
	const char *slash = strchr(owner_pod, '/');
	kcr_autofree char *path = NULL;
	kcr_error_t err = NULL;
	cJSON *pod = NULL;
	bool gone;

	if (slash == NULL)
		return false;
	path = kcr_strdup_printf("/api/v1/namespaces/%.*s/pods/%s", (int)(slash - owner_pod),
				 owner_pod, slash + 1);
	if (kcr_k8s_get(kp->k, path, &pod, &err) == 0) {
		cJSON_Delete(pod);
		return false;
	}
	gone = err->code == KCR_E_NOTFOUND;
	kcr_error_release(&err);
	return gone;
}

static bool
owner_dead(struct kube *kp, const struct kube_pod *p)
{
	if (*p->owner_pod)
		return owner_pod_gone(kp, p->owner_pod);
	if (strcmp(p->owner_host, kp->host) == 0 && p->owner_pid > 0)
		return kill((pid_t)p->owner_pid, 0) < 0 && errno == ESRCH;
	return false;
}

/* Each owner is asked about once per sweep. */
static bool
is_orphan(struct kube *kp, const struct kube_pod *p, struct verdict **known, size_t *n)
{
	double age_ms = (kcr_wall_time() - p->created) * 1000.0;
	bool busy = strcmp(p->role, "job") == 0 || strcmp(p->state, "claimed") == 0;

	if (strcmp(p->owner, kp->owner) == 0)
		return false;
	if (busy && p->created > 0 && age_ms > (double)(kp->job_deadline_ms + STALE_MARGIN_MS))
		return true;
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*known)[i].owner, p->owner) == 0)
			return (*known)[i].dead;
	}
	*known = kcr_xrealloc(*known, (*n + 1) * sizeof(**known));
	snprintf((*known)[*n].owner, sizeof((*known)[*n].owner), "%s", p->owner);
	(*known)[*n].dead = owner_dead(kp, p);
	return (*known)[(*n)++].dead;
}

int
kube_orphans_list(struct kube *kp, struct kcr_sandbox_ref **out, size_t *n, kcr_error_t *err)
{
	struct kube_pod *pods = NULL;
	struct verdict *known = NULL;
	size_t np, nknown = 0;

	*out = NULL;
	*n = 0;
	if (!kube_cache_wait_synced(kp, kcr_now_ms() + SYNC_WAIT_MS))
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				     "the pods of namespace %s could not be listed", kp->ns);
	np = kube_cache_snapshot(kp, &pods);
	for (size_t i = 0; i < np; i++) {
		struct kcr_sandbox_ref *r;

		if (pods[i].deleting || !is_orphan(kp, &pods[i], &known, &nknown))
			continue;
		*out = kcr_xrealloc(*out, (*n + 1) * sizeof(**out));
		r = &(*out)[(*n)++];
		/* a Job's pod: the Job goes, with its pods */
		snprintf(r->id, sizeof(r->id), "%s%.59s", *pods[i].job ? "job/" : "",
			 *pods[i].job ? pods[i].job : pods[i].name);
		snprintf(r->owner, sizeof(r->owner), "replica %.55s", pods[i].owner);
	}
	free(known);
	free(pods);
	return 0;
}

int
kube_delete_pod(struct kube *kp, const struct kube_pod *p, kcr_error_t *err)
{
	kcr_autofree char *path = NULL;

	if (*p->job) {
		path = kcr_strdup_printf("%s/%s", kp->jobs_path, p->job);
		return kcr_k8s_delete(kp->k, path, 0, "Background", err);
	}
	path = kcr_strdup_printf("%s/%s", kp->pods_path, p->name);
	return kcr_k8s_delete(kp->k, path, 0, NULL, err);
}

int
kube_orphans_adopt(struct kube *kp, const struct kcr_sandbox_ref *ref, kcr_error_t *err)
{
	struct kube_pod p = { 0 };

	if (strncmp(ref->id, "job/", 4) == 0)
		snprintf(p.job, sizeof(p.job), "%s", ref->id + 4);
	else
		snprintf(p.name, sizeof(p.name), "%s", ref->id);
	return kube_delete_pod(kp, &p, err);
}

void
kube_orphans_sweep(struct kube *kp)
{
	struct kcr_sandbox_ref *refs = NULL;
	size_t n = 0;

	kcr_error_t e = NULL;

	if (kube_orphans_list(kp, &refs, &n, &e) < 0)
		kcr_error_release(&e);
	for (size_t i = 0; i < n; i++) {
		kcr_error_t err = NULL;

		if (kube_orphans_adopt(kp, &refs[i], &err) == 0) {
			kcr_log_info("kubernetes: deleted %s, left by %s", refs[i].id,
				     refs[i].owner);
			continue;
		}
		kcr_log_warn("kubernetes: cannot delete %s of %s: %s", refs[i].id, refs[i].owner,
			     err->msg);
		kcr_error_release(&err);
	}
	free(refs);
}

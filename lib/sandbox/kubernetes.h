/* The kubernetes sandbox provider's parts that commands use too: the
 * labels kcr puts on its pods, the pod and Job manifests it sends, the
 * API client as the configuration describes it, and the pools as the
 * cluster shows them (`kcr pool status`, `kcr cluster check`). */
#ifndef KCR_KUBERNETES_H
#define KCR_KUBERNETES_H

#include "base/settings.h"
#include "base/error.h"
#include "base/exec.h"
#include "base/lang.h"
#include "sandbox/k8s.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* Every object kcr makes carries KCR_K8S_SELECTOR; a pool pod is "ready"
 * (anyone's) until a replica claims it by an update that must match the
 * resourceVersion it saw. */
#define KCR_K8S_LABEL_NAME       "app.kubernetes.io/name"
#define KCR_K8S_LABEL_COMPONENT  "app.kubernetes.io/component"
#define KCR_K8S_LABEL_MANAGED    "app.kubernetes.io/managed-by"
#define KCR_K8S_LABEL_LANG       "kcr.dev/language"
#define KCR_K8S_LABEL_ROLE       "kcr.dev/role"  /* pool | job | check */
#define KCR_K8S_LABEL_STATE      "kcr.dev/state" /* pool pods: ready | claimed */
#define KCR_K8S_LABEL_OWNER      "kcr.dev/owner" /* the replica that made it */
#define KCR_K8S_LABEL_CLAIMED_BY "kcr.dev/claimed-by"
#define KCR_K8S_ANNOT_OWNER_HOST "kcr.dev/owner-host"
#define KCR_K8S_ANNOT_OWNER_PID  "kcr.dev/owner-pid"
#define KCR_K8S_ANNOT_OWNER_POD  "kcr.dev/owner-pod" /* "namespace/name" in-cluster */
#define KCR_K8S_SELECTOR         "app.kubernetes.io/managed-by=kcr"
#define KCR_K8S_RUNNER_PORT      8080

/* The pod settings of a configuration (kubernetes.*, limits.*), read once:
 * a reload hands the provider a new configuration and frees the old. */
struct kcr_k8s_pods;

struct kcr_k8s_pods *kcr_k8s_pods_new(const struct kcr_config *cfg, kcr_error_t *err);
void kcr_k8s_pods_free(struct kcr_k8s_pods *ps);

/* What one pod is for. */
struct kcr_k8s_pod_args {
	const char *name;  /* the pod's (or the Job's) name */
	const char *role;  /* "pool", "job" or "check" */
	const char *owner; /* the replica id (a label value) */
	const char *owner_host, *owner_pod;
	long owner_pid;
	bool prewarm, preload;           /* a pool pod's: see struct kcr_sandbox_spec */
	const struct kcr_limits *limits; /* for the pre-warmed interpreter */
};

/* A v1 Pod for lang; the caller's to cJSON_Delete. */
cJSON *kcr_k8s_pod_manifest(const struct kcr_k8s_pods *ps, const struct kcr_lang *lang,
			    const struct kcr_k8s_pod_args *a);
/* A batch/v1 Job whose one pod is that Pod (backoffLimit 0,
 * ttlSecondsAfterFinished, activeDeadlineSeconds). */
cJSON *kcr_k8s_job_manifest(const struct kcr_k8s_pods *ps, const struct kcr_lang *lang,
			    const struct kcr_k8s_pod_args *a);
/* The image lang's pods run (kubernetes.image_<id>, else
 * <kubernetes.image_registry>/<id>:<kubernetes.image_tag or version>). */
const char *kcr_k8s_pods_image(const struct kcr_k8s_pods *ps, const struct kcr_lang *lang);
/* The same from a configuration, for `kcr images`: the caller's to free. */
char *kcr_k8s_lang_image(const struct kcr_config *cfg, const struct kcr_lang *lang);
const char *kcr_k8s_pods_runtime_class(const struct kcr_k8s_pods *ps);

/* The API client the configuration describes (kubernetes.kubeconfig,
 * .context, .in_cluster, .namespace, .api_timeout_ms, .api_retries);
 * *in_cluster tells which configuration it took (may be NULL). */
struct kcr_k8s *kcr_k8s_open(const struct kcr_config *cfg, bool *in_cluster, kcr_error_t *err);

/* The cluster's pools, from labelled pods: per language, how many pods
 * are ready (Ready, unclaimed), claimed, creating (not Ready yet), failed,
 * and the age of the oldest ready one. */
struct kcr_k8s_pool_count {
	char lang[16];
	unsigned int ready, claimed, creating, failed, jobs;
	uint64_t oldest_ready_s;
};
/* *out (n entries, in the language table's order, only languages with a
 * pod) is the caller's to free(). */
int kcr_k8s_pool_counts(struct kcr_k8s *k, struct kcr_k8s_pool_count **out, size_t *n,
			kcr_error_t *err);

/* A pod's state as kcr reads it (status.phase, the Ready condition). */
bool kcr_k8s_pod_is_ready(const cJSON *pod);
const char *kcr_k8s_pod_phase(const cJSON *pod);
/* Why a pod is not running: "ErrImagePull: ...", or NULL. */
const char *kcr_k8s_pod_waiting_reason(const cJSON *pod, const char **message);

#endif

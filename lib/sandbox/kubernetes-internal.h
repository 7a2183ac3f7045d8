/* The kubernetes provider's private parts, shared by kubernetes*.c. */
#ifndef KCR_KUBERNETES_INTERNAL_H
#define KCR_KUBERNETES_INTERNAL_H

#include "sandbox/kubernetes.h"
#include "sandbox/sandbox.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define KUBE_NAME_MAX 64 /* a label value's limit, +1 */

/* What the watch keeps of one of kcr's pods. */
struct kube_pod {
	char name[254];
	char rv[64];
	char lang[16], role[8], state[16];
	char owner[KUBE_NAME_MAX], claimed_by[KUBE_NAME_MAX];
	char job[KUBE_NAME_MAX]; /* label job-name: a Job's pod */
	char ip[64];
	char phase[16];
	char reason[256]; /* why it is not running, when it is not */
	char owner_host[KUBE_NAME_MAX], owner_pod[254];
	long owner_pid;
	bool ready, deleting;
	double created; /* creationTimestamp, seconds since the epoch */
};

/* The namespace's kcr pods as the watch last showed them (an informer):
 * readiness, claims and deaths are learned from it, never by polling. */
struct kube_cache {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* any event, a list, a watch error */
	struct kube_pod *pods;
	size_t n, cap;
	bool synced;  /* listed once */
	char rv[128]; /* where the watch goes on from */
	char *error;  /* the last list or watch failure, NULL once one works */
	pthread_t thread;
	bool running;
	int stop[2]; /* the thread stops when stop[0] is readable */
};

struct kube {
	struct kcr_k8s *k;
	struct kcr_k8s_pods *pods;
	char *ns;
	char *pods_path; /* /api/v1/namespaces/<ns>/pods */
	char *jobs_path; /* /apis/batch/v1/namespaces/<ns>/jobs */
	char owner[KUBE_NAME_MAX];
	char host[KUBE_NAME_MAX];
	char owner_pod[254];
	long pid;
	bool direct; /* the runner at podIP:8080, else through the pod proxy */
	uint64_t ready_timeout_ms, orphan_interval_ms, job_deadline_ms;
	struct kube_cache cache;
};

/* sb->priv */
struct kube_sb {
	char pod[254];
	char job[KUBE_NAME_MAX]; /* the Job it belongs to, or "" */
	char ip[64];
	bool mine; /* claimed by this replica, or made for one request */
};

/* kubernetes_cache.c */
int kube_cache_start(struct kube *kp, kcr_error_t *err);
void kube_cache_stop(struct kube *kp);
/* Copies pod name's entry into *out (locked); false when unknown. */
bool kube_cache_get(struct kube *kp, const char *name, struct kube_pod *out);
/* Waits (on watch events, until deadline_ms) for pod name, or a pod of Job
 * job when name is NULL, to be Ready; fills *out. KCR_E_TIMEOUT, or
 * KCR_E_BACKEND when it failed or was deleted, naming why. */
int kube_cache_wait_ready(struct kube *kp, const char *name, const char *job, uint64_t deadline_ms,
			  struct kube_pod *out, kcr_error_t *err);
/* Up to max ready, unclaimed pool pods of lang, oldest first. */
size_t kube_cache_ready_pool(struct kube *kp, const char *lang, struct kube_pod *out, size_t max);
/* Waits for the first list, until deadline_ms; false when it has not come. */
bool kube_cache_wait_synced(struct kube *kp, uint64_t deadline_ms);
/* Every pod (the caller frees *out). */
size_t kube_cache_snapshot(struct kube *kp, struct kube_pod **out);
/* Parses a pod object into *p; false when it is not one. */
bool kube_pod_parse(const cJSON *obj, struct kube_pod *p);
/* Deletes a pod (grace 0) or, for a Job's, the Job and its pods. */
int kube_delete_pod(struct kube *kp, const struct kube_pod *p, kcr_error_t *err);

/* kubernetes_orphans.c */
int kube_orphans_list(struct kube *kp, struct kcr_sandbox_ref **out, size_t *n, kcr_error_t *err);
int kube_orphans_adopt(struct kube *kp, const struct kcr_sandbox_ref *ref, kcr_error_t *err);
/* One sweep: adopts every orphan; logs what it did. */
void kube_orphans_sweep(struct kube *kp);
void kube_owner_init(struct kube *kp);

/* kubernetes_runner.c: the runner of sb, directly or through the proxy */
int kube_runner_exec(struct kube *kp, struct kcr_sandbox *sb, const struct kcr_exec_request *req,
		     struct kcr_exec_result *res, kcr_error_t *err);
int kube_runner_put(struct kube *kp, struct kcr_sandbox *sb, const char *name, const void *buf,
		    size_t len, kcr_error_t *err);
int kube_runner_get(struct kube *kp, struct kcr_sandbox *sb, const char *name, uint64_t max,
		    int out, uint64_t *len, kcr_error_t *err);
int kube_runner_health(struct kube *kp, struct kcr_sandbox *sb, kcr_error_t *err);

#endif

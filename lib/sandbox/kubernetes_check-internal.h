/* `kcr cluster check`'s private parts, shared by kubernetes_check*.c. */
#ifndef KCR_KUBERNETES_CHECK_INTERNAL_H
#define KCR_KUBERNETES_CHECK_INTERNAL_H

#include "sandbox/kubernetes.h"
#include "sandbox/kubernetes_check.h"

#include <stdbool.h>
#include <stdint.h>

struct check_run {
	const struct kcr_config *cfg;
	const struct kcr_k8s_check_opts *o;
	struct kcr_k8s_check_report *rep;
	struct kcr_k8s *k;
	struct kcr_k8s_pods *pods;
	const char *ns;
	char *pods_path; /* /api/v1/namespaces/<ns>/pods */
	bool in_cluster;
	bool direct; /* the runner at podIP:8080, else through the pod proxy */
	uint64_t timeout_ms;
	char owner[64], host[64], owner_pod[254];
};

/* One test pod: made, watched until Ready, its runner asked /health. */
struct check_pod {
	struct check_run *r;
	const struct kcr_lang *lang;
	char name[64];
	char ip[64];
	bool created, ready;
	char *why, *fix;   /* when it failed */
	char pending[256]; /* what it waits for, as last seen */
	/* since the create request, in ms */
	uint64_t t0, scheduled_ms, started_ms, ready_ms, health_ms, failed_ms;
};

/* kubernetes_check.c: adds a result and reports it. fix may be NULL. */
void check_add(struct check_run *r, const char *name, bool ok, uint64_t ms, const char *fix,
	       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void check_skip(struct check_run *r, const char *name, const char *why);
bool check_stopped(const struct check_run *r);
/* Adds an item to *list (NULL: empty), after sep. */
void check_list_add(char **list, const char *sep, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* kubernetes_check_pods.c: each pod of pods[n] in a thread of its own;
 * returns once all are Ready, failed or timed out. */
void check_pods_run(struct check_pod *pods, size_t n);
/* Deletes the pods that were made. */
void check_pods_delete(struct check_pod *pods, size_t n);
/* kubernetes_check_egress.c: the NetworkPolicy check, in pod p (Ready). */
void check_egress(struct check_run *r, const struct check_pod *p);

#endif

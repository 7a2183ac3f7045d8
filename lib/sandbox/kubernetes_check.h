/* `kcr cluster check`: can kcr run its sandboxes in this cluster? The
 * API server answers, the namespace is there, RBAC lets kcr do what the
 * kubernetes provider does, the runtimeClass exists, every pooled
 * language's image pulls and its runner answers, and a sandbox pod cannot
 * reach the internet nor kcr serve. Each check ends as one result: ok with
 * its numbers, or what is wrong and how to fix it. */
#ifndef KCR_KUBERNETES_CHECK_H
#define KCR_KUBERNETES_CHECK_H

#include "base/settings.h"
#include "base/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kcr_k8s_check {
	char *name;   /* "API server", "namespace kcr", "RBAC pods", "image py", ... */
	bool ok;      /* false: failed, or skipped */
	bool skipped; /* not run: a check before it failed (detail says which) */
	char *detail; /* ok: the numbers ("v1.30.2, 12 ms"); else what is wrong */
	char *fix;    /* how to fix it, or NULL */
	uint64_t ms;  /* how long it took */
};

/* Called as each check ends, in the order they are reported. */
typedef void (*kcr_k8s_check_fn)(void *arg, const struct kcr_k8s_check *c);

struct kcr_k8s_check_opts {
	/* language ids whose image is tested; NULL or empty: those with
	 * pool.<id> > 0 (py when none is) */
	const char *const *langs;
	/* where kcr serve listens, for the NetworkPolicy check; NULL: $POD_IP:8000
	 * when kcr runs in a pod, else that half is not checked */
	const char *serve_address;
	const char *egress_target; /* HOST:PORT on the internet; NULL: 1.1.1.1:443 */
	uint64_t timeout_ms;       /* per test pod, until Ready (0: kubernetes.ready_timeout) */
	int stop_fd;               /* > 0: stop (and clean up) once it is readable */
	kcr_k8s_check_fn report;   /* may be NULL */
	void *arg;
};

struct kcr_k8s_check_report {
	struct kcr_k8s_check *checks;
	size_t n;
	unsigned int failed; /* skipped ones not counted */
	bool interrupted;    /* stop_fd became readable */
};

/* Runs the checks on the cluster that cfg's kubernetes.* settings describe.
 * A failed check is no error: it is in *rep (rep->failed). -1 with err only
 * when the configuration cannot be used at all (no kubeconfig, bad
 * settings). Every test pod it made is deleted before it returns. */
int kcr_k8s_check_run(const struct kcr_config *cfg, const struct kcr_k8s_check_opts *o,
		      struct kcr_k8s_check_report *rep, kcr_error_t *err);
void kcr_k8s_check_report_release(struct kcr_k8s_check_report *rep);

/* "HOST:PORT" (HOST may be "[v6]") with a port of 1 to 65535. */
bool kcr_k8s_check_host_port_valid(const char *s);

#endif

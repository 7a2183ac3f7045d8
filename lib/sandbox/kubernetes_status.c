/* The cluster as kcr's commands see it: the API client the configuration
 * describes, and the pools counted from labelled pods (`kcr pool status`
 * with sandbox.provider kubernetes: every replica's pods, not only one
 * server's). */
#include <config.h>

#include "sandbox/kubernetes-internal.h"
#include "base/clock.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
in_cluster_choice(const struct kcr_config *cfg, int *choice, kcr_error_t *err)
{
	const char *v = kcr_config_str(cfg, "kubernetes.in_cluster");

	if (strcmp(v, "auto") == 0)
		*choice = -1;
	else if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
		*choice = strcmp(v, "true") == 0;
	else
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "kubernetes.in_cluster: '%s' is not auto, true or false", v);
	return 0;
}

static int
load_config(const struct kcr_config *cfg, struct kcr_k8s_config *kc, kcr_error_t *err)
{
	const char *kubeconfig = kcr_config_str(cfg, "kubernetes.kubeconfig");
	const char *context = kcr_config_str(cfg, "kubernetes.context");
	const char *sa_dir = kcr_config_str(cfg, "kubernetes.sa_dir");
	int choice;

	if (in_cluster_choice(cfg, &choice, err) < 0)
		return -1;
	kubeconfig = kubeconfig && *kubeconfig ? kubeconfig : NULL;
	context = context && *context ? context : NULL;
	if (choice == 1)
		return kcr_k8s_config_load_in_cluster(kc, sa_dir, err);
	if (choice == 0)
		return kcr_k8s_config_load_kubeconfig(kc, kubeconfig, context, err);
	/* auto: a kubeconfig when there is one, else the service account */
	if (kcr_k8s_config_load_kubeconfig(kc, kubeconfig, context, err) == 0)
		return 0;
	if (kubeconfig || access(sa_dir, F_OK) != 0 || getenv("KUBERNETES_SERVICE_HOST") == NULL)
		return -1;
	kcr_error_release(err);
	kcr_k8s_config_release(kc);
	return kcr_k8s_config_load_in_cluster(kc, sa_dir, err);
}

struct kcr_k8s *
kcr_k8s_open(const struct kcr_config *cfg, bool *in_cluster, kcr_error_t *err)
{
	struct kcr_k8s_config kc = { 0 };
	struct kcr_k8s_opts o = {
		.timeout_ms = (uint64_t)kcr_config_int(cfg, "kubernetes.api_timeout_ms"),
		.retries = (unsigned int)kcr_config_int(cfg, "kubernetes.api_retries"),
	};
	const char *ns = kcr_config_str(cfg, "kubernetes.namespace");
	struct kcr_k8s *k;

	if (load_config(cfg, &kc, err) < 0) {
		kcr_k8s_config_release(&kc);
		return NULL;
	}
	if (ns && *ns) {
		free(kc.namespace);
		kc.namespace = kcr_xstrdup(ns);
	}
	if (in_cluster)
		*in_cluster = kc.in_cluster;
	k = kcr_k8s_new(&kc, &o, err);
	kcr_k8s_config_release(&kc);
	return k;
}

static struct kcr_k8s_pool_count *
count_for(struct kcr_k8s_pool_count *counts, const char *lang)
{
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		if (strcmp(kcr_lang_at(i)->id, lang) == 0)
			return &counts[i];
	}
	return NULL;
}

static void
count_pod(struct kcr_k8s_pool_count *c, const struct kube_pod *p, double now)
{
	if (strcmp(p->role, "job") == 0) {
		c->jobs++;
		return;
	}
	if (strcmp(p->role, "pool") != 0)
		return;
	if (strcmp(p->phase, "Failed") == 0 || *p->reason)
		c->failed++;
	else if (strcmp(p->state, "claimed") == 0)
		c->claimed++;
	else if (!p->ready || p->deleting)
		c->creating++;
	else {
		uint64_t age =
			p->created > 0 && now > p->created ? (uint64_t)(now - p->created) : 0;

		c->ready++;
		c->oldest_ready_s = age > c->oldest_ready_s ? age : c->oldest_ready_s;
	}
}

int
kcr_k8s_pool_counts(struct kcr_k8s *k, struct kcr_k8s_pool_count **out, size_t *n, kcr_error_t *err)
{
	kcr_autofree char *sel = kcr_k8s_query_escape(KCR_K8S_SELECTOR);
	kcr_autofree char *path = kcr_strdup_printf("/api/v1/namespaces/%s/pods?labelSelector=%s",
						    kcr_k8s_namespace(k), sel);
	struct kcr_k8s_pool_count *all;
	double now = kcr_wall_time();
	cJSON *list = NULL;
	const cJSON *it;

	if (kcr_k8s_get(k, path, &list, err) < 0)
		return -1;
	all = kcr_xzalloc(kcr_lang_count() * sizeof(*all));
	cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(list, "items")) {
		struct kube_pod p;
		struct kcr_k8s_pool_count *c;

		if (kube_pod_parse(it, &p) && (c = count_for(all, p.lang)) != NULL)
			count_pod(c, &p, now);
	}
	cJSON_Delete(list);
	*n = 0;
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		const struct kcr_k8s_pool_count *c = &all[i];

		if (c->ready + c->claimed + c->creating + c->failed + c->jobs == 0)
			continue;
		all[*n] = *c;
		snprintf(all[*n].lang, sizeof(all[*n].lang), "%s", kcr_lang_at(i)->id);
		(*n)++;
	}
	*out = all;
	return 0;
}

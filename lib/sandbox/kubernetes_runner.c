/* A pod's kcr-runner: at podIP:8080 when kcr runs in the cluster, else
 * through the API server's pod proxy (kcr outside the cluster cannot
 * reach pod IPs). The wire format is the local provider's (runner/proto.h),
 * so files and the Python state travel exactly as they do there. */
#include <config.h>

#include "sandbox/kubernetes-internal.h"
#include "sandbox/runner_client.h"
#include "runner/proto.h"
#include "base/encode.h"
#include "base/ids.h"
#include "base/util.h"

#include <string.h>

/* An execution's reply holds base64 output and state: the runner client's
 * bound, and as long as the execution may take plus a margin. */
#define REPLY_MAX (512ull << 20)
#define MARGIN_MS 60000

/* Why the runner stopped answering: the pod died. */
static int
explain_lost(struct kube *kp, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct kube_sb *ks = sb->priv;
	struct kube_pod p;

	if (!kube_cache_get(kp, ks->pod, &p))
		return kcr_error_wrap(err, "sandbox pod %s was deleted during the execution",
				      ks->pod);
	if (strcmp(p.phase, "Failed") == 0 || strcmp(p.phase, "Succeeded") == 0 || p.deleting)
		return kcr_error_wrap(err, "sandbox pod %s died during the execution (%s%s%s)",
				      ks->pod, p.deleting ? "deleted" : p.phase,
				      *p.reason ? ", " : "", p.reason);
	return kcr_error_wrap(err, "sandbox pod %s", ks->pod);
}

static int
proxy_exec(struct kube *kp, struct kcr_sandbox *sb, const struct kcr_exec_request *req,
	   struct kcr_exec_result *res, kcr_error_t *err)
{
	struct kube_sb *ks = sb->priv;
	kcr_autofree char *body = kcr_proto_exec_req_encode(req);
	kcr_autofree char *reply = NULL;
	uint64_t len = 0;

	if (kcr_k8s_proxy(kp->k, ks->pod, KCR_K8S_RUNNER_PORT, "POST", "/execute", body,
			  strlen(body), req->limits.timeout_ms + MARGIN_MS, REPLY_MAX, -1, &len,
			  &reply, NULL, err) < 0)
		return -1;
	return kcr_proto_exec_res_decode(reply, (size_t)len, res, err);
}

/* pids 0: RLIMIT_NPROC would count every process of the pod's uid on the
 * node, other pods' too; the pod's pids limit is the kubelet's. */
int
kube_runner_exec(struct kube *kp, struct kcr_sandbox *sb, const struct kcr_exec_request *req,
		 struct kcr_exec_result *res, kcr_error_t *err)
{
	struct kcr_exec_request r = *req;
	int ret;

	r.limits.pids = 0;
	if (kp->direct)
		ret = kcr_runner_execute(sb->endpoint, &r, res, err);
	else
		ret = proxy_exec(kp, sb, &r, res, err);
	return ret < 0 ? explain_lost(kp, sb, err) : 0;
}

/* A file's name is one path component. Through the proxy the runner
 * would not see some of the others: "", "." and ".." are dot segments
 * that the URL's path loses on its way ("/files/." is "/files/"), so
 * GET would reach another route. */
static int
check_name(const char *name, kcr_error_t *err)
{
	if (!kcr_name_is_safe(name))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid file name '%s'",
				     name ? name : "");
	return 0;
}

int
kube_runner_put(struct kube *kp, struct kcr_sandbox *sb, const char *name, const void *buf,
		size_t len, kcr_error_t *err)
{
	struct kube_sb *ks = sb->priv;
	kcr_autofree char *esc = NULL, *path = NULL;

	if (check_name(name, err) < 0)
		return -1;
	if (kp->direct)
		return kcr_runner_put_file(sb->endpoint, name, buf, len, err);
	esc = kcr_percent_encode(name);
	path = kcr_strdup_printf("/files?name=%s", esc);
	return kcr_k8s_proxy(kp->k, ks->pod, KCR_K8S_RUNNER_PORT, "POST", path, buf, len, 0,
			     1 << 20, -1, NULL, NULL, NULL, err);
}

int
kube_runner_get(struct kube *kp, struct kcr_sandbox *sb, const char *name, uint64_t max, int out,
		uint64_t *len, kcr_error_t *err)
{
	struct kube_sb *ks = sb->priv;
	kcr_autofree char *esc = NULL, *path = NULL;

	if (check_name(name, err) < 0)
		return -1;
	if (kp->direct)
		return kcr_runner_get_file(sb->endpoint, name, max, out, len, err);
	esc = kcr_percent_encode(name);
	path = kcr_strdup_printf("/files/%s", esc);
	return kcr_k8s_proxy(kp->k, ks->pod, KCR_K8S_RUNNER_PORT, "GET", path, NULL, 0, 0, max, out,
			     len, NULL, NULL, err);
}

int
kube_runner_health(struct kube *kp, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct kube_sb *ks = sb->priv;

	if (kp->direct)
		return kcr_runner_health(sb->endpoint, err);
	return kcr_k8s_proxy(kp->k, ks->pod, KCR_K8S_RUNNER_PORT, "GET", "/health", NULL, 0, 0,
			     1 << 16, -1, NULL, NULL, NULL, err);
}

/* kcr_k8s_check_run() without a cluster: what it says when the API server
 * does not answer, and when the configuration cannot be used at all. With
 * a cluster (the API simulator) it is tested by
 * tests/integration/150-cluster-check.bats. */
#include <config.h>

#include "sandbox/kubernetes_check.h"
#include "base/files.h"
#include "base/util.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char dir[] = "/tmp/kcr-test-k8s-check.XXXXXX";

static int
test_host_port(void)
{
	static const char *const good[] = { "1.1.1.1:443", "kcr.kcr.svc:8000", "[fd00::1]:8000",
					    "h:1", "h:65535" };
	static const char *const bad[] = { "1.1.1.1", ":443", "h:",       "h:0",       "h:65536",
					   "h:80x",   "",     "[fd00::1", "fd00::1]:", NULL };

	for (size_t i = 0; i < KCR_ARRAY_SIZE(good); i++)
		if (!kcr_k8s_check_host_port_valid(good[i]))
			TAP_FAIL("'%s' refused", good[i]);
	for (size_t i = 0; bad[i]; i++)
		if (kcr_k8s_check_host_port_valid(bad[i]))
			TAP_FAIL("'%s' taken", bad[i]);
	TAP_ASSERT(!kcr_k8s_check_host_port_valid(NULL));
	return 0;
}

/* A port nothing listens on (bound, then closed). */
static int
closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &n) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static struct kcr_config *
config_for(const char *kubeconfig)
{
	struct kcr_config *cfg = kcr_config_new();

	if (kcr_config_set(cfg, "kubernetes.kubeconfig", kubeconfig, KCR_SRC_FLAG, NULL) < 0 ||
	    kcr_config_set(cfg, "kubernetes.in_cluster", "false", KCR_SRC_FLAG, NULL) < 0 ||
	    kcr_config_set(cfg, "kubernetes.api_retries", "0", KCR_SRC_FLAG, NULL) < 0 ||
	    kcr_config_set(cfg, "kubernetes.api_timeout_ms", "3000", KCR_SRC_FLAG, NULL) < 0)
		abort();
	return cfg;
}

struct seen {
	unsigned int n;
	char first[128];
};

static void
on_check(void *arg, const struct kcr_k8s_check *c)
{
	struct seen *s = arg;

	if (s->n++ == 0)
		snprintf(s->first, sizeof(s->first), "%s", c->name);
}

static int
test_api_server_down(void)
{
	int port = closed_port();
	kcr_autofree char *path = kcr_strdup_printf("%s/kubeconfig", dir);
	kcr_autofree char *kc = kcr_strdup_printf(
		"apiVersion: v1\nkind: Config\ncurrent-context: c\n"
		"clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:%d\n"
		"users:\n- name: u\n  user:\n    token: t0ken\n"
		"contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: "
		"kcr\n",
		port);
	kcr_autofree char *want = kcr_strdup_printf("API server https://127.0.0.1:%d", port);
	struct kcr_config *cfg = config_for(path);
	struct seen seen = { 0 };
	struct kcr_k8s_check_opts o = { .report = on_check, .arg = &seen };
	struct kcr_k8s_check_report rep;
	kcr_error_t err = NULL;
	int r;

	if (kcr_write_file(path, kc, strlen(kc), 0600, NULL) < 0)
		TAP_FAIL("cannot write %s", path);
	r = kcr_k8s_check_run(cfg, &o, &rep, &err);
	kcr_config_free(cfg);
	if (r < 0)
		TAP_FAIL("%s", err->msg);
	/* one check, failed, with a fix; nothing else was asked */
	TAP_ASSERT(rep.n == 1 && rep.failed == 1 && !rep.interrupted);
	TAP_STREQ(rep.checks[0].name, want);
	TAP_ASSERT(!rep.checks[0].ok && !rep.checks[0].skipped);
	TAP_ASSERT(rep.checks[0].detail && *rep.checks[0].detail);
	TAP_ASSERT(rep.checks[0].fix && strstr(rep.checks[0].fix, "kubernetes.kubeconfig"));
	/* reported as it ended */
	TAP_ASSERT(seen.n == 1);
	TAP_STREQ(seen.first, want);
	kcr_k8s_check_report_release(&rep);
	TAP_ASSERT(rep.n == 0 && rep.checks == NULL);
	return 0;
}

static int
test_interrupted_before(void)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/kubeconfig", dir);
	struct kcr_config *cfg = config_for(path);
	struct kcr_k8s_check_opts o = { 0 };
	struct kcr_k8s_check_report rep;
	kcr_error_t err = NULL;
	int p[2], r;

	/* the API server check fails first: nothing to stop any more */
	if (pipe(p) < 0 || write(p[1], "x", 1) != 1)
		TAP_FAIL("pipe");
	o.stop_fd = p[0];
	r = kcr_k8s_check_run(cfg, &o, &rep, &err);
	close(p[0]);
	close(p[1]);
	kcr_config_free(cfg);
	TAP_ASSERT(r == 0 && rep.n == 1 && rep.failed == 1);
	kcr_k8s_check_report_release(&rep);
	return 0;
}

static int
test_no_configuration(void)
{
	struct kcr_config *cfg = config_for("/nonexistent/kubeconfig");
	struct kcr_k8s_check_opts o = { 0 };
	struct kcr_k8s_check_report rep;
	kcr_error_t err = NULL;
	int r = kcr_k8s_check_run(cfg, &o, &rep, &err);

	kcr_config_free(cfg);
	TAP_ASSERT(r == -1 && err != NULL);
	TAP_ASSERT(strstr(err->msg, "/nonexistent/kubeconfig") != NULL);
	TAP_ASSERT(rep.n == 0);
	kcr_error_free(err);

	/* a setting the pods cannot be made with */
	cfg = config_for("/nonexistent/kubeconfig");
	if (kcr_config_set(cfg, "kubernetes.node_selector", "[1]", KCR_SRC_FLAG, NULL) < 0)
		abort();
	err = NULL;
	r = kcr_k8s_check_run(cfg, &o, &rep, &err);
	kcr_config_free(cfg);
	TAP_ASSERT(r == -1 && err && strstr(err->msg, "kubernetes.node_selector"));
	kcr_error_free(err);
	return 0;
}

int
main(void)
{
	int r;

	if (mkdtemp(dir) == NULL)
		abort();
	TAP_PLAN(4);
	RUN_TEST(test_host_port);
	RUN_TEST(test_api_server_down);
	RUN_TEST(test_interrupted_before);
	RUN_TEST(test_no_configuration);
	r = TAP_DONE();
	kcr_rm_rf(dir);
	return r;
}

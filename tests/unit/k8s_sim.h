/* The Kubernetes API simulator (tests/k8s/kube-sim.py; $KCR_K8S_SIM names
 * another, the default is $KCR_SRCDIR/tests/k8s/kube-sim.py) as the unit
 * tests start it: in a fresh folder, its pods running $KCR_RUNNER, with a
 * client as its admin. */
#ifndef KCR_TEST_K8S_SIM_H
#define KCR_TEST_K8S_SIM_H

#include "sandbox/k8s.h"
#include "servers.h"

struct test_sim {
	struct test_server srv; /* srv.dir: the folder, the simulator's log in it */
	char *simdir;           /* <folder>/sim: its DIR (pki, kubeconfig, pods...) */
	int port;
	struct kcr_k8s *admin; /* DIR/kubeconfig's client */
};

/* Short timeouts and quick retries, for a local server. */
extern const struct kcr_k8s_opts test_sim_opts;

/* Starts one: 0; 77 (said on stdout) when python3 or the simulator is not
 * there; -1 when it did not start (its log on stderr). s is empty first. */
int test_sim_start(struct test_sim *s);
/* Stops it (kube-sim --stop: every pod with it), kills what its pods left
 * running and removes the folder. Safe on one that never started. */
void test_sim_stop(struct test_sim *s);
/* DIR/name; free(). */
char *test_sim_file(const struct test_sim *s, const char *name);
/* A client from the kubeconfig DIR/kubeconfig_name, or NULL (said on
 * stderr). */
struct kcr_k8s *test_sim_client(const struct test_sim *s, const char *kubeconfig_name);
/* POST /sim/<what> with body, as the admin: 0 or -1 (said on stderr). */
int test_sim_control(const struct test_sim *s, const char *what, const char *body);
/* The kcr-runner the pods run: $KCR_RUNNER, else runner/kcr-runner. */
const char *test_sim_runner(void);

#endif

/* The Kubernetes API simulator as the unit tests start it (k8s_sim.h). */
#include <config.h>

#include "base/files.h"
#include "base/util.h"
#include "k8s_sim.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const struct kcr_k8s_opts test_sim_opts = {
	.timeout_ms = 5000, .retries = 3, .backoff_ms = 20, .backoff_max_ms = 200
};

char *
test_sim_file(const struct test_sim *s, const char *name)
{
	return kcr_strdup_printf("%s/%s", s->simdir, name);
}

const char *
test_sim_runner(void)
{
	return getenv("KCR_RUNNER") ? getenv("KCR_RUNNER") : "runner/kcr-runner";
}

static const char *
sim_script(void)
{
	static char *dflt;
	const char *srcdir = getenv("KCR_SRCDIR") ? getenv("KCR_SRCDIR") : ".";

	if (getenv("KCR_K8S_SIM"))
		return getenv("KCR_K8S_SIM");
	if (dflt == NULL)
		dflt = kcr_strdup_printf("%s/tests/k8s/kube-sim.py", srcdir);
	return dflt;
}

/* Kills what the simulator's pods run (their sessions are their own). */
static void
kill_pods(const struct test_sim *s)
{
	kcr_autofree char *pods = test_sim_file(s, "pods");
	DIR *d = opendir(pods);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL) {
		kcr_autofree char *pd = kcr_strdup_printf("%s/%s", pods, e->d_name);
		DIR *p = e->d_name[0] == '.' ? NULL : opendir(pd);
		struct dirent *f;

		while (p && (f = readdir(p)) != NULL) {
			kcr_autofree char *path = kcr_strdup_printf("%s/%s", pd, f->d_name);
			kcr_autofree char *text = NULL;
			size_t len;

			if (strncmp(f->d_name, "pid.", 4) == 0 &&
			    kcr_read_file(path, 64, &text, &len, NULL) == 0 && atoi(text) > 1)
				kill(atoi(text), SIGKILL);
		}
		if (p)
			closedir(p);
	}
	if (d)
		closedir(d);
}

void
test_sim_stop(struct test_sim *s)
{
	kcr_k8s_free(s->admin);
	s->admin = NULL;
	if (s->srv.pid > 0) { /* the simulator and every pod it started */
		kcr_autofree char *cmd =
			kcr_strdup_printf("/usr/bin/python3 '%s' --dir '%s' --stop >/dev/null 2>&1",
					  sim_script(), s->simdir);

		if (system(cmd) != 0)
			fprintf(stderr, "# kube-sim --stop failed\n");
	}
	test_server_stop(&s->srv);
	if (s->simdir)
		kill_pods(s); /* what a simulator without --stop left */
	if (s->srv.dir[0])
		kcr_rm_rf(s->srv.dir);
	s->srv.dir[0] = '\0';
	free(s->simdir);
	s->simdir = NULL;
}

struct kcr_k8s *
test_sim_client(const struct test_sim *s, const char *kubeconfig_name)
{
	kcr_autofree char *path = test_sim_file(s, kubeconfig_name);
	struct kcr_k8s_config c;
	struct kcr_k8s *k;
	kcr_error_t err = NULL;

	if (kcr_k8s_config_load_kubeconfig(&c, path, NULL, &err) < 0) {
		fprintf(stderr, "# %s\n", err->msg);
		kcr_error_release(&err);
		return NULL;
	}
	k = kcr_k8s_new(&c, &test_sim_opts, &err);
	kcr_k8s_config_release(&c);
	if (k == NULL) {
		fprintf(stderr, "# %s\n", err->msg);
		kcr_error_release(&err);
	}
	return k;
}

/* Waits for DIR/port: the simulator listens. */
static int
wait_port(struct test_sim *s)
{
	kcr_autofree char *port_file = test_sim_file(s, "port");
	kcr_autofree char *log = NULL, *text = NULL;
	size_t len;

	for (int i = 0; i < 600 && s->port == 0; i++) {
		kcr_autofree char *p = NULL;

		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
		if (kcr_read_file(port_file, 64, &p, &len, NULL) == 0)
			s->port = atoi(p);
		else if (kill(s->srv.pid, 0) < 0)
			break;
	}
	if (s->port > 0)
		return 0;
	log = kcr_strdup_printf("%s/log", s->srv.dir);
	kcr_read_file(log, 1 << 16, &text, &len, NULL);
	fprintf(stderr, "# the simulator did not start:\n%s\n", text ? text : "");
	return -1;
}

static int
spawn(struct test_sim *s, const char *script)
{
	char *const argv[] = { "/usr/bin/python3",  (char *)script, "--dir",
			       s->simdir,           "--runner",     (char *)test_sim_runner(),
			       "--probe-period-ms", "100",          NULL };

	return test_server_spawn(&s->srv, argv, NULL);
}

int
test_sim_start(struct test_sim *s)
{
	const char *script = sim_script();

	s->srv.pid = -1;
	if (access("/usr/bin/python3", X_OK) != 0 || access(script, R_OK) != 0) {
		printf("# no simulator at %s (KCR_K8S_SIM): skipped\n", script);
		return 77;
	}
	strcpy(s->srv.dir, "/tmp/kcr-test-k8s-sim.XXXXXX");
	if (mkdtemp(s->srv.dir) == NULL) {
		s->srv.dir[0] = '\0';
		return -1;
	}
	s->simdir = kcr_strdup_printf("%s/sim", s->srv.dir);
	if (spawn(s, script) < 0 || wait_port(s) < 0)
		return -1;
	s->admin = test_sim_client(s, "kubeconfig");
	return s->admin ? 0 : -1;
}

int
test_sim_control(const struct test_sim *s, const char *what, const char *body)
{
	kcr_autofree char *path = kcr_strdup_printf("/sim/%s", what);
	kcr_error_t err = NULL;

	if (kcr_k8s_request(s->admin, "POST", path, NULL, body, NULL, NULL, &err) < 0) {
		fprintf(stderr, "# %s: %s\n", path, err->msg);
		kcr_error_release(&err);
		return -1;
	}
	return 0;
}

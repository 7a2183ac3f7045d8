/* Where the cluster is and who we are (lib/sandbox/k8s_config.c,
 * k8s_auth.c): kubeconfigs written here into a temporary folder (tokens,
 * certificates and CAs as data and as files, contexts, relative paths,
 * the namespace's default, exec plugins as small shell scripts, broken
 * files), the pod's service account, and a token file that rotates. */
#include <config.h>

#include "base/encode.h"
#include "base/files.h"
#include "base/util.h"
#include "sandbox/k8s-internal.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

/* Writes dir/name; returns its path (the caller's). */
static char *
put(const char *name, const char *text)
{
	char *path = kcr_strdup_printf("%s/%s", dir, name);
	char *slash = strrchr(path, '/');

	*slash = '\0';
	kcr_mkdir_p(path, 0700, NULL);
	*slash = '/';
	if (kcr_write_file(path, text, strlen(text), 0700, NULL) < 0)
		fprintf(stderr, "# cannot write %s\n", path);
	return path;
}

static char *
b64(const char *s)
{
	return kcr_base64_encode(s, strlen(s));
}

#define CA_PEM   "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nME\n-----END CERTIFICATE-----\n"
#define KEY_PEM  "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n"

/* A kubeconfig with two clusters, three users and four contexts. */
static char *
kubeconfig(const char *name)
{
	kcr_autofree char *ca = b64(CA_PEM), *cert = b64(CERT_PEM), *key = b64(KEY_PEM);
	kcr_autofree char *text =
		kcr_strdup_printf("apiVersion: v1\n"
				  "kind: Config\n"
				  "current-context: tok\n"
				  "clusters:\n"
				  "- name: one\n"
				  "  cluster:\n"
				  "    server: https://10.0.0.1:6443\n"
				  "    certificate-authority-data: %s\n"
				  "- name: two\n"
				  "  cluster:\n"
				  "    server: https://two.example:443/\n"
				  "    certificate-authority: pki/ca.crt\n"
				  "    insecure-skip-tls-verify: true\n"
				  "users:\n"
				  "- name: tokuser\n"
				  "  user:\n"
				  "    token: sekret\n"
				  "- name: certdata\n"
				  "  user:\n"
				  "    client-certificate-data: %s\n"
				  "    client-key-data: \"%.10s\n      %s\"\n" /* folded base64 */
				  "- name: certfiles\n"
				  "  user:\n"
				  "    client-certificate: pki/me.crt\n"
				  "    client-key: %s/pki/me.key\n"
				  "    tokenFile: pki/token\n"
				  "contexts:\n"
				  "- name: tok\n"
				  "  context: {cluster: one, user: tokuser, namespace: kcr}\n"
				  "- name: data\n"
				  "  context:\n"
				  "    cluster: one\n"
				  "    user: certdata\n"
				  "- name: files\n"
				  "  context:\n"
				  "    cluster: two\n"
				  "    user: certfiles\n"
				  "    namespace: ~\n"
				  "- name: anon\n"
				  "  context:\n"
				  "    cluster: two\n",
				  ca, cert, key, key + 10, dir);

	return put(name, text);
}

static int
test_token_and_ca_data(void)
{
	kcr_autofree char *path = kubeconfig("kc/config");
	struct kcr_k8s_config c;
	kcr_error_t err = NULL;

	if (kcr_k8s_config_load_kubeconfig(&c, path, NULL, &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_STREQ(c.server, "https://10.0.0.1:6443");
	TAP_STREQ(c.context, "tok");
	TAP_STREQ(c.namespace, "kcr");
	TAP_STREQ(c.token, "sekret");
	TAP_STREQ(c.ca_pem, CA_PEM);
	TAP_ASSERT(c.ca_file == NULL && c.cert_pem == NULL && c.token_file == NULL);
	TAP_ASSERT(!c.in_cluster && !c.insecure_skip_tls_verify);
	kcr_k8s_config_release(&c);
	return 0;
}

static int
test_cert_data(void)
{
	kcr_autofree char *path = kubeconfig("kc/config");
	struct kcr_k8s_config c;
	kcr_error_t err = NULL;

	if (kcr_k8s_config_load_kubeconfig(&c, path, "data", &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_STREQ(c.context, "data");
	TAP_STREQ(c.namespace, "default");
	TAP_STREQ(c.cert_pem, CERT_PEM);
	TAP_STREQ(c.key_pem, KEY_PEM);
	TAP_ASSERT(c.token == NULL && c.cert_file == NULL && c.key_file == NULL);
	kcr_k8s_config_release(&c);
	return 0;
}

/* Relative names are relative to the kubeconfig's folder, not ours. */
static int
test_files_relative(void)
{
	kcr_autofree char *path = kubeconfig("kc/config");
	kcr_autofree char *ca = put("kc/pki/ca.crt", CA_PEM);
	kcr_autofree char *crt = put("kc/pki/me.crt", CERT_PEM);
	kcr_autofree char *key = put("pki/me.key", KEY_PEM);
	kcr_autofree char *tok = put("kc/pki/token", "filetoken\n");
	struct kcr_k8s_config c;
	kcr_error_t err = NULL;

	if (kcr_k8s_config_load_kubeconfig(&c, path, "files", &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_STREQ(c.server, "https://two.example:443/");
	TAP_STREQ(c.ca_file, ca);
	TAP_STREQ(c.cert_file, crt);
	TAP_STREQ(c.key_file, key);
	TAP_STREQ(c.token_file, tok);
	TAP_STREQ(c.namespace, "default");
	TAP_ASSERT(c.insecure_skip_tls_verify);
	kcr_k8s_config_release(&c);

	/* no user: anonymous */
	if (kcr_k8s_config_load_kubeconfig(&c, path, "anon", &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_ASSERT(c.token == NULL && c.cert_file == NULL && c.exec_command == NULL);
	kcr_k8s_config_release(&c);
	return 0;
}

/* $KUBECONFIG's first file, else ~/.kube/config; kcr_k8s_config_load
 * takes either before the pod's service account. */
static int
test_default_paths(void)
{
	kcr_autofree char *path = kubeconfig("kc/config");
	kcr_autofree char *other = kubeconfig("home/.kube/config");
	kcr_autofree char *home = kcr_strdup_printf("%s/home", dir);
	kcr_autofree char *env = kcr_strdup_printf(":%s:%s", path, other);
	kcr_autofree char *nohome = kcr_strdup_printf("%s/nohome", dir);
	struct kcr_k8s_config c;
	kcr_error_t err = NULL;

	setenv("HOME", home, 1);
	setenv("KUBECONFIG", env, 1);
	setenv("KUBERNETES_SERVICE_HOST", "10.9.9.9", 1);
	if (kcr_k8s_config_load(&c, NULL, "data", &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_STREQ(c.context, "data");
	TAP_ASSERT(!c.in_cluster);
	kcr_k8s_config_release(&c);
	unsetenv("KUBECONFIG");
	if (kcr_k8s_config_load_kubeconfig(&c, NULL, NULL, &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_STREQ(c.context, "tok");
	kcr_k8s_config_release(&c);

	/* neither: the error names both */
	setenv("HOME", nohome, 1);
	unsetenv("KUBERNETES_SERVICE_HOST");
	TAP_ASSERT(kcr_k8s_config_load(&c, NULL, NULL, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_UNAVAILABLE);
	TAP_ASSERT(strstr(err->msg, "nohome/.kube/config") != NULL);
	TAP_ASSERT(strstr(err->msg, "KUBERNETES_SERVICE_HOST") != NULL);
	kcr_error_release(&err);
	return 0;
}

/* Each broken kubeconfig says which file and which key. */
static int
test_broken(void)
{
	static const struct {
		const char *yaml, *context, *want;
	} cases[] = {
		{ "clusters: []\n", NULL, "has no current-context" },
		{ "current-context: x\ncontexts: []\n", NULL, "no context 'x' in contexts" },
		{ "contexts:\n- name: c\n  context: {cluster: nope, user: u}\n", "c",
		  "context 'c' names cluster 'nope', which is not in clusters" },
		{ "contexts:\n- name: c\n  context: {user: u}\n", "c",
		  "contexts[c] has no context.cluster" },
		{ "clusters:\n- name: k\n  cluster: {server: https://x}\ncontexts:\n- name: c\n"
		  "  context: {cluster: k, user: u}\n",
		  "c", "context 'c' names user 'u', which is not in users" },
		{ "clusters:\n- name: k\n  cluster: {}\ncontexts:\n- name: c\n  context: {cluster: "
		  "k}\n",
		  "c", "clusters[k] has no cluster.server" },
		{ "clusters:\n- name: k\n  cluster: {server: https://x, "
		  "certificate-authority-data: "
		  "'@@@'}\ncontexts:\n- name: c\n  context: {cluster: k}\n",
		  "c", "clusters[k] certificate-authority-data: invalid base64" },
		{ "clusters:\n- name: k\n  cluster: {server: https://x, certificate-authority: "
		  "no.crt}\n"
		  "contexts:\n- name: c\n  context: {cluster: k}\n",
		  "c", "clusters[k] certificate-authority '" },
		{ "clusters:\n- name: k\n  cluster: {server: https://x, insecure-skip-tls-verify: "
		  "maybe}\n"
		  "contexts:\n- name: c\n  context: {cluster: k}\n",
		  "c", "insecure-skip-tls-verify: 'maybe' is not a boolean" },
		{ "clusters:\n- name: k\n  cluster: {server: https://x}\nusers:\n- name: u\n  "
		  "user:\n"
		  "    auth-provider: {name: gcp}\ncontexts:\n- name: c\n  context: {cluster: k, "
		  "user: u}\n",
		  "c", "users[u] user.auth-provider 'gcp' is not supported" },
		{ "clusters:\n- name: k\n  cluster: {server: https://x}\nusers:\n- name: u\n  "
		  "user:\n"
		  "    client-certificate-data: QQ==\ncontexts:\n- name: c\n  context: {cluster: "
		  "k, user: u}\n",
		  "c", "users[u] has a client certificate but no client key" },
		{ "clusters:\n- name: k\n  cluster: {server: https://x}\nusers:\n- name: u\n  "
		  "user:\n"
		  "    exec: {args: [a]}\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n",
		  "c", "users[u] has no user.exec.command" },
		{ "clusters: [\n", NULL, ":2: did not find expected node content" },
		{ "- just\n- a list\n", NULL, "is not a YAML mapping" },
		{ "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, "
		  "*a, *a]\n"
		  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, "
		  "*c, "
		  "*c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, "
		  "*e]\n",
		  NULL, "too many nodes once aliases are expanded" },
	};

	for (size_t i = 0; i < KCR_ARRAY_SIZE(cases); i++) {
		kcr_autofree char *name = kcr_strdup_printf("broken/%zu.yaml", i);
		kcr_autofree char *path = put(name, cases[i].yaml);
		struct kcr_k8s_config c;
		kcr_error_t err = NULL;

		if (kcr_k8s_config_load_kubeconfig(&c, path, cases[i].context, &err) == 0)
			TAP_FAIL("case %zu loaded", i);
		if (strstr(err->msg, path) == NULL || strstr(err->msg, cases[i].want) == NULL)
			TAP_FAIL("case %zu: '%s' lacks '%s'", i, err->msg, cases[i].want);
		TAP_ASSERT(c.server == NULL && c.token == NULL);
		kcr_error_release(&err);
	}
	return 0;
}

static int
test_missing_file(void)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/none/config", dir);
	struct kcr_k8s_config c;
	kcr_error_t err = NULL;

	TAP_ASSERT(kcr_k8s_config_load_kubeconfig(&c, path, NULL, &err) < 0);
	TAP_ASSERT(strstr(err->msg, path) != NULL && strstr(err->msg, "kubeconfig") != NULL);
	kcr_error_release(&err);
	return 0;
}

/* ---- exec credential plugins ------------------------------------------------ */

#define PLUGIN_KC                                                                                  \
	"current-context: c\nclusters:\n- name: k\n  cluster: {server: https://127.0.0.1:1, "      \
	"certificate-authority-data: %s}\ncontexts:\n- name: c\n  context: {cluster: k, user: "    \
	"u}\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: "                            \
	"client.authentication.k8s.io/v1beta1\n      command: %s\n      args: [--flag, "           \
	"'two words']\n      env:\n      - {name: PLUGIN_GREETING, value: hello}\n"                \
	"      provideClusterInfo: true\n      installHint: %s\n"

/* A plugin that logs its arguments, environment and exec info, counts
 * its runs, and prints what `what` says. */
static char *
plugin(const char *name, const char *what)
{
	kcr_autofree char *script = kcr_strdup_printf(
		"#!/bin/sh\n"
		"echo run >> \"%s/%s.runs\"\n"
		"printf '%%s|%%s|%%s\\n' \"$1\" \"$2\" \"$PLUGIN_GREETING\" > \"%s/%s.args\"\n"
		"printf '%%s' \"$KUBERNETES_EXEC_INFO\" > \"%s/%s.info\"\n"
		"%s\n",
		dir, name, dir, name, dir, name, what);

	return put(name, script);
}

static int
load_plugin_config(struct kcr_k8s_config *c, const char *cmd, kcr_error_t *err)
{
	kcr_autofree char *ca = b64(CA_PEM);
	kcr_autofree char *text =
		kcr_strdup_printf(PLUGIN_KC, ca, cmd, "'install it with: apt install the-plugin'");
	kcr_autofree char *path = put("plugin/config", text);

	return kcr_k8s_config_load_kubeconfig(c, path, NULL, err);
}

static int
runs(const char *name)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/%s.runs", dir, name);
	kcr_autofree char *text = NULL;
	size_t len = 0;
	int n = 0;

	if (kcr_read_file(path, 1 << 16, &text, &len, NULL) < 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	return n;
}

static int
file_has(const char *name, const char *want)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", dir, name);
	kcr_autofree char *text = NULL;
	size_t len;

	if (kcr_read_file(path, 1 << 16, &text, &len, NULL) < 0)
		return 0;
	return strstr(text, want) != NULL;
}

static int
test_exec_token(void)
{
	kcr_autofree char *script = plugin(
		"tok.sh", "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":"
			  "\"ExecCredential\",\"status\":{\"token\":\"from-plugin\","
			  "\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"}}'");
	kcr_autofree char *cmd = kcr_strdup_printf("%s/plugin/../tok.sh", dir);
	struct kcr_k8s_config c;
	struct kcr_k8s *k;
	struct k8s_auth a;
	kcr_error_t err = NULL;

	if (load_plugin_config(&c, "../tok.sh", &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_STREQ(c.exec_command, cmd);
	TAP_STREQ(c.exec_args[0], "--flag");
	TAP_STREQ(c.exec_env[0], "PLUGIN_GREETING=hello");
	TAP_STREQ(c.exec_install_hint, "install it with: apt install the-plugin");
	k = kcr_k8s_new(&c, NULL, &err);
	kcr_k8s_config_release(&c);
	if (k == NULL)
		TAP_FAIL("%s", err->msg);
	for (int i = 0; i < 3; i++) {
		if (k8s_auth_get(k, &a, &err) < 0)
			TAP_FAIL("%s", err->msg);
		TAP_STREQ(a.token, "from-plugin");
		TAP_ASSERT(a.cert_pem == NULL);
		k8s_auth_release(&a);
	}
	TAP_ASSERT(runs("tok.sh") == 1); /* kept until it expires */
	TAP_ASSERT(file_has("tok.sh.args", "--flag|two words|hello"));
	TAP_ASSERT(file_has("tok.sh.info", "\"interactive\":false"));
	TAP_ASSERT(file_has("tok.sh.info", "\"server\":\"https://127.0.0.1:1\""));
	/* a 401 makes the client ask again */
	TAP_ASSERT(k8s_auth_invalidate(k));
	TAP_ASSERT(k8s_auth_get(k, &a, &err) == 0);
	k8s_auth_release(&a);
	TAP_ASSERT(runs("tok.sh") == 2);
	kcr_k8s_free(k);
	return 0;
}

/* An expired credential (and a client certificate instead of a token). */
static int
test_exec_cert_expired(void)
{
	free(plugin(
		"cert.sh",
		"echo '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":"
		"\"ExecCredential\",\"status\":{\"clientCertificateData\":\"CERT\","
		"\"clientKeyData\":\"KEY\",\"expirationTimestamp\":\"2001-01-01T00:00:00Z\"}}'"));
	struct kcr_k8s_config c;
	struct kcr_k8s *k;
	struct k8s_auth a;
	kcr_error_t err = NULL;

	if (load_plugin_config(&c, "../cert.sh", &err) < 0)
		TAP_FAIL("%s", err->msg);
	k = kcr_k8s_new(&c, NULL, &err);
	kcr_k8s_config_release(&c);
	TAP_ASSERT(k != NULL);
	for (int i = 0; i < 2; i++) {
		if (k8s_auth_get(k, &a, &err) < 0)
			TAP_FAIL("%s", err->msg);
		TAP_STREQ(a.cert_pem, "CERT");
		TAP_STREQ(a.key_pem, "KEY");
		TAP_ASSERT(a.token == NULL);
		k8s_auth_release(&a);
	}
	TAP_ASSERT(runs("cert.sh") == 2);
	kcr_k8s_free(k);
	return 0;
}

static int
auth_error(const char *cmd, kcr_error_t *err)
{
	struct kcr_k8s_config c;
	struct kcr_k8s *k;
	struct k8s_auth a;
	int r;

	if (load_plugin_config(&c, cmd, err) < 0)
		return -1;
	k = kcr_k8s_new(&c, NULL, err);
	kcr_k8s_config_release(&c);
	if (k == NULL)
		return -1;
	r = k8s_auth_get(k, &a, err);
	if (r == 0)
		k8s_auth_release(&a);
	kcr_k8s_free(k);
	return r;
}

static int
test_exec_missing(void)
{
	kcr_error_t err = NULL;

	TAP_ASSERT(auth_error("kcr-no-such-auth-plugin", &err) < 0);
	printf("# %s\n", err->msg);
	TAP_ASSERT(err->code == KCR_E_UNAVAILABLE);
	if (strstr(err->msg, "'kcr-no-such-auth-plugin' is not installed") == NULL ||
	    strstr(err->msg, "install it with: apt install the-plugin") == NULL)
		TAP_FAIL("%s", err->msg);
	kcr_error_release(&err);
	/* a path that is not there */
	TAP_ASSERT(auth_error("./bin/missing-plugin", &err) < 0);
	TAP_ASSERT(err->code == KCR_E_UNAVAILABLE &&
		   strstr(err->msg, "plugin/./bin/missing-plugin"));
	kcr_error_release(&err);
	return 0;
}

static int
test_exec_failures(void)
{
	kcr_error_t err = NULL;

	free(plugin("fail.sh", "echo 'error: you must log in first' >&2; exit 3"));
	TAP_ASSERT(auth_error("../fail.sh", &err) < 0);
	TAP_ASSERT(err->code == KCR_E_AUTH);
	if (strstr(err->msg, "failed (exit 3): error: you must log in first") == NULL)
		TAP_FAIL("%s", err->msg);
	kcr_error_release(&err);

	free(plugin("junk.sh", "echo not json"));
	TAP_ASSERT(auth_error("../junk.sh", &err) < 0);
	TAP_ASSERT(strstr(err->msg, "did not print an ExecCredential") != NULL);
	kcr_error_release(&err);

	free(plugin("ver.sh", "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
			      "\"ExecCredential\",\"status\":{\"token\":\"t\"}}'"));
	TAP_ASSERT(auth_error("../ver.sh", &err) < 0);
	TAP_ASSERT(strstr(err->msg, "answered client.authentication.k8s.io/v1") != NULL);
	kcr_error_release(&err);

	free(plugin("empty.sh",
		    "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":"
		    "\"ExecCredential\",\"status\":{}}'"));
	TAP_ASSERT(auth_error("../empty.sh", &err) < 0);
	TAP_ASSERT(strstr(err->msg, "neither a token nor a client certificate") != NULL);
	kcr_error_release(&err);
	return 0;
}

/* ---- in a pod ---------------------------------------------------------------- */

static int
test_in_cluster(void)
{
	kcr_autofree char *sa = kcr_strdup_printf("%s/sa", dir);
	kcr_autofree char *tok = put("sa/token", "sa-token-1\n");
	kcr_autofree char *ca = put("sa/ca.crt", CA_PEM);
	kcr_autofree char *ns = put("sa/namespace", "kcr-ns");
	struct kcr_k8s_config c;
	kcr_error_t err = NULL;

	unsetenv("KUBERNETES_SERVICE_HOST");
	TAP_ASSERT(kcr_k8s_config_load_in_cluster(&c, sa, &err) < 0);
	TAP_ASSERT(err->code == KCR_E_UNAVAILABLE && strstr(err->msg, "KUBERNETES_SERVICE_HOST"));
	kcr_error_release(&err);

	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	if (kcr_k8s_config_load_in_cluster(&c, sa, &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_ASSERT(c.in_cluster && c.context == NULL);
	TAP_STREQ(c.server, "https://10.96.0.1:443");
	TAP_STREQ(c.token, "sa-token-1");
	TAP_STREQ(c.token_file, tok);
	TAP_STREQ(c.ca_file, ca);
	TAP_STREQ(c.namespace, "kcr-ns");
	kcr_k8s_config_release(&c);

	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	unlink(ns);
	if (kcr_k8s_config_load_in_cluster(&c, sa, &err) < 0)
		TAP_FAIL("%s", err->msg);
	TAP_STREQ(c.server, "https://[fd00::1]:443");
	TAP_STREQ(c.namespace, "default");
	kcr_k8s_config_release(&c);

	unlink(tok);
	TAP_ASSERT(kcr_k8s_config_load_in_cluster(&c, sa, &err) < 0);
	TAP_ASSERT(strstr(err->msg, "service account token") && strstr(err->msg, "sa/token"));
	TAP_ASSERT(err->code == KCR_E_UNAVAILABLE);
	kcr_error_release(&err);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	return 0;
}

static int
token_is(struct kcr_k8s *k, const char *want)
{
	struct k8s_auth a;
	kcr_error_t err = NULL;

	if (k8s_auth_get(k, &a, &err) < 0)
		TAP_FAIL("%s", err->msg);
	if (a.token == NULL || strcmp(a.token, want) != 0) {
		fprintf(stderr, "# token '%s', want '%s'\n", a.token ? a.token : "(null)", want);
		k8s_auth_release(&a);
		return -1;
	}
	k8s_auth_release(&a);
	return 0;
}

/* A projected token rotates: the next request reads it again; one that
 * went away keeps the last one read. */
static int
test_token_rotation(void)
{
	kcr_autofree char *sa = kcr_strdup_printf("%s/rot", dir);
	kcr_autofree char *tok = put("rot/token", "first-token\n");
	kcr_autofree char *next = kcr_strdup_printf("%s/rot/token.new", dir);
	struct kcr_k8s_config c;
	struct kcr_k8s *k;
	kcr_error_t err = NULL;

	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "1", 1);
	if (kcr_k8s_config_load_in_cluster(&c, sa, &err) < 0)
		TAP_FAIL("%s", err->msg);
	k = kcr_k8s_new(&c, NULL, &err);
	kcr_k8s_config_release(&c);
	TAP_ASSERT(k != NULL);
	TAP_ASSERT(token_is(k, "first-token") == 0);
	/* rewritten in place, longer */
	kcr_write_file(tok, "second-token-x", 14, 0600, NULL);
	TAP_ASSERT(token_is(k, "second-token-x") == 0);
	/* replaced by a rename (as the kubelet swaps ..data), same length */
	kcr_write_file(next, "third--token-y", 14, 0600, NULL);
	TAP_ASSERT(rename(next, tok) == 0);
	TAP_ASSERT(token_is(k, "third--token-y") == 0);
	unlink(tok);
	TAP_ASSERT(token_is(k, "third--token-y") == 0);
	kcr_k8s_free(k);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	return 0;
}

/* The client refuses a configuration without a server. */
static int
test_client_needs_server(void)
{
	struct kcr_k8s_config c = { 0 };
	kcr_error_t err = NULL;

	TAP_ASSERT(kcr_k8s_new(&c, NULL, &err) == NULL);
	TAP_ASSERT(err->code == KCR_E_INVALID);
	kcr_error_release(&err);
	return 0;
}

int
main(void)
{
	int r;

	strcpy(dir, "/tmp/kcr-test-k8s-config.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 99;
	unsetenv("KUBECONFIG");
	unsetenv("KUBERNETES_SERVICE_HOST");
	TAP_PLAN(13);
	RUN_TEST(test_token_and_ca_data);
	RUN_TEST(test_cert_data);
	RUN_TEST(test_files_relative);
	RUN_TEST(test_default_paths);
	RUN_TEST(test_broken);
	RUN_TEST(test_missing_file);
	RUN_TEST(test_exec_token);
	RUN_TEST(test_exec_cert_expired);
	RUN_TEST(test_exec_missing);
	RUN_TEST(test_exec_failures);
	RUN_TEST(test_in_cluster);
	RUN_TEST(test_token_rotation);
	RUN_TEST(test_client_needs_server);
	r = TAP_DONE();
	kcr_rm_rf(dir);
	return r;
}

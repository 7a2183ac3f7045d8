/* Where the cluster is and who we are: a kubeconfig (read with libyaml,
 * as kubectl reads it: clusters, users, contexts, current-context), or
 * the pod's own service account. */
#include <config.h>

#include "base/encode.h"
#include "base/files.h"
#include "base/json.h"
#include "base/parse.h"
#include "base/util.h"
#include "sandbox/k8s-internal.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define KUBECONFIG_MAX ((size_t)16 << 20)
#define SA_FILE_MAX    ((size_t)1 << 20)
/* aliases can make a small file a huge tree ("billion laughs") */
#define YAML_NODES_MAX 100000
#define YAML_DEPTH_MAX 64
#define DEFAULT_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* ---- YAML to a cJSON tree ------------------------------------------------ */

struct ytree {
	yaml_document_t *doc;
	size_t budget;
	const char *problem;
};

static bool
plain_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (*v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
		strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0);
}

static cJSON *ynode(struct ytree *t, int id, int depth);

static cJSON *
ysequence(struct ytree *t, const yaml_node_t *n, int depth)
{
	cJSON *a = cJSON_CreateArray();

	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++) {
		cJSON *v = ynode(t, *i, depth + 1);

		if (v == NULL) {
			cJSON_Delete(a);
			return NULL;
		}
		cJSON_AddItemToArray(a, v);
	}
	return a;
}

static cJSON *
ymapping(struct ytree *t, const yaml_node_t *n, int depth)
{
	cJSON *o = cJSON_CreateObject();

	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = yaml_document_get_node(t->doc, p->key);
		cJSON *v;

		if (kn == NULL || kn->type != YAML_SCALAR_NODE) {
			t->problem = "a mapping's key is not a string";
			cJSON_Delete(o);
			return NULL;
		}
		if ((v = ynode(t, p->value, depth + 1)) == NULL) {
			cJSON_Delete(o);
			return NULL;
		}
		/* a key said twice: the last one wins */
		cJSON_DeleteItemFromObjectCaseSensitive(o, (const char *)kn->data.scalar.value);
		cJSON_AddItemToObject(o, (const char *)kn->data.scalar.value, v);
	}
	return o;
}

/* Every scalar is a string (or null): what it means is up to the key. */
static cJSON *
ynode(struct ytree *t, int id, int depth)
{
	yaml_node_t *n = yaml_document_get_node(t->doc, id);

	if (n == NULL) {
		t->problem = "a node is missing";
		return NULL;
	}
	if (depth > YAML_DEPTH_MAX || t->budget == 0) {
		t->problem = "too deep, or too many nodes once aliases are expanded";
		return NULL;
	}
	t->budget--;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return plain_null(n) ? cJSON_CreateNull()
				     : cJSON_CreateString((const char *)n->data.scalar.value);
	case YAML_SEQUENCE_NODE:
		return ysequence(t, n, depth);
	case YAML_MAPPING_NODE:
		return ymapping(t, n, depth);
	default:
		t->problem = "an empty node";
		return NULL;
	}
}

static int
yaml_file_json(const char *path, cJSON **out, kcr_error_t *err)
{
	kcr_autofree char *text = NULL;
	struct ytree t = { .budget = YAML_NODES_MAX };
	yaml_parser_t p;
	yaml_document_t d;
	size_t len;

	if (kcr_read_file(path, KUBECONFIG_MAX, &text, &len, err) < 0)
		return kcr_error_wrap(err, "kubeconfig");
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &d)) {
		kcr_error_set(err, KCR_E_INVALID, 0, "kubeconfig '%s':%zu: %s", path,
			      p.problem_mark.line + 1, p.problem ? p.problem : "invalid YAML");
		yaml_parser_delete(&p);
		return -1;
	}
	t.doc = &d;
	*out = yaml_document_get_root_node(&d) ? ynode(&t, 1, 0) : NULL;
	yaml_document_delete(&d);
	yaml_parser_delete(&p);
	if (*out == NULL && t.problem)
		return kcr_error_set(err, KCR_E_INVALID, 0, "kubeconfig '%s': %s", path, t.problem);
	if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		return kcr_error_set(err, KCR_E_INVALID, 0, "kubeconfig '%s' is not a YAML mapping",
				     path);
	}
	return 0;
}

/* ---- a kubeconfig ---------------------------------------------------------- */

struct kc {
	const char *path;
	char *dir; /* relative file names are relative to it */
	cJSON *root;
	const char *context, *cluster, *user;
};

static const char *
str(const cJSON *o, const char *key)
{
	const char *s = kcr_json_str(o, key);

	return s && *s ? s : NULL;
}

/* The entry of root's list (clusters, users, contexts) named name; its
 * inner object (field: "cluster", ...) in *inner, NULL when it has none. */
static bool
named(const cJSON *root, const char *list, const char *name, const char *field, const cJSON **inner)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, list), *e;

	if (!cJSON_IsArray(arr))
		return false;
	cJSON_ArrayForEach (e, arr) {
		const char *n = kcr_json_str(e, "name");

		if (n && strcmp(n, name) == 0) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, field);

			*inner = cJSON_IsObject(v) ? v : NULL;
			return true;
		}
	}
	return false;
}

static char *
resolve(const struct kc *kc, const char *file)
{
	if (file[0] == '/')
		return kcr_xstrdup(file);
	return kcr_strdup_printf("%s/%s", kc->dir, file);
}

/* A file the kubeconfig names at key: resolved, and readable now. */
static int
file_key(const struct kc *kc, const char *what, const char *name, const cJSON *o, const char *key,
	 char **out, kcr_error_t *err)
{
	const char *v = str(o, key);

	if (v == NULL)
		return 0;
	*out = resolve(kc, v);
	if (access(*out, R_OK) < 0)
		return kcr_error_set(err, KCR_E_INVALID, errno, "kubeconfig '%s': %s[%s] %s '%s'",
				     kc->path, what, name, key, *out);
	return 0;
}

/* Base64 text at key, decoded (whitespace, as YAML may fold it, ignored). */
static int
data_key(const struct kc *kc, const char *what, const char *name, const cJSON *o, const char *key,
	 char **out, kcr_error_t *err)
{
	const char *v = str(o, key);
	kcr_autofree char *clean = NULL;
	size_t n = 0, len;

	if (v == NULL)
		return 0;
	clean = kcr_xmalloc(strlen(v) + 1);
	for (const char *p = v; *p; p++)
		if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
			clean[n++] = *p;
	clean[n] = '\0';
	if (kcr_base64_decode(clean, out, &len, err) < 0)
		return kcr_error_wrap(err, "kubeconfig '%s': %s[%s] %s", kc->path, what, name, key);
	return 0;
}

static int
bool_key(const struct kc *kc, const char *what, const char *name, const cJSON *o, const char *key,
	 bool *out, kcr_error_t *err)
{
	const char *v = str(o, key);

	if (v && !kcr_parse_bool(v, out))
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "kubeconfig '%s': %s[%s] %s: '%s' is not a boolean", kc->path,
				     what, name, key, v);
	return 0;
}

static int
read_cluster(const struct kc *kc, const cJSON *cl, struct kcr_k8s_config *c, kcr_error_t *err)
{
	const char *server = str(cl, "server");

	if (server == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "kubeconfig '%s': clusters[%s] has no cluster.server",
				     kc->path, kc->cluster);
	c->server = kcr_xstrdup(server);
	if (data_key(kc, "clusters", kc->cluster, cl, "certificate-authority-data", &c->ca_pem,
		     err) < 0)
		return -1;
	if (c->ca_pem == NULL && file_key(kc, "clusters", kc->cluster, cl, "certificate-authority",
					  &c->ca_file, err) < 0)
		return -1;
	return bool_key(kc, "clusters", kc->cluster, cl, "insecure-skip-tls-verify",
			&c->insecure_skip_tls_verify, err);
}

static int
read_exec(const struct kc *kc, const cJSON *ex, struct kcr_k8s_config *c, kcr_error_t *err)
{
	const char *cmd = str(ex, "command");
	const cJSON *v;

	if (cmd == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "kubeconfig '%s': users[%s] has no user.exec.command",
				     kc->path, kc->user);
	/* a relative path (with a '/') is relative to the kubeconfig; a bare
	 * name is looked for in PATH (client-go) */
	c->exec_command = strchr(cmd, '/') ? resolve(kc, cmd) : kcr_xstrdup(cmd);
	c->exec_api_version = kcr_xstrdup(
		str(ex, "apiVersion") ? str(ex, "apiVersion") : "client.authentication.k8s.io/v1");
	if (str(ex, "installHint"))
		c->exec_install_hint = kcr_xstrdup(str(ex, "installHint"));
	cJSON_ArrayForEach (v, cJSON_GetObjectItemCaseSensitive(ex, "args")) {
		if (!cJSON_IsString(v))
			return kcr_error_set(
				err, KCR_E_INVALID, 0,
				"kubeconfig '%s': users[%s] user.exec.args: not a string", kc->path,
				kc->user);
		kcr_strv_push(&c->exec_args, v->valuestring);
	}
	cJSON_ArrayForEach (v, cJSON_GetObjectItemCaseSensitive(ex, "env")) {
		const char *n = str(v, "name"), *val = kcr_json_str(v, "value");
		kcr_autofree char *kv = NULL;

		if (n == NULL || strchr(n, '=') || val == NULL)
			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "kubeconfig '%s': users[%s] user.exec.env: each needs "
					     "a name and a value",
					     kc->path, kc->user);
		kv = kcr_strdup_printf("%s=%s", n, val);
		kcr_strv_push(&c->exec_env, kv);
	}
	return bool_key(kc, "users", kc->user, ex, "provideClusterInfo",
			&c->exec_provide_cluster_info, err);
}

static int
read_user(const struct kc *kc, const cJSON *u, struct kcr_k8s_config *c, kcr_error_t *err)
{
	const cJSON *ex = cJSON_GetObjectItemCaseSensitive(u, "exec");
	const cJSON *ap = cJSON_GetObjectItemCaseSensitive(u, "auth-provider");

	if (cJSON_IsObject(ap))
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				     "kubeconfig '%s': users[%s] user.auth-provider '%s' is not "
				     "supported: use an exec credential plugin",
				     kc->path, kc->user, str(ap, "name") ? str(ap, "name") : "?");
	if (str(u, "username") || str(u, "password"))
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				     "kubeconfig '%s': users[%s] basic authentication (username, "
				     "password) is not supported",
				     kc->path, kc->user);
	if (str(u, "token"))
		c->token = kcr_xstrdup(str(u, "token"));
	if (file_key(kc, "users", kc->user, u, "tokenFile", &c->token_file, err) < 0 ||
	    data_key(kc, "users", kc->user, u, "client-certificate-data", &c->cert_pem, err) < 0 ||
	    data_key(kc, "users", kc->user, u, "client-key-data", &c->key_pem, err) < 0 ||
	    (c->cert_pem == NULL &&
	     file_key(kc, "users", kc->user, u, "client-certificate", &c->cert_file, err) < 0) ||
	    (c->key_pem == NULL &&
	     file_key(kc, "users", kc->user, u, "client-key", &c->key_file, err) < 0))
		return -1;
	if ((c->cert_pem || c->cert_file) != (c->key_pem || c->key_file))
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "kubeconfig '%s': users[%s] has a client %s but no client %s",
				     kc->path, kc->user,
				     c->cert_pem || c->cert_file ? "certificate" : "key",
				     c->cert_pem || c->cert_file ? "key" : "certificate");
	if (cJSON_IsObject(ex))
		return read_exec(kc, ex, c, err);
	return 0;
}

/* The context, its cluster and its user. */
static int
read_context(struct kc *kc, const char *context, struct kcr_k8s_config *c, kcr_error_t *err)
{
	const cJSON *ctx = NULL, *cl = NULL, *u = NULL;

	kc->context = context ? context : str(kc->root, "current-context");
	if (kc->context == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "kubeconfig '%s' has no current-context: name a context",
				     kc->path);
	if (!named(kc->root, "contexts", kc->context, "context", &ctx))
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "kubeconfig '%s': no context '%s' in contexts", kc->path,
				     kc->context);
	c->context = kcr_xstrdup(kc->context);
	c->namespace = kcr_xstrdup(str(ctx, "namespace") ? str(ctx, "namespace") : "default");
	kc->cluster = str(ctx, "cluster");
	kc->user = str(ctx, "user");
	if (kc->cluster == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "kubeconfig '%s': contexts[%s] has no context.cluster",
				     kc->path, kc->context);
	if (!named(kc->root, "clusters", kc->cluster, "cluster", &cl))
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "kubeconfig '%s': context '%s' names cluster '%s', which is "
				     "not in clusters",
				     kc->path, kc->context, kc->cluster);
	if (read_cluster(kc, cl, c, err) < 0)
		return -1;
	if (kc->user == NULL) /* anonymous */
		return 0;
	if (!named(kc->root, "users", kc->user, "user", &u))
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "kubeconfig '%s': context '%s' names user '%s', which is not "
				     "in users",
				     kc->path, kc->context, kc->user);
	return read_user(kc, u, c, err);
}

/* $KUBECONFIG's first file, else ~/.kube/config. */
static char *
default_kubeconfig(void)
{
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");

	if (env && *env) {
		while (*env == ':')
			env++;
		if (*env)
			return kcr_xstrndup(env, strcspn(env, ":"));
	}
	if (home == NULL || *home == '\0') {
		struct passwd *pw = getpwuid(geteuid());

		home = pw ? pw->pw_dir : NULL;
	}
	return home ? kcr_strdup_printf("%s/.kube/config", home) : NULL;
}

int
kcr_k8s_config_load_kubeconfig(struct kcr_k8s_config *c, const char *path, const char *context,
			       kcr_error_t *err)
{
	kcr_autofree char *dflt = path ? NULL : default_kubeconfig();
	struct kc kc = { .path = path ? path : dflt };
	const char *slash;
	int r;

	memset(c, 0, sizeof(*c));
	if (kc.path == NULL)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				     "no kubeconfig: neither KUBECONFIG nor HOME is set");
	slash = strrchr(kc.path, '/');
	kc.dir = slash ? kcr_xstrndup(kc.path, slash == kc.path ? 1 : (size_t)(slash - kc.path))
		       : kcr_xstrdup(".");
	r = yaml_file_json(kc.path, &kc.root, err);
	if (r == 0)
		r = read_context(&kc, context, c, err);
	cJSON_Delete(kc.root);
	free(kc.dir);
	if (r < 0)
		kcr_k8s_config_release(c);
	return r;
}

/* ---- in a pod ---------------------------------------------------------------- */

static char *
sa_file(const char *dir, const char *name, kcr_error_t *err)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", dir, name);
	char *text = NULL;
	size_t len;

	if (kcr_read_file(path, SA_FILE_MAX, &text, &len, err) < 0)
		return NULL;
	while (len > 0 && strchr(" \t\r\n", text[len - 1]))
		text[--len] = '\0';
	return text;
}

int
kcr_k8s_config_load_in_cluster(struct kcr_k8s_config *c, const char *sa_dir, kcr_error_t *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = sa_dir ? sa_dir : DEFAULT_SA_DIR;
	kcr_autofree char *ca = kcr_strdup_printf("%s/ca.crt", dir);
	char *ns;

	memset(c, 0, sizeof(*c));
	if (host == NULL || *host == '\0' || port == NULL || *port == '\0')
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				     "not in a Kubernetes pod: KUBERNETES_SERVICE_HOST and "
				     "KUBERNETES_SERVICE_PORT are not set");
	c->in_cluster = true;
	c->server = kcr_strdup_printf(strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
				      port);
	/* read now, to say clearly when it is missing; read again by the
	 * client whenever the file changes */
	c->token = sa_file(dir, "token", err);
	if (c->token == NULL) {
		kcr_k8s_config_release(c);
		if (err && *err) /* not in a pod after all, or not given a token */
			(*err)->code = KCR_E_UNAVAILABLE;
		return kcr_error_wrap(err, "the pod's service account token");
	}
	c->token_file = kcr_strdup_printf("%s/token", dir);
	if (access(ca, R_OK) == 0)
		c->ca_file = kcr_steal(&ca);
	ns = sa_file(dir, "namespace", NULL);
	c->namespace = ns && *ns ? ns : kcr_xstrdup("default");
	if (c->namespace != ns)
		free(ns);
	return 0;
}

int
kcr_k8s_config_load(struct kcr_k8s_config *c, const char *kubeconfig, const char *context,
		    kcr_error_t *err)
{
	kcr_autofree char *dflt = NULL;
	const char *host = getenv("KUBERNETES_SERVICE_HOST");

	if (kubeconfig)
		return kcr_k8s_config_load_kubeconfig(c, kubeconfig, context, err);
	dflt = default_kubeconfig();
	if (dflt && access(dflt, F_OK) == 0)
		return kcr_k8s_config_load_kubeconfig(c, dflt, context, err);
	if (host && *host && context == NULL)
		return kcr_k8s_config_load_in_cluster(c, NULL, err);
	memset(c, 0, sizeof(*c));
	return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
			     "no Kubernetes cluster configured: no kubeconfig ('%s' is missing) "
			     "and not in a pod (KUBERNETES_SERVICE_HOST is not set)%s",
			     dflt ? dflt : "$HOME/.kube/config",
			     host && *host ? " (a context was named)" : "");
}

static char *
dup_or_null(const char *s)
{
	return s ? kcr_xstrdup(s) : NULL;
}

void
k8s_config_copy(struct kcr_k8s_config *d, const struct kcr_k8s_config *s)
{
	*d = (struct kcr_k8s_config){
		.server = dup_or_null(s->server),
		.namespace = dup_or_null(s->namespace ? s->namespace : "default"),
		.context = dup_or_null(s->context),
		.in_cluster = s->in_cluster,
		.ca_pem = dup_or_null(s->ca_pem),
		.ca_file = dup_or_null(s->ca_file),
		.insecure_skip_tls_verify = s->insecure_skip_tls_verify,
		.token = dup_or_null(s->token),
		.token_file = dup_or_null(s->token_file),
		.cert_pem = dup_or_null(s->cert_pem),
		.key_pem = dup_or_null(s->key_pem),
		.cert_file = dup_or_null(s->cert_file),
		.key_file = dup_or_null(s->key_file),
		.exec_command = dup_or_null(s->exec_command),
		.exec_args = s->exec_args ? kcr_strv_dup(s->exec_args) : NULL,
		.exec_env = s->exec_env ? kcr_strv_dup(s->exec_env) : NULL,
		.exec_api_version = dup_or_null(s->exec_api_version),
		.exec_install_hint = dup_or_null(s->exec_install_hint),
		.exec_provide_cluster_info = s->exec_provide_cluster_info,
	};
}

void
kcr_k8s_config_release(struct kcr_k8s_config *c)
{
	char **strs[] = { &c->server,           &c->namespace,        &c->context,
			  &c->ca_pem,           &c->ca_file,          &c->token,
			  &c->token_file,       &c->cert_pem,         &c->key_pem,
			  &c->cert_file,        &c->key_file,         &c->exec_command,
			  &c->exec_api_version, &c->exec_install_hint };

	for (size_t i = 0; i < KCR_ARRAY_SIZE(strs); i++)
		free(*strs[i]);
	kcr_strv_free(c->exec_args);
	kcr_strv_free(c->exec_env);
	memset(c, 0, sizeof(*c));
}

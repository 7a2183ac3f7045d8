/* A Kubernetes API client on libcurl (no kubectl at run time): where the
 * cluster is and who we are (a kubeconfig or the pod's service account),
 * requests with bounded retries and timeouts, watches, and the API
 * server's Status objects mapped to kcr errors.
 *
 * Used by the kubernetes sandbox provider and `kcr cluster check`. A
 * struct kcr_k8s is safe to share between threads: each call takes its
 * own libcurl handle. */
#ifndef KCR_K8S_H
#define KCR_K8S_H

#include "base/error.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- where the cluster is, and who we are ------------------------------ */

struct kcr_k8s_config {
	char *server;    /* "https://10.0.0.1:6443" */
	char *namespace; /* the context's, the service account's, else "default" */
	char *context;   /* the kubeconfig context used (NULL in-cluster) */
	bool in_cluster; /* from the pod's service account */

	/* the API server's CA: PEM text (certificate-authority-data, decoded)
	 * or a file; neither: the system's CAs */
	char *ca_pem;
	char *ca_file;
	bool insecure_skip_tls_verify;

	/* who we are: at most one of a token (or a token file, re-read when it
	 * changes: a projected service-account token rotates), a client
	 * certificate and key (PEM text or files), or an exec credential plugin
	 * (client.authentication.k8s.io ExecCredential) */
	char *token;
	char *token_file;
	char *cert_pem, *key_pem;
	char *cert_file, *key_file;
	char *exec_command; /* users[].user.exec.command */
	char **exec_args;   /* NULL-terminated, may be NULL */
	char **exec_env;    /* "NAME=value", NULL-terminated, may be NULL */
	char *exec_api_version;
	char *exec_install_hint; /* users[].user.exec.installHint, told when it is missing */
	bool exec_provide_cluster_info; /* hand it the cluster (KUBERNETES_EXEC_INFO) */
};

/* Loads a kubeconfig: path (NULL: $KUBECONFIG's first file, else
 * ~/.kube/config), context (NULL: current-context). Relative file names
 * in it are relative to its folder, as kubectl reads them; the files it
 * names must be readable now. A broken one is KCR_E_INVALID naming the
 * file and the key; an auth-provider or username/password user
 * KCR_E_UNAVAILABLE (use an exec plugin). *c is overwritten, not
 * released first, and left empty on failure. The exec plugin does not
 * run here but on the client's first request. */
int kcr_k8s_config_load_kubeconfig(struct kcr_k8s_config *c, const char *path,
				   const char *context, kcr_error_t *err);
/* The pod's own service account: KUBERNETES_SERVICE_HOST/PORT, and
 * sa_dir's token, ca.crt and namespace (sa_dir NULL:
 * /var/run/secrets/kubernetes.io/serviceaccount). token_file is set: the
 * client reads the token again whenever the file changes. */
int kcr_k8s_config_load_in_cluster(struct kcr_k8s_config *c, const char *sa_dir,
				   kcr_error_t *err);
/* What kubectl would use: the kubeconfig when one is given or exists,
 * else in-cluster; KCR_E_UNAVAILABLE naming both when neither is there. */
int kcr_k8s_config_load(struct kcr_k8s_config *c, const char *kubeconfig, const char *context,
			kcr_error_t *err);
void kcr_k8s_config_release(struct kcr_k8s_config *c);

/* ---- the client ---------------------------------------------------------- */

struct kcr_k8s_opts {
	uint64_t timeout_ms;    /* one try of one request, in all (0: 10 s) */
	unsigned int retries;   /* more tries on 429, 5xx and lost connections (0: none) */
	uint64_t backoff_ms;    /* first wait between tries, doubled each time, with
				   jitter; a 429's Retry-After wins (0: 200 ms) */
	uint64_t backoff_max_ms; /* (0: 5 s) */
};

struct kcr_k8s;

/* Copies cfg. Loads libcurl (KCR_E_UNAVAILABLE when it is missing).
 * Before each request the client stat()s token_file and reads it again
 * when it changed, and runs the exec plugin when its credential is
 * missing or expires within 10 s (a missing plugin: KCR_E_UNAVAILABLE
 * naming it and its installHint; one that fails: KCR_E_AUTH with its
 * stderr's first line); a 401 makes it ask the plugin again, once. */
struct kcr_k8s *kcr_k8s_new(const struct kcr_k8s_config *cfg, const struct kcr_k8s_opts *opts,
			    kcr_error_t *err);
void kcr_k8s_free(struct kcr_k8s *k);
/* The namespace of the configuration. */
const char *kcr_k8s_namespace(const struct kcr_k8s *k);
const char *kcr_k8s_server(const struct kcr_k8s *k);

/* One request: path is the URL path and query ("/api/v1/namespaces/x/pods
 * ?labelSelector=..."), body JSON text or NULL, content_type NULL for
 * application/json (a PATCH names its own: "application/merge-patch+json").
 * On a 2xx, *reply (if reply is not NULL) is the parsed body (NULL when
 * empty) and *http the status. Otherwise -1 and the Status object's message
 * in err, as:
 *   400, 422 -> KCR_E_INVALID     401, 403 -> KCR_E_AUTH
 *   404      -> KCR_E_NOTFOUND    409      -> KCR_E_CONFLICT (also 410 Gone)
 *   408, 504, a timeout           -> KCR_E_TIMEOUT
 *   429, 5xx, no connection       -> KCR_E_UNAVAILABLE (after the retries)
 *   a reply that is not JSON      -> KCR_E_BACKEND
 * err->sys_errno holds the HTTP status (0 without a reply). Retries only
 * what is safe to retry: every GET, and a write whose request was refused
 * before the server read it (429, 503, connect failures); each retry on a
 * new connection. A reply over 64 MiB is KCR_E_BACKEND. */
int kcr_k8s_request(struct kcr_k8s *k, const char *method, const char *path,
		    const char *content_type, const char *body, cJSON **reply, long *http,
		    kcr_error_t *err);

/* Shorthands of kcr_k8s_request with JSON bodies. */
int kcr_k8s_get(struct kcr_k8s *k, const char *path, cJSON **reply, kcr_error_t *err);
int kcr_k8s_create(struct kcr_k8s *k, const char *path, const cJSON *obj, cJSON **reply,
		   kcr_error_t *err);
int kcr_k8s_merge_patch(struct kcr_k8s *k, const char *path, const cJSON *patch,
			cJSON **reply, kcr_error_t *err);
/* DELETE with a DeleteOptions body: grace_seconds < 0 leaves the default;
 * propagation NULL, "Background", "Foreground" or "Orphan". Already gone
 * (404) is success. */
int kcr_k8s_delete(struct kcr_k8s *k, const char *path, int grace_seconds,
		   const char *propagation, kcr_error_t *err);

/* Percent-encodes s for a query value (labelSelector=...); free(). */
char *kcr_k8s_query_escape(const char *s);

/* ---- watches ------------------------------------------------------------ */

/* One event: type is "ADDED", "MODIFIED", "DELETED" or "BOOKMARK"; object
 * is borrowed for the call. Return 0 to go on, non-zero to stop. */
typedef int (*kcr_k8s_watch_fn)(void *arg, const char *type, const cJSON *object);

/* Streams a watch of path (a collection: "/api/v1/namespaces/x/pods")
 * from resource_version with query ("labelSelector=a%3Db", may be NULL)
 * and allowWatchBookmarks, calling fn per event, until fn stops it, the
 * server ends it (after about timeout_s: timeoutSeconds), or stop_fd
 * (> 0) is readable. rv (at least 128 bytes) starts as the version to
 * watch from and is kept at the newest one seen (bookmarks included), so
 * the caller can watch again from there.
 * Returns 0 when it ended normally (the caller watches again from rv),
 * 1 when the server said 410 Gone (rv too old: list again and watch from
 * the list's version), -1 with err on anything else. A stream that sends
 * nothing, not even a bookmark, for idle_ms (0: 2 * timeout_s; both 0:
 * never) is taken as stalled and ends with KCR_E_TIMEOUT. Lines are
 * split wherever the bytes come; one event over 16 MiB, or a line that
 * is not an event, is KCR_E_BACKEND; an ERROR event other than 410 is
 * its Status as kcr_k8s_request tells it. A connection lost after the
 * stream began ends it normally (0). */
int kcr_k8s_watch(struct kcr_k8s *k, const char *path, const char *query, char *rv,
		  unsigned int timeout_s, uint64_t idle_ms, int stop_fd, kcr_k8s_watch_fn fn,
		  void *arg, kcr_error_t *err);

/* ---- the pod proxy: a pod's port through the API server ---------------- */

/* A request to pod name's port through the API server
 * (/api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH), for a kcr outside the
 * cluster that cannot reach pod IPs. body (len bytes) may be NULL. With
 * out >= 0 the reply's body is written to out as it arrives (at most max
 * bytes, else KCR_E_LIMIT; *len counts them); with out < 0 it is returned
 * in *reply (NUL-terminated, at most max bytes). A non-2xx reply is an
 * error whose message is the reply's "error" (kcr-runner's JSON) or its
 * Status message. timeout_ms bounds the whole call (0: the client's).
 * A body that starts with '{' or '[' goes as application/json, any other
 * as application/octet-stream. Retried as kcr_k8s_request says, never
 * once bytes went to out. */
int kcr_k8s_proxy(struct kcr_k8s *k, const char *pod, int port, const char *method,
		  const char *path, const void *body, size_t body_len, uint64_t timeout_ms,
		  uint64_t max, int out, uint64_t *len, char **reply, long *http,
		  kcr_error_t *err);

#endif

/* What the files of the Kubernetes API client share, and no one else:
 * the configuration (k8s_config.c), the credentials that change while a
 * client lives (k8s_auth.c: a token file, an exec plugin), one HTTP
 * exchange with its retries and the Status objects (k8s_client.c),
 * watches (k8s_watch.c) and the pod proxy (k8s_proxy.c). */
#ifndef KCR_K8S_INTERNAL_H
#define KCR_K8S_INTERNAL_H

#include "sandbox/k8s.h"
#include "base/curl_dl.h"
#include "base/util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* A broken or hostile API server must not grow kcr's memory without
 * bound: a reply (a list) over K8S_REPLY_MAX, one watch event over
 * K8S_EVENT_MAX, is KCR_E_BACKEND; of a failure's body only the first
 * K8S_ERR_BODY_MAX bytes are kept (a Status is small). */
#define K8S_REPLY_MAX    ((uint64_t)64 << 20)
#define K8S_EVENT_MAX    ((size_t)16 << 20)
#define K8S_ERR_BODY_MAX ((size_t)256 << 10)
/* A Retry-After longer than this is cut to it. */
#define K8S_RETRY_AFTER_MAX_MS 60000

/* Credentials that change while the client lives, under lock: the token
 * file's token (re-read when the file changes: a projected token
 * rotates) and the exec plugin's answer (kept until it expires). */
struct k8s_creds {
	pthread_mutex_t lock;
	char *file_token;
	bool file_seen;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	bool exec_valid;
	char *exec_token, *exec_cert, *exec_key;
	double exec_expiry; /* epoch seconds; 0: none said */
};

struct kcr_k8s {
	struct kcr_k8s_config cfg;
	struct kcr_k8s_opts opts; /* defaults filled in */
	char *base;               /* cfg.server without a trailing '/' */
	/* connections, DNS answers and TLS sessions reused between calls
	 * and threads */
	struct kcr_curl_share *share;
	struct k8s_creds creds;
};

/* ---- k8s_config.c ---- */
void k8s_config_copy(struct kcr_k8s_config *dst, const struct kcr_k8s_config *src);

/* ---- k8s_auth.c ---- */

/* Who we are for one request: copies, released with k8s_auth_release. */
struct k8s_auth {
	char *token;
	char *cert_pem, *key_pem; /* the plugin's or the config's */
};
void k8s_creds_init(struct k8s_creds *c);
void k8s_creds_release(struct k8s_creds *c);
/* Reads the token file again when it changed, runs the exec plugin when
 * its credential is missing or expired. */
int k8s_auth_get(struct kcr_k8s *k, struct k8s_auth *a, kcr_error_t *err);
void k8s_auth_release(struct k8s_auth *a);
/* After a 401: forgets what may have been revoked or rotated (the
 * plugin's credential, the token file's token). true when there was
 * something to ask again, so that one more try may succeed. */
bool k8s_auth_invalidate(struct kcr_k8s *k);

/* ---- k8s_client.c: one exchange ---- */

/* One request and what came back of its latest try. */
struct k8s_call {
	const char *method;
	const char *path; /* and query */
	const char *content_type;
	const void *body;
	size_t body_len;
	bool has_body;
	bool fresh;          /* a retry: on a new connection */
	uint64_t timeout_ms; /* one try in all; 0: none (a watch) */
	uint64_t max;        /* bytes of a 2xx body; over: over_max */
	bool max_is_limit;   /* over max is KCR_E_LIMIT (the caller's max), not KCR_E_BACKEND */
	int out_fd;          /* >= 0: a 2xx body is written there */
	/* a 2xx body handed on as it comes (a watch): returns false to stop */
	bool (*on_data)(void *arg, const char *p, size_t n);
	void *arg;

	/* of the latest try */
	long status;
	struct kcr_buf body_in; /* a 2xx body in memory, or a failure's first bytes */
	uint64_t written;       /* 2xx body bytes taken */
	uint64_t written_total; /* over all tries */
	long retry_after_ms;    /* -1: none said */
	bool over_max, io_failed, stopped;
	int io_errno;
	uint64_t last_byte_ms; /* kcr_now_ms() when bytes last came */
	CURLcode code;
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *headers;
};

void k8s_call_init(struct k8s_call *c);
void k8s_call_release(struct k8s_call *c);
/* Clears what a try found, before the next one. */
void k8s_call_reset(struct k8s_call *c);
/* A handle ready for one try of c, with this try's credentials and
 * timeout (0: c's own). */
CURL *k8s_easy(struct kcr_k8s *k, struct k8s_call *c, const struct k8s_auth *a, uint64_t timeout_ms,
	       kcr_error_t *err);
/* Tries c until it gets a reply that is not worth another try, or the
 * tries run out, or deadline_ms (kcr_now_ms(), 0: none) passes. 0 on a 2xx
 * (c->status), else -1 and err as kcr_k8s_request describes. */
int k8s_perform(struct kcr_k8s *k, struct k8s_call *c, uint64_t deadline_ms, kcr_error_t *err);
/* Whether a failed try may be tried again (the rules of kcr_k8s_request). */
bool k8s_retryable(const struct k8s_call *c, bool nothing_sent);
/* Sleeps before try number `tries` + 1: exponential backoff with jitter,
 * or the server's Retry-After; that try takes a new connection (the one
 * that failed may be what failed: a bad backend behind a load balancer, a
 * request body the server left unread). */
void k8s_backoff(const struct kcr_k8s *k, struct k8s_call *c, unsigned int tries,
		 uint64_t deadline_ms);
/* The error for a try that got a non-2xx reply (Status message, or
 * kcr-runner's "error", else the HTTP status), or no reply at all. */
int k8s_reply_error(const struct k8s_call *c, kcr_error_t *err);
int k8s_transport_error(const struct k8s_call *c, unsigned int tries, kcr_error_t *err);
/* The errc an HTTP status maps to. */
enum kcr_errc k8s_status_errc(long status);

#endif

/* Sandbox providers: a const ops table plus an opaque handle (crun's
 * cgroup managers). A sandbox serves exactly one execution; the provider
 * gives the caller a kcr-runner to talk to.
 *
 * Callers outside lib/sandbox/ use the kcr_sandbox_*() wrappers below,
 * never the table itself. Every op returns 0, or -1 with *err set; an
 * out-parameter is written only on success. */
#ifndef KCR_SANDBOX_H
#define KCR_SANDBOX_H

#include "base/settings.h"
#include "base/error.h"
#include "base/exec.h"
#include "base/lang.h"

#include <stddef.h>
#include <stdint.h>

struct kcr_sandbox_spec {
	const struct kcr_lang *lang;
	struct kcr_limits limits;
	/* start lang's interpreter (with pool.<lang>_preload imported) before
	 * any code arrives: for sandboxes made ahead of time by a pool */
	bool prewarm;
	/* a language with KCR_LANG_PRELOAD: with pool.<lang>_preload imported
	 * (the program imports some of it), or a bare interpreter */
	bool preload;
	/* > 0: setup gives up (KCR_E_UNAVAILABLE) once this fd is readable,
	 * so a pool that stops need not wait for an interpreter to finish
	 * importing (0 is stdin, never a cancel fd) */
	int cancel_fd;
};

struct kcr_sandbox {
	char id[32];
	const struct kcr_lang *lang; /* what it was made for */
	bool preload;                /* its spec's preload */
	char *endpoint;        /* "unix:/run/kcr/sb-x.sock" or "http://10.0.0.5:8080" */
	void *priv;            /* the provider's own state */
	uint64_t setup_ns;     /* time create() took */
};

/* A sandbox that exists for a provider but that no live pool owns: what a
 * kcr that died left behind (list(), adopt()). */
#define KCR_SANDBOX_REF_MAX 64
struct kcr_sandbox_ref {
	char id[KCR_SANDBOX_REF_MAX];    /* the provider's name for it */
	char owner[KCR_SANDBOX_REF_MAX]; /* who made it, for logs: "pid 1234" */
};

/* Several kcr replicas may share one provider's sandboxes (a kubernetes
 * pool): a ready sandbox is anyone's until a replica claim()s it. A
 * sandbox create() returns to a request is its caller's already. */
struct kcr_sandbox_ops {
	const char *name; /* "local" | "kubernetes" */
	/* *self is the provider's state until close(). */
	int (*open)(void **self, const struct kcr_config *cfg, kcr_error_t *err);
	/* Whether sandboxes for lang can run: KCR_E_UNAVAILABLE with "<Name>
	 * runtime is not installed: <path> is missing (install <package>)"
	 * when not. Asked for every request and every round of a pool's
	 * replenisher: a provider for which that is costly caches it. */
	int (*available)(void *self, const struct kcr_lang *lang, kcr_error_t *err);
	/* Whether create() can work now (what `kcr doctor` would fix). */
	int (*health)(void *self, kcr_error_t *err);
	/* Optional (NULL: nothing to do). Many create()s will follow (a
	 * server, a warm pool): set up, best effort, what makes each cheaper
	 * (local: the runner template). Called on a thread that lives as long
	 * as the provider. */
	void (*prepare_many)(void *self);
	/* A new sandbox for spec, ready for exec() by deadline_ms (kcr_now_ms();
	 * 0: the provider's own limit), else KCR_E_TIMEOUT. *out is the
	 * caller's until it hands it to destroy(). */
	int (*create)(void *self, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
		      struct kcr_sandbox **out, kcr_error_t *err);
	/* Whether sb is alive: -1 when it has to be replaced. */
	int (*check)(void *self, struct kcr_sandbox *sb, kcr_error_t *err);
	/* Takes a ready sandbox for this replica. KCR_E_CONFLICT: another
	 * replica has it; sb is then only a handle, which destroy() frees
	 * without touching the other replica's sandbox. Another error: it
	 * is known dead (what check() would find, at no cost), for destroy(). */
	int (*claim)(void *self, struct kcr_sandbox *sb, kcr_error_t *err);
	/* Gives back a claimed sandbox that was not used: ready again. */
	int (*release)(void *self, struct kcr_sandbox *sb, kcr_error_t *err);
	/* Runs req; res is the caller's to release, also on failure. */
	int (*exec)(void *self, struct kcr_sandbox *sb, const struct kcr_exec_request *req,
		    struct kcr_exec_result *res, kcr_error_t *err);
	/* Writes name (one path component, else KCR_E_INVALID) into the
	 * sandbox's /mnt/data. */
	int (*put_file)(void *self, struct kcr_sandbox *sb, const char *name,
			const void *buf, size_t len, kcr_error_t *err);
	/* Copies name from /mnt/data to out as it arrives, at most max
	 * bytes (KCR_E_LIMIT beyond); *len counts them. An output is never
	 * held in kcr's memory whole: a program decides its size. No such
	 * file: KCR_E_NOTFOUND; a name not one path component: KCR_E_INVALID. */
	int (*get_file)(void *self, struct kcr_sandbox *sb, const char *name, uint64_t max,
			int out, uint64_t *len, kcr_error_t *err);
	/* The provider's sandboxes that no live pool owns; *out (an array of
	 * *n, NULL when none) is the caller's to free(). */
	int (*list)(void *self, struct kcr_sandbox_ref **out, size_t *n, kcr_error_t *err);
	/* Cleans up one of list()'s: kills what runs in it, removes what is
	 * left. One already gone is no error. */
	int (*adopt)(void *self, const struct kcr_sandbox_ref *ref, kcr_error_t *err);
	/* Kills sb and frees it, also on failure. */
	int (*destroy)(void *self, struct kcr_sandbox *sb, kcr_error_t *err);
	void (*close)(void *self);
};

extern const struct kcr_sandbox_ops kcr_sandbox_local_ops;
extern const struct kcr_sandbox_ops kcr_sandbox_kubernetes_ops;

/* An opened provider. */
struct kcr_sandbox_provider {
	const struct kcr_sandbox_ops *ops;
	void *self;
};

/* Opens the provider sandbox.provider names. */
int kcr_sandbox_provider_open(struct kcr_sandbox_provider *p, const struct kcr_config *cfg,
			      kcr_error_t *err);
/* Opens ops, registered or not (a test's fake). */
int kcr_sandbox_provider_open_ops(struct kcr_sandbox_provider *p,
				  const struct kcr_sandbox_ops *ops,
				  const struct kcr_config *cfg, kcr_error_t *err);
void kcr_sandbox_provider_close(struct kcr_sandbox_provider *p);

/* The ops of p, as documented in struct kcr_sandbox_ops. create() sets the
 * new sandbox's lang and preload from spec, and fails with KCR_E_TIMEOUT
 * at once when deadline_ms has passed. destroy(NULL) is a no-op. */
int kcr_sandbox_available(const struct kcr_sandbox_provider *p, const struct kcr_lang *lang,
			  kcr_error_t *err);
int kcr_sandbox_health(const struct kcr_sandbox_provider *p, kcr_error_t *err);
void kcr_sandbox_prepare_many(const struct kcr_sandbox_provider *p);
int kcr_sandbox_create(const struct kcr_sandbox_provider *p, const struct kcr_sandbox_spec *spec,
		       uint64_t deadline_ms, struct kcr_sandbox **out, kcr_error_t *err);
int kcr_sandbox_check(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb,
		      kcr_error_t *err);
int kcr_sandbox_claim(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb,
		      kcr_error_t *err);
int kcr_sandbox_release(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb,
			kcr_error_t *err);
int kcr_sandbox_exec(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb,
		     const struct kcr_exec_request *req, struct kcr_exec_result *res, kcr_error_t *err);
int kcr_sandbox_put_file(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb,
			 const char *name, const void *buf, size_t len, kcr_error_t *err);
int kcr_sandbox_get_file(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb,
			 const char *name, uint64_t max, int out, uint64_t *len, kcr_error_t *err);
int kcr_sandbox_list(const struct kcr_sandbox_provider *p, struct kcr_sandbox_ref **out,
		     size_t *n, kcr_error_t *err);
int kcr_sandbox_adopt(const struct kcr_sandbox_provider *p, const struct kcr_sandbox_ref *ref,
		      kcr_error_t *err);
int kcr_sandbox_destroy(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb,
			kcr_error_t *err);

#endif

/* Sandbox providers: a const ops table plus an opaque handle (crun's
 * cgroup managers). A sandbox serves exactly one execution; the provider
 * gives the caller a kcr-runner to talk to. */
#ifndef KCR_SANDBOX_H
#define KCR_SANDBOX_H

#include "base/settings.h"
#include "base/error.h"
#include "base/exec.h"

#include <stddef.h>

struct kcr_sandbox_spec {
	const struct kcr_lang *lang;
	struct kcr_limits limits;
	/* start lang's interpreter (with pool.<lang>_preload imported) before
	 * any code arrives: for sandboxes made ahead of time by a pool */
	bool prewarm;
	/* Python: with pool.py_preload imported (the program imports some of
	 * it), or a bare interpreter */
	bool preload;
};

struct kcr_sandbox {
	char id[32];
	const struct kcr_lang *lang; /* what it was made for (set by the pool) */
	bool preload;                /* its spec's preload */
	char *endpoint;        /* "unix:/run/kcr/sb-x.sock" or "http://10.0.0.5:8080" */
	void *priv;            /* the provider's own state */
	uint64_t setup_ns;     /* time create() took */
};

struct kcr_sandbox_ops {
	const char *name; /* "local" | "kubernetes" */
	int (*open)(void **self, const struct kcr_config *cfg, kcr_error_t *err);
	int (*create)(void *self, const struct kcr_sandbox_spec *spec,
		      struct kcr_sandbox **out, kcr_error_t *err);
	int (*exec)(void *self, struct kcr_sandbox *sb, const struct kcr_exec_request *req,
		    struct kcr_exec_result *res, kcr_error_t *err);
	int (*put_file)(void *self, struct kcr_sandbox *sb, const char *name,
			const void *buf, size_t len, kcr_error_t *err);
	int (*get_file)(void *self, struct kcr_sandbox *sb, const char *name,
			uint64_t max, char **buf, size_t *len, kcr_error_t *err);
	int (*destroy)(void *self, struct kcr_sandbox *sb, kcr_error_t *err);
	void (*close)(void *self);
};

extern const struct kcr_sandbox_ops kcr_sandbox_local_ops;

/* An opened provider. */
struct kcr_sandbox_provider {
	const struct kcr_sandbox_ops *ops;
	void *self;
};

int kcr_sandbox_provider_open(struct kcr_sandbox_provider *p, const struct kcr_config *cfg,
			      kcr_error_t *err);
void kcr_sandbox_provider_close(struct kcr_sandbox_provider *p);

#endif

#include <config.h>

#include "engine/engine.h"
#include "base/clock.h"
#include "base/files.h"
#include "base/ids.h"
#include "base/log.h"
#include "engine/pool.h"
#include "engine/pyimports.h"
#include "sandbox/sandbox.h"
#include "base/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* How long a request waits for a sandbox made for it (a pool miss, or no
 * pool): the local provider's own limit for a runner to start, so that
 * nothing changes there; a provider that starts pods is held to it too. */
#define SETUP_TIMEOUT_MS 15000

struct kcr_engine {
	struct kcr_sandbox_provider provider;
	char *py_preload;      /* pool.py_preload */
	char *spool_dir;       /* <state_dir>/spool: outputs on their way to a store */
	struct kcr_pool *pool; /* NULL: every execution creates its sandbox */
};

struct kcr_engine *
kcr_engine_new(const struct kcr_config *cfg, kcr_error_t *err)
{
	struct kcr_sandbox_provider prov;

	if (kcr_sandbox_provider_open(&prov, cfg, err) < 0)
		return NULL;
	return kcr_engine_new_with_provider(&prov, cfg);
}

struct kcr_engine *
kcr_engine_new_with_provider(struct kcr_sandbox_provider *prov, const struct kcr_config *cfg)
{
	struct kcr_engine *e = kcr_xzalloc(sizeof(*e));

	e->provider = *prov;
	prov->ops = NULL;
	prov->self = NULL;
	e->py_preload = kcr_xstrdup(kcr_config_str(cfg, "pool.py_preload"));
	/* on the fs store's file system, so that a spool links in there */
	e->spool_dir = kcr_strdup_printf("%s/spool", kcr_config_str(cfg, "state_dir"));
	return e;
}

int
kcr_engine_health(struct kcr_engine *e, const char **provider, kcr_error_t *err)
{
	if (provider)
		*provider = e->provider.ops->name;
	return kcr_sandbox_health(&e->provider, err);
}

int
kcr_engine_enable_pool(struct kcr_engine *e, const struct kcr_config *cfg, kcr_error_t *err)
{
	if (e->pool)
		return 0;
	kcr_sandbox_prepare_many(&e->provider);
	e->pool = kcr_pool_new(&e->provider, cfg, err);
	return e->pool ? 0 : -1;
}

void
kcr_engine_prepare_many(struct kcr_engine *e)
{
	kcr_sandbox_prepare_many(&e->provider);
}

const char *
kcr_engine_spool_dir(const struct kcr_engine *e)
{
	return e->spool_dir;
}

struct kcr_pool *
kcr_engine_pool(struct kcr_engine *e)
{
	return e->pool;
}

static int
acquire(struct kcr_engine *e, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
	struct kcr_sandbox **sb, kcr_error_t *err)
{
	if (e->pool)
		return kcr_pool_acquire(e->pool, spec, deadline_ms, sb, err);
	return kcr_sandbox_create(&e->provider, spec, deadline_ms, sb, err);
}

static void
release(struct kcr_engine *e, struct kcr_sandbox *sb)
{
	kcr_error_t err = NULL;
	char id[sizeof(sb->id)];

	if (e->pool) {
		kcr_pool_release(e->pool, sb);
		return;
	}
	memcpy(id, sb->id, sizeof(id));
	if (kcr_sandbox_destroy(&e->provider, sb, &err) < 0)
		kcr_log_warn("destroying sandbox %s: %s", id, err->msg);
	kcr_error_free(err);
}

void
kcr_engine_free(struct kcr_engine *e)
{
	if (e == NULL)
		return;
	kcr_pool_free(e->pool);
	kcr_sandbox_provider_close(&e->provider);
	free(e->py_preload);
	free(e->spool_dir);
	free(e);
}

static bool
blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)s[i]))
			return false;
	return true;
}

static int
check_code(const struct kcr_exec_request *req, kcr_error_t *err)
{
	if (req->lang == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0, "no language given");
	if (req->code == NULL || blank(req->code, req->code_len))
		return kcr_error_set(err, KCR_E_INVALID, 0, "empty code");
	if (req->limits.code_bytes && req->code_len > req->limits.code_bytes)
		return kcr_error_set(err, KCR_E_LIMIT, 0,
				     "code is %zu bytes, over the limit of %llu", req->code_len,
				     (unsigned long long)req->limits.code_bytes);
	return 0;
}

static int
check_inputs(const struct kcr_exec_request *req, kcr_error_t *err)
{
	for (size_t i = 0; i < req->n_inputs; i++) {
		if (!kcr_name_is_safe(req->inputs[i].name))
			return kcr_error_set(err, KCR_E_INVALID, 0, "bad input file name '%s'",
					     req->inputs[i].name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(req->inputs[i].name, req->inputs[j].name) == 0)
				return kcr_error_set(err, KCR_E_INVALID, 0,
						     "two input files named '%s'",
						     req->inputs[i].name);
	}
	return 0;
}

int
kcr_engine_check_request(const struct kcr_exec_request *req, kcr_error_t *err)
{
	return check_code(req, err) < 0 ? -1 : check_inputs(req, err);
}

/* In the order users have seen the errors come: the code, whether the
 * language runs here, the input names. */
int
kcr_engine_validate(struct kcr_engine *e, const struct kcr_exec_request *req, kcr_error_t *err)
{
	if (check_code(req, err) < 0 || kcr_sandbox_available(&e->provider, req->lang, err) < 0)
		return -1;
	return check_inputs(req, err);
}

static bool
is_input(const struct kcr_exec_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_inputs; i++)
		if (strcmp(req->inputs[i].name, name) == 0)
			return true;
	return false;
}

static int
collect_outputs(struct kcr_engine *e, struct kcr_sandbox *sb, const struct kcr_exec_request *req,
		struct kcr_exec_result *res, kcr_error_t *err)
{
	uint64_t max = req->limits.file_size;

	res->outputs = kcr_xzalloc((res->n_changed ? res->n_changed : 1) * sizeof(*res->outputs));
	for (size_t i = 0; i < res->n_changed; i++) {
		struct kcr_file *f = &res->outputs[res->n_outputs];
		uint64_t len = 0;

		if ((f->fd = kcr_spool_open(e->spool_dir, err)) < 0) {
			f->fd = 0;
			return kcr_error_wrap(err, "collecting output");
		}
		if (kcr_sandbox_get_file(&e->provider, sb, res->changed[i].name, max, f->fd, &len,
					 err) < 0) {
			kcr_closep(&f->fd);
			f->fd = 0;
			return kcr_error_wrap(err, "collecting output");
		}
		f->len = (size_t)len;
		f->name = kcr_xstrdup(res->changed[i].name);
		f->was_input = is_input(req, f->name);
		res->n_outputs++;
	}
	return 0;
}

static int
run_in(struct kcr_engine *e, struct kcr_sandbox *sb, const struct kcr_exec_request *req,
       struct kcr_exec_result *res, kcr_error_t *err)
{
	for (size_t i = 0; i < req->n_inputs; i++) {
		const struct kcr_file *f = &req->inputs[i];

		if (kcr_sandbox_put_file(&e->provider, sb, f->name, f->data, f->len, err) < 0)
			return kcr_error_wrap(err, "placing input '%s'", f->name);
	}
	if (kcr_sandbox_exec(&e->provider, sb, req, res, err) < 0)
		return -1;
	return collect_outputs(e, sb, req, res, err);
}

int
kcr_engine_run(struct kcr_engine *e, const struct kcr_exec_request *req,
	       struct kcr_exec_result *res, kcr_error_t *err)
{
	struct kcr_sandbox_spec spec = { .lang = req->lang, .limits = req->limits };
	struct kcr_sandbox *sb = NULL;
	uint64_t t0 = kcr_now_ns();
	int ret;

	if (kcr_engine_validate(e, req, err) < 0)
		return -1;
	/* a state may hold a DataFrame: restoring it imports pandas */
	spec.preload =
		(req->lang->caps & KCR_LANG_PRELOAD) &&
		(req->state_in || kcr_py_imports_any(req->code, req->code_len, e->py_preload));
	if (acquire(e, &spec, kcr_now_ms() + SETUP_TIMEOUT_MS, &sb, err) < 0)
		return kcr_error_wrap(err, "creating the sandbox");
	res->setup_us = (kcr_now_ns() - t0) / 1000; /* ~0 from a warm pool */
	ret = run_in(e, sb, req, res, err);
	release(e, sb);
	res->total_us = (kcr_now_ns() - t0) / 1000;
	kcr_log_debug("%s%s: setup %.1f ms, run %llu ms, total %.1f ms", req->lang->id,
		      spec.preload ? " (preload)" : "", res->setup_us / 1000.0,
		      (unsigned long long)res->duration_ms, res->total_us / 1000.0);
	if (ret < 0)
		kcr_exec_result_release(res);
	return ret;
}

#include <config.h>

#include "sandbox/sandbox.h"
#include "base/clock.h"
#include "base/util.h"

#include <string.h>

static const struct kcr_sandbox_ops *const providers[] = {
	&kcr_sandbox_local_ops,
	&kcr_sandbox_kubernetes_ops,
};

int
kcr_sandbox_provider_open(struct kcr_sandbox_provider *p, const struct kcr_config *cfg,
			  kcr_error_t *err)
{
	const char *name = kcr_config_str(cfg, "sandbox.provider");

	for (size_t i = 0; i < KCR_ARRAY_SIZE(providers); i++) {
		if (strcmp(providers[i]->name, name) == 0)
			return kcr_sandbox_provider_open_ops(p, providers[i], cfg, err);
	}
	return kcr_error_set(err, KCR_E_INVALID, 0, "unknown sandbox provider '%s'", name);
}

int
kcr_sandbox_provider_open_ops(struct kcr_sandbox_provider *p, const struct kcr_sandbox_ops *ops,
			      const struct kcr_config *cfg, kcr_error_t *err)
{
	p->self = NULL;
	if (ops->open(&p->self, cfg, err) < 0) {
		p->ops = NULL;
		return -1;
	}
	p->ops = ops;
	return 0;
}

void
kcr_sandbox_provider_close(struct kcr_sandbox_provider *p)
{
	if (p->ops && p->self)
		p->ops->close(p->self);
	p->ops = NULL;
	p->self = NULL;
}

int
kcr_sandbox_available(const struct kcr_sandbox_provider *p, const struct kcr_lang *lang,
		      kcr_error_t *err)
{
	return p->ops->available(p->self, lang, err);
}

int
kcr_sandbox_health(const struct kcr_sandbox_provider *p, kcr_error_t *err)
{
	return p->ops->health(p->self, err);
}

void
kcr_sandbox_prepare_many(const struct kcr_sandbox_provider *p)
{
	if (p->ops->prepare_many)
		p->ops->prepare_many(p->self);
}

int
kcr_sandbox_create(const struct kcr_sandbox_provider *p, const struct kcr_sandbox_spec *spec,
		   uint64_t deadline_ms, struct kcr_sandbox **out, kcr_error_t *err)
{
	struct kcr_sandbox *sb = NULL;

	/* a request that waited past its deadline gets no sandbox, whichever
	 * the provider */
	if (deadline_ms && kcr_now_ms() >= deadline_ms)
		return kcr_error_set(err, KCR_E_TIMEOUT, 0, "no sandbox in time for the %s request",
				     spec->lang ? spec->lang->id : "");
	if (p->ops->create(p->self, spec, deadline_ms, &sb, err) < 0)
		return -1;
	sb->lang = spec->lang;
	sb->preload = spec->preload;
	*out = sb;
	return 0;
}

int
kcr_sandbox_check(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb, kcr_error_t *err)
{
	return p->ops->check(p->self, sb, err);
}

int
kcr_sandbox_claim(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb, kcr_error_t *err)
{
	return p->ops->claim(p->self, sb, err);
}

int
kcr_sandbox_release(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb,
		    kcr_error_t *err)
{
	return p->ops->release(p->self, sb, err);
}

int
kcr_sandbox_exec(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb,
		 const struct kcr_exec_request *req, struct kcr_exec_result *res, kcr_error_t *err)
{
	return p->ops->exec(p->self, sb, req, res, err);
}

int
kcr_sandbox_put_file(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb,
		     const char *name, const void *buf, size_t len, kcr_error_t *err)
{
	return p->ops->put_file(p->self, sb, name, buf, len, err);
}

int
kcr_sandbox_get_file(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb,
		     const char *name, uint64_t max, int out, uint64_t *len, kcr_error_t *err)
{
	return p->ops->get_file(p->self, sb, name, max, out, len, err);
}

int
kcr_sandbox_list(const struct kcr_sandbox_provider *p, struct kcr_sandbox_ref **out, size_t *n,
		 kcr_error_t *err)
{
	return p->ops->list(p->self, out, n, err);
}

int
kcr_sandbox_adopt(const struct kcr_sandbox_provider *p, const struct kcr_sandbox_ref *ref,
		  kcr_error_t *err)
{
	return p->ops->adopt(p->self, ref, err);
}

int
kcr_sandbox_destroy(const struct kcr_sandbox_provider *p, struct kcr_sandbox *sb,
		    kcr_error_t *err)
{
	return sb ? p->ops->destroy(p->self, sb, err) : 0;
}

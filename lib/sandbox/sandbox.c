#include <config.h>

#include "sandbox/sandbox.h"
#include "base/util.h"

#include <string.h>

static const struct kcr_sandbox_ops *const providers[] = {
	&kcr_sandbox_local_ops,
};

int
kcr_sandbox_provider_open(struct kcr_sandbox_provider *p, const struct kcr_config *cfg,
			  kcr_error_t *err)
{
	const char *name = kcr_config_str(cfg, "sandbox.provider");

	for (size_t i = 0; i < KCR_ARRAY_SIZE(providers); i++) {
		if (strcmp(providers[i]->name, name) != 0)
			continue;
		p->ops = providers[i];
		return p->ops->open(&p->self, cfg, err);
	}
	return kcr_error_set(err, KCR_E_INVALID, 0, "unknown sandbox provider '%s'", name);
}

void
kcr_sandbox_provider_close(struct kcr_sandbox_provider *p)
{
	if (p->ops && p->self)
		p->ops->close(p->self);
	p->ops = NULL;
	p->self = NULL;
}

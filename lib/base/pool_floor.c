#include <config.h>

#include "base/pool_floor.h"
#include "base/util.h"

#include <string.h>

unsigned int
kcr_pool_floor(const struct kcr_config *cfg, const struct kcr_lang *l)
{
	return kcr_pool_floor_of(cfg, l, kcr_config_str(cfg, "sandbox.provider"));
}

unsigned int
kcr_pool_floor_of(const struct kcr_config *cfg, const struct kcr_lang *l, const char *provider)
{
	kcr_autofree char *key = kcr_strdup_printf("pool.%s", l->id);

	if (!kcr_config_bool(cfg, "pool.enabled"))
		return 0;
	if (kcr_config_source(cfg, key, NULL) == KCR_SRC_DEFAULT &&
	    strcmp(provider, "kubernetes") == 0 && !(l->caps & KCR_LANG_POD_POOL))
		return 0;
	return (unsigned int)kcr_config_int(cfg, key);
}

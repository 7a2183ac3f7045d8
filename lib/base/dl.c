#include <config.h>

#include "base/dl.h"
#include "base/util.h"

#include <dlfcn.h>

char *
kcr_dl_load(const char *soname, const char *what, const struct kcr_dl_sym *syms, size_t n)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

	if (h == NULL)
		return kcr_strdup_printf("cannot load %s: %s", what, dlerror());
	for (size_t i = 0; i < n; i++) {
		*syms[i].slot = dlsym(h, syms[i].name);
		if (*syms[i].slot == NULL)
			return kcr_strdup_printf("%s has no %s", what, syms[i].name);
	}
	return NULL;
}

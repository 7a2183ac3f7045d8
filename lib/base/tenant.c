#include <config.h>

#include "base/tenant.h"
#include "base/encode.h"

#include <stdio.h>
#include <string.h>

void
kcr_tenant_of_key(const char *key, char out[KCR_TENANT_MAX + 1])
{
	char hex[65];

	kcr_sha256_hex(key, strlen(key), hex);
	snprintf(out, KCR_TENANT_MAX + 1, "key:%s", hex);
}

void
kcr_tenant_of_network(const char *cidr, char out[KCR_TENANT_MAX + 1])
{
	snprintf(out, KCR_TENANT_MAX + 1, "net:%s", cidr);
}

bool
kcr_tenant_may(const char *caller, const char *owner)
{
	if (caller == NULL)
		return true;
	return owner != NULL && strcmp(caller, owner) == 0;
}

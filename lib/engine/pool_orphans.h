/* What a kcr that died left behind: its sandboxes, which no live pool
 * owns, cleaned up once when a pool starts (the provider's list() and
 * adopt()). */
#ifndef KCR_POOL_ORPHANS_H
#define KCR_POOL_ORPHANS_H

#include "sandbox/sandbox.h"

void kcr_pool_adopt_orphans(const struct kcr_sandbox_provider *prov);

#endif

#include <config.h>

#include "engine/pool_orphans.h"
#include "base/log.h"

#include <stdlib.h>

/* Sandboxes a kcr that died left behind, cleaned up once at start. */
void
kcr_pool_adopt_orphans(const struct kcr_sandbox_provider *prov)
{
	struct kcr_sandbox_ref *refs = NULL;
	kcr_error_t err = NULL;
	size_t n = 0, done = 0;

	if (kcr_sandbox_list(prov, &refs, &n, &err) < 0) {
		kcr_log_warn("pool: cannot list leftover sandboxes: %s", err->msg);
		kcr_error_free(err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (kcr_sandbox_adopt(prov, &refs[i], &err) == 0) {
			done++;
			continue;
		}
		kcr_log_warn("pool: cleaning up sandbox %s of %s: %s", refs[i].id, refs[i].owner,
			     err->msg);
		kcr_error_release(&err);
	}
	if (done)
		kcr_log_info("pool: cleaned up %zu sandbox%s left behind by a kcr that died", done,
			     done == 1 ? "" : "es");
	free(refs);
}

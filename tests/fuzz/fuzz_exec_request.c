/* POST /exec bodies (lib/server/api_exec.c): what any client may send. */
#include <config.h>

#include "fuzz.h"
#include "server/api-internal.h"

#include <stdlib.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kcr_exec_request c = { 0 };
	struct verr v = { 0 };

	api_parse_exec((const char *)data, size, &c, &v);
	kcr_exec_request_release(&c);
	free(v.msg);
	return 0;
}

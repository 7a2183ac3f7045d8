/* Python state blobs (lib/base/pystate_blob.c): POST /state takes them
 * from any client. */
#include <config.h>

#include "fuzz.h"
#include "base/pystate_blob.h"

#include <stdlib.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kcr_error_t err = NULL;
	char *out = NULL;
	size_t len = 0;

	kcr_pystate_blob_validate(data, size, 1 << 20, &err);
	kcr_error_release(&err);
	if (kcr_pystate_blob_decode(data, size, 1 << 20, &out, &len, &err) == 0)
		free(out);
	kcr_error_release(&err);
	return 0;
}

/* The key scanner that reads unauthenticated JSON bodies
 * (lib/server/body_key.c). */
#include <config.h>

#include "fuzz.h"
#include "server/body_key.h"

#include <stdlib.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "LIBRECHAT_CODE_API_KEY", "api_key", "apiKey" };

	free(kcr_body_key_find((const char *)data, size, names, 3));
	return 0;
}

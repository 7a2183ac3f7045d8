/* The runner's wire format (lib/runner/proto.c), both ways: kcr-runner
 * decodes requests, kcr decodes what a (compromised) sandbox answers. The
 * first byte picks which. */
#include <config.h>

#include "fuzz.h"
#include "runner/proto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kcr_error_t err = NULL;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		struct kcr_exec_request req = { 0 };

		kcr_proto_exec_req_decode((const char *)data + 1, size - 1, &req, &err);
		kcr_exec_request_release(&req);
	} else {
		struct kcr_exec_result res = { 0 };

		kcr_proto_exec_res_decode((const char *)data + 1, size - 1, &res, &err);
		kcr_exec_result_release(&res);
	}
	kcr_error_free(err);
	return 0;
}

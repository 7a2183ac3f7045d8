/* TAP assertions on calls that take a kcr_error_t * as their last
 * argument: the call is written with &e_ as that argument. */
#ifndef KCR_TAP_ERR_H
#define KCR_TAP_ERR_H

#include "base/error.h"
#include "tap.h"

#include <stdio.h>

/* call, with &e_ as its error, succeeds */
#define OK(call)                                                                                   \
	do {                                                                                       \
		kcr_error_t e_ = NULL;                                                             \
		if ((call) < 0) {                                                                  \
			fprintf(stderr, "# %s: %s\n", #call, e_ ? e_->msg : "?");                  \
			kcr_error_free(e_);                                                        \
			TAP_FAIL("failed: %s", #call);                                             \
		}                                                                                  \
	} while (0)
/* call, with &e_ as its error, fails with the code want */
#define FAILS(want, call)                                                                          \
	do {                                                                                       \
		kcr_error_t e_ = NULL;                                                             \
		if ((call) == 0)                                                                   \
			TAP_FAIL("succeeded, expected %s: %s", kcr_errc_name(want), #call);        \
		if (e_ == NULL || e_->code != (want)) {                                            \
			const char *got_ = e_ ? kcr_errc_name(e_->code) : "none";                  \
			fprintf(stderr, "# %s\n", e_ ? e_->msg : "(no error)");                    \
			kcr_error_free(e_);                                                        \
			TAP_FAIL("%s: got %s, expected %s", #call, got_, kcr_errc_name(want));     \
		}                                                                                  \
		kcr_error_free(e_);                                                                \
	} while (0)

#endif

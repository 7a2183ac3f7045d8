/* A tiny TAP producer for the C unit tests (crun's RUN_TEST). A test
 * returns 0 for pass, -1 for fail, 77 for skip. */
#ifndef KCR_TAP_H
#define KCR_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define TAP_FAIL(...)                                                   \
	do {                                                            \
		fprintf(stderr, "# %s:%d: ", __FILE__, __LINE__);       \
		fprintf(stderr, __VA_ARGS__);                           \
		fprintf(stderr, "\n");                                  \
		return -1;                                              \
	} while (0)
#define TAP_ASSERT(c)                                                   \
	do {                                                            \
		if (!(c))                                               \
			TAP_FAIL("assertion failed: %s", #c);           \
	} while (0)
#define TAP_STREQ(a, b)                                                 \
	do {                                                            \
		const char *a_ = (a), *b_ = (b);                        \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)    \
			TAP_FAIL("'%s' != '%s'", a_ ? a_ : "(null)",    \
				 b_ ? b_ : "(null)");                   \
	} while (0)

#define RUN_TEST(t)                                                     \
	do {                                                            \
		int r_ = t();                                           \
		tap_n++;                                                \
		if (r_ == 77)                                           \
			printf("ok %d - %s # SKIP\n", tap_n, #t);       \
		else if (r_ == 0)                                       \
			printf("ok %d - %s\n", tap_n, #t);              \
		else {                                                  \
			printf("not ok %d - %s\n", tap_n, #t);          \
			tap_failed++;                                   \
		}                                                       \
		fflush(stdout);                                         \
	} while (0)
#define TAP_PLAN(n) printf("1..%d\n", (n))
#define TAP_DONE() (tap_failed ? 1 : 0)

#endif

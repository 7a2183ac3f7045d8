/* Test servers for the s3 file store: s3rver (npm, installed by
 * scripts/install-deps.sh) and tests/unit/s3_fault.py, a small S3 that
 * fails on purpose. Each is started once per test program, on a port of
 * its own, and killed when the program exits. */
#ifndef KCR_TEST_S3_SERVERS_H
#define KCR_TEST_S3_SERVERS_H

#include "base/settings.h"

#include <stdbool.h>

/* s3rver's endpoint ("http://127.0.0.1:PORT"), started on first use;
 * NULL when s3rver is not installed or would not start. */
const char *s3t_s3rver(void);
/* Kills s3rver, and starts it again on the same port and data. */
void s3t_s3rver_stop(void);
int s3t_s3rver_restart(void);
/* The fault server's endpoint, or NULL (no python3). */
const char *s3t_fault_server(void);
/* Points cfg at endpoint with a fresh bucket ("kcr-test-N") that the
 * store creates, or at bucket when it is not NULL. */
int s3t_configure(struct kcr_config *cfg, const char *endpoint, const char *bucket);

#endif

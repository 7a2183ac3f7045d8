/* The Python state of a session as it is stored and moved over the API
 * (DESIGN.md §2 "Python state"; KubeCodeRun's format, kubecoderun-features
 * §5): one version byte, then the payload.
 *
 *   1  the pickle bytes as they are
 *   2  an LZ4 frame (lz4frame.h) of the pickle bytes
 *
 * kcr writes version 2 and reads both. The pickle itself is only ever
 * loaded inside a sandbox (lib/runner/pystate_hook.c); here it is bytes, checked for
 * size and for ending with pickle's STOP opcode. */
#ifndef KCR_PYSTATE_BLOB_H
#define KCR_PYSTATE_BLOB_H

#include "base/error.h"


#include <stddef.h>
#include <stdint.h>

#define KCR_PYSTATE_V1 1
#define KCR_PYSTATE_V2 2
#define KCR_PYSTATE_MAX_DEFAULT ((uint64_t)50 << 20) /* state.max_size_mb */

/* pickle -> version 2. max (0: none) bounds the pickle and the result
 * (KCR_E_LIMIT). *out is the caller's. */
int kcr_pystate_blob_encode(const void *pickle, size_t len, uint64_t max, char **out, size_t *out_len,
		     kcr_error_t *err);
/* version 1 or 2 -> pickle. max (0: none) bounds the blob and the pickle
 * (KCR_E_LIMIT); anything malformed is KCR_E_INVALID. */
int kcr_pystate_blob_decode(const void *blob, size_t len, uint64_t max, char **out, size_t *out_len,
		     kcr_error_t *err);
/* kcr_pystate_blob_decode without keeping the pickle (a fixed scratch buffer). */
int kcr_pystate_blob_validate(const void *blob, size_t len, uint64_t max, kcr_error_t *err);
/* The state_hash of the API: SHA-256 of the blob, in hex. */
void kcr_pystate_blob_hash(const void *blob, size_t len, char out[65]);


#endif

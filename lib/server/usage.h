/* What each key used, per language: executions, those that failed, the
 * milliseconds they ran, the bytes they returned. Added up in memory by
 * each replica and flushed every second to the session store's counters
 * (which never expire), so that an execution pays no store round trip
 * for it: counter_add is additive, so replicas flushing into one Redis
 * add up. What a replica holds unflushed is at most a second's, lost
 * only if it dies; the table has an entry per key and language used
 * since the last flush. */
#ifndef KCR_USAGE_H
#define KCR_USAGE_H

#include "base/error.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

enum {
	KCR_USAGE_EXECUTIONS,
	KCR_USAGE_ERRORS,
	KCR_USAGE_RUN_MS,
	KCR_USAGE_BYTES,
	KCR_USAGE_CPU_MS,
	KCR_USAGE_FIELDS
};
const char *kcr_usage_field_name(unsigned int f);
/* "usage:<key id>:<language>:<field>" */
void kcr_usage_counter_name(const char *id, const char *lang, unsigned int f, char *out,
			    size_t size);

struct kcr_usage;
/* Flushes to st every flush_ms (0: only when asked) from a thread of its
 * own; st must outlive it. */
struct kcr_usage *kcr_usage_new(struct kcr_stores *st, unsigned int flush_ms);
/* Flushes what is left, and stops. */
void kcr_usage_free(struct kcr_usage *u);
void kcr_usage_add(struct kcr_usage *u, const char *id, const char *lang,
		   const int64_t v[KCR_USAGE_FIELDS]);
/* Writes what was added so far to the store (what fails to be written is
 * kept for the next flush). */
int kcr_usage_flush(struct kcr_usage *u, kcr_error_t *err);

#endif

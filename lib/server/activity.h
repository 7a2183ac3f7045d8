/* What kcr serve did lately, for the admin dashboard (GET /admin/activity):
 * executions and failed ones per minute and language over the last hour,
 * execution latency percentiles per language and overall over the last
 * minutes, and the last error replies.
 *
 * Memory is fixed at creation whatever the traffic: a ring of one bucket
 * per minute, each holding per language two counters and a latency
 * histogram of log-spaced buckets, and a ring of the last errors. A
 * histogram rather than a reservoir of samples: adding is O(1) and
 * takes the lock for a few instructions; minutes expire exactly as the
 * ring turns (a reservoir cannot forget its old samples by age); and a
 * window of any number of minutes is the sum of theirs. The price is
 * precision: four buckets per doubling put a percentile within 9% of
 * the true value (each bucket is reported at its geometric middle,
 * never above the largest latency seen).
 *
 * This replica's alone: it is not shared through the store. Thread-safe. */
#ifndef KCR_ACTIVITY_H
#define KCR_ACTIVITY_H

#include "base/ids.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

#define KCR_ACTIVITY_MINUTES 60 /* the minutes kept */
#define KCR_ACTIVITY_ERRORS  50 /* the errors kept */
#define KCR_ACTIVITY_MSG_MAX 160
/* the latency window when the caller names none */
#define KCR_ACTIVITY_LATENCY_MINUTES 15

/* One error reply. Never a key: key_id is the SHA-256 that names it. */
struct kcr_activity_error {
	double ts; /* seconds since the epoch */
	int status;
	char method[8];
	char route[48]; /* the route's name, else the path asked for (cut) */
	char error_type[32];
	char message[KCR_ACTIVITY_MSG_MAX + 1]; /* cut to a whole UTF-8 character */
	char key_id[65];                        /* "" when no key authenticated it */
	bool admin;                             /* the admin key's */
	char request_id[KCR_ID_LEN + 1];
};

/* The time in seconds since the epoch; tests pass their own. */
typedef double (*kcr_activity_clock)(void *ud);

struct kcr_activity;

/* clock NULL: the wall clock. */
struct kcr_activity *kcr_activity_new(kcr_activity_clock clock, void *clock_ud);
void kcr_activity_free(struct kcr_activity *a);
/* An execution of lang (an id of the language table; others are not
 * counted) that took ms, failed or not. */
void kcr_activity_exec(struct kcr_activity *a, const char *lang, double ms, bool failed);
/* An error reply; e->ts 0: now. */
void kcr_activity_error(struct kcr_activity *a, const struct kcr_activity_error *e);
/* Copies s into out (size bytes), cut to a whole UTF-8 character and
 * marked "..." when it does not fit. */
void kcr_activity_copy(char *out, size_t size, const char *s);

/* A snapshot (the shape GET /admin/activity answers with):
 * {"now", "minute_start": the first minute's start (epoch s),
 *  "minutes": 60, "executions": {"py": [60 counts, oldest first]},
 *  "errors": {"py": [...]} (languages with executions in the hour only),
 *  "latency": {"window_minutes", "overall": {"count", "p50_ms", "p95_ms",
 *              "p99_ms", "max_ms"}, "languages": {"py": {...}}},
 *  "recent_errors": [newest first: {"ts", "status", "method", "route",
 *                    "error_type", "message", "key_id", "request_id"}]}
 * latency_minutes: 1..60 (clamped). */
cJSON *kcr_activity_json(struct kcr_activity *a, unsigned int latency_minutes);

#endif

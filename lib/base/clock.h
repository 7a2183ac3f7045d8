/* Clocks: monotonic time for durations, wall time for records. */
#ifndef KCR_CLOCK_H
#define KCR_CLOCK_H

#include <stdint.h>
#include <time.h>

uint64_t kcr_now_ms(void);   /* monotonic */
uint64_t kcr_now_ns(void);   /* monotonic */
double kcr_wall_time(void);  /* seconds since the epoch */
/* "2026-11-22T10:00:00.123Z" */
void kcr_iso8601(double t, char out[32]);
/* The same back to epoch seconds (0: not that form); the middle of the
 * millisecond, so that kcr_iso8601 prints the same text again. */
double kcr_iso8601_parse(const char *s);
/* ms from now on clock, the way pthread_cond_timedwait wants a deadline
 * (CLOCK_REALTIME unless the condition was set to another clock). */
struct timespec kcr_timespec_in(clockid_t clock, uint64_t ms);

#endif

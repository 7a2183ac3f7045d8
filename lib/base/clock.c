/* Clocks: monotonic time for durations, wall time for records, and the
 * ISO 8601 form the API shows. */
#include <config.h>

#include "base/clock.h"

#include <stdio.h>
#include <time.h>

uint64_t
kcr_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
kcr_now_ms(void)
{
	return kcr_now_ns() / 1000000ull;
}

double
kcr_wall_time(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
kcr_iso8601(double t, char out[32])
{
	time_t sec = (time_t)t;
	struct tm tm;
	char base[24];

	gmtime_r(&sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", base, (int)((t - (double)sec) * 1000) % 1000);
}

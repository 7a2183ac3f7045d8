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

struct timespec
kcr_timespec_in(clockid_t clock, uint64_t ms)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
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

/* "2026-11-22T10:00:00.123Z" -> epoch seconds; the middle of the
 * millisecond, so that kcr_iso8601 prints the same text again. */
double
kcr_iso8601_parse(const char *s)
{
	struct tm tm = { 0 };
	int n = 0, ms = 0, digits = 0;

	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
				&tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (s[n] == '.')
		for (const char *p = s + n + 1; *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
			ms = ms * 10 + (*p - '0');
	while (digits > 0 && digits < 3)
		ms *= 10, digits++;
	return (double)timegm(&tm) + (digits ? (ms + 0.5) / 1000.0 : 0);
}

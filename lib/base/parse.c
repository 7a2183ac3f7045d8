/* Numbers and booleans from configuration and the command line, with range
 * checks and messages that say what was wrong. */
#include <config.h>

#include "base/parse.h"
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
kcr_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, kcr_error_t *err)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	if (s == NULL || *s == '\0' || *s == '-' || isspace((unsigned char)*s))
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0')
		goto bad;
	if (v < min || v > max)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "'%s' is out of range (%llu..%llu)", s,
				     (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
bad:
	return kcr_error_set(err, KCR_E_INVALID, 0, "'%s' is not a number", s ? s : "");
}

int
kcr_parse_double(const char *s, double min, double max, double *out, kcr_error_t *err)
{
	char *end = NULL;
	double v;

	errno = 0;
	if (s == NULL || *s == '\0')
		goto bad;
	v = strtod(s, &end);
	if (errno || *end != '\0' || !isfinite(v))
		goto bad;
	if (v < min || v > max)
		return kcr_error_set(err, KCR_E_INVALID, 0, "'%s' is out of range (%g..%g)",
				     s, min, max);
	*out = v;
	return 0;
bad:
	return kcr_error_set(err, KCR_E_INVALID, 0, "'%s' is not a number", s ? s : "");
}

bool
kcr_parse_bool(const char *s, bool *out)
{
	static const char *yes[] = { "1", "true", "yes", "on" };
	static const char *no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < KCR_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

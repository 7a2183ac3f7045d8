/* Numbers and booleans from configuration and the command line. */
#ifndef KCR_PARSE_H
#define KCR_PARSE_H

#include "base/error.h"

#include <stdbool.h>
#include <stdint.h>

/* With range checks; -1 and err (KCR_E_INVALID) on bad input. */
int kcr_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, kcr_error_t *err);
int kcr_parse_double(const char *s, double min, double max, double *out, kcr_error_t *err);
/* 1/true/yes/on and 0/false/no/off, any case; false when s is neither. */
bool kcr_parse_bool(const char *s, bool *out);

#endif

/* Encodings. Results are allocated, NUL-terminated, and the caller's. */
#ifndef KCR_ENCODE_H
#define KCR_ENCODE_H

#include "base/error.h"

#include <stdbool.h>
#include <stddef.h>

char *kcr_base64_encode(const void *p, size_t n);
int kcr_base64_decode(const char *s, char **out, size_t *len, kcr_error_t *err);
void kcr_sha256_hex(const void *p, size_t n, char out[65]);
/* The SHA-256 of fd's bytes from offset 0 to EOF; -1 with errno. */
int kcr_sha256_hex_fd(int fd, char out[65]);
/* Text safe for a JSON string shown to people and models: invalid UTF-8
 * becomes U+FFFD; NUL and control characters other than \t \n \r go. */
char *kcr_utf8_clean(const char *p, size_t n);
/* Whether p[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
bool kcr_utf8_valid(const char *p, size_t n);
/* RFC 3986 percent-encoding of everything but unreserved characters. */
char *kcr_percent_encode(const char *s);

#endif

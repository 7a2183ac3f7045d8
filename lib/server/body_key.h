/* The API key a JSON body carries (LibreChat's agents send it only
 * there), found before the request is authenticated: a scan of the
 * top-level members that builds no tree, allocates nothing but the key,
 * and reads each byte once, so that an unauthenticated body costs kcr no
 * more than its own (bounded) size. */
#ifndef KCR_BODY_KEY_H
#define KCR_BODY_KEY_H

#include <stddef.h>

/* The value of the first top-level string member of the JSON object in
 * json[0..len) named one of names[0..n) (compared as they appear in the
 * body, escapes decoded for ASCII), or NULL: not an object, malformed
 * before that member, no such member, or not a string. Nesting deeper
 * than 64 levels stops the scan. The caller frees the result. */
char *kcr_body_key_find(const char *json, size_t len, const char *const *names, size_t n);

#endif

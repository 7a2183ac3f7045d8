/* Session and file ids, and file names safe as one path component. */
#ifndef KCR_IDS_H
#define KCR_IDS_H

#include <stdbool.h>

/* 21-character ids: ^[A-Za-z0-9_-]{21}$, first and last alphanumeric. */
#define KCR_ID_LEN 21
void kcr_id_generate(char out[KCR_ID_LEN + 1]);
bool kcr_id_valid(const char *s);

/* A file name that is safe as one path component (no '/', NUL, "." or ".."). */
bool kcr_name_is_safe(const char *name);

#endif

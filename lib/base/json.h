/* cJSON helpers shared by the stores, the wire formats and the server. */
#ifndef KCR_JSON_H
#define KCR_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* Prints o compactly and deletes it; aborts on out of memory like the
 * rest of kcr's allocations. */
char *kcr_json_print_free(cJSON *o);

/* Getters of one member of object o (NULL is an empty object). Each
 * caller says what an absent member or one of another type gives. */

/* The string member key (borrowed from o), or NULL. */
const char *kcr_json_str(const cJSON *o, const char *key);
/* The number member key, or def. */
double kcr_json_num(const cJSON *o, const char *key, double def);
/* The number member key truncated to an integer, or def when it is
 * negative or not below 2^64. */
uint64_t kcr_json_u64(const cJSON *o, const char *key, uint64_t def);
/* The boolean member key, or def. */
bool kcr_json_bool(const cJSON *o, const char *key, bool def);

#endif

/* cJSON helpers shared by the stores, the wire formats and the server. */
#ifndef KCR_JSON_H
#define KCR_JSON_H

#include <cjson/cJSON.h>

/* Prints o compactly and deletes it; aborts on out of memory like the
 * rest of kcr's allocations. */
char *kcr_json_print_free(cJSON *o);

#endif

/* Managed API keys: created, changed and revoked while kcr serve runs,
 * through the admin API (/admin/keys) or `kcr keys`, and kept in the
 * session store (store.h key_put/get/list/delete) under the SHA-256 of
 * the key, never the key itself, which is shown once, at creation.
 *
 * Every replica finds a new key in the store on the first request that
 * brings it (the configured keys are checked first) and remembers what it
 * found, a key or its absence, for server.key_cache_ms at most: that is
 * how long a revoke, a disable or a new limit takes to reach every
 * replica. The tenant of a managed key is "key:<SHA-256>", as for a
 * configured key (base/tenant.h), so sessions belong to it the same way. */
#ifndef KCR_KEYS_H
#define KCR_KEYS_H

#include "base/error.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* "sk-" and 43 base62 characters: 256 bits from getrandom(2). */
#define KCR_KEY_PREFIX     "sk-"
#define KCR_KEY_RANDOM_LEN 43
#define KCR_KEY_LEN        (sizeof(KCR_KEY_PREFIX) - 1 + KCR_KEY_RANDOM_LEN)

void kcr_key_generate(char out[KCR_KEY_LEN + 1]);
/* Whether key has the form kcr_key_generate gives. */
bool kcr_key_format_valid(const char *key);

/* Why a record cannot authenticate at now ("API key disabled", "API key
 * expired"), or NULL when it can. */
const char *kcr_key_refusal(const struct kcr_api_key_record *k, double now);
/* Applies a create or update body to k: {"name", "enabled", "expires"
 * (epoch seconds, 0: never), "expires_in" (seconds from now),
 * "rate_limits": {"per_second", "per_minute", "per_hour", "per_day"}
 * (KubeCodeRun's "hourly" and "daily" too), "max_concurrent"}; absent
 * members leave k as it is. KCR_E_INVALID names the member at fault. */
int kcr_key_record_patch(struct kcr_api_key_record *k, const cJSON *body, double now,
			 kcr_error_t *err);
/* The record as the admin API shows it, with "status": active, disabled
 * or expired. */
cJSON *kcr_key_record_json(const struct kcr_api_key_record *k, double now);

/* What the admin API and `kcr keys` without a server share. create makes
 * a key, stores its record (body as for patch) and gives the key in key,
 * the only time it exists outside the client. resolve turns an id, or a
 * prefix of one of at least 8 hex digits that names one key, into the
 * id (KCR_E_NOTFOUND, KCR_E_INVALID when ambiguous). */
int kcr_keys_create(struct kcr_stores *st, const cJSON *body, char key[KCR_KEY_LEN + 1],
		    struct kcr_api_key_record *out, kcr_error_t *err);
int kcr_keys_resolve(struct kcr_stores *st, const char *id_or_prefix, char id[KCR_KEY_ID_LEN + 1],
		     kcr_error_t *err);
int kcr_keys_update(struct kcr_stores *st, const char *id, const cJSON *body,
		    struct kcr_api_key_record *out, kcr_error_t *err);

/* A bounded cache of lookups: one entry per slot of a table of cap
 * slots, chosen by the id (a new id replaces what was there), each kept
 * ttl_s at most. lookup: 1 and *out (name not filled) when the store has
 * the key, 0 when it has not, -1 when the store failed (not cached). */
struct kcr_key_cache;
struct kcr_key_cache *kcr_key_cache_new(size_t cap);
void kcr_key_cache_free(struct kcr_key_cache *c);
int kcr_key_cache_lookup(struct kcr_key_cache *c, struct kcr_stores *st, const char *id,
			 double ttl_s, struct kcr_api_key_record *out, kcr_error_t *err);
/* Drops id's entry: the replica that changed a key sees it at once. */
void kcr_key_cache_forget(struct kcr_key_cache *c, const char *id);

#endif

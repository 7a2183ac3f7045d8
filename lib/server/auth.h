/* API keys: stored as SHA-256 hashes, compared in constant time; trusted
 * networks (CIDRs) that need no key. */
#ifndef KCR_AUTH_H
#define KCR_AUTH_H

#include "base/settings.h"
#include "base/error.h"

#include <stdbool.h>

struct kcr_auth;

/* Reads server.api_key(s), server.admin_key and server.trusted_networks. With no key
 * configured, generates one and returns it in *generated (caller prints
 * it once and frees it). */
struct kcr_auth *kcr_auth_new(const struct kcr_config *cfg, char **generated, kcr_error_t *err);
void kcr_auth_free(struct kcr_auth *a);
enum kcr_auth_key {
	KCR_AUTH_KEY_NONE,  /* missing or unknown */
	KCR_AUTH_KEY_API,   /* one of server.api_key(s) */
	KCR_AUTH_KEY_ADMIN, /* server.admin_key: admin routes too */
};
enum kcr_auth_key kcr_auth_check_key(const struct kcr_auth *a, const char *key);
/* The client's address: peer, unless peer is one of
 * server.trusted_proxies: then the X-Forwarded-For hop they vouch for. */
void kcr_auth_client_address(const struct kcr_auth *a, const char *peer, const char *xff,
			     char out[64]);
/* The trusted network (as configured) that holds peer, or NULL. */
const char *kcr_auth_trusted(const struct kcr_auth *a, const char *peer);
/* The ids (SHA-256, hex) of the configured API keys, a NULL-terminated
 * vector, for usage reports. */
char **kcr_auth_key_ids(const struct kcr_auth *a);
/* The first 16 hex digits of the key's SHA-256, for logs. */
void kcr_auth_key_hash(const char *key, char out[17]);

#endif

/* Tenants: who owns a session (DESIGN.md §5). The server names the tenant
 * of a request from what authenticated it: "key:<SHA-256 of the API key,
 * hex>" or "net:<the trusted network, as configured>". A session records
 * the tenant that created it, and only that tenant reaches it; anyone
 * else is told what an unknown id gets (404, or an empty list).
 *
 * The local operator (the CLI on the state dir, `kcr exec --session`
 * without a server) passes NULL: it owns the machine and reaches every
 * session. A session created that way records no tenant, and so no
 * server tenant reaches it. */
#ifndef KCR_TENANT_H
#define KCR_TENANT_H

#include <stdbool.h>

/* "key:" + 64 hex, or "net:" + a CIDR (at most 43 characters) */
#define KCR_TENANT_MAX 80

/* The tenant of an API key / of a trusted network, into out. */
void kcr_tenant_of_key(const char *key, char out[KCR_TENANT_MAX + 1]);
void kcr_tenant_of_network(const char *cidr, char out[KCR_TENANT_MAX + 1]);
/* Whether caller (NULL: the local operator) may reach what owner (NULL:
 * the local operator) created. */
bool kcr_tenant_may(const char *caller, const char *owner);

#endif

#include <config.h>

#include "server/auth.h"
#include "base/encode.h"
#include "base/parse.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

struct cidr {
	char *text; /* as configured: the tenant's name */
	int family;
	unsigned char addr[16];
	unsigned int bits;
};

struct kcr_auth {
	unsigned char (*hashes)[SHA256_DIGEST_LENGTH];
	size_t n_hashes;
	struct cidr *nets;
	size_t n_nets;
	struct cidr *proxies;
	size_t n_proxies;
	unsigned char admin[SHA256_DIGEST_LENGTH];
	bool has_admin;
};

static void
add_key(struct kcr_auth *a, const char *key)
{
	a->hashes = kcr_xrealloc(a->hashes, (a->n_hashes + 1) * sizeof(*a->hashes));
	SHA256((const unsigned char *)key, strlen(key), a->hashes[a->n_hashes++]);
}

static int
parse_cidr(const char *s, struct cidr *c, kcr_error_t *err)
{
	kcr_autofree char *addr = kcr_xstrdup(s);
	char *slash = strchr(addr, '/');
	uint64_t bits;

	if (slash)
		*slash = '\0';
	c->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(c->family, addr, c->addr) != 1)
		return kcr_error_set(err, KCR_E_INVALID, 0, "trusted network '%s' is not a CIDR",
				     s);
	bits = c->family == AF_INET ? 32 : 128;
	if (slash && kcr_parse_u64(slash + 1, 0, bits, &bits, err) < 0)
		return kcr_error_wrap(err, "trusted network '%s'", s);
	c->bits = (unsigned int)bits;
	c->text = kcr_xstrdup(s);
	return 0;
}

static int
parse_cidrs(char **list, struct cidr **out, size_t *n, kcr_error_t *err)
{
	*out = kcr_xzalloc((kcr_strv_len(list) + 1) * sizeof(**out));
	for (*n = 0; list[*n]; (*n)++)
		if (parse_cidr(list[*n], &(*out)[*n], err) < 0)
			return -1;
	return 0;
}

static void
free_cidrs(struct cidr *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].text);
	free(c);
}

static char *
generate_key(void)
{
	unsigned char rnd[24];
	kcr_autofree char *b64 = NULL;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		abort();
	b64 = kcr_base64_encode(rnd, sizeof(rnd));
	for (char *p = b64; *p; p++) /* URL-safe, like KubeCodeRun's sk-<token_urlsafe> */
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	return kcr_strdup_printf("sk-%s", b64);
}

struct kcr_auth *
kcr_auth_new(const struct kcr_config *cfg, char **generated, kcr_error_t *err)
{
	struct kcr_auth *a = kcr_xzalloc(sizeof(*a));
	kcr_autostrv char **keys = kcr_config_list(cfg, "server.api_keys");
	kcr_autostrv char **nets = kcr_config_list(cfg, "server.trusted_networks");
	kcr_autostrv char **proxies = kcr_config_list(cfg, "server.trusted_proxies");
	const char *one = kcr_config_str(cfg, "server.api_key");
	const char *admin = kcr_config_str(cfg, "server.admin_key");

	*generated = NULL;
	for (size_t i = 0; keys[i]; i++)
		add_key(a, keys[i]);
	if (*one)
		add_key(a, one);
	if (*admin) {
		SHA256((const unsigned char *)admin, strlen(admin), a->admin);
		a->has_admin = true;
	}
	if (a->n_hashes == 0) {
		*generated = generate_key();
		add_key(a, *generated);
	}
	if (parse_cidrs(nets, &a->nets, &a->n_nets, err) < 0 ||
	    parse_cidrs(proxies, &a->proxies, &a->n_proxies, err) < 0) {
		kcr_auth_free(a);
		free(*generated);
		*generated = NULL;
		return NULL;
	}
	return a;
}

void
kcr_auth_free(struct kcr_auth *a)
{
	if (a == NULL)
		return;
	OPENSSL_cleanse(a->hashes, a->n_hashes * sizeof(*a->hashes));
	OPENSSL_cleanse(a->admin, sizeof(a->admin));
	free(a->hashes);
	free_cidrs(a->nets, a->n_nets);
	free_cidrs(a->proxies, a->n_proxies);
	free(a);
}

enum kcr_auth_key
kcr_auth_check_key(const struct kcr_auth *a, const char *key)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	int match = 0, admin;

	if (key == NULL || *key == '\0')
		return KCR_AUTH_KEY_NONE;
	SHA256((const unsigned char *)key, strlen(key), h);
	/* compare against every key, always: time does not tell which matched */
	for (size_t i = 0; i < a->n_hashes; i++)
		match |= CRYPTO_memcmp(h, a->hashes[i], sizeof(h)) == 0;
	admin = CRYPTO_memcmp(h, a->admin, sizeof(h)) == 0 && a->has_admin;
	return admin ? KCR_AUTH_KEY_ADMIN : match ? KCR_AUTH_KEY_API : KCR_AUTH_KEY_NONE;
}

static bool
cidr_contains(const struct cidr *c, int family, const unsigned char *addr)
{
	unsigned int full = c->bits / 8, rest = c->bits % 8;

	if (family != c->family)
		return false;
	if (memcmp(addr, c->addr, full) != 0)
		return false;
	return rest == 0 || ((addr[full] ^ c->addr[full]) & (0xff << (8 - rest))) == 0;
}

static const char *
cidr_find(const struct cidr *c, size_t n, const char *addr_text)
{
	unsigned char addr[16];
	int family = strchr(addr_text, ':') ? AF_INET6 : AF_INET;

	if (n == 0 || inet_pton(family, addr_text, addr) != 1)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (cidr_contains(&c[i], family, addr))
			return c[i].text;
	return NULL;
}

const char *
kcr_auth_trusted(const struct kcr_auth *a, const char *peer)
{
	return cidr_find(a->nets, a->n_nets, peer);
}

/* X-Forwarded-For is "client, proxy1, proxy2": each proxy appends the
 * address it got the request from. Read from the right, the first hop
 * that is not a trusted proxy is the client; anything left of it is what
 * the client claimed, and not believed. */
void
kcr_auth_client_address(const struct kcr_auth *a, const char *peer, const char *xff, char out[64])
{
	kcr_autofree char *list = xff ? kcr_xstrdup(xff) : NULL;
	char *end = list ? list + strlen(list) : NULL;

	snprintf(out, 64, "%s", peer);
	while (list && end > list && cidr_find(a->proxies, a->n_proxies, out)) {
		char *hop;

		*end = '\0';
		hop = strrchr(list, ',');
		end = hop ? hop : list; /* the next hop to the left ends here */
		hop = hop ? hop + 1 : list;
		hop += strspn(hop, " \t");
		hop[strcspn(hop, " \t")] = '\0';
		if (*hop == '\0')
			return;
		snprintf(out, 64, "%s", hop);
	}
}

void
kcr_auth_key_hash(const char *key, char out[17])
{
	char full[65];

	kcr_sha256_hex(key, strlen(key), full);
	memcpy(out, full, 16);
	out[16] = '\0';
}

char **
kcr_auth_key_ids(const struct kcr_auth *a)
{
	char **ids = kcr_xzalloc(sizeof(char *));

	for (size_t i = 0; i < a->n_hashes; i++) {
		char hex[2 * SHA256_DIGEST_LENGTH + 1];

		for (size_t j = 0; j < SHA256_DIGEST_LENGTH; j++)
			snprintf(hex + 2 * j, 3, "%02x", a->hashes[i][j]);
		kcr_strv_push(&ids, hex);
	}
	return ids;
}

/* Managed API keys: their form, their records and the lookup cache
 * (keys.h). */
#include <config.h>

#include "server/keys.h"
#include "base/clock.h"
#include "base/encode.h"
#include "base/json.h"
#include "base/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char base62[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

void
kcr_key_generate(char out[KCR_KEY_LEN + 1])
{
	size_t n = 0;

	memcpy(out, KCR_KEY_PREFIX, sizeof(KCR_KEY_PREFIX) - 1);
	while (n < KCR_KEY_RANDOM_LEN) {
		unsigned char rnd[64];

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			abort();
		/* bytes of 248 and up would favour the first characters: a
		 * secret is drawn without bias, so they are thrown away */
		for (size_t i = 0; i < sizeof(rnd) && n < KCR_KEY_RANDOM_LEN; i++)
			if (rnd[i] < 248)
				out[sizeof(KCR_KEY_PREFIX) - 1 + n++] = base62[rnd[i] % 62];
	}
	out[KCR_KEY_LEN] = '\0';
}

bool
kcr_key_format_valid(const char *key)
{
	size_t p = sizeof(KCR_KEY_PREFIX) - 1;

	return key && strlen(key) == KCR_KEY_LEN && strncmp(key, KCR_KEY_PREFIX, p) == 0 &&
	       strspn(key + p, base62) == KCR_KEY_RANDOM_LEN;
}

const char *
kcr_key_refusal(const struct kcr_api_key_record *k, double now)
{
	if (!k->enabled)
		return "API key disabled";
	if (k->expires > 0 && k->expires <= now)
		return "API key expired";
	return NULL;
}

/* ---- records ------------------------------------------------------------ */

static int
get_count(const cJSON *o, const char *name, const char *alias, uint32_t *out, kcr_error_t *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (v == NULL && alias)
		v = cJSON_GetObjectItemCaseSensitive(o, alias);
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > UINT32_MAX ||
	    v->valuedouble != (double)(uint32_t)v->valuedouble)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "%s must be a whole number from 0 (no limit) to %u", name,
				     UINT32_MAX);
	*out = (uint32_t)v->valuedouble;
	return 0;
}

static int
patch_limits(struct kcr_api_key_record *k, const cJSON *o, kcr_error_t *err)
{
	const cJSON *rl = cJSON_GetObjectItemCaseSensitive(o, "rate_limits");

	if (rl && !cJSON_IsObject(rl))
		return kcr_error_set(err, KCR_E_INVALID, 0, "rate_limits must be an object");
	if (rl == NULL) /* flat members, as the record has them */
		rl = o;
	if (get_count(rl, "per_second", NULL, &k->per_second, err) < 0 ||
	    get_count(rl, "per_minute", NULL, &k->per_minute, err) < 0 ||
	    get_count(rl, "per_hour", "hourly", &k->per_hour, err) < 0 ||
	    get_count(rl, "per_day", "daily", &k->per_day, err) < 0 ||
	    get_count(o, "max_concurrent", NULL, &k->max_concurrent, err) < 0)
		return -1;
	return 0;
}

static int
patch_expiry(struct kcr_api_key_record *k, const cJSON *o, double now, kcr_error_t *err)
{
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(o, "expires");
	const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "expires_in");

	if (at && !cJSON_IsNull(at)) {
		if (!cJSON_IsNumber(at) || at->valuedouble < 0)
			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "expires must be epoch seconds (0: never)");
		k->expires = at->valuedouble;
	}
	if (in && !cJSON_IsNull(in)) {
		if (!cJSON_IsNumber(in) || in->valuedouble <= 0)
			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "expires_in must be a number of seconds > 0");
		k->expires = now + in->valuedouble;
	}
	return 0;
}

int
kcr_key_record_patch(struct kcr_api_key_record *k, const cJSON *o, double now, kcr_error_t *err)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(o, "enabled");

	if (!cJSON_IsObject(o))
		return kcr_error_set(err, KCR_E_INVALID, 0, "body must be a JSON object");
	if (name && !(cJSON_IsString(name) && strlen(name->valuestring) <= 200 &&
		      kcr_utf8_valid(name->valuestring, strlen(name->valuestring))))
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "name must be a string of at most 200 bytes");
	if (en && !cJSON_IsBool(en))
		return kcr_error_set(err, KCR_E_INVALID, 0, "enabled must be true or false");
	if (patch_limits(k, o, err) < 0 || patch_expiry(k, o, now, err) < 0)
		return -1;
	if (name) {
		free(k->name);
		k->name = kcr_xstrdup(name->valuestring);
	}
	if (en)
		k->enabled = cJSON_IsTrue(en);
	return 0;
}

cJSON *
kcr_key_record_json(const struct kcr_api_key_record *k, double now)
{
	cJSON *o = cJSON_CreateObject(), *rl;
	const char *why = kcr_key_refusal(k, now);

	cJSON_AddStringToObject(o, "id", k->id);
	cJSON_AddStringToObject(o, "name", k->name ? k->name : "");
	cJSON_AddBoolToObject(o, "enabled", k->enabled);
	cJSON_AddStringToObject(o, "status",
				why == NULL  ? "active"
				: k->enabled ? "expired"
					     : "disabled");
	cJSON_AddNumberToObject(o, "created", k->created);
	cJSON_AddNumberToObject(o, "expires", k->expires);
	rl = cJSON_AddObjectToObject(o, "rate_limits");
	cJSON_AddNumberToObject(rl, "per_second", k->per_second);
	cJSON_AddNumberToObject(rl, "per_minute", k->per_minute);
	cJSON_AddNumberToObject(rl, "per_hour", k->per_hour);
	cJSON_AddNumberToObject(rl, "per_day", k->per_day);
	cJSON_AddNumberToObject(o, "max_concurrent", k->max_concurrent);
	return o;
}

/* ---- in the store ------------------------------------------------------- */

int
kcr_keys_create(struct kcr_stores *st, const cJSON *body, char key[KCR_KEY_LEN + 1],
		struct kcr_api_key_record *out, kcr_error_t *err)
{
	double now = kcr_wall_time();

	memset(out, 0, sizeof(*out));
	out->enabled = true;
	out->created = now;
	if (kcr_key_record_patch(out, body, now, err) < 0)
		goto fail;
	kcr_key_generate(key);
	kcr_sha256_hex(key, strlen(key), out->id);
	if (kcr_store_key_put(st, out, err) == 0)
		return 0;
fail:
	kcr_api_key_release(out);
	return -1;
}

static bool
is_hex(const char *s)
{
	return strspn(s, "0123456789abcdef") == strlen(s);
}

int
kcr_keys_resolve(struct kcr_stores *st, const char *want, char id[KCR_KEY_ID_LEN + 1],
		 kcr_error_t *err)
{
	struct kcr_api_key_record *list = NULL;
	size_t n = 0, found = 0, len = strlen(want);

	if (len < 8 || len > KCR_KEY_ID_LEN || !is_hex(want))
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "'%s' is not a key id (at least 8 of its 64 lower-case hex "
				     "digits)",
				     want);
	if (kcr_store_key_list(st, &list, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strncmp(list[i].id, want, len) == 0 && found++ == 0)
			memcpy(id, list[i].id, KCR_KEY_ID_LEN + 1);
	kcr_api_key_list_free(list, n);
	if (found == 0)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no key with id %s", want);
	if (found > 1)
		return kcr_error_set(err, KCR_E_INVALID, 0, "%zu keys have ids starting %s", found,
				     want);
	return 0;
}

int
kcr_keys_update(struct kcr_stores *st, const char *id, const cJSON *body,
		struct kcr_api_key_record *out, kcr_error_t *err)
{
	if (kcr_store_key_get(st, id, out, err) < 0)
		return -1;
	if (kcr_key_record_patch(out, body, kcr_wall_time(), err) == 0 &&
	    kcr_store_key_put(st, out, err) == 0)
		return 0;
	kcr_api_key_release(out);
	return -1;
}

/* ---- the cache ---------------------------------------------------------- */

struct entry {
	char id[KCR_KEY_ID_LEN + 1]; /* "" for an empty slot */
	bool found;
	double at; /* when it was looked up (monotonic seconds) */
	struct kcr_api_key_record rec;
};

struct kcr_key_cache {
	pthread_mutex_t lock;
	size_t cap;
	struct entry *e;
};

struct kcr_key_cache *
kcr_key_cache_new(size_t cap)
{
	struct kcr_key_cache *c = kcr_xzalloc(sizeof(*c));

	c->cap = cap ? cap : 1;
	c->e = kcr_xzalloc(c->cap * sizeof(*c->e));
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void
kcr_key_cache_free(struct kcr_key_cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->e);
	free(c);
}

/* An id is a SHA-256: its first digits are as good as any hash of it. */
static struct entry *
slot(struct kcr_key_cache *c, const char *id)
{
	char head[9];

	memcpy(head, id, 8);
	head[8] = '\0';
	return &c->e[strtoul(head, NULL, 16) % c->cap];
}

static bool
cached(struct kcr_key_cache *c, const char *id, double ttl_s, struct kcr_api_key_record *out,
       bool *found)
{
	struct entry *e;
	bool hit;

	pthread_mutex_lock(&c->lock);
	e = slot(c, id);
	hit = strcmp(e->id, id) == 0 && kcr_now_ms() / 1000.0 - e->at < ttl_s;
	if (hit) {
		*found = e->found;
		*out = e->rec;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

int
kcr_key_cache_lookup(struct kcr_key_cache *c, struct kcr_stores *st, const char *id, double ttl_s,
		     struct kcr_api_key_record *out, kcr_error_t *err)
{
	struct kcr_api_key_record rec;
	kcr_error_t e = NULL;
	bool found;
	struct entry *s;

	memset(out, 0, sizeof(*out));
	if (cached(c, id, ttl_s, out, &found))
		return found;
	if (kcr_store_key_get(st, id, &rec, &e) < 0) {
		if (e->code != KCR_E_NOTFOUND) {
			*err = e;
			return -1;
		}
		kcr_error_free(e);
		memset(&rec, 0, sizeof(rec));
		found = false;
	} else {
		found = true;
		kcr_api_key_release(&rec); /* the cache keeps no names */
	}
	pthread_mutex_lock(&c->lock);
	s = slot(c, id);
	memcpy(s->id, id, sizeof(s->id));
	s->found = found;
	s->at = kcr_now_ms() / 1000.0;
	s->rec = rec;
	pthread_mutex_unlock(&c->lock);
	*out = rec;
	return found;
}

void
kcr_key_cache_forget(struct kcr_key_cache *c, const char *id)
{
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	e = slot(c, id);
	if (strcmp(e->id, id) == 0)
		e->id[0] = '\0';
	pthread_mutex_unlock(&c->lock);
}

/* The fs store's API keys and counters, what the rate limits keep:
 *
 *   <state>/keys/<sha256 hex>.json   a key's record (store_json.c)
 *   <state>/counters/<name>          "<value> <expires>\n"
 *
 * A key is written whole by a rename; a counter is read, changed and
 * written under its lock file (fs_lock), so that adds from threads and
 * processes all count. */
#include <config.h>

#include "base/clock.h"
#include "store/fs-internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- API keys ----------------------------------------------------------- */

static char *
key_path(const struct fs_store *fs, const char *id)
{
	return kcr_strdup_printf("%s/keys/%s.json", fs->root, id);
}

int
fs_key_put(void *self, const struct kcr_api_key_record *k, kcr_error_t *err)
{
	kcr_autofree char *json = NULL, *path = NULL;

	if (!kcr_key_id_valid(k->id))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid key id");
	json = kcr_api_key_to_json(k);
	path = key_path(self, k->id);
	return fs_write_atomic(path, json, strlen(json), err);
}

int
fs_key_get(void *self, const char *id, struct kcr_api_key_record *out, kcr_error_t *err)
{
	kcr_autofree char *path = NULL, *data = NULL;
	size_t len;

	if (!kcr_key_id_valid(id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "key not found");
	path = key_path(self, id);
	if (fs_read_record(path, 1 << 16, &data, &len, "key", err) < 0)
		return -1;
	return kcr_api_key_from_json(data, len, out, err);
}

static int
cmp_key_created(const void *a, const void *b)
{
	const struct kcr_api_key_record *x = a, *y = b;

	return x->created < y->created ? -1 : x->created > y->created;
}

/* A key deleted between the listing and its read is left out; any other
 * failure to read one fails the list (a limit must not vanish). */
int
fs_key_list(void *self, struct kcr_api_key_record **out, size_t *n, kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autofree char *dir = kcr_strdup_printf("%s/keys", fs->root);
	kcr_autostrv char **ids = NULL;
	kcr_error_t e = NULL;

	*n = 0;
	*out = NULL;
	if (fs_dir_names(dir, ".json", kcr_key_id_valid, &ids, err) < 0)
		return -1;
	*out = kcr_xzalloc((kcr_strv_len(ids) + 1) * sizeof(**out));
	for (size_t i = 0; ids[i]; i++) {
		if (fs_key_get(self, ids[i], &(*out)[*n], &e) == 0)
			(*n)++;
		else if (e->code == KCR_E_NOTFOUND)
			kcr_error_release(&e);
		else
			break;
	}
	if (e != NULL) {
		kcr_api_key_list_free(kcr_steal(out), *n);
		*n = 0;
		*err = e;
		return -1;
	}
	qsort(*out, *n, sizeof(**out), cmp_key_created);
	return 0;
}

int
fs_key_delete(void *self, const char *id, kcr_error_t *err)
{
	kcr_autofree char *path = NULL;

	if (!kcr_key_id_valid(id))
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "key not found");
	path = key_path(self, id);
	return fs_remove(path, "key", false, err);
}

/* ---- counters ------------------------------------------------------------ */

struct counter {
	int64_t value;
	double expires; /* 0: never */
};

static char *
counter_path(const struct fs_store *fs, const char *name)
{
	return kcr_strdup_printf("%s/counters/%s", fs->root, name);
}

/* The counter as stored, or zero when it is missing or expired at now
 * (*live says which). Callers hold its lock. */
static int
counter_read(const char *path, double now, struct counter *c, bool *live, kcr_error_t *err)
{
	kcr_autofree char *data = NULL;
	kcr_error_t e = NULL;
	long long v;
	double x;
	size_t len;

	*c = (struct counter){ 0 };
	*live = false;
	if (fs_read_record(path, 256, &data, &len, "counter", &e) < 0) {
		if (e->code != KCR_E_NOTFOUND) {
			*err = e;
			return -1;
		}
		kcr_error_free(e);
		return 0;
	}
	if (sscanf(data, "%lld %lf", &v, &x) != 2)
		return kcr_error_set(err, KCR_E_BACKEND, 0, "corrupt counter '%s'", path);
	*live = x <= 0 || x > now;
	if (*live)
		*c = (struct counter){ (int64_t)v, x };
	return 0;
}

int
fs_counter_add(void *self, const char *name, int64_t delta, double ttl_s, int64_t *value_out,
	       kcr_error_t *err)
{
	kcr_autoclose int lock = -1;
	kcr_autofree char *path = NULL, *text = NULL;
	double now = kcr_wall_time();
	struct counter c;
	bool live;

	if (!kcr_counter_name_valid(name))
		return kcr_error_set(err, KCR_E_INVALID, 0, "invalid counter name");
	path = counter_path(self, name);
	if (fs_lock(self, name, &lock, err) < 0 || counter_read(path, now, &c, &live, err) < 0)
		return -1;
	if (!live)
		c.expires = ttl_s > 0 ? now + ttl_s : 0;
	c.value += delta;
	text = kcr_strdup_printf("%" PRId64 " %.6f\n", c.value, c.expires);
	if (fs_write_atomic(path, text, strlen(text), err) < 0)
		return -1;
	if (value_out)
		*value_out = c.value;
	return 0;
}

/* Under the counter's lock, so that an add racing the sweep is not lost. */
static int
counter_drop_expired(struct fs_store *fs, const char *name, double now, kcr_error_t *err)
{
	kcr_autoclose int lock = -1;
	kcr_autofree char *path = counter_path(fs, name);
	struct counter c;
	bool live;

	if (fs_lock(fs, name, &lock, err) < 0 || counter_read(path, now, &c, &live, err) < 0)
		return -1;
	return live ? 0 : fs_remove(path, "counter", true, err);
}

int
fs_counters_sweep(void *self, double now, kcr_error_t *err)
{
	struct fs_store *fs = self;
	kcr_autofree char *dir = kcr_strdup_printf("%s/counters", fs->root);
	kcr_autostrv char **names = NULL;

	if (fs_dir_names(dir, "", kcr_counter_name_valid, &names, err) < 0)
		return -1;
	for (size_t i = 0; names[i]; i++)
		if (counter_drop_expired(fs, names[i], now, err) < 0)
			return -1;
	return 0;
}

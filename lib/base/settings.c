#include <config.h>

#include "base/settings.h"
#include "base/parse.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

struct kcr_value {
	char *value;
	enum kcr_cfg_source source;
	char *origin; /* "kcr.yaml:12", "KCR_TIMEOUT", "--timeout" */
};

struct kcr_config {
	struct kcr_value *values; /* one per key, same order as the table */
	char *file;
};

static int
key_index(const char *name)
{
	for (unsigned int i = 0; i < kcr_config_key_count(); i++)
		if (strcmp(kcr_config_key_at(i)->name, name) == 0)
			return (int)i;
	return -1;
}

static int
must_index(const char *name)
{
	int i = key_index(name);

	if (i < 0) {
		fprintf(stderr, "kcr: BUG: unknown configuration key '%s'\n", name);
		abort();
	}
	return i;
}

static char *
default_dir(bool state)
{
	const char *xdg, *home;

	if (geteuid() == 0)
		return kcr_xstrdup(state ? "/var/lib/kcr" : "/run/kcr");
	xdg = getenv(state ? "XDG_STATE_HOME" : "XDG_RUNTIME_DIR");
	if (xdg && *xdg)
		return kcr_strdup_printf("%s/kcr", xdg);
	home = getenv("HOME");
	if (state && home && *home)
		return kcr_strdup_printf("%s/.local/state/kcr", home);
	return kcr_strdup_printf("/tmp/kcr-%u%s", (unsigned)geteuid(), state ? "/state" : "");
}

struct kcr_config *
kcr_config_new(void)
{
	struct kcr_config *c = kcr_xzalloc(sizeof(*c));
	unsigned int n = kcr_config_key_count();

	c->values = kcr_xzalloc(n * sizeof(*c->values));
	for (unsigned int i = 0; i < n; i++) {
		const struct kcr_cfg_key *k = kcr_config_key_at(i);

		if (k->def)
			c->values[i].value = kcr_xstrdup(k->def);
		else if (strcmp(k->name, "state_dir") == 0)
			c->values[i].value = default_dir(true);
		else if (strcmp(k->name, "run_dir") == 0)
			c->values[i].value = default_dir(false);
		else
			c->values[i].value = kcr_xstrdup("");
	}
	return c;
}

void
kcr_config_free(struct kcr_config *c)
{
	if (c == NULL)
		return;
	for (unsigned int i = 0; i < kcr_config_key_count(); i++) {
		free(c->values[i].value);
		free(c->values[i].origin);
	}
	free(c->values);
	free(c->file);
	free(c);
}

static int
validate(const struct kcr_cfg_key *k, const char *v, kcr_error_t *err)
{
	uint64_t u;
	double d;
	bool b;

	switch (k->type) {
	case KCR_CFG_INT:
		return kcr_parse_u64(v, (uint64_t)k->min, (uint64_t)k->max, &u, err);
	case KCR_CFG_DOUBLE:
		return kcr_parse_double(v, k->min, k->max, &d, err);
	case KCR_CFG_BOOL:
		if (!kcr_parse_bool(v, &b))
			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "'%s' is not a boolean (true or false)", v);
		return 0;
	case KCR_CFG_STR:
	case KCR_CFG_LIST:
	default:
		return 0;
	}
}

static int
set_value(struct kcr_config *c, const char *name, const char *value,
	  enum kcr_cfg_source src, const char *origin, kcr_error_t *err)
{
	int i = key_index(name);
	struct kcr_value *v;

	if (i < 0)
		return kcr_error_set(err, KCR_E_INVALID, 0, "unknown setting '%s'", name);
	if (validate(kcr_config_key_at((unsigned)i), value, err) < 0)
		return kcr_error_wrap(err, "%s", name);
	v = &c->values[i];
	if (v->source > src) /* a higher-precedence source already set it */
		return 0;
	free(v->value);
	free(v->origin);
	v->value = kcr_xstrdup(value);
	v->source = src;
	v->origin = kcr_xstrdup(origin);
	return 0;
}

int
kcr_config_set(struct kcr_config *c, const char *name, const char *value,
	       enum kcr_cfg_source src, kcr_error_t *err)
{
	kcr_autofree char *origin = kcr_strdup_printf("--%s", name);

	return set_value(c, name, value, src, origin, err);
}

int
kcr_config_load_env(struct kcr_config *c, kcr_error_t *err)
{
	for (unsigned int i = 0; i < kcr_config_key_count(); i++) {
		const struct kcr_cfg_key *k = kcr_config_key_at(i);
		const char *name = k->env, *v = getenv(k->env);

		/* KubeCodeRun's names count only when kcr's own is unset */
		for (const char *const *a = k->aliases; v == NULL && *a; a++) {
			v = getenv(*a);
			name = *a;
		}
		if (v == NULL)
			continue;
		if (set_value(c, k->name, v, KCR_SRC_ENV, name, err) < 0)
			return kcr_error_wrap(err, "environment variable %s", name);
	}
	return 0;
}

/* A small walk over libyaml events: nested mappings become dotted names,
 * sequences become comma-separated lists. */
struct yaml_walk {
	struct kcr_config *c;
	const char *path;
	char *prefix[8];
	int depth;
	char *key;
	struct kcr_buf list;
	bool in_list;
};

static char *
walk_name(struct yaml_walk *w, const char *key)
{
	struct kcr_buf b;

	kcr_buf_init(&b);
	for (int i = 0; i < w->depth; i++)
		kcr_buf_addf(&b, "%s.", w->prefix[i]);
	kcr_buf_adds(&b, key);
	return kcr_buf_steal(&b, NULL);
}

static int
walk_set(struct yaml_walk *w, const char *value, size_t line, kcr_error_t *err)
{
	kcr_autofree char *name = walk_name(w, w->key);
	kcr_autofree char *origin = kcr_strdup_printf("%s:%zu", w->path, line + 1);

	free(w->key);
	w->key = NULL;
	if (set_value(w->c, name, value, KCR_SRC_FILE, origin, err) < 0)
		return kcr_error_wrap(err, "%s", origin);
	return 0;
}

static int
walk_event(struct yaml_walk *w, yaml_event_t *ev, kcr_error_t *err)
{
	size_t line = ev->start_mark.line;

	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		const char *s = (const char *)ev->data.scalar.value;

		if (w->in_list) {
			kcr_buf_addf(&w->list, "%s%s", w->list.len ? "," : "", s);
			return 0;
		}
		if (w->key == NULL) {
			w->key = kcr_xstrdup(s);
			return 0;
		}
		return walk_set(w, s, line, err);
	}
	case YAML_SEQUENCE_START_EVENT:
		if (w->key == NULL || w->in_list)
			goto bad;
		w->in_list = true;
		kcr_buf_release(&w->list);
		return 0;
	case YAML_SEQUENCE_END_EVENT:
		w->in_list = false;
		return walk_set(w, w->list.data ? w->list.data : "", line, err);
	case YAML_MAPPING_START_EVENT:
		if (w->key == NULL)
			return w->depth == 0 && w->prefix[0] == NULL ? 0 : -2;
		if (w->depth >= 7 || w->in_list)
			goto bad;
		w->prefix[w->depth++] = kcr_steal(&w->key);
		return 0;
	case YAML_MAPPING_END_EVENT:
		if (w->depth > 0)
			free(w->prefix[--w->depth]);
		w->prefix[w->depth] = NULL;
		return 0;
	default:
		return 0;
	}
bad:
	return kcr_error_set(err, KCR_E_INVALID, 0, "%s:%zu: unexpected structure", w->path,
			     line + 1);
}

static int
walk_events(yaml_parser_t *p, struct yaml_walk *w, kcr_error_t *err)
{
	for (;;) {
		yaml_event_t ev;
		int r;

		if (!yaml_parser_parse(p, &ev))
			return kcr_error_set(err, KCR_E_INVALID, 0, "%s:%zu: %s", w->path,
					     p->problem_mark.line + 1,
					     p->problem ? p->problem : "invalid YAML");
		r = walk_event(w, &ev, err);
		if (r == -2)
			r = kcr_error_set(err, KCR_E_INVALID, 0,
					  "%s:%zu: a mapping needs a key", w->path,
					  ev.start_mark.line + 1);
		bool done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (r < 0)
			return -1;
		if (done)
			return 0;
	}
}

int
kcr_config_load_yaml(struct kcr_config *c, const char *path, kcr_error_t *err)
{
	kcr_autofclose FILE *f = fopen(path, "re");
	struct yaml_walk w = { .c = c, .path = path };
	yaml_parser_t p;
	int r;

	if (f == NULL)
		return kcr_error_set(err, KCR_E_INVALID, errno, "cannot read config '%s'", path);
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	kcr_buf_init(&w.list);
	r = walk_events(&p, &w, err);
	yaml_parser_delete(&p);
	free(w.key);
	for (int i = 0; i < w.depth; i++)
		free(w.prefix[i]);
	kcr_buf_release(&w.list);
	if (r == 0) {
		free(c->file);
		c->file = kcr_xstrdup(path);
	}
	return r;
}

static char *
find_config_file(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char *p;

	if (xdg && *xdg)
		p = kcr_strdup_printf("%s/kcr/kcr.yaml", xdg);
	else if (home && *home)
		p = kcr_strdup_printf("%s/.config/kcr/kcr.yaml", home);
	else
		p = NULL;
	if (p && access(p, R_OK) == 0)
		return p;
	free(p);
	if (access(SYSCONFDIR "/kcr/kcr.yaml", R_OK) == 0)
		return kcr_xstrdup(SYSCONFDIR "/kcr/kcr.yaml");
	return NULL;
}

int
kcr_config_load(struct kcr_config *c, const char *path, kcr_error_t *err)
{
	kcr_autofree char *found = NULL;

	if (path == NULL)
		path = getenv("KCR_CONFIG");
	if (path == NULL || *path == '\0')
		path = found = find_config_file();
	if (path && kcr_config_load_yaml(c, path, err) < 0)
		return -1;
	return kcr_config_load_env(c, err);
}

void
kcr_config_copy_flags(struct kcr_config *dst, const struct kcr_config *src)
{
	for (unsigned int i = 0; i < kcr_config_key_count(); i++) {
		const struct kcr_value *v = &src->values[i];

		if (v->source != KCR_SRC_FLAG)
			continue;
		free(dst->values[i].value);
		free(dst->values[i].origin);
		dst->values[i].value = kcr_xstrdup(v->value);
		dst->values[i].origin = kcr_xstrdup(v->origin);
		dst->values[i].source = KCR_SRC_FLAG;
	}
}

const char *
kcr_config_str(const struct kcr_config *c, const char *name)
{
	return c->values[must_index(name)].value;
}

int64_t
kcr_config_int(const struct kcr_config *c, const char *name)
{
	return strtoll(kcr_config_str(c, name), NULL, 10);
}

double
kcr_config_double(const struct kcr_config *c, const char *name)
{
	return strtod(kcr_config_str(c, name), NULL);
}

bool
kcr_config_bool(const struct kcr_config *c, const char *name)
{
	bool b = false;

	kcr_parse_bool(kcr_config_str(c, name), &b);
	return b;
}

char **
kcr_config_list(const struct kcr_config *c, const char *name)
{
	kcr_autofree char *copy = kcr_xstrdup(kcr_config_str(c, name));
	char **v = kcr_xzalloc(sizeof(char *)), *save = NULL;

	for (char *t = strtok_r(copy, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save))
		kcr_strv_push(&v, t);
	return v;
}

enum kcr_cfg_source
kcr_config_source(const struct kcr_config *c, const char *name, const char **origin)
{
	const struct kcr_value *v = &c->values[must_index(name)];

	if (origin)
		*origin = v->origin;
	return v->source;
}

const char *
kcr_config_file(const struct kcr_config *c)
{
	return c->file;
}

const char *
kcr_cfg_source_name(enum kcr_cfg_source s)
{
	static const char *const names[] = { "default", "file", "env", "flag" };

	return names[s];
}

/* kcr languages: the language table, with versions and what is installed. */
#include <config.h>

#include "cmd.h"
#include "base/lang.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

enum { O_JSON };

static const struct kcr_opt languages_opts[] = {
	[O_JSON] = { "json", 0, NULL, "print JSON", NULL },
	{ NULL },
};

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	*(bool *)data = true;
	return 0;
}

static void
add_json(cJSON *a, const struct kcr_lang *l, const char *version, const char *missing)
{
	cJSON *o = cJSON_CreateObject(), *al = cJSON_AddArrayToObject(o, "aliases");

	cJSON_AddStringToObject(o, "id", l->id);
	cJSON_AddStringToObject(o, "name", l->name);
	for (const char *const *s = l->aliases; *s; s++)
		cJSON_AddItemToArray(al, cJSON_CreateString(*s));
	cJSON_AddBoolToObject(o, "installed", missing == NULL);
	if (version)
		cJSON_AddStringToObject(o, "version", version);
	else
		cJSON_AddNullToObject(o, "version");
	cJSON_AddStringToObject(o, "package", l->package);
	cJSON_AddItemToArray(a, o);
}

static int
languages_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	bool json = false;
	cJSON *a = NULL;
	int first, r;

	r = kcr_cmd_parse(&kcr_cmd_languages, argc, argv, on_opt, &json, &first, err);
	if (r != 0)
		return r == 1 ? 0 : -1;
	if (first < argc)
		return kcr_cmd_usage_error(&kcr_cmd_languages, err, "unexpected argument '%s'",
					   argv[first]);
	if (json)
		a = cJSON_CreateArray();
	else
		printf("%-5s %-11s %-10s %s\n", "ID", "NAME", "VERSION", "STATUS");
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		const struct kcr_lang *l = kcr_lang_at(i);
		const char *missing = kcr_lang_missing_runtime(l);
		kcr_autofree char *v = missing ? NULL : kcr_lang_version(l);

		if (json)
			add_json(a, l, v, missing);
		else if (missing)
			printf("%-5s %-11s %-10s missing %s (install %s)\n", l->id, l->name, "-",
			       missing, l->package);
		else
			printf("%-5s %-11s %-10s installed\n", l->id, l->name, v ? v : "?");
	}
	if (json) {
		kcr_autofree char *s = cJSON_Print(a);

		printf("%s\n", s);
		cJSON_Delete(a);
	}
	return 0;
}

const struct kcr_cmd kcr_cmd_languages = {
	.name = "languages",
	.usage = "kcr languages [--json]",
	.summary = "List the languages kcr runs, their versions and whether they are installed.",
	.examples = "  kcr languages\n  kcr languages --json | jq -r '.[] | select(.installed) | .id'",
	.opts = languages_opts,
	.run = languages_run,
};

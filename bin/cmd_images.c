/* kcr images: the container images the kubernetes provider's pods run.
 * `build` builds (and pushes) them from images/ with docker, podman or
 * buildah (bin/images_plan.c decides the commands, bin/images_build.c
 * runs them); `list` shows the image each language's pods run, resolved
 * as the provider resolves it (kcr_k8s_lang_image). */
#include <config.h>

#include "images.h"
#include "sandbox/kubernetes.h"
#include "base/json.h"
#include "base/lang.h"
#include "base/parse.h"
#include "base/util.h"
#include "cmd.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

enum {
	O_ENGINE,
	O_REGISTRY,
	O_TAG,
	O_BUILD_ARG,
	O_PUSH,
	O_JOBS,
	O_DRY_RUN,
	O_JSON,
	O_SOURCE,
	O_ISOLATION
};

static const struct kcr_opt build_opts[] = {
	[O_ENGINE] = { "engine", 0, "ENGINE", "docker, podman or buildah (default: the installed)",
		       "engine" },
	[O_REGISTRY] = { "registry", 0, "REGISTRY",
			 "tag REGISTRY/LANG:TAG (default: the configured images)", NULL },
	[O_TAG] = { "tag", 0, "TAG", "the images' tag (default: kubernetes.image_tag or version)",
		    NULL },
	[O_BUILD_ARG] = { "build-arg", 0, "NAME=VALUE",
			  "pass a build argument (BASE, BUILDER, RUNNER, ...); repeatable", NULL },
	[O_PUSH] = { "push", 0, NULL, "push the images once all are built; print digests", NULL },
	[O_JOBS] = { "jobs", 'j', "N", "build N images at a time (default 2)", NULL },
	[O_DRY_RUN] = { "dry-run", 'n', NULL, "print the engine commands, run nothing", NULL },
	[O_JSON] = { "json", 0, NULL, "print the result as JSON (progress on stderr)", NULL },
	[O_SOURCE] = { "source", 'C', "DIR", "the kcr source tree (default: .)", "dir" },
	[O_ISOLATION] = { "isolation", 0, "MODE",
			  "podman/buildah RUN isolation (default chroot; oci, rootless)", NULL },
	{ NULL },
};

static const struct kcr_cmd kcr_cmd_images_build;

static int
on_build_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	struct kcr_images_opts *o = data;
	uint64_t n;

	switch (id) {
	case O_ENGINE:
		o->engine = arg;
		return 0;
	case O_REGISTRY:
		o->registry = arg;
		return 0;
	case O_TAG:
		o->tag = arg;
		return 0;
	case O_SOURCE:
		o->source = arg;
		return 0;
	case O_ISOLATION:
		o->isolation = arg;
		return 0;
	case O_BUILD_ARG:
		kcr_strv_push(&o->build_args, arg);
		return 0;
	case O_PUSH:
		o->push = true;
		return 0;
	case O_DRY_RUN:
		o->dry_run = true;
		return 0;
	case O_JSON:
		o->json = true;
		return 0;
	case O_JOBS:
		if (kcr_parse_u64(arg, 1, 64, &n, err) < 0) {
			kcr_error_release(err); /* the usage error says it for --jobs */
			return kcr_cmd_usage_error(&kcr_cmd_images_build, err,
						   "--jobs '%s': expected 1 to 64", arg);
		}
		o->jobs = (unsigned int)n;
		return 0;
	default:
		return -1;
	}
}

static cJSON *
job_json(const struct kcr_image_job *j)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "lang", j->lang);
	cJSON_AddStringToObject(o, "image", j->ref);
	cJSON_AddBoolToObject(o, "ok", j->ok);
	cJSON_AddNumberToObject(o, "seconds", (double)j->ms / 1000.0);
	cJSON_AddNumberToObject(o, "size_bytes", (double)j->size);
	if (j->digest)
		cJSON_AddStringToObject(o, "digest", j->digest);
	else
		cJSON_AddNullToObject(o, "digest");
	if (j->error)
		cJSON_AddStringToObject(o, "error", j->error);
	else
		cJSON_AddNullToObject(o, "error");
	cJSON_AddStringToObject(o, "log", j->log);
	return o;
}

static cJSON *
json_strv(char *const *v)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; v && v[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static void
print_json(const struct kcr_images_plan *p, bool dry_run)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *arr;
	kcr_autofree char *text = NULL;

	cJSON_AddStringToObject(o, "engine", p->engine);
	arr = cJSON_AddArrayToObject(o, "images");
	for (size_t i = 0; i < p->n; i++) {
		const struct kcr_image_job *j = &p->jobs[i];

		if (dry_run) {
			cJSON *c = cJSON_CreateObject();

			cJSON_AddStringToObject(c, "lang", j->lang);
			cJSON_AddStringToObject(c, "image", j->ref);
			cJSON_AddItemToObject(c, "build", json_strv(j->build));
			if (j->push)
				cJSON_AddItemToObject(c, "push", json_strv(j->push));
			cJSON_AddItemToArray(arr, c);
		} else {
			cJSON_AddItemToArray(arr, job_json(j));
		}
	}
	text = kcr_json_print_free(o);
	printf("%s\n", text);
}

static void
print_summary(const struct kcr_images_plan *p, bool push)
{
	char t[16], size[16];

	printf("\n%-12s %-6s %7s %9s  %s\n", "IMAGE", "RESULT", "TIME", "SIZE",
	       push ? "REFERENCE / DIGEST" : "REFERENCE");
	for (size_t i = 0; i < p->n; i++) {
		const struct kcr_image_job *j = &p->jobs[i];

		kcr_images_format_ms(j->ms, t, sizeof(t));
		kcr_images_format_size(j->size, size, sizeof(size));
		printf("%-12s %-6s %7s %9s  %s%s%s\n", j->lang, j->ok ? "ok" : "FAILED",
		       j->done ? t : "-", size, j->ref, j->digest ? "@" : "",
		       j->digest ? j->digest : "");
	}
}

static int
build_images(struct kcr_ctx *ctx, struct kcr_images_opts *o, kcr_error_t *err)
{
	struct kcr_images_plan p;
	int failed;

	if (kcr_images_plan(ctx->cfg, o, &p, err) < 0)
		return -1;
	if (o->dry_run) {
		if (o->json)
			print_json(&p, true);
		else
			kcr_images_print_commands(&p, stdout);
		kcr_images_plan_release(&p);
		return 0;
	}
	failed = kcr_images_run(&p, o, o->json ? stderr : stdout, err);
	if (failed < 0) {
		kcr_images_plan_release(&p);
		return -1;
	}
	if (o->json)
		print_json(&p, false);
	else
		print_summary(&p, o->push);
	/* the first failure, as the one line a script shows */
	for (size_t i = 0; i < p.n && failed; i++)
		if (p.jobs[i].error) {
			fprintf(stderr, "kcr: %s\n", p.jobs[i].error);
			break;
		}
	kcr_images_plan_release(&p);
	return failed ? 1 : 0;
}

static int
build_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct kcr_images_opts o = { .source = ".", .jobs = 2 };
	int first,
		r = kcr_cmd_parse(&kcr_cmd_images_build, argc, argv, on_build_opt, &o, &first, err);

	for (int i = first; r == 0 && i < argc && strcmp(argv[i], "--") != 0; i++)
		kcr_strv_push(&o.langs, argv[i]);
	if (r == 0)
		r = build_images(ctx, &o, err);
	else if (r == 1)
		r = 0;
	kcr_strv_free(o.langs);
	kcr_strv_free(o.build_args);
	return r;
}

static const struct kcr_cmd kcr_cmd_images_build = {
	.name = "build",
	.usage = "kcr images build [LANG...] [--engine docker|podman|buildah] [--registry R] "
		 "[--tag T] [--build-arg K=V]... [--push] [--jobs N] [--dry-run] [--json]",
	.summary = "Build the images of images/ (kcr-runner first, then each language's "
		   "and kcr serve's own, 'kcr', in parallel) with a progress line per image "
		   "and a summary; --push pushes them once all are built. Exit 1 if an image "
		   "failed.",
	.examples = "  kcr images build py c bash\n"
		    "  kcr images build --registry registry.example.com/kcr --tag 0.1.0 --push\n"
		    "  kcr images build --dry-run --engine docker\n"
		    "  kcr images build py --build-arg BASE=registry.internal/python:3.12-slim",
	.opts = build_opts,
	.operands = "lang",
	.run = build_run,
};

/* ---- list --------------------------------------------------------------- */

enum { L_JSON };

static const struct kcr_opt list_opts[] = {
	[L_JSON] = { "json", 0, NULL, "print JSON", NULL },
	{ NULL },
};

static const struct kcr_cmd kcr_cmd_images_list;

static int
on_list_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	(void)arg;
	(void)err;
	*(bool *)data = id == L_JSON;
	return 0;
}

/* "default", or where kubernetes.image_<id> was set ("env LANG_IMAGE_PY"). */
static char *
image_source(const struct kcr_config *cfg, const struct kcr_lang *l)
{
	kcr_autofree char *key = kcr_strdup_printf("kubernetes.image_%s", l->id);
	const char *origin = NULL;
	enum kcr_cfg_source s = kcr_config_source(cfg, key, &origin);

	if (s == KCR_SRC_DEFAULT || !*kcr_config_str(cfg, key))
		return kcr_xstrdup("default");
	return kcr_strdup_printf("%s%s%s", kcr_cfg_source_name(s), origin ? " " : "",
				 origin ? origin : "");
}

static int
list_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	bool json = false;
	int first, r = kcr_cmd_parse(&kcr_cmd_images_list, argc, argv, on_list_opt, &json, &first,
				     err);
	cJSON *arr = json ? cJSON_CreateArray() : NULL;

	if (r == 0 && first < argc)
		r = kcr_cmd_usage_error(&kcr_cmd_images_list, err, "unexpected argument '%s'",
					argv[first]);
	if (r != 0) {
		cJSON_Delete(arr);
		return r == 1 ? 0 : -1;
	}
	if (!json)
		printf("%-5s %-48s %s\n", "LANG", "IMAGE", "SOURCE");
	for (unsigned int i = 0; i < kcr_lang_count(); i++) {
		const struct kcr_lang *l = kcr_lang_at(i);
		kcr_autofree char *image = kcr_k8s_lang_image(ctx->cfg, l);
		kcr_autofree char *src = image_source(ctx->cfg, l);
		cJSON *o;

		if (!json) {
			printf("%-5s %-48s %s\n", l->id, image, src);
			continue;
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "lang", l->id);
		cJSON_AddStringToObject(o, "image", image);
		cJSON_AddStringToObject(o, "source", src);
		cJSON_AddItemToArray(arr, o);
	}
	if (json) {
		kcr_autofree char *text = kcr_json_print_free(arr);

		printf("%s\n", text);
	}
	return 0;
}

static const struct kcr_cmd kcr_cmd_images_list = {
	.name = "list",
	.usage = "kcr images list [--json]",
	.summary = "Show, per language, the image its pods run: kubernetes.image_<lang> "
		   "(LANG_IMAGE_<LANG>), else <kubernetes.image_registry>/<lang>:<tag>.",
	.examples = "  kcr images list\n  LANG_IMAGE_PY=registry.internal/py:1 kcr images list",
	.opts = list_opts,
	.run = list_run,
};

static const struct kcr_cmd *const images_subcmds[] = {
	&kcr_cmd_images_build,
	&kcr_cmd_images_list,
	NULL,
};

static int
images_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	return kcr_cmd_dispatch_sub(&kcr_cmd_images, ctx, argc, argv, err);
}

static const struct kcr_opt no_opts[] = { { NULL } };

const struct kcr_cmd kcr_cmd_images = {
	.name = "images",
	.usage = "kcr images build|list [options]",
	.summary = "Build, push and list the container images of the kubernetes provider.",
	.examples = "  kcr images build --registry registry.example.com/kcr --push\n"
		    "  kcr images list",
	.opts = no_opts,
	.subcmds = images_subcmds,
	.run = images_run,
};

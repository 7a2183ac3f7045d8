/* kcr images build's plan: the engine, the images and the exact commands
 * that build and push them, decided before anything runs (so --dry-run
 * prints what a build would run, and bad input fails before a build). */
#include <config.h>

#include "images.h"
#include "sandbox/kubernetes.h"
#include "base/lang.h"
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUNNER_FILE "images/kcr-runner.Containerfile"
/* kcr serve's own image: named like a language on the command line */
#define KCR_IMAGE "kcr"

static const char *const engines[] = { "podman", "buildah", "docker", NULL };

bool
kcr_images_on_path(const char *name)
{
	const char *path = getenv("PATH");
	kcr_autofree char *copy = kcr_xstrdup(path ? path : "");
	char *save = NULL;

	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		kcr_autofree char *p = kcr_strdup_printf("%s/%s", *d ? d : ".", name);

		if (access(p, X_OK) == 0)
			return true;
	}
	return false;
}

const char *
kcr_images_find_engine(void)
{
	for (size_t i = 0; engines[i]; i++)
		if (kcr_images_on_path(engines[i]))
			return engines[i];
	return NULL;
}

static int
pick_engine(const struct kcr_images_opts *o, const char **out, kcr_error_t *err)
{
	if (o->engine == NULL) {
		*out = kcr_images_find_engine();
		if (*out == NULL)
			return kcr_error_set(err, KCR_E_NOTFOUND, 0,
					     "no container engine found: install podman, buildah "
					     "or docker (Debian: apt-get install podman)");
		return 0;
	}
	for (size_t i = 0; engines[i]; i++) {
		if (strcmp(o->engine, engines[i]) != 0)
			continue;
		*out = engines[i];
		/* a dry run prints another machine's commands too */
		if (!o->dry_run && !kcr_images_on_path(o->engine))
			return kcr_error_set(err, KCR_E_NOTFOUND, 0,
					     "--engine %s: '%s' is not installed (Debian: "
					     "apt-get install %s)",
					     o->engine, o->engine, o->engine);
		return 0;
	}
	return kcr_error_set(err, KCR_E_INVALID, 0,
			     "--engine '%s': expected docker, podman or buildah", o->engine);
}

/* K=V with K a build argument's name: what all three engines accept. */
static int
check_build_arg(const char *kv, kcr_error_t *err)
{
	const char *eq = strchr(kv, '=');

	if (eq == NULL || eq == kv || !(isalpha((unsigned char)kv[0]) || kv[0] == '_'))
		return kcr_error_set(err, KCR_E_INVALID, 0, "--build-arg '%s': expected NAME=VALUE",
				     kv);
	for (const char *p = kv; p < eq; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "--build-arg '%s': '%.*s' is not a name", kv,
					     (int)(eq - kv), kv);
	return 0;
}

/* The value of build argument name the user gave, or NULL. */
static const char *
user_arg(const struct kcr_images_opts *o, const char *name)
{
	size_t n = strlen(name);

	for (char **a = o->build_args; a && *a; a++)
		if (strncmp(*a, name, n) == 0 && (*a)[n] == '=')
			return *a + n + 1;
	return NULL;
}

/* The commit the images are built from (org.opencontainers.image.revision). */
static char *
revision(const char *source)
{
	char *argv[] = { "git", "-C", (char *)source, "rev-parse", "HEAD", NULL };
	char *rev = kcr_images_capture(argv);

	return rev ? rev : kcr_xstrdup("unknown");
}

static char *
image_ref(const struct kcr_config *cfg, const struct kcr_images_opts *o, const char *name,
	  const struct kcr_lang *l)
{
	const char *reg =
		o->registry ? o->registry : kcr_config_str(cfg, "kubernetes.image_registry");
	const char *tag = o->tag ? o->tag : kcr_config_str(cfg, "kubernetes.image_tag");

	/* without --registry or --tag: exactly the image the pods will run */
	if (l && !o->registry && !o->tag)
		return kcr_k8s_lang_image(cfg, l);
	return kcr_strdup_printf("%s/%s:%s", reg, name, tag && *tag ? tag : PACKAGE_VERSION);
}

static void
push_arg(char ***argv, const char *flag, const char *value)
{
	kcr_strv_push(argv, flag);
	kcr_strv_push(argv, value);
}

static char **
build_argv(const char *engine, const struct kcr_images_opts *o, const struct kcr_image_job *j,
	   const char *rev, const char *runner)
{
	char **argv = NULL;
	kcr_autofree char *version = kcr_strdup_printf("VERSION=%s", PACKAGE_VERSION);
	kcr_autofree char *revision = kcr_strdup_printf("REVISION=%s", rev);
	kcr_autofree char *runner_arg = runner ? kcr_strdup_printf("RUNNER=%s", runner) : NULL;
	kcr_autofree char *version_label =
		kcr_strdup_printf("org.opencontainers.image.version=%s", PACKAGE_VERSION);
	kcr_autofree char *revision_label =
		kcr_strdup_printf("org.opencontainers.image.revision=%s", rev);

	kcr_strv_push(&argv, engine);
	kcr_strv_push(&argv, strcmp(engine, "buildah") == 0 ? "bud" : "build");
	/* chroot: builds where no container can run (no cgroups, rootless
	 * without user namespaces, a build inside a container) */
	if (strcmp(engine, "docker") != 0)
		push_arg(&argv, "--isolation", o->isolation ? o->isolation : "chroot");
	push_arg(&argv, "-f", j->file);
	push_arg(&argv, "-t", j->ref);
	push_arg(&argv, "--build-arg", version);
	push_arg(&argv, "--build-arg", revision);
	/* the labels again, as the engine's: buildah takes a LABEL step whose
	 * ARG changed from its cache, with the last commit's revision */
	push_arg(&argv, "--label", version_label);
	push_arg(&argv, "--label", revision_label);
	if (runner_arg)
		push_arg(&argv, "--build-arg", runner_arg);
	for (char **a = o->build_args; a && *a; a++)
		push_arg(&argv, "--build-arg", *a);
	kcr_strv_push(&argv, o->source);
	return argv;
}

static char **
push_argv(const char *engine, const struct kcr_image_job *j, const char *log_dir)
{
	char **argv = NULL;

	kcr_strv_push(&argv, engine);
	kcr_strv_push(&argv, "push");
	if (strcmp(engine, "docker") != 0) {
		kcr_autofree char *df = kcr_strdup_printf("%s/%s.digest", log_dir, j->lang);

		push_arg(&argv, "--digestfile", df);
	}
	kcr_strv_push(&argv, j->ref);
	return argv;
}

/* The languages asked for, each once, in the table's order when none;
 * *with_kcr when kcr's own image is asked for too (always when none). */
static int
plan_langs(const struct kcr_images_opts *o, const struct kcr_lang ***out, size_t *n, bool *with_kcr,
	   kcr_error_t *err)
{
	const struct kcr_lang **ls = kcr_xmalloc(sizeof(*ls) * kcr_lang_count());

	*n = 0;
	*with_kcr = o->langs == NULL;
	if (o->langs == NULL)
		for (unsigned int i = 0; i < kcr_lang_count(); i++)
			ls[(*n)++] = kcr_lang_at(i);
	for (char **a = o->langs; a && *a; a++) {
		const struct kcr_lang *l;
		bool seen = false;

		if (strcmp(*a, KCR_IMAGE) == 0) {
			*with_kcr = true;
			continue;
		}
		if ((l = kcr_lang_lookup(*a, err)) == NULL) {
			free(ls);
			return -1;
		}
		for (size_t i = 0; i < *n; i++)
			seen |= ls[i] == l;
		if (!seen)
			ls[(*n)++] = l;
	}
	*out = ls;
	return 0;
}

static int
check_source(const struct kcr_images_opts *o, const struct kcr_lang *const *ls, size_t n,
	     bool with_kcr, kcr_error_t *err)
{
	kcr_autofree char *runner = kcr_strdup_printf("%s/%s", o->source, RUNNER_FILE);
	kcr_autofree char *kcr =
		kcr_strdup_printf("%s/images/%s.Containerfile", o->source, KCR_IMAGE);

	if (with_kcr && access(kcr, R_OK) != 0)
		return kcr_error_set(err, KCR_E_INVALID, errno, "%s", kcr);
	if (access(runner, R_OK) != 0)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "--source %s: not a kcr source tree (no %s); run in the "
				     "repository or pass --source",
				     o->source, RUNNER_FILE);
	for (size_t i = 0; i < n; i++) {
		kcr_autofree char *f =
			kcr_strdup_printf("%s/images/%s.Containerfile", o->source, ls[i]->id);

		if (access(f, R_OK) != 0)
			return kcr_error_set(err, KCR_E_INVALID, errno, "%s", f);
	}
	return 0;
}

static void
add_job(struct kcr_images_plan *p, const char *engine, const struct kcr_images_opts *o, char *lang,
	char *ref, char *file, const char *rev, const char *runner)
{
	struct kcr_image_job *j = &p->jobs[p->n++];

	memset(j, 0, sizeof(*j));
	j->lang = lang;
	j->ref = ref;
	j->file = file;
	j->build = build_argv(engine, o, j, rev, runner);
	if (o->push)
		j->push = push_argv(engine, j, p->log_dir);
	j->log = kcr_strdup_printf("%s/%s.log", p->log_dir, lang);
}

/* Where the engines' output goes (a dry run names the template). */
static int
make_log_dir(struct kcr_images_plan *p, bool dry_run, kcr_error_t *err)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = kcr_strdup_printf("%s/kcr-images-XXXXXX", tmp && *tmp ? tmp : "/tmp");

	if (!dry_run && mkdtemp(dir) == NULL) {
		free(dir);
		return kcr_error_set(err, KCR_E_IO, errno, "creating a log directory");
	}
	p->log_dir = dir;
	return 0;
}

int
kcr_images_plan(const struct kcr_config *cfg, const struct kcr_images_opts *o,
		struct kcr_images_plan *p, kcr_error_t *err)
{
	kcr_autofree const struct kcr_lang **ls = NULL;
	kcr_autofree char *rev = NULL;
	kcr_autofree char *runner = NULL;
	const char *engine = NULL, *given_runner = user_arg(o, "RUNNER");
	bool with_kcr;
	size_t n;

	memset(p, 0, sizeof(*p));
	for (char **a = o->build_args; a && *a; a++)
		if (check_build_arg(*a, err) < 0)
			return -1;
	if (plan_langs(o, &ls, &n, &with_kcr, err) < 0 ||
	    check_source(o, ls, n, with_kcr, err) < 0 || pick_engine(o, &engine, err) < 0)
		return -1;
	if (make_log_dir(p, o->dry_run, err) < 0)
		return -1;
	p->engine = kcr_xstrdup(engine);
	p->jobs = kcr_xmalloc(sizeof(*p->jobs) * (n + 2));
	rev = revision(o->source);
	/* RUNNER=REF: the languages copy that runner image; none is built.
	 * Built first even for kcr's image alone: their build stage is the
	 * same, so kcr's then comes from the engine's cache. */
	if (given_runner == NULL) {
		runner = image_ref(cfg, o, "kcr-runner", NULL);
		add_job(p, engine, o, kcr_xstrdup("kcr-runner"), kcr_xstrdup(runner),
			kcr_strdup_printf("%s/%s", o->source, RUNNER_FILE), rev, NULL);
	}
	for (size_t i = 0; i < n; i++)
		add_job(p, engine, o, kcr_xstrdup(ls[i]->id), image_ref(cfg, o, ls[i]->id, ls[i]),
			kcr_strdup_printf("%s/images/%s.Containerfile", o->source, ls[i]->id), rev,
			runner);
	if (with_kcr)
		add_job(p, engine, o, kcr_xstrdup(KCR_IMAGE), image_ref(cfg, o, KCR_IMAGE, NULL),
			kcr_strdup_printf("%s/images/%s.Containerfile", o->source, KCR_IMAGE), rev,
			NULL);
	return 0;
}

void
kcr_images_plan_release(struct kcr_images_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct kcr_image_job *j = &p->jobs[i];

		free(j->lang);
		free(j->ref);
		free(j->file);
		kcr_strv_free(j->build);
		kcr_strv_free(j->push);
		free(j->log);
		free(j->digest);
		free(j->error);
	}
	free(p->jobs);
	free(p->engine);
	free(p->log_dir);
	memset(p, 0, sizeof(*p));
}

/* A word as a POSIX shell reads it back. */
static void
print_quoted(const char *s, FILE *f)
{
	if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789_-+=./:@,%") == strlen(s)) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (; *s; s++)
		fputs(*s == '\'' ? "'\\''" : (char[]){ *s, 0 }, f);
	fputc('\'', f);
}

static void
print_argv(char *const *argv, FILE *f)
{
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			fputc(' ', f);
		print_quoted(argv[i], f);
	}
	fputc('\n', f);
}

void
kcr_images_print_commands(const struct kcr_images_plan *p, FILE *f)
{
	for (size_t i = 0; i < p->n; i++)
		print_argv(p->jobs[i].build, f);
	for (size_t i = 0; i < p->n; i++)
		if (p->jobs[i].push)
			print_argv(p->jobs[i].push, f);
}

/* kcr images build: the plan (which engine, which images, the exact
 * commands) and its run (the runner image first, then the languages'
 * images in parallel, a progress line per image, then the pushes). The
 * CLI is bin/cmd_images.c. */
#ifndef KCR_IMAGES_H
#define KCR_IMAGES_H

#include "base/error.h"
#include "base/settings.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct kcr_images_opts {
	const char *engine;    /* "docker" | "podman" | "buildah", or NULL: the installed one */
	const char *registry;  /* or NULL: the configured images */
	const char *tag;       /* or NULL: kubernetes.image_tag, else this kcr's version */
	const char *isolation; /* podman/buildah --isolation; NULL: "chroot" */
	const char *source;    /* the repository (its images/ and the build context) */
	char **langs;          /* ids; NULL: all */
	char **build_args;     /* "K=V" */
	unsigned int jobs;
	bool push, dry_run, json;
};

/* One image: what builds it, and once run, how it went. */
struct kcr_image_job {
	char *lang;   /* "py", or "kcr-runner" */
	char *ref;    /* what it is tagged */
	char *file;   /* its Containerfile */
	char **build; /* the engine's argv */
	char **push;  /* or NULL */
	char *log;    /* the engine's output, kept on failure */
	/* results */
	bool done, ok;
	int exit_code;
	char step[32]; /* "3/7" */
	uint64_t started_ms, ms;
	uint64_t size; /* bytes, 0 unknown */
	char *digest;  /* after a push */
	char *error;   /* one line */
};

struct kcr_images_plan {
	char *engine;
	char *log_dir;
	struct kcr_image_job *jobs; /* [0] the runner, then the languages */
	size_t n;
};

/* Resolves the engine and every command; fails on an unknown language,
 * engine or build argument (KCR_E_INVALID) or no engine installed. */
int kcr_images_plan(const struct kcr_config *cfg, const struct kcr_images_opts *o,
		    struct kcr_images_plan *plan, kcr_error_t *err);
void kcr_images_plan_release(struct kcr_images_plan *plan);
/* The commands, shell-quoted, one a line (--dry-run). */
void kcr_images_print_commands(const struct kcr_images_plan *plan, FILE *f);
/* Builds (and with o->push, once all built, pushes) with o->jobs at a
 * time, a progress line per image on progress. Returns the number of
 * images that failed, or -1 with err set when nothing could start. */
int kcr_images_run(struct kcr_images_plan *plan, const struct kcr_images_opts *o, FILE *progress,
		   kcr_error_t *err);
/* The first of podman, buildah, docker on PATH (the two that need no
 * daemon first), or NULL. */
const char *kcr_images_find_engine(void);
/* Whether name is an executable on PATH. */
bool kcr_images_on_path(const char *name);
/* A child's stdout (at most 64 KiB, trimmed), or NULL if it could not run
 * or failed. */
char *kcr_images_capture(char *const argv[]);
/* "1.2 GB" from bytes ("-" for 0), "1m05s" from ms. */
void kcr_images_format_size(uint64_t bytes, char *out, size_t n);
void kcr_images_format_ms(uint64_t ms, char *out, size_t n);

#endif

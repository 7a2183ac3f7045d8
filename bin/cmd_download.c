/* kcr download: copy stored files of a session to local files. */
#include <config.h>

#include "client/client.h"
#include "base/files.h"
#include "cmd.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { O_SERVER, O_OUTDIR, O_OUTPUT, O_FORCE };

static const struct kcr_opt download_opts[] = {
	[O_SERVER] = { "server", 0, "URL", "use the kcr server at URL (default: client.server; "
					  "none: the local state dir)", NULL },
	[O_OUTDIR] = { "output-dir", 'o', "DIR", "write the files to DIR under their stored "
					       "names (default: .)", "dir" },
	[O_OUTPUT] = { "output", 0, "FILE", "write the one file to FILE ('-': standard output)",
		       "file" },
	[O_FORCE] = { "force", 0, NULL, "overwrite existing files", NULL },
	{ NULL },
};

struct download_args {
	struct kcr_config *cfg;
	const char *outdir, *output;
	bool force;
};

struct fetched {
	struct kcr_file_meta meta;
	char *data;
	size_t len;
	char *path, *tmp;
	bool placed;
};

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	struct download_args *a = data;

	switch (id) {
	case O_SERVER: return kcr_config_set(a->cfg, "client.server", arg, KCR_SRC_FLAG, err);
	case O_OUTDIR: a->outdir = arg; break;
	case O_OUTPUT: a->output = arg; break;
	case O_FORCE: a->force = true; break;
	default: return -1;
	}
	return 0;
}

static void
fetched_free(struct fetched *f, size_t n)
{
	for (size_t i = 0; f && i < n; i++) {
		kcr_file_meta_release(&f[i].meta);
		free(f[i].data);
		if (f[i].tmp)
			unlink(f[i].tmp);
		free(f[i].tmp);
		free(f[i].path);
	}
	free(f);
}

/* Everything is fetched before anything is written. */
static int
fetch_all(struct kcr_client *c, const char *sid, char **fids, size_t n, struct fetched *f,
	  kcr_error_t *err)
{
	for (size_t i = 0; i < n; i++)
		if (kcr_client_get_file(c, sid, fids[i], &f[i].meta, &f[i].data, &f[i].len, err) < 0)
			return -1;
	return 0;
}

static int
plan_paths(const struct download_args *a, struct fetched *f, size_t n, kcr_error_t *err)
{
	for (size_t i = 0; i < n; i++) {
		f[i].path = a->output ? kcr_xstrdup(a->output)
				      : kcr_strdup_printf("%s/%s", a->outdir ? a->outdir : ".",
							  f[i].meta.name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(f[i].path, f[j].path) == 0)
				return kcr_error_set(err, KCR_E_CONFLICT, 0,
						     "files '%s' and '%s' are both named '%s'; "
						     "fetch them one at a time with --output",
						     f[j].meta.id, f[i].meta.id, f[i].meta.name);
		if (!a->force && access(f[i].path, F_OK) == 0)
			return kcr_error_set(err, KCR_E_CONFLICT, 0,
					     "'%s' exists; --force overwrites", f[i].path);
	}
	return 0;
}

/* A temporary file next to the target, so that placing it is a rename. */
static int
write_tmp(struct fetched *f, kcr_error_t *err)
{
	kcr_autofree char *dir = kcr_xstrdup(f->path);
	char *slash = strrchr(dir, '/');
	kcr_autoclose int fd = -1;

	if (slash)
		slash[1] = '\0';
	f->tmp = kcr_strdup_printf("%s.kcr-download-XXXXXX", slash ? dir : "");
	fd = mkostemp(f->tmp, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		free(f->tmp);
		f->tmp = NULL;
		return kcr_error_set(err, KCR_E_IO, e, "cannot create a file next to '%s'", f->path);
	}
	if (kcr_write_all(fd, f->data, f->len) < 0 || fchmod(fd, 0644) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot write '%s'", f->tmp);
	return 0;
}

/* Without --force, link() refuses a target that appeared meanwhile. */
static int
place(struct fetched *f, bool force, kcr_error_t *err)
{
	if (force ? rename(f->tmp, f->path) < 0 : link(f->tmp, f->path) < 0)
		return kcr_error_set(err, errno == EEXIST ? KCR_E_CONFLICT : KCR_E_IO, errno,
				     "cannot write '%s'", f->path);
	if (!force)
		unlink(f->tmp);
	free(f->tmp);
	f->tmp = NULL;
	f->placed = true;
	return 0;
}

static int
write_all(const struct download_args *a, struct fetched *f, size_t n, kcr_error_t *err)
{
	if (a->output && strcmp(a->output, "-") == 0)
		return kcr_write_all(1, f[0].data, f[0].len) < 0
			       ? kcr_error_set(err, KCR_E_IO, errno, "cannot write standard output")
			       : 0;
	if (!a->output && a->outdir && kcr_mkdir_p(a->outdir, 0755, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (write_tmp(&f[i], err) < 0)
			return -1;
	for (size_t i = 0; i < n; i++)
		if (place(&f[i], a->force, err) < 0) {
			for (size_t j = 0; !a->force && j < i; j++) /* undo what is new */
				unlink(f[j].path);
			return -1;
		}
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "kcr: wrote %s (%zu bytes)\n", f[i].path, f[i].len);
	return 0;
}

static int
download(struct kcr_ctx *ctx, const struct download_args *a, const char *sid, char **fids,
	 size_t n, kcr_error_t *err)
{
	struct fetched *f = kcr_xzalloc((n + 1) * sizeof(*f));
	struct kcr_client *c = kcr_client_open(ctx->cfg, err);
	int r = -1;

	if (c && fetch_all(c, sid, fids, n, f, err) == 0 && plan_paths(a, f, n, err) == 0 &&
	    write_all(a, f, n, err) == 0)
		r = 0;
	kcr_client_close(c);
	fetched_free(f, n);
	return r;
}

static int
check_args(const struct download_args *a, int argc, char **argv, int first, kcr_error_t *err)
{
	if (first >= argc)
		return kcr_cmd_usage_error(&kcr_cmd_download, err, "no session given");
	if (first + 1 >= argc)
		return kcr_cmd_usage_error(&kcr_cmd_download, err, "no file id given");
	if (a->output && a->outdir)
		return kcr_cmd_usage_error(&kcr_cmd_download, err,
					   "give either --output or --output-dir, not both");
	if (a->output && argc - first > 2)
		return kcr_cmd_usage_error(&kcr_cmd_download, err,
					   "--output takes one file; use -o DIR for several");
	if (kcr_client_check_id("session", argv[first], err) < 0)
		return -1;
	for (int i = first + 1; i < argc; i++)
		if (kcr_client_check_id("file", argv[i], err) < 0)
			return -1;
	return 0;
}

static int
download_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct download_args a = { .cfg = ctx->cfg };
	int first, r = kcr_cmd_parse(&kcr_cmd_download, argc, argv, on_opt, &a, &first, err);

	if (r != 0)
		return r == 1 ? 0 : -1;
	if (check_args(&a, argc, argv, first, err) < 0)
		return -1;
	return download(ctx, &a, argv[first], argv + first + 1, (size_t)(argc - first - 1), err);
}

const struct kcr_cmd kcr_cmd_download = {
	.name = "download",
	.usage = "kcr download [--server URL] [-o DIR|--output FILE] [--force] SESSION FILE_ID...",
	.summary = "Copy stored files of a session (uploads, outputs of runs) to local files.",
	.examples = "  kcr download Gq7Lm2Nx9PzR4tY8kWc3D p0Lk2Jd8Hs5Fq1Wz3Xc7V\n"
		    "  kcr download -o out/ Gq7Lm2Nx9PzR4tY8kWc3D p0Lk2Jd8Hs5Fq1Wz3Xc7V Vb3k9Qm2LpX7aZt0Rw1sE\n"
		    "  kcr download --server http://127.0.0.1:8000 --output - Gq7Lm2Nx9PzR4tY8kWc3D "
		    "p0Lk2Jd8Hs5Fq1Wz3Xc7V | head",
	.opts = download_opts,
	.run = download_run,
};

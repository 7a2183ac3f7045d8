/* Build caches shared by the local sandboxes of a compiled language
 * (kcr_lang.build_cache: Go). Without one, every sandbox starts with an
 * empty GOCACHE and a hello world builds the standard library again.
 *
 * One cache per toolchain, <sandbox.build_cache_dir>/<lang>-<key> (key: a hash of
 * the compiler's version, the machine and the compile command and
 * environment), filled once by kcr: a sandbox of its own with the
 * directory bound writable at the cache's path compiles
 * build_cache_warm. kcr then makes it its own (owned by the sandbox's
 * root, read-only, dated 2100 so Go neither trims its files nor rewrites
 * their mtimes), writes the marker .kcr-complete holding the key, and
 * renames it into place. Every other sandbox gets its path and mounts it
 * as the lower layer of an overlay (sandbox_init.c): a program writes
 * only its own upper layer, on its own /tmp. The directory of the caches
 * is 0711: a sandbox's root (not the host's) reaches them by path, as
 * the overlay needs, and nobody lists them.
 *
 * A cache whose marker is missing or does not hold its key (deleted,
 * interrupted, damaged) is filled again. */
#include <config.h>

#include "base/clock.h"
#include "base/exec.h"
#include "base/files.h"
#include "base/log.h"
#include "base/util.h"
#include "runner/sandbox_init.h"
#include "sandbox/local-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MARKER ".kcr-complete"
/* how long a fill may take (a whole standard library, on a loaded host) */
#define FILL_TIMEOUT_MS 300000
/* 2100-01-01: later than any clock, so never stale */
#define FAR_FUTURE 4102444800LL
/* after a failed fill, sandboxes start empty this long before the next try */
#define RETRY_MS 60000

static uint64_t
fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL;
}

/* "<id>-<16 hex>", or NULL when the compiler has no version to name. */
static char *
cache_name(const struct kcr_lang *l)
{
	kcr_autofree char *version = kcr_lang_version(l);
	uint64_t h = 0xcbf29ce484222325ULL;
	struct utsname u;

	if (version == NULL || uname(&u) < 0)
		return NULL;
	h = fnv1a(fnv1a(h, version), u.machine);
	for (const char *const *a = l->compile; a && *a; a++)
		h = fnv1a(h, *a);
	for (const char *const *e = l->env; e && *e; e++)
		h = fnv1a(h, *e);
	return kcr_strdup_printf("%s-%016llx", l->id, (unsigned long long)h);
}

/* Whether the directory at path has its marker, holding name. */
static bool
complete(const char *path, const char *name)
{
	kcr_autoclose int dir = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	kcr_autoclose int m = -1;
	char buf[128];
	ssize_t n;

	if (dir < 0 || (m = openat(dir, MARKER, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return false;
	n = read(m, buf, sizeof(buf) - 1);
	return n >= 0 && (size_t)n == strlen(name) && memcmp(buf, name, (size_t)n) == 0;
}

/* ---- the fill ----------------------------------------------------------------- */

/* nftw has no user pointer; the fill runs under cache_lock. */
static int seal_failed;

static int
seal_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	const struct timespec t[2] = { { .tv_sec = FAR_FUTURE }, { .tv_sec = FAR_FUTURE } };

	(void)ftw;
	/* a cache holds files and directories only */
	if (type == FTW_SL || (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))) {
		if (unlink(p) < 0)
			seal_failed = errno;
		return 0;
	}
	if (lchown(p, SUBID_BASE, SUBID_BASE) < 0 ||
	    chmod(p, S_ISDIR(st->st_mode) ? 0555 : 0444) < 0 ||
	    utimensat(AT_FDCWD, p, t, AT_SYMLINK_NOFOLLOW) < 0)
		seal_failed = errno;
	return 0;
}

/* The program's files become kcr's: root of every sandbox, read-only. */
static int
seal(const char *dir, kcr_error_t *err)
{
	seal_failed = 0;
	if (nftw(dir, seal_one, 16, FTW_PHYS | FTW_DEPTH) < 0 || seal_failed)
		return kcr_error_set(err, KCR_E_IO, seal_failed ? seal_failed : errno,
				     "cannot seal the build cache '%s'", dir);
	return 0;
}

/* Compiles the language's warm program in a sandbox that writes dir. */
static int
warm(struct local *lp, const struct kcr_sandbox_spec *spec, char *dir, kcr_error_t *err)
{
	const struct local_cache cache = { .path = dir, .rw = true };
	struct kcr_sandbox_spec s = { .lang = spec->lang, .limits = spec->limits };
	struct kcr_exec_request req = { .lang = spec->lang,
					.code = (char *)spec->lang->build_cache_warm,
					.code_len = strlen(spec->lang->build_cache_warm),
					.limits = spec->limits };
	struct kcr_exec_result res = { 0 };
	struct kcr_sandbox *sb = NULL;
	int ret;

	req.limits.timeout_ms = FILL_TIMEOUT_MS;
	if (local_create_cached(lp, &s, -1, &cache, kcr_now_ms() + FILL_TIMEOUT_MS, &sb, err) < 0)
		return -1;
	ret = kcr_sandbox_local_ops.exec(lp, sb, &req, &res, err);
	if (ret == 0 && (res.exit_code != 0 || res.signal != 0))
		ret = kcr_error_set(err, KCR_E_IO, 0, "the build exited with %d: %.200s",
				    res.exit_code, res.err ? res.err : "");
	kcr_exec_result_release(&res);
	kcr_sandbox_local_ops.destroy(lp, sb, NULL);
	return ret;
}

static int
mark(const char *tmp, const char *name, kcr_error_t *err)
{
	kcr_autofree char *marker = kcr_strdup_printf("%s/" MARKER, tmp);

	return kcr_write_file(marker, name, strlen(name), 0444, err);
}

/* Replaces whatever is at path (an old or broken cache) with tmp. */
static int
install(const char *tmp, const char *path, kcr_error_t *err)
{
	kcr_autofree char *old = kcr_strdup_printf("%s.old-%ld", path, (long)getpid());

	if (rename(path, old) == 0)
		kcr_rm_rf(old); /* sandboxes using it keep their mounts */
	if (rename(tmp, path) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot rename '%s'", tmp);
	return 0;
}

static int
fill(struct local *lp, const struct kcr_sandbox_spec *spec, const char *path, const char *name,
     kcr_error_t *err)
{
	kcr_autofree char *tmp = kcr_strdup_printf("%s.fill-XXXXXX", path);
	int ret;

	if (kcr_mkdir_p(lp->cache_dir, 0711, err) < 0)
		return -1;
	if (chmod(lp->cache_dir, 0711) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot chmod '%s'", lp->cache_dir);
	if (mkdtemp(tmp) == NULL)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot create '%s'", tmp);
	/* the program's uid writes it, during the fill only */
	if (chown(tmp, SUBID_BASE + KCR_SANDBOX_UID, SUBID_BASE + KCR_SANDBOX_GID) < 0)
		ret = kcr_error_set(err, KCR_E_IO, errno, "cannot prepare '%s'", tmp);
	else
		ret = warm(lp, spec, tmp, err) < 0 || mark(tmp, name, err) < 0 || seal(tmp, err) < 0
			      ? -1
			      : install(tmp, path, err);
	if (ret < 0)
		kcr_rm_rf(tmp);
	return ret;
}

char *
local_cache_path(struct local *lp, const struct kcr_sandbox_spec *spec)
{
	const struct kcr_lang *l = spec->lang;
	kcr_autofree char *name = NULL;
	kcr_autofree char *path = NULL;
	kcr_error_t err = NULL;
	bool ok;

	if (lp->cache_dir == NULL || l == NULL || l->build_cache == NULL ||
	    l->build_cache_warm == NULL)
		return NULL;
	pthread_mutex_lock(&lp->cache_lock);
	/* one language has a cache today; its version is asked once */
	if (lp->cache_lang != l) {
		free(lp->cache_name);
		lp->cache_name = cache_name(l);
		lp->cache_lang = l;
	}
	if (lp->cache_name) {
		name = kcr_xstrdup(lp->cache_name);
		path = kcr_strdup_printf("%s/%s", lp->cache_dir, name);
	}
	ok = path && complete(path, name);
	if (path && !ok && kcr_now_ms() >= lp->cache_retry_ms) {
		uint64_t t0 = kcr_now_ms();

		if (fill(lp, spec, path, name, &err) < 0) {
			kcr_log_warn("%s build cache: %s; sandboxes start with an empty one",
				     l->name, err->msg);
			lp->cache_retry_ms = kcr_now_ms() + RETRY_MS;
		} else {
			kcr_log_info("%s build cache filled in %llu ms: %s", l->name,
				     (unsigned long long)(kcr_now_ms() - t0), path);
		}
		ok = complete(path, name);
	}
	pthread_mutex_unlock(&lp->cache_lock);
	kcr_error_free(err);
	return ok ? kcr_steal_ptr(&path) : NULL;
}

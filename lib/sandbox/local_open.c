/* The local provider as a whole: opening it (finding kcr-runner, its run
 * directory), closing it, and whether it can work: health() for the
 * provider, available() for one language. */
#include <config.h>

#include "base/files.h"
#include "base/util.h"
#include "runner/seccomp.h"
#include "sandbox/local-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char *
exe_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	char *slash;

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	return slash ? kcr_xstrndup(buf, (size_t)(slash - buf)) : NULL;
}

static char *
runner_found(const char *path)
{
	char real[PATH_MAX];
	struct stat st;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !kcr_file_executable(path))
		return NULL;
	return kcr_xstrdup(realpath(path, real) ? real : path);
}

static void
push_path(char ***v, const char *dir, const char *rel)
{
	kcr_autofree char *s = kcr_strdup_printf("%s%s", dir, rel);

	kcr_strv_push(v, s);
}

/* sandbox.runner (KCR_RUNNER is mapped onto it), else next to kcr, else
 * the build tree's runner/, else the installed one. */
static char *
find_runner(const struct kcr_config *cfg, kcr_error_t *err)
{
	const char *set = kcr_config_str(cfg, "sandbox.runner");
	kcr_autofree char *dir = exe_dir();
	kcr_autostrv char **tried = NULL;
	struct kcr_buf list;
	char *found;

	if (set && *set) {
		if ((found = runner_found(set)) == NULL)
			kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				      "sandbox.runner '%s' is not an executable file", set);
		return found;
	}
	if (dir) {
		push_path(&tried, dir, "/kcr-runner");
		push_path(&tried, dir, "/../runner/kcr-runner");
	}
#ifdef KCR_BINDIR
	kcr_strv_push(&tried, KCR_BINDIR "/kcr-runner");
#endif
	kcr_buf_init(&list);
	for (size_t i = 0; tried && tried[i]; i++) {
		if ((found = runner_found(tried[i])) != NULL) {
			kcr_buf_release(&list);
			return found;
		}
		kcr_buf_addf(&list, "%s%s", i ? ", " : "", tried[i]);
	}
	kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
		      "cannot find kcr-runner (looked for %s); set sandbox.runner or KCR_RUNNER",
		      list.data ? list.data : "nothing");
	kcr_buf_release(&list);
	return NULL;
}

/* run_dir holds the sockets: kcr's alone. */
static int
make_run_dir(const char *dir, kcr_error_t *err)
{
	return kcr_private_dir(dir, "run directory", err);
}

/* The filter every sandbox's runner installs, compiled here once: a
 * runner compiling its own spent ~2 ms of CPU of each sandbox's start in
 * libseccomp. Sealed, so that no runner can change what the next one
 * reads. On failure each runner compiles its own, and reports why. */
static int
seccomp_memfd(void)
{
	kcr_autofree char *bpf = NULL;
	kcr_autoclose int fd = -1;
	kcr_error_t err = NULL;
	size_t len;

	if (kcr_seccomp_export(&bpf, &len, &err) < 0) {
		kcr_error_free(err);
		return -1;
	}
	fd = memfd_create("kcr-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || kcr_write_all(fd, bpf, len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return -1;
	return kcr_steal_fd(&fd);
}

int
local_open(void **self, const struct kcr_config *cfg, kcr_error_t *err)
{
	const char *run_dir = kcr_config_str(cfg, "run_dir");
	const char *cache_dir = kcr_config_str(cfg, "sandbox.build_cache_dir");
	struct local *lp;
	char *runner;

	if (run_dir == NULL || *run_dir == '\0')
		return kcr_error_set(err, KCR_E_INVALID, 0, "run_dir is not set");
	if (make_run_dir(run_dir, err) < 0)
		return -1;
	if ((runner = find_runner(cfg, err)) == NULL)
		return -1;
	lp = kcr_xzalloc(sizeof(*lp));
	lp->run_dir = kcr_xstrdup(run_dir);
	lp->runner = runner;
	lp->seccomp_fd = -1; /* prepare_many() */
	lp->root = geteuid() == 0;
	lp->tmp_mb = (uint32_t)kcr_config_int(cfg, "limits.tmp_size_mb");
	lp->data_mb = (uint32_t)kcr_config_int(cfg, "limits.data_size_mb");
	lp->py_preload = kcr_xstrdup(kcr_config_str(cfg, "pool.py_preload"));
	/* a cell is uid 1000 of the host: that takes mapped ids (root) */
	lp->fork_server = kcr_config_bool(cfg, "pool.fork_server") && lp->root;
	lp->py_zygotes = (int)kcr_config_int(cfg, "pool.py_zygotes");
	pthread_mutex_init(&lp->hosts_lock, NULL);
	atomic_init(&lp->cg_warned, false);
	lp->allow_unlimited = kcr_config_bool(cfg, "limits.allow_unlimited");
	pthread_mutex_init(&lp->cache_lock, NULL);
	/* the fill maps the program's files to kcr's: that takes mapped ids */
	if (kcr_config_bool(cfg, "sandbox.build_cache") && lp->root && cache_dir && *cache_dir)
		lp->cache_dir = kcr_xstrdup(cache_dir);
	local_prune(lp);
	lp->use_template = kcr_config_bool(cfg, "sandbox.runner_template");
	local_template_init(lp);
	*self = lp;
	return 0;
}

/* A server or a pool: its runners are cloned from a template and read
 * the filter compiled here. A command that makes one sandbox or a few
 * (or none: kcr files) pays neither; each runner compiles its own. */
void
local_prepare_many(void *self)
{
	struct local *lp = self;
	kcr_autostrv char **envp = local_runner_envp();

	if (lp->seccomp_fd < 0)
		lp->seccomp_fd = seccomp_memfd();
	local_template_start(lp, envp);
}

void
local_close(void *self)
{
	struct local *lp = self;

	if (lp == NULL)
		return;
	if (lp->py_host)
		local_host_unref(lp, lp->py_host);
	local_template_stop(lp);
	pthread_mutex_destroy(&lp->hosts_lock);
	pthread_mutex_destroy(&lp->cache_lock);
	free(lp->cache_dir);
	free(lp->cache_name);
	free(lp->run_dir);
	free(lp->runner);
	if (lp->seccomp_fd >= 0)
		close(lp->seccomp_fd);
	free(lp->py_preload);
	free(lp);
}

/* The message users got from kcr before providers were asked, kept
 * word for word: kcr exec and POST /exec show it. */
int
local_available(void *self, const struct kcr_lang *lang, kcr_error_t *err)
{
	const char *missing = kcr_lang_missing_runtime(lang);

	(void)self;
	if (missing)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				     "%s runtime is not installed: %s is missing (install %s)",
				     lang->name, missing, lang->package);
	return 0;
}

/* Cgroups are optional (create() warns once and goes on without), but
 * controllers kcr's cgroup has and that can't be used leave sandboxes
 * without the limits they were configured with: not healthy. */
int
local_health(void *self, kcr_error_t *err)
{
	const struct local *lp = self;
	struct kcr_cgroup_info info;

	if (!kcr_file_executable(lp->runner))
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "kcr-runner '%s' is not executable",
				     lp->runner);
	if (access(lp->run_dir, W_OK | X_OK) < 0)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, errno,
				     "run directory '%s' is not writable", lp->run_dir);
	kcr_cgroup_probe(&info);
	if (info.version != KCR_CGROUP_NONE && info.reason[0])
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "cgroups: %s", info.reason);
	return 0;
}

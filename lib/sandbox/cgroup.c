#include <config.h>

#include "sandbox/cgroup-internal.h"
#include "base/log.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct kcr_cgroup {
	enum kcr_cgroup_version version;
	char *dir[CG_N]; /* the sandbox's cgroup per controller, or NULL */
	int fd;          /* v2: the directory, for CLONE_INTO_CGROUP; else -1 */
};

/* ---- small file helpers ------------------------------------------------ */
/* One write(2) of a short value: cgroupfs wants the whole value at once. */
static int
cg_write(const char *dir, const char *file, const char *val)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", dir, file);
	kcr_autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t n = strlen(val);

	if (fd < 0)
		return -1;
	return write(fd, val, n) == (ssize_t)n ? 0 : -1;
}

static bool
cg_has_file(const char *dir, const char *file)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", dir, file);

	return access(path, F_OK) == 0;
}

/* The value of "key N" in a flat keyed file (memory.events, pids.events). */
static uint64_t
cg_read_key(const char *dir, const char *file, const char *key)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/%s", dir, file);
	kcr_autofree char *s = cg_slurp(path);
	size_t klen = strlen(key);

	for (char *p = s; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			return strtoull(p + klen + 1, NULL, 10);
	}
	return 0;
}

/* Whether the word w is in a list separated by any of seps. */

/* ---- creating and limiting ----------------------------------------------- */

/* v2: controllers reach a child only when enabled in the parent's
 * cgroup.subtree_control. That fails with EBUSY while the parent holds
 * processes (kcr itself), which kcr does not move. */
static int
v2_delegate(const struct cg_layout *l, kcr_error_t *err)
{
	const char *dir = l->dir[CG_MEMORY];
	kcr_autofree char *path = kcr_strdup_printf("%s/cgroup.subtree_control", dir);
	kcr_autofree char *on = cg_slurp(path);
	char plus[32];

	for (int i = 0; i < CG_N; i++) {
		if (l->dir[i] == NULL || cg_has_word(on, cg_names[i], " \n"))
			continue;
		snprintf(plus, sizeof(plus), "+%s", cg_names[i]);
		if (cg_write(dir, "cgroup.subtree_control", plus) == 0)
			continue;
		if (errno == EBUSY)
			return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
					     "cgroup v2: cannot enable %s in %s: kcr's cgroup "
					     "holds processes; run kcr in a delegated cgroup "
					     "whose subtree_control enables memory, pids and cpu",
					     cg_names[i], path);
		return kcr_error_set(err, KCR_E_UNAVAILABLE, errno,
				     "cgroup v2: cannot enable %s in %s", cg_names[i], path);
	}
	return 0;
}

static int
set_memory(struct kcr_cgroup *cg, uint32_t mb)
{
	const char *dir = cg->dir[CG_MEMORY];
	char v[32];

	if (dir == NULL || mb == 0)
		return 0;
	snprintf(v, sizeof(v), "%" PRIu64, (uint64_t)mb << 20);
	if (cg->version == KCR_CGROUP_V2) {
		if (cg_write(dir, "memory.max", v) < 0)
			return -1;
		if (cg_has_file(dir, "memory.swap.max") &&
		    cg_write(dir, "memory.swap.max", "0") < 0)
			return -1;
		return 0;
	}
	if (cg_write(dir, "memory.limit_in_bytes", v) < 0)
		return -1;
	if (cg_has_file(dir, "memory.memsw.limit_in_bytes") &&
	    cg_write(dir, "memory.memsw.limit_in_bytes", v) < 0)
		return -1;
	return 0;
}

static int
set_pids(struct kcr_cgroup *cg, uint32_t n)
{
	char v[32];

	if (cg->dir[CG_PIDS] == NULL || n == 0)
		return 0;
	snprintf(v, sizeof(v), "%" PRIu32, n);
	return cg_write(cg->dir[CG_PIDS], "pids.max", v);
}

/* limits.cpus is an average: a sandbox that waited (a warm one always has)
 * may run up to one period's quota above it, so that a compiler's start
 * is not throttled (go build took 1.3 cores for 0.3 s: at a quota of 1,
 * +60-90 ms). The kernel grants a burst only from quota left unused, so a
 * program that never waits gets its limit and no more. Kernels before
 * 5.14 have none: then there is no burst. */
static void
set_cpu_burst(const struct kcr_cgroup *cg, const char *dir, long quota)
{
	const char *file = cg->version == KCR_CGROUP_V2 ? "cpu.max.burst" : "cpu.cfs_burst_us";
	char v[64];

	snprintf(v, sizeof(v), "%ld", quota);
	if (cg_has_file(dir, file) && cg_write(dir, file, v) < 0)
		kcr_log_debug("cgroup %s: cannot set %s: %s", dir, file, strerror(errno));
}

static int
set_cpu(struct kcr_cgroup *cg, double cpus)
{
	const char *dir = cg->dir[CG_CPU];
	const long period = 100000;
	long quota = (long)(cpus * (double)period);
	char v[64];

	if (dir == NULL || cpus <= 0)
		return 0;
	if (quota < 1000)
		quota = 1000;
	if (cg->version == KCR_CGROUP_V2) {
		snprintf(v, sizeof(v), "%ld %ld", quota, period);
		if (cg_write(dir, "cpu.max", v) < 0)
			return -1;
	} else {
		snprintf(v, sizeof(v), "%ld", period);
		if (cg_write(dir, "cpu.cfs_period_us", v) < 0)
			return -1;
		snprintf(v, sizeof(v), "%ld", quota);
		if (cg_write(dir, "cpu.cfs_quota_us", v) < 0)
			return -1;
	}
	set_cpu_burst(cg, dir, quota); /* after the quota: it may not exceed it */
	return 0;
}

/* Whether dir[i] is the first use of its directory (v2: one for all). */
static bool
cg_first(const struct kcr_cgroup *cg, int i)
{
	if (cg->dir[i] == NULL)
		return false;
	for (int j = 0; j < i; j++) {
		if (cg->dir[j] && strcmp(cg->dir[j], cg->dir[i]) == 0)
			return false;
	}
	return true;
}

static int
cg_mkdirs(struct kcr_cgroup *cg, const struct cg_layout *l, const char *id, kcr_error_t *err)
{
	for (int i = 0; i < CG_N; i++) {
		if (l->dir[i] == NULL)
			continue;
		cg->dir[i] = kcr_strdup_printf("%s/kcr-%s", l->dir[i], id);
		if (!cg_first(cg, i) || mkdir(cg->dir[i], 0755) == 0)
			continue;
		if (errno == EEXIST)
			continue;
		free(cg->dir[i]);
		cg->dir[i] = NULL;
		return kcr_error_set(err, KCR_E_UNAVAILABLE, errno,
				     "cannot create cgroup %s/kcr-%s%s", l->dir[i], id,
				     geteuid() != 0 ? " (not root)" : "");
	}
	return 0;
}

int
kcr_cgroup_create(const char *id, const struct kcr_limits *l, struct kcr_cgroup **out,
		  kcr_error_t *err)
{
	const struct cg_layout *lay = cg_layout_get();
	struct kcr_cgroup *cg;

	if (lay->version == KCR_CGROUP_NONE)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "cgroups unavailable: %s",
				     lay->reason);
	if (lay->version == KCR_CGROUP_V2 && v2_delegate(lay, err) < 0)
		return -1;
	/* a limit asked for and no controller to enforce it: not silently */
	if ((l->memory_mb && lay->dir[CG_MEMORY] == NULL) || (l->pids && lay->dir[CG_PIDS] == NULL))
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
				     "the %s controller is not available to kcr's cgroup",
				     lay->dir[CG_MEMORY] == NULL ? "memory" : "pids");
	cg = kcr_xzalloc(sizeof(*cg));
	cg->version = lay->version;
	cg->fd = -1;
	if (cg_mkdirs(cg, lay, id, err) < 0) {
		kcr_cgroup_destroy(cg, NULL);
		return -1;
	}
	if (set_memory(cg, l->memory_mb) < 0 || set_pids(cg, l->pids) < 0 ||
	    set_cpu(cg, l->cpus) < 0) {
		kcr_error_set(err, KCR_E_UNAVAILABLE, errno, "cannot set the limits of cgroup %s",
			      kcr_cgroup_path(cg));
		kcr_cgroup_destroy(cg, NULL);
		return -1;
	}
	if (cg->version == KCR_CGROUP_V2)
		cg->fd = open(kcr_cgroup_path(cg), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*out = cg;
	return 0;
}

int
kcr_cgroup_fd(const struct kcr_cgroup *cg)
{
	return cg ? cg->fd : -1;
}

int
kcr_cgroup_open_tasks(const struct kcr_cgroup *cg, int fds[KCR_CGROUP_MAX_FDS], kcr_error_t *err)
{
	int n = 0;

	for (int i = 0; i < KCR_CGROUP_MAX_FDS; i++)
		fds[i] = -1;
	if (cg == NULL || cg->version != KCR_CGROUP_V1)
		return 0;
	for (int i = 0; i < CG_N; i++) {
		kcr_autofree char *path = NULL;

		if (!cg_first(cg, i))
			continue;
		path = kcr_strdup_printf("%s/tasks", cg->dir[i]);
		fds[n] = open(path, O_WRONLY | O_CLOEXEC);
		if (fds[n] < 0) {
			kcr_error_set(err, KCR_E_IO, errno, "cannot open %s", path);
			while (n > 0)
				close(fds[--n]);
			fds[0] = -1;
			return -1;
		}
		n++;
	}
	return n;
}

int
kcr_cgroup_open_join(const struct kcr_cgroup *cg, int fds[KCR_CGROUP_MAX_FDS], kcr_error_t *err)
{
	kcr_autofree char *path = NULL;

	if (cg == NULL || cg->version != KCR_CGROUP_V2)
		return kcr_cgroup_open_tasks(cg, fds, err);
	for (int i = 0; i < KCR_CGROUP_MAX_FDS; i++)
		fds[i] = -1;
	path = kcr_strdup_printf("%s/cgroup.procs", kcr_cgroup_path(cg));
	if ((fds[0] = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot open %s", path);
	return 1;
}

int
kcr_cgroup_add_pid(struct kcr_cgroup *cg, pid_t pid, kcr_error_t *err)
{
	char v[32];

	snprintf(v, sizeof(v), "%ld", (long)pid);
	for (int i = 0; i < CG_N; i++) {
		if (!cg_first(cg, i))
			continue;
		if (cg_write(cg->dir[i], "cgroup.procs", v) < 0)
			return kcr_error_set(err, KCR_E_IO, errno, "cannot move %ld into %s",
					     (long)pid, cg->dir[i]);
	}
	return 0;
}

uint64_t
kcr_cgroup_oom_kills(const struct kcr_cgroup *cg)
{
	const char *dir = cg ? cg->dir[CG_MEMORY] : NULL;

	if (dir == NULL)
		return 0;
	if (cg->version == KCR_CGROUP_V2)
		return cg_read_key(dir, "memory.events", "oom_kill");
	return cg_read_key(dir, "memory.oom_control", "oom_kill");
}

uint64_t
kcr_cgroup_pids_hit(const struct kcr_cgroup *cg)
{
	const char *dir = cg ? cg->dir[CG_PIDS] : NULL;

	return dir ? cg_read_key(dir, "pids.events", "max") : 0;
}

const char *
kcr_cgroup_path(const struct kcr_cgroup *cg)
{
	for (int i = 0; i < CG_N; i++) {
		if (cg->dir[i])
			return cg->dir[i];
	}
	return "";
}

/* ---- killing and removing -------------------------------------------------- */

/* SIGKILLs the tasks listed in dir; returns how many there were. */
static int
kill_listed(const char *dir)
{
	kcr_autofree char *path = kcr_strdup_printf("%s/cgroup.procs", dir);
	kcr_autofree char *s = cg_slurp(path);
	int n = 0;

	for (char *p = s, *end; p && *p; p = end) {
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
			n++;
	}
	return n;
}

void
kcr_cgroup_kill(struct kcr_cgroup *cg)
{
	for (int i = 0; cg && i < CG_N; i++) {
		if (!cg_first(cg, i))
			continue;
		if (cg->version == KCR_CGROUP_V2 && cg_write(cg->dir[i], "cgroup.kill", "1") == 0)
			continue;
		kill_listed(cg->dir[i]);
	}
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* rmdir, killing again and retrying for about 250 ms while EBUSY. */
static int
rmdir_retry(const char *dir)
{
	for (int i = 0; i < 50; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -1;
		kill_listed(dir);
		sleep_ms(i < 10 ? 1 : 10);
	}
	errno = EBUSY;
	return -1;
}

int
kcr_cgroup_destroy(struct kcr_cgroup *cg, kcr_error_t *err)
{
	int ret = 0;

	if (cg == NULL)
		return 0;
	kcr_cgroup_kill(cg);
	for (int i = 0; i < CG_N; i++) {
		if (cg_first(cg, i) && rmdir_retry(cg->dir[i]) < 0 && ret == 0 && err)
			ret = kcr_error_set(err, KCR_E_IO, errno, "cannot remove cgroup %s",
					    cg->dir[i]);
	}
	for (int i = 0; i < CG_N; i++)
		free(cg->dir[i]);
	if (cg->fd >= 0)
		close(cg->fd);
	free(cg);
	return ret;
}

/* ---- what a dead kcr left behind ------------------------------------------- */

typedef void (*sandbox_dir_fn)(const char *path, const char *id, const struct stat *st, void *arg);

/* Calls fn for each kcr-<id> directory under kcr's own cgroups, each
 * directory once (v2 has one for every controller). */
static void
each_sandbox_dir(sandbox_dir_fn fn, void *arg)
{
	const struct cg_layout *l = cg_layout_get();
	struct kcr_cgroup own = { .version = l->version, .fd = -1 };

	for (int i = 0; i < CG_N; i++)
		own.dir[i] = l->dir[i];
	for (int i = 0; i < CG_N; i++) {
		DIR *d = cg_first(&own, i) ? opendir(own.dir[i]) : NULL;
		struct dirent *e;

		while (d && (e = readdir(d)) != NULL) {
			kcr_autofree char *path = NULL;
			struct stat st;

			if (strncmp(e->d_name, "kcr-", 4) != 0)
				continue;
			path = kcr_strdup_printf("%s/%s", own.dir[i], e->d_name);
			if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
				fn(path, e->d_name + 4, &st, arg);
		}
		if (d)
			closedir(d);
	}
}

struct prune_arg {
	time_t before;
	bool (*keep)(const char *id);
	int n;
};

static void
prune_one(const char *path, const char *id, const struct stat *st, void *arg)
{
	struct prune_arg *a = arg;

	if (st->st_mtime > a->before || (a->keep && a->keep(id)))
		return;
	/* rmdir fails with EBUSY while the cgroup holds tasks */
	if (rmdir(path) == 0)
		a->n++;
}

int
kcr_cgroup_prune(unsigned int min_age_s, bool (*keep)(const char *id))
{
	struct prune_arg a = { .before = time(NULL) - (time_t)min_age_s, .keep = keep };

	each_sandbox_dir(prune_one, &a);
	return a.n;
}

static void
list_one(const char *path, const char *id, const struct stat *st, void *arg)
{
	char ***ids = arg;

	(void)path;
	(void)st;
	for (size_t i = 0; *ids && (*ids)[i]; i++)
		if (strcmp((*ids)[i], id) == 0)
			return;
	kcr_strv_push(ids, id);
}

char **
kcr_cgroup_list(void)
{
	char **ids = NULL;

	each_sandbox_dir(list_one, &ids);
	return ids;
}

struct kcr_cgroup *
kcr_cgroup_find(const char *id)
{
	const struct cg_layout *l = cg_layout_get();
	struct kcr_cgroup *cg;
	bool any = false;

	if (*id == '\0' || *id == '.' || strchr(id, '/'))
		return NULL;
	cg = kcr_xzalloc(sizeof(*cg));
	cg->version = l->version;
	cg->fd = -1;
	for (int i = 0; i < CG_N; i++) {
		struct stat st;

		if (l->dir[i] == NULL)
			continue;
		cg->dir[i] = kcr_strdup_printf("%s/kcr-%s", l->dir[i], id);
		if (stat(cg->dir[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			any = true;
			continue;
		}
		free(cg->dir[i]);
		cg->dir[i] = NULL;
	}
	if (!any) {
		free(cg);
		return NULL;
	}
	return cg;
}

/* ---- probing, for kcr doctor -------------------------------------------- */

static const char *const limit_files[2][CG_N] = {
	{ "memory.limit_in_bytes", "pids.max", "cpu.cfs_quota_us" },
	{ "memory.max", "pids.max", "cpu.max" },
};

/* Creates and removes kcr-probe-<pid> under dir; NULL or a reason. */
static char *
probe_one(const struct cg_layout *l, int i, bool *swap)
{
	kcr_autofree char *dir = kcr_strdup_printf("%s/kcr-probe-%ld", l->dir[i], (long)getpid());
	const char *file = limit_files[l->version == KCR_CGROUP_V2][i];
	char *why = NULL;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return kcr_strdup_printf("cannot create a cgroup in %s: %s%s", l->dir[i],
					 strerror(errno), geteuid() ? " (not root)" : "");
	if (!cg_has_file(dir, file))
		why = kcr_strdup_printf("%s has no %s", l->dir[i], file);
	if (i == CG_MEMORY)
		*swap = cg_has_file(dir, l->version == KCR_CGROUP_V2
						 ? "memory.swap.max"
						 : "memory.memsw.limit_in_bytes");
	rmdir(dir);
	return why;
}

static void
probe_controllers(const struct cg_layout *l, struct kcr_cgroup_info *info)
{
	bool *usable[CG_N] = { &info->memory, &info->pids, &info->cpu };

	for (int i = 0; i < CG_N; i++) {
		kcr_autofree char *why = NULL;

		if (l->dir[i] == NULL)
			continue;
		if (l->version == KCR_CGROUP_V2 && i == CG_MEMORY) {
			kcr_error_t err = NULL;

			if (v2_delegate(l, &err) < 0) {
				snprintf(info->reason, sizeof(info->reason), "%s", err->msg);
				kcr_error_release(&err);
				return;
			}
		}
		why = probe_one(l, i, &info->swap);
		*usable[i] = why == NULL;
		if (why)
			snprintf(info->reason, sizeof(info->reason), "%s", why);
	}
}

void
kcr_cgroup_probe(struct kcr_cgroup_info *info)
{
	const struct cg_layout *l = cg_layout_get();

	memset(info, 0, sizeof(*info));
	info->version = l->version;
	snprintf(info->reason, sizeof(info->reason), "%s", l->reason);
	for (int i = 0; i < CG_N && !info->parent[0]; i++) {
		if (l->dir[i])
			snprintf(info->parent, sizeof(info->parent), "%s", l->dir[i]);
	}
	if (l->version == KCR_CGROUP_NONE)
		return;
	probe_controllers(l, info);
	if (l->version == KCR_CGROUP_V2 && l->dir[CG_MEMORY])
		info->kill = cg_has_file(l->dir[CG_MEMORY], "cgroup.kill");
}

const char *
kcr_cgroup_version_name(enum kcr_cgroup_version v)
{
	switch (v) {
	case KCR_CGROUP_V1:
		return "v1";
	case KCR_CGROUP_V2:
		return "v2";
	default:
		return "none";
	}
}

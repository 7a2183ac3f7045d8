/* What a kcr that died left behind in the local provider: the sockets of
 * its sandboxes in run_dir and their cgroups under kcr's own. Its runners
 * died with it (PR_SET_PDEATHSIG); the rest stays until a later kcr
 * removes it.
 *
 * A sandbox's id starts with the pid of the kcr that made it,
 * "<pid>-<12 random>", so that a later kcr tells leftovers from the
 * sandboxes of a kcr still running beside it: kcr exec and kcr serve share
 * run_dir and kcr's cgroup. Ids of older kcrs (21 random characters) name
 * no owner; only their age and an empty cgroup or a dead socket tell that
 * they are leftovers (local_prune). */
#include <config.h>

#include "base/ids.h"
#include "base/files.h"
#include "base/util.h"
#include "sandbox/local-internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Unique among one process's sandboxes; shorter than an old id, so that
 * a socket path is no longer than it was. */
#define ID_RANDOM 12
_Static_assert(sizeof(((struct kcr_sandbox *)0)->id) == KCR_LOCAL_ID_MAX,
	       "a local id fills struct kcr_sandbox's");

void
local_new_id(char id[KCR_LOCAL_ID_MAX])
{
	char rnd[KCR_ID_LEN + 1];

	kcr_id_generate(rnd);
	snprintf(id, KCR_LOCAL_ID_MAX, "%ld-%.*s", (long)getpid(), ID_RANDOM, rnd);
}

char *
local_sock_path(const struct local *lp, const char *id)
{
	return kcr_strdup_printf("%s/sb-%s.sock", lp->run_dir, id);
}

/* The owner of an id local_new_id() made; false for any other name. */
static bool
id_owner(const char *id, pid_t *owner)
{
	size_t digits = strspn(id, "0123456789");
	long pid;

	if (digits == 0 || digits > 10 || id[digits] != '-' ||
	    strlen(id) != digits + 1 + ID_RANDOM || strchr(id, '/') || strchr(id, '.'))
		return false;
	pid = strtol(id, NULL, 10);
	if (pid <= 0 || pid > INT32_MAX)
		return false;
	*owner = (pid_t)pid;
	return true;
}

/* A zombie counts as dead: its sandboxes' runners got SIGKILL when it
 * died, whether or not its parent has reaped it. */
static bool
owner_alive(pid_t pid)
{
	kcr_autofree char *path = NULL;
	kcr_autofree char *stat = NULL;
	const char *paren;
	size_t len;

	if (pid == getpid())
		return true;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	path = kcr_strdup_printf("/proc/%ld/stat", (long)pid);
	if (kcr_read_file(path, 4096, &stat, &len, NULL) < 0)
		return kill(pid, 0) == 0 || errno == EPERM; /* gone since, or no /proc */
	paren = strrchr(stat, ')');
	return paren == NULL || (paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X');
}

typedef void (*socket_fn)(const char *path, const char *id, const struct stat *st, void *arg);

/* Calls fn for each sandbox socket "sb-<id>.sock" in run_dir. */
static void
each_socket(const char *run_dir, socket_fn fn, void *arg)
{
	DIR *d = opendir(run_dir);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		kcr_autofree char *path = NULL;
		kcr_autofree char *id = NULL;
		struct stat st;

		if (strncmp(e->d_name, "sb-", 3) != 0 || n < 9 ||
		    strcmp(e->d_name + n - 5, ".sock") != 0)
			continue;
		path = kcr_strdup_printf("%s/%s", run_dir, e->d_name);
		if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		id = kcr_xstrndup(e->d_name + 3, n - 8);
		fn(path, id, &st, arg);
	}
	if (d)
		closedir(d);
}

/* A sandbox of a kcr that runs: another command's, or a server's warm
 * one. Its owner is asked, where asking its socket would wake its runner
 * (a kcr exec beside a server with a large pool connected to each). */
static bool
owner_runs(const char *id)
{
	pid_t owner;

	return id_owner(id, &owner) && owner_alive(owner);
}

/* Old and nobody listens: a sandbox a crashed kcr left behind. */
static void
prune_socket(const char *path, const char *id, const struct stat *st, void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	kcr_autoclose int fd = -1;

	if (st->st_mtime > *(const time_t *)arg || strlen(path) >= sizeof(sa.sun_path) ||
	    owner_runs(id))
		return;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno == ECONNREFUSED)
		unlink(path);
}

void
local_prune(const struct local *lp)
{
	time_t before = time(NULL) - (time_t)STALE_AGE_S;

	each_socket(lp->run_dir, prune_socket, &before);
	kcr_cgroup_prune(STALE_AGE_S, owner_runs);
}

struct refs {
	struct kcr_sandbox_ref *v;
	size_t n, cap;
};

static void
add_orphan(struct refs *r, const char *id)
{
	pid_t owner;

	if (!id_owner(id, &owner) || owner_alive(owner))
		return;
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].id, id) == 0)
			return;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->v = kcr_xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	memset(&r->v[r->n], 0, sizeof(r->v[r->n]));
	snprintf(r->v[r->n].id, sizeof(r->v[r->n].id), "%s", id);
	snprintf(r->v[r->n].owner, sizeof(r->v[r->n].owner), "pid %ld", (long)owner);
	r->n++;
}

static void
socket_orphan(const char *path, const char *id, const struct stat *st, void *arg)
{
	(void)path;
	(void)st;
	add_orphan(arg, id);
}

int
local_list(void *self, struct kcr_sandbox_ref **out, size_t *n, kcr_error_t *err)
{
	const struct local *lp = self;
	kcr_autostrv char **cgroups = kcr_cgroup_list();
	struct refs r = { 0 };

	(void)err;
	each_socket(lp->run_dir, socket_orphan, &r);
	for (size_t i = 0; cgroups && cgroups[i]; i++)
		add_orphan(&r, cgroups[i]);
	*out = r.v;
	*n = r.n;
	return 0;
}

/* The cgroups first: killing what still runs there closes the socket. */
int
local_adopt(void *self, const struct kcr_sandbox_ref *ref, kcr_error_t *err)
{
	const struct local *lp = self;
	kcr_autofree char *sock = NULL;
	pid_t owner;

	if (!id_owner(ref->id, &owner))
		return kcr_error_set(err, KCR_E_INVALID, 0, "'%s' is not a local sandbox id",
				     ref->id);
	if (owner_alive(owner))
		return kcr_error_set(err, KCR_E_CONFLICT, 0,
				     "sandbox %s belongs to pid %ld, which is running", ref->id,
				     (long)owner);
	if (kcr_cgroup_destroy(kcr_cgroup_find(ref->id), err) < 0)
		return -1;
	sock = local_sock_path(lp, ref->id);
	if (unlink(sock) < 0 && errno != ENOENT)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot remove %s", sock);
	return 0;
}

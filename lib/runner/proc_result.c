/* What a run left: its exit status and output as a result, and the files
 * of /mnt/data it created or changed (a snapshot before, one after). */
#include <config.h>

#include "runner/proc-internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- results ---- */

/* On stderr for both streams: stdout must stay the program's own bytes. */
static void
note_truncated(struct kcr_exec_result *res, const char *stream, uint64_t over, uint64_t limit)
{
	kcr_exec_result_append_err(res, "[kcr: %s truncated: %" PRIu64 " bytes over the %" PRIu64
				"-byte limit]", stream, over, limit);
}

void
proc_set_result(struct kcr_exec_result *res, struct step_res *sr, const struct kcr_limits *l)
{
	res->out = kcr_buf_steal(&sr->out, &res->out_len);
	res->err = kcr_buf_steal(&sr->err, &res->err_len);
	res->out_truncated = sr->out_over > 0;
	res->err_truncated = sr->err_over > 0;
	if (sr->timed_out) {
		res->timed_out = true;
		res->exit_code = 124;
	} else if (WIFSIGNALED(sr->status)) {
		res->signal = WTERMSIG(sr->status);
		res->exit_code = 128 + res->signal;
	} else {
		res->exit_code = WEXITSTATUS(sr->status);
	}
	if (sr->out_over)
		note_truncated(res, "stdout", sr->out_over, l->output_bytes);
	if (sr->err_over)
		note_truncated(res, "stderr", sr->err_over, l->output_bytes);
	if (sr->timed_out)
		kcr_exec_result_append_err(res, "kcr: timed out after %g s (wall-clock limit)",
					l->timeout_ms / 1000.0);
}

static int
snap_cmp(const void *a, const void *b)
{
	return strcmp(((const struct snap_ent *)a)->name, ((const struct snap_ent *)b)->name);
}

void
proc_snapshot_release(struct snapshot *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void
snapshot_add(struct snapshot *s, const char *name, const struct stat *st)
{
	if ((s->n & (s->n - 1)) == 0) /* 0, 1, 2, 4...: grow to twice */
		s->v = kcr_xrealloc(s->v, (s->n ? 2 * s->n : 1) * sizeof(*s->v));
	s->v[s->n++] = (struct snap_ent){
		.name = kcr_xstrdup(name),
		.size = (uint64_t)st->st_size,
		.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
		.ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec,
		.ino = st->st_ino,
	};
}

/* The top-level regular files of dir, sorted by name; names starting with
 * '.', directories and symlinks are left out. */
int
proc_snapshot_take(const char *dir, struct snapshot *s, kcr_error_t *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;

	if (d == NULL) {
		kcr_error_set(err, KCR_E_IO, errno, "opening %s", dir);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((e = readdir(d)) != NULL && s->n < MAX_SNAPSHOT) {
		struct stat st;

		if (e->d_name[0] == '.' ||
		    fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		snapshot_add(s, e->d_name, &st);
	}
	closedir(d);
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), snap_cmp);
	return 0;
}

void
proc_changed_files(const struct snapshot *before, const struct snapshot *after, size_t max,
	      struct kcr_exec_result *res)
{
	res->changed = kcr_xzalloc((after->n < max ? after->n : max) * sizeof(*res->changed));
	for (size_t i = 0; i < after->n && res->n_changed < max; i++) {
		const struct snap_ent *a = &after->v[i], *b;

		b = before->n ? bsearch(a, before->v, before->n, sizeof(*a), snap_cmp) : NULL;
		if (b && b->size == a->size && b->mtime_ns == a->mtime_ns &&
		    b->ctime_ns == a->ctime_ns && b->ino == a->ino)
			continue;
		res->changed[res->n_changed++] = (struct kcr_file_info){
			.name = kcr_xstrdup(a->name), .size = a->size, .mtime_ns = a->mtime_ns
		};
	}
}

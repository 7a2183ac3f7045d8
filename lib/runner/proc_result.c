/* What a run left: its exit status and output as a result, and the files
 * of /mnt/data it created or changed (a snapshot before, one after). */
#include <config.h>

#include "runner/proc-internal.h"
#include "base/encode.h"

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
	kcr_exec_result_append_err(
		res, "[kcr: %s truncated: %" PRIu64 " bytes over the %" PRIu64 "-byte limit]",
		stream, over, limit);
}

void
proc_set_result(struct kcr_exec_result *res, struct step_res *sr, const struct kcr_limits *l)
{
	res->out = kcr_buf_steal(&sr->out, &res->out_len);
	res->err = kcr_buf_steal(&sr->err, &res->err_len);
	res->cpu_ms += (sr->cpu_us + 500) / 1000;
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
		.allocated = (uint64_t)st->st_blocks * 512,
		.mode = st->st_mode,
		.nlink = st->st_nlink,
		.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
		.ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec,
		.ino = st->st_ino,
	};
}

/* The top-level entries of dir but directories, sorted by name; names
 * starting with '.' are left out. Never followed: a symlink is itself. */
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

		if (e->d_name[0] == '.' || fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISDIR(st.st_mode))
			continue;
		snapshot_add(s, e->d_name, &st);
	}
	closedir(d);
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), snap_cmp);
	return 0;
}

/* The name as it can be shown in a note: bytes that are not printable
 * ASCII as \xNN, so that the note is valid UTF-8 whatever the name. */
static char *
shown_name(const char *name)
{
	struct kcr_buf b;

	kcr_buf_init(&b);
	for (const unsigned char *p = (const unsigned char *)name; *p && b.len < 200; p++)
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			kcr_buf_add(&b, p, 1);
		else
			kcr_buf_addf(&b, "\\x%02x", *p);
	return kcr_buf_steal(&b, NULL);
}

/* A note each for the first few; then how many more, in one line. */
#define MAX_SKIP_NOTES 10

static void
note_skipped(struct kcr_exec_result *res, size_t *n, const char *name, const char *why)
{
	kcr_autofree char *shown = NULL;

	if ((*n)++ >= MAX_SKIP_NOTES)
		return;
	shown = shown_name(name);
	kcr_exec_result_append_err(res, "[kcr: output '%s' not returned: %s]", shown, why);
}

/* Why a changed entry is not returned as an output, or NULL. What the
 * sandbox holds bounds what comes back: a file counts by the blocks it
 * occupies, so a sparse one (100 MiB of holes in no space) or one with
 * several names (63 hard links to one file) would multiply it. */
static const char *
refused(const struct snap_ent *a, char why[128])
{
	if (!kcr_utf8_valid(a->name, strlen(a->name)))
		return "its name is not valid UTF-8";
	if (S_ISLNK(a->mode))
		return "a symbolic link";
	if (S_ISFIFO(a->mode))
		return "a FIFO";
	if (S_ISSOCK(a->mode))
		return "a socket";
	if (S_ISCHR(a->mode) || S_ISBLK(a->mode))
		return "a device";
	if (!S_ISREG(a->mode))
		return "not a regular file";
	if (a->nlink > 1) {
		snprintf(why, 128, "it has %lu hard links", (unsigned long)a->nlink);
		return why;
	}
	/* a page of slack: a file's last block, and what a file system keeps */
	if (a->size > a->allocated + 4096) {
		snprintf(why, 128, "sparse (%" PRIu64 " bytes, %" PRIu64 " of them stored)",
			 a->size, a->allocated);
		return why;
	}
	return NULL;
}

static bool
unchanged(const struct snapshot *before, const struct snap_ent *a)
{
	const struct snap_ent *b =
		before->n ? bsearch(a, before->v, before->n, sizeof(*a), snap_cmp) : NULL;

	return b && b->size == a->size && b->mtime_ns == a->mtime_ns &&
	       b->ctime_ns == a->ctime_ns && b->ino == a->ino && b->mode == a->mode;
}

void
proc_changed_files(const struct snapshot *before, const struct snapshot *after,
		   const struct kcr_limits *l, struct kcr_exec_result *res)
{
	uint64_t total = l->output_total ? l->output_total : (uint64_t)l->data_size_mb << 20;
	uint64_t sum = 0;
	size_t max = l->max_output_files, skipped = 0;
	char why[128];

	res->changed = kcr_xzalloc((after->n < max ? after->n : max) * sizeof(*res->changed) + 1);
	for (size_t i = 0; i < after->n && res->n_changed < max; i++) {
		const struct snap_ent *a = &after->v[i];
		const char *no;

		if (unchanged(before, a))
			continue;
		if ((no = refused(a, why)) != NULL) {
			note_skipped(res, &skipped, a->name, no);
			continue;
		}
		if (total && sum + a->size > total) {
			snprintf(why, sizeof(why), "over the %" PRIu64 " bytes a run may return",
				 total);
			note_skipped(res, &skipped, a->name, why);
			continue;
		}
		sum += a->size;
		res->changed[res->n_changed++] = (struct kcr_file_info){
			.name = kcr_xstrdup(a->name), .size = a->size, .mtime_ns = a->mtime_ns
		};
	}
	if (skipped > MAX_SKIP_NOTES)
		kcr_exec_result_append_err(res, "[kcr: %zu more outputs not returned]",
					   skipped - MAX_SKIP_NOTES);
}

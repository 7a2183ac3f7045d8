#include <config.h>

#include "cells.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHANNEL_TIMEOUT_MS 5000
#define MAX_JOIN_FDS 8
#define MAX_STASH 64 /* messages read for cells whose POST has not come */

/* A message of kcr's on the fd channel: a cell's id and its files. */
struct join_msg {
	char id[KCR_CELL_ID_MAX + 1];
	int fds[MAX_JOIN_FDS];
	int n;
	struct join_msg *next;
};

static void
close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

struct entry {
	struct kcr_cell *cell;
	unsigned int refs; /* the table's own, plus one per request using it */
	struct entry *next;
};

struct runner_cells {
	pthread_mutex_t lock;
	struct entry *head;
	struct kcr_zygote_set bare;
	struct kcr_zygote_set loaded; /* with pool.py_preload imported */
	int channel;
	pthread_mutex_t channel_lock;  /* the channel and the stash */
	struct join_msg *stash;        /* messages read for other cells */
	unsigned int n_stash;
};

struct runner_cells *
runner_cells_new(struct kcr_zygote *const *bare, int n_bare, struct kcr_zygote *const *loaded,
		 int n_loaded, int fd_channel)
{
	struct runner_cells *s = kcr_xzalloc(sizeof(*s));

	s->bare.n = n_bare;
	s->loaded.n = n_loaded;
	memcpy(s->bare.z, bare, sizeof(*bare) * (size_t)n_bare);
	memcpy(s->loaded.z, loaded, sizeof(*loaded) * (size_t)n_loaded);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->channel_lock, NULL);
	s->channel = fd_channel;
	return s;
}

void
runner_cells_free(struct runner_cells *s)
{
	struct entry *e, *next;

	if (s == NULL)
		return;
	for (e = s->head; e; e = next) {
		next = e->next;
		kcr_cell_free(e->cell);
		free(e);
	}
	while (s->stash) {
		struct join_msg *m = s->stash;

		s->stash = m->next;
		close_all(m->fds, m->n);
		free(m);
	}
	for (int i = 0; i < s->bare.n; i++)
		kcr_zygote_free(s->bare.z[i]);
	for (int i = 0; i < s->loaded.n; i++)
		kcr_zygote_free(s->loaded.z[i]);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->channel_lock);
	free(s);
}

/* Every zygote: one that failed to start is NULL, and not alive. */
bool
runner_cells_ok(struct runner_cells *s)
{
	if (s == NULL || s->bare.n == 0)
		return false;
	for (int i = 0; i < s->bare.n; i++)
		if (!kcr_zygote_alive(s->bare.z[i]))
			return false;
	for (int i = 0; i < s->loaded.n; i++)
		if (!kcr_zygote_alive(s->loaded.z[i]))
			return false;
	return true;
}

/* ---- the fd channel ---------------------------------------------------------- */

/* One message off the channel, within the timeout. */
static struct join_msg *
read_join_msg(int channel, kcr_error_t *err)
{
	char cbuf[CMSG_SPACE(sizeof(int) * MAX_JOIN_FDS)];
	struct join_msg *m = kcr_xzalloc(sizeof(*m));
	struct iovec iov = { .iov_base = m->id, .iov_len = sizeof(m->id) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct pollfd p = { .fd = channel, .events = POLLIN };
	ssize_t n = -1;

	if (poll(&p, 1, CHANNEL_TIMEOUT_MS) == 1)
		n = recvmsg(channel, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0) {
		free(m);
		kcr_error_set(err, KCR_E_INVALID, errno, "nothing on the fd channel");
		return NULL;
	}
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (int i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + (size_t)i * sizeof(int), sizeof(int));
			if (m->n < MAX_JOIN_FDS)
				m->fds[m->n++] = fd;
			else
				close(fd);
		}
	}
	return m;
}

/* kcr's message for cell id: exactly want descriptors. Creations run at
 * once, so a message may be another cell's: it waits in s->stash for it. */
static int
recv_join_fds(struct runner_cells *s, const char *id, int *fds, int want, kcr_error_t *err)
{
	struct join_msg *m = NULL;

	for (struct join_msg **pp = &s->stash; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0) {
			m = *pp;
			*pp = m->next;
			s->n_stash--;
			break;
		}
	}
	while (m == NULL) {
		if (s->n_stash >= MAX_STASH)
			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "cgroup files for cell '%s': %u other cells' waiting",
					     id, s->n_stash);
		if ((m = read_join_msg(s->channel, err)) == NULL)
			return kcr_error_wrap(err, "cgroup files for cell '%s'", id);
		if (strcmp(m->id, id) != 0) {
			m->next = s->stash;
			s->stash = m;
			s->n_stash++;
			m = NULL;
		}
	}
	if (m->n != want) {
		int got = m->n;

		close_all(m->fds, m->n);
		free(m);
		return kcr_error_set(err, KCR_E_INVALID, 0, "cell '%s': %d cgroup files, not %d",
				     id, got, want);
	}
	memcpy(fds, m->fds, sizeof(int) * (size_t)m->n);
	free(m);
	return 0;
}

/* ---- the table ------------------------------------------------------------------ */

static struct entry *
find(struct runner_cells *s, const char *id)
{
	for (struct entry *e = s->head; e; e = e->next)
		if (strcmp(kcr_cell_id(e->cell), id) == 0)
			return e;
	return NULL;
}

static int
spawn(struct runner_cells *s, const cJSON *o, struct kcr_cell **out, kcr_error_t *err)
{
	const char *id = kcr_json_str(o, "id");
	struct kcr_cell_spec spec = { 0 };
	int fds[MAX_JOIN_FDS], n = (int)kcr_json_u64(o, "join_fds", 0), r;

	if (id == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0, "a cell needs an \"id\"");
	if (n > MAX_JOIN_FDS)
		return kcr_error_set(err, KCR_E_INVALID, 0, "join_fds: at most %d", MAX_JOIN_FDS);
	spec.id = id;
	spec.limits.nofile = (uint32_t)kcr_json_u64(o, "nofile", 0);
	spec.limits.file_size = kcr_json_u64(o, "file_size", 0);
	spec.limits.pids = (uint32_t)kcr_json_u64(o, "pids", 0);
	spec.tmp_mb = (uint32_t)kcr_json_u64(o, "tmp_mb", 0);
	spec.data_mb = (uint32_t)kcr_json_u64(o, "data_mb", 0);
	if (n > 0) {
		pthread_mutex_lock(&s->channel_lock);
		r = recv_join_fds(s, spec.id, fds, n, err);
		pthread_mutex_unlock(&s->channel_lock);
		if (r < 0)
			return -1;
	}
	spec.join_fds = fds;
	spec.n_join_fds = n;
	r = kcr_cell_spawn(kcr_json_bool(o, "preload", false) && s->loaded.n > 0 ? &s->loaded
										 : &s->bare,
			   &spec, out, err);
	close_all(fds, n);
	return r;
}

int
runner_cells_create(struct runner_cells *s, const char *body, size_t len, char **reply,
		    kcr_error_t *err)
{
	cJSON *o = cJSON_ParseWithLength(body ? body : "", len);
	uint64_t t0 = kcr_now_ns();
	struct kcr_cell *c = NULL;
	struct entry *e;

	if (s == NULL) {
		cJSON_Delete(o);
		return kcr_error_set(err, KCR_E_CONFLICT, 0, "this runner has no zygote (--zygote)");
	}
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return kcr_error_set(err, KCR_E_INVALID, 0, "a cell is a JSON object");
	}
	/* one zygote gone, the others would still clone: fail instead, so that
	 * kcr asks GET /ready (503) and replaces this host, as with one */
	if (!runner_cells_ok(s)) {
		cJSON_Delete(o);
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "a zygote has exited");
	}
	if (spawn(s, o, &c, err) < 0) {
		cJSON_Delete(o);
		return -1;
	}
	cJSON_Delete(o);
	e = kcr_xzalloc(sizeof(*e));
	e->cell = c;
	e->refs = 1;
	pthread_mutex_lock(&s->lock);
	e->next = s->head;
	s->head = e;
	pthread_mutex_unlock(&s->lock);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", kcr_cell_id(c));
	cJSON_AddNumberToObject(o, "setup_us", (double)((kcr_now_ns() - t0) / 1000));
	*reply = kcr_json_print_free(o);
	return 0;
}

struct runner_cell *
runner_cells_get(struct runner_cells *s, const char *id)
{
	struct entry *e;

	if (s == NULL)
		return NULL;
	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e)
		e->refs++;
	pthread_mutex_unlock(&s->lock);
	return (struct runner_cell *)e;
}

struct kcr_cell *
runner_cell(struct runner_cell *ref)
{
	return ((struct entry *)ref)->cell;
}

/* Drops a reference; the entry was unlinked already when it is the last. */
static void
unref(struct runner_cells *s, struct entry *e)
{
	bool last;

	pthread_mutex_lock(&s->lock);
	last = --e->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (last) {
		kcr_cell_free(e->cell);
		free(e);
	}
}

void
runner_cells_put(struct runner_cells *s, struct runner_cell *ref)
{
	unref(s, (struct entry *)ref);
}

int
runner_cells_delete(struct runner_cells *s, const char *id, kcr_error_t *err)
{
	struct entry *e = NULL;

	if (s == NULL)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no cell '%s'", id);
	pthread_mutex_lock(&s->lock);
	for (struct entry **pp = &s->head; *pp; pp = &(*pp)->next) {
		if (strcmp(kcr_cell_id((*pp)->cell), id) == 0) {
			e = *pp;
			*pp = e->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (e == NULL)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no cell '%s'", id);
	unref(s, e);
	return 0;
}

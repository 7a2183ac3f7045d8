/* Warm cells of the local provider: one host sandbox per server whose
 * runner keeps the zygotes, and a cell cloned from one per execution
 * (DEVELOPERS.md "Warm Python: the fork-server"). */
#include <config.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/json.h"
#include "base/util.h"
#include "sandbox/local-internal.h"
#include "sandbox/runner_client.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <unistd.h>
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

/* ---- warm cells: hosts and their zygotes ------------------------------------ */

void
local_host_unref(struct local *lp, struct host *h)
{
	kcr_error_t err = NULL;
	bool last;

	pthread_mutex_lock(&lp->hosts_lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&lp->hosts_lock);
	if (!last)
		return;
	if (local_sb_teardown(h->sb->priv, &err) < 0)
		kcr_error_warn_release(&err);
	local_sb_free(h->sb);
	close(h->chan);
	free(h);
}

/* The host cells of spec's language come from, made on first use; called
 * with hosts_lock held. It runs kcr's code only (the runner, and the
 * zygotes' imports), and each cell joins cgroups of its own before
 * anything else: so no cpu quota, and neither an execution's memory nor
 * its process limit. Several zygotes with pool.py_preload imported take
 * more than one execution may (two: ~180 MiB); under that limit the
 * kernel killed one, and every cell until the host was replaced ran in
 * a sandbox of its own. */
static struct host *
host_new(struct local *lp, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
	 kcr_error_t *err)
{
	struct kcr_sandbox_spec hs = { .lang = spec->lang,
				       .limits = spec->limits,
				       .cancel_fd = spec->cancel_fd };
	struct host *h;
	int sv[2];

	hs.limits.cpus = 0;
	hs.limits.memory_mb = 0;
	hs.limits.pids = 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		kcr_error_set(err, KCR_E_IO, errno, "socketpair");
		return NULL;
	}
	h = kcr_xzalloc(sizeof(*h));
	if (local_create_sandbox(lp, &hs, sv[1], deadline_ms, &h->sb, err) < 0) {
		close(sv[0]);
		close(sv[1]);
		free(h);
		return NULL;
	}
	close(sv[1]);
	h->chan = sv[0];
	h->refs = 1;
	return h;
}

/* A reference to the current host, replacing a broken one. */
static struct host *
host_get(struct local *lp, const struct kcr_sandbox_spec *spec, bool create, uint64_t deadline_ms,
	 kcr_error_t *err)
{
	struct host *h, *old = NULL;

	pthread_mutex_lock(&lp->hosts_lock);
	if (lp->py_host && lp->py_host->broken) {
		old = lp->py_host;
		lp->py_host = NULL;
	}
	if (lp->py_host == NULL && create)
		lp->py_host = host_new(lp, spec, deadline_ms, err);
	h = lp->py_host;
	if (h)
		h->refs++;
	pthread_mutex_unlock(&lp->hosts_lock);
	if (old)
		local_host_unref(lp, old);
	if (h == NULL && !create)
		kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "no cells host");
	return h;
}

static char *
cell_body(const char *id, const struct local *lp, const struct kcr_limits *l, int n_join,
	  bool preload)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddNumberToObject(o, "nofile", l->nofile);
	cJSON_AddNumberToObject(o, "file_size", (double)l->file_size);
	cJSON_AddNumberToObject(o, "pids", l->pids);
	cJSON_AddNumberToObject(o, "tmp_mb", local_tmp_mb(lp, l));
	cJSON_AddNumberToObject(o, "data_mb", local_data_mb(lp, l));
	cJSON_AddNumberToObject(o, "join_fds", n_join);
	cJSON_AddBoolToObject(o, "preload", preload);
	return kcr_json_print_free(o);
}

/* The cell's cgroups (its limits), then the runner's cell. */
static int
cell_start(struct local *lp, struct local_sb *ls, const char *id,
	   const struct kcr_sandbox_spec *spec, kcr_error_t *err)
{
	int fds[KCR_CGROUP_MAX_FDS];
	kcr_autofree char *body = NULL;
	int n, r;

	if (local_make_cgroup(lp, ls, id, &spec->limits, err) < 0 ||
	    (n = kcr_cgroup_open_join(ls->cg, fds, err)) < 0)
		return -1;
	body = cell_body(id, lp, &spec->limits, n, spec->preload);
	/* the files first: the runner reads them when the POST arrives (and
	 * keeps another cell's for it); a SOCK_SEQPACKET message is whole,
	 * whoever else sends at the same time */
	r = n > 0 && kcr_send_fds(ls->host->chan, id, strlen(id), fds, n) < 0
		    ? kcr_error_set(err, KCR_E_UNAVAILABLE, errno, "cells host: fd channel")
		    : 0;
	if (r == 0)
		r = kcr_runner_call_cancelable(ls->host->sb->endpoint, "POST", "/cells", body,
					       spec->cancel_fd, NULL, err);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	return r;
}

/* deadline_ms bounds a new host's start; a cell itself is one request
 * to the host, which answers in milliseconds. */
int
local_cell_create(struct local *lp, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
		  struct kcr_sandbox **out, kcr_error_t *err)
{
	uint64_t t0 = kcr_now_ns();
	struct kcr_sandbox *sb;
	struct local_sb *ls;
	struct host *h;

	if ((h = host_get(lp, spec, spec->prewarm, deadline_ms, err)) == NULL)
		return -1;
	sb = local_sb_new(&spec->limits);
	ls = sb->priv;
	ls->host = h;
	if (cell_start(lp, ls, sb->id, spec, err) < 0) {
		kcr_error_t e = NULL;

		/* the runner or its zygote is gone: the next cell gets a new host */
		if (kcr_runner_health(h->sb->endpoint, &e) < 0)
			h->broken = true;
		kcr_error_release(&e);
		kcr_cgroup_destroy(ls->cg, NULL);
		local_host_unref(lp, h);
		free(ls);
		free(sb);
		return -1;
	}
	sb->endpoint = kcr_strdup_printf("%s#/cells/%s", h->sb->endpoint, sb->id);
	sb->preload = spec->preload;
	sb->setup_ns = kcr_now_ns() - t0;
	*out = sb;
	return 0;
}

/* Whether the host's runner has exited (its cells with it). It dies with
 * the kcr thread that made it (PR_SET_PDEATHSIG): at shutdown, a
 * replenisher's. */
bool
local_host_gone(const struct host *h)
{
	const struct local_sb *hs = h->sb->priv;

	return hs->pid <= 0 || kcr_child_exited(hs->pid);
}

int
local_cell_destroy(struct local *lp, struct kcr_sandbox *sb, kcr_error_t *err)
{
	struct local_sb *ls = sb->priv;
	kcr_autofree char *path = kcr_strdup_printf("/cells/%s", sb->id);
	kcr_error_t e = NULL;
	int ret = kcr_runner_call(ls->host->sb->endpoint, "DELETE", path, NULL, NULL, &e);

	/* a host that is gone, or exiting (its socket closed), took the cell
	 * with it */
	if (ret < 0 && (local_host_gone(ls->host) || e->sys_errno == ECONNREFUSED ||
			e->sys_errno == ECONNRESET))
		ret = 0;
	if (ret < 0 && err && *err == NULL)
		*err = kcr_steal(&e);
	kcr_error_release(&e);

	/* its processes are gone with the runner's answer (or the runner) */
	if (kcr_cgroup_destroy(ls->cg, ret < 0 ? NULL : err) < 0)
		ret = -1;
	local_host_unref(lp, ls->host);
	free(ls);
	free(sb->endpoint);
	free(sb);
	return ret;
}

bool
local_wants_cell(const struct local *lp, const struct kcr_sandbox_spec *spec)
{
	return lp->fork_server && spec->lang && (spec->lang->caps & KCR_LANG_FORK_SERVER);
}

/* The namespace's kcr pods, kept by one list and then a watch (an
 * informer, as client-go has): a thread applies each event and wakes the
 * callers waiting for a pod to be Ready, to fail or to go. A watch that
 * ends is started again from the last resourceVersion it saw (bookmarks
 * included); one that is too old (410 Gone) lists again. */
#include <config.h>

#include "sandbox/kubernetes-internal.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* server-side end of one watch; an idle one (no event, no bookmark) is
 * started again after WATCH_IDLE_MS, as a stalled connection looks alike */
#define WATCH_TIMEOUT_S 60
#define WATCH_IDLE_MS   15000
#define RETRY_MIN_MS    200
#define RETRY_MAX_MS    5000

/* ---- reading a pod -------------------------------------------------------- */

static void
copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static const char *
label(const cJSON *meta, const char *key)
{
	return kcr_json_str(cJSON_GetObjectItemCaseSensitive(meta, "labels"), key);
}

bool
kcr_k8s_pod_is_ready(const cJSON *pod)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(pod, "status");
	const cJSON *c;

	cJSON_ArrayForEach (c, cJSON_GetObjectItemCaseSensitive(st, "conditions")) {
		const char *type = kcr_json_str(c, "type");

		if (type && strcmp(type, "Ready") == 0)
			return kcr_json_str(c, "status") &&
			       strcmp(kcr_json_str(c, "status"), "True") == 0;
	}
	return false;
}

const char *
kcr_k8s_pod_phase(const cJSON *pod)
{
	const char *p = kcr_json_str(cJSON_GetObjectItemCaseSensitive(pod, "status"), "phase");

	return p ? p : "Pending";
}

const char *
kcr_k8s_pod_waiting_reason(const cJSON *pod, const char **message)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(pod, "status");
	const cJSON *cs;

	cJSON_ArrayForEach (cs, cJSON_GetObjectItemCaseSensitive(st, "containerStatuses")) {
		const cJSON *state = cJSON_GetObjectItemCaseSensitive(cs, "state");
		const cJSON *w = cJSON_GetObjectItemCaseSensitive(state, "waiting");
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(state, "terminated");
		const cJSON *which = w ? w : t;

		if (which && kcr_json_str(which, "reason")) {
			if (message)
				*message = kcr_json_str(which, "message");
			return kcr_json_str(which, "reason");
		}
	}
	return NULL;
}

static void
parse_owner(const cJSON *meta, struct kube_pod *p)
{
	const cJSON *an = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
	const char *pid = kcr_json_str(an, KCR_K8S_ANNOT_OWNER_PID);

	copy_str(p->owner_host, sizeof(p->owner_host), kcr_json_str(an, KCR_K8S_ANNOT_OWNER_HOST));
	copy_str(p->owner_pod, sizeof(p->owner_pod), kcr_json_str(an, KCR_K8S_ANNOT_OWNER_POD));
	p->owner_pid = pid ? strtol(pid, NULL, 10) : 0;
}

bool
kube_pod_parse(const cJSON *obj, struct kube_pod *p)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
	const char *name = kcr_json_str(meta, "name");
	const char *why, *msg = NULL;

	if (name == NULL)
		return false;
	memset(p, 0, sizeof(*p));
	copy_str(p->name, sizeof(p->name), name);
	copy_str(p->rv, sizeof(p->rv), kcr_json_str(meta, "resourceVersion"));
	copy_str(p->lang, sizeof(p->lang), label(meta, KCR_K8S_LABEL_LANG));
	copy_str(p->role, sizeof(p->role), label(meta, KCR_K8S_LABEL_ROLE));
	copy_str(p->state, sizeof(p->state), label(meta, KCR_K8S_LABEL_STATE));
	copy_str(p->owner, sizeof(p->owner), label(meta, KCR_K8S_LABEL_OWNER));
	copy_str(p->claimed_by, sizeof(p->claimed_by), label(meta, KCR_K8S_LABEL_CLAIMED_BY));
	copy_str(p->job, sizeof(p->job), label(meta, "job-name"));
	copy_str(p->ip, sizeof(p->ip), kcr_json_str(st, "podIP"));
	copy_str(p->phase, sizeof(p->phase), kcr_k8s_pod_phase(obj));
	why = kcr_k8s_pod_waiting_reason(obj, &msg);
	if (why)
		snprintf(p->reason, sizeof(p->reason), "%s%s%s", why, msg ? ": " : "",
			 msg ? msg : "");
	p->ready = kcr_k8s_pod_is_ready(obj);
	p->deleting = cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp") != NULL;
	if (kcr_json_str(meta, "creationTimestamp"))
		p->created = kcr_iso8601_parse(kcr_json_str(meta, "creationTimestamp"));
	parse_owner(meta, p);
	return true;
}

/* ---- the cache, locked ---------------------------------------------------- */

static struct kube_pod *
find(struct kube_cache *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->pods[i].name, name) == 0)
			return &c->pods[i];
	}
	return NULL;
}

static void
upsert(struct kube_cache *c, const struct kube_pod *p)
{
	struct kube_pod *old = find(c, p->name);

	if (old) {
		*old = *p;
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->pods = kcr_xrealloc(c->pods, c->cap * sizeof(*c->pods));
	}
	c->pods[c->n++] = *p;
}

static void
remove_pod(struct kube_cache *c, const char *name)
{
	struct kube_pod *p = find(c, name);

	if (p)
		*p = c->pods[--c->n];
}

bool
kube_cache_get(struct kube *kp, const char *name, struct kube_pod *out)
{
	struct kube_cache *c = &kp->cache;
	struct kube_pod *p;

	pthread_mutex_lock(&c->lock);
	p = find(c, name);
	if (p)
		*out = *p;
	pthread_mutex_unlock(&c->lock);
	return p != NULL;
}

size_t
kube_cache_snapshot(struct kube *kp, struct kube_pod **out)
{
	struct kube_cache *c = &kp->cache;
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->n;
	*out = kcr_xmalloc((n ? n : 1) * sizeof(**out));
	if (n) /* c->pods is NULL before the first pod */
		memcpy(*out, c->pods, n * sizeof(**out));
	pthread_mutex_unlock(&c->lock);
	return n;
}

static int
older_first(const void *a, const void *b)
{
	const struct kube_pod *x = a, *y = b;

	return (x->created > y->created) - (x->created < y->created);
}

size_t
kube_cache_ready_pool(struct kube *kp, const char *lang, struct kube_pod *out, size_t max)
{
	struct kube_cache *c = &kp->cache;
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n && n < max; i++) {
		const struct kube_pod *p = &c->pods[i];

		if (p->ready && !p->deleting && strcmp(p->role, "pool") == 0 &&
		    strcmp(p->state, "ready") == 0 && strcmp(p->lang, lang) == 0)
			out[n++] = *p;
	}
	pthread_mutex_unlock(&c->lock);
	qsort(out, n, sizeof(*out), older_first);
	return n;
}

static const struct kube_pod *
find_wanted(struct kube_cache *c, const char *name, const char *job)
{
	if (name)
		return find(c, name);
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->pods[i].job, job) == 0)
			return &c->pods[i];
	}
	return NULL;
}

/* Whether p will never be Ready: 1 with why in err. */
static int
pod_failed(const struct kube_pod *p, kcr_error_t *err)
{
	if (strcmp(p->phase, "Failed") == 0 || strcmp(p->phase, "Succeeded") == 0)
		return kcr_error_set(err, KCR_E_BACKEND, 0, "sandbox pod %s ended (%s%s%s)",
				     p->name, p->phase, *p->reason ? ", " : "", p->reason),
		       1;
	if (p->deleting)
		return kcr_error_set(err, KCR_E_BACKEND, 0, "sandbox pod %s is being deleted",
				     p->name),
		       1;
	if (strstr(p->reason, "ErrImagePull") || strstr(p->reason, "ImagePullBackOff") ||
	    strstr(p->reason, "InvalidImageName") ||
	    strstr(p->reason, "CreateContainerConfigError"))
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "sandbox pod %s cannot start: %s",
				     p->name, p->reason),
		       1;
	return 0;
}

int
kube_cache_wait_ready(struct kube *kp, const char *name, const char *job, uint64_t deadline_ms,
		      struct kube_pod *out, kcr_error_t *err)
{
	struct kube_cache *c = &kp->cache;
	bool seen = false;
	int ret = -1;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		const struct kube_pod *p = find_wanted(c, name, job);
		struct timespec until;

		if (p && p->ready && !p->deleting && *p->ip) {
			*out = *p;
			ret = 0;
			break;
		}
		if (p && pod_failed(p, err))
			break;
		if (p == NULL && seen && name) {
			kcr_error_set(err, KCR_E_BACKEND, 0, "sandbox pod %s was deleted", name);
			break;
		}
		seen |= p != NULL;
		if (kcr_now_ms() >= deadline_ms) {
			kcr_error_set(err, KCR_E_TIMEOUT, 0,
				      "sandbox pod %s%s is not Ready after %llu s%s%s%s%s",
				      name ? name : "of Job ", name ? "" : job,
				      (unsigned long long)(kp->ready_timeout_ms / 1000),
				      p && *p->reason ? " (" : "", p ? p->reason : "",
				      p && *p->reason ? ")" : "",
				      c->error ? "; the watch failed: " : "");
			if (c->error)
				kcr_error_wrap(err, "%s", c->error);
			break;
		}
		until = kcr_timespec_in(CLOCK_MONOTONIC, deadline_ms - kcr_now_ms());
		pthread_cond_timedwait(&c->changed, &c->lock, &until);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

bool
kube_cache_wait_synced(struct kube *kp, uint64_t deadline_ms)
{
	struct kube_cache *c = &kp->cache;
	bool synced;

	pthread_mutex_lock(&c->lock);
	while (!c->synced && kcr_now_ms() < deadline_ms) {
		struct timespec until =
			kcr_timespec_in(CLOCK_MONOTONIC, deadline_ms - kcr_now_ms());

		pthread_cond_timedwait(&c->changed, &c->lock, &until);
	}
	synced = c->synced;
	pthread_mutex_unlock(&c->lock);
	return synced;
}

/* ---- list and watch ------------------------------------------------------- */

static void
set_error(struct kube_cache *c, const char *msg)
{
	pthread_mutex_lock(&c->lock);
	free(c->error);
	c->error = msg ? kcr_xstrdup(msg) : NULL;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
}

static int
list_pods(struct kube *kp, kcr_error_t *err)
{
	struct kube_cache *c = &kp->cache;
	kcr_autofree char *sel = kcr_k8s_query_escape(KCR_K8S_SELECTOR);
	kcr_autofree char *path = kcr_strdup_printf("%s?labelSelector=%s", kp->pods_path, sel);
	cJSON *list = NULL;
	const cJSON *it;

	if (kcr_k8s_get(kp->k, path, &list, err) < 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	c->n = 0;
	cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(list, "items")) {
		struct kube_pod p;

		if (kube_pod_parse(it, &p))
			upsert(c, &p);
	}
	copy_str(c->rv, sizeof(c->rv),
		 kcr_json_str(cJSON_GetObjectItemCaseSensitive(list, "metadata"),
			      "resourceVersion"));
	c->synced = true;
	free(c->error);
	c->error = NULL;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
	cJSON_Delete(list);
	return 0;
}

static int
on_event(void *arg, const char *type, const cJSON *obj)
{
	struct kube_cache *c = arg;
	struct kube_pod p;

	if (strcmp(type, "BOOKMARK") == 0 || !kube_pod_parse(obj, &p))
		return 0;
	pthread_mutex_lock(&c->lock);
	if (strcmp(type, "DELETED") == 0)
		remove_pod(c, p.name);
	else
		upsert(c, &p);
	free(c->error);
	c->error = NULL;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* Sleeps ms unless asked to stop: true when asked. */
static bool
nap(struct kube_cache *c, uint64_t ms)
{
	struct pollfd p = { .fd = c->stop[0], .events = POLLIN };

	return poll(&p, 1, (int)ms) != 0;
}

static void
sweep_if_due(struct kube *kp, uint64_t *next)
{
	if (kcr_now_ms() < *next)
		return;
	kube_orphans_sweep(kp);
	*next = kcr_now_ms() + kp->orphan_interval_ms;
}

static void *
informer(void *arg)
{
	struct kube *kp = arg;
	struct kube_cache *c = &kp->cache;
	kcr_autofree char *sel = kcr_k8s_query_escape(KCR_K8S_SELECTOR);
	kcr_autofree char *query = kcr_strdup_printf("labelSelector=%s", sel);
	uint64_t backoff = RETRY_MIN_MS, next_sweep = kcr_now_ms() + kp->orphan_interval_ms;
	bool relist = true;

	for (;;) {
		kcr_error_t err = NULL;
		char rv[128];
		int r;

		if (relist && list_pods(kp, &err) < 0)
			goto failed;
		relist = false;
		sweep_if_due(kp, &next_sweep);
		pthread_mutex_lock(&c->lock);
		memcpy(rv, c->rv, sizeof(rv));
		pthread_mutex_unlock(&c->lock);
		r = kcr_k8s_watch(kp->k, kp->pods_path, query, rv, WATCH_TIMEOUT_S, WATCH_IDLE_MS,
				  c->stop[0], on_event, c, &err);
		pthread_mutex_lock(&c->lock);
		memcpy(c->rv, rv, sizeof(rv));
		pthread_mutex_unlock(&c->lock);
		if (nap(c, 0))
			break;
		if (r == 1) {
			relist = true;
			continue;
		}
		if (r == 0) {
			backoff = RETRY_MIN_MS;
			continue;
		}
		if (err->code == KCR_E_TIMEOUT) { /* idle: start again from rv */
			kcr_error_release(&err);
			continue;
		}
	failed:
		kcr_log_warn("kubernetes: watching pods in %s: %s", kp->ns, err->msg);
		set_error(c, err->msg);
		kcr_error_release(&err);
		if (nap(c, backoff))
			break;
		backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
	}
	return NULL;
}

int
kube_cache_start(struct kube *kp, kcr_error_t *err)
{
	struct kube_cache *c = &kp->cache;
	pthread_condattr_t ca;

	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->changed, &ca);
	pthread_condattr_destroy(&ca);
	if (pipe2(c->stop, O_CLOEXEC) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "pipe");
	if (pthread_create(&c->thread, NULL, informer, kp) != 0)
		return kcr_error_set(err, KCR_E_IO, errno, "starting the pod watch");
	c->running = true;
	return 0;
}

void
kube_cache_stop(struct kube *kp)
{
	struct kube_cache *c = &kp->cache;

	if (c->running) {
		(void)!write(c->stop[1], "x", 1);
		pthread_join(c->thread, NULL);
		c->running = false;
	}
	if (c->stop[0] > 0) {
		close(c->stop[0]);
		close(c->stop[1]);
	}
	free(c->pods);
	free(c->error);
	pthread_cond_destroy(&c->changed);
	pthread_mutex_destroy(&c->lock);
}

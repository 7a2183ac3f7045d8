/* Watches: one long GET whose body is a JSON object per line ({"type",
 * "object"}), read on a multi handle of its own so that a stop_fd that
 * becomes readable ends it at once, and a stream that goes quiet for
 * longer than idle_ms ends it as stalled. The newest resourceVersion
 * seen (bookmarks included) is kept for the caller's next watch; 410
 * Gone, as a reply or as an ERROR event, tells it to list again. */
#include <config.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/util.h"
#include "sandbox/k8s-internal.h"

#include <stdlib.h>
#include <string.h>

#define RV_MAX   128
#define POLL_MAX 1000

struct watch {
	kcr_k8s_watch_fn fn;
	void *arg;
	char *rv;
	struct kcr_buf line;
	bool gone, fn_stopped, too_big, bad;
	kcr_error_t err; /* an ERROR event other than 410 */
};

static void
keep_rv(struct watch *w, const cJSON *object)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	const char *rv = kcr_json_str(md, "resourceVersion");

	if (rv && *rv && strlen(rv) < RV_MAX)
		strcpy(w->rv, rv);
}

/* An ERROR event's Status: 410 (or reason Expired/Gone) is the end of
 * this version's history; anything else is an error. */
static void
error_event(struct watch *w, const cJSON *status)
{
	long code = (long)kcr_json_num(status, "code", 0);
	const char *reason = kcr_json_str(status, "reason");
	const char *msg = kcr_json_str(status, "message");

	if (code == 410 ||
	    (reason && (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0))) {
		w->gone = true;
		return;
	}
	kcr_error_set(&w->err, code ? k8s_status_errc(code) : KCR_E_BACKEND, 0, "watch: %s",
		      msg && *msg ? msg : "an ERROR event");
	w->err->sys_errno = (int)code;
}

/* One line; false to stop reading. */
static bool
on_line(struct watch *w, const char *p, size_t n)
{
	cJSON *ev;
	const char *type;
	const cJSON *obj;
	bool go_on = true;

	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' '))
		n--;
	if (n == 0)
		return true;
	ev = cJSON_ParseWithLength(p, n);
	type = kcr_json_str(ev, "type");
	obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
	if (type == NULL || !cJSON_IsObject(obj)) {
		w->bad = true;
		go_on = false;
	} else if (strcmp(type, "ERROR") == 0) {
		error_event(w, obj);
		go_on = false;
	} else {
		keep_rv(w, obj);
		if (w->fn(w->arg, type, obj) != 0) {
			w->fn_stopped = true;
			go_on = false;
		}
	}
	cJSON_Delete(ev);
	return go_on;
}

/* Bytes as curl hands them over: lines split anywhere. */
static bool
on_data(void *arg, const char *p, size_t n)
{
	struct watch *w = arg;

	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		bool go_on;

		if (w->line.len + take > K8S_EVENT_MAX) {
			w->too_big = true;
			return false;
		}
		kcr_buf_add(&w->line, p, take);
		if (nl == NULL)
			return true;
		go_on = on_line(w, w->line.data, w->line.len);
		w->line.len = 0;
		w->line.data[0] = '\0';
		if (!go_on)
			return false;
		p = nl + 1;
		n -= take + 1;
	}
	return true;
}

enum end { END_DONE, END_STOP_FD, END_IDLE };

/* One try on a multi handle: until the transfer ends, stop_fd is
 * readable, or nothing came for idle_ms. */
static int
stream(struct kcr_k8s *k, struct k8s_call *c, uint64_t idle_ms, int stop_fd, enum end *end,
       kcr_error_t *err)
{
	struct k8s_auth a;
	CURLM *m;
	CURL *h;
	CURLMsg *msg;
	int running = 1, left;

	*end = END_DONE;
	k8s_call_reset(c);
	if (k8s_auth_get(k, &a, err) < 0)
		return -1;
	h = k8s_easy(k, c, &a, 0, err);
	k8s_auth_release(&a);
	if (h == NULL)
		return -1;
	if ((m = curl_multi_init()) == NULL) {
		kcr_curl_handle_give(k->share, h);
		return kcr_error_set(err, KCR_E_INTERNAL, 0, "curl_multi_init failed");
	}
	curl_multi_add_handle(m, h);
	c->code = CURLE_OK;
	for (;;) {
		struct curl_waitfd wfd = { stop_fd, CURL_WAIT_POLLIN, 0 };
		uint64_t quiet, wait = POLL_MAX;

		if (curl_multi_perform(m, &running) != CURLM_OK || running == 0)
			break;
		quiet = kcr_now_ms() - c->last_byte_ms;
		if (idle_ms && quiet >= idle_ms) {
			*end = END_IDLE;
			break;
		}
		if (idle_ms && idle_ms - quiet < wait)
			wait = idle_ms - quiet;
		curl_multi_poll(m, stop_fd > 0 ? &wfd : NULL, stop_fd > 0 ? 1 : 0, (int)wait, NULL);
		if (wfd.revents) {
			*end = END_STOP_FD;
			break;
		}
	}
	while ((msg = curl_multi_info_read(m, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE)
			c->code = msg->data.result;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	curl_multi_remove_handle(m, h);
	kcr_curl_handle_give(k->share, h);
	curl_multi_cleanup(m);
	return 0;
}

static char *
watch_path(const char *path, const char *query, const char *rv, unsigned int timeout_s)
{
	struct kcr_buf b;

	kcr_buf_init(&b);
	kcr_buf_addf(&b, "%s%swatch=1&allowWatchBookmarks=true", path,
		     strchr(path, '?') ? "&" : "?");
	if (timeout_s)
		kcr_buf_addf(&b, "&timeoutSeconds=%u", timeout_s);
	if (rv && *rv) {
		kcr_autofree char *e = kcr_k8s_query_escape(rv);

		kcr_buf_addf(&b, "&resourceVersion=%s", e);
	}
	if (query && *query)
		kcr_buf_addf(&b, "&%s", query);
	return kcr_buf_steal(&b, NULL);
}

/* What one try came to: 0 or 1 (the watch's result), -1 with err, or 2
 * to try again. */
static int
outcome(struct kcr_k8s *k, struct k8s_call *c, struct watch *w, enum end end, unsigned int tries,
	uint64_t idle_ms, bool *reauth, kcr_error_t *err)
{
	if (end == END_STOP_FD || w->fn_stopped)
		return 0;
	if (w->gone || (c->code == CURLE_OK && c->status == 410))
		return 1;
	if (end == END_IDLE)
		return kcr_error_set(err, KCR_E_TIMEOUT, 0,
				     "watch %.*s: nothing came for %llu ms: the stream stalled",
				     (int)strcspn(c->path, "?"), c->path,
				     (unsigned long long)idle_ms);
	if (w->err) {
		if (err && *err == NULL)
			*err = kcr_steal(&w->err);
		return -1;
	}
	if (w->too_big)
		return kcr_error_set(err, KCR_E_BACKEND, 0,
				     "watch %.*s: an event is over %zu bytes",
				     (int)strcspn(c->path, "?"), c->path, K8S_EVENT_MAX);
	if (w->bad)
		return kcr_error_set(err, KCR_E_BACKEND, 0,
				     "watch %.*s: an event that is not a watch event",
				     (int)strcspn(c->path, "?"), c->path);
	/* the stream ended, cleanly or not, after it began: watch again */
	if (c->status >= 200 && c->status < 300)
		return 0;
	if (c->code == CURLE_OK && c->status == 401 && !*reauth && k8s_auth_invalidate(k)) {
		*reauth = true;
		return 2;
	}
	if (tries <= k->opts.retries && k8s_retryable(c, false)) {
		k8s_backoff(k, c, tries, 0);
		return 2;
	}
	if (c->code == CURLE_OK)
		return k8s_reply_error(c, err);
	return k8s_transport_error(c, tries, err);
}

int
kcr_k8s_watch(struct kcr_k8s *k, const char *path, const char *query, char *rv,
	      unsigned int timeout_s, uint64_t idle_ms, int stop_fd, kcr_k8s_watch_fn fn, void *arg,
	      kcr_error_t *err)
{
	struct watch w = { .fn = fn, .arg = arg, .rv = rv };
	struct k8s_call c;
	bool reauth = false;
	int r = 2;

	if (idle_ms == 0)
		idle_ms = (uint64_t)timeout_s * 2000;
	k8s_call_init(&c);
	c.method = "GET";
	c.max = UINT64_MAX; /* each event is bounded instead */
	c.on_data = on_data;
	c.arg = &w;
	kcr_buf_init(&w.line);
	for (unsigned int tries = 1; r == 2; tries++) {
		kcr_autofree char *full = watch_path(path, query, rv, timeout_s);
		enum end end;

		c.path = full;
		w.line.len = 0;
		if (stream(k, &c, idle_ms, stop_fd, &end, err) < 0)
			r = -1;
		else
			r = outcome(k, &c, &w, end, tries, idle_ms, &reauth, err);
		c.path = NULL;
	}
	kcr_buf_release(&w.line);
	kcr_error_free(w.err);
	k8s_call_release(&c);
	return r;
}

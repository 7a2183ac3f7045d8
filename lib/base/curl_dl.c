#define KCR_CURL_DL_IMPL 1
#include <config.h>

#include "base/curl_dl.h"
#include "base/dl.h"
#include "base/util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>

static struct kcr_curl_fns fns;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *load_error;

#define SYM(field, name) KCR_DL_SYM(fns, field, name)

static void
load(void)
{
	static const struct kcr_dl_sym syms[] = {
		SYM(global_init, "curl_global_init"),
		SYM(easy_init, "curl_easy_init"),
		SYM(easy_setopt, "curl_easy_setopt"),
		SYM(easy_perform, "curl_easy_perform"),
		SYM(easy_getinfo, "curl_easy_getinfo"),
		SYM(easy_cleanup, "curl_easy_cleanup"),
		SYM(easy_reset, "curl_easy_reset"),
		SYM(easy_strerror, "curl_easy_strerror"),
		SYM(easy_unescape, "curl_easy_unescape"),
		SYM(free, "curl_free"),
		SYM(slist_append, "curl_slist_append"),
		SYM(slist_free_all, "curl_slist_free_all"),
		SYM(mime_init, "curl_mime_init"),
		SYM(mime_addpart, "curl_mime_addpart"),
		SYM(mime_name, "curl_mime_name"),
		SYM(mime_data, "curl_mime_data"),
		SYM(mime_data_cb, "curl_mime_data_cb"),
		SYM(mime_filename, "curl_mime_filename"),
		SYM(mime_type, "curl_mime_type"),
		SYM(mime_free, "curl_mime_free"),
		SYM(version_info, "curl_version_info"),
		SYM(share_init, "curl_share_init"),
		SYM(share_setopt, "curl_share_setopt"),
		SYM(share_cleanup, "curl_share_cleanup"),
		SYM(multi_init, "curl_multi_init"),
		SYM(multi_add_handle, "curl_multi_add_handle"),
		SYM(multi_remove_handle, "curl_multi_remove_handle"),
		SYM(multi_perform, "curl_multi_perform"),
		SYM(multi_poll, "curl_multi_poll"),
		SYM(multi_info_read, "curl_multi_info_read"),
		SYM(multi_cleanup, "curl_multi_cleanup"),
	};
	load_error = kcr_dl_load("libcurl.so.4", "libcurl", syms, KCR_ARRAY_SIZE(syms));
	if (load_error == NULL)
		fns.global_init(CURL_GLOBAL_DEFAULT);
}

int
kcr_curl_load(kcr_error_t *err)
{
	pthread_once(&once, load);
	if (load_error)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "%s", load_error);
	return 0;
}

const struct kcr_curl_fns *
kcr_curl(void)
{
	return &fns;
}

static void
share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *p)
{
	struct kcr_curl_share *s = p;

	(void)c;
	(void)access;
	pthread_mutex_lock(&s->locks[data]);
}

static void
share_unlock(CURL *c, curl_lock_data data, void *p)
{
	struct kcr_curl_share *s = p;

	(void)c;
	pthread_mutex_unlock(&s->locks[data]);
}

struct kcr_curl_share *
kcr_curl_share_new(kcr_error_t *err)
{
	struct kcr_curl_share *s = kcr_xzalloc(sizeof(*s));

	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->locks[i], NULL);
	pthread_mutex_init(&s->idle_lock, NULL);
	s->sh = fns.share_init();
	if (s->sh == NULL) {
		kcr_curl_share_free(s);
		kcr_error_set(err, KCR_E_INTERNAL, 0, "curl_share_init failed");
		return NULL;
	}
	fns.share_setopt(s->sh, CURLSHOPT_LOCKFUNC, share_lock);
	fns.share_setopt(s->sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
	fns.share_setopt(s->sh, CURLSHOPT_USERDATA, s);
	fns.share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	return s;
}

CURL *
kcr_curl_handle_take(struct kcr_curl_share *s)
{
	CURL *h = NULL;

	pthread_mutex_lock(&s->idle_lock);
	if (s->n_idle > 0)
		h = s->idle[--s->n_idle];
	pthread_mutex_unlock(&s->idle_lock);
	if (h == NULL && (h = fns.easy_init()) == NULL)
		return NULL;
	fns.easy_setopt(h, CURLOPT_SHARE, s->sh);
	return h;
}

void
kcr_curl_handle_give(struct kcr_curl_share *s, CURL *h)
{
	if (h == NULL)
		return;
	fns.easy_reset(h);
	pthread_mutex_lock(&s->idle_lock);
	if (s->n_idle < KCR_CURL_IDLE_MAX) {
		s->idle[s->n_idle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->idle_lock);
	if (h)
		fns.easy_cleanup(h);
}

void
kcr_curl_share_free(struct kcr_curl_share *s)
{
	if (s == NULL)
		return;
	/* the share cannot go while handles use it */
	for (size_t i = 0; i < s->n_idle; i++)
		fns.easy_cleanup(s->idle[i]);
	if (s->sh)
		fns.share_cleanup(s->sh);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s->locks[i]);
	pthread_mutex_destroy(&s->idle_lock);
	free(s);
}

/* What libcurl's curl_easy_setopt and curl_easy_getinfo macros call, once
 * they checked the argument's type. Hidden: exported from a kcr binary,
 * they would take the place of libcurl's own functions of those names.
 * The parentheses keep the macros from expanding here. */
#define HIDDEN __attribute__((visibility("hidden")))

/* The option's number tells its argument's type (curl.h, CURLOPTTYPE_). */
HIDDEN CURLcode
(curl_easy_setopt)(CURL *curl, CURLoption option, ...)
{
	va_list ap;
	CURLcode r;

	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT) /* LONG, VALUES */
		r = fns.easy_setopt(curl, option, va_arg(ap, long));
	else if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB)
		r = fns.easy_setopt(curl, option, va_arg(ap, curl_off_t));
	else if (option >= CURLOPTTYPE_FUNCTIONPOINT && option < CURLOPTTYPE_OFF_T)
		r = fns.easy_setopt(curl, option, va_arg(ap, void (*)(void)));
	else /* OBJECTPOINT, STRINGPOINT, SLISTPOINT, CBPOINT, BLOB */
		r = fns.easy_setopt(curl, option, va_arg(ap, void *));
	va_end(ap);
	return r;
}

/* Every CURLINFO_ takes a pointer to where the answer goes. */
HIDDEN CURLcode
(curl_easy_getinfo)(CURL *curl, CURLINFO info, ...)
{
	va_list ap;
	void *p;

	va_start(ap, info);
	p = va_arg(ap, void *);
	va_end(ap);
	return fns.easy_getinfo(curl, info, p);
}

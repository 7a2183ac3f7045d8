/* libcurl, loaded when first needed rather than at start-up: linking it
 * makes every kcr process load ~30 libraries (~6 ms), which a one-shot
 * `kcr exec` never uses. Code that talks to other servers includes this
 * header instead of <curl/curl.h> and calls libcurl as usual, after
 * kcr_curl_load() succeeded once.
 *
 * curl_easy_setopt and curl_easy_getinfo stay libcurl's macros, which
 * check the type of their argument at compile time (curl/typecheck-gcc.h)
 * and then call the functions of those names: curl_dl.c defines them,
 * hidden from the dynamic symbol table, to hand the call on to the loaded
 * library. */
#ifndef KCR_CURL_DL_H
#define KCR_CURL_DL_H

#include "base/error.h"

#include <curl/curl.h>
#include <pthread.h>

/* typecheck-gcc.h's warnings come from a system header's macro, which GCC
 * keeps quiet: report them, at the line of the call. */
#pragma GCC diagnostic warning "-Wsystem-headers"

struct kcr_curl_fns {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	char *(*easy_unescape)(CURL *, const char *, int, int *);
	void (*free)(void *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	curl_mime *(*mime_init)(CURL *);
	curl_mimepart *(*mime_addpart)(curl_mime *);
	CURLcode (*mime_name)(curl_mimepart *, const char *);
	CURLcode (*mime_data)(curl_mimepart *, const char *, size_t);
	CURLcode (*mime_data_cb)(curl_mimepart *, curl_off_t, curl_read_callback,
				 curl_seek_callback, curl_free_callback, void *);
	CURLcode (*mime_filename)(curl_mimepart *, const char *);
	CURLcode (*mime_type)(curl_mimepart *, const char *);
	void (*mime_free)(curl_mime *);
	curl_version_info_data *(*version_info)(CURLversion);
	CURLSH *(*share_init)(void);
	CURLSHcode (*share_setopt)(CURLSH *, CURLSHoption, ...);
	CURLSHcode (*share_cleanup)(CURLSH *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_cleanup)(CURLM *);
};

/* Loads libcurl once (thread-safe); -1 with err when it is not installed. */
int kcr_curl_load(kcr_error_t *err);
/* The loaded functions; only after kcr_curl_load() returned 0. */
const struct kcr_curl_fns *kcr_curl(void);

/* Easy handles for the requests of any thread, kept for reuse, and a
 * CURLSH through which they share DNS answers. A kept handle keeps its
 * idle connections and TLS sessions (curl_easy_reset leaves them), so
 * requests reuse connections without libcurl's shared connection and TLS
 * session caches, which are not safe between concurrent threads
 * (CURLSHOPT_SHARE(3); ThreadSanitizer saw OpenSSL free a shared session's
 * chain while another thread copied it). After kcr_curl_load(). */
#define KCR_CURL_IDLE_MAX 8
struct kcr_curl_share {
	CURLSH *sh;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t idle_lock;
	CURL *idle[KCR_CURL_IDLE_MAX];
	size_t n_idle;
};
struct kcr_curl_share *kcr_curl_share_new(kcr_error_t *err);
void kcr_curl_share_free(struct kcr_curl_share *s);
/* A handle with default options and CURLOPT_SHARE set, for one thread at
 * a time; NULL when libcurl cannot make one. */
CURL *kcr_curl_handle_take(struct kcr_curl_share *s);
/* Back for reuse (its options reset), or cleaned up when enough are kept. */
void kcr_curl_handle_give(struct kcr_curl_share *s, CURL *h);

#ifndef KCR_CURL_DL_IMPL
#define curl_global_init(...) (kcr_curl()->global_init(__VA_ARGS__))
#define curl_easy_init(...) (kcr_curl()->easy_init(__VA_ARGS__))
#define curl_easy_perform(...) (kcr_curl()->easy_perform(__VA_ARGS__))
#define curl_easy_cleanup(...) (kcr_curl()->easy_cleanup(__VA_ARGS__))
#define curl_easy_reset(...) (kcr_curl()->easy_reset(__VA_ARGS__))
#define curl_easy_strerror(...) (kcr_curl()->easy_strerror(__VA_ARGS__))
#define curl_easy_unescape(...) (kcr_curl()->easy_unescape(__VA_ARGS__))
#define curl_free(...) (kcr_curl()->free(__VA_ARGS__))
#define curl_slist_append(...) (kcr_curl()->slist_append(__VA_ARGS__))
#define curl_slist_free_all(...) (kcr_curl()->slist_free_all(__VA_ARGS__))
#define curl_mime_init(...) (kcr_curl()->mime_init(__VA_ARGS__))
#define curl_mime_addpart(...) (kcr_curl()->mime_addpart(__VA_ARGS__))
#define curl_mime_name(...) (kcr_curl()->mime_name(__VA_ARGS__))
#define curl_mime_data(...) (kcr_curl()->mime_data(__VA_ARGS__))
#define curl_mime_data_cb(...) (kcr_curl()->mime_data_cb(__VA_ARGS__))
#define curl_mime_filename(...) (kcr_curl()->mime_filename(__VA_ARGS__))
#define curl_mime_type(...) (kcr_curl()->mime_type(__VA_ARGS__))
#define curl_mime_free(...) (kcr_curl()->mime_free(__VA_ARGS__))
#define curl_version_info(...) (kcr_curl()->version_info(__VA_ARGS__))
#define curl_share_init(...)     (kcr_curl()->share_init(__VA_ARGS__))
#undef curl_share_setopt
#define curl_share_setopt(...)  (kcr_curl()->share_setopt(__VA_ARGS__))
#define curl_share_cleanup(...) (kcr_curl()->share_cleanup(__VA_ARGS__))
#define curl_multi_init(...) (kcr_curl()->multi_init(__VA_ARGS__))
#define curl_multi_add_handle(...) (kcr_curl()->multi_add_handle(__VA_ARGS__))
#define curl_multi_remove_handle(...) (kcr_curl()->multi_remove_handle(__VA_ARGS__))
#define curl_multi_perform(...) (kcr_curl()->multi_perform(__VA_ARGS__))
#define curl_multi_poll(...) (kcr_curl()->multi_poll(__VA_ARGS__))
#define curl_multi_info_read(...) (kcr_curl()->multi_info_read(__VA_ARGS__))
#define curl_multi_cleanup(...) (kcr_curl()->multi_cleanup(__VA_ARGS__))
#endif

#endif

/* Starting and stopping kcr serve's HTTP server: the listening socket,
 * the libmicrohttpd daemons on it (one accepting; with HTTPS, older ones
 * finishing their requests after a certificate reload), and the
 * options' own copies. Requests are http_server.c's. */
#include <config.h>

#include "server/http_server.h"
#include "server/http-internal.h"
#include "server/mhd_dl.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Threads parsing requests and answering the quick routes. */
#define HTTP_THREADS 4

/* ---- start and stop --------------------------------------------------- */

static int
parse_listen(const char *addr, struct sockaddr_storage *ss, socklen_t *len, kcr_error_t *err)
{
	kcr_autofree char *host = NULL;
	const char *colon = strrchr(addr, ':');
	uint64_t port;

	if (colon == NULL || kcr_parse_u64(colon + 1, 0, 65535, &port, err) < 0)
		return kcr_error_set(err, KCR_E_INVALID, 0, "listen address '%s' is not HOST:PORT",
				     addr);
	host = kcr_xstrndup(addr, (size_t)(colon - addr));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = '\0';
		memset(a, 0, sizeof(*a));
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1)
			return 0;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		memset(a, 0, sizeof(*a));
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
		if (strcmp(host, "localhost") == 0 || inet_pton(AF_INET, host, &a->sin_addr) == 1) {
			if (strcmp(host, "localhost") == 0)
				a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			return 0;
		}
	}
	return kcr_error_set(err, KCR_E_INVALID, 0, "listen address '%s': bad host", addr);
}

int
http_bind_listen(const char *addr, int *port, kcr_error_t *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd;

	if (parse_listen(addr, &ss, &len, err) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 512) < 0) {
		int e = errno;

		close(fd);
		return kcr_error_set(err, KCR_E_IO, e, "cannot listen on %s", addr);
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* ---- daemons ------------------------------------------------------------ */

/* A daemon on (a dup of) the listening socket, speaking TLS with pem when
 * not NULL. */
static struct http_daemon *
daemon_start(struct kcr_http_server *s, const struct http_tls_pem *pem, kcr_error_t *err)
{
	const struct kcr_http_server_opts *o = &s->o;
	struct http_daemon *dm = kcr_xzalloc(sizeof(*dm));
	struct MHD_OptionItem tls[] = {
		{ pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, pem ? pem->cert : NULL },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, pem ? pem->key : NULL },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0, pem ? (void *)pem->priorities : NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	int fd = fcntl(s->listen_fd, F_DUPFD_CLOEXEC, 0);

	dm->s = s;
	if (fd < 0) {
		free(dm);
		kcr_error_set(err, KCR_E_IO, errno, "dup of the listening socket");
		return NULL;
	}
	dm->d = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
			(pem ? MHD_USE_TLS : 0),
		0, NULL, NULL, http_on_request, dm, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)HTTP_THREADS,
		MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, dm, MHD_OPTION_NOTIFY_CONNECTION,
		s->guard ? http_guard_notify : NULL, s->guard, MHD_OPTION_CONNECTION_TIMEOUT,
		o->idle_timeout_s ? o->idle_timeout_s : 600, MHD_OPTION_CONNECTION_LIMIT,
		o->max_connections ? o->max_connections : FD_SETSIZE - 4,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_peer,
		/* headers beyond this are refused (431) */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), MHD_OPTION_ARRAY, tls,
		MHD_OPTION_END);
	if (dm->d == NULL) {
		close(fd);
		free(dm);
		kcr_error_set(err, KCR_E_IO, 0, "cannot start the HTTP%s server on %s",
			      pem ? "S" : "", o->listen);
		return NULL;
	}
	return dm;
}

/* A retired daemon's thread: once its last request is answered (or the
 * server stops), the daemon is stopped and its kept-alive connections
 * closed. */
static void *
daemon_reaper(void *arg)
{
	struct http_daemon *dm = arg;

	while (atomic_load(&dm->in_flight) > 0 && !atomic_load(&dm->s->stopping))
		usleep(20000);
	MHD_stop_daemon(dm->d);
	atomic_store(&dm->reaped, true);
	return NULL;
}

/* Stops accepting on dm's daemon; its requests go on. */
static void
daemon_quiesce(struct http_daemon *dm)
{
	MHD_socket fd = MHD_quiesce_daemon(dm->d);

	if (fd != MHD_INVALID_SOCKET)
		close(fd); /* a dup: the socket stays open in listen_fd */
}

static int
tls_setup(struct kcr_http_server *s, const struct kcr_http_tls_opts *t, struct http_tls_pem *pem,
	  kcr_error_t *err)
{
	if (http_tls_pem_load(t, pem, err) < 0)
		return -1;
	s->tls = true;
	if (t->hsts_max_age)
		s->hsts = kcr_strdup_printf("max-age=%u", t->hsts_max_age);
	if (t->redirect_listen && *t->redirect_listen &&
	    (s->redirect = http_redirect_start(t->redirect_listen, &s->port, err)) == NULL)
		return -1;
	kcr_log_info("HTTPS with %s", pem->about);
	return 0;
}

/* NULL for an empty list */
static char *
strv_join(char *const *v, const char *sep)
{
	struct kcr_buf b;
	size_t len;

	if (v == NULL || *v == NULL)
		return NULL;
	kcr_buf_init(&b);
	for (; *v; v++) {
		if (b.len)
			kcr_buf_add(&b, sep, strlen(sep));
		kcr_buf_add(&b, *v, strlen(*v));
	}
	return kcr_buf_steal(&b, &len);
}

static void
server_free(struct kcr_http_server *s)
{
	if (s->redirect)
		MHD_stop_daemon(s->redirect);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	http_guard_free(s->guard);
	kcr_strv_free(s->cors_origins);
	kcr_strv_free(s->cors_methods);
	kcr_strv_free(s->cors_headers);
	free(s->cors_headers_str);
	free(s->hsts);
	free(s->base_path);
	free(s->spool_dir);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* The options' strings, the server's own: the caller's may not outlive start. */
static void
own_opts(struct kcr_http_server *s, const struct kcr_http_server_opts *o)
{
	s->o = *o;
	s->spool_dir = o->spool_dir ? kcr_xstrdup(o->spool_dir) : NULL;
	s->o.spool_dir = s->spool_dir;
	s->cors_origins = kcr_strv_dup(o->cors_origins);
	s->cors_methods = kcr_strv_dup(o->cors_methods);
	s->cors_headers = kcr_strv_dup(o->cors_headers);
	s->o.cors_origins = s->cors_origins;
	s->o.cors_methods = s->cors_methods;
	s->o.cors_headers = s->cors_headers;
	s->o.tls = NULL;
	s->cors_headers_str = strv_join(o->cors_headers, ", ");
	s->base_path = kcr_xstrdup(o->base_path ? o->base_path : "");
	if (s->base_path[0] && s->base_path[strlen(s->base_path) - 1] == '/')
		s->base_path[strlen(s->base_path) - 1] = '\0';
}

struct kcr_http_server *
kcr_http_server_start(const struct kcr_http_server_opts *o, kcr_error_t *err)
{
	struct kcr_http_server *s;
	struct http_tls_pem pem = { 0 };

	if (kcr_mhd_load(err) < 0)
		return NULL;
	s = kcr_xzalloc(sizeof(*s));
	s->listen_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	own_opts(s, o);
	if ((s->listen_fd = http_bind_listen(o->listen, &s->port, err)) < 0)
		goto fail;
	atomic_store(&s->max_body, o->max_body);
	if (o->header_timeout_s || o->body_timeout_s)
		s->guard = http_guard_new(o->header_timeout_s, o->body_timeout_s);
	if (o->tls && tls_setup(s, o->tls, &pem, err) < 0)
		goto fail;
	if ((s->cur = daemon_start(s, o->tls ? &pem : NULL, err)) == NULL)
		goto fail;
	http_tls_pem_release(&pem);
	return s;
fail:
	http_tls_pem_release(&pem);
	server_free(s);
	return NULL;
}

/* Frees the retired daemons that are stopped (all: waits for them). */
static void
retired_prune(struct kcr_http_server *s, bool all)
{
	struct http_daemon **p = &s->retired;

	while (*p) {
		struct http_daemon *dm = *p;

		if (!all && !atomic_load(&dm->reaped)) {
			p = &dm->next;
			continue;
		}
		*p = dm->next;
		if (dm->reaping)
			pthread_join(dm->reaper, NULL);
		free(dm);
	}
}

int
kcr_http_server_reload_tls(struct kcr_http_server *s, const struct kcr_http_tls_opts *t,
			   kcr_error_t *err)
{
	struct http_tls_pem pem;
	struct http_daemon *dm, *old;

	if (!s->tls)
		return 0;
	if (http_tls_pem_load(t, &pem, err) < 0)
		return -1;
	/* the new daemon accepts before the old stops: no connection is refused */
	dm = daemon_start(s, &pem, err);
	if (dm == NULL) {
		http_tls_pem_release(&pem);
		return -1;
	}
	kcr_log_info("HTTPS certificate reloaded: %s", pem.about);
	http_tls_pem_release(&pem);
	pthread_mutex_lock(&s->lock);
	old = s->cur;
	s->cur = dm;
	daemon_quiesce(old);
	retired_prune(s, false);
	old->next = s->retired;
	s->retired = old;
	old->reaping = pthread_create(&old->reaper, NULL, daemon_reaper, old) == 0;
	if (!old->reaping)
		daemon_reaper(old); /* no thread: wait here */
	pthread_mutex_unlock(&s->lock);
	return 0;
}

bool
kcr_http_server_tls(const struct kcr_http_server *s)
{
	return s->tls;
}

int
kcr_http_server_port(const struct kcr_http_server *s)
{
	return s->port;
}

void
kcr_http_server_set_limits(struct kcr_http_server *s, size_t max_body)
{
	atomic_store(&s->max_body, max_body);
}

void
kcr_http_server_stop(struct kcr_http_server *s, unsigned int grace_ms)
{
	uint64_t deadline = kcr_now_ms() + grace_ms;

	if (s == NULL)
		return;
	/* stop accepting, and refuse new connections at once rather than
	 * leaving them in the backlog; requests in flight go on */
	pthread_mutex_lock(&s->lock);
	daemon_quiesce(s->cur);
	close(s->listen_fd);
	s->listen_fd = -1;
	pthread_mutex_unlock(&s->lock);
	while (atomic_load(&s->in_flight) > 0 && kcr_now_ms() < deadline)
		usleep(10000);
	atomic_store(&s->stopping, true);
	MHD_stop_daemon(s->cur->d);
	free(s->cur);
	retired_prune(s, true);
	server_free(s);
}

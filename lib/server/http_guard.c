#include <config.h>

#include "server/http-internal.h"
#include "base/clock.h"
#include "base/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* How often the guard looks: a deadline is kept to within this. */
#define GUARD_TICK_MS 250

enum phase { HEADERS, BODY, WORKING };

struct guarded {
	struct http_guard *g;
	int fd;
	enum phase phase;     /* under g->lock */
	uint64_t deadline_ms; /* 0: none; under g->lock */
	struct guarded *prev, *next;
};

struct http_guard {
	pthread_mutex_t lock;
	pthread_cond_t stop_cv;
	bool stopping;
	pthread_t thread;
	uint64_t header_ms, body_ms;
	struct guarded *head;
	atomic_ulong cut;
};

static void
cut_late(struct http_guard *g, uint64_t now)
{
	for (struct guarded *e = g->head; e; e = e->next)
		if (e->deadline_ms && now > e->deadline_ms) {
			/* MHD closes the socket only after it told us
			 * (NOTIFY_CLOSED takes the lock): fd is still this one */
			shutdown(e->fd, SHUT_RDWR);
			e->deadline_ms = 0;
			atomic_fetch_add(&g->cut, 1);
		}
}

static void *
guard_main(void *arg)
{
	struct http_guard *g = arg;

	pthread_mutex_lock(&g->lock);
	while (!g->stopping) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += GUARD_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g->stop_cv, &g->lock, &ts);
		cut_late(g, kcr_now_ms());
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

struct http_guard *
http_guard_new(unsigned int header_s, unsigned int body_s)
{
	struct http_guard *g = kcr_xzalloc(sizeof(*g));

	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->stop_cv, NULL);
	g->header_ms = (uint64_t)header_s * 1000;
	g->body_ms = (uint64_t)body_s * 1000;
	if (pthread_create(&g->thread, NULL, guard_main, g) != 0) {
		pthread_cond_destroy(&g->stop_cv);
		pthread_mutex_destroy(&g->lock);
		free(g);
		return NULL;
	}
	return g;
}

/* After MHD stopped: every connection was closed (and left the list). */
void
http_guard_free(struct http_guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	g->stopping = true;
	pthread_cond_signal(&g->stop_cv);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->stop_cv);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

unsigned long
http_guard_cut(const struct http_guard *g)
{
	return atomic_load(&g->cut);
}

/* Caller holds g->lock. */
static void
enter(struct guarded *e, enum phase phase)
{
	struct http_guard *g = e->g;
	uint64_t span = phase == HEADERS ? g->header_ms : phase == BODY ? g->body_ms : 0;

	e->phase = phase;
	e->deadline_ms = span ? kcr_now_ms() + span : 0;
}

void
http_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		  enum MHD_ConnectionNotificationCode code)
{
	struct http_guard *g = cls;
	struct guarded *e = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (ci == NULL)
			return;
		e = kcr_xzalloc(sizeof(*e));
		e->g = g;
		e->fd = ci->connect_fd;
		pthread_mutex_lock(&g->lock);
		enter(e, HEADERS);
		e->next = g->head;
		if (g->head)
			g->head->prev = e;
		g->head = e;
		pthread_mutex_unlock(&g->lock);
		*socket_context = e;
		return;
	}
	if (e == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	if (e->prev)
		e->prev->next = e->next;
	else
		g->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	pthread_mutex_unlock(&g->lock);
	free(e);
	*socket_context = NULL;
}

static void
move_to(struct MHD_Connection *c, enum phase phase)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct guarded *e = ci ? ci->socket_context : NULL;

	if (e == NULL)
		return;
	pthread_mutex_lock(&e->g->lock);
	enter(e, phase);
	pthread_mutex_unlock(&e->g->lock);
}

void
http_guard_headers_done(struct MHD_Connection *c)
{
	move_to(c, BODY);
}

void
http_guard_body_done(struct MHD_Connection *c)
{
	move_to(c, WORKING);
}

void
http_guard_request_done(struct MHD_Connection *c)
{
	move_to(c, HEADERS);
}

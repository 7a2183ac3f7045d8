/* The redis session store's connections: the address from configuration
 * (a URL, or KubeCodeRun's host, port, password and db), a pool of
 * hiredis contexts shared by threads, and one command or one Lua script
 * on one of them.
 *
 * Nothing here waits without a bound: a connect gives up after
 * store.redis.connect_timeout_ms, a command after
 * store.redis.command_timeout_ms, and a thread waiting for a busy pool
 * after both. A failed op fails with a message naming the address; the
 * next op connects again, so the store comes back by itself when Redis
 * does. hiredis 0.14 has no TLS and no RESP3; it only reports errors in
 * its context, which are copied into a kcr error at once. */
#include <config.h>

#include "base/clock.h"
#include "base/parse.h"
#include "store/redis-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the address ---------------------------------------------------------- */

void
redis_url_release(struct redis_url *u)
{
	free(u->host);
	free(u->path);
	free(u->user);
	free(u->password);
	memset(u, 0, sizeof(*u));
}

char *
redis_url_addr(const struct redis_url *u)
{
	if (u->path)
		return kcr_strdup_printf("unix:%s", u->path);
	if (strchr(u->host, ':'))
		return kcr_strdup_printf("[%s]:%d", u->host, u->port);
	return kcr_strdup_printf("%s:%d", u->host, u->port);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* n bytes of s, %XX decoded (a password may hold '@', ':' or '/'). */
static char *
pct_decode(const char *s, size_t n, kcr_error_t *err)
{
	char *out = kcr_xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
			free(out);
			kcr_error_set(err, KCR_E_INVALID, 0,
				      "bad %%-escape in the user or password");
			return NULL;
		}
		*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
		i += 2;
	}
	*o = '\0';
	return out;
}

/* "user:password" or ":password"; the password is what AUTH needs. */
static int
parse_userinfo(const char *s, size_t n, struct redis_url *u, kcr_error_t *err)
{
	const char *colon = memchr(s, ':', n);

	if (colon == NULL)
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "the user needs a ':' before the password "
				     "(redis://:password@host or redis://user:password@host)");
	if (colon > s && (u->user = pct_decode(s, (size_t)(colon - s), err)) == NULL)
		return -1;
	u->password = pct_decode(colon + 1, n - (size_t)(colon - s) - 1, err);
	return u->password ? 0 : -1;
}

static int
parse_num(const char *s, size_t n, const char *what, uint64_t max, int *out, kcr_error_t *err)
{
	kcr_autofree char *text = kcr_xstrndup(s, n);
	uint64_t min = strcmp(what, "port") == 0 ? 1 : 0, v;

	if (n == 0 || kcr_parse_u64(text, min, max, &v, err) < 0) {
		kcr_error_release(err);
		return kcr_error_set(err, KCR_E_INVALID, 0, "bad %s '%s' (%llu to %llu)", what,
				     text, (unsigned long long)min, (unsigned long long)max);
	}
	*out = (int)v;
	return 0;
}

/* ?db=N&password=P */
static int
parse_query(const char *q, struct redis_url *u, kcr_error_t *err)
{
	while (q && *q) {
		const char *amp = strchr(q, '&'), *end = amp ? amp : q + strlen(q);

		if (strncmp(q, "db=", 3) == 0) {
			if (parse_num(q + 3, (size_t)(end - q - 3), "db", 1000000, &u->db, err) < 0)
				return -1;
		} else if (strncmp(q, "password=", 9) == 0) {
			free(u->password);
			if ((u->password = pct_decode(q + 9, (size_t)(end - q - 9), err)) == NULL)
				return -1;
		} else {
			kcr_autofree char *name = kcr_xstrndup(q, (size_t)(strcspn(q, "=&")));

			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "unknown parameter '%s' (db or password)", name);
		}
		q = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* host[:port] or [v6]:port, n bytes of s. */
static int
parse_hostport(const char *s, size_t n, struct redis_url *u, kcr_error_t *err)
{
	const char *end = s + n, *colon;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (close == NULL || (close + 1 < end && close[1] != ':'))
			return kcr_error_set(err, KCR_E_INVALID, 0,
					     "bad IPv6 host (use [addr]:port)");
		u->host = kcr_xstrndup(s + 1, (size_t)(close - s - 1));
		colon = close + 1 < end ? close + 1 : NULL;
	} else {
		colon = memchr(s, ':', n);
		u->host = kcr_xstrndup(s, colon ? (size_t)(colon - s) : n);
	}
	if (u->host[0] == '\0')
		return kcr_error_set(err, KCR_E_INVALID, 0, "no host");
	if (colon &&
	    parse_num(colon + 1, (size_t)(end - colon - 1), "port", 65535, &u->port, err) < 0)
		return -1;
	return 0;
}

/* [userinfo@] of what follows the scheme: returns where the rest starts. */
static const char *
parse_auth_part(const char *rest, size_t stop, struct redis_url *u, kcr_error_t *err)
{
	const char *at = NULL;

	for (size_t i = 0; i < stop; i++)
		if (rest[i] == '@')
			at = rest + i; /* the last one: a password may hold a raw '@' */
	if (at == NULL)
		return rest;
	return parse_userinfo(rest, (size_t)(at - rest), u, err) < 0 ? NULL : at + 1;
}

static int
parse_tcp(const char *rest, struct redis_url *u, kcr_error_t *err)
{
	size_t stop = strcspn(rest, "/?");
	const char *hp = parse_auth_part(rest, stop, u, err), *path, *q;

	if (hp == NULL)
		return -1;
	path = rest + stop;
	q = strchr(path, '?');
	if (parse_hostport(hp, (size_t)(path - hp), u, err) < 0)
		return -1;
	if (*path == '/' && path[1] != '\0' && path + 1 != q &&
	    parse_num(path + 1, (size_t)((q ? q : path + strlen(path)) - path - 1), "db", 1000000,
		      &u->db, err) < 0)
		return -1;
	return parse_query(q ? q + 1 : NULL, u, err);
}

static int
parse_unix(const char *rest, struct redis_url *u, kcr_error_t *err)
{
	const char *p = parse_auth_part(rest, strcspn(rest, "/"), u, err), *q;

	if (p == NULL)
		return -1;
	q = strchr(p, '?');
	u->path = kcr_xstrndup(p, q ? (size_t)(q - p) : strlen(p));
	if (u->path[0] != '/' || u->path[1] == '\0')
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "a unix socket needs an absolute path (unix:///path/to/sock)");
	return parse_query(q ? q + 1 : NULL, u, err);
}

int
redis_url_parse(const char *s, struct redis_url *u, kcr_error_t *err)
{
	int r;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (strncmp(s, "redis://", 8) == 0)
		r = parse_tcp(s + 8, u, err);
	else if (strncmp(s, "unix://", 7) == 0)
		r = parse_unix(s + 7, u, err);
	else if (strncmp(s, "redis+unix://", 13) == 0)
		r = parse_unix(s + 13, u, err);
	else if (strncmp(s, "rediss://", 9) == 0)
		r = kcr_error_set(err, KCR_E_INVALID, 0,
				  "TLS (rediss://) is not supported: hiredis 0.14 has no TLS");
	else /* the URL is not echoed: it may hold a password */
		r = kcr_error_set(err, KCR_E_INVALID, 0,
				  "not a redis URL (redis://[:password@]host[:port][/db] or "
				  "unix:///path/to/socket[?db=N])");
	if (r < 0) {
		redis_url_release(u);
		return kcr_error_wrap(err, "bad redis URL");
	}
	return 0;
}

/* store.redis.url, else host, port, password and db (KubeCodeRun's
 * REDIS_HOST, REDIS_PORT, REDIS_PASSWORD and REDIS_DB). */
static int
url_from_config(const struct kcr_config *cfg, struct redis_url *u, kcr_error_t *err)
{
	const char *url = kcr_config_str(cfg, "store.redis.url");
	const char *host = kcr_config_str(cfg, "store.redis.host");
	const char *password = kcr_config_str(cfg, "store.redis.password");

	if (*url)
		return redis_url_parse(url, u, err) < 0 ? kcr_error_wrap(err, "store.redis.url")
							: 0;
	if (*host == '\0')
		return kcr_error_set(err, KCR_E_INVALID, 0,
				     "store.redis.url and store.redis.host are both empty");
	memset(u, 0, sizeof(*u));
	u->host = kcr_xstrdup(host);
	u->port = (int)kcr_config_int(cfg, "store.redis.port");
	u->password = *password ? kcr_xstrdup(password) : NULL;
	u->db = (int)kcr_config_int(cfg, "store.redis.db");
	return 0;
}

/* ---- the handle and its pool ----------------------------------------------- */

static struct timeval
tv_ms(int64_t ms)
{
	return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
}

int
redis_store_open(struct redis_store **out, const struct kcr_config *cfg, kcr_error_t *err)
{
	struct redis_store *rs = kcr_xzalloc(sizeof(*rs));

	if (url_from_config(cfg, &rs->url, err) < 0) {
		free(rs);
		return -1;
	}
	rs->addr = redis_url_addr(&rs->url);
	rs->prefix = kcr_xstrdup(kcr_config_str(cfg, "store.redis.prefix"));
	rs->connect_tv = tv_ms(kcr_config_int(cfg, "store.redis.connect_timeout_ms"));
	rs->command_tv = tv_ms(kcr_config_int(cfg, "store.redis.command_timeout_ms"));
	rs->max = (size_t)kcr_config_int(cfg, "store.redis.pool_size");
	rs->idle = kcr_xzalloc(rs->max * sizeof(*rs->idle));
	rs->pid = getpid();
	pthread_mutex_init(&rs->lock, NULL);
	pthread_cond_init(&rs->freed, NULL);
	*out = rs;
	return 0;
}

void
redis_store_close(struct redis_store *rs)
{
	if (rs == NULL)
		return;
	for (size_t i = 0; i < rs->n_idle; i++)
		redisFree(rs->idle[i]);
	free(rs->idle);
	pthread_cond_destroy(&rs->freed);
	pthread_mutex_destroy(&rs->lock);
	redis_url_release(&rs->url);
	free(rs->down_error);
	free(rs->addr);
	free(rs->prefix);
	free(rs);
}

/* hiredis writes with write(2): a server that went away would kill the
 * process with SIGPIPE (kcr serve ignores it; a library must not rely on
 * that). Blocked around a command, and a pending one discarded. */
static void
sigpipe_block(sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &s, old);
}

static void
sigpipe_restore(const sigset_t *old)
{
	const struct timespec zero = { 0, 0 };
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	if (!sigismember(old, SIGPIPE))
		while (sigtimedwait(&s, NULL, &zero) > 0)
			;
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* One reply to a handshake command: an error reply fails the connect. */
static int
handshake(struct redis_store *rs, redisContext *c, int argc, const char **argv, kcr_error_t *err)
{
	redisReply *r = redisCommandArgv(c, argc, argv, NULL);
	int ret = 0;

	if (r == NULL)
		return kcr_error_set(err, KCR_E_BACKEND, 0, "redis at %s: %s: %s", rs->addr,
				     argv[0], c->errstr);
	if (r->type == REDIS_REPLY_ERROR)
		ret = kcr_error_set(err, KCR_E_BACKEND, 0, "redis at %s: %s refused: %s", rs->addr,
				    argv[0], r->str);
	freeReplyObject(r);
	return ret;
}

/* A new context, with its timeouts, AUTH and SELECT. */
static redisContext *
conn_new(struct redis_store *rs, kcr_error_t *err)
{
	const struct redis_url *u = &rs->url;
	char db[16];
	const char *auth[] = { "AUTH", u->user ? u->user : u->password, u->password };
	const char *select[] = { "SELECT", db };
	redisContext *c = u->path ? redisConnectUnixWithTimeout(u->path, rs->connect_tv)
				  : redisConnectWithTimeout(u->host, u->port, rs->connect_tv);

	if (c == NULL)
		kcr_oom();
	if (c->err) {
		kcr_error_set(err, KCR_E_BACKEND, 0, "redis at %s: cannot connect: %s", rs->addr,
			      c->errstr);
		goto fail;
	}
	/* hiredis 0.14 does not ask for SOCK_CLOEXEC: no program kcr starts
	 * (a sandbox among them) inherits a connection to Redis */
	if (fcntl(c->fd, F_SETFD, FD_CLOEXEC) < 0) {
		kcr_error_set(err, KCR_E_BACKEND, errno, "redis at %s: FD_CLOEXEC", rs->addr);
		goto fail;
	}
	if (redisSetTimeout(c, rs->command_tv) != REDIS_OK) {
		kcr_error_set(err, KCR_E_BACKEND, 0, "redis at %s: %s", rs->addr, c->errstr);
		goto fail;
	}
	if (u->path == NULL)
		redisEnableKeepAlive(c); /* an idle pooled connection notices a dead peer */
	snprintf(db, sizeof(db), "%d", u->db);
	if ((u->password && handshake(rs, c, u->user ? 3 : 2, auth, err) < 0) ||
	    (u->db != 0 && handshake(rs, c, 2, select, err) < 0))
		goto fail;
	return c;
fail:
	redisFree(c);
	return NULL;
}

/* After a failed connect, ops fail at once with the error that made it
 * until down_until, instead of each waiting out a connect timeout; each
 * failure in a row doubles the wait, up to BACKOFF_MAX_MS, and a connect
 * that works ends it. So a Redis that is away costs a request nothing,
 * and one that is back is used again within BACKOFF_MAX_MS. */
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000

static redisContext *
conn_new_backoff(struct redis_store *rs, kcr_error_t *err)
{
	kcr_error_t e = NULL;
	redisContext *c;
	uint64_t now = kcr_now_ms();

	pthread_mutex_lock(&rs->lock);
	if (now < rs->down_until) {
		kcr_error_set(err, KCR_E_BACKEND, 0, "%s (not tried again for %llu ms)",
			      rs->down_error, (unsigned long long)(rs->down_until - now));
		pthread_mutex_unlock(&rs->lock);
		return NULL;
	}
	pthread_mutex_unlock(&rs->lock);
	c = conn_new(rs, &e);
	pthread_mutex_lock(&rs->lock);
	if (c != NULL) {
		rs->backoff_ms = rs->down_until = 0;
	} else {
		rs->backoff_ms = rs->backoff_ms ? rs->backoff_ms * 2 : BACKOFF_MIN_MS;
		if (rs->backoff_ms > BACKOFF_MAX_MS)
			rs->backoff_ms = BACKOFF_MAX_MS;
		rs->down_until = kcr_now_ms() + rs->backoff_ms;
		free(rs->down_error);
		rs->down_error = kcr_xstrdup(e->msg);
		*err = e;
	}
	pthread_mutex_unlock(&rs->lock);
	return c;
}

/* Frees the idle contexts: after a fork (they are the parent's), or when
 * one of them turned out dead (so are the others, most likely). Called
 * with the lock held. */
static void
pool_flush_locked(struct redis_store *rs)
{
	for (size_t i = 0; i < rs->n_idle; i++)
		redisFree(rs->idle[i]);
	rs->n_open -= rs->n_idle;
	rs->n_idle = 0;
	pthread_cond_broadcast(&rs->freed);
}

/* An idle context (*reused), or a new one while the pool has room, else
 * waits (bounded) for one to come back. */
static redisContext *
pool_take(struct redis_store *rs, bool *reused, kcr_error_t *err)
{
	uint64_t wait_ms = (uint64_t)rs->connect_tv.tv_sec * 1000 + rs->connect_tv.tv_usec / 1000 +
			   (uint64_t)rs->command_tv.tv_sec * 1000 + rs->command_tv.tv_usec / 1000;
	struct timespec until = kcr_timespec_in(CLOCK_REALTIME, wait_ms);
	redisContext *c = NULL;

	pthread_mutex_lock(&rs->lock);
	if (rs->pid != getpid()) { /* a child of fork(): the parent's are not ours */
		rs->pid = getpid();
		rs->n_open = rs->n_idle;
		pool_flush_locked(rs);
	}
	while (rs->n_idle == 0 && rs->n_open >= rs->max)
		if (pthread_cond_timedwait(&rs->freed, &rs->lock, &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&rs->lock);
			kcr_error_set(err, KCR_E_BACKEND, 0,
				      "redis at %s: all %zu connections stayed busy", rs->addr,
				      rs->max);
			return NULL;
		}
	*reused = rs->n_idle > 0;
	if (*reused)
		c = rs->idle[--rs->n_idle];
	else
		rs->n_open++;
	pthread_mutex_unlock(&rs->lock);
	if (c != NULL || (c = conn_new_backoff(rs, err)) != NULL)
		return c;
	pthread_mutex_lock(&rs->lock);
	rs->n_open--;
	pthread_cond_signal(&rs->freed);
	pthread_mutex_unlock(&rs->lock);
	return NULL;
}

static void
pool_give(struct redis_store *rs, redisContext *c)
{
	pthread_mutex_lock(&rs->lock);
	rs->idle[rs->n_idle++] = c;
	pthread_cond_signal(&rs->freed);
	pthread_mutex_unlock(&rs->lock);
}

/* A context that failed is never reused: its stream is out of step. */
static void
pool_drop(struct redis_store *rs, redisContext *c, bool flush_idle)
{
	redisFree(c);
	pthread_mutex_lock(&rs->lock);
	rs->n_open--;
	if (flush_idle)
		pool_flush_locked(rs);
	pthread_cond_signal(&rs->freed);
	pthread_mutex_unlock(&rs->lock);
}

/* ---- commands and scripts -------------------------------------------------- */

void
redis_reply_freep(redisReply **r)
{
	if (*r)
		freeReplyObject(*r);
}

static long
tv_to_ms(struct timeval tv)
{
	return (long)tv.tv_sec * 1000 + (long)tv.tv_usec / 1000;
}

/* The command's reply, error replies included; NULL: no reply. */
static redisReply *
command_raw(struct redis_store *rs, int argc, const char **argv, const size_t *argl,
	    kcr_error_t *err)
{
	for (int attempt = 0;; attempt++) {
		bool reused = false, timeout;
		redisContext *c;
		redisReply *r = NULL;
		sigset_t old;
		int e;

		sigpipe_block(&old); /* a connect's AUTH and SELECT write too */
		c = pool_take(rs, &reused, err);
		if (c != NULL)
			r = redisCommandArgv(c, argc, argv, argl);
		e = errno;
		sigpipe_restore(&old);
		if (c == NULL)
			return NULL;
		if (r != NULL) {
			pool_give(rs, c);
			return r;
		}
		timeout = c->err == REDIS_ERR_IO && (e == EAGAIN || e == EWOULDBLOCK);
		/* an idle connection the server closed (it restarted): once
		 * more on a new one; a timeout may have run, and is not retried */
		if (reused && !timeout && attempt == 0) {
			pool_drop(rs, c, true);
			continue;
		}
		if (timeout)
			kcr_error_set(err, KCR_E_BACKEND, 0,
				      "redis at %s: no answer to %s within %ld ms", rs->addr,
				      argv[0], tv_to_ms(rs->command_tv));
		else
			kcr_error_set(err, KCR_E_BACKEND, 0, "redis at %s: %s: %s", rs->addr,
				      argv[0], c->errstr[0] ? c->errstr : "connection lost");
		pool_drop(rs, c, false);
		return NULL;
	}
}

static redisReply *
no_error_reply(struct redis_store *rs, redisReply *r, kcr_error_t *err)
{
	if (r == NULL || r->type != REDIS_REPLY_ERROR)
		return r;
	kcr_error_set(err, KCR_E_BACKEND, 0, "redis at %s: %s", rs->addr, r->str);
	freeReplyObject(r);
	return NULL;
}

redisReply *
redis_command(struct redis_store *rs, int argc, const char **argv, const size_t *argl,
	      kcr_error_t *err)
{
	return no_error_reply(rs, command_raw(rs, argc, argv, argl, err), err);
}

/* The SHA-1 EVALSHA names a script by. */
static void
sha1_hex(const char *s, char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha1(), NULL);
	for (unsigned int i = 0; i < n && i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

#define SCRIPT_ARGS_MAX 12

redisReply *
redis_script(struct redis_store *rs, const char *src, int argc, const char **argv,
	     const size_t *argl, int nkeys, kcr_error_t *err)
{
	const char *v[SCRIPT_ARGS_MAX + 3] = { "EVALSHA" };
	size_t l[SCRIPT_ARGS_MAX + 3];
	char sha[41] = "", nk[16];
	redisReply *r;

	if (argc > SCRIPT_ARGS_MAX)
		abort(); /* a BUG: the scripts of redis.c take fewer */
	sha1_hex(src, sha);
	snprintf(nk, sizeof(nk), "%d", nkeys);
	v[1] = sha;
	v[2] = nk;
	l[0] = 7;
	l[1] = strlen(sha);
	l[2] = strlen(nk);
	for (int i = 0; i < argc; i++) {
		v[3 + i] = argv[i];
		l[3 + i] = argl ? argl[i] : strlen(argv[i]);
	}
	r = command_raw(rs, argc + 3, v, l, err);
	if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		v[0] = "EVAL";
		l[0] = 4;
		v[1] = src;
		l[1] = strlen(src);
		r = command_raw(rs, argc + 3, v, l, err);
	}
	return no_error_reply(rs, r, err);
}

/* ---- helpers of the ops (redis.c, redis_state.c) -------------------------------- */

char *
redis_key_of(const struct redis_store *rs, const char *kind, const char *id)
{
	return kcr_strdup_printf("%s%s:%s", rs->prefix, kind, id);
}

void
redis_sess_keys_init(struct sess_keys *sk, const struct redis_store *rs, const char *sid)
{
	sk->k[0] = redis_key_of(rs, "session", sid);
	sk->k[1] = redis_key_of(rs, "files", sid);
	sk->k[2] = redis_key_of(rs, "state", sid);
	sk->k[3] = redis_key_of(rs, "stateinfo", sid);
}

void
redis_sess_keys_release(struct sess_keys *sk)
{
	for (size_t i = 0; i < KCR_ARRAY_SIZE(sk->k); i++)
		free(sk->k[i]);
}

int
redis_unexpected(const struct redis_store *rs, const char *what, kcr_error_t *err)
{
	return kcr_error_set(err, KCR_E_BACKEND, 0, "redis at %s: unexpected reply to %s", rs->addr,
			     what);
}

bool
redis_is_str(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

redisReply *
redis_get_value(struct redis_store *rs, const char *key, const char *field, const char *what,
		kcr_error_t *err)
{
	const char *argv[3] = { field ? "HGET" : "GET", key, field };
	redisReply *r = redis_command(rs, field ? 3 : 2, argv, NULL, err);

	if (r == NULL || redis_is_str(r))
		return r;
	if (r->type == REDIS_REPLY_NIL)
		kcr_error_set(err, KCR_E_NOTFOUND, 0, "%s not found", what);
	else
		redis_unexpected(rs, argv[0], err);
	freeReplyObject(r);
	return NULL;
}

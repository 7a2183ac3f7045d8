/* What the files of the redis session store (lib/store/redis*.c) share,
 * and no one else (tests/ aside): the parsed address, the handle with
 * its pool of connections, and running one command or one script. */
#ifndef KCR_REDIS_INTERNAL_H
#define KCR_REDIS_INTERNAL_H

#include "store/store.h"

/* hiredis 0.14's sds.h, which hiredis.h includes, fails our -Werror list
 * (pkg-config gives -I, not -isystem) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wswitch-default"
#include <hiredis.h>
#pragma GCC diagnostic pop
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

/* Where the server is: a host and port, or a unix socket (path set). */
struct redis_url {
	char *host;     /* NULL with a unix socket */
	int port;       /* 6379 unless given */
	char *path;     /* the socket, or NULL */
	char *user;     /* for AUTH user password (Redis 6 ACLs), or NULL */
	char *password; /* NULL: no AUTH */
	int db;         /* SELECT db unless 0 */
};

/* Parses redis://[[user]:password@]host[:port][/db],
 * unix://[[user]:password@]/path[?db=N][&password=P] (or redis+unix://);
 * userinfo is %-decoded; an IPv6 host goes in brackets. Anything else is
 * KCR_E_INVALID saying what is wrong (rediss:// too: no TLS in this
 * build). On failure *u needs no release. */
int redis_url_parse(const char *s, struct redis_url *u, kcr_error_t *err);
void redis_url_release(struct redis_url *u);
/* "host:port" or "unix:/path", for messages: never the password. */
char *redis_url_addr(const struct redis_url *u);

/* The handle. The contexts of hiredis are not thread-safe: each command
 * takes one from the pool (idle), or connects a new one while fewer than
 * max are open, or waits for one to come back. */
struct redis_store {
	struct redis_url url;
	char *addr;                /* redis_url_addr */
	char *prefix;              /* of every key: store.redis.prefix */
	struct timeval connect_tv; /* store.redis.connect_timeout_ms */
	struct timeval command_tv; /* store.redis.command_timeout_ms */
	pid_t pid;                 /* a child of fork() does not use our contexts */

	pthread_mutex_t lock;
	pthread_cond_t freed;
	redisContext **idle;
	size_t n_idle, n_open, max;
	/* after a failed connect: no other until down_until (kcr_now_ms) */
	uint64_t down_until, backoff_ms;
	char *down_error;
};

/* redis_conn.c */
int redis_store_open(struct redis_store **out, const struct kcr_config *cfg, kcr_error_t *err);
void redis_store_close(struct redis_store *rs);
/* Runs one command, argv[i] being argl[i] bytes (binary-safe). A reply
 * is never an error reply: that, and any failure to connect, send or
 * receive, is KCR_E_BACKEND naming the address. A connection that broke
 * while idle (the server restarted) is replaced and the command sent
 * again; one that timed out is dropped, and the error says so. */
redisReply *redis_command(struct redis_store *rs, int argc, const char **argv, const size_t *argl,
			  kcr_error_t *err);
/* Runs a Lua script (EVALSHA, then EVAL when the server does not have it
 * yet): nkeys of argv are keys, the rest arguments. */
redisReply *redis_script(struct redis_store *rs, const char *src, int argc, const char **argv,
			 const size_t *argl, int nkeys, kcr_error_t *err);
void redis_reply_freep(redisReply **r);
#define redis_autoreply __attribute__((cleanup(redis_reply_freep)))

/* How long the records of a session that is not there live. */
#define ORPHAN_TTL_S "86400"

/* "<prefix><kind>:<id>" */
char *redis_key_of(const struct redis_store *rs, const char *kind, const char *id);
/* A session's keys, in the order its scripts take them (KEYS[1..4]):
 * record, file records, state bytes, state record. */
struct sess_keys {
	char *k[4];
};
void redis_sess_keys_init(struct sess_keys *sk, const struct redis_store *rs, const char *sid);
void redis_sess_keys_release(struct sess_keys *sk);
#define sess_autokeys __attribute__((cleanup(redis_sess_keys_release)))
/* KCR_E_BACKEND: "redis at <addr>: unexpected reply to <what>"; -1 */
int redis_unexpected(const struct redis_store *rs, const char *what, kcr_error_t *err);
bool redis_is_str(const redisReply *r);
/* A string value: GET key, or HGET key field (field not NULL); none is
 * KCR_E_NOTFOUND "<what> not found". */
redisReply *redis_get_value(struct redis_store *rs, const char *key, const char *field,
			    const char *what, kcr_error_t *err);

/* redis_state.c: the Python state's ops */
int redis_state_put(void *self, const char *sid, const void *data, size_t len,
		    const struct kcr_state_info *info, kcr_error_t *err);
int redis_state_get(void *self, const char *sid, uint64_t max, char **data, size_t *len,
		    struct kcr_state_info *info, kcr_error_t *err);
int redis_state_delete(void *self, const char *sid, kcr_error_t *err);
int redis_state_info(void *self, const char *sid, struct kcr_state_info *info, kcr_error_t *err);
int redis_state_archive(void *self, const char *sid, const char *hash, kcr_error_t *err);
int redis_state_unarchive(void *self, const char *sid, const void *data, size_t len,
			  const char *hash, kcr_error_t *err);
int redis_states_idle(void *self, double before, size_t max, char ***sids, kcr_error_t *err);
int redis_sessions_list(void *self, size_t max, char ***sids, kcr_error_t *err);

/* redis_scripts.c: the Lua of the ops that must be atomic */
extern const char redis_lua_session_put[];
extern const char redis_lua_session_touch[];
extern const char redis_lua_session_expire[];
extern const char redis_lua_session_delete[];
extern const char redis_lua_file_put[];
extern const char redis_lua_state_put[];
extern const char redis_lua_state_get[];
extern const char redis_lua_state_move[];
extern const char redis_lua_key_put[];
extern const char redis_lua_key_list[];
extern const char redis_lua_key_delete[];
extern const char redis_lua_counter_add[];

#endif

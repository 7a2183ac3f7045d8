/* A redis-server of a test's own: started on a unix socket in a fresh
 * temporary directory (or on a free loopback port), stopped, paused and
 * restarted where it was, so that the store's tests need no Redis of the
 * machine's and can break theirs. */
#ifndef KCR_TEST_REDIS_SERVER_H
#define KCR_TEST_REDIS_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

struct test_redis {
	pid_t pid;      /* 0: not running */
	char dir[64];   /* its socket, log and pid live here */
	char sock[96];  /* the unix socket */
	int port;       /* 0: no TCP */
	char *password; /* NULL: none */
	char url[256];  /* unix:///...sock, or redis://127.0.0.1:port */
};

/* Starts one; tcp: on a free loopback port too (picked by binding port 0,
 * tried again if another process takes it first). 77: no redis-server
 * here; -1: it would not start. */
int test_redis_start(struct test_redis *r, bool tcp, const char *password);
/* Kills it (a paused one too) and removes its directory. */
void test_redis_stop(struct test_redis *r);
/* Kills it, and leaves its directory for test_redis_restart. */
void test_redis_kill(struct test_redis *r);
/* Kills it (if it runs) and starts it again on the same socket and port, empty. */
int test_redis_restart(struct test_redis *r);
/* SIGSTOP and SIGCONT: a server that takes connections and never answers. */
int test_redis_pause(struct test_redis *r);
int test_redis_resume(struct test_redis *r);
/* Runs one command on a connection of its own (after AUTH, with a
 * password): its reply (freeReplyObject), or NULL. */
struct redisReply *test_redis_call(struct test_redis *r, int argc, const char **argv);
/* Runs a command without arguments ("FLUSHALL"); 0 when it answered
 * without an error. */
int test_redis_cmd(struct test_redis *r, const char *cmd);

#endif

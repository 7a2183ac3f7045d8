/* A redis-server of a test's own (redis_server.h). */
#include <config.h>

#include "redis_server.h"
#include "base/files.h"
#include "store/redis-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A port nobody listens on now (it may be taken before redis binds it:
 * the caller tries again). */
static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &n) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void
exec_server(const struct test_redis *r)
{
	char port[16], log[128];
	const char *argv[24];
	int i = 0, fd;

	snprintf(port, sizeof(port), "%d", r->port);
	snprintf(log, sizeof(log), "%s/log", r->dir);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	argv[i++] = "redis-server";
	argv[i++] = "--port";
	argv[i++] = port;
	argv[i++] = "--bind";
	argv[i++] = "127.0.0.1";
	argv[i++] = "--unixsocket";
	argv[i++] = r->sock;
	argv[i++] = "--unixsocketperm";
	argv[i++] = "700";
	argv[i++] = "--save";
	argv[i++] = "";
	argv[i++] = "--appendonly";
	argv[i++] = "no";
	argv[i++] = "--dir";
	argv[i++] = r->dir;
	if (r->password) {
		argv[i++] = "--requirepass";
		argv[i++] = r->password;
	}
	argv[i] = NULL;
	execvp("redis-server", (char **)argv);
}

/* Running, not a zombie (init may be slow to reap, or not reap at all). */
static bool
alive(pid_t pid)
{
	char path[64], buf[256], *paren;
	kcr_autofclose FILE *f = NULL;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL || fgets(buf, sizeof(buf), f) == NULL)
		return false;
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

static redisContext *
connect_unix(const struct test_redis *r)
{
	redisContext *c = redisConnectUnixWithTimeout(r->sock, (struct timeval){ 1, 0 });

	if (c && c->err) {
		redisFree(c);
		return NULL;
	}
	if (c)
		redisSetTimeout(c, (struct timeval){ 5, 0 });
	return c;
}

/* Up when it answers PING (NOAUTH is an answer too). -1: it exited, or
 * did not answer within 10 s. */
static int
wait_up(struct test_redis *r)
{
	for (int i = 0; i < 200; i++) {
		redisContext *c = connect_unix(r);

		if (c) {
			redisReply *rep = redisCommand(c, "PING");
			bool ok = rep != NULL;

			if (rep)
				freeReplyObject(rep);
			redisFree(c);
			if (ok)
				return 0;
		}
		if (!alive(r->pid)) {
			r->pid = 0;
			return -1;
		}
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
	}
	return -1;
}

/* The server is a grandchild, adopted by init: not a child the tests'
 * wait(2) would wait for. A pipe brings back its pid, then closes at its
 * exec; an errno after the pid means the exec failed. */
static int
spawn(struct test_redis *r)
{
	int p[2], e = 0;
	pid_t mid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	mid = fork();
	if (mid == 0) {
		pid_t pid = fork();

		if (pid == 0) {
			setsid();
			exec_server(r);
			e = errno;
			(void)!write(p[1], &e, sizeof(e));
			_exit(127);
		}
		_exit(write(p[1], &pid, sizeof(pid)) == sizeof(pid) ? 0 : 1);
	}
	close(p[1]);
	if (mid < 0 || waitpid(mid, NULL, 0) != mid ||
	    read(p[0], &r->pid, sizeof(r->pid)) != sizeof(r->pid)) {
		close(p[0]);
		r->pid = 0;
		return -1;
	}
	if (read(p[0], &e, sizeof(e)) == sizeof(e)) { /* no redis-server here */
		close(p[0]);
		r->pid = 0;
		return 77;
	}
	close(p[0]);
	return wait_up(r);
}

static void
kill_server(struct test_redis *r)
{
	if (r->pid <= 0)
		return;
	kill(r->pid, SIGKILL);
	for (int i = 0; i < 200 && alive(r->pid); i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	r->pid = 0;
	unlink(r->sock);
}

int
test_redis_start(struct test_redis *r, bool tcp, const char *password)
{
	int ret = -1;

	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "/tmp/kcr-test-redis.XXXXXX");
	if (mkdtemp(r->dir) == NULL)
		return -1;
	snprintf(r->sock, sizeof(r->sock), "%s/sock", r->dir);
	r->password = password ? strdup(password) : NULL;
	for (int attempt = 0; attempt < 5; attempt++) {
		r->port = tcp ? free_port() : 0;
		if (tcp && r->port <= 0)
			break;
		ret = spawn(r);
		if (ret != -1)
			break;
		kill_server(r); /* the port was taken meanwhile: another one */
	}
	if (ret != 0) {
		test_redis_stop(r);
		return ret;
	}
	if (tcp)
		snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
	else
		snprintf(r->url, sizeof(r->url), "unix://%s", r->sock);
	return 0;
}

void
test_redis_stop(struct test_redis *r)
{
	if (r->pid > 0)
		kill(r->pid, SIGCONT);
	kill_server(r);
	if (r->dir[0])
		kcr_rm_rf(r->dir);
	r->dir[0] = '\0';
	free(r->password);
	r->password = NULL;
}

void
test_redis_kill(struct test_redis *r)
{
	kill_server(r);
}

int
test_redis_restart(struct test_redis *r)
{
	kill_server(r);
	return spawn(r);
}

int
test_redis_pause(struct test_redis *r)
{
	return kill(r->pid, SIGSTOP);
}

int
test_redis_resume(struct test_redis *r)
{
	return kill(r->pid, SIGCONT);
}

redisReply *
test_redis_call(struct test_redis *r, int argc, const char **argv)
{
	redisContext *c = connect_unix(r);
	redisReply *rep = NULL;

	if (c == NULL)
		return NULL;
	if (r->password)
		rep = redisCommand(c, "AUTH %s", r->password);
	if (rep)
		freeReplyObject(rep);
	rep = redisCommandArgv(c, argc, argv, NULL);
	redisFree(c);
	return rep;
}

int
test_redis_cmd(struct test_redis *r, const char *cmd)
{
	redisReply *rep = test_redis_call(r, 1, &cmd);
	int ret = rep && rep->type != REDIS_REPLY_ERROR ? 0 : -1;

	if (rep)
		freeReplyObject(rep);
	return ret;
}

/* Servers the unit tests start (s3rver, the fault servers, the Kubernetes
 * API simulator): a program in a process group of its own, not our child
 * (a test that waits for any child must not wait for it), its stdout and
 * stderr in <dir>/log, ready once it prints a line that starts with a
 * marker and ends with its port. */
#ifndef KCR_TEST_SERVERS_H
#define KCR_TEST_SERVERS_H

#include <sys/types.h>

struct test_server {
	pid_t pid; /* -1: not running */
	int port;
	char dir[64]; /* its data and its log (the caller makes it) */
	char url[64]; /* "http://127.0.0.1:PORT" */
};

/* Runs argv and waits up to 20 s for the marker line; -1 when it exits
 * first (its log goes to stderr) or never says it. marker NULL: ready
 * once it runs (the port is the caller's to find). */
int test_server_spawn(struct test_server *s, char *const argv[], const char *marker);
/* Kills its process group and waits until it is gone. */
void test_server_stop(struct test_server *s);

#endif

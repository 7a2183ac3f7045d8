/* Servers the unit tests start (servers.h). */
#include <config.h>

#include "base/files.h"
#include "base/util.h"
#include "servers.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void
test_server_stop(struct test_server *s)
{
	/* init reaps it; wait until it is gone and its port is free */
	if (s->pid > 0 && kill(-s->pid, SIGKILL) == 0)
		for (int i = 0; i < 200 && kill(s->pid, 0) == 0; i++)
			nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	s->pid = -1;
}

/* Forks twice: the server is our grandchild, its pid comes back on a pipe. */
static pid_t
start(char *const argv[], const char *log)
{
	int pfd[2];
	pid_t mid, pid = -1;

	if (pipe(pfd) < 0)
		return -1;
	fflush(NULL); /* nothing buffered to print twice */
	mid = fork();
	if (mid == 0) {
		pid_t p = fork();

		if (p == 0) {
			int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			setpgid(0, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			execv(argv[0], argv);
			_exit(127);
		}
		(void)!write(pfd[1], &p, sizeof(p));
		_exit(0);
	}
	close(pfd[1]);
	if (mid < 0 || read(pfd[0], &pid, sizeof(pid)) != sizeof(pid))
		pid = -1;
	close(pfd[0]);
	if (mid > 0)
		waitpid(mid, NULL, 0);
	return pid;
}

int
test_server_spawn(struct test_server *s, char *const argv[], const char *marker)
{
	kcr_autofree char *log = kcr_strdup_printf("%s/log", s->dir);

	unlink(log);
	s->pid = start(argv, log);
	if (marker == NULL)
		return s->pid > 0 ? 0 : -1;
	for (int i = 0; s->pid > 0 && i < 400; i++) {
		kcr_autofree char *text = NULL;
		size_t len;
		char *m;

		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
		if (kcr_read_file(log, 1 << 20, &text, &len, NULL) < 0)
			continue;
		if ((m = strstr(text, marker)) != NULL && strchr(m, '\n')) {
			*strchr(m, '\n') = '\0';
			s->port = strrchr(m, ':') ? atoi(strrchr(m, ':') + 1) : 0;
			snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
			return s->port > 0 ? 0 : -1;
		}
		if (kill(s->pid, 0) < 0) {
			s->pid = -1;
			fprintf(stderr, "# %s exited:\n%s\n", argv[0], text);
		}
	}
	test_server_stop(s);
	return -1;
}

/* Test servers for the s3 file store (s3_servers.h). */
#include <config.h>

#include "base/files.h"
#include "base/util.h"
#include "s3_servers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct server {
	pid_t pid;
	int port;
	char dir[64]; /* its data and its log */
	char url[64];
};

static struct server s3rver = { .pid = -1 }, fault = { .pid = -1 };

static void
stop(struct server *s)
{
	/* init reaps it; wait until it is gone and its port is free */
	if (s->pid > 0 && kill(-s->pid, SIGKILL) == 0)
		for (int i = 0; i < 200 && kill(s->pid, 0) == 0; i++)
			nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	s->pid = -1;
}

static void
cleanup(void)
{
	stop(&s3rver);
	stop(&fault);
	if (s3rver.dir[0])
		kcr_rm_rf(s3rver.dir);
	if (fault.dir[0])
		kcr_rm_rf(fault.dir);
}

/* Runs argv in a process group of its own, stdout and stderr to
 * <dir>/log, and waits up to 20 s for a line that starts with marker and
 * ends with the port. */
static int
spawn(struct server *s, char *const argv[], const char *marker)
{
	kcr_autofree char *log = kcr_strdup_printf("%s/log", s->dir);

	int pfd[2];
	pid_t mid;

	unlink(log);
	/* not our child but our grandchild: a check that waits for any
	 * child (wait(2)) must not wait for the server */
	if (pipe(pfd) < 0)
		return -1;
	fflush(NULL); /* nothing buffered to print twice */
	mid = fork();
	if (mid == 0) {
		pid_t pid = fork();

		if (pid == 0) {
			int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			setpgid(0, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			execv(argv[0], argv);
			_exit(127);
		}
		(void)!write(pfd[1], &pid, sizeof(pid));
		_exit(0);
	}
	close(pfd[1]);
	if (mid < 0 || read(pfd[0], &s->pid, sizeof(s->pid)) != sizeof(s->pid))
		s->pid = -1;
	close(pfd[0]);
	if (mid > 0)
		waitpid(mid, NULL, 0);
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
	stop(s);
	return -1;
}

static int
s3rver_start(int port)
{
	char p[16];
	const char *bin = getenv("KCR_S3RVER") ? getenv("KCR_S3RVER") : "/usr/bin/s3rver";
	kcr_autofree char *data = kcr_strdup_printf("%s/data", s3rver.dir);
	char *const argv[] = { "/usr/bin/node", (char *)bin, "-s", "-d", data, "-a",
			       "127.0.0.1",     "-p",        p,    NULL };

	snprintf(p, sizeof(p), "%d", port);
	mkdir(data, 0700);
	return spawn(&s3rver, argv, "S3rver listening on ");
}

const char *
s3t_s3rver(void)
{
	static bool tried;
	const char *bin = getenv("KCR_S3RVER") ? getenv("KCR_S3RVER") : "/usr/bin/s3rver";

	if (s3rver.pid > 0)
		return s3rver.url;
	if (tried || access(bin, R_OK) != 0 || access("/usr/bin/node", X_OK) != 0)
		return NULL;
	tried = true;
	strcpy(s3rver.dir, "/tmp/kcr-test-s3rver.XXXXXX");
	if (mkdtemp(s3rver.dir) == NULL)
		return NULL;
	atexit(cleanup);
	return s3rver_start(0) == 0 ? s3rver.url : NULL;
}

void
s3t_s3rver_stop(void)
{
	stop(&s3rver);
}

int
s3t_s3rver_restart(void)
{
	stop(&s3rver);
	return s3rver_start(s3rver.port);
}

const char *
s3t_fault_server(void)
{
	const char *srcdir = getenv("KCR_SRCDIR") ? getenv("KCR_SRCDIR") : ".";
	kcr_autofree char *script = kcr_strdup_printf("%s/tests/unit/s3_fault.py", srcdir);
	char *const argv[] = { "/usr/bin/python3", script, NULL };

	if (fault.pid > 0)
		return fault.url;
	if (access(argv[0], X_OK) != 0 || access(script, R_OK) != 0)
		return NULL;
	strcpy(fault.dir, "/tmp/kcr-test-s3fault.XXXXXX");
	if (mkdtemp(fault.dir) == NULL)
		return NULL;
	if (s3rver.dir[0] == '\0')
		atexit(cleanup);
	return spawn(&fault, argv, "listening on ") == 0 ? fault.url : NULL;
}

int
s3t_configure(struct kcr_config *cfg, const char *endpoint, const char *bucket)
{
	static int n;
	kcr_autofree char *fresh = kcr_strdup_printf("kcr-test-%d-%d", (int)getpid(), ++n);
	const char *set[][2] = {
		{ "store.s3.endpoint", endpoint },
		{ "store.s3.access_key", "S3RVER" },
		{ "store.s3.secret_key", "S3RVER" },
		{ "store.s3.bucket", bucket ? bucket : fresh },
		{ "store.s3.create_bucket", bucket ? "false" : "true" },
		{ "store.s3.multipart_threshold_mb", "5" },
		{ "store.s3.part_size_mb", "5" },
		{ "store.s3.timeout_ms", "2000" },
	};

	for (size_t i = 0; i < KCR_ARRAY_SIZE(set); i++)
		if (kcr_config_set(cfg, set[i][0], set[i][1], KCR_SRC_FLAG, NULL) < 0)
			return -1;
	return 0;
}

/* kcr images build's run: the runner image first (every language image
 * copies it), then the languages' images, --jobs at a time, each engine's
 * output through a pipe into its log, where its step is read for the
 * progress line; then, only when every image built, the pushes. */
#include <config.h>

#include "images.h"
#include "base/clock.h"
#include "base/files.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* One engine process being read. */
struct child {
	struct kcr_image_job *job;
	pid_t pid;
	int fd;  /* its stdout and stderr */
	int log; /* job->log */
	char line[512];
	size_t len;
	char last[256]; /* its last non-empty line: the error */
};

/* Starts argv with stdout and stderr on a pipe; returns the read end. */
static int
spawn_piped(char *const argv[], pid_t *pid, kcr_error_t *err)
{
	posix_spawn_file_actions_t fa;
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	rc = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		return kcr_error_set(err, KCR_E_NOTFOUND, rc, "cannot run %s", argv[0]);
	}
	return p[0];
}

static int
wait_exit(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 125;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

char *
kcr_images_capture(char *const argv[])
{
	kcr_error_t err = NULL;
	kcr_autoclose int fd = -1;
	char *out = NULL;
	size_t len = 0;
	pid_t pid;

	fd = spawn_piped(argv, &pid, &err);
	if (fd < 0) {
		kcr_error_free(err);
		return NULL;
	}
	if (kcr_read_fd(fd, 64 * 1024, &out, &len, &err) < 0) {
		kcr_error_free(err);
		out = NULL;
	}
	if (wait_exit(pid) != 0 || out == NULL) {
		free(out);
		return NULL;
	}
	while (len && (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' '))
		out[--len] = '\0';
	/* only the last line: engines may print warnings before it */
	char *nl = strrchr(out, '\n');
	if (nl)
		memmove(out, nl + 1, strlen(nl + 1) + 1);
	return out;
}

void
kcr_images_format_size(uint64_t bytes, char *out, size_t n)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes == 0) {
		snprintf(out, n, "-");
		return;
	}
	while (v >= 1000 && u + 1 < KCR_ARRAY_SIZE(units)) {
		v /= 1000; /* what the engines print: SI units */
		u++;
	}
	snprintf(out, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void
kcr_images_format_ms(uint64_t ms, char *out, size_t n)
{
	/* a day at most: past that, the engine hangs and the count is moot */
	unsigned int s = (unsigned int)((ms > 86400000 ? 86400000 : ms + 500) / 1000);

	if (s < 60)
		snprintf(out, n, "%us", s);
	else
		snprintf(out, n, "%um%02us", s / 60, s % 60);
}

/* "STEP 3/7: RUN ..." (podman, buildah) or "#8 [build 3/5] RUN ..." (docker). */
static bool
parse_step(const char *line, char *step, size_t n)
{
	const char *p = strstr(line, "STEP ");
	unsigned int a, b;

	if (p && sscanf(p + 5, "%u/%u", &a, &b) == 2) {
		snprintf(step, n, "%u/%u", a, b);
		return true;
	}
	if (line[0] == '#' && (p = strchr(line, '[')) && (p = strchr(p, ']'))) {
		while (p > line && p[-1] != ' ' && p[-1] != '[')
			p--;
		if (sscanf(p, "%u/%u]", &a, &b) == 2) {
			snprintf(step, n, "%u/%u", a, b);
			return true;
		}
	}
	return false;
}

static void
progress_line(FILE *f, const struct kcr_image_job *j, const char *what)
{
	char t[16];

	if (f == NULL)
		return;
	kcr_images_format_ms(kcr_now_ms() - j->started_ms, t, sizeof(t));
	fprintf(f, "%-12s %-28s %6s  %s\n", j->lang, what, t, j->ref);
	fflush(f);
}

static void
on_line(struct child *c, FILE *progress)
{
	char step[32], what[48];

	c->line[c->len] = '\0';
	c->len = 0;
	while (*c->line && strchr("\r\n", c->line[strlen(c->line) - 1]))
		c->line[strlen(c->line) - 1] = '\0';
	if (*c->line) {
		size_t n = strnlen(c->line, sizeof(c->last) - 1);

		memcpy(c->last, c->line, n);
		c->last[n] = '\0';
	}
	if (parse_step(c->line, step, sizeof(step)) && strcmp(step, c->job->step) != 0) {
		snprintf(c->job->step, sizeof(c->job->step), "%s", step);
		snprintf(what, sizeof(what), "step %s", step);
		progress_line(progress, c->job, what);
	}
}

/* Reads what is there; returns false at the end of the output. */
static bool
read_child(struct child *c, FILE *progress)
{
	char buf[4096];
	ssize_t r = read(c->fd, buf, sizeof(buf));

	if (r < 0 && errno == EINTR)
		return true;
	if (r <= 0)
		return false;
	if (c->log >= 0)
		kcr_write_all(c->log, buf, (size_t)r);
	for (ssize_t i = 0; i < r; i++) {
		if (c->len < sizeof(c->line) - 1)
			c->line[c->len++] = buf[i];
		if (buf[i] == '\n')
			on_line(c, progress);
	}
	return true;
}

static int
start_child(struct child *c, struct kcr_image_job *j, char *const argv[], FILE *progress,
	    kcr_error_t *err)
{
	memset(c, 0, sizeof(*c));
	c->job = j;
	c->log = open(j->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	j->started_ms = kcr_now_ms();
	c->fd = spawn_piped(argv, &c->pid, err);
	if (c->fd < 0) {
		if (c->log >= 0)
			close(c->log);
		return -1;
	}
	progress_line(progress, j, argv == j->push ? "pushing" : "building");
	return 0;
}

/* The size the engine reports for an image it built (bytes), or 0. */
static uint64_t
image_size(const char *engine, const char *ref)
{
	/* buildah reports no size; podman, when there, shares its storage */
	const char *tool = strcmp(engine, "buildah") == 0 ? "podman" : engine;
	char *argv[] = { (char *)tool, "image",     "inspect", "--format",
			 "{{.Size}}",  (char *)ref, NULL };
	kcr_autofree char *out = NULL;

	if (!kcr_images_on_path(tool))
		return 0;
	out = kcr_images_capture(argv);
	return out ? strtoull(out, NULL, 10) : 0;
}

static void
finish_child(struct child *c, const char *engine, bool pushing, FILE *progress)
{
	struct kcr_image_job *j = c->job;
	char what[48], size[16];

	close(c->fd);
	if (c->len)
		on_line(c, progress);
	if (c->log >= 0)
		close(c->log);
	j->exit_code = wait_exit(c->pid);
	if (!pushing) /* the summary's time is the build's */
		j->ms = kcr_now_ms() - j->started_ms;
	j->ok = j->exit_code == 0;
	j->done = true;
	if (!j->ok) {
		free(j->error);
		j->error = kcr_strdup_printf(
			"%s %s failed (%s exit %d): %s; log: %s", pushing ? "pushing" : "building",
			j->ref, engine, j->exit_code, *c->last ? c->last : "no output", j->log);
		progress_line(progress, j, "FAILED");
		return;
	}
	if (!pushing)
		j->size = image_size(engine, j->ref);
	kcr_images_format_size(j->size, size, sizeof(size));
	snprintf(what, sizeof(what), pushing ? "pushed" : "built %s", size);
	progress_line(progress, j, what);
}

/* Runs jobs [from, to) at most `jobs` at a time: their build commands, or
 * their push commands. */
static void
run_batch(struct kcr_images_plan *p, size_t from, size_t to, unsigned int jobs, bool pushing,
	  FILE *progress)
{
	struct child *cs = kcr_xmalloc(sizeof(*cs) * (jobs ? jobs : 1));
	struct pollfd *pfd = kcr_xmalloc(sizeof(*pfd) * (jobs ? jobs : 1));
	size_t next = from, running = 0;

	while (next < to || running) {
		while (next < to && running < jobs) {
			struct kcr_image_job *j = &p->jobs[next++];
			kcr_error_t err = NULL;

			if (start_child(&cs[running], j, pushing ? j->push : j->build, progress,
					&err) == 0) {
				running++;
				continue;
			}
			j->done = true;
			j->error = kcr_strdup_printf("%s: %s", j->ref, err->msg);
			kcr_error_free(err);
		}
		for (size_t i = 0; i < running; i++)
			pfd[i] = (struct pollfd){ .fd = cs[i].fd, .events = POLLIN };
		if (running && poll(pfd, running, -1) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < running; i++) {
			if (!pfd[i].revents || read_child(&cs[i], progress))
				continue;
			finish_child(&cs[i], p->engine, pushing, progress);
			cs[i] = cs[--running];
			pfd[i] = pfd[running];
			i--;
		}
	}
	free(cs);
	free(pfd);
}

/* What a push reported: the digest file of podman and buildah, docker's
 * "digest: sha256:..." line. */
static char *
push_digest(const struct kcr_images_plan *p, const struct kcr_image_job *j)
{
	kcr_autofree char *path = NULL, *text = NULL;
	size_t len = 0;
	kcr_error_t err = NULL;
	const char *d;

	if (strcmp(p->engine, "docker") == 0)
		path = kcr_xstrdup(j->log);
	else
		path = kcr_strdup_printf("%s/%s.digest", p->log_dir, j->lang);
	if (kcr_read_file(path, 1 << 20, &text, &len, &err) < 0) {
		kcr_error_free(err);
		return NULL;
	}
	d = strstr(text, strcmp(p->engine, "docker") == 0 ? "digest: sha256:" : "sha256:");
	if (d && *d == 'd')
		d += strlen("digest: ");
	return d ? kcr_xstrndup(d, strspn(d + 7, "0123456789abcdef") + 7) : NULL;
}

static size_t
count_failed(const struct kcr_images_plan *p)
{
	size_t failed = 0;

	for (size_t i = 0; i < p->n; i++)
		failed += !p->jobs[i].ok;
	return failed;
}

int
kcr_images_run(struct kcr_images_plan *p, const struct kcr_images_opts *o, FILE *progress,
	       kcr_error_t *err)
{
	bool runner = p->n && strcmp(p->jobs[0].lang, "kcr-runner") == 0;
	size_t first = runner ? 1 : 0;

	if (p->n == 0)
		return kcr_error_set(err, KCR_E_INVALID, 0, "no images to build");
	if (runner)
		run_batch(p, 0, 1, 1, false, progress);
	if (runner && !p->jobs[0].ok) {
		for (size_t i = 1; i < p->n; i++)
			p->jobs[i].error = kcr_strdup_printf("%s not built: the kcr-runner image, "
							     "built first, failed",
							     p->jobs[i].ref);
		return (int)count_failed(p);
	}
	run_batch(p, first, p->n, o->jobs ? o->jobs : 1, false, progress);
	/* all or nothing: a registry never holds half a release */
	if (!o->push || count_failed(p))
		return (int)count_failed(p);
	run_batch(p, 0, p->n, 1, true, progress);
	for (size_t i = 0; i < p->n; i++)
		if (p->jobs[i].ok)
			p->jobs[i].digest = push_digest(p, &p->jobs[i]);
	return (int)count_failed(p);
}

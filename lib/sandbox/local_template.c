/* The local provider's runner template (lib/runner/template.h): one
 * started kcr-runner, kcr's child, that each sandbox's runner is cloned
 * from instead of executed. Best effort: when it cannot be started or
 * breaks, sandboxes are made the way it replaces (local_clone.c), and
 * kcr says so once. */
#include <config.h>

#include "base/log.h"
#include "base/util.h"
#include "runner/template.h"
#include "sandbox/local-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* an answer takes a clone3: ~1 ms */
#define TEMPLATE_TIMEOUT_S 5

/* ThreadSanitizer's runtime keeps a thread of its own in the template,
 * and valgrind can't run a general clone: those execute. (The template
 * checks that it has one thread too.) */
static bool
template_supported(void)
{
#if defined(__SANITIZE_THREAD__)
	return false;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	return false;
#else
	return !local_on_valgrind();
#endif
#else
	return !local_on_valgrind();
#endif
}

void
local_template_init(struct local *lp)
{
	lp->tpl_ctl = -1;
	pthread_mutex_init(&lp->tpl_lock, NULL);
}

/* Called once, by prepare_many(), before any create(): no lock. */
void
local_template_start(struct local *lp, char **envp)
{
	char *argv[] = { "kcr-runner", "--template", NULL };
	struct timeval timeout = { .tv_sec = TEMPLATE_TIMEOUT_S };
	posix_spawn_file_actions_t fa;
	kcr_autostrv char **env = NULL;
	int sv[2];
	pid_t pid;
	int r;

	if (!lp->use_template || lp->tpl_tried || !template_supported())
		return;
	lp->tpl_tried = true;
	/* every symbol of every library bound once, here: bound lazily, each
	 * clone looked up what it called first (ld.so in runners: 2 % of all
	 * samples in kcr bench bash, 0.2 % bound here). The clones' environment
	 * is the one each request sends, without it. */
	env = kcr_strv_dup(envp);
	kcr_strv_push(&env, "LD_BIND_NOW=1");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		goto fail;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3); /* TEMPLATE_CTL_FD */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	r = posix_spawn(&pid, lp->runner, &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (r != 0) {
		close(sv[0]);
		errno = r;
		goto fail;
	}
	lp->tpl_ctl = sv[0];
	lp->tpl_pid = pid;
	/* a template that hangs (stopped, say) must not hang every sandbox */
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	return;
fail:
	kcr_log_warn("cannot start kcr-runner --template (%s): each sandbox executes kcr-runner",
		     strerror(errno));
}

/* The template is gone or broken: sandboxes execute kcr-runner from now
 * on. Called locked. */
static void
template_lost(struct local *lp, const char *why, int e)
{
	kcr_log_warn("kcr-runner --template: %s (%s); each sandbox now executes kcr-runner", why,
		     strerror(e));
	close(lp->tpl_ctl);
	lp->tpl_ctl = -1;
}

static void
add_fd(struct kcr_template_req *q, int *fds, int fd, int at)
{
	fds[q->n_fds] = fd;
	q->fd_at[q->n_fds++] = at;
}

static bool
add_strings(struct kcr_template_req *q, char **v, uint32_t *count)
{
	for (; v && *v; v++, (*count)++) {
		size_t n = strlen(*v) + 1;

		if (q->str_len + n > sizeof(q->str))
			return false;
		memcpy(q->str + q->str_len, *v, n);
		q->str_len += (uint32_t)n;
	}
	return true;
}

/* The request for a's sandbox: what local_clone.c's child would do with
 * the same descriptors. */
static bool
make_req(struct kcr_template_req *q, int *fds, const struct child_args *a, int cgfd)
{
	*q = (struct kcr_template_req){ .clone_flags = SANDBOX_FLAGS,
					.report_at = ERROR_FD,
					.nice = SANDBOX_NICE,
					.setgroups = a->setgroups };

	add_fd(q, fds, a->sync_r, KCR_TEMPLATE_SYNC);
	add_fd(q, fds, a->err_w, ERROR_FD);
	add_fd(q, fds, a->lfd, LISTEN_FD);
	add_fd(q, fds, a->nul, STDIN_FILENO);
	add_fd(q, fds, a->nul, STDOUT_FILENO);
	if (a->seccomp >= 0)
		add_fd(q, fds, a->seccomp, SECCOMP_FD);
	if (a->chan >= 0)
		add_fd(q, fds, a->chan, CHANNEL_FD);
	for (int i = 0; i < a->n_cg_tasks; i++)
		add_fd(q, fds, a->cg_tasks[i], KCR_TEMPLATE_JOIN);
	if (cgfd >= 0)
		add_fd(q, fds, cgfd, KCR_TEMPLATE_CGROUP);
	return add_strings(q, a->argv, &q->argc) && add_strings(q, a->envp, &q->envc);
}

static int
send_req(int ctl, const struct kcr_template_req *q, const int *fds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * KCR_TEMPLATE_FDS_MAX)] = { 0 };
	struct iovec iov = { .iov_base = (void *)q, .iov_len = KCR_TEMPLATE_REQ_HEAD + q->str_len };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = CMSG_SPACE(sizeof(int) * q->n_fds) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	ssize_t n;

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * q->n_fds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * q->n_fds);
	do
		n = sendmsg(ctl, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)iov.iov_len ? 0 : -1;
}

static int
recv_reply(int ctl, struct kcr_template_reply *rep)
{
	ssize_t n;

	do
		n = recv(ctl, rep, sizeof(*rep), 0);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(*rep))
		return 0;
	if (n >= 0)
		errno = n == 0 ? EPIPE : EBADMSG;
	return -1;
}

long
local_template_clone(struct local *lp, const struct child_args *a, int cgfd, bool *in_cg)
{
	struct kcr_template_req q;
	struct kcr_template_reply rep;
	int fds[KCR_TEMPLATE_FDS_MAX];
	long pid = LOCAL_NO_TEMPLATE;

	*in_cg = false;
	if (!make_req(&q, fds, a, cgfd))
		return LOCAL_NO_TEMPLATE; /* too long an argv: execute */
	pthread_mutex_lock(&lp->tpl_lock);
	if (lp->tpl_ctl < 0)
		goto out;
	if (send_req(lp->tpl_ctl, &q, fds) < 0) {
		template_lost(lp, "cannot send it a request", errno);
		goto out;
	}
	if (recv_reply(lp->tpl_ctl, &rep) < 0) {
		template_lost(lp, "no answer", errno);
		goto out;
	}
	if (rep.pid == -EBADMSG) {
		template_lost(lp, "it refused a request", EBADMSG);
		goto out;
	}
	*in_cg = rep.in_cg != 0;
	pid = rep.pid > 0 ? (long)rep.pid : -1;
	errno = rep.pid > 0 ? 0 : (int)-rep.pid;
out:
	pthread_mutex_unlock(&lp->tpl_lock);
	return pid;
}

void
local_template_stop(struct local *lp)
{
	if (lp->tpl_ctl >= 0) {
		close(lp->tpl_ctl); /* it exits at EOF */
		lp->tpl_ctl = -1;
	}
	if (lp->tpl_pid > 0) {
		while (waitpid(lp->tpl_pid, NULL, 0) < 0 && errno == EINTR)
			;
		lp->tpl_pid = 0;
	}
	pthread_mutex_destroy(&lp->tpl_lock);
}

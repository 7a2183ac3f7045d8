/* The runner client against runners that misbehave: a runner that never
 * answers, or answers a byte at a time, costs a bounded wait (the client's
 * timeout), never a thread of kcr's for good. */
#include <config.h>

#include "base/clock.h"
#include "base/util.h"
#include "sandbox/runner_client.h"
#include "tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define TIMEOUT_MS 300

struct peer {
	int lfd;
	bool trickle; /* one byte of a never-ending header every 50 ms */
};

/* Accepts one connection, reads the request, then stalls or trickles
 * until the client hangs up. */
static void *
peer_main(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->lfd, NULL, NULL);
	char buf[4096];

	if (fd < 0)
		return NULL;
	if (read(fd, buf, sizeof(buf)) < 0) {
		/* the client went away */
	}
	for (int i = 0; i < 400; i++) {
		if (p->trickle && send(fd, "H", 1, MSG_NOSIGNAL) < 0)
			break;
		usleep(50 * 1000);
		if (!p->trickle && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) == 0)
			break;
	}
	close(fd);
	return NULL;
}

static int
listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		return -1;
	return fd;
}

/* One call to a misbehaving peer: KCR_E_TIMEOUT, within a few timeouts
 * (a loaded machine is slow, but nowhere near the peer's 20 s). */
static int
stalled_call(bool trickle, bool execute)
{
	char path[64];
	struct peer p = { .trickle = trickle };
	pthread_t t;
	kcr_error_t err = NULL;
	kcr_autofree char *ep = NULL;
	uint64_t t0;
	int r;

	snprintf(path, sizeof(path), "/tmp/kcr-test-rc-%d.sock", (int)getpid());
	TAP_ASSERT((p.lfd = listen_at(path)) >= 0);
	ep = kcr_strdup_printf("unix:%s", path);
	TAP_ASSERT(pthread_create(&t, NULL, peer_main, &p) == 0);
	t0 = kcr_now_ms();
	if (execute) {
		struct kcr_exec_request req = { .lang = kcr_lang_find("py"),
						.code = "pass",
						.code_len = 4,
						.limits = { .timeout_ms = 200 } };
		struct kcr_exec_result res = { 0 };

		r = kcr_runner_execute(ep, &req, &res, &err);
		kcr_exec_result_release(&res);
	} else {
		r = kcr_runner_health(ep, &err);
	}
	TAP_ASSERT(r < 0 && err && err->code == KCR_E_TIMEOUT);
	TAP_ASSERT(kcr_now_ms() - t0 < 10 * TIMEOUT_MS + 2000);
	/* an execution waits for its own timeout first */
	TAP_ASSERT(!execute || kcr_now_ms() - t0 >= 200 + TIMEOUT_MS);
	kcr_error_release(&err);
	pthread_join(t, NULL);
	close(p.lfd);
	unlink(path);
	return 0;
}

static int
test_silent_runner(void)
{
	return stalled_call(false, false);
}

static int
test_trickling_runner(void)
{
	return stalled_call(true, false);
}

static int
test_silent_execute(void)
{
	return stalled_call(false, true);
}

int
main(void)
{
	kcr_runner_client_set_timeout(TIMEOUT_MS);
	TAP_PLAN(3);
	RUN_TEST(test_silent_runner);
	RUN_TEST(test_trickling_runner);
	RUN_TEST(test_silent_execute);
	return TAP_DONE();
}

/* The runner client against runners that misbehave: a runner that never
 * answers, or answers a byte at a time, costs a bounded wait (the client's
 * timeout), never a thread of kcr's for good; a file it sends streams to
 * a descriptor, within its limit, and a short one is an error. */
#include <config.h>

#include "base/clock.h"
#include "base/util.h"
#include "sandbox/runner_client.h"
#include "tap.h"

#include <errno.h>
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
	bool trickle;      /* one byte of a never-ending header every 50 ms */
	const char *reply; /* else: sends this, then hangs up */
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
	if (p->reply) {
		if (send(fd, p->reply, strlen(p->reply), MSG_NOSIGNAL) < 0) {
			/* the client went away */
		}
		close(fd);
		return NULL;
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

/* GET /files/f.bin from a peer that answers reply, into a spool: the
 * call's result, *err, and what the spool holds (NUL-terminated). */
static int
get_file_from(const char *reply, uint64_t max, char *got, size_t size, kcr_error_t *err)
{
	char path[64];
	struct peer p = { .reply = reply };
	pthread_t t;
	kcr_autofree char *ep = NULL;
	FILE *spool = tmpfile();
	uint64_t len = 0;
	size_t n;
	int r;

	snprintf(path, sizeof(path), "/tmp/kcr-test-rc-%d.sock", (int)getpid());
	if (spool == NULL || (p.lfd = listen_at(path)) < 0 ||
	    pthread_create(&t, NULL, peer_main, &p) != 0)
		return -2;
	ep = kcr_strdup_printf("unix:%s", path);
	r = kcr_runner_get_file(ep, "f.bin", max, fileno(spool), &len, err);
	pthread_join(t, NULL);
	close(p.lfd);
	unlink(path);
	rewind(spool);
	n = fread(got, 1, size - 1, spool);
	got[n] = '\0';
	fclose(spool);
	return r == 0 && len != n ? -3 : r;
}

static int
test_file_streams(void)
{
	char got[256];
	kcr_error_t err = NULL;

	TAP_ASSERT(get_file_from("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
				 100, got, sizeof(got), &err) == 0);
	TAP_ASSERT(strcmp(got, "hello world") == 0);
	return 0;
}

static int
test_file_short_or_over(void)
{
	char got[256];
	kcr_error_t err = NULL;

	/* the runner died mid-file: never a short file taken for whole */
	TAP_ASSERT(get_file_from("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello", 1000,
				 got, sizeof(got), &err) < 0);
	TAP_ASSERT(err->code == KCR_E_BACKEND && strstr(err->msg, "5 of the file's 100 bytes"));
	kcr_error_release(&err);
	/* over the limit: stops there */
	TAP_ASSERT(get_file_from("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", 5,
				 got, sizeof(got), &err) < 0);
	TAP_ASSERT(err->code == KCR_E_LIMIT && strlen(got) <= 5);
	kcr_error_release(&err);
	/* the runner's error, as an error */
	TAP_ASSERT(get_file_from("HTTP/1.1 404 Not Found\r\nContent-Length: 24\r\n\r\n"
				 "{\"error\":\"no such file\"}",
				 100, got, sizeof(got), &err) < 0);
	TAP_ASSERT(err->code == KCR_E_NOTFOUND && strstr(err->msg, "no such file"));
	kcr_error_release(&err);
	return 0;
}

/* A call whose cancel descriptor is readable gives up waiting at once:
 * a pool that stops does not wait for a warm-up. */
static int
test_canceled_call(void)
{
	char path[64];
	struct peer p = { 0 };
	pthread_t t;
	kcr_error_t err = NULL;
	kcr_autofree char *ep = NULL;
	int cancel[2];

	snprintf(path, sizeof(path), "/tmp/kcr-test-rc-%d.sock", (int)getpid());
	TAP_ASSERT(pipe(cancel) == 0 && write(cancel[1], "x", 1) == 1);
	TAP_ASSERT((p.lfd = listen_at(path)) >= 0);
	TAP_ASSERT(pthread_create(&t, NULL, peer_main, &p) == 0);
	ep = kcr_strdup_printf("unix:%s", path);
	TAP_ASSERT(kcr_runner_call_cancelable(ep, "POST", "/cells", "{}", cancel[0], NULL, &err) <
		   0);
	TAP_ASSERT(err->code == KCR_E_UNAVAILABLE && err->sys_errno == ECANCELED);
	kcr_error_release(&err);
	pthread_join(t, NULL);
	close(p.lfd);
	close(cancel[0]);
	close(cancel[1]);
	unlink(path);
	return 0;
}

int
main(void)
{
	kcr_runner_client_set_timeout(TIMEOUT_MS);
	TAP_PLAN(6);
	RUN_TEST(test_silent_runner);
	RUN_TEST(test_trickling_runner);
	RUN_TEST(test_silent_execute);
	RUN_TEST(test_file_streams);
	RUN_TEST(test_file_short_or_over);
	RUN_TEST(test_canceled_call);
	return TAP_DONE();
}

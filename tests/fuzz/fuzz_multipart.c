/* multipart/form-data bodies (LibreChat's uploads) through kcr's real HTTP
 * server on loopback: MHD's post processor and kcr's part assembly
 * (lib/server/http_server.c), sent whole or, as LibreChat's batch upload
 * does, with Transfer-Encoding: chunked, the chunks cut where the input
 * says, so that chunk boundaries fall everywhere in a part's headers and
 * data. Every request must get an answer (200 with the parts, or a 4xx),
 * the parts never hold more bytes than the body had, and a body cut in
 * chunks makes the same parts as the body sent whole (LibreChat's batch
 * upload once stored an extra empty file that way).
 *
 * Input: byte 0 is the chunk size (0: not chunked), the rest the body,
 * sent with boundary "XkcrB". */
#include <config.h>

#include "base/util.h"
#include "fuzz.h"
#include "server/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* One request at a time: the body's length, and the parts it made. */
static size_t body_len;
static struct {
	size_t n, bytes;
	unsigned long sum;
} got;

static void
on_upload(struct kcr_http_req *req, struct kcr_http_resp *resp, void *ud)
{
	cJSON *o = cJSON_CreateObject();
	size_t total = 0;

	(void)ud;
	for (size_t i = 0; i < req->n_parts; i++) {
		if (req->parts[i].name == NULL)
			abort();
		total += req->parts[i].data.len;
	}
	if (total > body_len)
		abort(); /* parts made of bytes the body never had */
	got.n = req->n_parts;
	got.bytes = total;
	got.sum = 0;
	for (size_t i = 0; i < req->n_parts; i++)
		for (size_t j = 0; j < req->parts[i].data.len; j++)
			got.sum = got.sum * 31 + (unsigned char)req->parts[i].data.data[j] + i;
	cJSON_AddNumberToObject(o, "parts", (double)req->n_parts);
	if (getenv("KCR_FUZZ_VERBOSE"))
		fprintf(stderr, "%zu parts, %zu bytes: ", req->n_parts, total);
	kcr_http_reply_json(resp, 200, o);
}

static const struct kcr_http_route routes[] = {
	{ "POST", "/upload", on_upload, KCR_ROUTE_PUBLIC | KCR_ROUTE_MULTIPART, "upload" },
	{ NULL },
};

static int
server_port(void)
{
	static struct kcr_http_server *srv;
	struct kcr_http_server_opts o = {
		.listen = "127.0.0.1:0",
		.base_path = "",
		.routes = routes,
		.max_body = 1 << 20,
		.max_parts = 64,
		.header_timeout_s = 5,
		.body_timeout_s = 5,
		.idle_timeout_s = 5,
	};
	kcr_error_t err = NULL;

	if (srv == NULL && (srv = kcr_http_server_start(&o, &err)) == NULL) {
		fprintf(stderr, "fuzz_multipart: %s\n", err->msg);
		abort();
	}
	return kcr_http_server_port(srv);
}

/* false once the server stopped reading: it may answer all the same. */
static bool
send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) { /* libFuzzer's SIGALRM interrupts calls */
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		c += w;
		n -= (size_t)w;
	}
	return true;
}

/* The body, whole or in chunks of chunk bytes. */
static void
send_request(int fd, const uint8_t *body, size_t n, size_t chunk)
{
	char head[256];
	bool ok;

	snprintf(head, sizeof(head),
		 "POST /upload HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n"
		 "Content-Type: multipart/form-data; boundary=XkcrB\r\n");
	if (chunk)
		snprintf(head + strlen(head), sizeof(head) - strlen(head),
			 "Transfer-Encoding: chunked\r\n\r\n");
	else
		snprintf(head + strlen(head), sizeof(head) - strlen(head),
			 "Content-Length: %zu\r\n\r\n", n);
	ok = send_all(fd, head, strlen(head));
	if (chunk == 0) {
		send_all(fd, body, n);
		return;
	}
	for (size_t off = 0; ok && off < n; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;

		snprintf(head, sizeof(head), "%zx\r\n", k);
		ok = send_all(fd, head, strlen(head)) && send_all(fd, body + off, k) &&
		     send_all(fd, "\r\n", 2);
	}
	if (ok)
		send_all(fd, "0\r\n\r\n", 5);
}

/* The status line of the answer, read to EOF (Connection: close). */
static int
read_status(int fd)
{
	char buf[4096], first[16] = "";
	size_t have = 0;
	ssize_t r;

	errno = 0;
	while ((r = recv(fd, buf, sizeof(buf), 0)) > 0 || (r < 0 && errno == EINTR)) {
		if (r < 0) /* libFuzzer's SIGALRM */
			continue;
		if (getenv("KCR_FUZZ_VERBOSE"))
			fprintf(stderr, "%.*s\n", (int)r, buf);
		for (ssize_t i = 0; i < r && have + 1 < sizeof(first); i++)
			first[have++] = buf[i];
	}
	first[have] = '\0';
	return strncmp(first, "HTTP/1.1 ", 9) == 0 ? atoi(first + 9) : -1;
}

/* The status of one POST of body, whole (chunk 0) or in chunks. */
/* libFuzzer's SIGALRM can interrupt connect(); the connection then goes on
 * in the background, so wait for it rather than connect again (EALREADY) */
static int
connect_loopback(int fd, const struct sockaddr_in *sa)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int soerr = 0;

	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	if (errno != EINTR)
		return -1;
	while (poll(&p, 1, 20000) < 0)
		if (errno != EINTR)
			return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -1;
	errno = soerr;
	return soerr ? -1 : 0;
}

static int
post(const uint8_t *body, size_t n, size_t chunk)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 20 };
	kcr_autoclose int fd = -1;
	int status;

	sa.sin_port = htons((uint16_t)server_port());
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	body_len = n;
	memset(&got, 0, sizeof(got));
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect_loopback(fd, &sa) < 0) {
		perror("fuzz_multipart: connect");
		abort();
	}
	send_request(fd, body, n, chunk);
	status = read_status(fd);
	/* a reset, not a close: thousands of requests a second would leave
	 * loopback's ports in TIME_WAIT until connect() finds none free */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){ .l_onoff = 1, .l_linger = 0 },
		   sizeof(struct linger));
	if (getenv("KCR_FUZZ_VERBOSE")) /* to see what a corpus exercises */
		fprintf(stderr, "%zu bytes, chunks of %zu: %d\n", n, chunk, status);
	if (status != 200 && status != 400 && status != 413) {
		/* no answer, or one no client could act on */
		fprintf(stderr, "fuzz_multipart: %zu bytes in chunks of %zu: status %d (%s)\n", n,
			chunk, status, status < 0 ? strerror(errno) : "");
		abort();
	}
	return status;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int whole;
	size_t n, bytes;
	unsigned long sum;

	if (size == 0 || size > (1 << 20))
		return 0;
	whole = post(data + 1, size - 1, 0);
	n = got.n, bytes = got.bytes, sum = got.sum;
	if (data[0] == 0)
		return 0;
	if (post(data + 1, size - 1, data[0]) != whole ||
	    (whole == 200 && (got.n != n || got.bytes != bytes || got.sum != sum)))
		abort(); /* chunks made other parts than the whole body */
	return 0;
}

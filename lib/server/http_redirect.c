/* server.tls.redirect_listen: a plain HTTP listener that sends every
 * request to the same path on the HTTPS listener (308, so that a POST
 * stays a POST). It reads no body and runs no route: nothing a client
 * sends here reaches the API in clear. */
#include <config.h>

#include "server/http-internal.h"
#include "server/mhd_dl.h"
#include "base/util.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Longest Location sent: a longer request target gets 414. */
#define REDIRECT_URI_MAX 8192

/* The full request target, query included (the access handler sees the
 * path only): MHD_OPTION_URI_LOG_CALLBACK, before the headers are read. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls, (void)c;
	return strlen(uri) > REDIRECT_URI_MAX ? NULL : kcr_xstrdup(uri);
}

/* The host of a Host header, without its port, if it is a DNS name, an
 * IPv4 address or a bracketed IPv6 one: anything else (a header made to
 * split the Location, a user@) is refused rather than echoed. */
static char *
host_of(const char *h)
{
	size_t n;

	if (h == NULL)
		return NULL;
	if (h[0] == '[') {
		n = strspn(h + 1, "0123456789abcdefABCDEF:.");
		if (h[1 + n] != ']' || n == 0 || n > 45)
			return NULL;
		n += 2;
	} else {
		n = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
		if (n == 0 || n > 253)
			return NULL;
	}
	if (h[n] != '\0' && (h[n] != ':' || strspn(h + n + 1, "0123456789") != strlen(h + n + 1)))
		return NULL;
	return kcr_xstrndup(h, n);
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned int status, const char *location, const char *text)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", "text/plain");
	MHD_add_response_header(r, "Connection", "close");
	if (location)
		MHD_add_response_header(r, "Location", location);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	   const char *version, const char *data, size_t *size, void **con_cls)
{
	int port = *(const int *)cls;
	const char *uri = *con_cls;
	kcr_autofree char *host = host_of(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"));
	kcr_autofree char *location = NULL;

	(void)url, (void)method, (void)version, (void)data, (void)size;
	if (uri == NULL)
		return reply(c, 414, NULL, "request target too long\n");
	if (uri[0] != '/') /* an absolute-form target is a proxy's */
		return reply(c, 400, NULL, "request target is not a path\n");
	if (host == NULL)
		return reply(c, 400, NULL, "missing or malformed Host header\n");
	if (port == 443)
		location = kcr_strdup_printf("https://%s%s", host, uri);
	else
		location = kcr_strdup_printf("https://%s:%d%s", host, port, uri);
	return reply(c, 308, location, "use https\n");
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	     enum MHD_RequestTerminationCode code)
{
	(void)cls, (void)c, (void)code;
	free(*con_cls);
	*con_cls = NULL;
}

struct MHD_Daemon *
http_redirect_start(const char *listen, const int *https_port, kcr_error_t *err)
{
	struct MHD_Daemon *d;
	int fd, bound;

	if (kcr_mhd_load(err) < 0 || (fd = http_bind_listen(listen, &bound, err)) < 0)
		return NULL;
	d = MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, (void *)https_port,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
		MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 16u,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024), MHD_OPTION_END);
	if (d == NULL) {
		close(fd);
		kcr_error_set(err, KCR_E_IO, 0, "cannot start the redirect listener on %s", listen);
	}
	return d;
}

/* libmicrohttpd, loaded when kcr first serves rather than at start-up.
 * Debian's libmicrohttpd brings GnuTLS and eight more libraries: linking
 * it cost every kcr process ~4.7 million instructions and ~160 page faults
 * before main (callgrind and perf stat: a program linking kcr's other
 * libraries starts in 8.9 ms, with libmicrohttpd in 16.8 ms on this VM),
 * which `kcr exec`, `kcr files` or a shell completion never use. kcr-runner,
 * which always serves, links it directly and never pulls in this file (its
 * Makefile.am lists libmicrohttpd before libkcr).
 *
 * The functions below have libmicrohttpd's names and prototypes, so the
 * server's files call them as usual; each hands the call on to the loaded
 * library. Hidden: exported from a kcr binary, they would take the place
 * of the library's own. kcr_http_server_start() and the redirect listener
 * load the library first and report a failure as an error; any other
 * call before that loads it or aborts with the reason (a bug: no response
 * or connection exists before a daemon does). */
#include <config.h>

#include "server/mhd_dl.h"
#include "base/dl.h"
#include "base/util.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static struct {
	struct MHD_Daemon *(*start_daemon_va)(unsigned int, uint16_t, MHD_AcceptPolicyCallback,
					      void *, MHD_AccessHandlerCallback, void *, va_list);
	void (*stop_daemon)(struct MHD_Daemon *);
	MHD_socket (*quiesce_daemon)(struct MHD_Daemon *);
	const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *,
							       enum MHD_ConnectionInfoType, ...);
	const char *(*lookup_connection_value)(struct MHD_Connection *, enum MHD_ValueKind,
					       const char *);
	enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int,
					  struct MHD_Response *);
	void (*suspend_connection)(struct MHD_Connection *);
	void (*resume_connection)(struct MHD_Connection *);
	struct MHD_Response *(*create_response_from_buffer)(size_t, void *,
							    enum MHD_ResponseMemoryMode);
	struct MHD_Response *(*create_response_from_fd64)(uint64_t, int);
	enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *, const char *);
	void (*destroy_response)(struct MHD_Response *);
	struct MHD_PostProcessor *(*create_post_processor)(struct MHD_Connection *, size_t,
							   MHD_PostDataIterator, void *);
	enum MHD_Result (*post_process)(struct MHD_PostProcessor *, const char *, size_t);
	enum MHD_Result (*destroy_post_processor)(struct MHD_PostProcessor *);
	const char *(*get_version)(void);
} fns;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *load_error;

#define SYM(field, name) KCR_DL_SYM(fns, field, name)

static void
load(void)
{
	static const struct kcr_dl_sym syms[] = {
		SYM(start_daemon_va, "MHD_start_daemon_va"),
		SYM(stop_daemon, "MHD_stop_daemon"),
		SYM(quiesce_daemon, "MHD_quiesce_daemon"),
		SYM(get_connection_info, "MHD_get_connection_info"),
		SYM(lookup_connection_value, "MHD_lookup_connection_value"),
		SYM(queue_response, "MHD_queue_response"),
		SYM(suspend_connection, "MHD_suspend_connection"),
		SYM(resume_connection, "MHD_resume_connection"),
		SYM(create_response_from_buffer, "MHD_create_response_from_buffer"),
		SYM(create_response_from_fd64, "MHD_create_response_from_fd64"),
		SYM(add_response_header, "MHD_add_response_header"),
		SYM(destroy_response, "MHD_destroy_response"),
		SYM(create_post_processor, "MHD_create_post_processor"),
		SYM(post_process, "MHD_post_process"),
		SYM(destroy_post_processor, "MHD_destroy_post_processor"),
		SYM(get_version, "MHD_get_version"),
	};
	load_error =
		kcr_dl_load("libmicrohttpd.so.12", "libmicrohttpd", syms, KCR_ARRAY_SIZE(syms));
}

int
kcr_mhd_load(kcr_error_t *err)
{
	pthread_once(&once, load);
	if (load_error)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "%s", load_error);
	return 0;
}

static void
need(void)
{
	if (kcr_mhd_load(NULL) < 0) {
		fprintf(stderr, "kcr: %s\n", load_error);
		abort();
	}
}

#define HIDDEN __attribute__((visibility("hidden")))

HIDDEN struct MHD_Daemon *
MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc, void *apc_cls,
		 MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
	struct MHD_Daemon *d;
	va_list ap;

	need();
	va_start(ap, dh_cls);
	d = fns.start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return d;
}

HIDDEN void
MHD_stop_daemon(struct MHD_Daemon *daemon)
{
	need();
	fns.stop_daemon(daemon);
}

HIDDEN MHD_socket
MHD_quiesce_daemon(struct MHD_Daemon *daemon)
{
	need();
	return fns.quiesce_daemon(daemon);
}

/* The info types kcr asks for (client address, connection fd, TLS
 * session) take no argument after info_type. */
HIDDEN const union MHD_ConnectionInfo *
MHD_get_connection_info(struct MHD_Connection *connection, enum MHD_ConnectionInfoType info_type,
			...)
{
	need();
	return fns.get_connection_info(connection, info_type);
}

HIDDEN const char *
MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
			    const char *key)
{
	need();
	return fns.lookup_connection_value(connection, kind, key);
}

HIDDEN enum MHD_Result
MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
		   struct MHD_Response *response)
{
	need();
	return fns.queue_response(connection, status_code, response);
}

HIDDEN void
MHD_suspend_connection(struct MHD_Connection *connection)
{
	need();
	fns.suspend_connection(connection);
}

HIDDEN void
MHD_resume_connection(struct MHD_Connection *connection)
{
	need();
	fns.resume_connection(connection);
}

HIDDEN struct MHD_Response *
MHD_create_response_from_buffer(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode)
{
	need();
	return fns.create_response_from_buffer(size, buffer, mode);
}

HIDDEN struct MHD_Response *
MHD_create_response_from_fd64(uint64_t size, int fd)
{
	need();
	return fns.create_response_from_fd64(size, fd);
}

HIDDEN enum MHD_Result
MHD_add_response_header(struct MHD_Response *response, const char *header, const char *content)
{
	need();
	return fns.add_response_header(response, header, content);
}

HIDDEN void
MHD_destroy_response(struct MHD_Response *response)
{
	need();
	fns.destroy_response(response);
}

HIDDEN struct MHD_PostProcessor *
MHD_create_post_processor(struct MHD_Connection *connection, size_t buffer_size,
			  MHD_PostDataIterator iter, void *iter_cls)
{
	need();
	return fns.create_post_processor(connection, buffer_size, iter, iter_cls);
}

HIDDEN enum MHD_Result
MHD_post_process(struct MHD_PostProcessor *pp, const char *post_data, size_t post_data_len)
{
	need();
	return fns.post_process(pp, post_data, post_data_len);
}

HIDDEN enum MHD_Result
MHD_destroy_post_processor(struct MHD_PostProcessor *pp)
{
	need();
	return fns.destroy_post_processor(pp);
}

HIDDEN const char *
MHD_get_version(void)
{
	need();
	return fns.get_version();
}

/* kcr-runner: the HTTP server inside every sandbox and pod. It runs one
 * program at a time (lib/runner/proc.c) and serves the files of its data
 * directory. The wire format is in lib/runner/proto.h. */
#include <config.h>

#include "cells.h"
#include "base/error.h"
#include "base/files.h"
#include "base/ids.h"
#include "base/parse.h"
#include "runner/proc.h"
#include "runner/proto.h"
#include "runner/sandbox_init.h"
#include "runner/seccomp.h"
#include "runner/template.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/openat2.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* code, stdin and a Python state (state.max_size_mb: up to 100 MiB), base64 */
#define MAX_BODY ((size_t)192 << 20)
#define MAX_CONNECTIONS 64
#define IDLE_TIMEOUT_S 600
#define MAX_LISTED 100000
#define HTTP_TOO_LARGE 413 /* MHD renamed the constant in 0.9.74 */

struct runner {
	const char *data_dir, *src_dir;
	pthread_mutex_t *exec_lock;  /* one execution at a time */
	struct runner_cells *cells;  /* --zygote: the warm cells */
	struct kcr_cell *cell;       /* a request to /cells/{id}/...: that cell */
	bool log_requests;           /* a line per request on stderr (a pod's log) */
};

#define TEMPLATE_CTL_FD 3

struct opts {
	int listen_fd, port;
	const char *address; /* --port's address (all when NULL) */
	bool log_requests;
	const char *unix_path, *data_dir, *src_dir;
	const char *prewarm, *preload; /* a language to start ahead, and its imports */
	const char *zygote;            /* a language to fork warm cells of */
	int fd_channel;                /* where kcr sends a cell's cgroup files */
	int seccomp_fd;                /* kcr's compiled seccomp filter, or -1 */
	int zygotes;                   /* --zygotes: of each kind */
	struct kcr_limits prewarm_limits;
};

/* Per request: the body as it arrives. */
struct req_ctx {
	struct kcr_buf body;
	bool too_big;
};

typedef enum MHD_Result (*handler_fn)(struct runner *r, struct MHD_Connection *c,
				      const char *arg, struct req_ctx *rc);

static const char usage_line[] =
	"usage: kcr-runner [--listen-fd N | --unix PATH | --port N [--address ADDR]]\n"
	"                  [--data-dir DIR] [--src-dir DIR] [--log-requests]\n"
	"                  [--prewarm=LANG [--preload=MODS]] [--help] [--version]\n";

/* ---- responses ---- */

/* Takes body (malloc'd, may be NULL when len is 0). */
static enum MHD_Result
send_buf(struct MHD_Connection *c, unsigned int status, char *body, size_t len,
	 const char *type)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (body == NULL || len == 0) {
		free(body);
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else {
		resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
		if (resp == NULL)
			free(body);
	}
	if (resp == NULL)
		return MHD_NO;
	if (type != NULL && len > 0)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
send_json(struct MHD_Connection *c, unsigned int status, char *json)
{
	return send_buf(c, status, json, strlen(json), "application/json");
}

static enum MHD_Result __attribute__((format(printf, 3, 4)))
send_error(struct MHD_Connection *c, unsigned int status, const char *fmt, ...)
{
	kcr_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	return send_json(c, status, kcr_proto_error_encode(msg));
}

static enum MHD_Result
send_kcr_error(struct MHD_Connection *c, kcr_error_t *err)
{
	enum MHD_Result ret;
	int status;

	if (*err == NULL) /* a bug: a failure without its reason */
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
	status = kcr_errc_http_status((*err)->code);
	ret = send_error(c, (unsigned int)(status >= 400 ? status : 500), "%s", (*err)->msg);
	kcr_error_release(err);
	return ret;
}

static enum MHD_Result
send_status(struct MHD_Connection *c, unsigned int status, const char *word)
{
	return send_json(c, status, kcr_strdup_printf("{\"status\":\"%s\"}", word));
}

/* ---- the data directory ---- */

static int
open_data_dir(const struct runner *r, kcr_error_t *err)
{
	int fd = open(r->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "opening %s", r->data_dir);
	return fd;
}

static int
file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kcr_file_info *)a)->name,
		      ((const struct kcr_file_info *)b)->name);
}

/* The top-level regular files of the data directory, sorted by name. */
static int
list_files(const struct runner *r, struct kcr_file_info **out, size_t *n, kcr_error_t *err)
{
	int fd = open_data_dir(r, err);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct kcr_file_info *v = NULL;
	struct dirent *e;
	size_t cap = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return fd < 0 ? -1 : kcr_error_set(err, KCR_E_IO, errno, "reading %s", r->data_dir);
	}
	*n = 0;
	while ((e = readdir(d)) != NULL && *n < MAX_LISTED) {
		struct stat st;

		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (*n == cap)
			v = kcr_xrealloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));
		v[(*n)++] = (struct kcr_file_info){
			.name = kcr_xstrdup(e->d_name), .size = (uint64_t)st.st_size,
			.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
		};
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), file_cmp);
	*out = v;
	return 0;
}

/* name beneath dfd, and nowhere else: openat2 refuses any symlink (magic
 * /proc ones too) and any path out of dfd, whatever a program left in the
 * data directory. A kernel before 5.6 (ENOSYS) gets openat with
 * O_NOFOLLOW, the same for the one-component names kcr_name_is_safe lets
 * through. */
static int
open_beneath(int dfd, const char *name, int flags)
{
#ifdef SYS_openat2
	struct open_how how = {
		.flags = (uint64_t)flags,
		.mode = (flags & O_CREAT) ? 0644 : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dfd, name, &how, sizeof(how));

	if (fd >= 0 || errno != ENOSYS)
		return (int)fd;
#endif
	return openat(dfd, name, flags, 0644);
}

/* Opens name in the data directory without following a symlink and
 * without blocking on a FIFO, and checks that it is a regular file. */
static int
open_file(const struct runner *r, const char *name, int flags, struct stat *st,
	  kcr_error_t *err)
{
	kcr_autoclose int dfd = open_data_dir(r, err);
	int fd;

	if (dfd < 0)
		return -1;
	fd = open_beneath(dfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return kcr_error_set(err, KCR_E_NOTFOUND, 0, "no such file '%s'", name);
	if (fd < 0 && (errno == ELOOP || errno == EISDIR || errno == ENXIO))
		return kcr_error_set(err, KCR_E_INVALID, 0, "'%s' is not a regular file", name);
	if (fd < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "opening '%s'", name);
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return kcr_error_set(err, KCR_E_INVALID, 0, "'%s' is not a regular file", name);
	}
	fcntl(fd, F_SETFL, 0);
	return fd;
}

/* Writes an uploaded file; as uid 0 it goes to the sandbox uid so the
 * program can change it (EINVAL: that uid is not mapped here). */
static int
write_file(const struct runner *r, const char *name, const struct kcr_buf *body,
	   kcr_error_t *err)
{
	kcr_autoclose int fd = -1;
	struct stat st;

	fd = open_file(r, name, O_WRONLY | O_CREAT, &st, err);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, 0) < 0 || kcr_write_all(fd, body->data ? body->data : "", body->len) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "writing '%s'", name);
	if (geteuid() == 0 && fchown(fd, KCR_SANDBOX_UID, KCR_SANDBOX_GID) < 0 && errno != EINVAL)
		return kcr_error_set(err, KCR_E_IO, errno, "chown '%s'", name);
	return 0;
}

/* ---- handlers ---- */

static enum MHD_Result
h_execute(struct runner *r, struct MHD_Connection *c, const char *arg, struct req_ctx *rc)
{
	struct kcr_exec_request req = { 0 };
	struct kcr_exec_result res = { 0 };
	kcr_error_t err = NULL;
	enum MHD_Result ret;
	int ok;

	if (kcr_proto_exec_req_decode(rc->body.data ? rc->body.data : "", rc->body.len, &req,
				      &err) < 0)
		return send_kcr_error(c, &err);
	if (r->cell) {
		ok = kcr_cell_run(r->cell, &req, &res, &err);
	} else if (pthread_mutex_trylock(r->exec_lock) != 0) {
		kcr_exec_request_release(&req);
		return send_error(c, MHD_HTTP_CONFLICT, "another execution is running");
	} else {
		ok = kcr_proc_run(&req, r->data_dir, r->src_dir, &res, &err);
		pthread_mutex_unlock(r->exec_lock);
	}
	kcr_exec_request_release(&req);
	if (ok < 0)
		return send_kcr_error(c, &err);
	ret = send_json(c, MHD_HTTP_OK, kcr_proto_exec_res_encode(&res));
	kcr_exec_result_release(&res);
	return ret;
}


static enum MHD_Result
h_put_file(struct runner *r, struct MHD_Connection *c, const char *arg, struct req_ctx *rc)
{
	const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
	kcr_error_t err = NULL;
	cJSON *o;
	char *json;

	if (!kcr_name_is_safe(name))
		return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid file name '%s'",
				  name ? name : "");
	if (write_file(r, name, &rc->body, &err) < 0)
		return send_kcr_error(c, &err);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddNumberToObject(o, "size", (double)rc->body.len);
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (json == NULL)
		kcr_oom();
	return send_json(c, MHD_HTTP_CREATED, json);
}

static enum MHD_Result
h_list_files(struct runner *r, struct MHD_Connection *c, const char *arg, struct req_ctx *rc)
{
	struct kcr_file_info *files = NULL;
	kcr_error_t err = NULL;
	size_t n = 0;
	char *json;

	if (list_files(r, &files, &n, &err) < 0)
		return send_kcr_error(c, &err);
	json = kcr_proto_files_encode(files, n);
	for (size_t i = 0; i < n; i++)
		kcr_file_info_release(&files[i]);
	free(files);
	return send_json(c, MHD_HTTP_OK, json);
}

static enum MHD_Result
h_get_file(struct runner *r, struct MHD_Connection *c, const char *name, struct req_ctx *rc)
{
	struct MHD_Response *resp;
	kcr_error_t err = NULL;
	enum MHD_Result ret;
	struct stat st;
	int fd;

	if (!kcr_name_is_safe(name))
		return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid file name '%s'", name);
	fd = open_file(r, name, O_RDONLY, &st, &err);
	if (fd < 0)
		return send_kcr_error(c, &err);
	resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd); /* owns fd */
	if (resp == NULL) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
h_delete_file(struct runner *r, struct MHD_Connection *c, const char *name,
	      struct req_ctx *rc)
{
	kcr_autoclose int dfd = -1;
	kcr_error_t err = NULL;

	if (!kcr_name_is_safe(name))
		return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid file name '%s'", name);
	if ((dfd = open_data_dir(r, &err)) < 0)
		return send_kcr_error(c, &err);
	if (unlinkat(dfd, name, 0) == 0)
		return send_buf(c, MHD_HTTP_NO_CONTENT, NULL, 0, NULL);
	if (errno == ENOENT)
		return send_error(c, MHD_HTTP_NOT_FOUND, "no such file '%s'", name);
	if (errno == EISDIR)
		return send_error(c, MHD_HTTP_BAD_REQUEST, "'%s' is not a regular file", name);
	return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "deleting '%s': %s", name,
			  strerror(errno));
}

static enum MHD_Result
h_health(struct runner *r, struct MHD_Connection *c, const char *arg, struct req_ctx *rc)
{
	return send_status(c, MHD_HTTP_OK, "ok");
}

static enum MHD_Result
h_ready(struct runner *r, struct MHD_Connection *c, const char *arg, struct req_ctx *rc)
{
	struct stat st;

	if (r->cell ? !kcr_cell_ready(r->cell) : r->cells && !runner_cells_ok(r->cells))
		return send_status(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready");
	if (stat(r->data_dir, &st) == 0 && S_ISDIR(st.st_mode))
		return send_status(c, MHD_HTTP_OK, "ready");
	return send_status(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready");
}

/* ---- routing ---- */

struct route {
	const char *method;
	const char *path; /* ending in '/': a prefix, the rest is the argument */
	handler_fn fn;
};

static const struct route routes[] = {
	{ "POST", "/execute", h_execute },
	{ "POST", "/files", h_put_file },
	{ "GET", "/files", h_list_files },
	{ "GET", "/files/", h_get_file },
	{ "DELETE", "/files/", h_delete_file },
	{ "GET", "/health", h_health },
	{ "GET", "/ready", h_ready },
};

/* Returns the argument part of url if it matches path, else NULL. */
static const char *
route_match(const struct route *rt, const char *url)
{
	size_t n = strlen(rt->path);

	if (rt->path[n - 1] == '/')
		return strncmp(url, rt->path, n) == 0 ? url + n : NULL;
	return strcmp(url, rt->path) == 0 ? url + n : NULL;
}

static enum MHD_Result route(struct runner *r, struct MHD_Connection *c, const char *url,
			     const char *method, struct req_ctx *rc);

static enum MHD_Result
h_cell_create(struct runner *r, struct MHD_Connection *c, struct req_ctx *rc)
{
	kcr_error_t err = NULL;
	char *reply = NULL;

	if (runner_cells_create(r->cells, rc->body.data, rc->body.len, &reply, &err) < 0)
		return send_kcr_error(c, &err);
	return send_json(c, MHD_HTTP_CREATED, reply);
}

/* /cells/{id}[/rest]: the cell's own routes, with its directories. */
static enum MHD_Result
route_cell(struct runner *r, struct MHD_Connection *c, const char *url, const char *method,
	   struct req_ctx *rc)
{
	const char *slash = strchr(url, '/');
	kcr_autofree char *id = slash ? kcr_xstrndup(url, (size_t)(slash - url)) : kcr_xstrdup(url);
	struct runner cr = *r;
	struct runner_cell *ref;
	kcr_error_t err = NULL;
	enum MHD_Result ret;

	if (slash == NULL && strcmp(method, "DELETE") == 0) {
		if (runner_cells_delete(r->cells, id, &err) < 0)
			return send_kcr_error(c, &err);
		return send_buf(c, MHD_HTTP_NO_CONTENT, NULL, 0, NULL);
	}
	if ((ref = runner_cells_get(r->cells, id)) == NULL)
		return send_error(c, MHD_HTTP_NOT_FOUND, "no cell '%s'", id);
	cr.cell = runner_cell(ref);
	cr.data_dir = kcr_cell_data_dir(cr.cell);
	ret = route(&cr, c, slash ? slash : "/", method, rc);
	runner_cells_put(r->cells, ref);
	return ret;
}

static enum MHD_Result
route(struct runner *r, struct MHD_Connection *c, const char *url, const char *method,
      struct req_ctx *rc)
{
	bool path_known = false;

	if (r->log_requests && r->cell == NULL)
		fprintf(stderr, "kcr-runner: %s %s\n", method, url);
	if (r->cell == NULL && strcmp(url, "/cells") == 0 && strcmp(method, "POST") == 0)
		return h_cell_create(r, c, rc);
	if (r->cell == NULL && strncmp(url, "/cells/", 7) == 0)
		return route_cell(r, c, url + 7, method, rc);

	for (size_t i = 0; i < KCR_ARRAY_SIZE(routes); i++) {
		const char *arg = route_match(&routes[i], url);

		if (arg == NULL)
			continue;
		if (strcmp(routes[i].method, method) == 0)
			return routes[i].fn(r, c, arg, rc);
		path_known = true;
	}
	if (path_known)
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed on %s",
				  method, url);
	return send_error(c, MHD_HTTP_NOT_FOUND, "no route for %s %s", method, url);
}

static bool
declared_too_big(struct MHD_Connection *c)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t n;

	return cl != NULL && kcr_parse_u64(cl, 0, UINT64_MAX, &n, NULL) == 0 && n > MAX_BODY;
}

/* Called first with the headers, then for each piece of the body, then
 * once more with nothing left: that last call routes the request. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size,
	   void **con_cls)
{
	struct req_ctx *rc = *con_cls;

	if (rc == NULL) {
		*con_cls = kcr_xzalloc(sizeof(*rc));
		if (declared_too_big(c))
			return send_error(c, HTTP_TOO_LARGE,
					  "request body larger than %zu bytes", MAX_BODY);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (rc->too_big || rc->body.len + *upload_data_size > MAX_BODY) {
			rc->too_big = true;
			kcr_buf_release(&rc->body);
		} else {
			kcr_buf_add(&rc->body, upload_data, *upload_data_size);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (rc->too_big)
		return send_error(c, HTTP_TOO_LARGE,
				  "request body larger than %zu bytes", MAX_BODY);
	return route(cls, c, url, method, rc);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *rc = *con_cls;

	if (rc == NULL)
		return;
	kcr_buf_release(&rc->body);
	free(rc);
	*con_cls = NULL;
}

/* ---- command line and listening ---- */

static void
print_help(void)
{
	printf("%s\n"
	       "Serves code execution over HTTP inside a kcr sandbox or pod: POST /execute,\n"
	       "POST/GET/DELETE /files, GET /health and GET /ready.\n\n"
	       "  --listen-fd N    serve on an inherited listening socket\n"
	       "  --unix PATH      listen on a unix socket (created with mode 0600)\n"
	       "  --port N         listen on TCP port N on all addresses\n"
	       "  --address ADDR   with --port: only on this IPv4 or IPv6 address\n"
	       "  --log-requests   write a line per request to stderr (a pod's log)\n"
	       "  --data-dir DIR   the program's working directory (default %s)\n"
	       "  --src-dir DIR    where sources and binaries go (default %s)\n"
	       "  --prewarm=LANG   start py's, js's or bash's interpreter for the next execution\n"
	       "  --preload=MODS   with --prewarm=py or --zygote=py: modules to import first\n"
	       "  --nofile=N --file-size=BYTES --pids=N\n"
	       "                   the rlimits the pre-warmed interpreter gets\n"
	       "  --zygote=py      fork warm cells from one interpreter (POST /cells)\n"
	       "  --zygotes=N      with --zygote: N zygotes of each kind (default 1)\n"
	       "  --fd-channel=N   the socket kcr sends cells' cgroup files on\n"
	       "  --seccomp-fd=N   read the seccomp filter kcr compiled (BPF) from fd N\n"
	       "  --template       (kcr's) clone sandboxes' runners from this process on\n"
	       "                   requests on fd 3\n"
	       "  --help, --version\n\n"
	       "Examples:\n"
	       "  kcr-runner --unix /tmp/runner.sock --data-dir /tmp/d --src-dir /tmp/s\n"
	       "  curl --unix-socket /tmp/runner.sock http://runner/health\n"
	       "  kcr-runner --port 8080 --log-requests     (in a pod)\n",
	       usage_line, KCR_DATA_DIR, KCR_SRC_DIR);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("kcr-runner: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see kcr-runner --help)\n", stderr);
	exit(2);
}

static int
parse_int_arg(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	kcr_error_t err = NULL;
	uint64_t v;

	if (kcr_parse_u64(s, min, max, &v, &err) < 0) {
		kcr_error_release(&err);
		usage_error("invalid value '%s' for %s", s, opt);
	}
	return (int)v;
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "listen-fd", required_argument, NULL, 'f' },
		{ "unix", required_argument, NULL, 'u' },
		{ "port", required_argument, NULL, 'p' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "src-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "prewarm", required_argument, NULL, 'w' },
		{ "preload", required_argument, NULL, 'l' },
		{ "nofile", required_argument, NULL, 'n' },
		{ "file-size", required_argument, NULL, 'z' },
		{ "pids", required_argument, NULL, 'i' },
		{ "zygote", required_argument, NULL, 'y' },
		{ "zygotes", required_argument, NULL, 'Y' },
		{ "fd-channel", required_argument, NULL, 'c' },
		{ "seccomp-fd", required_argument, NULL, 'S' },
		{ "address", required_argument, NULL, 'a' },
		{ "log-requests", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, n = 0;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f': o->listen_fd = parse_int_arg("--listen-fd", optarg, 0, 65535); n++; break;
		case 'u': o->unix_path = optarg; n++; break;
		case 'p': o->port = parse_int_arg("--port", optarg, 1, 65535); n++; break;
		case 'd': o->data_dir = optarg; break;
		case 's': o->src_dir = optarg; break;
		case 'a': o->address = optarg; break;
		case 'L': o->log_requests = true; break;
		case 'h': print_help(); exit(0);
		case 'V': printf("kcr-runner %s\n", PACKAGE_VERSION); exit(0);
		case 'w':
		case 'l':
		case 'n':
		case 'z':
		case 'i':
		case 'y':
		case 'Y':
		case 'c':
		case 'S':
			break; /* parse_prewarm */
		case ':': usage_error("option '%s' needs a value", argv[optind - 1]);
		default: usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (n != 1)
		usage_error("give exactly one of --listen-fd, --unix or --port");
	if (o->address && o->port == 0)
		usage_error("--address needs --port");
}

/* --port N --address A: a pod's own address (the Kubernetes simulator's
 * pods share one network namespace, each with its own loopback address). */
static int
listen_tcp(const char *address, int port, kcr_error_t *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai = NULL;
	kcr_autoclose int fd = -1;
	char service[8];
	int one = 1, rc;

	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(address, service, &hints, &ai);
	if (rc != 0)
		return kcr_error_set(err, KCR_E_INVALID, 0, "--address %s: %s", address,
				     gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		rc = errno;
		freeaddrinfo(ai);
		return kcr_error_set(err, KCR_E_IO, rc, "listening on %s:%d", address, port);
	}
	freeaddrinfo(ai);
	return kcr_steal_fd(&fd);
}

static int
listen_unix(const char *path, kcr_error_t *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	kcr_autoclose int fd = -1;
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return kcr_error_set(err, KCR_E_INVALID, 0, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "binding %s", path);
	if (chmod(path, 0600) < 0 || listen(fd, 64) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "listening on %s", path);
	return kcr_steal_fd(&fd);
}

static int
check_listen_fd(int fd, kcr_error_t *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return kcr_error_set(err, KCR_E_INVALID, 0, "--listen-fd %d is not a socket", fd);
	/* the program must never inherit the runner's socket */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "fcntl");
	return fd;
}

static struct MHD_Daemon *
start_daemon(struct runner *r, int listen_fd, int port)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			     MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d;

	if (listen_fd >= 0)
		return MHD_start_daemon(flags, 0, NULL, NULL, on_request, r,
					MHD_OPTION_LISTEN_SOCKET, listen_fd,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
					MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS,
					MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
					MHD_OPTION_END);
	d = MHD_start_daemon(flags | MHD_USE_DUAL_STACK, (uint16_t)port, NULL, NULL, on_request,
			     r, MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
			     MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS,
			     MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, MHD_OPTION_END);
	if (d != NULL) /* no IPv6 on this host: IPv4 only */
		return d;
	return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, r,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
				MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS,
				MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, MHD_OPTION_END);
}

static void
on_stop_signal(int sig)
{
	(void)sig; /* only to not be SIG_DFL, which pid 1 would never see */
}

/* Blocks the stop signals in every thread to come, so that sigwait() in
 * the main thread gets them. SIGCHLD keeps its default: an inherited
 * SIG_IGN would make the kernel reap the programs behind kcr_proc_run. */
static void
setup_signals(sigset_t *stop)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };

	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(stop);
	sigaddset(stop, SIGTERM);
	sigaddset(stop, SIGINT);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pthread_sigmask(SIG_BLOCK, stop, NULL);
}

/* --prewarm=LANG [--preload=MODS] [--nofile=N --file-size=N --pids=N],
 * in either mode: the sandbox's init leaves them to us. */
static void
parse_prewarm(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = strchr(a, '=');

		if (v == NULL)
			continue;
		v++;
		if (strncmp(a, "--prewarm=", 10) == 0)
			o->prewarm = v;
		else if (strncmp(a, "--preload=", 10) == 0)
			o->preload = v;
		else if (strncmp(a, "--nofile=", 9) == 0)
			o->prewarm_limits.nofile = (uint32_t)parse_int_arg("--nofile", v, 0, 1 << 24);
		else if (strncmp(a, "--file-size=", 12) == 0)
			o->prewarm_limits.file_size = (uint64_t)strtoull(v, NULL, 10);
		else if (strncmp(a, "--pids=", 7) == 0)
			o->prewarm_limits.pids = (uint32_t)parse_int_arg("--pids", v, 0, 1 << 22);
		else if (strncmp(a, "--zygote=", 9) == 0)
			o->zygote = v;
		else if (strncmp(a, "--zygotes=", 10) == 0)
			o->zygotes = parse_int_arg("--zygotes", v, 1, KCR_ZYGOTES_MAX);
		else if (strncmp(a, "--fd-channel=", 13) == 0)
			o->fd_channel = parse_int_arg("--fd-channel", v, 3, 65535);
		else if (strncmp(a, "--seccomp-fd=", 13) == 0)
			o->seccomp_fd = parse_int_arg("--seccomp-fd", v, 3, 65535);
	}
}

/* Before the first program (the pre-warmed interpreter's) forks. A
 * failure is reported, and each program's start then fails with it. */
static void
prepare_seccomp(int fd)
{
	kcr_error_t err = NULL;

	if ((fd >= 0 ? kcr_seccomp_prepare_fd(fd, &err) : kcr_seccomp_prepare(&err)) < 0) {
		fprintf(stderr, "kcr-runner: %s\n", err->msg);
		kcr_error_release(&err);
	}
	if (fd >= 0)
		close(fd); /* not the programs' */
}

/* Starts the interpreter the next execution will use; failing only costs
 * speed, so it is a warning. */
static void
prewarm(const struct opts *o)
{
	const struct kcr_lang *l = o->prewarm ? kcr_lang_find(o->prewarm) : NULL;
	kcr_error_t err = NULL;

	if (l == NULL)
		return;
	if (kcr_proc_prewarm(l, &o->prewarm_limits, o->data_dir, o->src_dir, o->preload, &err) <
	    0) {
		fprintf(stderr, "kcr-runner: not pre-warming %s: %s\n", l->id, err->msg);
		kcr_error_free(err);
	}
}

/* --zygote=LANG: the cells' zygotes, started while we are one thread. A
 * runner whose zygote failed answers 503 on /ready: kcr replaces it. */
static struct runner_cells *
start_zygote(const struct opts *o)
{
	const struct kcr_lang *l = o->zygote ? kcr_lang_find(o->zygote) : NULL;
	struct kcr_zygote *bare[KCR_ZYGOTES_MAX] = { NULL }, *loaded[KCR_ZYGOTES_MAX] = { NULL };
	int n = o->zygotes > 0 ? o->zygotes : 1, n_loaded = 0;
	kcr_error_t err = NULL;

	if (o->zygote == NULL)
		return NULL;
	/* bare ones, and ones with the imports for the programs that use them
	 * (a clone of those costs more); several of each, so that cells are
	 * cloned at once, never one behind the other */
	for (int i = 0; i < n; i++) {
		if (l == NULL || kcr_zygote_start(l, "", &bare[i], &err) < 0 ||
		    (o->preload && *o->preload &&
		     kcr_zygote_start(l, o->preload, &loaded[n_loaded++], &err) < 0)) {
			fprintf(stderr, "kcr-runner: no %s zygote: %s\n", o->zygote,
				err ? err->msg : "unknown language");
			kcr_error_free(err);
			break;
		}
	}
	if (o->fd_channel >= 0)
		fcntl(o->fd_channel, F_SETFD, FD_CLOEXEC);
	return runner_cells_new(bare, n, loaded, n_loaded, o->fd_channel);
}

static int
get_listen_fd(int argc, char **argv, struct opts *o, kcr_error_t *err)
{
	if (kcr_sandbox_init_wanted(argc, argv)) {
		int fd = kcr_sandbox_init_main(argc, argv, err);

		return fd < 0 ? -1 : check_listen_fd(fd, err);
	}
	parse_args(argc, argv, o);
	if (o->unix_path)
		return listen_unix(o->unix_path, err);
	if (o->address)
		return listen_tcp(o->address, o->port, err);
	if (o->port == 0)
		return check_listen_fd(o->listen_fd, err);
	return -2; /* MHD binds the port */
}

/* Waits for a stop signal. As pid 1 of a sandbox, one sent from inside
 * it is a program's (which, kcr not root, shares our uid and may signal
 * us): ignored. kcr's, the kubelet's, come from outside, where the
 * kernel gives no pid (0). */
static bool
stop_wanted(const sigset_t *stop)
{
	siginfo_t si;

	if (sigwaitinfo(stop, &si) < 0)
		return false;
	if (getpid() == 1 && si.si_pid != 0) {
		fprintf(stderr, "kcr-runner: ignoring signal %d from pid %d of the sandbox\n",
			si.si_signo, (int)si.si_pid);
		return false;
	}
	return true;
}

static void
serve(struct runner *r, int fd, int port, const sigset_t *stop)
{
	struct MHD_Daemon *d = start_daemon(r, fd >= 0 ? fd : -1, port);

	if (d == NULL) {
		fprintf(stderr, "kcr-runner: cannot start the HTTP server\n");
		exit(125);
	}
	while (!stop_wanted(stop))
		;
	/* with an execution running, exit now: the program dies with us
	 * (PR_SET_PDEATHSIG, or the pid namespace when we are its init) */
	if (pthread_mutex_trylock(r->exec_lock) != 0)
		_exit(0);
	MHD_stop_daemon(d);
	pthread_mutex_unlock(r->exec_lock);
}

int
main(int argc, char **argv)
{
	static pthread_mutex_t exec_lock = PTHREAD_MUTEX_INITIALIZER;
	struct opts o = { .listen_fd = -1,
			  .fd_channel = -1,
			  .seccomp_fd = -1,
			  .data_dir = KCR_DATA_DIR,
			  .src_dir = KCR_SRC_DIR };
	struct runner r = { .exec_lock = &exec_lock };
	kcr_error_t err = NULL;
	sigset_t stop;
	int fd;

	/* kcr's: clones of this process are its sandboxes' runners */
	if (argc == 2 && strcmp(argv[1], "--template") == 0)
		return kcr_template_serve(TEMPLATE_CTL_FD, main);
	/* programs run as another uid but must not reach /proc/<us>/fd or mem */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* one malloc arena: libmicrohttpd's threads (the listener, one per
	 * request) each made a heap of their own, a 64 MiB mapping set up and
	 * torn down per sandbox; the runner allocates little */
	mallopt(M_ARENA_MAX, 1);
	fd = get_listen_fd(argc, argv, &o, &err);
	if (fd == -1) {
		fprintf(stderr, "kcr-runner: %s\n", err->msg);
		kcr_error_release(&err);
		return 125;
	}
	if (getpid() != 1)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	r.data_dir = o.data_dir;
	r.src_dir = o.src_dir;
	r.log_requests = o.log_requests;
	setup_signals(&stop);
	parse_prewarm(argc, argv, &o);
	prepare_seccomp(o.seccomp_fd);
	prewarm(&o);
	r.cells = start_zygote(&o);
	serve(&r, fd, o.port, &stop); /* MHD_stop_daemon closed fd */
	runner_cells_free(r.cells);
	if (o.unix_path)
		unlink(o.unix_path);
	return 0;
}

/* kcr serve: the LibreChat Code Interpreter API on the engine. */
#include <config.h>

#include "server/api.h"
#include "cmd.h"
#include "base/log.h"
#include "base/util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { O_LISTEN, O_BASE_PATH };

static const struct kcr_opt serve_opts[] = {
	[O_LISTEN] = { "listen", 0, "HOST:PORT", "address to listen on (default 127.0.0.1:8000)",
		       NULL },
	[O_BASE_PATH] = { "base-path", 0, "PATH", "also serve the routes under PATH (e.g. /v1)",
			  NULL },
	{ NULL },
};

static int
on_opt(int id, const char *arg, void *data, kcr_error_t *err)
{
	struct kcr_config *cfg = data;

	return kcr_config_set(cfg, id == O_LISTEN ? "server.listen" : "server.base_path", arg,
			      KCR_SRC_FLAG, err);
}

static void
api_limits(struct kcr_api *api, const struct kcr_config *cfg)
{
	api->files_per_upload = (size_t)kcr_config_int(cfg, "limits.files_per_upload");
	api->file_max = (uint64_t)kcr_config_int(cfg, "limits.file_size_mb") << 20;
	api->metrics_public = kcr_config_bool(cfg, "server.metrics_public");
}

static size_t
max_body(const struct kcr_config *cfg)
{
	return (size_t)kcr_config_int(cfg, "server.max_body_mb") << 20;
}

/* server.tls.*: NULL when server.tls.enabled is false */
static const struct kcr_http_tls_opts *
tls_opts(const struct kcr_config *cfg, struct kcr_http_tls_opts *t)
{
	if (!kcr_config_bool(cfg, "server.tls.enabled"))
		return NULL;
	*t = (struct kcr_http_tls_opts){
		.cert_file = kcr_config_str(cfg, "server.tls.cert_file"),
		.key_file = kcr_config_str(cfg, "server.tls.key_file"),
		.min_version = kcr_config_str(cfg, "server.tls.min_version"),
		.redirect_listen = kcr_config_str(cfg, "server.tls.redirect_listen"),
		.hsts_max_age = (unsigned int)kcr_config_int(cfg, "server.tls.hsts_max_age"),
	};
	return t;
}

/* A new certificate (or new files) for HTTPS. Turning HTTPS on or off
 * needs a restart: the listener stays what it was. */
static void
reload_tls(struct kcr_http_server *srv, const struct kcr_config *cfg)
{
	struct kcr_http_tls_opts t;
	const struct kcr_http_tls_opts *tls = tls_opts(cfg, &t);
	kcr_error_t err = NULL;

	if ((tls != NULL) != kcr_http_server_tls(srv))
		kcr_log_warn("server.tls.enabled changed: it takes effect at a restart");
	else if (tls && kcr_http_server_reload_tls(srv, tls, &err) < 0) {
		kcr_log_error("HTTPS certificate not reloaded, keeping the old one: %s", err->msg);
		kcr_error_free(err);
	}
}

/* SIGHUP: read the configuration file and environment again (flags keep
 * their values) and swap keys and limits. The listen address, stores and
 * sandbox provider stay as they are. */
/* The configuration of the last reload (the first is the caller's). */
static struct kcr_config *reloaded;

static void
reload(struct kcr_api *api, struct kcr_http_server *srv, const struct kcr_config *old)
{
	struct kcr_config *cfg = kcr_config_new();
	kcr_autofree char *generated = NULL;
	struct kcr_auth *auth;
	kcr_error_t err = NULL;
	int r = kcr_config_load(cfg, kcr_config_file(old), &err);

	kcr_config_copy_flags(cfg, old); /* --set and command-line flags still win */
	if (r < 0 || (auth = kcr_auth_new(cfg, &generated, &err)) == NULL) {
		kcr_log_error("reload failed, keeping the old configuration: %s", err->msg);
		kcr_error_free(err);
		kcr_config_free(cfg);
		return;
	}
	if (generated) /* no key configured any more: keep the old keys */
		kcr_auth_free(auth);
	else {
		pthread_rwlock_wrlock(&api->auth_lock);
		kcr_auth_free(api->auth);
		api->auth = auth;
		pthread_rwlock_unlock(&api->auth_lock);
	}
	kcr_service_reload(api->svc, cfg);
	api_limits(api, cfg);
	kcr_http_server_set_limits(srv, max_body(cfg));
	reload_tls(srv, cfg);
	/* GET /admin/config shows it: kept until the next reload swaps it */
	kcr_api_set_config(api, cfg);
	kcr_config_free(reloaded);
	reloaded = cfg;
	kcr_log_info("configuration reloaded");
}

static int
wait_loop(struct kcr_api *api, struct kcr_http_server *srv, struct kcr_config *cfg)
{
	int64_t every = kcr_config_int(cfg, "server.cleanup_interval");
	struct timespec ts = { .tv_sec = every };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	for (;;) {
		int sig = sigtimedwait(&set, NULL, &ts);
		kcr_error_t err = NULL;

		if (sig == SIGTERM || sig == SIGINT)
			return 0;
		if (sig == SIGHUP)
			reload(api, srv, cfg);
		else if (kcr_service_cleanup(api->svc, (double)every, &err) < 0)
			kcr_error_warn_release(&err);
	}
}

static struct kcr_http_server *
start_http(struct kcr_api *api, const struct kcr_config *cfg, kcr_error_t *err)
{
	kcr_autostrv char **origins = kcr_config_list(cfg, "server.cors_origins");
	kcr_autostrv char **methods = kcr_config_list(cfg, "server.cors_methods");
	kcr_autostrv char **headers = kcr_config_list(cfg, "server.cors_headers");
	struct kcr_http_tls_opts t;
	/* uploads pass through the same spool as outputs (kcr.yaml(5), state_dir) */
	kcr_autofree char *spool = kcr_strdup_printf("%s/spool", kcr_config_str(cfg, "state_dir"));
	struct kcr_http_server_opts o = {
		.listen = kcr_config_str(cfg, "server.listen"),
		.base_path = kcr_config_str(cfg, "server.base_path"),
		.routes = kcr_api_routes(),
		.max_body = max_body(cfg),
		.preauth_body = (size_t)kcr_config_int(cfg, "server.preauth_body_kb") << 10,
		.max_parts = (size_t)kcr_config_int(cfg, "server.max_form_parts"),
		.max_connections = (unsigned int)kcr_config_int(cfg, "server.max_connections"),
		.max_per_peer =
			(unsigned int)kcr_config_int(cfg, "server.max_connections_per_peer"),
		.header_timeout_s = (unsigned int)kcr_config_int(cfg, "server.header_timeout"),
		.body_timeout_s = (unsigned int)kcr_config_int(cfg, "server.body_timeout"),
		.idle_timeout_s = (unsigned int)kcr_config_int(cfg, "server.idle_timeout"),
		.cors_origins = origins,
		.cors_methods = methods,
		.cors_headers = headers,
		.cors_max_age = (unsigned int)kcr_config_int(cfg, "server.cors_max_age"),
		.tls = tls_opts(cfg, &t),
		.spool_dir = spool,
		.auth = kcr_api_authorize,
		.on_reply = kcr_api_on_reply,
		.ud = api,
		.log_requests = true,
	};

	return kcr_http_server_start(&o, err);
}

static int
serve_run(struct kcr_ctx *ctx, int argc, char **argv, kcr_error_t *err)
{
	struct kcr_api api = { 0 };
	struct kcr_http_server *srv = NULL;
	kcr_autofree char *generated = NULL;
	sigset_t set;
	int first, r = kcr_cmd_parse(&kcr_cmd_serve, argc, argv, on_opt, ctx->cfg, &first, err);

	if (r != 0)
		return r == 1 ? 0 : -1;
	if (first < argc)
		return kcr_cmd_usage_error(&kcr_cmd_serve, err, "unexpected argument '%s'",
					   argv[first]);
	/* block the signals before any thread starts, so only sigtimedwait sees them */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_rwlock_init(&api.auth_lock, NULL);
	api_limits(&api, ctx->cfg);
	r = -1;
	if ((api.auth = kcr_auth_new(ctx->cfg, &generated, err)) == NULL ||
	    (api.svc = kcr_service_new(ctx->cfg, err)) == NULL)
		goto out;
	kcr_api_init(&api, ctx->cfg); /* needs the service's stores */
	kcr_service_prepare_many(api.svc);
	if ((kcr_config_bool(ctx->cfg, "pool.enabled") &&
	     kcr_service_enable_pool(api.svc, ctx->cfg, err) < 0) ||
	    (srv = start_http(&api, ctx->cfg, err)) == NULL)
		goto out;
	if (generated)
		fprintf(stderr, "kcr: no API key configured; generated one for this run:\n%s\n",
			generated);
	fprintf(stderr, "kcr: serving on %s (port %d)%s%s%s\n",
		kcr_config_str(ctx->cfg, "server.listen"), kcr_http_server_port(srv),
		*kcr_config_str(ctx->cfg, "server.base_path") ? " and under " : "",
		kcr_config_str(ctx->cfg, "server.base_path"),
		kcr_http_server_tls(srv) ? ", HTTPS" : "");
	r = wait_loop(&api, srv, ctx->cfg);
	fprintf(stderr, "kcr: stopping; finishing requests in flight\n");
out:
	kcr_http_server_stop(srv, 30000);
	kcr_api_release(&api); /* flushes the usage into the service's store */
	kcr_service_free(api.svc);
	kcr_auth_free(api.auth);
	kcr_config_free(reloaded);
	reloaded = NULL;
	pthread_rwlock_destroy(&api.auth_lock);
	return r;
}

const struct kcr_cmd kcr_cmd_serve = {
	.name = "serve",
	.usage = "kcr serve [--listen HOST:PORT] [--base-path PATH]",
	.summary = "Serve the LibreChat Code Interpreter API (POST /exec, /upload, GET /files, "
		   "/download, ...).",
	.examples = "  kcr serve\n"
		    "  KCR_API_KEYS=sk-one,sk-two kcr serve --listen 0.0.0.0:8000\n"
		    "  kcr serve --base-path /v1\n"
		    "  curl -H 'X-API-Key: sk-one' localhost:8000/exec -d "
		    "'{\"lang\":\"py\",\"code\":\"print(1)\"}'",
	.opts = serve_opts,
	.run = serve_run,
};

/* Who we are, request by request: a token file read again whenever it
 * changes (a projected service-account token rotates), and an exec
 * credential plugin (client.authentication.k8s.io ExecCredential) run
 * when its credential is missing or expired. */
#include <config.h>

#include "base/clock.h"
#include "base/encode.h"
#include "base/files.h"
#include "base/json.h"
#include "base/util.h"
#include "sandbox/k8s-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define TOKEN_FILE_MAX  ((size_t)1 << 20)
#define EXEC_OUT_MAX    ((size_t)1 << 20)
#define EXEC_ERR_SHOWN  512
#define EXEC_TIMEOUT_MS 60000
/* a credential this close to its expiry is asked for again */
#define EXEC_EXPIRY_SLACK_S 10

void
k8s_creds_init(struct k8s_creds *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
}

static void
exec_forget(struct k8s_creds *c)
{
	free(c->exec_token);
	free(c->exec_cert);
	free(c->exec_key);
	c->exec_token = c->exec_cert = c->exec_key = NULL;
	c->exec_valid = false;
	c->exec_expiry = 0;
}

void
k8s_creds_release(struct k8s_creds *c)
{
	exec_forget(c);
	free(c->file_token);
	pthread_mutex_destroy(&c->lock);
}

/* ---- the token file -------------------------------------------------------- */

static bool
file_changed(const struct k8s_creds *c, const struct stat *st)
{
	return !c->file_seen || c->dev != st->st_dev || c->ino != st->st_ino ||
	       c->size != st->st_size || c->mtime.tv_sec != st->st_mtim.tv_sec ||
	       c->mtime.tv_nsec != st->st_mtim.tv_nsec;
}

/* A stat() per request; the file is read only when it changed. A file
 * that went away keeps the token last read, if any. */
static int
file_token(struct kcr_k8s *k, kcr_error_t *err)
{
	struct k8s_creds *c = &k->creds;
	kcr_error_t e = NULL;
	char *text = NULL;
	size_t len;
	struct stat st;

	if (stat(k->cfg.token_file, &st) < 0) {
		if (c->file_token)
			return 0;
		return kcr_error_set(err, KCR_E_AUTH, errno, "cannot read the token file '%s'",
				     k->cfg.token_file);
	}
	if (!file_changed(c, &st))
		return 0;
	if (kcr_read_file(k->cfg.token_file, TOKEN_FILE_MAX, &text, &len, &e) < 0) {
		int r = c->file_token
				? 0
				: kcr_error_set(err, KCR_E_AUTH, 0, "the token file: %s", e->msg);

		kcr_error_free(e);
		return r;
	}
	while (len > 0 && strchr(" \t\r\n", text[len - 1]))
		text[--len] = '\0';
	free(c->file_token);
	c->file_token = text;
	c->file_seen = true;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->size = st.st_size;
	c->mtime = st.st_mtim;
	return 0;
}

/* ---- the exec plugin --------------------------------------------------------- */

/* What the plugin is told (KUBERNETES_EXEC_INFO): not interactive, and
 * the cluster when the kubeconfig says provideClusterInfo. */
static char *
exec_info(const struct kcr_k8s_config *cfg)
{
	cJSON *o = cJSON_CreateObject(), *spec = cJSON_AddObjectToObject(o, "spec");

	cJSON_AddStringToObject(o, "apiVersion", cfg->exec_api_version);
	cJSON_AddStringToObject(o, "kind", "ExecCredential");
	cJSON_AddBoolToObject(spec, "interactive", false);
	if (cfg->exec_provide_cluster_info) {
		cJSON *cl = cJSON_AddObjectToObject(spec, "cluster");

		cJSON_AddStringToObject(cl, "server", cfg->server);
		if (cfg->ca_pem) {
			char *b = kcr_base64_encode(cfg->ca_pem, strlen(cfg->ca_pem));

			cJSON_AddStringToObject(cl, "certificate-authority-data", b);
			free(b);
		}
		if (cfg->insecure_skip_tls_verify)
			cJSON_AddBoolToObject(cl, "insecure-skip-tls-verify", true);
	}
	return kcr_json_print_free(o);
}

/* Our environment, with the kubeconfig's exec.env and the exec info on
 * top (the same name: theirs wins). */
static char **
exec_envp(const struct kcr_k8s_config *cfg)
{
	kcr_autofree char *info = exec_info(cfg);
	kcr_autofree char *kv = kcr_strdup_printf("KUBERNETES_EXEC_INFO=%s", info);
	char **env = NULL;
	char **extra = NULL;

	kcr_strv_push(&extra, kv);
	for (char **e = cfg->exec_env; e && *e; e++)
		kcr_strv_push(&extra, *e);
	for (char **e = environ; e && *e; e++) {
		size_t n = strcspn(*e, "=");
		bool over = false;

		for (char **x = extra; *x && !over; x++)
			over = strncmp(*x, *e, n) == 0 && (*x)[n] == '=';
		if (!over)
			kcr_strv_push(&env, *e);
	}
	for (char **x = extra; *x; x++)
		kcr_strv_push(&env, *x);
	kcr_strv_free(extra);
	return env;
}

struct plugin_run {
	pid_t pid;
	int out, errfd;
	struct kcr_buf o, e;
	bool timed_out;
};

/* The plugin's file: a name with a '/' as it is, else the first of PATH
 * (looked up here, not by posix_spawnp, so that a missing plugin is told
 * as such whatever spawned it). NULL: not there. */
static char *
find_command(const char *cmd)
{
	const char *path = getenv("PATH");

	if (strchr(cmd, '/'))
		return access(cmd, X_OK) == 0 ? kcr_xstrdup(cmd) : NULL;
	for (const char *p = path && *path ? path : "/usr/local/bin:/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");
		char *f = kcr_strdup_printf("%.*s/%s", (int)n, n ? p : ".", cmd);
		struct stat st;

		if (access(f, X_OK) == 0 && stat(f, &st) == 0 && S_ISREG(st.st_mode))
			return f;
		free(f);
		p += n + (p[n] == ':');
	}
	return NULL;
}

static int
not_installed(const struct kcr_k8s_config *cfg, kcr_error_t *err)
{
	return kcr_error_set(err, KCR_E_UNAVAILABLE, 0,
			     "the kubeconfig's exec credential plugin '%s' is not installed "
			     "(not found%s)%s%s",
			     cfg->exec_command, strchr(cfg->exec_command, '/') ? "" : " in PATH",
			     cfg->exec_install_hint ? ": " : "",
			     cfg->exec_install_hint ? cfg->exec_install_hint : "");
}

static int
spawn_plugin(const struct kcr_k8s_config *cfg, struct plugin_run *r, kcr_error_t *err)
{
	kcr_autofree char *file = find_command(cfg->exec_command);
	kcr_autostrv char **argv = NULL;
	kcr_autostrv char **envp = NULL;
	posix_spawn_file_actions_t fa;
	int po[2], pe[2], rc;

	if (file == NULL)
		return not_installed(cfg, err);
	envp = exec_envp(cfg);

	kcr_strv_push(&argv, cfg->exec_command);
	for (char **a = cfg->exec_args; a && *a; a++)
		kcr_strv_push(&argv, *a);
	if (pipe2(po, O_CLOEXEC) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "pipe");
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return kcr_error_set(err, KCR_E_IO, errno, "pipe");
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	rc = posix_spawn(&r->pid, file, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(po[1]);
	close(pe[1]);
	r->out = po[0];
	r->errfd = pe[0];
	if (rc == 0)
		return 0;
	close(po[0]);
	close(pe[0]);
	r->out = r->errfd = -1;
	if (rc == ENOENT)
		return not_installed(cfg, err);
	return kcr_error_set(err, KCR_E_UNAVAILABLE, rc,
			     "cannot run the kubeconfig's exec credential plugin '%s'",
			     cfg->exec_command);
}

/* Reads the plugin's stdout and stderr to their ends (each bounded), up
 * to EXEC_TIMEOUT_MS; then reaps it. *status is its wait status. */
static void
collect_plugin(struct plugin_run *r, int *status)
{
	uint64_t deadline = kcr_now_ms() + EXEC_TIMEOUT_MS;
	char buf[8192];

	while (r->out >= 0 || r->errfd >= 0) {
		struct pollfd p[2] = { { r->out, POLLIN, 0 }, { r->errfd, POLLIN, 0 } };
		uint64_t now = kcr_now_ms();

		if (now >= deadline) {
			r->timed_out = true;
			kill(r->pid, SIGKILL);
			break;
		}
		if (poll(p, 2, (int)(deadline - now)) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			int *fd = i == 0 ? &r->out : &r->errfd;
			struct kcr_buf *b = i == 0 ? &r->o : &r->e;
			ssize_t n;

			if (*fd < 0 || p[i].revents == 0)
				continue;
			n = read(*fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(*fd);
				*fd = -1;
			} else if (b->len + (size_t)n <= EXEC_OUT_MAX) {
				kcr_buf_add(b, buf, (size_t)n);
			}
		}
	}
	if (r->out >= 0)
		close(r->out);
	if (r->errfd >= 0)
		close(r->errfd);
	while (waitpid(r->pid, status, 0) < 0 && errno == EINTR)
		;
}

/* The first line of what the plugin said on stderr, for an error. */
static char *
stderr_words(const struct kcr_buf *e)
{
	const char *s = e->data ? e->data : "";
	size_t n = strcspn(s, "\n");

	return kcr_xstrndup(s, n > EXEC_ERR_SHOWN ? EXEC_ERR_SHOWN : n);
}

static int
parse_credential(const struct kcr_k8s_config *cfg, const char *text, struct k8s_creds *c,
		 kcr_error_t *err)
{
	cJSON *j = cJSON_Parse(text);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
	const char *kind = kcr_json_str(j, "kind"), *ver = kcr_json_str(j, "apiVersion");
	const char *tok = kcr_json_str(st, "token"),
		   *crt = kcr_json_str(st, "clientCertificateData");
	const char *key = kcr_json_str(st, "clientKeyData");
	const char *exp = kcr_json_str(st, "expirationTimestamp");
	int r = 0;

	if (kind == NULL || strcmp(kind, "ExecCredential") != 0 || !cJSON_IsObject(st))
		r = kcr_error_set(err, KCR_E_AUTH, 0,
				  "exec credential plugin '%s' did not print an ExecCredential",
				  cfg->exec_command);
	else if (ver && cfg->exec_api_version && strcmp(ver, cfg->exec_api_version) != 0)
		r = kcr_error_set(
			err, KCR_E_AUTH, 0,
			"exec credential plugin '%s' answered %s, the kubeconfig asks for %s",
			cfg->exec_command, ver, cfg->exec_api_version);
	else if ((tok == NULL || !*tok) && (crt == NULL || key == NULL))
		r = kcr_error_set(err, KCR_E_AUTH, 0,
				  "exec credential plugin '%s' gave neither a token nor a client "
				  "certificate and key",
				  cfg->exec_command);
	if (r == 0) {
		exec_forget(c);
		c->exec_token = tok && *tok ? kcr_xstrdup(tok) : NULL;
		c->exec_cert = crt && key ? kcr_xstrdup(crt) : NULL;
		c->exec_key = crt && key ? kcr_xstrdup(key) : NULL;
		c->exec_expiry = exp ? kcr_iso8601_parse(exp) : 0;
		c->exec_valid = true;
	}
	cJSON_Delete(j);
	return r;
}

static int
run_plugin(struct kcr_k8s *k, kcr_error_t *err)
{
	struct plugin_run r = { .out = -1, .errfd = -1 };
	kcr_autofree char *words = NULL;
	int status = 0, ret;

	kcr_buf_init(&r.o);
	kcr_buf_init(&r.e);
	if (spawn_plugin(&k->cfg, &r, err) < 0)
		return -1;
	collect_plugin(&r, &status);
	words = stderr_words(&r.e);
	if (r.timed_out)
		ret = kcr_error_set(err, KCR_E_TIMEOUT, 0,
				    "exec credential plugin '%s' did not answer in %d s",
				    k->cfg.exec_command, EXEC_TIMEOUT_MS / 1000);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		ret = kcr_error_set(err, KCR_E_AUTH, 0,
				    "exec credential plugin '%s' failed (%s %d)%s%s",
				    k->cfg.exec_command, WIFEXITED(status) ? "exit" : "signal",
				    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
				    *words ? ": " : "", words);
	else
		ret = parse_credential(&k->cfg, r.o.data ? r.o.data : "", &k->creds, err);
	kcr_buf_release(&r.o);
	kcr_buf_release(&r.e);
	return ret;
}

static bool
exec_fresh(const struct k8s_creds *c)
{
	return c->exec_valid &&
	       (c->exec_expiry == 0 || kcr_wall_time() + EXEC_EXPIRY_SLACK_S < c->exec_expiry);
}

/* ---- one request's credentials ------------------------------------------------ */

static char *
dup_or_null(const char *s)
{
	return s ? kcr_xstrdup(s) : NULL;
}

int
k8s_auth_get(struct kcr_k8s *k, struct k8s_auth *a, kcr_error_t *err)
{
	struct k8s_creds *c = &k->creds;
	const char *token = k->cfg.token, *cert = k->cfg.cert_pem, *key = k->cfg.key_pem;
	int r = 0;

	memset(a, 0, sizeof(*a));
	if (k->cfg.token_file == NULL && k->cfg.exec_command == NULL) {
		a->token = dup_or_null(token);
		a->cert_pem = dup_or_null(cert);
		a->key_pem = dup_or_null(key);
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	if (k->cfg.token_file && (r = file_token(k, err)) == 0 && c->file_token)
		token = c->file_token;
	if (r == 0 && k->cfg.exec_command) {
		if (!exec_fresh(c))
			r = run_plugin(k, err);
		if (r == 0 && c->exec_token)
			token = c->exec_token;
		if (r == 0 && c->exec_cert)
			cert = c->exec_cert, key = c->exec_key;
	}
	if (r == 0) {
		a->token = dup_or_null(token);
		a->cert_pem = dup_or_null(cert);
		a->key_pem = dup_or_null(key);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

void
k8s_auth_release(struct k8s_auth *a)
{
	free(a->token);
	free(a->cert_pem);
	free(a->key_pem);
	memset(a, 0, sizeof(*a));
}

bool
k8s_auth_invalidate(struct kcr_k8s *k)
{
	bool again = false;

	if (k->cfg.exec_command == NULL)
		return false;
	pthread_mutex_lock(&k->creds.lock);
	again = k->creds.exec_valid;
	exec_forget(&k->creds);
	pthread_mutex_unlock(&k->creds.lock);
	return again;
}

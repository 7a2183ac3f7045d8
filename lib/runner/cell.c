/* Warm cells: the runner's side of the zygote (lib/runner/pyboot.py is the
 * other). The protocol, on a SOCK_SEQPACKET pair, one JSON per message:
 *
 *   runner -> zygote  {"seccomp": HEX, "pystate_hook": ...}       once
 *   zygote -> runner  {"ready": true} | {"error": MSG}           imports done
 *   runner -> zygote  struct kcr_cell_req + fds                  a spawn
 *   zygote -> runner  {"pid": N} | {"error": MSG}
 *
 * The zygote answers spawns in C (lib/runner/cell_setup.c, kcr-cell.so,
 * which it loads from a sealed memfd we pass as fd 4), so the request is
 * that file's struct.
 *
 * A spawn passes the cell's stdin, stdout and stderr, a report pipe, its
 * /mnt/data and /tmp (detached tmpfs mounts) and the cgroup files to join
 * (SCM_RIGHTS). The cell writes a line to the
 * report pipe if its set-up fails, or "R" when it waits for its program,
 * and later "X<status>\n" when the program is done. */
#include <config.h>

#include "runner/cell.h"
#include "base/clock.h"
#include "base/files.h"
#include "base/json.h"
#include "runner/cell_setup.h"
#include "runner/cell_so.h"
#include "runner/proc.h"
#include "runner/pyboot.h"
#include "runner/pystate_hook.h"
#include "runner/sandbox_init.h"
#include "runner/seccomp.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define ZYGOTE_CTL_FD 3
#define ZYGOTE_SO_FD     4      /* kcr-cell.so, which the zygote loads */
#define READY_TIMEOUT_MS 120000 /* the imports of pool.py_preload */
#define SPAWN_TIMEOUT_MS 10000
#define MAX_MSG 65536
#define SHM_MAX_MB 64

struct kcr_zygote {
	const struct kcr_lang *lang;
	pid_t pid;
	int ctl;
	pthread_mutex_t lock; /* one spawn at a time: the zygote is one thread */
	bool ready, failed;
};

struct kcr_cell {
	char id[KCR_CELL_ID_MAX + 1];
	int data_fd, tmp_fd;  /* its tmpfs, detached mounts (fsmount) */
	char *data, *src;     /* /mnt/data and /tmp/.kcr as the runner reaches them */
	struct kcr_proc_warm *warm;
	pthread_mutex_t lock; /* its one execution */
};

/* ---- the zygote ------------------------------------------------------------ */

static char **
zygote_env(const struct kcr_lang *l, const char *preload)
{
	char **env = kcr_proc_clean_env(l);
	kcr_autofree char *pre = kcr_strdup_printf("KCR_PRELOAD=%s", preload ? preload : "");
	kcr_autofree char *ctl = kcr_strdup_printf("KCR_ZYGOTE=%d", ZYGOTE_CTL_FD);
	kcr_autofree char *so = kcr_strdup_printf("KCR_CELL_SO=%d", ZYGOTE_SO_FD);

	kcr_strv_push(&env, pre);
	kcr_strv_push(&env, ctl);
	kcr_strv_push(&env, so);
	/* a zygote must stay one thread to fork safely, and a cell has one
	 * CPU of quota: BLAS and OpenMP start no pools of threads */
	kcr_strv_push(&env, "OPENBLAS_NUM_THREADS=1");
	kcr_strv_push(&env, "OMP_NUM_THREADS=1");
	kcr_strv_push(&env, "MKL_NUM_THREADS=1");
	return env;
}

/* The forked child, until execve: the runner is still one thread. */
static void __attribute__((noreturn)) zygote_child(int ctl, int so, char **argv, char **envp)
{
	sigset_t none;
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* above the numbers they go to, so that no dup2 closes the other */
	ctl = fcntl(ctl, F_DUPFD_CLOEXEC, ZYGOTE_SO_FD + 1);
	so = fcntl(so, F_DUPFD_CLOEXEC, ZYGOTE_SO_FD + 1);
	/* stdout and stderr: the runner's stderr, which kcr logs */
	if (nul < 0 || ctl < 0 || so < 0 || dup2(nul, 0) < 0 || dup2(2, 1) < 0 ||
	    dup2(ctl, ZYGOTE_CTL_FD) < 0 || dup2(so, ZYGOTE_SO_FD) < 0)
		_exit(127);
	close_range(ZYGOTE_SO_FD + 1, ~0U, 0);
	execve(argv[0], argv, envp);
	_exit(127);
}

/* kcr-cell.so in a sealed memfd: the zygote maps it, and nothing can
 * change it afterwards. */
static int
cell_so_fd(kcr_error_t *err)
{
	const struct kcr_asset *a = &kcr_cell_so[0];
	kcr_autoclose int fd = memfd_create("kcr-cell.so", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || kcr_write_all(fd, a->data, a->len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot hand the zygote kcr-cell.so");
	return kcr_steal_fd(&fd);
}

static char *
zygote_config(kcr_error_t *err)
{
	kcr_autofree char *bpf = NULL;
	size_t len = 0;
	struct kcr_buf hex;
	cJSON *o;

	if (kcr_seccomp_export(&bpf, &len, err) < 0)
		return NULL;
	kcr_buf_init(&hex);
	for (size_t i = 0; i < len; i++)
		kcr_buf_addf(&hex, "%02x", (unsigned char)bpf[i]);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "seccomp", hex.data ? hex.data : "");
	/* compiled once, not per execution */
	cJSON_AddStringToObject(o, "pystate_hook", kcr_pystate_hook);
	cJSON_AddStringToObject(o, "pystate_path",
				KCR_SRC_DIR "/" KCR_PYSTATE_DIR "/" KCR_PYSTATE_HOOK);
	cJSON_AddStringToObject(o, "pystate_impl", kcr_pystate_impl);
	cJSON_AddStringToObject(o, "pystate_impl_path",
				KCR_SRC_DIR "/" KCR_PYSTATE_DIR "/" KCR_PYSTATE_IMPL);
	kcr_buf_release(&hex);
	return kcr_json_print_free(o);
}

int
kcr_zygote_start(const struct kcr_lang *l, const char *preload, struct kcr_zygote **out,
		 kcr_error_t *err)
{
	kcr_autostrv char **env = NULL;
	kcr_autostrv char **argv = NULL;
	kcr_autofree char *cfg = NULL;
	kcr_autoclose int so = -1;
	struct kcr_zygote *z;
	int sv[2];
	pid_t pid;

	if (!(l->caps & KCR_LANG_FORK_SERVER))
		return kcr_error_set(err, KCR_E_INVALID, 0, "no zygote for %s", l->id);
	if ((cfg = zygote_config(err)) == NULL || (so = cell_so_fd(err)) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "socketpair");
	env = zygote_env(l, preload);
	kcr_strv_push(&argv, l->run[0]);
	kcr_strv_push(&argv, "-c");
	kcr_strv_push(&argv, kcr_pyboot_src);
	pid = fork();
	if (pid == 0)
		zygote_child(sv[1], so, argv, env);
	close(sv[1]);
	if (pid < 0 || send(sv[0], cfg, strlen(cfg), MSG_NOSIGNAL) < 0) {
		int e = errno;

		close(sv[0]);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		return kcr_error_set(err, KCR_E_IO, e, "cannot start the %s zygote", l->id);
	}
	z = kcr_xzalloc(sizeof(*z));
	z->lang = l;
	z->pid = pid;
	z->ctl = sv[0];
	pthread_mutex_init(&z->lock, NULL);
	*out = z;
	return 0;
}

/* One message of the zygote's, within timeout_ms; NULL with err set. */
static cJSON *
zygote_recv(struct kcr_zygote *z, int timeout_ms, kcr_error_t *err)
{
	struct pollfd p = { .fd = z->ctl, .events = POLLIN };
	char buf[MAX_MSG];
	const cJSON *e;
	cJSON *o;
	ssize_t n;
	int r;

	while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	if (r == 0) {
		z->failed = true; /* a late answer would be taken for the next one's */
		kcr_error_set(err, KCR_E_TIMEOUT, 0, "the %s zygote did not answer in %d ms",
			      z->lang->id, timeout_ms);
		return NULL;
	}
	while ((n = recv(z->ctl, buf, sizeof(buf) - 1, 0)) < 0 && errno == EINTR)
		;
	if (n <= 0) {
		z->failed = true;
		kcr_error_set(err, KCR_E_UNAVAILABLE, n < 0 ? errno : 0,
			      "the %s zygote exited (see the runner's log)", z->lang->id);
		return NULL;
	}
	buf[n] = '\0';
	o = cJSON_Parse(buf);
	e = cJSON_GetObjectItemCaseSensitive(o, "error");
	if (o == NULL || cJSON_IsString(e)) {
		kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "%s zygote: %s", z->lang->id,
			      o ? e->valuestring : "unreadable answer");
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Called locked: the first spawn waits for the imports. */
static int
zygote_wait_ready(struct kcr_zygote *z, kcr_error_t *err)
{
	cJSON *o;

	if (z->ready)
		return 0;
	if (z->failed)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "the %s zygote is gone",
				     z->lang->id);
	if ((o = zygote_recv(z, READY_TIMEOUT_MS, err)) == NULL) {
		z->failed = true;
		return -1;
	}
	z->ready = kcr_json_bool(o, "ready", false);
	cJSON_Delete(o);
	if (!z->ready) {
		z->failed = true;
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "the %s zygote did not start",
				     z->lang->id);
	}
	return 0;
}

bool
kcr_zygote_alive(struct kcr_zygote *z)
{
	return z && !z->failed && !kcr_child_exited(z->pid);
}

void
kcr_zygote_free(struct kcr_zygote *z)
{
	if (z == NULL)
		return;
	close(z->ctl); /* EOF: it exits */
	kill(z->pid, SIGKILL);
	while (waitpid(z->pid, NULL, 0) < 0 && errno == EINTR)
		;
	pthread_mutex_destroy(&z->lock);
	free(z);
}

/* ---- a cell's file systems ------------------------------------------------- */

static bool
id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > KCR_CELL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)id[i]) || id[i] == '-' || id[i] == '_'))
			return false;
	return true;
}

/* A tmpfs mounted nowhere (the new mount API): the cell moves it onto its
 * /mnt/data or /tmp, in its own mount namespace, and the runner reaches
 * it through the descriptor. No mount of the runner's namespace, so none
 * a cell's namespace copies and has to hide. */
static int
tmpfs_fd(const char *mode, uint32_t mb, bool program_owns, kcr_error_t *err)
{
	char size[32];
	kcr_autoclose int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
	int m;

	snprintf(size, sizeof(size), "%um", mb ? mb : 1);
	if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "mode", mode, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "size", size, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot make a tmpfs for a cell");
	m = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (m < 0)
		return kcr_error_set(err, KCR_E_IO, errno, "cannot mount a tmpfs for a cell");
	if (program_owns && fchownat(m, "", KCR_SANDBOX_UID, KCR_SANDBOX_GID, AT_EMPTY_PATH) < 0 &&
	    errno != EINVAL) {
		close(m);
		return kcr_error_set(err, KCR_E_IO, errno, "cannot chown a cell's tmpfs");
	}
	return m;
}

static int
cell_fs(struct kcr_cell *c, const struct kcr_cell_spec *spec, kcr_error_t *err)
{
	if ((c->data_fd = tmpfs_fd("0755", spec->data_mb, true, err)) < 0 ||
	    (c->tmp_fd = tmpfs_fd("1777", spec->tmp_mb, false, err)) < 0)
		return -1;
	c->data = kcr_strdup_printf("/proc/self/fd/%d", c->data_fd);
	c->src = kcr_strdup_printf("/proc/self/fd/%d%s", c->tmp_fd, KCR_SRC_DIR + strlen("/tmp"));
	return 0;
}

/* ---- spawning ------------------------------------------------------------------ */

static struct kcr_cell_req
spawn_message(const struct kcr_cell_spec *spec)
{
	return (struct kcr_cell_req){
		.magic = KCR_CELL_REQ_MAGIC,
		.uid = KCR_SANDBOX_UID,
		.gid = KCR_SANDBOX_GID,
		.shm_mb = spec->tmp_mb && spec->tmp_mb < SHM_MAX_MB ? spec->tmp_mb : SHM_MAX_MB,
		.nofile = spec->limits.nofile,
		.fsize = spec->limits.file_size,
	};
}

static int
send_fds(struct kcr_zygote *z, const struct kcr_cell_req *msg, const int *fds, int n,
	 kcr_error_t *err)
{
	if (kcr_send_fds(z->ctl, msg, sizeof(*msg), fds, n) < 0)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, errno, "cannot reach the %s zygote",
				     z->lang->id);
	return 0;
}

/* One of zs, locked: a free one that works, else the next in turn (each
 * clones one cell at a time). NULL if none started. */
static struct kcr_zygote *
zygote_lock(struct kcr_zygote_set *zs)
{
	unsigned int first = atomic_fetch_add(&zs->next, 1), n = (unsigned int)zs->n;
	struct kcr_zygote *z = NULL;

	for (unsigned int i = 0; i < n; i++) {
		struct kcr_zygote *c = zs->z[(first + i) % n];

		if (c == NULL || c->failed)
			continue;
		if (pthread_mutex_trylock(&c->lock) == 0)
			return c;
		if (z == NULL)
			z = c;
	}
	if (z == NULL) /* all failed: the first says why */
		for (unsigned int i = 0; i < n && z == NULL; i++)
			z = zs->z[i];
	if (z)
		pthread_mutex_lock(&z->lock);
	return z;
}

/* Asks one of zs for the cell; returns its pid, and its language. */
static pid_t
zygote_spawn(struct kcr_zygote_set *zs, const struct kcr_cell_req *msg, const int *fds, int n,
	     const struct kcr_lang **lang, kcr_error_t *err)
{
	struct kcr_zygote *z = zygote_lock(zs);
	const cJSON *pid;
	cJSON *o = NULL;
	pid_t ret = -1;

	if (z == NULL)
		return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "no zygote started");
	*lang = z->lang;
	if (zygote_wait_ready(z, err) == 0 && send_fds(z, msg, fds, n, err) == 0 &&
	    (o = zygote_recv(z, SPAWN_TIMEOUT_MS, err)) != NULL) {
		pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
		if (cJSON_IsNumber(pid) && pid->valuedouble > 0)
			ret = (pid_t)pid->valuedouble;
		else
			kcr_error_set(err, KCR_E_INTERNAL, 0, "the zygote answered no pid");
	}
	pthread_mutex_unlock(&z->lock);
	cJSON_Delete(o);
	return ret;
}

/* The report pipe: "R" alone means ready (the pipe then says how the
 * program ended, see kcr_proc_warm_adopt), text is the error. */
static int
wait_cell_ready(int fd, kcr_error_t *err)
{
	uint64_t until = kcr_now_ms() + SPAWN_TIMEOUT_MS;
	char buf[512];
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = kcr_now_ms();
		ssize_t n;

		if (now >= until || poll(&p, 1, (int)(until - now)) == 0)
			return kcr_error_set(err, KCR_E_TIMEOUT, 0, "cell not ready after %d ms",
					     SPAWN_TIMEOUT_MS);
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if ((len == 1 && buf[0] == 'R') || len == sizeof(buf) - 1)
			break;
	}
	if (len == 1 && buf[0] == 'R')
		return 0;
	buf[len] = '\0';
	return kcr_error_set(err, KCR_E_UNAVAILABLE, 0, "cell set-up: %s",
			     len ? buf : "it died");
}

struct spawn_pipes {
	int in[2], out[2], err[2], rep[2];
};

static void
spawn_pipes_close(struct spawn_pipes *p)
{
	int *all[] = { &p->in[0], &p->in[1], &p->out[0], &p->out[1],
		       &p->err[0], &p->err[1], &p->rep[0], &p->rep[1] };

	for (size_t i = 0; i < KCR_ARRAY_SIZE(all); i++)
		kcr_closep(all[i]);
}

int
kcr_cell_spawn(struct kcr_zygote_set *zs, const struct kcr_cell_spec *spec, struct kcr_cell **out,
	       kcr_error_t *err)
{
	__attribute__((cleanup(spawn_pipes_close))) struct spawn_pipes p = {
		{ -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 }
	};
	struct kcr_cell_req msg = spawn_message(spec);
	const struct kcr_lang *lang = NULL;
	int fds[KCR_CELL_FDS_MAX];
	struct kcr_cell *c;
	pid_t pid;

	if (!id_ok(spec->id))
		return kcr_error_set(err, KCR_E_INVALID, 0, "bad cell id '%s'",
				     spec->id ? spec->id : "");
	if (spec->n_join_fds > KCR_CELL_FDS_MAX - KCR_CELL_FD_JOIN)
		return kcr_error_set(err, KCR_E_INVALID, 0, "too many cgroup files");
	c = kcr_xzalloc(sizeof(*c));
	c->data_fd = c->tmp_fd = -1;
	snprintf(c->id, sizeof(c->id), "%s", spec->id);
	pthread_mutex_init(&c->lock, NULL);
	if (cell_fs(c, spec, err) < 0)
		goto fail;
	if (pipe2(p.in, O_CLOEXEC) < 0 || pipe2(p.out, O_CLOEXEC) < 0 ||
	    pipe2(p.err, O_CLOEXEC) < 0 || pipe2(p.rep, O_CLOEXEC) < 0) {
		kcr_error_set(err, KCR_E_IO, errno, "creating the cell's pipes");
		goto fail;
	}
	fds[KCR_CELL_FD_STDIN] = p.in[0];
	fds[KCR_CELL_FD_STDOUT] = p.out[1];
	fds[KCR_CELL_FD_STDERR] = p.err[1];
	fds[KCR_CELL_FD_REPORT] = p.rep[1];
	fds[KCR_CELL_FD_DATA] = c->data_fd;
	fds[KCR_CELL_FD_TMP] = c->tmp_fd;
	for (int i = 0; i < spec->n_join_fds; i++)
		fds[KCR_CELL_FD_JOIN + i] = spec->join_fds[i];
	pid = zygote_spawn(zs, &msg, fds, KCR_CELL_FD_JOIN + spec->n_join_fds, &lang, err);
	kcr_closep(&p.rep[1]); /* only the cell holds it now: EOF when it dies */
	if (pid < 0)
		goto fail;
	c->warm = kcr_proc_warm_adopt(lang, &spec->limits, pid,
				      (int[]){ kcr_steal_fd(&p.in[1]), kcr_steal_fd(&p.out[0]),
					       kcr_steal_fd(&p.err[0]), p.rep[0] });
	if (wait_cell_ready(kcr_steal_fd(&p.rep[0]), err) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	kcr_cell_free(c);
	return -1;
}

const char *
kcr_cell_id(const struct kcr_cell *c)
{
	return c->id;
}

const char *
kcr_cell_data_dir(const struct kcr_cell *c)
{
	return c->data;
}

int
kcr_cell_run(struct kcr_cell *c, const struct kcr_exec_request *req, struct kcr_exec_result *res,
	     kcr_error_t *err)
{
	int r;

	if (pthread_mutex_trylock(&c->lock) != 0)
		return kcr_error_set(err, KCR_E_CONFLICT, 0, "cell '%s' is running already", c->id);
	r = kcr_proc_run_cell(c->warm, req, c->data, c->src, KCR_SRC_DIR, res, err);
	pthread_mutex_unlock(&c->lock);
	return r;
}

bool
kcr_cell_ready(struct kcr_cell *c)
{
	return c->warm && kcr_proc_warm_alive(c->warm);
}

void
kcr_cell_free(struct kcr_cell *c)
{
	if (c == NULL)
		return;
	kcr_proc_warm_free(c->warm);
	kcr_closep(&c->data_fd); /* the last reference: the tmpfs goes */
	kcr_closep(&c->tmp_fd);
	free(c->data);
	free(c->src);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

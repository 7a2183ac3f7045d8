/* What the files of the local provider (lib/sandbox/local*.c) share, and no
 * one else: the provider, its sandboxes and cells hosts, the arguments of
 * a sandbox's child, and the steps one file calls in another:
 *   local.c          creating a sandbox, and the ops table
 *   local_clone.c    the clone, and the child until it execs kcr-runner
 *   local_cells.c    warm cells and their hosts
 *   local_open.c     open, close, health, available
 *   local_orphans.c  sandbox ids, and what a kcr that died left behind */
#ifndef KCR_LOCAL_INTERNAL_H
#define KCR_LOCAL_INTERNAL_H

#include "sandbox/cgroup.h"
#include "sandbox/sandbox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>

/* The ids a sandbox's user namespace maps when kcr runs as root: 0 inside
 * is kuid 100000 outside, programs (1000) are 101000. */
#define SUBID_BASE  100000
#define SUBID_COUNT 65536
#define SANDBOX_FLAGS                                                                              \
	(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
/* create() waits this long for a runner at most, or less up to its deadline */
#define READY_TIMEOUT_MS 15000
#define SANDBOX_NICE     5
/* open() removes sockets and cgroups of dead sandboxes older than this */
#define STALE_AGE_S 60
#define LISTEN_FD   3
#define ERROR_FD    4
#define EXE_FD      5
#define SECCOMP_FD  6 /* the seccomp filter kcr compiled (struct local's) */
#define KCR_STR_(x) #x
#define KCR_STR(x)  KCR_STR_(x)
#define CHANNEL_FD  7 /* a cells host: where kcr sends a cell's cgroup files */
#ifdef SYS_setresuid32
#define SYS_SETRESUID SYS_setresuid32
#define SYS_SETRESGID SYS_setresgid32
#define SYS_SETGROUPS SYS_setgroups32
#else
#define SYS_SETRESUID SYS_setresuid
#define SYS_SETRESGID SYS_setresgid
#define SYS_SETGROUPS SYS_setgroups
#endif

struct local {
	char *run_dir;
	char *runner;
	/* the seccomp filter as BPF in a sealed memfd, compiled once for every
	 * sandbox's runner (kcr_seccomp_prepare_fd) by prepare_many(); -1:
	 * each compiles its own */
	int seccomp_fd;
	bool root; /* map 65536 ids; else only our own id */
	uint32_t tmp_mb, data_mb;
	char *py_preload; /* modules a pre-warmed Python imports */
	atomic_bool cg_warned;
	bool allow_unlimited; /* limits.allow_unlimited */
	bool fork_server;     /* warm Python comes from a host's zygote */
	int py_zygotes;       /* pool.py_zygotes: a host's zygotes of each kind */
	pthread_mutex_t hosts_lock;
	struct host *py_host;
	/* sandbox.build_cache_dir, where build caches are (local_cache.c);
	 * NULL: sandbox.build_cache is off, or kcr is not root */
	char *cache_dir;
	pthread_mutex_t cache_lock; /* one fill at a time; guards the next three */
	const struct kcr_lang *cache_lang;
	char *cache_name;        /* cache_lang's cache: "go-<key>", NULL without a version */
	uint64_t cache_retry_ms; /* no fill before this kcr_now_ms() (one failed) */
	/* sandbox.runner_template: runners are cloned from kcr-runner
	 * --template (local_template.c); tpl_ctl -1: executed */
	bool use_template, tpl_tried;
	pthread_mutex_t tpl_lock; /* a request and its answer */
	int tpl_ctl;
	pid_t tpl_pid;
};

/* A sandbox's build cache: the directory, and whether the sandbox
 * writes it (the fill) or sees it read-only under an overlay. A path,
 * not a file descriptor: the overlay and the bind take a mount of the
 * sandbox's own mount namespace, which only a path reaches. */
struct local_cache {
	char *path;
	bool rw;
};

/* A sandbox whose runner holds a zygote (--zygote=py) and serves warm
 * cells (lib/runner/cell.h): one per provider, shared by its cells, replaced
 * when it breaks and freed when its last cell is gone. */
struct host {
	struct kcr_sandbox *sb;
	int chan;          /* our end of the runner's fd channel */
	unsigned int refs; /* its cells, and the provider while it is current */
	bool broken;
};

/* "<pid of kcr>-<random>" (local_orphans.c) */
#define KCR_LOCAL_ID_MAX 32

struct local_sb {
	pid_t pid;           /* pid 1 of the sandbox, as kcr sees it; -1 when reaped */
	uint64_t ready_by;   /* create(): kcr_now_ms() by which the runner is ready */
	int cancel_fd;       /* create(): the spec's cancel_fd */
	atomic_bool claimed; /* a pool handed it out (claim()) */
	void *stack;         /* the clone's stack until it has exec'd (CLONE_VM) */
	char *sock;
	struct kcr_cgroup *cg;
	uint32_t memory_mb, pids;
	struct host *host; /* a cell of this host (no process of its own) */
};

/* What the child needs, all prepared before clone. */
struct child_args {
	int sync_r, sync_w, err_r, err_w, lfd, nul, exe;
	int seccomp;         /* the provider's compiled filter, or -1 */
	int chan;            /* a host's fd channel, or -1 */
	const int *cg_tasks; /* v1: "tasks" files the child moves itself with */
	int n_cg_tasks;
	bool setgroups;
	char **argv, **envp;
};

uint32_t local_tmp_mb(const struct local *lp, const struct kcr_limits *l);
uint32_t local_data_mb(const struct local *lp, const struct kcr_limits *l);
/* The sandbox's cgroups with its limits. Fails closed: without them (no
 * cgroups, a controller missing, a write refused) the sandbox is refused,
 * naming the cause, unless limits.allow_unlimited (then a warning, once,
 * and rlimits only). */
int local_make_cgroup(struct local *lp, struct local_sb *ls, const char *id,
		      const struct kcr_limits *l, kcr_error_t *err);
int local_sb_teardown(struct local_sb *ls, kcr_error_t *err);
void local_sb_free(struct kcr_sandbox *sb);
int local_create_sandbox(struct local *lp, const struct kcr_sandbox_spec *spec, int chan,
			 uint64_t deadline_ms, struct kcr_sandbox **out, kcr_error_t *err);
/* local_create_sandbox() of a sandbox that mounts cache (NULL: none). */
int local_create_cached(struct local *lp, const struct kcr_sandbox_spec *spec, int chan,
			const struct local_cache *cache, uint64_t deadline_ms,
			struct kcr_sandbox **out, kcr_error_t *err);
/* The build cache of spec's language (local_cache.c): its directory,
 * filled first when missing or not complete; NULL when the language has
 * none, caches are off, or the fill failed (logged: the sandbox then
 * starts with an empty cache). */
char *local_cache_path(struct local *lp, const struct kcr_sandbox_spec *spec);
long local_clone_sandbox(int cgfd, struct child_args *a, struct local_sb *ls, bool *in_cg);
bool local_on_valgrind(void);
/* The template's clone of a's sandbox, as local_clone_sandbox(); or
 * LOCAL_NO_TEMPLATE when there is none (then execute). */
#define LOCAL_NO_TEMPLATE (-2L)
long local_template_clone(struct local *lp, const struct child_args *a, int cgfd, bool *in_cg);
void local_template_init(struct local *lp);
void local_template_start(struct local *lp, char **envp);
void local_prepare_many(void *self);
/* PATH, LANG, HOME and TMPDIR as a runner gets them */
char **local_runner_envp(void);
void local_template_stop(struct local *lp);
void local_free_child_stack(struct local_sb *ls);
void local_host_unref(struct local *lp, struct host *h);
/* Whether h's runner has exited, taking its cells with it. */
bool local_host_gone(const struct host *h);
int local_cell_create(struct local *lp, const struct kcr_sandbox_spec *spec, uint64_t deadline_ms,
		      struct kcr_sandbox **out, kcr_error_t *err);
int local_cell_destroy(struct local *lp, struct kcr_sandbox *sb, kcr_error_t *err);
bool local_wants_cell(const struct local *lp, const struct kcr_sandbox_spec *spec);
struct kcr_sandbox *local_sb_new(const struct kcr_limits *l);

int local_open(void **self, const struct kcr_config *cfg, kcr_error_t *err);
void local_close(void *self);
int local_available(void *self, const struct kcr_lang *lang, kcr_error_t *err);
int local_health(void *self, kcr_error_t *err);

void local_new_id(char id[KCR_LOCAL_ID_MAX]);
char *local_sock_path(const struct local *lp, const char *id);
/* Removes sockets and cgroups of dead sandboxes older than STALE_AGE_S,
 * whoever made them. */
void local_prune(const struct local *lp);
int local_list(void *self, struct kcr_sandbox_ref **out, size_t *n, kcr_error_t *err);
int local_adopt(void *self, const struct kcr_sandbox_ref *ref, kcr_error_t *err);

#endif

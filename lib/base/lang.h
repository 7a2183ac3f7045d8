/* The language table: one source for kcr and kcr-runner. */
#ifndef KCR_LANG_H
#define KCR_LANG_H

#include "base/error.h"

#include <stdbool.h>

/* Inside a sandbox the source is written to KCR_SRC_DIR/<source_file> and
 * compiled programs go to KCR_SRC_DIR too, never to /mnt/data. Command
 * templates expand {src}, {bin} and {dir}. */
#define KCR_DATA_DIR "/mnt/data"
#define KCR_SRC_DIR "/tmp/.kcr"
#define KCR_SANDBOX_PATH "/usr/local/bin:/usr/bin:/bin"

struct kcr_lang {
	const char *id;                /* "py": what LibreChat sends */
	const char *name;              /* "Python" */
	const char *const *aliases;    /* other accepted ids */
	const char *const *extensions; /* for inferring -l from a file name */
	const char *source_file;       /* "code.py" */
	const char *const *compile;    /* argv template, or NULL */
	const char *const *run;        /* argv template */
	const char *const *env;        /* extra NAME=value */
	/* the variable that tells the runtime how many CPUs it may use
	 * (GOMAXPROCS): set to the CPU limit, rounded up, since the runtime
	 * otherwise counts the machine's and is throttled by the quota */
	const char *cpu_env;
	const char *const *runtimes;   /* absolute paths that must be executable */
	const char *const *version;    /* argv printing the version */
	const char *package;           /* Debian package (or npm) that provides it */
	unsigned int memory_mb;        /* default memory limit */
	unsigned int timeout_s;        /* default wall timeout */
	unsigned int caps;             /* KCR_LANG_*: what kcr can do for it beyond a run */
	/* KiB its interpreter started ahead (KCR_LANG_PREWARM, not a cell)
	 * adds to a warm sandbox: its private pages and page tables, measured
	 * (lib/engine/pool_cost.c) */
	unsigned int prewarm_kib;
	/* Where the compiler's build cache is (an absolute path under /tmp),
	 * or NULL: the local provider fills one cache per toolchain once, by
	 * running build_cache_warm, and shows it there in every sandbox as
	 * the read-only lower layer of an overlay (sandbox.build_cache). */
	const char *build_cache;
	const char *build_cache_warm; /* a program whose compile fills the cache */
};

/* Capabilities of a language (kcr_lang.caps): code asks for these, never
 * for a language id. */
enum {
	/* kcr-runner can start the interpreter before any code arrives; a
	 * compiled language's then runs what the compile step made */
	KCR_LANG_PREWARM = 1u << 0,
	/* a zygote in a cells host forks each warm sandbox (lib/runner/cell.h) */
	KCR_LANG_FORK_SERVER = 1u << 1,
	/* a session keeps the program's globals between runs (pystate_hook.h) */
	KCR_LANG_STATE = 1u << 2,
	/* a warm interpreter can have pool.<id>_preload imported */
	KCR_LANG_PRELOAD = 1u << 3,
	/* on kubernetes, pool.<id> keeps pods warm unless set to 0 (as
	 * KubeCodeRun's POD_POOL_PY and _JS); other languages get a Job per
	 * execution unless pool.<id> is set (lib/base/pool_floor.h) */
	KCR_LANG_POD_POOL = 1u << 4,
};

const struct kcr_lang *kcr_lang_find(const char *id_or_alias);
const struct kcr_lang *kcr_lang_for_path(const char *path);
const struct kcr_lang *kcr_lang_at(unsigned int i);
unsigned int kcr_lang_count(void);
/* Returns the first runtime path that is missing, or NULL if all exist. */
const char *kcr_lang_missing_runtime(const struct kcr_lang *l);
/* Runs the version command on this host; returns "3.11.2" or NULL. */
char *kcr_lang_version(const struct kcr_lang *l);
/* Expands a template into a new argv (free with kcr_strv_free). */
char **kcr_lang_expand(const char *const *tmpl, const struct kcr_lang *l);
/* The same with dir in place of KCR_SRC_DIR (a bare run outside a sandbox). */
char **kcr_lang_expand_in(const char *const *tmpl, const struct kcr_lang *l, const char *dir);
/* Looks up a language or fails with a message listing the known ones. */
const struct kcr_lang *kcr_lang_lookup(const char *id, kcr_error_t *err);

#endif

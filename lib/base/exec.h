/* One execution: what to run, with which limits, and what came of it.
 * Shared by the orchestrator, the sandbox providers and kcr-runner. */
#ifndef KCR_EXEC_H
#define KCR_EXEC_H

#include "base/settings.h"
#include "base/error.h"
#include "base/lang.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kcr_limits {
	uint32_t timeout_ms;    /* wall clock, compile + run */
	uint32_t memory_mb;     /* cgroup memory limit of the sandbox */
	uint32_t pids;          /* cgroup pids.max (RLIMIT_NPROC without cgroups) */
	double cpus;            /* cgroup CPU quota, in cores */
	uint32_t nofile;        /* RLIMIT_NOFILE */
	uint64_t file_size;     /* RLIMIT_FSIZE, bytes */
	uint64_t output_bytes;  /* kept per stream */
	uint32_t tmp_size_mb;   /* tmpfs /tmp */
	uint32_t data_size_mb;  /* tmpfs /mnt/data */
	uint32_t max_output_files;
	uint64_t code_bytes;    /* largest program accepted */
};

/* The default limits, in one place: the configuration's defaults
 * (settings_keys.c), kcr_limits_defaults() and what the runner assumes when
 * a request leaves a limit out or at 0. Plain numbers: settings_keys.c
 * turns them into its default strings. The timeout and memory are the
 * language's (lang.c) when there is one. */
#define KCR_DEFAULT_TIMEOUT_MS       30000
#define KCR_DEFAULT_MEMORY_MB        512
#define KCR_DEFAULT_PIDS             256
#define KCR_DEFAULT_CPUS             1
#define KCR_DEFAULT_NOFILE           1024
#define KCR_DEFAULT_FILE_SIZE_MB     100
#define KCR_DEFAULT_OUTPUT_BYTES     1048576
#define KCR_DEFAULT_TMP_SIZE_MB      256
#define KCR_DEFAULT_DATA_SIZE_MB     256
#define KCR_DEFAULT_MAX_OUTPUT_FILES 64
#define KCR_DEFAULT_CODE_BYTES       1048576

/* Fills l with the KCR_DEFAULT_ limits. */
void kcr_limits_defaults(struct kcr_limits *l);
/* Fills limits from configuration; 0 in the config means the language's
 * default (timeout, memory). */
void kcr_limits_from_config(struct kcr_limits *l, const struct kcr_config *c,
			    const struct kcr_lang *lang);

struct kcr_exec_req {
	const struct kcr_lang *lang;
	char *code;
	size_t code_len;
	char **args;       /* argv for the program after its name; may be NULL */
	char *stdin_data;  /* may be NULL */
	size_t stdin_len;
	struct kcr_limits limits;
	/* Python state (lib/runner/pystate_hook.h): the pickle to restore first (NULL:
	 * none); whether to pickle the globals after a run that exits with 0,
	 * and at most how many bytes of it (0: KCR_STATE_MAX_DEFAULT). */
	char *state_in;
	size_t state_in_len;
	bool want_state;
	uint64_t state_max;
};

/* A file in /mnt/data the run created or changed. */
struct kcr_file_info {
	char *name;
	uint64_t size;
	int64_t mtime_ns;
};

struct kcr_exec_res {
	int exit_code;        /* the program's; 124 on timeout; 128+N on signal N */
	int signal;           /* the signal that killed it, or 0 */
	bool timed_out;
	bool oom_killed;      /* the memory limit was hit (set by the provider) */
	char *out, *err;      /* captured stdout and stderr (may hold NULs) */
	size_t out_len, err_len;
	bool out_truncated, err_truncated;
	uint64_t duration_ms; /* compile + run, inside the sandbox */
	struct kcr_file_info *changed;
	size_t n_changed;
	char *state_out;      /* the pickled globals (want_state), or NULL */
	size_t state_out_len;
};

void kcr_exec_req_release(struct kcr_exec_req *r);
void kcr_exec_res_release(struct kcr_exec_res *r);
void kcr_file_info_release(struct kcr_file_info *f);
/* Appends a line of text to the captured stderr (kcr's own messages). */
void kcr_exec_res_append_err(struct kcr_exec_res *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

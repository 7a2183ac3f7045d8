/* One execution: what to run, with which limits, and what came of it.
 * Shared by every layer, from the CLI and the API down to kcr-runner. */
#ifndef KCR_EXEC_H
#define KCR_EXEC_H

#include "base/settings.h"
#include "base/error.h"
#include "base/file.h"
#include "base/ids.h"
#include "base/lang.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kcr_limits {
	uint32_t timeout_ms;   /* wall clock, compile + run */
	uint32_t memory_mb;    /* cgroup memory limit of the sandbox */
	uint32_t pids;         /* cgroup pids.max (RLIMIT_NPROC without cgroups) */
	double cpus;           /* cgroup CPU quota, in cores */
	uint32_t nofile;       /* RLIMIT_NOFILE */
	uint64_t file_size;    /* RLIMIT_FSIZE, bytes */
	uint64_t output_bytes; /* kept per stream */
	uint32_t tmp_size_mb;  /* tmpfs /tmp */
	uint32_t data_size_mb; /* tmpfs /mnt/data */
	uint32_t max_output_files;
	uint64_t output_total; /* bytes of files returned per run (0: the data size) */
	uint64_t code_bytes;   /* largest program accepted */
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

/* One execution, from the request that asks for it to the result. Each
 * layer takes the same object by pointer and reads or fills its part; none
 * copies it:
 *
 *   the program     every layer down to the program (kcr-runner, proc)
 *                   reads it; the runner wire format carries only this
 *                   part (runner/proto.h);
 *   the session     the service (engine/service.h) resolves the session
 *                   from it and loads files[] into inputs[];
 *   the inputs      the engine (engine/engine.h) places them in
 *                   /mnt/data; `kcr exec` fills them from its -f files.
 *
 * Every pointer is the request's own: kcr_exec_request_release() frees
 * them all and zeroes the struct. */
struct kcr_exec_request {
	/* the program */
	const struct kcr_lang *lang;
	char *code;
	size_t code_len;
	char **args;      /* argv for the program after its name; may be NULL */
	char *stdin_data; /* may be NULL */
	size_t stdin_len;
	struct kcr_limits limits;
	/* Python state (runner/pystate_hook.h): the pickle to restore first
	 * (NULL: none); whether to pickle the globals after a run that exits
	 * with 0, and at most how many bytes of it (0: KCR_PYSTATE_MAX_DEFAULT). */
	char *state_in;
	size_t state_in_len;
	bool want_state;
	uint64_t state_max;
	/* the session: each may be NULL / 0; tenant: who asks
	 * (base/tenant.h; NULL: the local operator) */
	char *tenant, *session_id, *entity_id, *user_id;
	struct kcr_file_ref *files;
	size_t n_files;
	/* the inputs, placed in /mnt/data under their names */
	struct kcr_file *inputs;
	size_t n_inputs;
};

/* What came of it, filled by the same layers in turn:
 *
 *   the program     kcr-runner (carried back over the wire);
 *   the engine      the files collected from /mnt/data, its timings;
 *   the service     the session, the outputs as stored files, the state.
 *
 * The caller zeroes it first ({ 0 }); every pointer is the result's own:
 * kcr_exec_result_release() frees them all and zeroes the struct. */
struct kcr_exec_result {
	/* the program */
	int exit_code; /* the program's; 124 on timeout; 128+N on signal N */
	int signal;    /* the signal that killed it, or 0 */
	bool timed_out;
	bool oom_killed; /* the memory limit was hit (set by the provider) */
	char *out, *err; /* captured stdout and stderr (may hold NULs) */
	size_t out_len, err_len;
	bool out_truncated, err_truncated;
	uint64_t duration_ms;          /* compile + run, inside the sandbox */
	uint64_t
		cpu_ms; /* their CPU time (user + system), the processes they waited for included */
	struct kcr_file_info *changed; /* files in /mnt/data it created or changed */
	size_t n_changed;
	char *state_note; /* what of the globals was not saved and why (one line
			       * each), or NULL: for the caller and the log, never
			       * the program's own stderr */
	char *state_out;  /* the pickled globals (want_state), or NULL */
	size_t state_out_len;
	/* the engine */
	struct kcr_file *outputs; /* the changed files' bytes */
	size_t n_outputs;
	uint64_t setup_us; /* creating (or taking) the sandbox */
	uint64_t total_us; /* the whole execution, as the caller saw it */
	/* the service */
	char session_id[KCR_ID_LEN + 1];
	struct kcr_file_meta *files; /* the outputs, stored */
	size_t n_files;
	bool has_state;      /* the session's Python state after the run */
	uint64_t state_size; /* bytes, as GET /state gives them */
	char state_hash[65];
	uint64_t queue_us; /* waiting for an execution slot */
};

void kcr_exec_request_release(struct kcr_exec_request *r);
void kcr_exec_result_release(struct kcr_exec_result *r);
/* Frees and zeroes only the program's part (what kcr-runner reports),
 * leaving what the engine and the service filled. */
void kcr_exec_result_clear_program(struct kcr_exec_result *r);
/* Appends a line to state_note. */
void kcr_exec_result_state_note(struct kcr_exec_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends a line of text to the captured stderr (kcr's own messages). */
void kcr_exec_result_append_err(struct kcr_exec_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

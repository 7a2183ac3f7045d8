#include <config.h>

#include "base/exec.h"
#include "base/settings.h"
#include "base/util.h"

#define A(...)  ((const char *const[]){ __VA_ARGS__, NULL })
#define NOALIAS A(NULL)
/* a default from base/exec.h, as the string the table holds */
#define D(n)  D_(n)
#define D_(n) #n

/* Every setting kcr reads. A default of NULL is computed at run time (see
 * config.c) or means "unset". Keep sorted by name (a unit test checks). */
static const struct kcr_cfg_key keys[] = {
	{ "client.admin_key", KCR_CFG_STR, "", "KCR_ADMIN_KEY", NOALIAS, 0, 0, true,
	  "the admin key kcr pool warmup sends to client.server (else client.api_key)" },
	{ "client.api_key", KCR_CFG_STR, "", "KCR_API_KEY", NOALIAS, 0, 0, true,
	  "the API key kcr exec, upload, download and files send to client.server" },
	{ "client.server", KCR_CFG_STR, "", "KCR_SERVER", NOALIAS, 0, 0, false,
	  "URL of a kcr server for exec, upload, download and files (empty: run locally)" },
	{ "limits.code_bytes", KCR_CFG_INT, D(KCR_DEFAULT_CODE_BYTES), "KCR_CODE_BYTES", NOALIAS, 1,
	  67108864, false, "largest program accepted, in bytes" },
	{ "limits.cpus", KCR_CFG_DOUBLE, D(KCR_DEFAULT_CPUS), "KCR_CPUS", A("MAX_CPUS"), 0.01, 64,
	  false, "CPU time per sandbox, in cores" },
	{ "limits.data_size_mb", KCR_CFG_INT, D(KCR_DEFAULT_DATA_SIZE_MB), "KCR_DATA_SIZE_MB",
	  NOALIAS, 1, 65536, false, "size of the sandbox's /mnt/data, in MiB" },
	{ "limits.file_size_mb", KCR_CFG_INT, D(KCR_DEFAULT_FILE_SIZE_MB), "KCR_FILE_SIZE_MB",
	  A("MAX_FILE_SIZE_MB"), 1, 65536, false,
	  "largest file uploaded or written by a program, in MiB" },
	{ "limits.files_per_upload", KCR_CFG_INT, "50", "KCR_FILES_PER_UPLOAD",
	  A("MAX_FILES_PER_SESSION"), 1, 10000, false, "files accepted in one upload request" },
	{ "limits.max_output_files", KCR_CFG_INT, D(KCR_DEFAULT_MAX_OUTPUT_FILES),
	  "KCR_MAX_OUTPUT_FILES", A("MAX_OUTPUT_FILES"), 0, 10000, false,
	  "files collected per execution" },
	{ "limits.memory_mb", KCR_CFG_INT, "0", "KCR_MEMORY_MB", A("MAX_MEMORY_MB"), 0, 1048576,
	  false, "memory per sandbox in MiB (0: the language's default)" },
	{ "limits.nofile", KCR_CFG_INT, D(KCR_DEFAULT_NOFILE), "KCR_NOFILE", A("MAX_OPEN_FILES"),
	  16, 1048576, false, "open files per process" },
	{ "limits.output_bytes", KCR_CFG_INT, D(KCR_DEFAULT_OUTPUT_BYTES), "KCR_OUTPUT_BYTES",
	  A("MAX_OUTPUT_SIZE"), 1024, 1073741824, false,
	  "stdout and stderr kept per stream, in bytes" },
	{ "limits.pids", KCR_CFG_INT, D(KCR_DEFAULT_PIDS), "KCR_PIDS", A("MAX_PIDS"), 8, 65536,
	  false, "processes and threads per sandbox" },
	{ "limits.timeout", KCR_CFG_INT, "0", "KCR_TIMEOUT", A("MAX_EXECUTION_TIME"), 0, 3600,
	  false, "wall-clock seconds per execution (0: the language's default)" },
	{ "limits.tmp_size_mb", KCR_CFG_INT, D(KCR_DEFAULT_TMP_SIZE_MB), "KCR_TMP_SIZE_MB", NOALIAS,
	  1, 65536, false, "size of the sandbox's /tmp, in MiB" },
	{ "log.format", KCR_CFG_STR, "text", "KCR_LOG_FORMAT", A("LOG_FORMAT"), 0, 0, false,
	  "text or json" },
	{ "log.level", KCR_CFG_STR, "warn", "KCR_LOG_LEVEL", A("LOG_LEVEL"), 0, 0, false,
	  "error, warn, info or debug" },
	{ "pool.bash", KCR_CFG_INT, "0", "KCR_POOL_BASH", A("POD_POOL_BASH"), 0, 1024, false,
	  "warm bash sandboxes kept ready by kcr serve" },
	{ "pool.c", KCR_CFG_INT, "0", "KCR_POOL_C", A("POD_POOL_C"), 0, 1024, false,
	  "warm C sandboxes" },
	{ "pool.cpp", KCR_CFG_INT, "0", "KCR_POOL_CPP", A("POD_POOL_CPP"), 0, 1024, false,
	  "warm C++ sandboxes" },
	{ "pool.d", KCR_CFG_INT, "0", "KCR_POOL_D", A("POD_POOL_D"), 0, 1024, false,
	  "warm D sandboxes" },
	{ "pool.enabled", KCR_CFG_BOOL, "true", "KCR_POOL_ENABLED", A("POD_POOL_ENABLED"), 0, 0,
	  false, "keep warm sandboxes in kcr serve (false: every execution creates one)" },
	{ "pool.f90", KCR_CFG_INT, "0", "KCR_POOL_F90", A("POD_POOL_F90"), 0, 1024, false,
	  "warm Fortran sandboxes" },
	{ "pool.fork_server", KCR_CFG_BOOL, "true", "KCR_POOL_FORK_SERVER", NOALIAS, 0, 0, false,
	  "warm Python cells are forked from one interpreter that imported pool.py_preload "
	  "(false: a sandbox and an interpreter per warm sandbox)" },
	{ "pool.go", KCR_CFG_INT, "0", "KCR_POOL_GO", A("POD_POOL_GO"), 0, 1024, false,
	  "warm Go sandboxes" },
	{ "pool.health_interval", KCR_CFG_INT, "10", "KCR_POOL_HEALTH_INTERVAL",
	  A("HEALTH_CHECK_INTERVAL"), 0, 3600, false,
	  "seconds between health checks of warm sandboxes (0: none)" },
	{ "pool.java", KCR_CFG_INT, "0", "KCR_POOL_JAVA", A("POD_POOL_JAVA"), 0, 1024, false,
	  "warm Java sandboxes" },
	{ "pool.js", KCR_CFG_INT, "2", "KCR_POOL_JS", A("POD_POOL_JS"), 0, 1024, false,
	  "warm JavaScript sandboxes" },
	{ "pool.php", KCR_CFG_INT, "0", "KCR_POOL_PHP", A("POD_POOL_PHP"), 0, 1024, false,
	  "warm PHP sandboxes" },
	{ "pool.py", KCR_CFG_INT, "4", "KCR_POOL_PY", A("POD_POOL_PY"), 0, 1024, false,
	  "warm Python sandboxes" },
	{ "pool.py_preload", KCR_CFG_LIST, "numpy,pandas,matplotlib.pyplot", "KCR_POOL_PY_PRELOAD",
	  NOALIAS, 0, 0, false,
	  "modules warm Python imports before code arrives, those installed (with "
	  "pool.fork_server once per server, else once per warm sandbox)" },
	{ "pool.r", KCR_CFG_INT, "0", "KCR_POOL_R", A("POD_POOL_R"), 0, 1024, false,
	  "warm R sandboxes" },
	{ "pool.rs", KCR_CFG_INT, "0", "KCR_POOL_RS", A("POD_POOL_RS"), 0, 1024, false,
	  "warm Rust sandboxes" },
	{ "pool.ts", KCR_CFG_INT, "0", "KCR_POOL_TS", A("POD_POOL_TS"), 0, 1024, false,
	  "warm TypeScript sandboxes" },
	{ "run_dir", KCR_CFG_STR, NULL, "KCR_RUN_DIR", NOALIAS, 0, 0, false,
	  "sockets and cgroup bookkeeping (default /run/kcr as root)" },
	{ "sandbox.provider", KCR_CFG_STR, "local", "KCR_SANDBOX_PROVIDER", NOALIAS, 0, 0, false,
	  "where code runs: local" },
	{ "sandbox.runner", KCR_CFG_STR, NULL, "KCR_RUNNER", NOALIAS, 0, 0, false,
	  "path of the kcr-runner binary (default: next to kcr)" },
	{ "server.admin_key", KCR_CFG_STR, "", "KCR_ADMIN_KEY", A("MASTER_API_KEY"), 0, 0, true,
	  "the key of admin routes (POST /pool/warmup); none: admin routes answer 403" },
	{ "server.api_key", KCR_CFG_STR, "", "KCR_API_KEY", A("API_KEY"), 0, 0, true,
	  "an API key clients must send (with server.api_keys)" },
	{ "server.api_keys", KCR_CFG_LIST, "", "KCR_API_KEYS", A("API_KEYS"), 0, 0, true,
	  "comma-separated API keys; none: one is generated at start and printed" },
	{ "server.base_path", KCR_CFG_STR, "", "KCR_BASE_PATH", NOALIAS, 0, 0, false,
	  "serve the routes under this prefix too (e.g. /v1)" },
	{ "server.cleanup_interval", KCR_CFG_INT, "600", "KCR_CLEANUP_INTERVAL", NOALIAS, 1, 86400,
	  false, "seconds between sweeps of expired sessions" },
	{ "server.listen", KCR_CFG_STR, "127.0.0.1:8000", "KCR_LISTEN", NOALIAS, 0, 0, false,
	  "HOST:PORT to listen on" },
	{ "server.max_body_mb", KCR_CFG_INT, "160", "KCR_MAX_BODY_MB", NOALIAS, 1, 65536, false,
	  "largest request body, in MiB" },
	{ "server.max_concurrent", KCR_CFG_INT, "16", "KCR_MAX_CONCURRENT",
	  A("MAX_CONCURRENT_EXECUTIONS"), 1, 4096, false, "executions running at once" },
	{ "server.metrics_public", KCR_CFG_BOOL, "false", "KCR_METRICS_PUBLIC", NOALIAS, 0, 0,
	  false, "GET /metrics answers without an API key (default: it needs one)" },
	{ "server.queue_size", KCR_CFG_INT, "256", "KCR_QUEUE_SIZE", NOALIAS, 0, 100000, false,
	  "executions waiting for a slot before new ones get 503" },
	{ "server.queue_timeout", KCR_CFG_INT, "60", "KCR_QUEUE_TIMEOUT", NOALIAS, 1, 3600, false,
	  "seconds an execution may wait for a slot" },
	{ "server.trusted_networks", KCR_CFG_LIST, "", "KCR_TRUSTED_NETWORKS",
	  A("AUTH_TRUSTED_NETWORKS"), 0, 0, false, "CIDRs whose clients need no API key" },
	{ "session.ttl_hours", KCR_CFG_DOUBLE, "48", "KCR_SESSION_TTL_HOURS",
	  A("SESSION_TTL_HOURS"), 0, 87600, false,
	  "hours a session and its files live after last use (0: forever)" },
	{ "state.enabled", KCR_CFG_BOOL, "true", "KCR_STATE_ENABLED",
	  A("STATE_PERSISTENCE_ENABLED"), 0, 0, false,
	  "keep Python globals between the executions of a session" },
	{ "state.max_size_mb", KCR_CFG_INT, "50", "KCR_STATE_MAX_SIZE_MB", A("STATE_MAX_SIZE_MB"),
	  1, 100, false, "largest Python state of a session (pickled, and stored), in MiB" },
	{ "state.ttl_seconds", KCR_CFG_INT, "7200", "KCR_STATE_TTL_SECONDS", A("STATE_TTL_SECONDS"),
	  0, 31536000, false,
	  "seconds a Python state lives after it was saved (0: as long as its session)" },
	{ "state_dir", KCR_CFG_STR, NULL, "KCR_STATE_DIR", NOALIAS, 0, 0, false,
	  "sessions and files (default /var/lib/kcr as root)" },
	{ "store.files", KCR_CFG_STR, "fs", "KCR_FILE_STORE", NOALIAS, 0, 0, false,
	  "where file bytes live: fs" },
	{ "store.sessions", KCR_CFG_STR, "fs", "KCR_SESSION_STORE", NOALIAS, 0, 0, false,
	  "where sessions and file records live: fs" },
};

const struct kcr_cfg_key *
kcr_config_key_at(unsigned int i)
{
	return i < KCR_ARRAY_SIZE(keys) ? &keys[i] : NULL;
}

unsigned int
kcr_config_key_count(void)
{
	return KCR_ARRAY_SIZE(keys);
}

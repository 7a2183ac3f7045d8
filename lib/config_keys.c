#include <config.h>

#include "config.h"
#include "util.h"

#define A(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NOALIAS A(NULL)

/* Every setting kcr reads. A default of NULL is computed at run time (see
 * config.c) or means "unset". Keep sorted by name (a unit test checks). */
static const struct kcr_cfg_key keys[] = {
	{ "client.api_key", KCR_CFG_STR, "", "KCR_API_KEY", NOALIAS, 0, 0, true,
	  "the API key kcr exec, upload, download and files send to client.server" },
	{ "client.server", KCR_CFG_STR, "", "KCR_SERVER", NOALIAS, 0, 0, false,
	  "URL of a kcr server for exec, upload, download and files (empty: run locally)" },
	{ "limits.code_bytes", KCR_CFG_INT, "1048576", "KCR_CODE_BYTES", NOALIAS, 1, 67108864,
	  false, "largest program accepted, in bytes" },
	{ "limits.cpus", KCR_CFG_DOUBLE, "1", "KCR_CPUS", A("MAX_CPUS"), 0.01, 64, false,
	  "CPU time per sandbox, in cores" },
	{ "limits.data_size_mb", KCR_CFG_INT, "256", "KCR_DATA_SIZE_MB", NOALIAS, 1, 65536,
	  false, "size of the sandbox's /mnt/data, in MiB" },
	{ "limits.file_size_mb", KCR_CFG_INT, "100", "KCR_FILE_SIZE_MB", A("MAX_FILE_SIZE_MB"),
	  1, 65536, false, "largest file uploaded or written by a program, in MiB" },
	{ "limits.files_per_upload", KCR_CFG_INT, "50", "KCR_FILES_PER_UPLOAD",
	  A("MAX_FILES_PER_SESSION"), 1, 10000, false, "files accepted in one upload request" },
	{ "limits.max_output_files", KCR_CFG_INT, "64", "KCR_MAX_OUTPUT_FILES",
	  A("MAX_OUTPUT_FILES"), 0, 10000, false, "files collected per execution" },
	{ "limits.memory_mb", KCR_CFG_INT, "0", "KCR_MEMORY_MB", A("MAX_MEMORY_MB"), 0, 1048576,
	  false, "memory per sandbox in MiB (0: the language's default)" },
	{ "limits.nofile", KCR_CFG_INT, "1024", "KCR_NOFILE", A("MAX_OPEN_FILES"), 16, 1048576,
	  false, "open files per process" },
	{ "limits.output_bytes", KCR_CFG_INT, "1048576", "KCR_OUTPUT_BYTES",
	  A("MAX_OUTPUT_SIZE"), 1024, 1073741824, false,
	  "stdout and stderr kept per stream, in bytes" },
	{ "limits.pids", KCR_CFG_INT, "256", "KCR_PIDS", A("MAX_PIDS"), 8, 65536, false,
	  "processes and threads per sandbox" },
	{ "limits.timeout", KCR_CFG_INT, "0", "KCR_TIMEOUT", A("MAX_EXECUTION_TIME"), 0, 3600,
	  false, "wall-clock seconds per execution (0: the language's default)" },
	{ "limits.tmp_size_mb", KCR_CFG_INT, "256", "KCR_TMP_SIZE_MB", NOALIAS, 1, 65536, false,
	  "size of the sandbox's /tmp, in MiB" },
	{ "log.format", KCR_CFG_STR, "text", "KCR_LOG_FORMAT", A("LOG_FORMAT"), 0, 0, false,
	  "text or json" },
	{ "log.level", KCR_CFG_STR, "warn", "KCR_LOG_LEVEL", A("LOG_LEVEL"), 0, 0, false,
	  "error, warn, info or debug" },
	{ "run_dir", KCR_CFG_STR, NULL, "KCR_RUN_DIR", NOALIAS, 0, 0, false,
	  "sockets and cgroup bookkeeping (default /run/kcr as root)" },
	{ "sandbox.provider", KCR_CFG_STR, "local", "KCR_SANDBOX_PROVIDER", NOALIAS, 0, 0, false,
	  "where code runs: local" },
	{ "sandbox.runner", KCR_CFG_STR, NULL, "KCR_RUNNER", NOALIAS, 0, 0, false,
	  "path of the kcr-runner binary (default: next to kcr)" },
	{ "server.api_key", KCR_CFG_STR, "", "KCR_API_KEY", A("API_KEY"), 0, 0, true,
	  "an API key clients must send (with server.api_keys)" },
	{ "server.api_keys", KCR_CFG_LIST, "", "KCR_API_KEYS", A("API_KEYS"), 0, 0, true,
	  "comma-separated API keys; none: one is generated at start and printed" },
	{ "server.base_path", KCR_CFG_STR, "", "KCR_BASE_PATH", NOALIAS, 0, 0, false,
	  "serve the routes under this prefix too (e.g. /v1)" },
	{ "server.cleanup_interval", KCR_CFG_INT, "600", "KCR_CLEANUP_INTERVAL", NOALIAS, 1,
	  86400, false, "seconds between sweeps of expired sessions" },
	{ "server.listen", KCR_CFG_STR, "127.0.0.1:8000", "KCR_LISTEN", NOALIAS, 0, 0, false,
	  "HOST:PORT to listen on" },
	{ "server.max_body_mb", KCR_CFG_INT, "160", "KCR_MAX_BODY_MB", NOALIAS, 1, 65536, false,
	  "largest request body, in MiB" },
	{ "server.max_concurrent", KCR_CFG_INT, "16", "KCR_MAX_CONCURRENT",
	  A("MAX_CONCURRENT_EXECUTIONS"), 1, 4096, false, "executions running at once" },
	{ "server.queue_size", KCR_CFG_INT, "256", "KCR_QUEUE_SIZE", NOALIAS, 0, 100000, false,
	  "executions waiting for a slot before new ones get 503" },
	{ "server.queue_timeout", KCR_CFG_INT, "60", "KCR_QUEUE_TIMEOUT", NOALIAS, 1, 3600, false,
	  "seconds an execution may wait for a slot" },
	{ "server.trusted_networks", KCR_CFG_LIST, "", "KCR_TRUSTED_NETWORKS",
	  A("AUTH_TRUSTED_NETWORKS"), 0, 0, false, "CIDRs whose clients need no API key" },
	{ "session.ttl_hours", KCR_CFG_DOUBLE, "48", "KCR_SESSION_TTL_HOURS", A("SESSION_TTL_HOURS"),
	  0, 87600, false, "hours a session and its files live after last use (0: forever)" },
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

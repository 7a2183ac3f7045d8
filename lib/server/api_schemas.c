/* The JSON schemas and the parameters the route table (api.c) names, as
 * GET /openapi.json publishes them (api_openapi.c): components.schemas and
 * components.parameters. They describe what the handlers of api_*.c send
 * and take, and spec/librechat-api.md for LibreChat's routes; the
 * integration test tests/integration/210-openapi.bats validates every
 * route's real replies against them. */
#include <config.h>

#include "server/api-internal.h"

#include <string.h>

/* Not clang-format's: it would split long strings, which JSON() would
 * then quote as two, and spread each J_ type over four lines. */
/* clang-format off */

/* JSON written as C tokens: the preprocessor makes it a string (quotes
 * escaped), so the schemas read as JSON rather than as escaped text. Its
 * macros are expanded first: */
#define JSON(...)      JSON_TEXT(__VA_ARGS__)
#define JSON_TEXT(...) #__VA_ARGS__
/* the types most members have */
#define J_STR                                                                                      \
	{                                                                                          \
		"type" : "string"                                                                  \
	}
#define J_INT                                                                                      \
	{                                                                                          \
		"type" : "integer"                                                                 \
	}
#define J_NUM                                                                                      \
	{                                                                                          \
		"type" : "number"                                                                  \
	}
#define J_BOOL                                                                                     \
	{                                                                                          \
		"type" : "boolean"                                                                 \
	}
#define J_ID                                                                                       \
	{                                                                                          \
		"$ref" : "#/components/schemas/Id"                                                 \
	}
/* and JSON's true, not stdbool's 1 (C11 7.18 lets a program undefine
 * them; nothing below is C that needs them) */
#undef true
#undef false

static const struct api_schema schemas[] = {
	{ "Error", NULL, NULL, JSON({
		  "description" : "The error shape of every error reply",
		  "type" : "object",
		  "required" : [ "error", "error_type", "details", "request_id", "timestamp" ],
		  "properties" : {
			  "error" : {
				  "type" : "string",
				  "description" : "what went wrong (a code, for /state's errors)"
			  },
			  "error_type" : {
				  "type" : "string",
				  "enum" : [
					  "authentication", "authorization", "validation",
					  "resource_not_found", "resource_conflict",
					  "resource_exhausted", "execution_failed", "timeout",
					  "rate_limited", "internal_server", "service_unavailable",
					  "external_service"
				  ]
			  },
			  "message" : {
				  "type" : "string",
				  "description" : "/state's errors: the text"
			  },
			  "details" : {
				  "type" : "array",
				  "items" : {
					  "type" : "object",
					  "properties" : {
						  "field" : J_STR,
						  "message" : J_STR,
						  "code" : J_STR
					  }
				  }
			  },
			  "request_id" : J_STR,
			  "timestamp" :
				  { "type" : "number", "description" : "seconds since the epoch" }
		  }
	  }) },
	{ "Id", NULL, NULL, JSON({ "type" : "string", "pattern" : "^[A-Za-z0-9_-]{21}$" }) },
	{ "FileRef", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "id", "name", "session_id" ],
		  "properties" : {
			  "id" : J_ID,
			  "name" : J_STR,
			  "path" : { "type" : "string", "description" : "/mnt/data/<name>" },
			  "session_id" : J_ID,
			  "storage_session_id" : J_ID,
			  "modified_from" : {
				  "type" : "object",
				  "description" : "the input file this output changed",
				  "properties" : { "id" : J_STR, "storage_session_id" : J_STR }
			  },
			  "size" : J_INT,
			  "kind" : J_STR
		  }
	  }) },
	{ "ExecRequest", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "lang", "code" ],
		  "description" : "Unknown members are ignored",
		  "properties" : {
			  "lang" : {
				  "type" : "string",
				  "description" :
					  "py, js, ts, go, java, c, cpp, php, rs, r, f90, d, bash"
			  },
			  "code" : J_STR,
			  "args" : { "description" : "argv: a string or strings (else ignored)" },
			  "user_id" : { "type" : "string", "nullable" : true },
			  "session_id" : {
				  "type" : "string",
				  "nullable" : true,
				  "description" : "run in this session if it exists"
			  },
			  "entity_id" : {
				  "type" : "string",
				  "nullable" : true,
				  "maxLength" : 40,
				  "pattern" : "^[A-Za-z0-9_-]+$"
			  },
			  "files" : {
				  "type" : "array",
				  "nullable" : true,
				  "items" : {
					  "type" : "object",
					  "required" : ["id"],
					  "properties" : {
						  "id" : J_STR,
						  "session_id" : J_STR,
						  "storage_session_id" : J_STR,
						  "name" : J_STR,
						  "entity_id" : J_STR,
						  "resource_id" : J_STR,
						  "kind" : J_STR,
						  "version" : {}
					  }
				  }
			  },
			  "timeout" : {
				  "type" : "number",
				  "nullable" : true,
				  "minimum" : 1000,
				  "maximum" : 300000,
				  "description" : "milliseconds"
			  },
			  "LIBRECHAT_CODE_API_KEY" : {
				  "type" : "string",
				  "description" : "the API key, as LibreChat's agents send it"
			  }
		  }
	  }) },
	{ "ExecResponse", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "session_id", "stdout", "stderr", "files" ],
		  "properties" : {
			  "session_id" : J_ID,
			  "stdout" : J_STR,
			  "stderr" : J_STR,
			  "files" : {
				  "type" : "array",
				  "items" : { "$ref" : "#/components/schemas/FileRef" }
			  },
			  "exit_code" : J_INT,
			  "timed_out" : J_BOOL,
			  "duration_ms" : J_NUM,
			  "has_state" : J_BOOL,
			  "state_size" : J_INT,
			  "state_hash" : J_STR,
			  "state_note" : J_STR
		  }
	  }) },
	{ "UploadRequest", "multipart/form-data", NULL, JSON({
		  "type" : "object",
		  "properties" : {
			  "file" : { "type" : "string", "format" : "binary" },
			  "files" : {
				  "type" : "array",
				  "items" : { "type" : "string", "format" : "binary" }
			  },
			  "entity_id" : {
				  "type" : "string",
				  "maxLength" : 40,
				  "pattern" : "^[A-Za-z0-9_-]+$"
			  },
			  "session_id" : J_ID
		  }
	  }) },
	{ "UploadResponse", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "message", "session_id", "files" ],
		  "properties" : {
			  "message" : { "type" : "string", "enum" : ["success"] },
			  "session_id" : J_ID,
			  "storage_session_id" : J_ID,
			  "files" : {
				  "type" : "array",
				  "items" : {
					  "type" : "object",
					  "required" : [ "fileId", "filename" ],
					  "properties" : {
						  "fileId" : J_ID,
						  "filename" : J_STR,
						  "session_id" : J_ID,
						  "size" : J_INT
					  }
				  }
			  }
		  }
	  }) },
	{ "BatchUploadResponse", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "message", "session_id", "files", "succeeded", "failed" ],
		  "properties" : {
			  "message" :
				  { "type" : "string", "enum" : [ "success", "partial", "error" ] },
			  "session_id" : J_ID,
			  "storage_session_id" : J_ID,
			  "files" : {
				  "type" : "array",
				  "items" : {
					  "type" : "object",
					  "required" : [ "status", "filename" ],
					  "properties" : {
						  "status" : {
							  "type" : "string",
							  "enum" : [ "success", "error" ]
						  },
						  "fileId" : J_ID,
						  "filename" : J_STR,
						  "session_id" : J_ID,
						  "size" : J_INT,
						  "error" : J_STR
					  }
				  }
			  },
			  "succeeded" : J_INT,
			  "failed" : J_INT
		  }
	  }) },
	{ "FileList", NULL, NULL, JSON({
		  "type" : "array",
		  "description" : "summary: name (sid/fid), lastModified; simple: id, name, path",
		  "items" : {
			  "type" : "object",
			  "required" : ["name"],
			  "properties" : {
				  "name" : J_STR,
				  "lastModified" : { "type" : "string", "format" : "date-time" },
				  "id" : J_ID,
				  "path" : J_STR,
				  "filename" : J_STR,
				  "session_id" : J_ID,
				  "storage_session_id" : J_ID,
				  "content" : { "nullable" : true },
				  "size" : J_INT,
				  "etag" : J_STR,
				  "contentType" : J_STR,
				  "metadata" : {
					  "type" : "object",
					  "properties" : {
						  "content-type" : J_STR,
						  "original-filename" : J_STR
					  }
				  }
			  }
		  }
	  }) },
	{ "File", "*/*", NULL, JSON({
		  "type" : "string",
		  "format" : "binary",
		  "description" : "the file's bytes, with its Content-Type"
	  }) },
	{ "Empty", "text/plain", NULL, JSON({ "type" : "string", "maxLength" : 0 }) },
	{ "StateBlob", "application/octet-stream", NULL, JSON({
		  "type" : "string",
		  "format" : "binary",
		  "description" : "the Python state (lz4 cloudpickle)"
	  }) },
	{ "StateUploaded", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "message", "size" ],
		  "properties" : {
			  "message" : { "type" : "string", "enum" : ["state_uploaded"] },
			  "size" : J_INT
		  }
	  }) },
	{ "StateInfo", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "exists", "session_id" ],
		  "properties" : {
			  "exists" : J_BOOL,
			  "session_id" : J_STR,
			  "size_bytes" : { "type" : "integer", "nullable" : true },
			  "hash" : { "type" : "string", "nullable" : true },
			  "created_at" :
				  { "type" : "string", "format" : "date-time", "nullable" : true },
			  "expires_at" :
				  { "type" : "string", "format" : "date-time", "nullable" : true },
			  "source" : { "type" : "string", "enum" : [ "store", "archive" ] }
		  }
	  }) },
	{ "PoolStats", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "enabled", "pools" ],
		  "properties" : {
			  "enabled" : J_BOOL,
			  "adaptive" : J_BOOL,
			  "adaptive_max" : J_INT,
			  "memory_budget_mb" : J_NUM,
			  "memory_mb" : J_NUM,
			  "pools" : {
				  "type" : "array",
				  "items" : {
					  "type" : "object",
					  "required" : [ "language", "target", "ready" ],
					  "properties" : {
						  "language" : J_STR,
						  "floor" : J_INT,
						  "target" : J_INT,
						  "cost_mb" : J_NUM,
						  "ready" : J_INT,
						  "creating" : J_INT,
						  "in_use" : J_INT,
						  "created" : J_INT,
						  "failed" : J_INT,
						  "replaced" : J_INT,
						  "hits" : J_INT,
						  "misses" : J_INT,
						  "miss_wait_ms_avg" : J_NUM,
						  "miss_wait_ms_max" : J_NUM,
						  "waits" : J_INT,
						  "wait_ms_avg" : J_NUM
					  }
				  }
			  }
		  }
	  }) },
	{ "PoolWarmup", NULL, NULL, JSON({
		  "allOf" : [
			  { "$ref" : "#/components/schemas/PoolStats" }, {
				  "type" : "object",
				  "required" : [ "complete", "waited_ms" ],
				  "properties" : { "complete" : J_BOOL, "waited_ms" : J_NUM }
			  }
		  ]
	  }) },
	{ "PoolWarmupRequest", NULL, NULL, JSON({
		  "type" : "object",
		  "properties" : {
			  "languages" : {
				  "type" : "array",
				  "items" : J_STR,
				  "description" : "every pool when absent"
			  },
			  "size" : {
				  "type" : "integer",
				  "minimum" : 0,
				  "maximum" : 1024,
				  "description" : "the new target of each pool named"
			  },
			  "timeout_ms" : { "type" : "number", "minimum" : 0 }
		  }
	  }) },
	{ "PoolDrainRequest", NULL, NULL, JSON({
		  "type" : "object",
		  "properties" : {
			  "languages" : {
				  "type" : "array",
				  "items" : J_STR,
				  "description" : "every pool when absent"
			  }
		  }
	  }) },
	{ "RateLimits", NULL, NULL, JSON({
		  "type" : "object",
		  "description" : "requests per window (0: no limit)",
		  "properties" : {
			  "per_second" : { "type" : "integer", "minimum" : 0 },
			  "per_minute" : { "type" : "integer", "minimum" : 0 },
			  "per_hour" : { "type" : "integer", "minimum" : 0 },
			  "per_day" : { "type" : "integer", "minimum" : 0 }
		  }
	  }) },
	{ "ApiKey", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [
			  "id", "name", "enabled", "status", "created", "expires", "rate_limits",
			  "max_concurrent"
		  ],
		  "properties" : {
			  "id" : {
				  "type" : "string",
				  "pattern" : "^[0-9a-f]{64}$",
				  "description" : "the SHA-256 of the key"
			  },
			  "name" : J_STR,
			  "enabled" : J_BOOL,
			  "status" : {
				  "type" : "string",
				  "enum" : [ "active", "disabled", "expired" ]
			  },
			  "created" :
				  { "type" : "number", "description" : "seconds since the epoch" },
			  "expires" : {
				  "type" : "number",
				  "description" : "seconds since the epoch; 0: never"
			  },
			  "rate_limits" : { "$ref" : "#/components/schemas/RateLimits" },
			  "max_concurrent" : {
				  "type" : "integer",
				  "description" : "executions at once; 0: the default"
			  }
		  }
	  }) },
	{ "ApiKeyCreated", NULL, NULL, JSON({
		  "allOf" : [
			  { "$ref" : "#/components/schemas/ApiKey" }, {
				  "type" : "object",
				  "required" : ["key"],
				  "properties" : {
					  "key" : {
						  "type" : "string",
						  "pattern" : "^sk-",
						  "description" : "the key itself, shown only here"
					  }
				  }
			  }
		  ]
	  }) },
	{ "ApiKeyRequest", NULL, NULL, JSON({
		  "type" : "object",
		  "description" :
			  "Every member optional; the limits may also be members of their own",
		  "properties" : {
			  "name" : { "type" : "string", "maxLength" : 200 },
			  "enabled" : J_BOOL,
			  "rate_limits" : { "$ref" : "#/components/schemas/RateLimits" },
			  "max_concurrent" : { "type" : "integer", "minimum" : 0 },
			  "expires" : {
				  "type" : "number",
				  "minimum" : 0,
				  "nullable" : true,
				  "description" : "seconds since the epoch; 0: never"
			  },
			  "expires_in" : {
				  "type" : "number",
				  "nullable" : true,
				  "description" : "seconds from now"
			  }
		  }
	  }) },
	{ "ApiKeyList", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : ["keys"],
		  "properties" : {
			  "keys" : {
				  "type" : "array",
				  "items" : { "$ref" : "#/components/schemas/ApiKey" }
			  }
		  }
	  }) },
	{ "Deleted", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "id", "deleted" ],
		  "properties" : { "id" : J_STR, "deleted" : J_BOOL }
	  }) },
	{ "UsageCounts", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "executions", "errors", "run_ms", "cpu_ms", "bytes" ],
		  "properties" : {
			  "executions" : J_INT,
			  "errors" : { "type" : "integer", "description" : "failed or timed out" },
			  "run_ms" : { "type" : "integer", "description" : "wall time in sandboxes" },
			  "cpu_ms" : { "type" : "integer", "description" : "user + system time" },
			  "bytes" : { "type" : "integer", "description" : "stdout, stderr and files" }
		  }
	  }) },
	{ "KeyUsage", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "id", "languages", "total" ],
		  "properties" : {
			  "id" : J_STR,
			  "languages" : {
				  "type" : "object",
				  "additionalProperties" :
					  { "$ref" : "#/components/schemas/UsageCounts" }
			  },
			  "total" : { "$ref" : "#/components/schemas/UsageCounts" },
			  "source" : { "type" : "string", "enum" : [ "config", "managed" ] }
		  }
	  }) },
	{ "UsageList", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : ["keys"],
		  "properties" : {
			  "keys" : {
				  "type" : "array",
				  "items" : { "$ref" : "#/components/schemas/KeyUsage" }
			  }
		  }
	  }) },
	{ "Session", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "id", "created", "last_used", "expires" ],
		  "properties" : {
			  "id" : J_ID,
			  "tenant" : J_STR,
			  "entity_id" : J_STR,
			  "user_id" : J_STR,
			  "created" : J_NUM,
			  "last_used" : J_NUM,
			  "expires" : J_NUM,
			  "files" : {
				  "type" : "array",
				  "items" : { "$ref" : "#/components/schemas/FileRef" }
			  }
		  }
	  }) },
	{ "SessionList", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "sessions", "truncated" ],
		  "properties" : {
			  "sessions" : {
				  "type" : "array",
				  "items" : { "$ref" : "#/components/schemas/Session" }
			  },
			  "truncated" : J_BOOL
		  }
	  }) },
	{ "Config", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : ["settings"],
		  "properties" : {
			  "settings" : {
				  "type" : "object",
				  "additionalProperties" : {
					  "type" : "object",
					  "required" : [ "value", "source" ],
					  "properties" : {
						  "value" : {
							  "type" : "string",
							  "description" : "secrets as ********"
						  },
						  "source" : J_STR
					  }
				  }
			  }
		  }
	  }) },
	{ "Health", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "status", "version" ],
		  "properties" : {
			  "status" : { "type" : "string", "enum" : ["healthy"] },
			  "version" : J_STR,
			  "executions_running" : J_INT,
			  "executions_waiting" : J_INT
		  }
	  }) },
	{ "HealthDetailed", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "status", "version", "checks" ],
		  "properties" : {
			  "status" : { "type" : "string", "enum" : [ "healthy", "unhealthy" ] },
			  "version" : J_STR,
			  "checks" : {
				  "type" : "object",
				  "properties" : {
					  "pool" : { "$ref" : "#/components/schemas/PoolStats" }
				  },
				  "additionalProperties" : {
					  "type" : "object",
					  "required" : [ "status", "backend", "latency_ms" ],
					  "properties" : {
						  "status" : {
							  "type" : "string",
							  "enum" : [ "healthy", "unhealthy" ]
						  },
						  "backend" : J_STR,
						  "latency_ms" : J_NUM,
						  "error" : J_STR
					  }
				  }
			  }
		  }
	  }) },
	{ "Ready", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "status", "sandbox", "stores" ],
		  "properties" : {
			  "status" : { "type" : "string", "enum" : [ "ready", "unavailable" ] },
			  "sandbox" : {
				  "type" : "object",
				  "properties" : {
					  "provider" : J_STR,
					  "ok" : J_BOOL,
					  "latency_ms" : J_NUM
				  }
			  },
			  "stores" : {
				  "type" : "object",
				  "additionalProperties" : {
					  "type" : "object",
					  "properties" : {
						  "backend" : J_STR,
						  "ok" : J_BOOL,
						  "latency_ms" : J_NUM
					  }
				  }
			  },
			  "store" : { "type" : "string", "description" : "the store that failed" },
			  "sandbox_provider" :
				  { "type" : "string", "description" : "the provider that failed" },
			  "error" : J_STR
		  }
	  }) },
	{ "Latency", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "count", "p50_ms", "p95_ms", "p99_ms", "max_ms" ],
		  "properties" : {
			  "count" : J_INT,
			  "p50_ms" : J_NUM,
			  "p95_ms" : J_NUM,
			  "p99_ms" : J_NUM,
			  "max_ms" : J_NUM
		  }
	  }) },
	{ "Activity", NULL, NULL, JSON({
		  "type" : "object",
		  "required" : [ "now", "minute_start", "minutes", "executions", "errors", "latency",
				 "recent_errors" ],
		  "properties" : {
			  "now" : J_NUM,
			  "minute_start" : {
				  "type" : "number",
				  "description" : "when the first minute of the series began"
			  },
			  "minutes" : J_INT,
			  "executions" : {
				  "type" : "object",
				  "description" : "per language used: a count a minute, oldest first",
				  "additionalProperties" : { "type" : "array", "items" : J_NUM }
			  },
			  "errors" : {
				  "type" : "object",
				  "description" : "likewise, the executions that failed",
				  "additionalProperties" : { "type" : "array", "items" : J_NUM }
			  },
			  "latency" : {
				  "type" : "object",
				  "required" : [ "window_minutes", "overall", "languages" ],
				  "properties" : {
					  "window_minutes" : J_INT,
					  "overall" : { "$ref" : "#/components/schemas/Latency" },
					  "languages" : {
						  "type" : "object",
						  "additionalProperties" :
							  { "$ref" : "#/components/schemas/Latency" }
					  }
				  }
			  },
			  "recent_errors" : {
				  "type" : "array",
				  "description" : "newest first",
				  "items" : {
					  "type" : "object",
					  "required" : [ "ts", "status", "method", "route" ],
					  "properties" : {
						  "ts" : J_NUM,
						  "status" : J_INT,
						  "method" : J_STR,
						  "route" : J_STR,
						  "error_type" : J_STR,
						  "message" : J_STR,
						  "key_id" : J_STR,
						  "key_name" : J_STR,
						  "admin" : J_BOOL,
						  "request_id" : J_STR
					  }
				  }
			  }
		  }
	  }) },
	{ "Html", "text/html", NULL, JSON({ "type" : "string" }) },
	{ "JavaScript", "text/javascript", NULL, JSON({ "type" : "string" }) },
	{ "Css", "text/css", NULL, JSON({ "type" : "string" }) },
	{ "Metrics", "text/plain", NULL,
	  JSON({ "type" : "string", "description" : "Prometheus' text format 0.0.4" }) },
	{ "OpenAPI", NULL, NULL,
	  JSON({ "type" : "object", "description" : "an OpenAPI 3.0 document" }) },
	{ NULL },
};

/* clang-format on */

/* Parameters beyond the path's; a NULL schema is a string. */
#define SCOPED "newer agents' scoped listing (ignored)"
static const struct api_schema params[] = {
	{ "detail", "query", "summary: what LibreChat's freshness check reads; full: everything",
	  JSON({
		  "type" : "string",
		  "enum" : [ "summary", "simple", "full" ],
		  "default" : "full"
	  }) },
	{ "entity_id", "query", "sent by LibreChat (ignored)", NULL },
	{ "kind", "query", SCOPED, NULL },
	{ "id", "query", SCOPED, NULL },
	{ "version", "query", SCOPED, NULL },
	{ "limit", "query", "at most this many sessions",
	  JSON({ "type" : "integer", "minimum" : 1, "maximum" : 10000, "default" : 100 }) },
	{ "key", "query", "only the sessions of this key (its id)", NULL },
	{ "User-Id", "header", "LibreChat's user id, kept with the session", NULL },
	{ "latency_minutes", "query", "the window of the latency percentiles",
	  JSON({ "type" : "integer", "minimum" : 1, "maximum" : 60, "default" : 15 }) },
	{ "If-None-Match", "header", "304 when the state's ETag is one of these", NULL },
	{ NULL },
};

const struct api_schema *
api_schemas(void)
{
	return schemas;
}

const struct api_schema *
api_params(void)
{
	return params;
}

const struct api_schema *
api_find(const struct api_schema *table, const char *name)
{
	for (const struct api_schema *t = table; t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

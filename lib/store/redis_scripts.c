/* The Lua of the redis session store: each op that reads and then writes,
 * or writes more than one key, is one script, which Redis runs whole
 * while every other client waits. So two replicas touching one session,
 * or adding to one counter, never lose each other's update, and a reader
 * never sees half of a write.
 *
 * Times are epoch seconds as text ("%.6f"), taken from the server's clock
 * (TIME) where the op says "now": replicas with skewed clocks agree. Key
 * expiry is Redis's own (PEXPIREAT): a session's keys all expire with it,
 * its Python state earlier when the state has an expiry of its own. The
 * key layout is in redis.c. */
#include <config.h>

#include "store/redis-internal.h"

/* Shared by the scripts below. KEYS[1..4] of a session's scripts are its
 * record, file records, state bytes and state record, in that order. */
#define PRELUDE                                                                                    \
	"-- TIME, then writes: replicated by their effects (the default from\n"                    \
	"-- Redis 5, a no-op in 7; needed by 3.2 and 4)\n"                                         \
	"redis.replicate_commands()\n"                                                             \
	"local function fmt(t) return string.format('%.6f', t) end\n"                              \
	"local function now_s()\n"                                                                 \
	"  local t = redis.call('TIME')\n"                                                         \
	"  return tonumber(t[1]) + tonumber(t[2]) / 1000000\n"                                     \
	"end\n"                                                                                    \
	"-- k expires at t (epoch seconds; 0: never; past: now)\n"                                 \
	"local function expire_at(k, t)\n"                                                         \
	"  if t > 0 then redis.call('PEXPIREAT', k, math.floor(t * 1000))\n"                       \
	"  else redis.call('PERSIST', k) end\n"                                                    \
	"end\n"                                                                                    \
	"-- a state lives as long as its session, or less by its own expiry\n"                     \
	"local function state_expiry(info_key, sess)\n"                                            \
	"  local rec = redis.call('GET', info_key)\n"                                              \
	"  local own = 0\n"                                                                        \
	"  if rec then own = tonumber(cjson.decode(rec).expires) or 0 end\n"                       \
	"  if own > 0 and (sess == 0 or own < sess) then return own end\n"                         \
	"  return sess\n"                                                                          \
	"end\n"                                                                                    \
	"local function owner_key(prefix, owner) return prefix .. 'owner:' .. owner end\n"         \
	"-- the owner's pointer, when it still names sid\n"                                        \
	"local function my_owner_key(prefix, sid)\n"                                               \
	"  local owner = redis.call('HGET', KEYS[1], 'owner')\n"                                   \
	"  if not owner or owner == '' then return nil end\n"                                      \
	"  local ok = owner_key(prefix, owner)\n"                                                  \
	"  if redis.call('GET', ok) == sid then return ok end\n"                                   \
	"  return nil\n"                                                                           \
	"end\n"                                                                                    \
	"-- every key of session sid expires at exp\n"                                             \
	"local function follow(exp, prefix, sid)\n"                                                \
	"  local ok = my_owner_key(prefix, sid)\n"                                                 \
	"  local st = state_expiry(KEYS[4], exp)\n"                                                \
	"  expire_at(KEYS[1], exp)\n"                                                              \
	"  expire_at(KEYS[2], exp)\n"                                                              \
	"  expire_at(KEYS[3], st)\n"                                                               \
	"  expire_at(KEYS[4], st)\n"                                                               \
	"  if ok then expire_at(ok, exp) end\n"                                                    \
	"end\n"

/* ARGV: record, owner key (''), last_used, expires, prefix, sid. A
 * session that changes owner leaves its old owner's pointer. */
const char redis_lua_session_put[] = PRELUDE
	"local old = my_owner_key(ARGV[5], ARGV[6])\n"
	"if old and old ~= owner_key(ARGV[5], ARGV[2]) then redis.call('DEL', old) end\n"
	"redis.call('DEL', KEYS[1])\n"
	"redis.call('HSET', KEYS[1], 'json', ARGV[1], 'owner', ARGV[2],\n"
	"           'last_used', ARGV[3], 'expires', ARGV[4])\n"
	"if ARGV[2] ~= '' then redis.call('SET', owner_key(ARGV[5], ARGV[2]), ARGV[6]) end\n"
	"follow(tonumber(ARGV[4]), ARGV[5], ARGV[6])\n"
	"return 1\n";

/* ARGV: init's record, init's owner key (''), ttl_s, prefix, sid.
 * Returns {created, record, last_used, expires}. */
const char redis_lua_session_touch[] =
	PRELUDE "local now = now_s()\n"
		"local created = 0\n"
		"if redis.call('EXISTS', KEYS[1]) == 0 then\n"
		"  redis.call('HSET', KEYS[1], 'json', ARGV[1], 'owner', ARGV[2])\n"
		"  created = 1\n"
		"end\n"
		"local ttl = tonumber(ARGV[3])\n"
		"local exp = 0\n"
		"if ttl > 0 then exp = now + ttl end\n"
		"redis.call('HSET', KEYS[1], 'last_used', fmt(now), 'expires', fmt(exp))\n"
		"local owner = redis.call('HGET', KEYS[1], 'owner')\n"
		"if owner and owner ~= '' then\n"
		"  redis.call('SET', owner_key(ARGV[4], owner), ARGV[5])\n"
		"end\n"
		"follow(exp, ARGV[4], ARGV[5])\n"
		"local r = redis.call('HMGET', KEYS[1], 'json', 'last_used', 'expires')\n"
		"return {created, r[1], r[2], r[3]}\n";

/* ARGV: expires, prefix, sid. 0: no such session. */
const char redis_lua_session_expire[] =
	PRELUDE "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
		"redis.call('HSET', KEYS[1], 'expires', ARGV[1])\n"
		"follow(tonumber(ARGV[1]), ARGV[2], ARGV[3])\n"
		"return 1\n";

/* ARGV: prefix, sid. */
const char redis_lua_session_delete[] =
	PRELUDE "local ok = my_owner_key(ARGV[1], ARGV[2])\n"
		"if ok then redis.call('DEL', ok) end\n"
		"redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])\n"
		"return 1\n";

/* KEYS: file records, session. ARGV: fid, record, orphan TTL (s). */
const char redis_lua_file_put[] =
	PRELUDE "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
		"if redis.call('EXISTS', KEYS[2]) == 1 then\n"
		"  expire_at(KEYS[1], tonumber(redis.call('HGET', KEYS[2], 'expires') or '0'))\n"
		"else\n"
		"  redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
		"end\n"
		"return 1\n";

/* KEYS: session, file records, state bytes, state record. ARGV: bytes,
 * record, orphan TTL (s). */
const char redis_lua_state_put[] =
	PRELUDE "redis.call('SET', KEYS[3], ARGV[1])\n"
		"redis.call('SET', KEYS[4], ARGV[2])\n"
		"local sess\n"
		"if redis.call('EXISTS', KEYS[1]) == 1 then\n"
		"  sess = tonumber(redis.call('HGET', KEYS[1], 'expires') or '0')\n"
		"else\n"
		"  sess = now_s() + tonumber(ARGV[3])\n"
		"end\n"
		"local st = state_expiry(KEYS[4], sess)\n"
		"expire_at(KEYS[3], st)\n"
		"expire_at(KEYS[4], st)\n"
		"return 1\n";

/* KEYS: state record, state bytes. ARGV: max. nil: no state; {record}:
 * archived; {record, size}: over max; else {record, size, bytes}. */
const char redis_lua_state_get[] = "local info = redis.call('GET', KEYS[1])\n"
				   "if not info then return false end\n"
				   "if cjson.decode(info).archived then return {info} end\n"
				   "local n = redis.call('STRLEN', KEYS[2])\n"
				   "if n > tonumber(ARGV[1]) then return {info, n} end\n"
				   "local b = redis.call('GET', KEYS[2])\n"
				   "if not b then return false end\n"
				   "return {info, n, b}\n";

/* KEYS: state record, state bytes. ARGV: the record as it must be now,
 * the new record, "drop" (archive) or "put" (unarchive), bytes. 0: no
 * state; -1: the record changed; 1: moved. The keys keep their expiry. */
const char redis_lua_state_move[] =
	"local cur = redis.call('GET', KEYS[1])\n"
	"if not cur then return 0 end\n"
	"if cur ~= ARGV[1] then return -1 end\n"
	"local ttl = redis.call('PTTL', KEYS[1])\n"
	"redis.call('SET', KEYS[1], ARGV[2])\n"
	"if ARGV[3] == 'put' then\n"
	"  redis.call('SET', KEYS[2], ARGV[4])\n"
	"else\n"
	"  redis.call('DEL', KEYS[2])\n"
	"end\n"
	"if ttl > 0 then\n"
	"  redis.call('PEXPIRE', KEYS[1], ttl)\n"
	"  if ARGV[3] == 'put' then redis.call('PEXPIRE', KEYS[2], ttl) end\n"
	"end\n"
	"return 1\n";

/* KEYS: key record, index. ARGV: record, id. */
const char redis_lua_key_put[] = "redis.call('SET', KEYS[1], ARGV[1])\n"
				 "redis.call('SADD', KEYS[2], ARGV[2])\n"
				 "return 1\n";

/* KEYS: index. ARGV: prefix. Every record; ids whose record is gone
 * leave the index. */
const char redis_lua_key_list[] =
	"local out = {}\n"
	"for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
	"  local v = redis.call('GET', ARGV[1] .. 'apikey:' .. id)\n"
	"  if v then table.insert(out, v) else redis.call('SREM', KEYS[1], id) end\n"
	"end\n"
	"return out\n";

/* KEYS: key record, index. ARGV: id. 0: no such key. */
const char redis_lua_key_delete[] = "local n = redis.call('DEL', KEYS[1])\n"
				    "redis.call('SREM', KEYS[2], ARGV[1])\n"
				    "return n\n";

/* KEYS: counter. ARGV: delta, ttl in ms (0: never). The new value as
 * text: a Lua number would round it past 2^53. */
const char redis_lua_counter_add[] = "local existed = redis.call('EXISTS', KEYS[1])\n"
				     "redis.call('INCRBY', KEYS[1], ARGV[1])\n"
				     "if existed == 0 and tonumber(ARGV[2]) > 0 then\n"
				     "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
				     "end\n"
				     "return redis.call('GET', KEYS[1])\n";

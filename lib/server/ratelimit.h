/* Per-key rate limits, failed-authentication throttling and per-key
 * caps on executions at once.
 *
 * Rate limits are fixed windows aligned on the epoch (a minute window
 * resets at the top of each minute, on every replica alike): each request
 * adds one to the key's counter of each window that has a limit, in the
 * session store (counter_add: atomic, and shared by replicas on Redis),
 * and is refused (429) when any of them goes over. Refused requests count
 * too, as they do in KubeCodeRun: a client that keeps hammering waits for
 * the window to end. The headers name the tightest window: the one with
 * the fewest requests left (on a tie, the one that resets first), or,
 * when refused, the window that keeps the key out longest.
 *
 * Failed authentications and executions at once are counted in this
 * replica's memory, in tables of bounded size. */
#ifndef KCR_RATELIMIT_H
#define KCR_RATELIMIT_H

#include "base/error.h"
#include "store/store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { KCR_RL_SECOND, KCR_RL_MINUTE, KCR_RL_HOUR, KCR_RL_DAY, KCR_RL_WINDOWS };

/* The length of window w in seconds, and its name ("minute"). */
unsigned int kcr_rl_window_seconds(unsigned int w);
const char *kcr_rl_window_name(unsigned int w);

/* Requests allowed per window (0: no limit). */
struct kcr_rl_limits {
	uint32_t per[KCR_RL_WINDOWS];
};
void kcr_rl_limits_of_key(const struct kcr_api_key_record *k, struct kcr_rl_limits *l);
bool kcr_rl_limits_any(const struct kcr_rl_limits *l);

/* The window of length seconds that holds now: its number since the
 * epoch, and when it ends (epoch seconds). */
int64_t kcr_rl_window_index(double now, unsigned int seconds);
double kcr_rl_window_end(double now, unsigned int seconds);
/* "rl:<id>:<window name>:<index>" */
void kcr_rl_counter_name(const char *id, unsigned int w, int64_t index, char *out, size_t size);

/* What a request's counts come to. */
struct kcr_rl_verdict {
	bool limited; /* over a limit: 429 */
	bool any;     /* some window has a limit: send the headers */
	unsigned int window;
	uint32_t limit, remaining;
	double reset;             /* epoch seconds, when that window ends */
	unsigned int retry_after; /* seconds, when limited */
};
/* counts[w]: the counter of window w after this request (ignored where
 * l has no limit). */
void kcr_rl_decide(const struct kcr_rl_limits *l, const int64_t counts[KCR_RL_WINDOWS], double now,
		   struct kcr_rl_verdict *v);
/* Counts the request in each window of id that has a limit and decides. */
int kcr_rl_check(struct kcr_stores *st, const char *id, const struct kcr_rl_limits *l, double now,
		 struct kcr_rl_verdict *v, kcr_error_t *err);

/* ---- failed authentications, per client address ------------------------
 * A table of cap addresses (one per slot, by a hash of the address; a new
 * one takes over its slot), each with its failures in the current
 * window of window_s seconds. */
struct kcr_authfail;
struct kcr_authfail *kcr_authfail_new(size_t cap);
void kcr_authfail_free(struct kcr_authfail *t);
/* Whether addr has failed limit times or more in its window (limit 0:
 * never); *retry_after: seconds until the window ends. */
bool kcr_authfail_blocked(struct kcr_authfail *t, const char *addr, double now, unsigned int limit,
			  unsigned int window_s, unsigned int *retry_after);
void kcr_authfail_record(struct kcr_authfail *t, const char *addr, double now,
			 unsigned int window_s);

/* ---- executions at once, per tenant --------------------------------------
 * Only tenants with executions running have an entry, so the table is as
 * large as the executions in flight. */
struct kcr_conc;
struct kcr_conc *kcr_conc_new(void);
void kcr_conc_free(struct kcr_conc *t);
/* Takes a slot of tenant's if it has fewer than max running (max 0:
 * no cap, always true); each true must be followed by a release. */
bool kcr_conc_acquire(struct kcr_conc *t, const char *tenant, unsigned int max);
void kcr_conc_release(struct kcr_conc *t, const char *tenant);
unsigned int kcr_conc_running(struct kcr_conc *t, const char *tenant);

#endif

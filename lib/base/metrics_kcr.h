/* kcr's own metrics (GET /metrics), on the registry of base/metrics.h. */
#ifndef KCR_METRICS_KCR_H
#define KCR_METRICS_KCR_H

/* Registers them all (idempotent), so a scrape shows each one's HELP and
 * TYPE before anything happened. */
void kcr_metrics_init(void);
/* An execution ended: outcome is "ok", "error", "timeout", "oom" or
 * "failed" (kcr could not run it); setup_s < 0 when no sandbox was set up. */
void kcr_metrics_execution(const char *lang, const char *outcome, double seconds,
			   double setup_s);
/* A request was answered: route is the route's name (NULL: none matched). */
void kcr_metrics_http_request(const char *route, int status, double seconds);
/* A store op returned: store is "sessions" or "files", backend the
 * store's name (fs, redis, s3), result "ok", "notfound", "invalid",
 * "limit" or "error" (the store failed: a 503). */
void kcr_metrics_store_op(const char *store, const char *backend, const char *result);
/* Scrape time: the load of the service and this process's memory and fds. */
void kcr_metrics_update_process(unsigned int running, unsigned int waiting);

#endif

/* Metrics in the Prometheus text exposition format (version 0.0.4): a
 * process-wide registry of counters, gauges and histograms, each with a
 * fixed list of label names, rendered for GET /metrics.
 *
 * A module registers what it needs once and keeps the handle; registering
 * the same name again returns the same metric, so there is no ordering to
 * get right:
 *
 *	static struct kcr_metric *hits;
 *	hits = kcr_metrics_counter("kcr_pool_hits_total", "sandboxes taken warm", "language");
 *	kcr_metrics_inc(hits, "py");
 *
 * Label values are given in the order of the label names ("a,b"), one
 * string each (a wrong count is logged and the sample dropped). A metric
 * keeps at most KCR_METRICS_MAX_SERIES label sets: label values must come
 * from small fixed sets (languages, outcomes, routes), never from users.
 * Every update takes the metric's own mutex; handles live as long as the
 * process. */
#ifndef KCR_METRICS_H
#define KCR_METRICS_H

#include "base/util.h"

#include <stddef.h>

#define KCR_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define KCR_METRICS_MAX_LABELS 4
#define KCR_METRICS_MAX_SERIES 512

struct kcr_metric;

/* labels: comma-separated label names ("language,outcome"), or NULL or ""
 * for none. A name or label that isn't valid Prometheus, or a name already
 * registered with another type, labels or buckets, is a bug: it aborts. */
struct kcr_metric *kcr_metrics_counter(const char *name, const char *help, const char *labels);
struct kcr_metric *kcr_metrics_gauge(const char *name, const char *help, const char *labels);
/* bounds: the buckets' upper bounds, increasing; +Inf is added. */
struct kcr_metric *kcr_metrics_histogram(const char *name, const char *help, const char *labels,
					 const double *bounds, size_t n_bounds);

/* values: one per label, then NULL. Counters only go up (v < 0 is ignored);
 * observe is for histograms, add and set for the others. */
void kcr_metrics_add_v(struct kcr_metric *m, double v, const char *const *values);
void kcr_metrics_set_v(struct kcr_metric *m, double v, const char *const *values);
void kcr_metrics_observe_v(struct kcr_metric *m, double v, const char *const *values);

#define KCR_METRICS_VALUES(...) ((const char *const[]){ __VA_ARGS__ __VA_OPT__(,) NULL })
/* kcr_metrics_inc(m, "py", "ok"); kcr_metrics_set(g, 3.0); */
#define kcr_metrics_inc(m, ...) kcr_metrics_add_v((m), 1, KCR_METRICS_VALUES(__VA_ARGS__))
#define kcr_metrics_add(m, v, ...) kcr_metrics_add_v((m), (v), KCR_METRICS_VALUES(__VA_ARGS__))
#define kcr_metrics_set(m, v, ...) kcr_metrics_set_v((m), (v), KCR_METRICS_VALUES(__VA_ARGS__))
#define kcr_metrics_observe(m, v, ...) \
	kcr_metrics_observe_v((m), (v), KCR_METRICS_VALUES(__VA_ARGS__))

/* Appends every metric, in registration order, with # HELP and # TYPE. */
void kcr_metrics_render(struct kcr_buf *out);

#endif

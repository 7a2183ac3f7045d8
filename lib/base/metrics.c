#include <config.h>

#include "base/metrics.h"
#include "base/log.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum metric_type { M_COUNTER, M_GAUGE, M_HISTOGRAM };

static const char *const type_names[] = { "counter", "gauge", "histogram" };

/* One label set of a metric. */
struct series {
	char **values;    /* one per label */
	double value;     /* counter, gauge */
	uint64_t *counts; /* histogram: per bucket (not cumulative), +Inf last */
	double sum;
	uint64_t count;
};

struct kcr_metric {
	struct kcr_metric *next;
	enum metric_type type;
	char *name, *help;
	char *labels[KCR_METRICS_MAX_LABELS];
	size_t n_labels;
	double *bounds;
	size_t n_bounds;
	pthread_mutex_t lock;
	struct series **series; /* sorted by label values */
	size_t n_series;
	bool warned;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kcr_metric *reg_head, **reg_tail = &reg_head;

/* ---- registration ------------------------------------------------------ */

static void bug(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void
bug(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kcr: BUG: metrics: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static bool
valid_name(const char *s, bool colon)
{
	if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
			return false;
	return true;
}

/* Splits "a,b" into m->labels. */
static void
parse_labels(struct kcr_metric *m, const char *spec)
{
	kcr_autofree char *copy = kcr_xstrdup(spec ? spec : "");
	char *save = NULL;

	for (char *l = strtok_r(copy, ",", &save); l; l = strtok_r(NULL, ",", &save)) {
		if (m->n_labels >= KCR_METRICS_MAX_LABELS)
			bug("%s: more than %d labels", m->name, KCR_METRICS_MAX_LABELS);
		if (!valid_name(l, false) || strncmp(l, "__", 2) == 0 ||
		    (m->type == M_HISTOGRAM && strcmp(l, "le") == 0))
			bug("%s: invalid label name '%s'", m->name, l);
		m->labels[m->n_labels++] = kcr_xstrdup(l);
	}
}

static bool
same_shape(const struct kcr_metric *a, const struct kcr_metric *b)
{
	if (a->type != b->type || a->n_labels != b->n_labels || a->n_bounds != b->n_bounds)
		return false;
	for (size_t i = 0; i < a->n_labels; i++)
		if (strcmp(a->labels[i], b->labels[i]) != 0)
			return false;
	for (size_t i = 0; i < a->n_bounds; i++)
		if (a->bounds[i] != b->bounds[i])
			return false;
	return true;
}

static void
metric_free(struct kcr_metric *m)
{
	for (size_t i = 0; i < m->n_labels; i++)
		free(m->labels[i]);
	pthread_mutex_destroy(&m->lock);
	free(m->bounds);
	free(m->name);
	free(m->help);
	free(m);
}

static struct kcr_metric *
metric_register(enum metric_type type, const char *name, const char *help, const char *labels,
		const double *bounds, size_t n_bounds)
{
	struct kcr_metric *m = kcr_xzalloc(sizeof(*m)), *old;

	if (!valid_name(name, true))
		bug("invalid metric name '%s'", name ? name : "(null)");
	m->type = type;
	m->name = kcr_xstrdup(name);
	m->help = kcr_xstrdup(help ? help : "");
	pthread_mutex_init(&m->lock, NULL);
	parse_labels(m, labels);
	if (n_bounds) {
		m->bounds = kcr_xmalloc(n_bounds * sizeof(*bounds));
		memcpy(m->bounds, bounds, n_bounds * sizeof(*bounds));
	}
	m->n_bounds = n_bounds;
	for (size_t i = 0; i < n_bounds; i++)
		if (isnan(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
			bug("%s: buckets must increase", name);
	pthread_mutex_lock(&reg_lock);
	for (old = reg_head; old && strcmp(old->name, name) != 0; old = old->next)
		;
	if (old == NULL) {
		*reg_tail = m;
		reg_tail = &m->next;
	}
	pthread_mutex_unlock(&reg_lock);
	if (old == NULL)
		return m;
	if (!same_shape(old, m))
		bug("%s registered twice with different types, labels or buckets", name);
	metric_free(m);
	return old;
}

struct kcr_metric *
kcr_metrics_counter(const char *name, const char *help, const char *labels)
{
	return metric_register(M_COUNTER, name, help, labels, NULL, 0);
}

struct kcr_metric *
kcr_metrics_gauge(const char *name, const char *help, const char *labels)
{
	return metric_register(M_GAUGE, name, help, labels, NULL, 0);
}

struct kcr_metric *
kcr_metrics_histogram(const char *name, const char *help, const char *labels,
		      const double *bounds, size_t n_bounds)
{
	return metric_register(M_HISTOGRAM, name, help, labels, bounds, n_bounds);
}

/* ---- updates ------------------------------------------------------------ */

static int
values_cmp(const struct kcr_metric *m, char *const *a, const char *const *b)
{
	for (size_t i = 0; i < m->n_labels; i++) {
		int c = strcmp(a[i], b[i]);

		if (c)
			return c;
	}
	return 0;
}

/* The series for these values, created on first use; NULL (and a warning
 * once) for a wrong number of values or too many series. Under m->lock. */
static struct series *
series_get(struct kcr_metric *m, const char *const *values)
{
	size_t n = 0, at = 0;
	struct series *s;

	while (values[n])
		n++;
	if (n != m->n_labels) {
		if (!m->warned)
			kcr_log_warn("metric %s takes %zu label values, not %zu", m->name,
				     m->n_labels, n);
		m->warned = true;
		return NULL;
	}
	for (; at < m->n_series; at++) {
		int c = values_cmp(m, m->series[at]->values, values);

		if (c == 0)
			return m->series[at];
		if (c > 0)
			break;
	}
	if (m->n_series >= KCR_METRICS_MAX_SERIES) {
		if (!m->warned)
			kcr_log_warn("metric %s: more than %d label sets, dropping new ones",
				     m->name, KCR_METRICS_MAX_SERIES);
		m->warned = true;
		return NULL;
	}
	s = kcr_xzalloc(sizeof(*s));
	s->values = kcr_xzalloc((n + 1) * sizeof(*s->values));
	for (size_t i = 0; i < n; i++)
		s->values[i] = kcr_xstrdup(values[i]);
	if (m->type == M_HISTOGRAM)
		s->counts = kcr_xzalloc((m->n_bounds + 1) * sizeof(*s->counts));
	m->series = kcr_xrealloc(m->series, (m->n_series + 1) * sizeof(*m->series));
	memmove(&m->series[at + 1], &m->series[at], (m->n_series - at) * sizeof(*m->series));
	m->series[at] = s;
	m->n_series++;
	return s;
}

void
kcr_metrics_add_v(struct kcr_metric *m, double v, const char *const *values)
{
	struct series *s;

	if (m == NULL || m->type == M_HISTOGRAM || (m->type == M_COUNTER && !(v >= 0)))
		return;
	pthread_mutex_lock(&m->lock);
	s = series_get(m, values);
	if (s)
		s->value += v;
	pthread_mutex_unlock(&m->lock);
}

void
kcr_metrics_set_v(struct kcr_metric *m, double v, const char *const *values)
{
	struct series *s;

	if (m == NULL || m->type != M_GAUGE)
		return;
	pthread_mutex_lock(&m->lock);
	s = series_get(m, values);
	if (s)
		s->value = v;
	pthread_mutex_unlock(&m->lock);
}

void
kcr_metrics_observe_v(struct kcr_metric *m, double v, const char *const *values)
{
	struct series *s;
	size_t b = 0;

	if (m == NULL || m->type != M_HISTOGRAM || isnan(v))
		return;
	while (b < m->n_bounds && v > m->bounds[b])
		b++;
	pthread_mutex_lock(&m->lock);
	s = series_get(m, values);
	if (s) {
		s->counts[b]++;
		s->sum += v;
		s->count++;
	}
	pthread_mutex_unlock(&m->lock);
}

/* ---- the exposition format ------------------------------------------------ */

/* Integers as integers, other values in the fewest digits that read back
 * the same; +Inf, -Inf and NaN as Prometheus spells them. */
static void
add_number(struct kcr_buf *b, double v)
{
	char s[40];

	if (isnan(v)) {
		kcr_buf_adds(b, "NaN");
	} else if (isinf(v)) {
		kcr_buf_adds(b, v > 0 ? "+Inf" : "-Inf");
	} else if (v == trunc(v) && fabs(v) < 1e15) {
		kcr_buf_addf(b, "%" PRId64, (int64_t)v);
	} else {
		snprintf(s, sizeof(s), "%.15g", v);
		if (strtod(s, NULL) != v)
			snprintf(s, sizeof(s), "%.17g", v);
		kcr_buf_adds(b, s);
	}
}

/* HELP text escapes \ and newline; label values " too. */
static void
add_escaped(struct kcr_buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			kcr_buf_adds(b, "\\\\");
		else if (*s == '\n')
			kcr_buf_adds(b, "\\n");
		else if (*s == '"' && quote)
			kcr_buf_adds(b, "\\\"");
		else
			kcr_buf_add(b, s, 1);
	}
}

/* name{a="x",b="y",le="0.5"} and a space; le NULL: no le label */
static void
add_sample_name(struct kcr_buf *b, const struct kcr_metric *m, const char *suffix,
		char *const *values, const double *le)
{
	bool any = m->n_labels > 0 || le;

	kcr_buf_adds(b, m->name);
	kcr_buf_adds(b, suffix);
	if (any)
		kcr_buf_adds(b, "{");
	for (size_t i = 0; i < m->n_labels; i++) {
		kcr_buf_addf(b, "%s%s=\"", i ? "," : "", m->labels[i]);
		add_escaped(b, values[i], true);
		kcr_buf_adds(b, "\"");
	}
	if (le) {
		kcr_buf_adds(b, m->n_labels ? ",le=\"" : "le=\"");
		add_number(b, *le);
		kcr_buf_adds(b, "\"");
	}
	if (any)
		kcr_buf_adds(b, "}");
	kcr_buf_adds(b, " ");
}

static void
render_series(struct kcr_buf *b, const struct kcr_metric *m, const struct series *s)
{
	uint64_t cum = 0;

	if (m->type != M_HISTOGRAM) {
		add_sample_name(b, m, "", s->values, NULL);
		add_number(b, s->value);
		kcr_buf_adds(b, "\n");
		return;
	}
	for (size_t i = 0; i <= m->n_bounds; i++) {
		double le = i < m->n_bounds ? m->bounds[i] : INFINITY;

		cum += s->counts[i];
		add_sample_name(b, m, "_bucket", s->values, &le);
		kcr_buf_addf(b, "%" PRIu64 "\n", cum);
	}
	add_sample_name(b, m, "_sum", s->values, NULL);
	add_number(b, s->sum);
	kcr_buf_adds(b, "\n");
	add_sample_name(b, m, "_count", s->values, NULL);
	kcr_buf_addf(b, "%" PRIu64 "\n", s->count);
}

static void
render_metric(struct kcr_buf *b, struct kcr_metric *m)
{
	kcr_buf_addf(b, "# HELP %s ", m->name);
	add_escaped(b, m->help, false);
	kcr_buf_addf(b, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
	pthread_mutex_lock(&m->lock);
	/* a metric without labels always has its one series, at zero at first */
	if (m->n_labels == 0 && m->n_series == 0)
		series_get(m, (const char *const[]){ NULL });
	for (size_t i = 0; i < m->n_series; i++)
		render_series(b, m, m->series[i]);
	pthread_mutex_unlock(&m->lock);
}

void
kcr_metrics_render(struct kcr_buf *out)
{
	pthread_mutex_lock(&reg_lock);
	for (struct kcr_metric *m = reg_head; m; m = m->next)
		render_metric(out, m);
	pthread_mutex_unlock(&reg_lock);
}

/* ---- kcr's own metrics ---------------------------------------------------- */


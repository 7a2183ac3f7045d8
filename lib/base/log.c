#include <config.h>

#include "base/log.h"
#include "base/clock.h"
#include "base/util.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum kcr_log_level log_level = KCR_LOG_WARN;
static int log_json;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
kcr_log_setup(const char *level, const char *format)
{
	for (size_t i = 0; level && i < KCR_ARRAY_SIZE(level_names); i++)
		if (strcasecmp(level, level_names[i]) == 0 ||
		    (i == KCR_LOG_WARN && strcasecmp(level, "warning") == 0))
			log_level = (enum kcr_log_level)i;
	log_json = format && strcmp(format, "json") == 0;
}

enum kcr_log_level
kcr_log_get_level(void)
{
	return log_level;
}

static void
log_write_json(enum kcr_log_level level, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddNumberToObject(o, "ts", kcr_wall_time());
	cJSON_AddStringToObject(o, "level", level_names[level]);
	cJSON_AddStringToObject(o, "msg", msg);
	s = cJSON_PrintUnformatted(o);
	kcr_log_json_line(s);
	free(s);
	cJSON_Delete(o);
}

void
kcr_log(enum kcr_log_level level, const char *fmt, ...)
{
	kcr_autofree char *msg = NULL;
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		kcr_oom();
	va_end(ap);
	if (log_json) {
		log_write_json(level, msg);
		return;
	}
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "kcr: %s%s%s\n", level == KCR_LOG_ERROR ? "" : level_names[level],
		level == KCR_LOG_ERROR ? "" : ": ", msg);
	pthread_mutex_unlock(&log_lock);
}

void
kcr_log_json_line(const char *json)
{
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s\n", json);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

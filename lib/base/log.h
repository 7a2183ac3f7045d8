/* Logging to stderr: plain text for people, one JSON object per line for
 * machines (`log.format: json`). */
#ifndef KCR_LOG_H
#define KCR_LOG_H

enum kcr_log_level { KCR_LOG_ERROR, KCR_LOG_WARN, KCR_LOG_INFO, KCR_LOG_DEBUG };

void kcr_log_setup(const char *level, const char *format);
enum kcr_log_level kcr_log_get_level(void);
void kcr_log(enum kcr_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Writes a preformatted JSON object as one line (server access log). */
void kcr_log_json_line(const char *json);

#define kcr_log_error(...) kcr_log(KCR_LOG_ERROR, __VA_ARGS__)
#define kcr_log_warn(...) kcr_log(KCR_LOG_WARN, __VA_ARGS__)
#define kcr_log_info(...) kcr_log(KCR_LOG_INFO, __VA_ARGS__)
#define kcr_log_debug(...) kcr_log(KCR_LOG_DEBUG, __VA_ARGS__)

#endif

/*
 * log: one line per event on stderr, text or JSON.
 *
 * Text:  2026-11-24T06:25:27.123Z INFO tmdbq: message op=<uuid>
 * JSON:  {"ts":"...","level":"info","program":"tmdbq","msg":"...","op":"<uuid>"}
 * The level and format are the only process-wide state besides the signal flag. Callers
 * never pass secrets; URLs go through log_mask_url first.
 */
#ifndef TMDBQ_LOG_H
#define TMDBQ_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Set the program name (borrowed, must outlive logging), level and format. */
void log_init(const char *program, enum log_level level, enum log_format format);

/* Write one line if level is enabled. op may be NULL; otherwise it is added as op=<id>.
 */
void log_write(enum log_level level, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_write(LOG_LEVEL_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, NULL, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, NULL, __VA_ARGS__)

/* Copy url into out (size n, always NUL-terminated) with secrets replaced by "***": the
 * password of a URL's userinfo (postgresql://u:***@h/db, amqp://u:***@h/), the values of
 * the query parameters api_key, session_id, access_token, password and token, and
 * key=value pairs of those names in a libpq keyword/value string. */
void log_mask_url(const char *url, char *out, size_t n);

#endif

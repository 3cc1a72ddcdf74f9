/* corral — logging: one line per event on standard error, with a level.
   Thread-safe (each line is one write(2)). */
#ifndef CORRAL_LOG_H
#define CORRAL_LOG_H

/* <syslog.h> (pulled in by czmq.h) defines LOG_INFO and LOG_DEBUG as
   numbers; include it first and take the names, in whichever order the
   headers come. Nothing in corral uses syslog's constants. */
#include <syslog.h>
#undef LOG_INFO
#undef LOG_DEBUG

enum { CORRAL_LOG_ERROR = 0, CORRAL_LOG_WARN = 1, CORRAL_LOG_INFO = 2, CORRAL_LOG_DEBUG = 3 };

/* Set the most verbose level that is printed [INFO]. */
void corral_log_set_level(int level);

/* The level in force. */
int corral_log_level(void);

/* Print one line: "2026-12-03T22:55:08.123Z warn  gateway: <message>". */
void corral_log(int level, const char *part, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_ERROR(part, ...) corral_log(CORRAL_LOG_ERROR, part, __VA_ARGS__)
#define LOG_WARN(part, ...)  corral_log(CORRAL_LOG_WARN, part, __VA_ARGS__)
#define LOG_INFO(part, ...)  corral_log(CORRAL_LOG_INFO, part, __VA_ARGS__)
#define LOG_DEBUG(part, ...) do { if (corral_log_level() >= CORRAL_LOG_DEBUG) \
                                 corral_log(CORRAL_LOG_DEBUG, part, __VA_ARGS__); } while (0)

#endif

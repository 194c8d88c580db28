/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Leveled logging with virtlockd's log_level / log_filters / log_outputs
 * semantics: levels 1 debug .. 4 error; filters "LEVEL:match" select a
 * level per source file (the match is a substring of its file name, not
 * its folder); outputs
 * "LEVEL:stderr", "LEVEL:syslog:IDENT", "LEVEL:file:PATH", "LEVEL:journald".
 * The one process-wide sink, like syslog(3) itself.
 */
#ifndef LW_LOG_H
#define LW_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LVL_DEBUG	= 1,
	LOG_LVL_INFO	= 2,
	LOG_LVL_WARN	= 3,
	LOG_LVL_ERROR	= 4,
};

/* Check a filters or outputs string; -EINVAL with *why set on error. */
int log_check_filters(const char *filters, const char **why);
int log_check_outputs(const char *outputs, const char **why);

/*
 * Apply: level 0 keeps the default (warnings); NULL filters/outputs mean
 * none configured, in which case a daemon logs to syslog and a
 * foreground process to stderr. verbose lowers the level to info.
 */
int log_setup(int level, const char *filters, const char *outputs,
	      bool daemon, bool verbose);
void log_close(void);

__attribute__((format(printf, 3, 4)))
void log_msg(int level, const char *file, const char *fmt, ...);
bool log_enabled(int level, const char *file);

/* The configuration now in force, for status reports. */
int log_get_level(void);
const char *log_get_filters(void);
const char *log_get_outputs(void);

#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __FILE__, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __FILE__, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __FILE__, __VA_ARGS__)
#define log_error(...)	log_msg(LOG_LVL_ERROR, __FILE__, __VA_ARGS__)

#endif

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define MAX_RULES 16

enum out_kind { OUT_STDERR, OUT_SYSLOG, OUT_FILE };

struct log_output {
	int level;
	enum out_kind kind;
	int fd;			/* OUT_FILE */
};

struct log_filter {
	int level;
	char *pattern;		/* "*match*" */
};

static struct {
	int level;
	struct log_output out[MAX_RULES];
	int nout;
	struct log_filter filt[MAX_RULES];
	int nfilt;
	char *filters, *outputs;
	bool syslog_open;
} lg = { .level = LOG_LVL_WARN, .out = { { LOG_LVL_DEBUG, OUT_STDERR, -1 } }, .nout = 1 };

/* Split "LEVEL:rest" entries separated by white space; calls fn per entry. */
static int for_each_rule(const char *spec, int (*fn)(int level, const char *rest, void *arg),
			 void *arg)
{
	char *copy = xstrdup(spec), *save = NULL, *tok;
	int err = 0;

	for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		char *end;
		long level = strtol(tok, &end, 10);

		if (end == tok || *end != ':' || level < 1 || level > 4) {
			err = -EINVAL;
			break;
		}
		if ((err = fn(level, end + 1, arg)) < 0)
			break;
	}
	free(copy);
	return err;
}

static int check_output(int level, const char *rest, void *arg)
{
	if (!strcmp(rest, "stderr") || !strcmp(rest, "journald") ||
	    !strncmp(rest, "syslog:", 7) || (!strncmp(rest, "file:", 5) && rest[5] == '/'))
		return 0;
	return -EINVAL;
}

static int check_filter(int level, const char *rest, void *arg)
{
	return *rest ? 0 : -EINVAL;
}

int log_check_filters(const char *filters, const char **why)
{
	*why = "must be LEVEL:match entries, LEVEL 1 to 4";
	return for_each_rule(filters, check_filter, NULL);
}

int log_check_outputs(const char *outputs, const char **why)
{
	*why = "must be LEVEL:stderr, LEVEL:syslog:IDENT, LEVEL:file:/PATH or LEVEL:journald entries";
	return for_each_rule(outputs, check_output, NULL);
}

static int add_output(int level, const char *rest, void *arg)
{
	struct log_output *o;

	if (lg.nout == MAX_RULES)
		return 0;
	o = &lg.out[lg.nout];
	o->level = level;
	o->fd = -1;
	if (!strcmp(rest, "stderr")) {
		o->kind = OUT_STDERR;
	} else if (!strncmp(rest, "file:", 5)) {
		o->fd = open(rest + 5, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (o->fd < 0)
			return -errno;
		o->kind = OUT_FILE;
	} else {
		/* journald reads syslog; the ident of "syslog:IDENT" is ours regardless */
		o->kind = OUT_SYSLOG;
		if (!lg.syslog_open) {
			openlog("lockwardend", LOG_PID | LOG_NDELAY, LOG_DAEMON);
			lg.syslog_open = true;
		}
	}
	lg.nout++;
	return 0;
}

static int add_filter(int level, const char *rest, void *arg)
{
	if (lg.nfilt == MAX_RULES)
		return 0;
	lg.filt[lg.nfilt].level = level;
	lg.filt[lg.nfilt].pattern = xasprintf("*%s*", rest);
	lg.nfilt++;
	return 0;
}

void log_close(void)
{
	for (int i = 0; i < lg.nout; i++)
		safe_close(lg.out[i].fd);
	for (int i = 0; i < lg.nfilt; i++)
		free(lg.filt[i].pattern);
	lg.nout = lg.nfilt = 0;
	free(lg.filters);
	free(lg.outputs);
	lg.filters = lg.outputs = NULL;
	if (lg.syslog_open)
		closelog();
	lg.syslog_open = false;
}

int log_setup(int level, const char *filters, const char *outputs, bool daemon, bool verbose)
{
	int err;

	log_close();
	lg.level = level ? level : LOG_LVL_WARN;
	if (verbose && lg.level > LOG_LVL_INFO)
		lg.level = LOG_LVL_INFO;
	if (filters && (err = for_each_rule(filters, add_filter, NULL)) < 0)
		return err;
	if (!outputs)
		outputs = daemon ? "1:syslog:lockwardend" : "1:stderr";
	if ((err = for_each_rule(outputs, add_output, NULL)) < 0)
		return err;
	lg.filters = xstrdup(filters ? filters : "");
	lg.outputs = xstrdup(outputs);
	return 0;
}

int log_get_level(void) { return lg.level; }
const char *log_get_filters(void) { return lg.filters ? lg.filters : ""; }
const char *log_get_outputs(void) { return lg.outputs ? lg.outputs : "1:stderr"; }

/* Matched against the file's own name, not its folder: "daemon" is
 * daemon.c, not everything in userspace/daemon/. */
static int file_level(const char *file)
{
	const char *base = strrchr(file, '/');

	base = base ? base + 1 : file;
	for (int i = 0; i < lg.nfilt; i++)
		if (!fnmatch(lg.filt[i].pattern, base, 0))
			return lg.filt[i].level;
	return lg.level;
}

bool log_enabled(int level, const char *file)
{
	return level >= file_level(file);
}

static const char *level_name(int level)
{
	static const char *names[] = { "?", "debug", "info", "warning", "error" };

	return names[level];
}

void log_msg(int level, const char *file, const char *fmt, ...)
{
	static const int syslog_prio[] = { LOG_DEBUG, LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	char msg[2048], line[2200];
	int saved = errno, n;
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (!log_enabled(level, file))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d.%03ld+0000: %d: %s : %s\n",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, getpid(), level_name(level), msg);
	if (n >= (int)sizeof(line))
		n = sizeof(line) - 1;

	for (int i = 0; i < lg.nout; i++) {
		struct log_output *o = &lg.out[i];

		if (level < o->level)
			continue;
		switch (o->kind) {
		case OUT_STDERR:
			write_all(STDERR_FILENO, line, n);
			break;
		case OUT_FILE:
			write_all(o->fd, line, n);
			break;
		case OUT_SYSLOG:
			syslog(syslog_prio[level], "%s: %s", level_name(level), msg);
			break;
		}
	}
	errno = saved;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "util.h"

struct audit {
	char *path;
	int fd;
	struct audit_stats st;
};

static void format_time(char *buf, size_t len)
{
	uint64_t ns = now_real_ns();
	time_t sec = ns / 1000000000ull;
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09lluZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned long long)(ns % 1000000000ull));
}

struct json_object *audit_record(const char *event)
{
	struct json_object *rec = json_object_new_object();
	char ts[64];

	format_time(ts, sizeof(ts));
	json_object_object_add(rec, "event", json_object_new_string(event));
	json_object_object_add(rec, "time", json_object_new_string(ts));
	return rec;
}

int audit_open(const char *path, struct audit **out)
{
	struct audit *a = xcalloc(1, sizeof(*a));
	char *dir = xstrdup(path);
	int rc;

	a->path = xstrdup(path);
	rc = mkdir_p(dirname(dir), 0750);
	free(dir);
	a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (a->fd < 0) {
		rc = -errno;
		log_error("cannot open audit log %s: %m", path);
		audit_close(a);
		return rc;
	}
	(void)rc;
	*out = a;
	return 0;
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	safe_close(a->fd);
	free(a->path);
	free(a);
}

int audit_write(struct audit *a, struct json_object *rec)
{
	const char *text;
	char *line;
	int rc;

	if (!json_object_object_get_ex(rec, "time", NULL)) {
		char ts[64];

		format_time(ts, sizeof(ts));
		json_object_object_add(rec, "time", json_object_new_string(ts));
	}
	text = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN);
	line = xasprintf("%s\n", text);
	rc = write_all(a->fd, line, strlen(line));
	free(line);
	json_object_put(rec);
	if (rc < 0) {
		a->st.write_errors++;
		return rc;
	}
	a->st.written++;
	return 0;
}

void audit_get_stats(const struct audit *a, struct audit_stats *st)
{
	*st = a->st;
}

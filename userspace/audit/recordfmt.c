// SPDX-License-Identifier: LGPL-2.1-or-later
#include <string.h>

#include "recordfmt.h"

const char *record_str(struct json_object *rec, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(rec, key, &v) || !v)
		return "";
	return json_object_get_string(v);
}

static const char *or_dash(const char *s)
{
	return *s ? s : "-";
}

/* Who did it: the process name, else the executable's base name. */
static const char *process(struct json_object *rec)
{
	const char *comm = record_str(rec, "comm"), *exe = record_str(rec, "exe");
	const char *slash = strrchr(exe, '/');

	return *comm ? comm : slash ? slash + 1 : exe;
}

/* What it is about: the file, else the resource, else the message. */
static const char *subject(struct json_object *rec)
{
	const char *s = record_str(rec, "path");

	if (!*s)
		s = record_str(rec, "resource");
	if (!*s)
		s = record_str(rec, "message");
	return s;
}

void record_table_header(FILE *f)
{
	fprintf(f, "%-19s %7s %-17s %-8s %7s %-15s %-16s %s\n", "TIME (UTC)", "SEQ", "EVENT",
		"SEVERITY", "PID", "PROCESS", "VM", "PATH");
}

void record_table_row(FILE *f, struct json_object *rec)
{
	const char *t = record_str(rec, "time");

	/* "2024-05-01T12:00:00.123456789Z" -> "2024-05-01 12:00:00" */
	fprintf(f, "%.10s %-8.8s %7s %-17s %-8s %7s %-15s %-16s %s\n", t, strlen(t) > 11 ? t + 11 : "",
		or_dash(record_str(rec, "seq")), record_str(rec, "event"),
		or_dash(record_str(rec, "severity")), or_dash(record_str(rec, "pid")),
		or_dash(process(rec)), or_dash(record_str(rec, "vm_name")), or_dash(subject(rec)));
}

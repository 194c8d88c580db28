/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The audit log: one JSON object per line, appended. Every violation,
 * denial, lock acquire/release, client connect/disconnect and re-exec is
 * a record. Writing never blocks the lock service for long and never
 * costs a lock: failures are counted and reported, not fatal.
 */
#ifndef LW_AUDIT_H
#define LW_AUDIT_H

#include <json-c/json.h>
#include <stdint.h>

struct audit;

struct audit_stats {
	uint64_t written;
	uint64_t write_errors;		/* records that could not be written */
};

/* Open (creating it and its directory) the log at path. */
int audit_open(const char *path, struct audit **out);
void audit_close(struct audit *a);

/*
 * Append one record. rec must carry "event"; "time" (RFC 3339, UTC, ns)
 * is added when absent. Takes ownership of rec. Returns 0, or -errno when
 * the record could not be written (it is counted, never retried later).
 */
int audit_write(struct audit *a, struct json_object *rec);

/* A new record {"event": event, "time": now}. */
struct json_object *audit_record(const char *event);

void audit_get_stats(const struct audit *a, struct audit_stats *st);

#endif

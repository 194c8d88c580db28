/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The audit log writer (the format is auditlog.h). Every violation,
 * denial, lock acquire/release, client connect/disconnect and re-exec is
 * a record.
 *
 * The event loop only queues: audit_write() copies the record's text into
 * a buffer, and audit_flush(), once per loop batch, hands the buffer to a
 * writer thread. That thread owns every file: it numbers and chains the
 * records, writes them with one write() per batch, fsyncs as configured,
 * rotates and starts compression. So a slow, full or unwritable disk never
 * delays a lock: the queue is bounded, what does not fit is counted as
 * lost (and a record says so when writing resumes), and the writer keeps
 * retrying. What the writer learns about the log itself (write failures,
 * recovery, damage found on disk) comes back to the loop as records for
 * the owner to report.
 */
#ifndef LW_AUDIT_H
#define LW_AUDIT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "sha256.h"

enum audit_fsync {
	AUDIT_FSYNC_NEVER,
	AUDIT_FSYNC_CRITICAL,	/* after writing a batch that holds a critical record */
	AUDIT_FSYNC_ALWAYS,	/* after every write */
};

struct audit_config {
	const char *path;
	const char *key_path;		/* the HMAC key (auditkey.h); NULL: no MACs */
	uint64_t tip_every;		/* give the tip to the daemon's log this often (0: only
					 * at the close) */
	uint64_t rotate_size;		/* rotate past this many bytes; 0 never */
	unsigned int keep;		/* rotated segments kept; 0 all */
	enum audit_fsync fsync;
	size_t queue_max;		/* bytes of records waiting to be written */
};

struct audit_stats {
	uint64_t written;		/* records on disk */
	uint64_t lost;			/* records dropped: the queue was full */
	uint64_t write_errors;		/* failed attempts to open or write */
	uint64_t last_seq;		/* newest record on disk */
	char tip_hash[SHA256_HEX_LEN + 1];	/* ... and its hash */
	uint64_t rotations;
	uint64_t segments_removed;
	uint64_t compress_errors;
	int error;			/* errno of the current failure; 0 writing fine */
};

/*
 * A record about the log itself, delivered in the loop's thread; the
 * callee takes ownership (the daemon passes it to daemon_report).
 */
typedef void (*audit_notify_fn)(void *data, struct json_object *rec);

struct audit;

/*
 * Start the writer for cfg->path (strings are copied). Never fails for an
 * unwritable log: the writer reports that through notify and retries.
 * -errno only when the thread or its wake-up fd cannot be created.
 */
int audit_open(const struct audit_config *cfg, struct loop *loop, audit_notify_fn notify,
	       void *data, struct audit **out);
/* Write what is queued (waiting a few seconds at most), stop the threads.
 * Notes not yet reported are dropped: call audit_sync first for them. */
void audit_close(struct audit *a);

/*
 * Queue one record; takes ownership of rec. rec must carry "event" (see
 * audit_record()). critical: fsync it under the "critical" policy and
 * write it without waiting for more records. -ENOBUFS when the queue is
 * full: the record is counted as lost.
 */
int audit_write(struct audit *a, struct json_object *rec, bool critical);
/* The same for a record already printed as one JSON object, no newline:
 * the daemon's routine records, built without a json-c tree. */
int audit_write_text(struct audit *a, const char *text, size_t len, bool critical);

/* End of a loop batch: hand the queued records to the writer. */
void audit_flush(struct audit *a);

/*
 * Wait until every record queued so far is on disk (before an exec: the
 * next image continues the chain from the file; before a shutdown), with
 * the writer's notes about it reported and written too. -EIO when the log
 * cannot be written now, -ETIMEDOUT after timeout_ms.
 */
int audit_sync(struct audit *a, unsigned int timeout_ms);

/* A new record {"event": event, "time": now}. */
struct json_object *audit_record(const char *event);

void audit_get_stats(struct audit *a, struct audit_stats *st);
/* Its path, fsync policy and stats, for the daemon's status. */
struct json_object *audit_status(struct audit *a);
const char *audit_fsync_name(enum audit_fsync f);
int audit_fsync_parse(const char *s, enum audit_fsync *f);

#endif

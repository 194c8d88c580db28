/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The audit log on disk, as both the daemon and lockwarden-audit see it.
 *
 * A record is one line, a JSON object that starts with its sequence number
 * and ends with the hash chain:
 *
 *   {"seq":42,"event":"lock_acquire",...,"prev":"<hash of 41>","mac":"<mac>","hash":"<hash>"}
 *
 * where mac = HMAC-SHA-256 under the audit key (auditkey.h) of the line's
 * bytes up to (not including) ,"mac": and hash = SHA-256 of the bytes up
 * to ,"hash": — so the hash covers seq, content, prev and mac, and the
 * checks need no JSON canonical form: the bytes are the record. The first
 * record ever has prev = 64 zeros. Since each MAC covers prev, the MACs
 * chain too: rewriting any record and recomputing the hashes after it
 * needs the key for every MAC from there on. Records written without a key
 * (none could be read) have no "mac".
 *
 * Files: the live log PATH; rotated segments PATH.<last seq, 12 digits>.gz
 * (briefly PATH.<last seq> while being compressed); PATH.tip, the seq and
 * hash of the newest record, rewritten after every write, so that cutting
 * records off the end is detectable too.
 */
#ifndef LW_AUDITLOG_H
#define LW_AUDITLOG_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sha256.h"
#include "xdr.h"

#define AUDITLOG_GENESIS	"0000000000000000000000000000000000000000000000000000000000000000"
/* Longer lines are not records: a bound for readers of hostile files. */
#define AUDITLOG_LINE_MAX	(1u << 20)

/*
 * Append the sealed line for a record: obj/len is a JSON object as json-c
 * prints it ("{...}", no newline); prev is the chain's hash so far and
 * becomes this record's; key (NULL: no MAC) is keyed with the audit key.
 */
void auditlog_seal(struct buf *out, uint64_t seq, const char *obj, size_t len,
		   char prev[SHA256_HEX_LEN + 1], struct hmac_sha256_ctx *key);

struct audit_rec {
	struct json_object *obj;	/* the whole record; NULL when malformed */
	uint64_t seq;
	char prev[SHA256_HEX_LEN + 1];
	char hash[SHA256_HEX_LEN + 1];
	char mac[SHA256_HEX_LEN + 1];
	size_t mac_at;			/* the bytes the MAC covers; 0: no MAC */
};

enum auditlog_check {
	AUDITLOG_VALID,
	AUDITLOG_MALFORMED,	/* not a record at all (corrupt, cut, foreign) */
	AUDITLOG_ALTERED,	/* a record whose hash does not match its bytes */
};

/*
 * Parse and check one line (without its newline). Returns an enum
 * auditlog_check; unless VALID, *why (allocated) says what is wrong. On
 * VALID and ALTERED, r holds the record (free with auditlog_rec_free).
 */
int auditlog_parse(const char *line, size_t len, struct audit_rec *r, char **why);
void auditlog_rec_free(struct audit_rec *r);

/* ---- files ---- */

struct audit_segment {
	char *path;
	uint64_t last_seq;	/* from the name; 0 for the live log */
	bool live;
	bool gz;		/* compressed; else still waiting to be */
	bool stale_plain;	/* compressed, and the uncompressed copy is left over */
};

char *auditlog_segment_path(const char *log, uint64_t last_seq, bool gz);
/*
 * The rotated segments of log, oldest first, then the live log if
 * present. A segment found both compressed and not is the .gz (complete:
 * it is renamed into place only when written).
 */
int auditlog_segments(const char *log, struct audit_segment **segs, size_t *n);
void auditlog_segments_free(struct audit_segment *segs, size_t n);

char *auditlog_tip_path(const char *log);
/* The tip file's text for seq and hash. */
int auditlog_tip_format(char *buf, size_t len, uint64_t seq, const char *hash);
/* 0, -ENOENT when there is none (or it is empty: nothing written yet),
 * -EBADMSG when it is not a tip. */
int auditlog_tip_read(const char *log, uint64_t *seq, char hash[SHA256_HEX_LEN + 1]);

/* ---- reading ---- */

struct audit_reader;

/* A plain or gzip file (detected by content). */
int auditlog_reader_open(const char *path, struct audit_reader **out);
/*
 * A segment as auditlog_segments() listed it: one listed before it was
 * compressed may be gone by now, then its .gz is opened (complete: it is
 * renamed into place before the plain one is removed). *path is the file
 * opened (allocated).
 */
int auditlog_segment_open(const char *log, const struct audit_segment *seg,
			  struct audit_reader **out, char **path);
void auditlog_reader_close(struct audit_reader *r);
/*
 * The next complete line: 1 with *line (NUL-terminated, valid until the
 * next call) and *len; 0 when no complete line is available now (a plain
 * file may grow: call again later); -errno on a read error or a line over
 * AUDITLOG_LINE_MAX, with *why set (allocated).
 */
int auditlog_reader_next(struct audit_reader *r, char **line, size_t *len, char **why);
/* Bytes after the last complete line (an incomplete record at EOF). */
size_t auditlog_reader_partial(const struct audit_reader *r);
/* The line number of the line last returned. */
unsigned long auditlog_reader_lineno(const struct audit_reader *r);

/*
 * The last complete record of a file and how many bytes follow it without
 * a newline. Reads a plain file from its end; -ENODATA when it holds no
 * valid record.
 */
int auditlog_last_record(const char *path, struct audit_rec *r, size_t *partial);

/* ---- verification ---- */

struct audit_anchor {
	uint64_t seq;			/* 0: any record with this hash */
	char hash[SHA256_HEX_LEN + 1];
};

/* "SEQ:HASH" or "HASH", as the journal's and the metrics' tip give it. */
int auditlog_anchor_parse(const char *s, struct audit_anchor *a);

/*
 * Checks records in log order and remembers every problem, reporting the
 * earliest: problems found late (a chain that starts without a recorded
 * removal, records cut off the end) are placed where they are in the log.
 */
struct audit_verify {
	/* in: the tip file, when there is one */
	bool have_tip;
	uint64_t tip_seq;
	char tip_hash[SHA256_HEX_LEN + 1];
	/* in: the audit key (NULL: MACs not checked) */
	struct hmac_sha256_ctx *key;
	/* in: a tip exported off the log's disk, to be found in the chain */
	bool have_anchor;
	struct audit_anchor anchor;

	/* out */
	uint64_t records;		/* valid records seen */
	uint64_t keyed;			/* ... whose MAC the key vouches for */
	uint64_t unkeyed_before;	/* ... with no MAC, before the first keyed one */
	uint64_t first_keyed_seq;
	bool anchor_seen, anchor_matched;
	uint64_t last_seq;
	unsigned long problems;
	char *first_problem;		/* "FILE:LINE: seq N: what" */

	/* state */
	uint64_t ord;			/* position in the log, for ordering problems */
	uint64_t first_problem_ord;
	uint64_t next_seq;		/* 0 before the first record */
	char prev[SHA256_HEX_LEN + 1];
	uint64_t first_seq;		/* the oldest record present */
	uint64_t first_ord;
	char first_prev[SHA256_HEX_LEN + 1];
	char *first_where, *last_where;
	bool tip_seen;
	uint64_t seg_max;		/* highest seq in the current segment */
	unsigned long seg_problems;
	struct audit_anchor *removed;	/* from audit_segment_removed records */
	size_t nremoved;
};

void auditlog_verify_init(struct audit_verify *v);
void auditlog_verify_free(struct audit_verify *v);
/*
 * One line of segment `file` (whose name says it ends at seg_last, or 0
 * for the live log). Returns 0, or 1 when this line is a problem (then
 * it is also in v->problems, the first one in v->first_problem) with
 * *why set (allocated) to the message.
 */
int auditlog_verify_line(struct audit_verify *v, const char *file, uint64_t seg_last,
			 unsigned long lineno, const char *line, size_t len, char **why);
/* A problem found by the caller at the current position (a file that
 * cannot be read, compressed data cut short): counted and ordered like
 * the others. */
void auditlog_verify_problem(struct audit_verify *v, const char *msg);
/* At the end of segment `file`: its complete lines and leftover bytes. */
int auditlog_verify_segment_end(struct audit_verify *v, const char *file, uint64_t seg_last,
				unsigned long lines, size_t partial, char **why);
/* After the last segment: the tip and the start of the chain. */
int auditlog_verify_end(struct audit_verify *v, char **why);

#endif

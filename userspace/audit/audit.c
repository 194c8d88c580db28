// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "audit.h"
#include "auditkey.h"
#include "auditlog.h"
#include "log.h"
#include "timefmt.h"
#include "util.h"

#define JSON_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
/* Records gather this long before a write, unless one is critical: a
 * busy lock service costs one write per COALESCE_MS, not one per lock. */
#define COALESCE_MS	20
#define RETRY_MS	1000	/* a failing log is retried this often */
#define CHECK_MS	1000	/* how often to look for the live log replaced */
#define CLOSE_WAIT_MS	3000
/* Sealed records are written in chunks of about this size, and buffers
 * grown past TRIM_CAP by a burst are given back once empty: the writer's
 * memory stays near the queue's, not a multiple of it. */
#define SEAL_CHUNK	(256u << 10)
#define TRIM_CAP	(1u << 20)

struct audit {
	char *path, *tip_path;
	const char *base, *tip_base;	/* their names in the log's directory */
	uint64_t rotate_size;
	unsigned int keep;
	enum audit_fsync fsync;
	size_t queue_max;
	uint64_t tip_every;

	/* The loop's side. */
	struct loop *loop;
	struct loop_source wake_src;	/* an eventfd: notes from the threads */
	audit_notify_fn notify;
	void *data;
	struct buf local;		/* records of the current loop batch */
	bool local_critical;
	size_t queued_seen;		/* queued and held, at the last look */
	bool rechecked;			/* looked at the real length in this batch */
	bool in_notes;			/* reporting the writer's notes */
	uint64_t lost, lost_run, lost_since;

	/* Shared, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t wake;		/* the writer waits on it */
	pthread_cond_t idle;		/* audit_sync waits on it */
	struct buf pending;		/* newline-separated JSON records */
	uint64_t pending_since;		/* CLOCK_MONOTONIC ns of its oldest record */
	bool pending_critical;
	bool urgent;			/* someone waits for it: no gathering */
	bool writer_idle, busy, stop, tidy_done;
	size_t held;			/* bytes of the writer's batch not yet sealed */
	size_t unwritten;		/* bytes the writer holds but has not written */
	struct json_object **notes;
	size_t nnotes;
	struct audit_stats st;

	/* The writer's own (the key among them: its state changes with every
	 * record, away from the loop's fields). */
	struct hmac_sha256_ctx key;	/* keyed once, before the writer starts */
	bool keyed;			/* else records go without a MAC */
	pthread_t writer;
	int dirfd, fd, tip_fd;
	dev_t dev;
	ino_t ino;
	uint64_t size;			/* of the live log, as written by us */
	uint64_t seq;			/* the chain, as far as records are sealed */
	char prev[SHA256_HEX_LEN + 1];
	uint64_t written_seq;		/* ... and as far as they are on disk */
	char written_hash[SHA256_HEX_LEN + 1];
	uint64_t tip_logged;		/* the seq whose hash the daemon's log gave last */
	bool chain_known;
	struct buf batch;		/* taken from pending; sealed up to batch_pos */
	size_t batch_pos;
	bool batch_critical;
	struct buf out;			/* sealed, not yet written */
	bool out_critical;
	bool failing, rotate_failing;
	uint64_t failed_at, retry_at, next_check;
	pthread_t tidier;
	bool tidier_started;
};

/* ---- records ---- */

/* A file's name in the log's directory. */
static const char *name_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}


struct json_object *audit_record(const char *event)
{
	struct json_object *rec = json_object_new_object();
	char ts[TIME_RFC3339_LEN];

	time_format(now_real_ns(), ts);
	json_object_object_add(rec, "event", json_object_new_string(event));
	json_object_object_add(rec, "time", json_object_new_string(ts));
	return rec;
}

const char *audit_fsync_name(enum audit_fsync f)
{
	static const char *const names[] = {
		[AUDIT_FSYNC_NEVER] = "never",
		[AUDIT_FSYNC_CRITICAL] = "critical",
		[AUDIT_FSYNC_ALWAYS] = "always",
	};

	return names[f];
}

int audit_fsync_parse(const char *s, enum audit_fsync *f)
{
	for (int i = AUDIT_FSYNC_NEVER; i <= AUDIT_FSYNC_ALWAYS; i++) {
		if (!strcmp(s, audit_fsync_name(i))) {
			*f = i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- notes: from the threads to the loop ---- */

static void note(struct audit *a, struct json_object *rec)
{
	uint64_t one = 1;

	pthread_mutex_lock(&a->mu);
	a->notes = xrealloc(a->notes, (a->nnotes + 1) * sizeof(*a->notes));
	a->notes[a->nnotes++] = rec;
	pthread_mutex_unlock(&a->mu);
	if (write(a->wake_src.fd, &one, sizeof(one)) < 0) {
		/* Only EAGAIN (counter saturated): the loop wakes anyway. */
	}
}

/* A note about the log: event, severity, and what happened in words. */
__attribute__((format(printf, 4, 5)))
static void note_event(struct audit *a, const char *event, const char *severity,
		       const char *fmt, ...)
{
	struct json_object *rec = audit_record(event);
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	json_object_object_add(rec, "severity", json_object_new_string(severity));
	json_object_object_add(rec, "path", json_object_new_string(a->path));
	json_object_object_add(rec, "message", json_object_new_string(msg));
	free(msg);
	note(a, rec);
}

/* Hand the threads' notes to the owner; were there any? */
static bool deliver_notes(struct audit *a)
{
	struct json_object **notes;
	size_t count;

	pthread_mutex_lock(&a->mu);
	notes = a->notes;
	count = a->nnotes;
	a->notes = NULL;
	a->nnotes = 0;
	pthread_mutex_unlock(&a->mu);
	/* Reported back through audit_write: past a full queue (see room_for). */
	a->in_notes = true;
	for (size_t i = 0; i < count; i++)
		a->notify(a->data, notes[i]);
	a->in_notes = false;
	free(notes);
	return count > 0;
}

static void on_notes(struct loop_source *src, uint32_t events)
{
	uint64_t n;

	if (read(src->fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: already drained */
	}
	deliver_notes(container_of(src, struct audit, wake_src));
}

/* ---- the writer ---- */

static void fail(struct audit *a, int err, const char *what)
{
	pthread_mutex_lock(&a->mu);
	a->st.write_errors++;
	a->st.error = err;
	pthread_mutex_unlock(&a->mu);
	a->retry_at = now_mono_ns() + RETRY_MS * 1000000ull;
	if (a->failing)
		return;
	a->failing = true;
	a->failed_at = now_mono_ns();
	note_event(a, "audit_failed", "critical",
		   "cannot %s the audit log: %s; the daemon keeps serving, records are queued"
		   " and counted as lost when the queue is full", what, strerror(err));
}

static void recovered(struct audit *a)
{
	pthread_mutex_lock(&a->mu);
	a->st.error = 0;
	pthread_mutex_unlock(&a->mu);
	if (!a->failing)
		return;
	a->failing = false;
	note_event(a, "audit_resumed", "warning", "the audit log is written again after %llu ms",
		   (unsigned long long)((now_mono_ns() - a->failed_at) / 1000000));
}

/*
 * Where the chain stands on disk, at the first open: the newest record of
 * the live log (or of the newest segment), checked against the tip file.
 * When the tip is ahead of the log, records were cut off: continue from
 * the tip, so that the gap stays visible in the chain.
 */
static void recover_chain(struct audit *a)
{
	struct audit_rec last = { 0 };
	char tip_hash[SHA256_HEX_LEN + 1];
	uint64_t tip_seq, known_end = 0;
	bool have_last, have_tip;
	size_t partial = 0;

	have_tip = auditlog_tip_read(a->path, &tip_seq, tip_hash) == 0;
	have_last = auditlog_last_record(a->path, &last, &partial) == 0;
	if (have_last) {
		known_end = last.seq;
	} else {
		struct audit_segment *segs;
		size_t n;

		/* Nothing in the live log (just rotated?): the newest segment's
		 * name says where it ends; its content only matters without a tip. */
		if (auditlog_segments(a->path, &segs, &n) == 0) {
			for (size_t i = n; i-- > 0;) {
				if (segs[i].live)
					continue;
				known_end = segs[i].last_seq;
				if (!have_tip)
					have_last = auditlog_last_record(segs[i].path, &last,
									 &(size_t){ 0 }) == 0;
				break;
			}
			auditlog_segments_free(segs, n);
		}
	}
	a->seq = 0;
	memcpy(a->prev, AUDITLOG_GENESIS, sizeof(a->prev));
	if (have_last && (!have_tip || last.seq >= tip_seq)) {
		a->seq = last.seq;
		memcpy(a->prev, last.hash, sizeof(a->prev));
		if (have_tip && last.seq == tip_seq && strcmp(last.hash, tip_hash))
			note_event(a, "audit_damaged", "critical",
				   "the newest record (seq %llu) is not the one the tip file names:"
				   " it was rewritten", (unsigned long long)last.seq);
	} else if (have_tip) {
		a->seq = tip_seq;
		memcpy(a->prev, tip_hash, sizeof(a->prev));
		if (known_end < tip_seq)
			note_event(a, "audit_damaged", "critical",
				   "the log ends at seq %llu but the tip file says seq %llu was"
				   " written: records were cut off; the chain continues from the tip",
				   (unsigned long long)known_end, (unsigned long long)tip_seq);
	}
	if (!have_last && a->size > partial)
		note_event(a, "audit_damaged", "critical",
			   "the live log holds no valid record; the chain continues after it");
	if (partial) {
		/* End the cut record's line, so the next record is a line of its own;
		 * verify still reports the cut record. */
		if (write_all(a->fd, "\n", 1) == 0)
			a->size++;
		note_event(a, "audit_damaged", "critical",
			   "the live log ends in an incomplete record of %zu bytes (a crash or"
			   " truncation mid-write)", partial);
	}
	auditlog_rec_free(&last);
	a->chain_known = true;
	a->written_seq = a->seq;
	memcpy(a->written_hash, a->prev, sizeof(a->written_hash));
	a->tip_logged = a->written_seq;
	pthread_mutex_lock(&a->mu);
	a->st.last_seq = a->seq;
	memcpy(a->st.tip_hash, a->prev, sizeof(a->st.tip_hash));
	pthread_mutex_unlock(&a->mu);
}

/* The log's directory, afresh (it may have been replaced): every file of
 * the log is opened relative to it, none through a symlink. */
static int open_dir(struct audit *a)
{
	size_t dlen = a->base - a->path;
	int mk = 0, fd;

	if (dlen > 1) {
		char *dir = xstrndup(a->path, dlen - 1);

		mk = mkdir_p(dir, 0750);
		free(dir);
	}
	fd = open_dir_of(a->path, &a->base);
	if (fd < 0) {
		/* No directory: why it could not be made is the real reason. */
		fail(a, fd == -ENOENT && mk < 0 ? -mk : -fd, "open");
		return -1;
	}
	safe_close(a->dirfd);
	a->dirfd = fd;
	return 0;
}

static int open_log(struct audit *a)
{
	struct stat st;

	if (open_dir(a) < 0)
		return -1;
	a->fd = openat(a->dirfd, a->base, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		       0640);
	if (a->fd < 0 || fstat(a->fd, &st) < 0) {
		fail(a, errno, "open");
		a->fd = safe_close(a->fd);
		return -1;
	}
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	a->size = st.st_size;
	if (a->tip_fd < 0)
		a->tip_fd = openat(a->dirfd, a->tip_base, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
				   0640);
	if (!a->chain_known)
		recover_chain(a);
	return 0;
}

/* Someone else moved, removed or cut the live log: say so, carry on. */
static void check_identity(struct audit *a)
{
	uint64_t now = now_mono_ns();
	struct stat st, own;

	if (now < a->next_check)
		return;
	a->next_check = now + CHECK_MS * 1000000ull;
	if (fstat(a->fd, &own) == 0 && (uint64_t)own.st_size < a->size) {
		note_event(a, "audit_damaged", "critical",
			   "the live log shrank from %llu to %llu bytes behind the daemon's back",
			   (unsigned long long)a->size, (unsigned long long)own.st_size);
		a->size = own.st_size;
	}
	if (fstatat(a->dirfd, a->base, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == a->dev &&
	    st.st_ino == a->ino)
		return;
	note_event(a, "audit_damaged", "critical",
		   "the live log was removed or replaced behind the daemon's back; writing a new one");
	a->fd = safe_close(a->fd);
	open_log(a);
}

/* Seal the next SEAL_CHUNK or so of the batch into out. */
static void seal_chunk(struct audit *a)
{
	const char *p = (const char *)a->batch.data + a->batch_pos;
	const char *end = (const char *)a->batch.data + a->batch.len;
	size_t start = a->out.len;

	while (p < end && a->out.len - start < SEAL_CHUNK) {
		const char *nl = memchr(p, '\n', end - p);

		auditlog_seal(&a->out, ++a->seq, p, nl - p, a->prev, a->keyed ? &a->key : NULL);
		p = nl + 1;
	}
	a->batch_pos = p - (const char *)a->batch.data;
	a->out_critical = a->batch_critical;
}

static void trim(struct buf *b)
{
	if (!b->len && b->cap > TRIM_CAP)
		buf_free(b);
}

/* The tip off the log's disk: the daemon's log (the journal) gives it every
 * tip_every records (0: never), and at the end; verify --tip checks the log
 * against it. */
static void log_tip(struct audit *a)
{
	if (a->tip_logged == a->written_seq)
		return;
	a->tip_logged = a->written_seq;
	log_warn("audit log %s: tip seq %llu hash %s (for lockwarden-audit verify --tip %llu:%s)",
		 a->path, (unsigned long long)a->written_seq, a->written_hash,
		 (unsigned long long)a->written_seq, a->written_hash);
}

static void write_tip(struct audit *a)
{
	char tip[128];
	int n = auditlog_tip_format(tip, sizeof(tip), a->written_seq, a->written_hash);

	if (a->tip_fd < 0 || pwrite(a->tip_fd, tip, n, 0) != n) {
		pthread_mutex_lock(&a->mu);
		a->st.write_errors++;
		pthread_mutex_unlock(&a->mu);
	}
	if (a->tip_every && a->written_seq / a->tip_every != a->tip_logged / a->tip_every)
		log_tip(a);
}

/*
 * How much of out to write now: all of it, or, when the live log is to
 * reach rotate_size, up to the end of the record that gets it there, so
 * that segments end near the size asked for however large the batch.
 */
static size_t chunk_len(struct audit *a)
{
	const char *p = (const char *)a->out.data, *nl;
	size_t from;

	if (!a->rotate_size || a->size + a->out.len <= a->rotate_size)
		return a->out.len;
	from = a->rotate_size > a->size ? a->rotate_size - a->size - 1 : 0;
	nl = memchr(p + from, '\n', a->out.len - from);
	return nl ? (size_t)(nl + 1 - p) : a->out.len;
}

/* Write the first n bytes of out: whole sealed records. */
static int write_chunk(struct audit *a, size_t n)
{
	const char *p = (const char *)a->out.data;
	uint64_t records = 0;
	struct stat st;
	int rc;

	if (fstat(a->fd, &st) < 0) {
		fail(a, errno, "write");
		return -1;
	}
	rc = write_all(a->fd, p, n);
	if (rc < 0) {
		/* A full disk takes part of a write: cut it back so that no
		 * half record stays, and write it whole later. */
		if (ftruncate(a->fd, st.st_size) < 0) {
			/* the next write's check reports what remains */
		}
		fail(a, -rc, "write");
		return -1;
	}
	a->size = st.st_size + n;
	if ((a->fsync == AUDIT_FSYNC_ALWAYS || (a->fsync == AUDIT_FSYNC_CRITICAL && a->out_critical)) &&
	    fdatasync(a->fd) < 0) {
		/* The records are written; only their durability is in doubt. */
		pthread_mutex_lock(&a->mu);
		a->st.write_errors++;
		pthread_mutex_unlock(&a->mu);
	}
	for (const char *q = p; (q = memchr(q, '\n', p + n - q)); q++)
		records++;
	a->written_seq += records;
	/* The chunk's last line ends in "hash":"<hash>"}\n. */
	memcpy(a->written_hash, p + n - 3 - SHA256_HEX_LEN, SHA256_HEX_LEN);
	write_tip(a);
	pthread_mutex_lock(&a->mu);
	a->st.written += records;
	a->st.last_seq = a->written_seq;
	memcpy(a->st.tip_hash, a->written_hash, sizeof(a->st.tip_hash));
	pthread_mutex_unlock(&a->mu);
	buf_consume(&a->out, n);
	if (!a->out.len)
		a->out_critical = false;
	recovered(a);
	return 0;
}

static void rotate(struct audit *a);

static void write_out(struct audit *a)
{
	while (a->out.len && a->fd >= 0 && write_chunk(a, chunk_len(a)) == 0)
		rotate(a);
}

/* ---- segments ---- */

/* Names in dfd, the log's directory. */
static int compress_segment(int dfd, const char *plain, const char *gz_path)
{
	char *tmp = xasprintf("%s.tmp", gz_path);
	int in = -1, fd = -1, rc = 0;
	gzFile gz = NULL;
	char buf[65536];
	ssize_t n;

	in = openat(dfd, plain, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0) {
		rc = -errno;
		goto out;
	}
	fd = create_tmp(dfd, tmp, 0640);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	/* gzclose closes its fd: give it a copy, fsync ours afterwards. Level
	 * 1: the daemon pays for every byte it compresses, and on these
	 * records level 6 costs 2.8x the time for 1.2x the ratio. */
	gz = gzdopen(dup(fd), "wb1");
	if (!gz) {
		rc = -ENOMEM;
		goto out;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (gzwrite(gz, buf, n) != n) {
			rc = -EIO;
			goto out;
		}
	}
	if (n < 0)
		rc = -errno;
	if (gzclose(gz) != Z_OK && !rc)
		rc = -EIO;
	gz = NULL;
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (!rc && renameat(dfd, tmp, dfd, gz_path) < 0)
		rc = -errno;
out:
	if (gz)
		gzclose(gz);
	safe_close(in);
	if (rc && fd >= 0)
		unlinkat(dfd, tmp, 0);
	safe_close(fd);
	free(tmp);
	return rc;
}

/* The tidier thread: compress every rotated segment not yet compressed,
 * drop uncompressed copies of finished ones. */
static void *tidy_main(void *arg)
{
	struct audit *a = arg;
	struct audit_segment *segs;
	const char *base;
	int dfd;
	size_t n;

	/* A directory fd of its own: the writer may reopen its one meanwhile. */
	dfd = open_dir_of(a->path, &base);
	if (dfd >= 0 && auditlog_segments(a->path, &segs, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			char *plain = auditlog_segment_path(a->path, segs[i].last_seq, false);
			int rc = 0;

			if (!segs[i].live && !segs[i].gz) {
				char *gz = auditlog_segment_path(a->path, segs[i].last_seq, true);

				rc = compress_segment(dfd, name_of(plain), name_of(gz));
				free(gz);
			}
			if (rc < 0) {
				pthread_mutex_lock(&a->mu);
				a->st.compress_errors++;
				pthread_mutex_unlock(&a->mu);
				note_event(a, "audit_compress_failed", "warning",
					   "cannot compress segment %s: %s; it stays uncompressed",
					   plain, strerror(-rc));
			} else if (!segs[i].live && (!segs[i].gz || segs[i].stale_plain)) {
				unlinkat(dfd, name_of(plain), 0);
			}
			free(plain);
		}
		auditlog_segments_free(segs, n);
	}
	safe_close(dfd);
	pthread_mutex_lock(&a->mu);
	a->tidy_done = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void start_tidier(struct audit *a)
{
	if (a->tidier_started)
		pthread_join(a->tidier, NULL);
	a->tidier_started = pthread_create(&a->tidier, NULL, tidy_main, a) == 0;
}

static void rotate(struct audit *a)
{
	char *seg;

	if (!a->rotate_size || a->size < a->rotate_size || !a->written_seq)
		return;
	fdatasync(a->fd);
	seg = auditlog_segment_path(a->path, a->written_seq, false);
	if (renameat(a->dirfd, a->base, a->dirfd, name_of(seg)) < 0) {
		/* Keep writing the live log; rotation is tried after the next write. */
		if (!a->rotate_failing)
			note_event(a, "audit_rotate_failed", "warning",
				   "cannot rename the live log to %s: %m; it grows until it can", seg);
		a->rotate_failing = true;
		free(seg);
		return;
	}
	a->rotate_failing = false;
	free(seg);
	a->fd = safe_close(a->fd);
	pthread_mutex_lock(&a->mu);
	a->st.rotations++;
	pthread_mutex_unlock(&a->mu);
	if (open_log(a) == 0)
		start_tidier(a);
}

/*
 * Drop the oldest segments beyond `keep`. Each removal is first written to
 * the log, naming the hash the remaining chain starts from, so that verify
 * can tell retention from deletion.
 */
static void expire_segments(struct audit *a)
{
	struct audit_segment *segs;
	size_t n, rotated = 0;

	if (!a->keep || auditlog_segments(a->path, &segs, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		rotated += !segs[i].live;
	for (size_t i = 0; rotated > a->keep && i + 1 < n && !a->failing; i++, rotated--) {
		struct audit_reader *r;
		struct audit_rec next = { 0 };
		struct json_object *rec;
		char *line, *why = NULL;
		const char *text;
		size_t len;
		int found = 0;

		/* The first record after it: its prev is the removed segment's last hash. */
		if (auditlog_reader_open(segs[i + 1].path, &r) == 0) {
			while (!found && auditlog_reader_next(r, &line, &len, &why) > 0) {
				found = auditlog_parse(line, len, &next, &why) == AUDITLOG_VALID;
				if (!found)
					auditlog_rec_free(&next);
				free(why);
				why = NULL;
			}
			free(why);
			auditlog_reader_close(r);
		}
		rec = audit_record("audit_segment_removed");
		json_object_object_add(rec, "severity", json_object_new_string("info"));
		json_object_object_add(rec, "segment", json_object_new_string(segs[i].path));
		json_object_object_add(rec, "last_seq", json_object_new_int64(
				       found ? next.seq - 1 : segs[i].last_seq));
		if (found)
			json_object_object_add(rec, "last_hash", json_object_new_string(next.prev));
		auditlog_rec_free(&next);
		text = json_object_to_json_string_length(rec, JSON_FLAGS, &len);
		auditlog_seal(&a->out, ++a->seq, text, len, a->prev, a->keyed ? &a->key : NULL);
		json_object_put(rec);
		write_out(a);
		if (a->failing)
			break;
		if (unlinkat(a->dirfd, name_of(segs[i].path), 0) == 0) {
			pthread_mutex_lock(&a->mu);
			a->st.segments_removed++;
			pthread_mutex_unlock(&a->mu);
		}
	}
	auditlog_segments_free(segs, n);
}

static void work(struct audit *a, bool tidied)
{
	if (a->fd < 0 && open_log(a) < 0)
		return;
	check_identity(a);
	if (a->fd < 0)
		return;
	while (a->fd >= 0 && (a->out.len || a->batch_pos < a->batch.len)) {
		if (!a->out.len)
			seal_chunk(a);
		write_out(a);
		if (a->out.len)
			break;		/* it failed: the writer tries again later */
	}
	if (a->batch_pos == a->batch.len) {
		a->batch.len = a->batch_pos = 0;
		trim(&a->batch);
	}
	trim(&a->out);
	if (tidied && !a->failing && a->fd >= 0)
		expire_segments(a);
}

static uint64_t deadline_wait(struct audit *a, uint64_t mono_deadline)
{
	uint64_t now = now_mono_ns();
	struct timespec ts;

	if (now >= mono_deadline)
		return now;
	/* The condvars run on CLOCK_MONOTONIC (see audit_open). */
	ts.tv_sec = mono_deadline / 1000000000ull;
	ts.tv_nsec = mono_deadline % 1000000000ull;
	pthread_cond_timedwait(&a->wake, &a->mu, &ts);
	return now_mono_ns();
}

static void *writer_main(void *arg)
{
	struct audit *a = arg;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		bool held = a->batch_pos < a->batch.len || a->out.len, tidied;

		if (a->stop && !a->pending.len && !held)
			break;
		if (!a->pending.len && !held && !a->tidy_done) {
			a->writer_idle = true;
			pthread_cond_wait(&a->wake, &a->mu);
			a->writer_idle = false;
			continue;
		}
		if (a->failing && !a->stop && now_mono_ns() < a->retry_at) {
			deadline_wait(a, a->retry_at);
			continue;
		}
		if (!a->failing && !a->stop && !held && !a->pending_critical && !a->urgent &&
		    !a->tidy_done &&
		    a->pending.len < a->queue_max / 2 &&
		    now_mono_ns() < a->pending_since + COALESCE_MS * 1000000ull) {
			deadline_wait(a, a->pending_since + COALESCE_MS * 1000000ull);
			continue;
		}
		if (!held && a->pending.len) {
			struct buf t = a->batch;

			a->batch = a->pending;
			a->batch_pos = 0;
			a->held = a->batch.len;
			a->pending = t;
			a->pending.len = 0;
			a->batch_critical = a->pending_critical;
			a->pending_critical = false;
			a->urgent = false;
		}
		tidied = a->tidy_done;
		a->tidy_done = false;
		a->busy = true;
		pthread_mutex_unlock(&a->mu);

		work(a, tidied);

		pthread_mutex_lock(&a->mu);
		a->busy = false;
		a->held = a->batch.len - a->batch_pos;
		a->unwritten = a->held + a->out.len;
		pthread_cond_broadcast(&a->idle);
		if (a->stop && a->failing)
			break;		/* the last attempt failed too */
	}
	pthread_mutex_unlock(&a->mu);
	if (a->tidier_started)
		pthread_join(a->tidier, NULL);
	/* A rotation just before the stop: its segments expire now, not at
	 * the next start. */
	if (a->tidy_done && !a->failing && a->fd >= 0)
		expire_segments(a);
	return NULL;
}

/* ---- the loop's side ---- */

/* The key, before the writer starts. Without one the log goes on, without
 * MACs, and says why: the daemon serves its locks whatever the log does. */
static void load_key(struct audit *a, const char *path)
{
	uint8_t key[AUDIT_KEY_LEN];
	char *why;
	int rc;

	if (!path)
		return;
	rc = audit_key_load(path, AUDIT_KEY_CREATE | AUDIT_KEY_PRIVATE, key, &why);
	if (rc < 0) {
		note_event(a, "audit_key_failed", "critical", "%s; records are written without a"
			   " MAC until it is fixed and the daemon reloaded", why);
		free(why);
		return;
	}
	hmac_sha256_set_key(&a->key, AUDIT_KEY_LEN, key);
	explicit_bzero(key, sizeof(key));
	a->keyed = true;
	if (rc == 1)
		note_event(a, "audit_key_created", "info", "made the audit key %s: records from"
			   " here on carry a MAC under it", path);
}

int audit_open(const struct audit_config *cfg, struct loop *loop, audit_notify_fn notify,
	       void *data, struct audit **out)
{
	struct audit *a = xcalloc(1, sizeof(*a));
	pthread_condattr_t ca;
	sigset_t all, old;
	int rc, efd;

	a->path = xstrdup(cfg->path);
	a->tip_path = auditlog_tip_path(cfg->path);
	a->base = name_of(a->path);
	a->tip_base = name_of(a->tip_path);
	a->tip_every = cfg->tip_every;
	a->rotate_size = cfg->rotate_size;
	a->keep = cfg->keep;
	a->fsync = cfg->fsync;
	a->queue_max = cfg->queue_max;
	a->loop = loop;
	a->notify = notify;
	a->data = data;
	a->dirfd = a->fd = a->tip_fd = -1;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wake, &ca);
	pthread_cond_init(&a->idle, &ca);
	pthread_condattr_destroy(&ca);
	a->wake_src.fd = -1;

	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0 || (rc = loop_add(loop, &a->wake_src, efd, EPOLLIN, on_notes)) < 0) {
		rc = efd < 0 ? -errno : rc;
		safe_close(efd);
		goto fail;
	}
	load_key(a, cfg->key_path);
	/* Signals are the loop's (a signalfd): the threads take none. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	start_tidier(a);	/* finish what a previous image left */
	rc = -pthread_create(&a->writer, NULL, writer_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		loop_del(loop, &a->wake_src);
		safe_close(efd);
		goto fail;
	}
	*out = a;
	return 0;
fail:
	log_error("cannot start the audit log writer for %s: %s", cfg->path, strerror(-rc));
	free(a->path);
	free(a->tip_path);
	free(a);
	return rc;
}

/* Until everything queued is written, the log fails, or the deadline. */
static int wait_written(struct audit *a, uint64_t deadline)
{
	int rc = 0;

	audit_flush(a);
	pthread_mutex_lock(&a->mu);
	/* Write it now, but sync only as the policy says: an exec needs the
	 * records in the file, the next image reads them from the cache. */
	a->urgent = true;
	pthread_cond_signal(&a->wake);
	while (a->pending.len || a->busy || a->unwritten) {
		struct timespec ts = {
			.tv_sec = deadline / 1000000000ull, .tv_nsec = deadline % 1000000000ull,
		};

		if (a->st.error && !a->busy) {
			rc = -EIO;
			break;
		}
		if (pthread_cond_timedwait(&a->idle, &a->mu, &ts) == ETIMEDOUT) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	a->queued_seen = a->pending.len + a->held;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

void audit_close(struct audit *a)
{
	size_t left;

	if (!a)
		return;
	/* Notes arriving now are dropped: the owner is shutting down (it
	 * called audit_sync before, if it wanted them). */
	wait_written(a, now_mono_ns() + CLOSE_WAIT_MS * 1000000ull);
	pthread_mutex_lock(&a->mu);
	a->stop = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->writer, NULL);
	log_tip(a);
	left = a->pending.len + a->batch.len - a->batch_pos + a->out.len + a->local.len;
	if (left)
		log_error("audit log %s: %zu bytes of records could not be written: %s",
			  a->path, left, strerror(a->st.error ? a->st.error : EIO));
	loop_del(a->loop, &a->wake_src);
	safe_close(a->wake_src.fd);
	for (size_t i = 0; i < a->nnotes; i++)
		json_object_put(a->notes[i]);
	free(a->notes);
	safe_close(a->fd);
	safe_close(a->tip_fd);
	safe_close(a->dirfd);
	explicit_bzero(&a->key, sizeof(a->key));
	buf_free(&a->local);
	buf_free(&a->pending);
	buf_free(&a->batch);
	buf_free(&a->out);
	pthread_cond_destroy(&a->wake);
	pthread_cond_destroy(&a->idle);
	pthread_mutex_destroy(&a->mu);
	free(a->path);
	free(a->tip_path);
	free(a);
}

/* Before the first record after a loss: how many were lost, since when. */
static void put_lost_marker(struct audit *a)
{
	struct json_object *rec = audit_record("audit_lost");
	char since[TIME_RFC3339_LEN];
	const char *text;
	size_t len;

	time_format(a->lost_since, since);
	json_object_object_add(rec, "severity", json_object_new_string("critical"));
	json_object_object_add(rec, "count", json_object_new_int64(a->lost_run));
	json_object_object_add(rec, "since", json_object_new_string(since));
	json_object_object_add(rec, "message", json_object_new_string(
			       "records dropped: the audit queue was full"));
	text = json_object_to_json_string_length(rec, JSON_FLAGS, &len);
	buf_append(&a->local, text, len);
	buf_append(&a->local, "\n", 1);
	a->local_critical = true;
	a->lost_run = 0;
	json_object_put(rec);
}

/* Is there room in the queue for need more bytes? */
static bool room_for(struct audit *a, size_t need)
{
	/* The log's own records (failed, lost, written again) are few and
	 * say what the flood hid: they are never the ones dropped. */
	if (a->in_notes)
		return true;
	need += a->local.len;
	if (a->queued_seen + need <= a->queue_max)
		return true;
	/* The length seen at the last flush is stale once the writer took
	 * the queue: look again, on this slow path, once per loop batch (a
	 * flood must not fight the writer for its lock). */
	if (a->rechecked)
		return false;
	a->rechecked = true;
	pthread_mutex_lock(&a->mu);
	a->queued_seen = a->pending.len + a->held;
	pthread_mutex_unlock(&a->mu);
	return a->queued_seen + need <= a->queue_max;
}

int audit_write_text(struct audit *a, const char *text, size_t len, bool critical)
{
	/* room for the record and, after a loss, the marker before it */
	if (!room_for(a, len + 1 + (a->lost_run ? 512 : 0))) {
		if (!a->lost_run++)
			a->lost_since = now_real_ns();
		a->lost++;
		return -ENOBUFS;
	}
	if (a->lost_run)
		put_lost_marker(a);
	buf_append(&a->local, text, len);
	buf_append(&a->local, "\n", 1);
	a->local_critical |= critical;
	return 0;
}

int audit_write(struct audit *a, struct json_object *rec, bool critical)
{
	const char *text;
	size_t len;
	int rc;

	if (!json_object_object_get_ex(rec, "time", NULL)) {
		char ts[TIME_RFC3339_LEN];

		time_format(now_real_ns(), ts);
		json_object_object_add(rec, "time", json_object_new_string(ts));
	}
	text = json_object_to_json_string_length(rec, JSON_FLAGS, &len);
	rc = audit_write_text(a, text, len, critical);
	json_object_put(rec);
	return rc;
}

void audit_flush(struct audit *a)
{
	a->rechecked = false;
	if (!a->local.len)
		return;
	pthread_mutex_lock(&a->mu);
	if (!a->pending.len) {
		struct buf t = a->pending;

		a->pending = a->local;
		a->local = t;
		a->pending_since = now_mono_ns();
	} else {
		buf_append(&a->pending, a->local.data, a->local.len);
	}
	a->pending_critical |= a->local_critical;
	a->queued_seen = a->pending.len + a->held;
	if (a->writer_idle || a->local_critical)
		pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
	a->local.len = 0;
	a->local_critical = false;
	trim(&a->local);
}

int audit_sync(struct audit *a, unsigned int timeout_ms)
{
	uint64_t deadline = now_mono_ns() + timeout_ms * 1000000ull;
	int rc = wait_written(a, deadline);

	/* Writing may have made notes ("written again"): report them, and
	 * write those too. */
	if (rc == 0 && deliver_notes(a))
		rc = wait_written(a, deadline);
	return rc;
}

void audit_get_stats(struct audit *a, struct audit_stats *st)
{
	pthread_mutex_lock(&a->mu);
	*st = a->st;
	a->queued_seen = a->pending.len + a->held;
	pthread_mutex_unlock(&a->mu);
	st->lost = a->lost;
}

struct json_object *audit_status(struct audit *a)
{
	struct json_object *o = json_object_new_object();
	struct audit_stats st;

	audit_get_stats(a, &st);
	json_object_object_add(o, "path", json_object_new_string(a->path));
	json_object_object_add(o, "fsync", json_object_new_string(audit_fsync_name(a->fsync)));
	json_object_object_add(o, "records", json_object_new_uint64(st.written));
	json_object_object_add(o, "last_seq", json_object_new_uint64(st.last_seq));
	json_object_object_add(o, "tip_hash", json_object_new_string(st.tip_hash));
	json_object_object_add(o, "lost", json_object_new_uint64(st.lost));
	json_object_object_add(o, "write_errors", json_object_new_uint64(st.write_errors));
	json_object_object_add(o, "rotations", json_object_new_uint64(st.rotations));
	json_object_object_add(o, "segments_removed", json_object_new_uint64(st.segments_removed));
	json_object_object_add(o, "compress_errors", json_object_new_uint64(st.compress_errors));
	json_object_object_add(o, "writable", json_object_new_boolean(!st.error));
	if (st.error)
		json_object_object_add(o, "error", json_object_new_string(strerror(st.error)));
	return o;
}

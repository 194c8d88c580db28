// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "auditlog.h"
#include "util.h"

#define SEG_DIGITS	12
#define HASH_KEY	",\"hash\":\""
/* ,"hash":"<64 hex>"} */
#define HASH_SUFFIX_LEN	(sizeof(HASH_KEY) - 1 + SHA256_HEX_LEN + 2)
#define MAC_KEY		",\"mac\":\""
/* ,"mac":"<64 hex>" */
#define MAC_LEN		(sizeof(MAC_KEY) - 1 + SHA256_HEX_LEN + 1)

/* ---- records ---- */

void auditlog_seal(struct buf *out, uint64_t seq, const char *obj, size_t len,
		   char prev[SHA256_HEX_LEN + 1], struct hmac_sha256_ctx *key)
{
	size_t start = out->len;
	char head[40];
	int n;

	n = snprintf(head, sizeof(head), "{\"seq\":%" PRIu64, seq);
	buf_append(out, head, n);
	/* obj is "{...}": its members follow seq */
	if (len > 2) {
		buf_append(out, ",", 1);
		buf_append(out, obj + 1, len - 2);
	}
	buf_append(out, ",\"prev\":\"", 9);
	buf_append(out, prev, SHA256_HEX_LEN);
	buf_append(out, "\"", 1);
	if (key) {
		char mac[SHA256_HEX_LEN + 1];

		hmac_sha256_hex(key, out->data + start, out->len - start, mac);
		buf_append(out, MAC_KEY, sizeof(MAC_KEY) - 1);
		buf_append(out, mac, SHA256_HEX_LEN);
		buf_append(out, "\"", 1);
	}
	sha256_hex(out->data + start, out->len - start, prev);
	buf_append(out, HASH_KEY, sizeof(HASH_KEY) - 1);
	buf_append(out, prev, SHA256_HEX_LEN);
	buf_append(out, "\"}\n", 3);
}

static bool is_hash(const char *s, size_t len)
{
	if (len != SHA256_HEX_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool get_hash(struct json_object *obj, const char *key, char out[SHA256_HEX_LEN + 1])
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string) ||
	    !is_hash(json_object_get_string(v), json_object_get_string_len(v)))
		return false;
	memcpy(out, json_object_get_string(v), SHA256_HEX_LEN + 1);
	return true;
}

int auditlog_parse(const char *line, size_t len, struct audit_rec *r, char **why)
{
	struct json_tokener *tok = json_tokener_new();
	const char *hash_at;
	struct json_object *v;
	char actual[SHA256_HEX_LEN + 1];
	enum json_tokener_error jerr;
	int rc = AUDITLOG_MALFORMED;

	memset(r, 0, sizeof(*r));
	*why = NULL;
	r->obj = json_tokener_parse_ex(tok, line, len);
	jerr = json_tokener_get_error(tok);
	if (!r->obj || (size_t)json_tokener_get_parse_end(tok) != len) {
		if (jerr == json_tokener_continue)
			*why = xstrdup("incomplete JSON: the record is cut short");
		else if (jerr != json_tokener_success)
			*why = xasprintf("not JSON: %s", json_tokener_error_desc(jerr));
		else
			*why = xstrdup("text after the JSON object");
		goto out;
	}
	if (!json_object_is_type(r->obj, json_type_object)) {
		*why = xstrdup("not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(r->obj, "seq", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) <= 0) {
		*why = xstrdup("no positive \"seq\"");
		goto out;
	}
	r->seq = json_object_get_int64(v);
	if (!get_hash(r->obj, "prev", r->prev) || !get_hash(r->obj, "hash", r->hash)) {
		*why = xstrdup("no \"prev\" and \"hash\" of 64 hex digits");
		goto out;
	}
	hash_at = line + len - HASH_SUFFIX_LEN;
	if (len < HASH_SUFFIX_LEN || memcmp(hash_at, HASH_KEY, sizeof(HASH_KEY) - 1) ||
	    memcmp(hash_at + sizeof(HASH_KEY) - 1, r->hash, SHA256_HEX_LEN)) {
		*why = xstrdup("\"hash\" is not the last member");
		goto out;
	}
	if (json_object_object_get_ex(r->obj, "mac", NULL)) {
		const char *mac_at = hash_at - MAC_LEN;

		if (!get_hash(r->obj, "mac", r->mac)) {
			*why = xstrdup("\"mac\" is not 64 hex digits");
			goto out;
		}
		if (hash_at - line < (ptrdiff_t)MAC_LEN ||
		    memcmp(mac_at, MAC_KEY, sizeof(MAC_KEY) - 1) ||
		    memcmp(mac_at + sizeof(MAC_KEY) - 1, r->mac, SHA256_HEX_LEN)) {
			*why = xstrdup("\"mac\" is not the member before \"hash\"");
			goto out;
		}
		r->mac_at = mac_at - line;
	}
	sha256_hex(line, hash_at - line, actual);
	if (strcmp(actual, r->hash)) {
		*why = xstrdup("its content does not match its hash");
		rc = AUDITLOG_ALTERED;
		goto out;
	}
	rc = AUDITLOG_VALID;
out:
	json_tokener_free(tok);
	if (rc == AUDITLOG_MALFORMED) {
		json_object_put(r->obj);
		r->obj = NULL;
	}
	return rc;
}

void auditlog_rec_free(struct audit_rec *r)
{
	json_object_put(r->obj);
	r->obj = NULL;
}

/* ---- files ---- */

char *auditlog_segment_path(const char *log, uint64_t last_seq, bool gz)
{
	return xasprintf("%s.%0*" PRIu64 "%s", log, SEG_DIGITS, last_seq, gz ? ".gz" : "");
}

char *auditlog_tip_path(const char *log)
{
	return xasprintf("%s.tip", log);
}

/* "NAME.<digits>" or "NAME.<digits>.gz" after the log's own name. */
static bool segment_name(const char *entry, const char *base, uint64_t *seq, bool *gz)
{
	size_t blen = strlen(base);
	const char *p;
	char *end;

	if (strncmp(entry, base, blen) || entry[blen] != '.')
		return false;
	p = entry + blen + 1;
	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	*seq = strtoull(p, &end, 10);
	if (errno || end - p != SEG_DIGITS)
		return false;
	*gz = !strcmp(end, ".gz");
	return *gz || !*end;
}

static int cmp_segment(const void *a, const void *b)
{
	const struct audit_segment *x = a, *y = b;

	if (x->last_seq != y->last_seq)
		return x->last_seq < y->last_seq ? -1 : 1;
	return (int)y->gz - (int)x->gz;		/* the .gz first */
}

int auditlog_segments(const char *log, struct audit_segment **segs, size_t *n)
{
	char *dir = xstrdup(log), *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : log;
	struct audit_segment *v = NULL;
	size_t count = 0, out = 0;
	struct dirent *de;
	struct stat st;
	DIR *dp;

	if (slash)
		*slash = '\0';
	dp = opendir(slash ? (*dir ? dir : "/") : ".");
	if (!dp) {
		int rc = -errno;

		free(dir);
		return rc;
	}
	while ((de = readdir(dp))) {
		uint64_t seq;
		bool gz;

		if (!segment_name(de->d_name, base, &seq, &gz))
			continue;
		v = xrealloc(v, (count + 2) * sizeof(*v));
		v[count++] = (struct audit_segment){
			.path = auditlog_segment_path(log, seq, gz), .last_seq = seq, .gz = gz,
		};
	}
	closedir(dp);
	free(dir);
	if (count)		/* qsort's base must not be NULL, even for none */
		qsort(v, count, sizeof(*v), cmp_segment);
	/* Keep one entry per seq: the .gz, sorted first. */
	for (size_t i = 0; i < count; i++) {
		if (out && v[out - 1].last_seq == v[i].last_seq) {
			v[out - 1].stale_plain = true;
			free(v[i].path);
			continue;
		}
		v[out++] = v[i];
	}
	if (stat(log, &st) == 0) {
		v = xrealloc(v, (out + 1) * sizeof(*v));
		v[out++] = (struct audit_segment){ .path = xstrdup(log), .live = true };
	}
	*segs = v;
	*n = out;
	return 0;
}

void auditlog_segments_free(struct audit_segment *segs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(segs[i].path);
	free(segs);
}

int auditlog_tip_format(char *buf, size_t len, uint64_t seq, const char *hash)
{
	return snprintf(buf, len, "%020" PRIu64 " %s\n", seq, hash);
}

int auditlog_tip_read(const char *log, uint64_t *seq, char hash[SHA256_HEX_LEN + 1])
{
	char *path = auditlog_tip_path(log), *text = NULL, *end;
	size_t len;
	int rc;

	rc = read_file(path, 256, &text, &len);
	free(path);
	if (rc < 0)
		return rc == -EFBIG ? -EBADMSG : rc;
	/* Created with the log, written after its first record. */
	rc = len ? -EBADMSG : -ENOENT;
	errno = 0;
	*seq = strtoull(text, &end, 10);
	if (errno || end != text + 20 || *end != ' ' || !is_hash(end + 1, SHA256_HEX_LEN) ||
	    strcmp(end + 1 + SHA256_HEX_LEN, "\n"))
		goto out;
	memcpy(hash, end + 1, SHA256_HEX_LEN);
	hash[SHA256_HEX_LEN] = '\0';
	rc = 0;
out:
	free(text);
	return rc;
}

/* ---- reading ---- */

struct audit_reader {
	int fd;
	gzFile gz;
	char *buf;
	size_t cap, start, end;
	unsigned long lineno;
};

int auditlog_reader_open(const char *path, struct audit_reader **out)
{
	struct audit_reader *r;
	uint8_t magic[2];
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	if (pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
		r->gz = gzdopen(fd, "rb");
		if (!r->gz) {
			free(r);
			close(fd);
			return -ENOMEM;
		}
		r->fd = -1;
	}
	r->cap = 65536;
	r->buf = xmalloc(r->cap + 1);
	*out = r;
	return 0;
}

int auditlog_segment_open(const char *log, const struct audit_segment *seg,
			  struct audit_reader **out, char **path)
{
	int rc;

	*path = xstrdup(seg->path);
	rc = auditlog_reader_open(*path, out);
	if (rc == -ENOENT && !seg->gz && !seg->live) {
		free(*path);
		*path = auditlog_segment_path(log, seg->last_seq, true);
		rc = auditlog_reader_open(*path, out);
	}
	return rc;
}

void auditlog_reader_close(struct audit_reader *r)
{
	if (!r)
		return;
	if (r->gz)
		gzclose(r->gz);
	safe_close(r->fd);
	free(r->buf);
	free(r);
}

/* Read more into the buffer: bytes read, 0 at (current) end, -errno. */
static ssize_t fill(struct audit_reader *r, char **why)
{
	ssize_t n;
	int zerr;

	if (r->start) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap) {
		if (r->cap >= AUDITLOG_LINE_MAX) {
			*why = xasprintf("a line longer than %u bytes: not an audit log",
					 AUDITLOG_LINE_MAX);
			return -EFBIG;
		}
		r->cap *= 2;
		r->buf = xrealloc(r->buf, r->cap + 1);
	}
	if (!r->gz) {
		do
			n = read(r->fd, r->buf + r->end, r->cap - r->end);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			*why = xasprintf("read failed: %m");
			return -errno;
		}
		r->end += n;
		return n;
	}
	n = gzread(r->gz, r->buf + r->end, r->cap - r->end);
	if (n > 0) {
		r->end += n;
		return n;
	}
	/* zlib reports a cut-off stream as EOF with Z_BUF_ERROR set. */
	gzerror(r->gz, &zerr);
	if (n < 0 || zerr != Z_OK) {
		*why = xasprintf("compressed data truncated or corrupt: %s",
				 zerr == Z_BUF_ERROR ? "unexpected end of file" : gzerror(r->gz, &zerr));
		return -EBADMSG;
	}
	return 0;
}

int auditlog_reader_next(struct audit_reader *r, char **line, size_t *len, char **why)
{
	size_t scanned = 0;	/* bytes after start known to hold no newline */

	*why = NULL;
	for (;;) {
		char *p = r->buf + r->start;
		char *nl = memchr(p + scanned, '\n', r->end - r->start - scanned);
		ssize_t n;

		if (nl) {
			*nl = '\0';
			*line = p;
			*len = nl - p;
			r->start = nl + 1 - r->buf;
			r->lineno++;
			return 1;
		}
		scanned = r->end - r->start;
		n = fill(r, why);
		if (n <= 0)
			return n;
	}
}

size_t auditlog_reader_partial(const struct audit_reader *r)
{
	return r->end - r->start;
}

unsigned long auditlog_reader_lineno(const struct audit_reader *r)
{
	return r->lineno;
}

/* The whole file, forward: for gzip segments and damaged tails. */
static int last_record_scan(const char *path, struct audit_rec *r, size_t *partial)
{
	struct audit_reader *rd;
	struct audit_rec cur;
	char *line, *why;
	size_t len;
	int rc;

	if ((rc = auditlog_reader_open(path, &rd)) < 0)
		return rc;
	memset(r, 0, sizeof(*r));
	while ((rc = auditlog_reader_next(rd, &line, &len, &why)) > 0) {
		if (auditlog_parse(line, len, &cur, &why) == AUDITLOG_VALID) {
			auditlog_rec_free(r);
			*r = cur;
		} else {
			auditlog_rec_free(&cur);
		}
		free(why);
	}
	free(why);
	*partial = auditlog_reader_partial(rd);
	auditlog_reader_close(rd);
	if (rc < 0) {
		auditlog_rec_free(r);
		return rc;
	}
	return r->obj ? 0 : -ENODATA;
}

int auditlog_last_record(const char *path, struct audit_rec *r, size_t *partial)
{
	size_t win = 65536, len, tail;
	char *buf = NULL, *why, *nl, *start;
	struct stat st;
	ssize_t n;
	int fd, rc;
	uint8_t magic[2];

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (st.st_size == 0) {
		rc = -ENODATA;
		goto out;
	}
	if (pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
		goto scan;
	/* Look at the end first: the common case is one short record there. */
	len = (size_t)st.st_size < win ? (size_t)st.st_size : win;
	buf = xmalloc(len + 1);
	n = pread(fd, buf, len, st.st_size - len);
	if (n != (ssize_t)len)
		goto scan;
	buf[len] = '\0';
	nl = memrchr(buf, '\n', len);
	if (!nl)
		goto scan;
	tail = buf + len - (nl + 1);
	*nl = '\0';
	start = memrchr(buf, '\n', nl - buf);
	if (!start && len != (size_t)st.st_size)
		goto scan;		/* the line may begin before the window */
	start = start ? start + 1 : buf;
	if (auditlog_parse(start, nl - start, r, &why) == AUDITLOG_VALID) {
		free(why);
		*partial = tail;
		rc = 0;
		goto out;
	}
	auditlog_rec_free(r);
	free(why);
scan:
	rc = last_record_scan(path, r, partial);
out:
	free(buf);
	close(fd);
	return rc;
}

/* ---- verification ---- */

int auditlog_anchor_parse(const char *s, struct audit_anchor *a)
{
	const char *colon = strchr(s, ':');
	char *end;

	a->seq = 0;
	if (colon) {
		errno = 0;
		a->seq = strtoull(s, &end, 10);
		if (errno || end != colon || !a->seq)
			return -EINVAL;
		s = colon + 1;
	}
	if (!is_hash(s, strlen(s)))
		return -EINVAL;
	memcpy(a->hash, s, SHA256_HEX_LEN + 1);
	return 0;
}

void auditlog_verify_init(struct audit_verify *v)
{
	memset(v, 0, sizeof(*v));
	memcpy(v->prev, AUDITLOG_GENESIS, sizeof(v->prev));
}

void auditlog_verify_free(struct audit_verify *v)
{
	free(v->first_problem);
	free(v->first_where);
	free(v->last_where);
	free(v->removed);
	memset(v, 0, sizeof(*v));
}

/* Count a problem at position ord; keep the earliest; hand the message out. */
__attribute__((format(printf, 4, 5)))
static int problem(struct audit_verify *v, uint64_t ord, char **why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	*why = xvasprintf(fmt, ap);
	va_end(ap);
	v->problems++;
	v->seg_problems++;
	if (!v->first_problem || ord < v->first_problem_ord) {
		free(v->first_problem);
		v->first_problem = xstrdup(*why);
		v->first_problem_ord = ord;
	}
	return 1;
}

void auditlog_verify_problem(struct audit_verify *v, const char *msg)
{
	char *why;

	problem(v, v->ord * 2 + 1, &why, "%s", msg);
	free(why);
}

static void note_removal(struct audit_verify *v, const struct audit_rec *r)
{
	struct json_object *ev, *seq, *hash;

	/* A valid hash vouches for the bytes, not for their types: a null
	 * "event" has no string. */
	if (!json_object_object_get_ex(r->obj, "event", &ev) ||
	    !json_object_is_type(ev, json_type_string) ||
	    strcmp(json_object_get_string(ev), "audit_segment_removed") ||
	    !json_object_object_get_ex(r->obj, "last_seq", &seq) ||
	    !json_object_is_type(seq, json_type_int) ||
	    !json_object_object_get_ex(r->obj, "last_hash", &hash) ||
	    !is_hash(json_object_get_string(hash), json_object_get_string_len(hash)))
		return;
	v->removed = xrealloc(v->removed, (v->nremoved + 1) * sizeof(*v->removed));
	v->removed[v->nremoved].seq = json_object_get_int64(seq);
	memcpy(v->removed[v->nremoved].hash, json_object_get_string(hash), SHA256_HEX_LEN + 1);
	v->nremoved++;
}

enum link { LINK_OK, LINK_BROKEN, LINK_SKIP };

/* Does this valid record continue the chain? Problems are reported here. */
static enum link check_link(struct audit_verify *v, const char *where, const struct audit_rec *r,
			    uint64_t seg_last, char **why)
{
	uint64_t ord = v->ord * 2;

	if (v->next_seq && r->seq < v->next_seq) {
		/* Not taken into the chain: the records after it are judged
		 * against the chain as it was. */
		problem(v, ord, why, "%s: seq %" PRIu64 ": out of order, expected seq %" PRIu64
			" (a record inserted or duplicated, or segments swapped)",
			where, r->seq, v->next_seq);
		return LINK_SKIP;
	}
	if (seg_last && r->seq > seg_last)
		problem(v, ord, why, "%s: seq %" PRIu64 ": past the end of its segment, whose name"
			" says it ends at seq %" PRIu64 " (segments renamed or swapped)",
			where, r->seq, seg_last);
	else if (v->next_seq && r->seq == v->next_seq + 1)
		problem(v, ord, why, "%s: seq %" PRIu64 ": record %" PRIu64 " is missing (deleted)",
			where, r->seq, v->next_seq);
	else if (v->next_seq && r->seq > v->next_seq)
		problem(v, ord, why, "%s: seq %" PRIu64 ": records %" PRIu64 "..%" PRIu64
			" are missing (deleted)", where, r->seq, v->next_seq, r->seq - 1);
	else if (v->next_seq && strcmp(r->prev, v->prev))
		problem(v, ord, why, "%s: seq %" PRIu64 ": does not follow seq %" PRIu64
			" (its prev is not that record's hash): seq %" PRIu64
			" was rewritten, or this record was forged", where, r->seq, r->seq - 1,
			r->seq - 1);
	if (v->have_tip && r->seq == v->tip_seq) {
		v->tip_seen = true;
		if (!*why && strcmp(r->hash, v->tip_hash))
			problem(v, ord, why, "%s: seq %" PRIu64 ": not the record the tip file names"
				" (rewritten after it was written)", where, r->seq);
	}
	return *why ? LINK_BROKEN : LINK_OK;
}

/* The MAC, when there is a key: after the first keyed record, every one. */
static void check_mac(struct audit_verify *v, const char *where, const struct audit_rec *r,
		      const char *line, char **why)
{
	char mac[SHA256_HEX_LEN + 1];

	if (!v->key)
		return;
	if (!r->mac_at) {
		if (!v->keyed) {
			v->unkeyed_before++;
			return;
		}
		if (!*why)
			problem(v, v->ord * 2, why, "%s: seq %" PRIu64 ": no MAC after records that"
				" have one: forged, or written while the daemon had no key (its"
				" audit_key_failed record says why)", where, r->seq);
		return;
	}
	hmac_sha256_hex(v->key, line, r->mac_at, mac);
	if (strcmp(mac, r->mac)) {
		if (!*why)
			problem(v, v->ord * 2, why, "%s: seq %" PRIu64 ": its MAC does not match under"
				" the key: rewritten (with the hashes recomputed), or written under"
				" another key", where, r->seq);
		return;
	}
	if (!v->keyed++)
		v->first_keyed_seq = r->seq;
}

/* The tip exported off the log's disk: the record it names must be this one. */
static void check_anchor(struct audit_verify *v, const char *where, const struct audit_rec *r,
			 char **why)
{
	bool same_hash = !strcmp(r->hash, v->anchor.hash);

	if (!v->have_anchor || (v->anchor.seq ? r->seq != v->anchor.seq : !same_hash))
		return;
	v->anchor_seen = true;
	v->anchor_matched = same_hash;
	if (!same_hash && !*why)
		problem(v, v->ord * 2, why, "%s: seq %" PRIu64 ": not the record of the exported tip"
			" (hash %.12s...): rewritten after the tip was exported", where, r->seq,
			v->anchor.hash);
}

int auditlog_verify_line(struct audit_verify *v, const char *file, uint64_t seg_last,
			 unsigned long lineno, const char *line, size_t len, char **why)
{
	struct audit_rec r;
	char *where, *what;
	int check;

	*why = NULL;
	v->ord++;
	where = xasprintf("%s:%lu", file, lineno);
	check = auditlog_parse(line, len, &r, &what);
	if (check == AUDITLOG_MALFORMED) {
		problem(v, v->ord * 2, why, "%s: not a valid record: %s", where, what);
		goto out;
	}
	if (check == AUDITLOG_ALTERED) {
		/* The next record links to the hash stored here: follow it,
		 * so one edit is one problem. */
		problem(v, v->ord * 2, why, "%s: seq %" PRIu64 ": altered: %s", where, r.seq, what);
	} else {
		if (check_link(v, where, &r, seg_last, why) == LINK_SKIP)
			goto out;
		check_mac(v, where, &r, line, why);
		check_anchor(v, where, &r, why);
		v->records++;
		note_removal(v, &r);
	}
	if (!v->first_where) {
		v->first_seq = r.seq;
		v->first_ord = v->ord;
		memcpy(v->first_prev, r.prev, sizeof(v->first_prev));
		v->first_where = xstrdup(where);
	}
	v->next_seq = r.seq + 1;
	v->last_seq = r.seq;
	if (r.seq > v->seg_max)
		v->seg_max = r.seq;
	memcpy(v->prev, r.hash, sizeof(v->prev));
	free(v->last_where);
	v->last_where = where;
	where = NULL;
out:
	auditlog_rec_free(&r);
	free(what);
	free(where);
	return *why ? 1 : 0;
}

int auditlog_verify_segment_end(struct audit_verify *v, const char *file, uint64_t seg_last,
				unsigned long lines, size_t partial, char **why)
{
	int rc = 0;

	*why = NULL;
	if (partial)
		rc = problem(v, v->ord * 2 + 1, why, "%s:%lu: an incomplete record at the end"
			     " (%zu bytes without a newline): the file was cut mid-record",
			     file, lines + 1, partial);
	else if (seg_last && !v->seg_problems && v->seg_max != seg_last)
		rc = problem(v, v->ord * 2 + 1, why, "%s: ends at seq %" PRIu64 " but its name says"
			     " seq %" PRIu64 ": records cut off its end, or it was renamed",
			     file, v->seg_max, seg_last);
	v->seg_max = 0;
	v->seg_problems = 0;
	return rc;
}

int auditlog_verify_end(struct audit_verify *v, char **why)
{
	bool anchored = false;
	int rc = 0;

	*why = NULL;
	if (v->have_tip && !v->tip_seen && v->last_seq < v->tip_seq)
		rc = problem(v, v->ord * 2 + 1, why, "after %s: the log ends at seq %" PRIu64
			     " but the tip file says seq %" PRIu64 " was written: records %" PRIu64
			     "..%" PRIu64 " are missing (cut off the end)",
			     v->last_where ? v->last_where : "the start", v->last_seq, v->tip_seq,
			     v->last_seq + 1, v->tip_seq);
	if (v->have_anchor && !v->anchor_seen) {
		char *tip = v->anchor.seq ? xasprintf("seq %" PRIu64 ", hash %s", v->anchor.seq,
						      v->anchor.hash) :
			    xasprintf("hash %s", v->anchor.hash);

		free(*why);
		rc = problem(v, v->ord * 2 + 1, why, "the exported tip (%s) is not in the log:"
			     " the records up to it were rewritten or cut off, or rotated out by"
			     " retention", tip);
		free(tip);
	}
	if (v->key && v->records && !v->keyed) {
		free(*why);
		rc = problem(v, v->ord * 2 + 1, why, "none of the %" PRIu64 " records has a MAC the"
			     " key vouches for: rewritten wholesale, or never written with this key",
			     v->records);
	}
	if (!v->first_where)
		return rc;
	if (v->first_seq == 1)
		anchored = !strcmp(v->first_prev, AUDITLOG_GENESIS);
	for (size_t i = 0; !anchored && i < v->nremoved; i++)
		anchored = v->removed[i].seq + 1 == v->first_seq &&
			   !strcmp(v->removed[i].hash, v->first_prev);
	if (!anchored) {
		free(*why);
		*why = NULL;
		rc = problem(v, v->first_ord * 2, why, "%s: seq %" PRIu64 ": the chain starts here, but no"
			     " audit_segment_removed record accounts for what came before"
			     " (the oldest records were deleted)", v->first_where, v->first_seq);
	}
	return rc;
}

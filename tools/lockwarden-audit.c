// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * lockwarden-audit: read lockwardend's audit log (the live file and its
 * compressed segments) for people. Shows records filtered by time,
 * resource, VM, process and severity, as a table or as the JSON lines
 * themselves; follows the log across rotations; sums violations up by
 * resource and by offender; verifies the hash chain and names the first
 * broken record.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditkey.h"
#include "auditlog.h"
#include "config.h"
#include "hashmap.h"
#include "recordfmt.h"
#include "severity.h"
#include "sha256.h"
#include "timefmt.h"
#include "util.h"

#define FOLLOW_POLL_US	200000

struct filter {
	uint64_t since, until;		/* ns; until 0: none */
	const char *resource, *vm, *exe, *event;
	long long pid, uid;		/* -1: any */
	int min_severity;		/* -1: any */
};

struct opts {
	const char *log;
	const char *key, *tip, *metrics;	/* verify against these */
	bool json, follow, verbose, no_tip;
	struct filter f;
};

/* What a pass over the log saw. */
struct scan {
	const struct opts *o;
	uint64_t last_seq;		/* records at or below it were seen already */
	unsigned long bad;		/* unreadable records and files */
	void (*fn)(struct scan *s, struct json_object *rec, const char *line);
	struct hashmap by_resource, by_offender;	/* summary */
	uint64_t matched;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: lockwarden-audit [OPTIONS] [show|summary|verify]\n"
		"\n"
		"  show      records that match the filters (the default)\n"
		"  summary   violations and denials by resource and by offender\n"
		"  verify    check the hash chain; name the first broken record\n"
		"\n"
		"Options:\n"
		"  -l, --log PATH        the live audit log (default: audit_log of the config)\n"
		"  -c, --config FILE     lockwardend's config (default /etc/libvirt/virtlockd.conf)\n"
		"  -S, --since TIME      records at or after TIME\n"
		"  -U, --until TIME      records before TIME\n"
		"  -r, --resource PATH   a lock resource, a disk image path or a lockspace file\n"
		"  -m, --vm NAME|UUID    a VM\n"
		"  -p, --pid PID         a process (opener or lock owner)\n"
		"  -u, --uid UID         a user id\n"
		"  -x, --exe PATH|NAME   an executable, or a process name\n"
		"  -s, --severity LEVEL  at least LEVEL: info, low, medium, high, critical\n"
		"  -e, --event NAME      one kind of record (violation, denied, lock_acquire, ...)\n"
		"  -j, --json            the records as JSON lines, as stored\n"
		"  -f, --follow          keep printing new records, across rotations\n"
		"      --no-tip          verify without the tip file (a copy of the log)\n"
		"      --key FILE        verify: check each record's MAC with the audit key\n"
		"      --tip [SEQ:]HASH  verify: the log must hold this tip, as the daemon's log\n"
		"                        (the journal) gave it\n"
		"      --metrics FILE    verify: the same with the tip in a copy of the metrics file\n"
		"  -v, --verbose         verify: every problem, not just the first\n"
		"  -h, --help\n"
		"\n"
		"TIME: 2024-05-01T12:00:00Z, \"2024-05-01 12:00\" (UTC), @EPOCH, or 90s, 15m, 2h, 7d ago.\n");
}

/* ---- filters ---- */

/* lockd.so names indirect lock files by the sha256 of the disk's path. */
static bool resource_matches(const char *want, struct json_object *rec)
{
	static const char *const keys[] = { "resource", "path", "resource_path" };
	char hash[SHA256_HEX_LEN + 1];

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(record_str(rec, keys[i]), want))
			return true;
	sha256_hex(want, strlen(want), hash);
	return !strcmp(record_str(rec, "resource"), hash);
}

static bool pid_matches(long long want, struct json_object *rec)
{
	struct json_object *v;

	if (json_object_object_get_ex(rec, "pid", &v) && json_object_get_int64(v) == want)
		return true;
	if (json_object_object_get_ex(rec, "owner_pids", &v) &&
	    json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (json_object_get_int64(json_object_array_get_idx(v, i)) == want)
				return true;
	return false;
}

static bool exe_matches(const char *want, struct json_object *rec)
{
	const char *exe = record_str(rec, "exe"), *slash = strrchr(exe, '/');

	return !strcmp(exe, want) || !strcmp(record_str(rec, "comm"), want) ||
	       (slash && !strcmp(slash + 1, want));
}

static bool matches(const struct filter *f, struct json_object *rec)
{
	struct json_object *v;
	uint64_t t;

	if ((f->since || f->until) &&
	    (time_parse(record_str(rec, "time"), 0, &t) < 0 || t < f->since ||
	     (f->until && t >= f->until)))
		return false;
	if (f->event && strcmp(record_str(rec, "event"), f->event))
		return false;
	if (f->resource && !resource_matches(f->resource, rec))
		return false;
	if (f->vm && strcmp(record_str(rec, "vm_name"), f->vm) &&
	    strcmp(record_str(rec, "vm_uuid"), f->vm))
		return false;
	if (f->pid >= 0 && !pid_matches(f->pid, rec))
		return false;
	if (f->uid >= 0 && (!json_object_object_get_ex(rec, "uid", &v) ||
			    json_object_get_int64(v) != f->uid))
		return false;
	if (f->exe && !exe_matches(f->exe, rec))
		return false;
	if (f->min_severity >= 0 && severity_rank(record_str(rec, "severity")) < f->min_severity)
		return false;
	return true;
}

/* ---- reading ---- */

/* Complaints shown; a file that is not an audit log at all is summed up. */
#define BAD_SHOWN 10

/* Complain about the log on stderr, and remember that it was not clean. */
__attribute__((format(printf, 2, 3)))
static void bad(struct scan *s, const char *fmt, ...)
{
	va_list ap;

	if (s->bad++ >= BAD_SHOWN)
		return;
	va_start(ap, fmt);
	fputs("lockwarden-audit: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* The complete lines r has now. */
static void read_lines(struct scan *s, const char *path, struct audit_reader *r)
{
	char *line, *why;
	size_t len;
	int rc;

	while ((rc = auditlog_reader_next(r, &line, &len, &why)) > 0) {
		struct audit_rec rec;
		int check = auditlog_parse(line, len, &rec, &why);

		if (check == AUDITLOG_MALFORMED) {
			bad(s, "%s:%lu: not a valid record: %s", path, auditlog_reader_lineno(r), why);
		} else {
			if (check == AUDITLOG_ALTERED)
				bad(s, "%s:%lu: seq %llu: altered: %s (shown anyway; run verify)",
				    path, auditlog_reader_lineno(r), (unsigned long long)rec.seq, why);
			/* A file read twice across a rotation: each record once. */
			if (rec.seq > s->last_seq) {
				s->last_seq = rec.seq;
				if (matches(&s->o->f, rec.obj))
					s->fn(s, rec.obj, line);
			}
			auditlog_rec_free(&rec);
		}
		free(why);
	}
	if (rc < 0) {
		bad(s, "%s: after line %lu: %s", path, auditlog_reader_lineno(r), why);
		free(why);
	}
}

/* A rotated segment, whole. */
static void read_segment(struct scan *s, const struct audit_segment *seg)
{
	struct audit_reader *r;
	char *path;
	int rc;

	if ((rc = auditlog_segment_open(s->o->log, seg, &r, &path)) < 0) {
		bad(s, "%s: cannot open: %s", path, strerror(-rc));
		free(path);
		return;
	}
	read_lines(s, path, r);
	if (auditlog_reader_partial(r))
		bad(s, "%s: ends in an incomplete record (%zu bytes)", path, auditlog_reader_partial(r));
	auditlog_reader_close(r);
	free(path);
}

/* Every rotated segment holding records newer than the ones seen. */
static void read_segments(struct scan *s)
{
	struct audit_segment *segs;
	size_t n;
	int rc;

	if ((rc = auditlog_segments(s->o->log, &segs, &n)) < 0) {
		bad(s, "%s: cannot list the log's directory: %s", s->o->log, strerror(-rc));
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!segs[i].live && segs[i].last_seq > s->last_seq)
			read_segment(s, &segs[i]);
	auditlog_segments_free(segs, n);
}

static bool same_file(const char *path, const struct stat *st)
{
	struct stat now;

	return stat(path, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino;
}

/*
 * The live log is opened before the segments are listed: a rotation in
 * between only makes a file appear twice, and records are taken once by
 * seq. Following, a new live file means a rotation: the segments it made
 * are read, then the new file.
 */
static void scan_log(struct scan *s)
{
	struct audit_reader *live = NULL;
	struct stat st;

	for (;;) {
		if (stat(s->o->log, &st) < 0) {
			if (errno != ENOENT || !s->o->follow) {
				bad(s, "%s: %m", s->o->log);
				return;
			}
		} else if (auditlog_reader_open(s->o->log, &live) < 0) {
			live = NULL;
		}
		read_segments(s);
		if (live)
			read_lines(s, s->o->log, live);
		if (!s->o->follow)
			break;
		fflush(stdout);
		while (!live || same_file(s->o->log, &st)) {
			usleep(FOLLOW_POLL_US);
			if (live) {
				read_lines(s, s->o->log, live);
				fflush(stdout);
			} else if (stat(s->o->log, &st) == 0) {
				break;
			}
		}
		if (live)
			read_lines(s, s->o->log, live);
		auditlog_reader_close(live);
		live = NULL;
	}
	if (live && auditlog_reader_partial(live))
		bad(s, "%s: ends in an incomplete record (%zu bytes)", s->o->log,
		    auditlog_reader_partial(live));
	auditlog_reader_close(live);
}

/* ---- show ---- */

static void show_one(struct scan *s, struct json_object *rec, const char *line)
{
	if (s->o->json) {
		puts(line);
		return;
	}
	if (!s->matched)
		record_table_header(stdout);
	record_table_row(stdout, rec);
	s->matched++;
}

/* ---- summary ---- */

struct group {
	char *key;
	uint64_t count, by_sev[SEV_COUNT];
	char first[TIME_RFC3339_LEN], last[TIME_RFC3339_LEN];
	long long uid;
	char *exe;
};

/* How many violations, warnings or denials rec stands for: one, or as many
 * as a "repeated" record counted. */
static uint64_t violations_in(struct json_object *rec)
{
	const char *ev = record_str(rec, "event");
	struct json_object *count;
	int64_t n = 1;

	if (!strcmp(ev, "repeated")) {
		ev = record_str(rec, "of");
		n = json_object_object_get_ex(rec, "count", &count) ? json_object_get_int64(count) : 0;
	}
	if (n <= 0 || (strcmp(ev, "violation") && strcmp(ev, "warning") && strcmp(ev, "denied")))
		return 0;
	return n;
}

static void tally(struct hashmap *m, const char *key, struct json_object *rec, uint64_t n)
{
	struct group *g = hashmap_get(m, key);
	int sev = severity_rank(record_str(rec, "severity"));
	struct json_object *uid;

	if (!g) {
		g = xcalloc(1, sizeof(*g));
		g->key = xstrdup(key);
		g->uid = json_object_object_get_ex(rec, "uid", &uid) ? json_object_get_int64(uid) : -1;
		g->exe = xstrdup(*record_str(rec, "exe") ? record_str(rec, "exe") :
				 record_str(rec, "comm"));
		snprintf(g->first, sizeof(g->first), "%s", record_str(rec, "time"));
		hashmap_put(m, g->key, g);
	}
	g->count += n;
	if (sev >= 0)
		g->by_sev[sev] += n;
	snprintf(g->last, sizeof(g->last), "%s", record_str(rec, "time"));
}

static void summary_one(struct scan *s, struct json_object *rec, const char *line)
{
	const char *res = record_str(rec, "resource_path");
	uint64_t n = violations_in(rec);
	char *offender;

	if (!n)
		return;
	s->matched += n;
	if (!*res)
		res = *record_str(rec, "path") ? record_str(rec, "path") : record_str(rec, "resource");
	tally(&s->by_resource, res, rec, n);
	offender = xasprintf("%s uid %s", *record_str(rec, "exe") ? record_str(rec, "exe") :
			     record_str(rec, "comm"), record_str(rec, "uid"));
	tally(&s->by_offender, offender, rec, n);
	free(offender);
}

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = *(struct group *const *)a, *y = *(struct group *const *)b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->key, y->key);
}

/* The groups, most frequent first; frees them. */
static struct group **sorted(struct hashmap *m, size_t *n)
{
	struct hashmap_entry *e, *nx;
	struct group **v = xcalloc(m->count + 1, sizeof(*v));
	size_t i;

	*n = 0;
	hashmap_foreach(m, e, nx, i)
		v[(*n)++] = e->value;
	qsort(v, *n, sizeof(*v), cmp_group);
	return v;
}

static struct json_object *group_json(const struct group *g, const char *keyname)
{
	struct json_object *o = json_object_new_object(), *sev = json_object_new_object();

	json_object_object_add(o, keyname, json_object_new_string(g->key));
	json_object_object_add(o, "count", json_object_new_uint64(g->count));
	for (int i = SEV_COUNT - 1; i >= 0; i--)
		if (g->by_sev[i])
			json_object_object_add(sev, severity_name(i),
					       json_object_new_uint64(g->by_sev[i]));
	json_object_object_add(o, "by_severity", sev);
	json_object_object_add(o, "first", json_object_new_string(g->first));
	json_object_object_add(o, "last", json_object_new_string(g->last));
	return o;
}

static void print_groups(struct hashmap *m, const char *title, const char *keyname,
			 struct json_object *out)
{
	struct json_object *arr = json_object_new_array();
	size_t n;
	struct group **v = sorted(m, &n);

	if (!out)
		printf("%s:\n%7s %8s %6s %-20s %-20s %s\n", title, "COUNT", "CRITICAL", "HIGH",
		       "FIRST (UTC)", "LAST (UTC)", !strcmp(keyname, "resource") ? "RESOURCE" :
		       "OFFENDER (EXECUTABLE, UID)");
	for (size_t i = 0; i < n; i++) {
		struct group *g = v[i];

		if (out)
			json_object_array_add(arr, group_json(g, keyname));
		else
			printf("%7llu %8llu %6llu %.10s %.8s  %.10s %.8s  %s\n",
			       (unsigned long long)g->count, (unsigned long long)g->by_sev[SEV_CRITICAL],
			       (unsigned long long)g->by_sev[SEV_HIGH], g->first, g->first + 11, g->last,
			       g->last + 11, g->key);
		free(g->key);
		free(g->exe);
		free(g);
	}
	if (out)
		json_object_object_add(out, keyname, arr);
	else
		json_object_put(arr);
	free(v);
}

static void print_summary(struct scan *s)
{
	struct json_object *out = s->o->json ? json_object_new_object() : NULL;

	if (!out)
		printf("violations, warnings and denials: %llu\n\n", (unsigned long long)s->matched);
	print_groups(&s->by_resource, "By resource", "resource", out);
	if (!out)
		putchar('\n');
	print_groups(&s->by_offender, "By offender", "offender", out);
	if (out) {
		puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(out);
	}
	hashmap_free(&s->by_resource);
	hashmap_free(&s->by_offender);
}

/* ---- verify ---- */

static void report(const struct opts *o, const char *why)
{
	if (why && o->verbose)
		printf("problem: %s\n", why);
}

/* The tip in a metrics file: lockwarden_audit_tip{hash="HASH"} SEQ */
static int metrics_anchor(const char *path, struct audit_anchor *a)
{
	/* after its HELP and TYPE lines, never the first */
	static const char name[] = "\nlockwarden_audit_tip{hash=\"";
	char *text, *p, *tip;
	size_t len;
	int rc;

	if ((rc = read_file(path, 1 << 20, &text, &len)) < 0) {
		fprintf(stderr, "lockwarden-audit: cannot read the metrics file %s: %s\n", path,
			strerror(-rc));
		return rc;
	}
	p = strstr(text, name);
	rc = -EBADMSG;
	if (p && strlen(p) > sizeof(name) + SHA256_HEX_LEN + 2 &&
	    !strncmp(p + sizeof(name) - 1 + SHA256_HEX_LEN, "\"} ", 3)) {
		p += sizeof(name) - 1;
		tip = xasprintf("%.*s:%.*s", (int)strcspn(p + SHA256_HEX_LEN + 3, "\n"),
				p + SHA256_HEX_LEN + 3, SHA256_HEX_LEN, p);
		rc = auditlog_anchor_parse(tip, a);
		free(tip);
	}
	if (rc < 0)
		fprintf(stderr, "lockwarden-audit: %s holds no lockwarden_audit_tip\n", path);
	free(text);
	return rc;
}

/* The key and the exported tip, when given: 0, or -1 having said why. */
static int verify_against(const struct opts *o, struct audit_verify *v,
			  struct hmac_sha256_ctx *key)
{
	uint8_t bytes[AUDIT_KEY_LEN];
	char *why;

	if (o->tip && o->metrics) {
		fprintf(stderr, "lockwarden-audit: --tip or --metrics, not both\n");
		return -1;
	}
	if (o->tip && auditlog_anchor_parse(o->tip, &v->anchor) < 0) {
		fprintf(stderr, "lockwarden-audit: invalid --tip '%s': SEQ:HASH or HASH"
			" (64 hex digits)\n", o->tip);
		return -1;
	}
	if (o->metrics && metrics_anchor(o->metrics, &v->anchor) < 0)
		return -1;
	v->have_anchor = o->tip || o->metrics;
	if (!o->key)
		return 0;
	/* A copy an auditor keeps may have any mode: not checked here. */
	if (audit_key_load(o->key, 0, bytes, &why) < 0) {
		fprintf(stderr, "lockwarden-audit: %s\n", why);
		free(why);
		return -1;
	}
	hmac_sha256_set_key(key, AUDIT_KEY_LEN, bytes);
	explicit_bzero(bytes, sizeof(bytes));
	v->key = key;
	return 0;
}

/* What the key and the exported tip vouch for, and what nothing checked. */
static void print_checked(const struct opts *o, const struct audit_verify *v)
{
	if (!v->key)
		printf("MAC: not checked (no --key): records rewritten with their hashes"
		       " recomputed would pass\n");
	else if (v->keyed)
		printf("MAC: %llu records checked against the key (from seq %llu)%s\n",
		       (unsigned long long)v->keyed, (unsigned long long)v->first_keyed_seq,
		       v->unkeyed_before ? "; the older ones, written before the key, have no MAC:"
		       " the chain into the first keyed record vouches for them" : "");
	if (!v->have_anchor)
		printf("exported tip: not checked (no --tip or --metrics): the newest records cut"
		       " off together with the tip file would pass\n");
	else if (v->anchor_matched)
		printf("exported tip: found: the log up to it is the one the daemon exported\n");
}

static int verify(const struct opts *o)
{
	struct audit_verify v;
	struct audit_segment *segs;
	struct hmac_sha256_ctx key;
	size_t n, nsegs = 0;
	char *why = NULL;
	int rc;

	auditlog_verify_init(&v);
	if (verify_against(o, &v, &key) < 0) {
		auditlog_verify_free(&v);
		return 2;
	}
	if (!o->no_tip) {
		rc = auditlog_tip_read(o->log, &v.tip_seq, v.tip_hash);
		v.have_tip = rc == 0;
		if (rc == -EBADMSG)
			auditlog_verify_problem(&v, "the tip file is damaged: it does not hold a"
						" seq and a hash");
		else if (rc < 0 && rc != -ENOENT)
			fprintf(stderr, "lockwarden-audit: cannot read the tip file: %s\n",
				strerror(-rc));
	}
	if ((rc = auditlog_segments(o->log, &segs, &n)) < 0) {
		fprintf(stderr, "lockwarden-audit: %s: cannot list the log's directory: %s\n",
			o->log, strerror(-rc));
		auditlog_verify_free(&v);
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		struct audit_reader *r;
		char *line, *path;
		size_t len;

		nsegs += !segs[i].live;
		if ((rc = auditlog_segment_open(o->log, &segs[i], &r, &path)) < 0) {
			why = xasprintf("%s: cannot open: %s", path, strerror(-rc));
			auditlog_verify_problem(&v, why);
			report(o, why);
			free(why);
			free(path);
			continue;
		}
		while ((rc = auditlog_reader_next(r, &line, &len, &why)) > 0) {
			auditlog_verify_line(&v, path, segs[i].last_seq,
					     auditlog_reader_lineno(r), line, len, &why);
			report(o, why);
			free(why);
		}
		if (rc < 0) {
			char *msg = xasprintf("%s:%lu: %s", path,
					      auditlog_reader_lineno(r) + 1, why);

			auditlog_verify_problem(&v, msg);
			report(o, msg);
			free(msg);
			free(why);
		}
		auditlog_verify_segment_end(&v, path, segs[i].last_seq,
					    auditlog_reader_lineno(r), auditlog_reader_partial(r), &why);
		report(o, why);
		free(why);
		free(path);
		auditlog_reader_close(r);
	}
	auditlog_verify_end(&v, &why);
	report(o, why);
	free(why);
	if (!o->no_tip && !v.have_tip && v.records) {
		auditlog_verify_problem(&v, "no tip file: records cut off the end would go unseen"
					" (use --no-tip for a copy of the log without it)");
		report(o, "no tip file");
	}
	printf("%s: %llu records in %zu rotated segment%s and the live log", o->log,
	       (unsigned long long)v.records, nsegs, nsegs == 1 ? "" : "s");
	if (v.records)
		printf(" (seq %llu..%llu)", (unsigned long long)v.first_seq,
		       (unsigned long long)v.last_seq);
	printf("\n");
	print_checked(o, &v);
	if (!v.problems) {
		printf("OK: the chain is intact%s\n", v.have_tip ? " and ends at the tip" : "");
		rc = 0;
	} else {
		printf("FAILED: %lu problem%s; the first broken record:\n  %s\n", v.problems,
		       v.problems == 1 ? "" : "s", v.first_problem);
		rc = 1;
	}
	auditlog_segments_free(segs, n);
	auditlog_verify_free(&v);
	return rc;
}

/* ---- main ---- */

static int parse_time_opt(const char *s, uint64_t *ns)
{
	if (time_parse(s, now_real_ns(), ns) < 0) {
		fprintf(stderr, "lockwarden-audit: invalid time '%s' (see --help)\n", s);
		return -1;
	}
	return 0;
}

static int parse_num(const char *s, const char *what, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (errno || end == s || *end || *out < 0) {
		fprintf(stderr, "lockwarden-audit: invalid %s '%s'\n", what, s);
		return -1;
	}
	return 0;
}

/* The log the daemon writes: from its config, unless named. */
static char *default_log(const char *config_path)
{
	struct config cfg;
	char *why = NULL, *log;

	config_defaults(&cfg);
	if (config_load(&cfg, config_path ? config_path : "/etc/libvirt/virtlockd.conf",
			!config_path, &why) < 0) {
		fprintf(stderr, "lockwarden-audit: %s\n", why);
		free(why);
		config_free(&cfg);
		return NULL;
	}
	log = xstrdup(cfg.audit_log);
	config_free(&cfg);
	return log;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "resource", required_argument, NULL, 'r' },
		{ "vm", required_argument, NULL, 'm' },
		{ "pid", required_argument, NULL, 'p' },
		{ "uid", required_argument, NULL, 'u' },
		{ "exe", required_argument, NULL, 'x' },
		{ "severity", required_argument, NULL, 's' },
		{ "event", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "follow", no_argument, NULL, 'f' },
		{ "no-tip", no_argument, NULL, 'T' },
		{ "key", required_argument, NULL, 'K' },
		{ "tip", required_argument, NULL, 'P' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct opts o = { .f = { .pid = -1, .uid = -1, .min_severity = -1 } };
	struct scan s = { .o = &o };
	const char *cmd = "show", *config_path = NULL;
	char *log = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "l:c:S:U:r:m:p:u:x:s:e:jfvh", lopts, NULL)) != -1) {
		switch (c) {
		case 'l': o.log = optarg; break;
		case 'c': config_path = optarg; break;
		case 'S': if (parse_time_opt(optarg, &o.f.since)) return 2; break;
		case 'U': if (parse_time_opt(optarg, &o.f.until)) return 2; break;
		case 'r': o.f.resource = optarg; break;
		case 'm': o.f.vm = optarg; break;
		case 'p': if (parse_num(optarg, "pid", &o.f.pid)) return 2; break;
		case 'u': if (parse_num(optarg, "uid", &o.f.uid)) return 2; break;
		case 'x': o.f.exe = optarg; break;
		case 'e': o.f.event = optarg; break;
		case 'j': o.json = true; break;
		case 'f': o.follow = true; break;
		case 'T': o.no_tip = true; break;
		case 'K': o.key = optarg; break;
		case 'P': o.tip = optarg; break;
		case 'M': o.metrics = optarg; break;
		case 'v': o.verbose = true; break;
		case 's':
			if ((o.f.min_severity = severity_rank(optarg)) < 0) {
				fprintf(stderr, "lockwarden-audit: invalid severity '%s': info, low,"
					" medium, high or critical\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		cmd = argv[optind++];
	if (optind < argc || (strcmp(cmd, "show") && strcmp(cmd, "summary") &&
			      strcmp(cmd, "verify"))) {
		fprintf(stderr, "lockwarden-audit: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	if (!o.log && !(o.log = log = default_log(config_path)))
		return 2;
	if (!strcmp(cmd, "verify")) {
		rc = verify(&o);
		free(log);
		return rc;
	}
	if (o.follow && !strcmp(cmd, "summary")) {
		fprintf(stderr, "lockwarden-audit: --follow goes with show\n");
		free(log);
		return 2;
	}
	s.fn = strcmp(cmd, "summary") ? show_one : summary_one;
	hashmap_init(&s.by_resource);
	hashmap_init(&s.by_offender);
	scan_log(&s);
	if (s.fn == summary_one)
		print_summary(&s);
	else {
		hashmap_free(&s.by_resource);
		hashmap_free(&s.by_offender);
	}
	free(log);
	if (s.bad > BAD_SHOWN)
		fprintf(stderr, "lockwarden-audit: and %lu more unreadable records or files\n",
			s.bad - BAD_SHOWN);
	return s.bad ? 1 : 0;
}

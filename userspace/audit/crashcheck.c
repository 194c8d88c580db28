// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auditlog.h"
#include "audit.h"
#include "crashcheck.h"
#include "hashmap.h"
#include "log.h"
#include "util.h"

/* A lease record names at most this many leases (a record is one line). */
#define LEASES_LISTED	1000

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static int64_t int_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/* Every valid record of one segment, in order, to fn; stops when it says so. */
static void each_record(const char *log, const struct audit_segment *seg,
			bool (*fn)(struct json_object *rec, void *arg), void *arg)
{
	struct audit_reader *rd;
	char *path = NULL, *line, *why = NULL;
	size_t len;

	if (auditlog_segment_open(log, seg, &rd, &path) < 0) {
		free(path);
		return;
	}
	while (auditlog_reader_next(rd, &line, &len, &why) == 1) {
		struct audit_rec rec;
		char *bad = NULL;
		bool more;

		if (auditlog_parse(line, len, &rec, &bad) != AUDITLOG_VALID) {
			free(bad);
			auditlog_rec_free(&rec);
			continue;
		}
		more = fn(rec.obj, arg);
		auditlog_rec_free(&rec);
		if (!more)
			break;
	}
	free(why);
	auditlog_reader_close(rd);
	free(path);
}

/* ---- the last record, and where the last lifetime began ---- */

struct scan {
	struct json_object *last;	/* the last record seen */
	bool after_reexec;		/* the record before was "reexec" */
	bool lifetime_start;		/* this segment holds one */
};

/* A "daemon_start" not right after a "reexec" begins a daemon's lifetime. */
static bool scan_one(struct json_object *rec, void *arg)
{
	struct scan *s = arg;
	const char *ev = str_of(rec, "event");

	if (ev && !strcmp(ev, "daemon_start") && !s->after_reexec)
		s->lifetime_start = true;
	s->after_reexec = ev && !strcmp(ev, "reexec");
	json_object_put(s->last);
	s->last = json_object_get(rec);
	return true;
}

/* ---- replaying a lifetime ---- */

struct lease {
	char *key;			/* lockspace '\n' resource */
	struct json_object *rec;	/* its last acquire record */
	pid_t *owners;
	size_t nowners;
};

struct replay {
	struct hashmap leases;
	bool started, after_reexec;
};

static void lease_free(struct lease *l)
{
	json_object_put(l->rec);
	free(l->owners);
	free(l->key);
	free(l);
}

static void leases_clear(struct hashmap *m)
{
	struct hashmap_entry *e, *nx;
	size_t i;

	hashmap_foreach(m, e, nx, i)
		lease_free(hashmap_remove(m, e->key));
}

static bool replay_one(struct json_object *rec, void *arg)
{
	struct replay *r = arg;
	const char *ev = str_of(rec, "event"), *ls = str_of(rec, "lockspace"),
		   *res = str_of(rec, "resource");
	pid_t owner = int_of(rec, "pid");
	struct lease *l;
	char *key;

	if (!ev)
		return true;
	if (!strcmp(ev, "daemon_start") && !r->after_reexec) {
		leases_clear(&r->leases);	/* a new lifetime: the old one's locks died */
		r->started = true;
	}
	r->after_reexec = !strcmp(ev, "reexec");
	if (!r->started || !ls || !res || (strcmp(ev, "lock_acquire") && strcmp(ev, "lock_release")))
		return true;
	key = xasprintf("%s\n%s", ls, res);
	l = hashmap_get(&r->leases, key);
	if (!strcmp(ev, "lock_acquire")) {
		if (!l) {
			l = xcalloc(1, sizeof(*l));
			l->key = key;
			key = NULL;
			hashmap_put(&r->leases, l->key, l);
		}
		json_object_put(l->rec);
		l->rec = json_object_get(rec);
		l->owners = xrealloc(l->owners, (l->nowners + 1) * sizeof(*l->owners));
		l->owners[l->nowners++] = owner;
	} else if (l) {
		for (size_t i = 0; i < l->nowners; i++) {
			if (l->owners[i] == owner) {
				l->owners[i] = l->owners[--l->nowners];
				break;
			}
		}
		if (!l->nowners)
			lease_free(hashmap_remove(&r->leases, l->key));
	}
	free(key);
	return true;
}

static struct json_object *lease_json(const struct lease *l)
{
	struct json_object *o = json_object_new_object(), *owners = json_object_new_array();

	json_object_object_add(o, "resource", json_object_new_string(str_of(l->rec, "resource")));
	json_object_object_add(o, "lockspace", json_object_new_string(str_of(l->rec, "lockspace")));
	if (str_of(l->rec, "path"))
		json_object_object_add(o, "path", json_object_new_string(str_of(l->rec, "path")));
	for (size_t i = 0; i < l->nowners; i++)
		json_object_array_add(owners, json_object_new_int64(l->owners[i]));
	json_object_object_add(o, "owner_pids", owners);
	if (str_of(l->rec, "vm_name"))
		json_object_object_add(o, "vm_name", json_object_new_string(str_of(l->rec, "vm_name")));
	return o;
}

static struct json_object *crashed(struct json_object *last, struct hashmap *leases)
{
	struct json_object *rec = audit_record("daemon_crashed"), *list = json_object_new_array();
	struct hashmap_entry *e, *nx;
	size_t i, n = 0;

	hashmap_foreach(leases, e, nx, i)
		if (n++ < LEASES_LISTED)
			json_object_array_add(list, lease_json(e->value));
	json_object_object_add(rec, "severity", json_object_new_string("critical"));
	json_object_object_add(rec, "previous_last_event",
			       json_object_new_string(str_of(last, "event") ?: "?"));
	json_object_object_add(rec, "previous_last_time",
			       json_object_new_string(str_of(last, "time") ?: "?"));
	json_object_object_add(rec, "leases_lost", json_object_new_int64(leases->count));
	json_object_object_add(rec, "leases", list);
	if (n > LEASES_LISTED)
		json_object_object_add(rec, "leases_truncated", json_object_new_boolean(true));
	log_error("the previous daemon did not stop cleanly (last heard of at %s): the kernel "
		  "dropped the %zu leases it held; the audit log's daemon_crashed record lists them",
		  str_of(last, "time") ?: "?", leases->count);
	return rec;
}

/* The log's last record: from the end of a plain file, cheaply. */
static struct json_object *last_record(const char *log, struct audit_segment *segs, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		struct audit_rec rec;
		struct scan s = { 0 };
		size_t partial;

		if (segs[i].gz) {
			each_record(log, &segs[i], scan_one, &s);
			if (s.last)
				return s.last;
		} else if (auditlog_last_record(segs[i].path, &rec, &partial) == 0) {
			s.last = json_object_get(rec.obj);
			auditlog_rec_free(&rec);
			return s.last;
		}
	}
	return NULL;
}

struct json_object *crashcheck_previous(const char *log)
{
	struct audit_segment *segs = NULL;
	struct json_object *last = NULL, *rec = NULL;
	struct replay r = { .started = false };
	size_t n = 0, from;
	const char *ev;

	if (auditlog_segments(log, &segs, &n) < 0 || !n || !(last = last_record(log, segs, n)))
		goto out;
	ev = str_of(last, "event");
	if (!ev || !strcmp(ev, "daemon_stop") || !strcmp(ev, "reexec") ||
	    !strcmp(ev, "daemon_crashed"))
		goto out;	/* a clean end, or already said */
	/* Newest first, to the segment where the last lifetime began. */
	for (from = n; from-- > 0;) {
		struct scan s = { 0 };

		each_record(log, &segs[from], scan_one, &s);
		json_object_put(s.last);
		if (s.lifetime_start || !from)
			break;
	}
	hashmap_init(&r.leases);
	for (size_t i = from; i < n; i++)
		each_record(log, &segs[i], replay_one, &r);
	rec = crashed(last, &r.leases);
	leases_clear(&r.leases);
	hashmap_free(&r.leases);
out:
	json_object_put(last);
	auditlog_segments_free(segs, n);
	return rec;
}

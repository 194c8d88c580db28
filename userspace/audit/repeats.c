// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdint.h>
#include <stdlib.h>

#include "hashmap.h"
#include "recordfmt.h"
#include "repeats.h"
#include "timefmt.h"
#include "util.h"

/* What a "repeated" record says of the opener and the resource: the
 * first record's own fields. */
static const char *const copied[] = {
	"severity", "op", "source", "pid", "uid", "comm", "exe", "resource", "resource_path", "path",
	"vm_name", "vm_uuid", "policy",
};

/* Openers followed at once. Past it a record is written, not followed:
 * the table never outgrows this, and no record is lost for it. */
#define REPEATS_MAX	1024

struct seen {
	char *key;			/* opener, event, op, severity, resource */
	struct json_object *first;	/* what the count record repeats of the one written */
	uint64_t since;			/* CLOCK_MONOTONIC ns */
	uint64_t count;			/* records folded since */
	uint64_t last_real;		/* the newest folded one, CLOCK_REALTIME ns */
};

struct repeats {
	struct loop *loop;
	struct loop_timer timer;
	uint64_t window_ns;
	repeats_report_fn report;
	void *data;
	struct hashmap seen;
};

/* The opener is its pid with its uid, executable and name: a pid reused
 * within the window by another program is another opener. */
static char *key_of(struct json_object *rec)
{
	return xasprintf("%s %s %s %s\n%s %s %s %s", record_str(rec, "pid"), record_str(rec, "uid"),
			 record_str(rec, "comm"), record_str(rec, "exe"), record_str(rec, "event"),
			 record_str(rec, "op"), record_str(rec, "severity"), record_str(rec, "resource"));
}

/* Only what report_count takes from the first record, not all of it. */
static struct json_object *summary_of(struct json_object *rec)
{
	static const char *const more[] = { "event", "time" };
	struct json_object *first = json_object_new_object(), *v;

	for (size_t i = 0; i < ARRAY_SIZE(more); i++)
		if (json_object_object_get_ex(rec, more[i], &v))
			json_object_object_add(first, more[i], json_object_get(v));
	for (size_t i = 0; i < ARRAY_SIZE(copied); i++)
		if (json_object_object_get_ex(rec, copied[i], &v))
			json_object_object_add(first, copied[i], json_object_get(v));
	return first;
}

static void report_count(struct repeats *r, struct seen *s)
{
	struct json_object *rec = json_object_new_object(), *v;
	char last[TIME_RFC3339_LEN], *msg;

	time_format(s->last_real, last);
	json_object_object_add(rec, "event", json_object_new_string("repeated"));
	json_object_object_add(rec, "of", json_object_new_string(record_str(s->first, "event")));
	json_object_object_add(rec, "count", json_object_new_uint64(s->count));
	json_object_object_add(rec, "first", json_object_new_string(record_str(s->first, "time")));
	json_object_object_add(rec, "last", json_object_new_string(last));
	for (size_t i = 0; i < ARRAY_SIZE(copied); i++)
		if (json_object_object_get_ex(s->first, copied[i], &v))
			json_object_object_add(rec, copied[i], json_object_get(v));
	msg = xasprintf("%llu more %s records like the one at %s, not written one by one",
			(unsigned long long)s->count, record_str(s->first, "event"),
			record_str(s->first, "time"));
	json_object_object_add(rec, "message", json_object_new_string(msg));
	free(msg);
	r->report(r->data, rec);
}

static void drop(struct repeats *r, struct seen *s)
{
	hashmap_remove(&r->seen, s->key);
	json_object_put(s->first);
	free(s->key);
	free(s);
}

static void on_timer(struct loop_timer *t);

/* Close every window older than `before` (all: UINT64_MAX); arm for the next. */
static void expire(struct repeats *r, uint64_t before)
{
	struct hashmap_entry *e, *nx;
	uint64_t next = UINT64_MAX;
	size_t i;

	hashmap_foreach(&r->seen, e, nx, i) {
		struct seen *s = e->value;

		if (s->since + r->window_ns > before) {
			if (s->since < next)
				next = s->since;
			continue;
		}
		if (s->count)
			report_count(r, s);
		drop(r, s);
	}
	if (next != UINT64_MAX)
		loop_timer_arm(r->loop, &r->timer,
			       (next + r->window_ns - before) / 1000000 + 1, on_timer);
}

static void on_timer(struct loop_timer *t)
{
	struct repeats *r = container_of(t, struct repeats, timer);

	expire(r, now_mono_ns());
}

struct repeats *repeats_new(struct loop *loop, unsigned int window_ms, repeats_report_fn report,
			    void *data)
{
	struct repeats *r = xcalloc(1, sizeof(*r));

	r->loop = loop;
	r->window_ns = window_ms * 1000000ull;
	r->report = report;
	r->data = data;
	hashmap_init(&r->seen);
	return r;
}

bool repeats_admit(struct repeats *r, struct json_object *rec)
{
	char *key;
	struct seen *s;

	if (!r->window_ns)
		return true;
	key = key_of(rec);
	s = hashmap_get(&r->seen, key);
	if (s) {
		free(key);
		s->count++;
		s->last_real = now_real_ns();
		return false;
	}
	if (r->seen.count >= REPEATS_MAX) {
		free(key);
		return true;
	}
	s = xcalloc(1, sizeof(*s));
	s->key = key;
	s->first = summary_of(rec);
	s->since = now_mono_ns();
	hashmap_put(&r->seen, s->key, s);
	if (!r->timer.armed)
		loop_timer_arm(r->loop, &r->timer, r->window_ns / 1000000, on_timer);
	return true;
}

void repeats_flush(struct repeats *r)
{
	if (!r)
		return;
	loop_timer_disarm(r->loop, &r->timer);
	expire(r, UINT64_MAX);
}

void repeats_free(struct repeats *r)
{
	if (!r)
		return;
	repeats_flush(r);
	hashmap_free(&r->seen);
	free(r);
}

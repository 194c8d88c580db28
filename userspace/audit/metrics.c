// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

/*
 * Each metric is one value of the status object, by dotted path. Where
 * the value is an object, each member is a sample labelled with its name
 * (and `member`, when set, picks the value inside each; a string there is
 * a state: labelled with it too, value 1). Paths that are absent (a
 * monitor not built in) give no metric.
 */
static const struct metric {
	const char *path, *name, *type, *help, *label, *member;
} table[] = {
	{ "start_time_seconds", "lockwarden_start_time_seconds", "gauge",
	  "When the daemon started, in seconds since the epoch" },
	{ "clients", "lockwarden_clients", "gauge", "Connected clients, by socket", "socket" },
	{ "locks.held", "lockwarden_locks_held", "gauge", "Resources locked" },
	{ "locks.unrestored", "lockwarden_locks_unrestored", "gauge",
	  "Inherited locks held but not restored by a re-exec" },
	{ "locks.lockspaces", "lockwarden_lockspaces", "gauge", "Lockspaces" },
	{ "guard.guarded_inodes", "lockwarden_guarded_inodes", "gauge",
	  "Locked files watched by the monitors" },
	{ "guard.counters.violations", "lockwarden_violations_total", "counter",
	  "Opens of a locked image by a process that is not its owner, by severity", "severity" },
	{ "guard.counters.warnings", "lockwarden_warnings_total", "counter",
	  "Read-only opens by non-owners recorded as warnings, by severity", "severity" },
	{ "guard.counters.denials", "lockwarden_denials_total", "counter",
	  "Opens refused by the guard policy, by severity", "severity" },
	{ "guard.counters.management", "lockwarden_management_opens_total", "counter",
	  "Opens by allowlisted management helpers" },
	{ "guard.counters.lost_events", "lockwarden_monitor_events_lost_total", "counter",
	  "Monitor events lost before the daemon could read them" },
	{ "guard.counters.fanotify_timeouts", "lockwarden_fanotify_answer_timeouts_total",
	  "counter", "fanotify permission events answered by the timeout default" },
	{ "guard.monitors", "lockwarden_monitor_state", "gauge",
	  "Each monitor's state (attached, active, detached, off, failed): 1 for the current one",
	  "monitor", "state" },
	{ "audit.records", "lockwarden_audit_records_total", "counter",
	  "Records written to the audit log" },
	{ "audit.last_seq", "lockwarden_audit_last_seq", "gauge",
	  "Sequence number of the newest record on disk" },
	{ "audit.lost", "lockwarden_audit_records_lost_total", "counter",
	  "Records dropped because the audit queue was full" },
	{ "audit.write_errors", "lockwarden_audit_write_errors_total", "counter",
	  "Failed attempts to open or write the audit log" },
	{ "audit.writable", "lockwarden_audit_writable", "gauge",
	  "1 while the audit log is being written, 0 while it fails" },
	{ "audit.rotations", "lockwarden_audit_rotations_total", "counter",
	  "Audit log segments rotated" },
	{ "alerts.raised", "lockwarden_alerts_total", "counter", "Critical events alerted" },
	{ "alerts.hook_runs", "lockwarden_alert_hook_runs_total", "counter",
	  "Alert hook commands started" },
	{ "alerts.hook_failures", "lockwarden_alert_hook_failures_total", "counter",
	  "Alert hook commands that could not start, failed or were killed" },
	{ "alerts.hook_timeouts", "lockwarden_alert_hook_timeouts_total", "counter",
	  "Alert hook commands killed for running too long" },
	{ "alerts.hook_dropped", "lockwarden_alert_hook_dropped_total", "counter",
	  "Alerts not handed to the hook: over the rate limit or too many running" },
};

struct metrics {
	char *path, *tmp;
	unsigned int interval_s;
	struct loop *loop;
	struct loop_timer timer;
	metrics_collect_fn collect;
	void *data;
	bool failing;
};

static struct json_object *lookup(struct json_object *o, const char *path)
{
	char *copy = xstrdup(path), *save = NULL;

	for (char *k = strtok_r(copy, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(o, k, &o))
			o = NULL;
	free(copy);
	return o;
}

static bool number(struct json_object *v, double *out)
{
	switch (json_object_get_type(v)) {
	case json_type_int:
	case json_type_double:
	case json_type_boolean:
		*out = json_object_get_double(v);
		return true;
	default:
		return false;
	}
}

/* One sample of m; the first of a metric brings its HELP and TYPE. */
static void sample(FILE *f, const struct metric *m, const char *lv, const char *state,
		   double v, bool first)
{
	if (first)
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
	if (state)
		fprintf(f, "%s{%s=\"%s\",%s=\"%s\"} %.17g\n", m->name, m->label, lv, m->member,
			state, v);
	else if (lv)
		fprintf(f, "%s{%s=\"%s\"} %.17g\n", m->name, m->label, lv, v);
	else
		fprintf(f, "%s %.17g\n", m->name, v);
}

char *metrics_render(struct json_object *status)
{
	struct json_object *v, *version, *seq;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	double n;

	json_object_object_get_ex(status, "version", &version);
	fprintf(f, "# HELP lockwarden_info The daemon's version\n# TYPE lockwarden_info gauge\n");
	fprintf(f, "lockwarden_info{version=\"%s\"} 1\n", json_object_get_string(version));
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		const struct metric *m = &table[i];

		if (!(v = lookup(status, m->path)))
			continue;
		if (m->label ? !json_object_is_type(v, json_type_object) : !number(v, &n))
			continue;
		if (!m->label) {
			sample(f, m, NULL, NULL, n, true);
			continue;
		}
		bool first = true;

		json_object_object_foreach(v, key, child) {
			struct json_object *val = child;

			if (m->member && !json_object_object_get_ex(child, m->member, &val))
				continue;
			if (m->member && json_object_is_type(val, json_type_string))
				sample(f, m, key, json_object_get_string(val), 1, first);
			else if (number(val, &n))
				sample(f, m, key, NULL, n, first);
			else
				continue;
			first = false;
		}
	}
	/* The audit chain's tip, off the log's disk: a label, as a hash is no
	 * number; lockwarden-audit verify --metrics checks the log against it. */
	if ((v = lookup(status, "audit.tip_hash")) && (seq = lookup(status, "audit.last_seq")) &&
	    json_object_get_string_len(v))
		fprintf(f, "# HELP lockwarden_audit_tip Newest record of the audit log: its hash, and"
			" its sequence number as the value\n# TYPE lockwarden_audit_tip gauge\n"
			"lockwarden_audit_tip{hash=\"%s\"} %" PRIu64 "\n", json_object_get_string(v),
			(uint64_t)json_object_get_uint64(seq));
	fclose(f);
	return text;
}

/* In the file's directory, never through a symlink: the directory may be
 * one others can write (a textfile collector's). */
static void write_file(struct metrics *m)
{
	struct json_object *st = m->collect(m->data);
	char *text = metrics_render(st);
	const char *base;
	int dfd, fd = -1, rc = 0;

	json_object_put(st);
	dfd = open_dir_of(m->path, &base);
	if (dfd < 0)
		rc = dfd;
	else if ((fd = create_tmp(dfd, m->tmp, 0644)) < 0)
		rc = fd;
	else if ((rc = write_all(fd, text, strlen(text))) == 0 &&
		 renameat(dfd, m->tmp, dfd, base) < 0)
		rc = -errno;
	if (rc < 0) {
		if (!m->failing)
			log_warn("cannot write the metrics file %s: %s (said once)", m->path,
				 strerror(-rc));
		m->failing = true;
		if (fd >= 0)
			unlinkat(dfd, m->tmp, 0);
	} else {
		m->failing = false;
	}
	safe_close(fd);
	safe_close(dfd);
	free(text);
}

static void tick(struct loop_timer *t)
{
	struct metrics *m = container_of(t, struct metrics, timer);

	write_file(m);
	loop_timer_arm(m->loop, &m->timer, m->interval_s * 1000ull, tick);
}

int metrics_new(const char *path, unsigned int interval_s, struct loop *loop,
		metrics_collect_fn collect, void *data, struct metrics **out)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	const char *slash = strrchr(path, '/');

	m->path = xstrdup(path);
	/* Not *.prom: the collector must not read it half-written. In the
	 * file's directory, by name. */
	m->tmp = xasprintf("%s.tmp", slash ? slash + 1 : path);
	m->interval_s = interval_s;
	m->loop = loop;
	m->collect = collect;
	m->data = data;
	tick(&m->timer);
	*out = m;
	return 0;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	loop_timer_disarm(m->loop, &m->timer);
	write_file(m);
	free(m->path);
	free(m->tmp);
	free(m);
}

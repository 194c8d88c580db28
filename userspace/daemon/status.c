// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "status.h"
#include "timefmt.h"
#include "util.h"

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static struct json_object *audit_status(struct daemon *d)
{
	struct json_object *o = json_object_new_object();
	struct audit_stats st;

	audit_get_stats(d->audit, &st);
	json_object_object_add(o, "path", json_object_new_string(d->cfg.audit_log));
	json_object_object_add(o, "fsync", json_object_new_string(d->cfg.audit_fsync));
	add_u64(o, "records", st.written);
	add_u64(o, "last_seq", st.last_seq);
	json_object_object_add(o, "tip_hash", json_object_new_string(st.tip_hash));
	add_u64(o, "lost", st.lost);
	add_u64(o, "write_errors", st.write_errors);
	add_u64(o, "rotations", st.rotations);
	add_u64(o, "segments_removed", st.segments_removed);
	add_u64(o, "compress_errors", st.compress_errors);
	json_object_object_add(o, "writable", json_object_new_boolean(!st.error));
	if (st.error)
		json_object_object_add(o, "error", json_object_new_string(strerror(st.error)));
	return o;
}

static struct json_object *alerts_status(struct daemon *d)
{
	struct json_object *o = json_object_new_object();
	const char *hook = alerts_hook(d->alerts);
	struct alert_stats st;

	alerts_get_stats(d->alerts, &st);
	json_object_object_add(o, "hook", hook ? json_object_new_string(hook) : NULL);
	add_u64(o, "raised", st.raised);
	add_u64(o, "hook_runs", st.hook_runs);
	add_u64(o, "hook_failures", st.hook_failures);
	add_u64(o, "hook_timeouts", st.hook_timeouts);
	add_u64(o, "hook_dropped", st.hook_dropped);
	add_u64(o, "hooks_running", st.hooks_running);
	return o;
}

/* Inherited locks held but not restored: "fd N PATH: why" each. */
static struct json_object *orphans_status(struct daemon *d)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < d->spaces.held.n; i++) {
		const struct held_fd *h = &d->spaces.held.v[i];
		char *s;

		if (!h->why)
			continue;
		s = xasprintf("fd %d %s (inode %lu): %s", h->fd, h->path, (unsigned long)h->ino,
			      h->why);
		json_object_array_add(a, json_object_new_string(s));
		free(s);
	}
	return a;
}

struct json_object *daemon_status(struct daemon *d)
{
	struct json_object *st = json_object_new_object(), *o;
	uint64_t now = now_real_ns();
	char started[TIME_RFC3339_LEN];

	time_format(d->start_time, started);
	json_object_object_add(st, "version", json_object_new_string(LW_VERSION));
	json_object_object_add(st, "pid", json_object_new_int(getpid()));
	json_object_object_add(st, "started", json_object_new_string(started));
	add_u64(st, "start_time_seconds", d->start_time / 1000000000ull);
	add_u64(st, "uptime_seconds", (now - d->start_time) / 1000000000ull);

	o = json_object_new_object();
	json_object_object_add(o, "lock", json_object_new_string(d->paths.sock[CLIENT_LOCK]));
	json_object_object_add(o, "admin", json_object_new_string(d->paths.sock[CLIENT_ADMIN]));
	json_object_object_add(st, "sockets", o);

	o = json_object_new_object();
	add_u64(o, "lock", clients_count(&d->clients, CLIENT_LOCK));
	add_u64(o, "admin", clients_count(&d->clients, CLIENT_ADMIN));
	json_object_object_add(st, "clients", o);

	o = json_object_new_object();
	add_u64(o, "held", d->spaces.nresources);
	add_u64(o, "lockspaces", lockspaces_count(&d->spaces));
	add_u64(o, "unrestored", d->spaces.held.norphans);
	json_object_object_add(st, "locks", o);
	if (d->spaces.held.norphans)
		json_object_object_add(st, "unrestored_locks", orphans_status(d));
	if ((o = leasecheck_lost(d->leasecheck)))
		json_object_object_add(st, "lost_locks", o);
	if (d->config_error)
		json_object_object_add(st, "config_error", json_object_new_string(d->config_error));

	json_object_object_add(st, "audit", audit_status(d));
	json_object_object_add(st, "alerts", alerts_status(d));
	json_object_object_add(st, "guard", guard_status(d->guard));
	return st;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "clients.h"
#include "events.h"
#include "jsonw.h"
#include "timefmt.h"
#include "util.h"

/*
 * The daemon's own records come with every lock call: they are printed as
 * text directly (jsonw), as a tree of json-c objects for each would cost
 * more than the lock itself.
 */
struct note {
	struct buf text;
	struct jsonw w;
};

static void note_begin(struct note *n, const char *event, const char *severity)
{
	char ts[TIME_RFC3339_LEN];

	memset(n, 0, sizeof(*n));
	jw_init(&n->w, &n->text);
	time_format(now_real_ns(), ts);
	jw_object(&n->w, NULL);
	jw_str(&n->w, "event", event);
	jw_str(&n->w, "time", ts);
	jw_str(&n->w, "severity", severity);
}

static void note_end(struct audit *a, struct note *n)
{
	jw_end(&n->w);
	audit_write_text(a, (const char *)n->text.data, n->text.len, false);
	buf_free(&n->text);
}

/* Who: the connection, and the lock owner it registered, if any. */
static void note_client(struct note *n, const struct client *c)
{
	char uuid[UUID_STR_LEN];

	jw_int(&n->w, "client", c->id);
	if (!c->owner_id) {
		jw_int(&n->w, "pid", c->pid);
		return;
	}
	uuid_format(c->owner_uuid, uuid);
	jw_int(&n->w, "pid", c->owner_pid);
	jw_str(&n->w, "vm_name", c->owner_name ? c->owner_name : "");
	jw_str(&n->w, "vm_uuid", uuid);
}

void events_lock(struct audit *a, const struct client *c, const char *dir,
		 const char *name, enum lock_event ev, bool shared)
{
	static const char *const names[] = {
		[LOCK_EV_ACQUIRE] = "lock_acquire",
		[LOCK_EV_RELEASE] = "lock_release",
		[LOCK_EV_BUSY] = "lock_busy",
		[LOCK_EV_DROPPED] = "lock_release",
	};
	struct note n;

	note_begin(&n, names[ev], "info");
	jw_str(&n.w, "resource", name);
	jw_str(&n.w, "lockspace", dir ? dir : "");
	if (dir) {
		char *path = xasprintf("%s/%s", dir, name);

		jw_str(&n.w, "path", path);
		free(path);
	} else {
		jw_str(&n.w, "path", name);
	}
	if (ev == LOCK_EV_ACQUIRE || ev == LOCK_EV_BUSY)
		jw_str(&n.w, "mode", shared ? "shared" : "exclusive");
	if (ev == LOCK_EV_DROPPED)
		jw_str(&n.w, "reason", "owner disconnected");
	note_client(&n, c);
	note_end(a, &n);
}

void events_client(struct audit *a, const struct client *c, enum client_event ev,
		   int released)
{
	static const char *const names[] = {
		[CLIENT_EV_CONNECT] = "client_connect",
		[CLIENT_EV_REFUSED] = "client_refused",
		[CLIENT_EV_DISCONNECT] = "client_disconnect",
	};
	struct note n;

	/* A refused peer tried a socket that is not its own; an owner gone
	 * with leases in hand is killed (see reaper.h). */
	note_begin(&n, names[ev], ev == CLIENT_EV_REFUSED || released > 0 ? "medium" : "info");
	jw_str(&n.w, "socket", client_kind_name[c->kind]);
	note_client(&n, c);
	if (c->owner_id && c->owner_pid != c->pid)
		jw_int(&n.w, "client_pid", c->pid);
	jw_int(&n.w, "uid", c->uid);
	jw_int(&n.w, "gid", c->gid);
	if (released > 0)
		jw_int(&n.w, "released", released);
	note_end(a, &n);
}

void events_daemon(struct audit *a, const char *event, const struct daemon_counts *counts,
		   const char *why)
{
	struct note n;

	note_begin(&n, event, "info");
	jw_str(&n.w, "version", LW_VERSION);
	jw_int(&n.w, "daemon_pid", getpid());
	jw_int(&n.w, "locks", counts->locks);
	if (counts->unrestored)
		jw_int(&n.w, "unrestored_locks", counts->unrestored);
	jw_int(&n.w, "clients", counts->clients);
	if (why)
		jw_str(&n.w, "reason", why);
	note_end(a, &n);
}

/* Critical, so the alerts say it too: an operator must look. */
struct json_object *events_unrestored(const char *path, int fd, uint64_t ino, const char *why)
{
	struct json_object *rec = audit_record("lock_unrestored");

	json_object_object_add(rec, "severity", json_object_new_string("critical"));
	json_object_object_add(rec, "path", json_object_new_string(path));
	json_object_object_add(rec, "fd", json_object_new_int(fd));
	json_object_object_add(rec, "inode", json_object_new_uint64(ino));
	json_object_object_add(rec, "reason", json_object_new_string(why));
	return rec;
}

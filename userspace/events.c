// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "events.h"
#include "util.h"

static const char *const kind_name[CLIENT_KINDS] = { "lock", "admin" };

static void add_str(struct json_object *rec, const char *key, const char *v)
{
	json_object_object_add(rec, key, json_object_new_string(v));
}

static void add_int(struct json_object *rec, const char *key, int64_t v)
{
	json_object_object_add(rec, key, json_object_new_int64(v));
}

/* Who: the connection, and the lock owner it registered, if any. */
static void add_client(struct json_object *rec, const struct client *c)
{
	char uuid[UUID_STR_LEN];

	add_int(rec, "client", c->id);
	if (!c->owner_id) {
		add_int(rec, "pid", c->pid);
		return;
	}
	uuid_format(c->owner_uuid, uuid);
	add_int(rec, "pid", c->owner_pid);
	add_str(rec, "vm_name", c->owner_name ? c->owner_name : "");
	add_str(rec, "vm_uuid", uuid);
}

void events_lock(struct daemon *d, const struct client *c, struct lockspace *ls,
		 const char *name, enum lock_event ev, uint32_t flags)
{
	static const char *const names[] = {
		[LOCK_EV_ACQUIRE] = "lock_acquire",
		[LOCK_EV_RELEASE] = "lock_release",
		[LOCK_EV_BUSY] = "lock_busy",
		[LOCK_EV_DROPPED] = "lock_release",
	};
	struct json_object *rec = audit_record(names[ev]);
	const char *dir = lockspace_dir(ls);

	add_str(rec, "severity", "info");
	add_str(rec, "resource", name);
	add_str(rec, "lockspace", dir ? dir : "");
	if (dir) {
		char *path = xasprintf("%s/%s", dir, name);

		add_str(rec, "path", path);
		free(path);
	} else {
		add_str(rec, "path", name);
	}
	if (ev == LOCK_EV_ACQUIRE || ev == LOCK_EV_BUSY)
		add_str(rec, "mode", flags & LS_SHARED ? "shared" : "exclusive");
	if (ev == LOCK_EV_DROPPED)
		add_str(rec, "reason", "owner disconnected");
	add_client(rec, c);
	daemon_report(d, rec);
}

struct gone {
	struct daemon *d;
	const struct client *c;
};

static int drop_one(struct lockspace *ls, struct resource *res, void *arg)
{
	struct gone *g = arg;

	for (size_t i = 0; i < res->nowners; i++)
		if (res->owners[i] == g->c->owner_pid)
			events_lock(g->d, g->c, ls, res->name, LOCK_EV_DROPPED, res->flags);
	return 0;
}

void events_owner_gone(struct daemon *d, const struct client *c)
{
	struct gone g = { d, c };

	lockspace_foreach(d->default_ls, drop_one, &g);
	for (size_t i = 0; i < d->nspaces; i++)
		lockspace_foreach(d->spaces[i], drop_one, &g);
}

void events_client(struct daemon *d, const struct client *c, enum client_event ev,
		   int released)
{
	static const char *const names[] = {
		[CLIENT_EV_CONNECT] = "client_connect",
		[CLIENT_EV_REFUSED] = "client_refused",
		[CLIENT_EV_DISCONNECT] = "client_disconnect",
	};
	struct json_object *rec = audit_record(names[ev]);

	/* A refused peer tried a socket that is not its own; an owner gone
	 * with leases in hand is killed (see reaper.h). */
	add_str(rec, "severity", ev == CLIENT_EV_REFUSED || released > 0 ? "medium" : "info");
	add_str(rec, "socket", kind_name[c->kind]);
	add_client(rec, c);
	if (c->owner_id && c->owner_pid != c->pid)
		add_int(rec, "client_pid", c->pid);
	add_int(rec, "uid", c->uid);
	add_int(rec, "gid", c->gid);
	if (released > 0)
		add_int(rec, "released", released);
	daemon_report(d, rec);
}

void events_daemon(struct daemon *d, const char *event)
{
	struct json_object *rec = audit_record(event);

	add_str(rec, "severity", "info");
	add_str(rec, "version", LW_VERSION);
	add_int(rec, "daemon_pid", getpid());
	add_int(rec, "locks", d->nresources);
	add_int(rec, "clients", clients_count(&d->clients, CLIENT_LOCK));
	daemon_report(d, rec);
}

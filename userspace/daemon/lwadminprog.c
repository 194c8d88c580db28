// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * lockwarden's admin program (lwadmin_protocol.h): what lockwardenctl asks
 * the daemon. Each reply that describes something is a JSON document in
 * one XDR string.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "hashmap.h"
#include "lwadmin_protocol.h"
#include "rpcserver.h"
#include "timefmt.h"
#include "util.h"

#define JSON_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static void put_json(struct buf *out, struct json_object *doc)
{
	xdr_put_string(out, json_object_to_json_string_ext(doc, JSON_FLAGS));
	json_object_put(doc);
}

static int proc_status(struct daemon *d, struct client *c, struct xdr_in *in,
		       struct buf *out, struct lw_err *err)
{
	put_json(out, daemon_status(d));
	return 0;
}

/* ---- locks ---- */

struct lock_walk {
	struct json_object *list;
	struct hashmap owners;		/* "pid" -> the client that registered it */
};

static struct json_object *owner_json(struct lock_walk *w, pid_t pid)
{
	struct json_object *o = json_object_new_object();
	char key[16], uuid[UUID_STR_LEN];
	const struct client *c;

	snprintf(key, sizeof(key), "%d", pid);
	json_object_object_add(o, "pid", json_object_new_int(pid));
	if ((c = hashmap_get(&w->owners, key))) {
		uuid_format(c->owner_uuid, uuid);
		json_object_object_add(o, "vm_name", json_object_new_string(c->owner_name ?
				       c->owner_name : ""));
		json_object_object_add(o, "vm_uuid", json_object_new_string(uuid));
	}
	return o;
}

static int add_lock(struct lockspace *ls, struct resource *res, void *arg)
{
	struct lock_walk *w = arg;
	struct json_object *o = json_object_new_object(), *owners = json_object_new_array();
	const char *dir = lockspace_dir(ls);

	json_object_object_add(o, "resource", json_object_new_string(res->name));
	json_object_object_add(o, "lockspace", json_object_new_string(dir ? dir : ""));
	json_object_object_add(o, "path", json_object_new_string(res->path));
	json_object_object_add(o, "mode", json_object_new_string(res->flags & LS_SHARED ?
			       "shared" : "exclusive"));
	if (res->posix)
		json_object_object_add(o, "adopted", json_object_new_boolean(true));
	for (size_t i = 0; i < res->nowners; i++)
		json_object_array_add(owners, owner_json(w, res->owners[i]));
	json_object_object_add(o, "owners", owners);
	json_object_array_add(w->list, o);
	return 0;
}

static int proc_locks(struct daemon *d, struct client *c, struct xdr_in *in,
		      struct buf *out, struct lw_err *err)
{
	struct lock_walk w = { .list = json_object_new_array() };
	struct client *it;
	char (*keys)[16];
	size_t n = 0;

	/* Index the registered owners: one look-up per lock owner, not a scan. */
	keys = xcalloc(clients_count(&d->clients, CLIENT_LOCK) + 1, sizeof(*keys));
	hashmap_init(&w.owners);
	clients_foreach(&d->clients, it) {
		if (it->kind != CLIENT_LOCK || !it->owner_id)
			continue;
		snprintf(keys[n], sizeof(keys[n]), "%d", it->owner_pid);
		/* The owner's own connection (the VM's) over its helpers'. */
		if (!hashmap_get(&w.owners, keys[n]) || it->pid == it->owner_pid) {
			hashmap_remove(&w.owners, keys[n]);
			hashmap_put(&w.owners, keys[n++], it);
		}
	}
	lockspaces_foreach_resource(&d->spaces, add_lock, &w);
	hashmap_free(&w.owners);
	free(keys);
	put_json(out, w.list);
	return 0;
}

/* ---- clients ---- */

static int proc_clients(struct daemon *d, struct client *c, struct xdr_in *in,
			struct buf *out, struct lw_err *err)
{
	struct json_object *list = json_object_new_array();
	char since[TIME_RFC3339_LEN], uuid[UUID_STR_LEN];
	struct client *it;

	clients_foreach(&d->clients, it) {
		struct json_object *o = json_object_new_object();

		time_format(it->connect_time, since);
		json_object_object_add(o, "id", json_object_new_uint64(it->id));
		json_object_object_add(o, "socket", json_object_new_string(client_kind_name[it->kind]));
		json_object_object_add(o, "pid", json_object_new_int(it->pid));
		json_object_object_add(o, "uid", json_object_new_int(it->uid));
		json_object_object_add(o, "gid", json_object_new_int(it->gid));
		json_object_object_add(o, "connected", json_object_new_string(since));
		if (it->owner_id) {
			uuid_format(it->owner_uuid, uuid);
			json_object_object_add(o, "owner_pid", json_object_new_int(it->owner_pid));
			json_object_object_add(o, "vm_name", json_object_new_string(
					       it->owner_name ? it->owner_name : ""));
			json_object_object_add(o, "vm_uuid", json_object_new_string(uuid));
			json_object_object_add(o, "restricted",
					       json_object_new_boolean(it->restricted));
		}
		json_object_array_add(list, o);
	}
	put_json(out, list);
	return 0;
}

static int proc_violations(struct daemon *d, struct client *c, struct xdr_in *in,
			   struct buf *out, struct lw_err *err)
{
	uint64_t since;
	uint32_t limit;

	if (xdr_get_u64(in, &since) || xdr_get_u32(in, &limit))
		return -EBADMSG;
	put_json(out, recent_list(&d->recent, since, limit));
	return 0;
}

static int proc_reexec(struct daemon *d, struct client *c, struct xdr_in *in,
		       struct buf *out, struct lw_err *err)
{
	return daemon_request_reexec(d, "lockwardenctl reexec", err);
}

static int proc_test_alert(struct daemon *d, struct client *c, struct xdr_in *in,
			   struct buf *out, struct lw_err *err)
{
	struct json_object *rec = audit_record("alert_test");
	char *msg;

	msg = xasprintf("a test alert, asked for by admin client %llu (pid %d, uid %u)",
			(unsigned long long)c->id, c->pid, (unsigned int)c->uid);
	json_object_object_add(rec, "severity", json_object_new_string("critical"));
	json_object_object_add(rec, "message", json_object_new_string(msg));
	free(msg);
	daemon_report(d, rec);
	return 0;
}

static const rpc_proc_fn lwadmin_procs[] = {
	[LWADMIN_PROC_STATUS]		= proc_status,
	[LWADMIN_PROC_LOCKS]		= proc_locks,
	[LWADMIN_PROC_CLIENTS]		= proc_clients,
	[LWADMIN_PROC_VIOLATIONS]	= proc_violations,
	[LWADMIN_PROC_REEXEC]		= proc_reexec,
	[LWADMIN_PROC_TEST_ALERT]	= proc_test_alert,
};

const struct rpc_program lwadmin_program = {
	.prog = LWADMIN_PROGRAM,
	.vers = LWADMIN_PROGRAM_VERSION,
	.kind = CLIENT_ADMIN,
	.procs = lwadmin_procs,
	.nprocs = ARRAY_SIZE(lwadmin_procs),
};

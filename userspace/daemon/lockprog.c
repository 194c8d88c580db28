// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The lock program (0xEA7BEEF v1), the procedures lockd.so calls. Checks
 * run in the order of libvirt 9.0's lock_daemon_dispatch.c and fail with
 * its messages, so a client sees exactly what virtlockd would tell it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "events.h"
#include "log.h"
#include "rpcserver.h"
#include "util.h"

/* The arguments of every procedure but REGISTER and RESTRICT. */
struct lock_args {
	char *path;		/* lockspace directory; "" the default one */
	char *name;
	uint32_t flags;
};

static int get_str(struct xdr_in *in, char **s)
{
	return xdr_get_string(in, LOCK_STRING_MAX, s);
}

static int get_lock_args(struct xdr_in *in, bool has_name, bool has_flags, struct lock_args *a)
{
	memset(a, 0, sizeof(*a));
	if (get_str(in, &a->path) ||
	    (has_name && get_str(in, &a->name)) ||
	    (has_flags && xdr_get_u32(in, &a->flags)))
		return -EBADMSG;
	return 0;
}

static void free_lock_args(struct lock_args *a)
{
	free(a->path);
	free(a->name);
}

static int check_flags(struct lw_err *err, const char *func, uint32_t flags, uint32_t allowed)
{
	if (flags & ~allowed) {
		lw_err_flags(err, ERR_FROM_RPC, func, flags & ~allowed);
		return -EINVAL;
	}
	return 0;
}

static int check_restricted(const struct client *c, struct lw_err *err)
{
	if (c->restricted) {
		lw_err_set(err, ERR_FROM_RPC, ERR_OPERATION_DENIED, "%s",
			   "lock manager connection has been restricted");
		return -EPERM;
	}
	return 0;
}

static int check_registered(const struct client *c, struct lw_err *err)
{
	if (!c->owner_id) {
		lw_err_set(err, ERR_FROM_RPC, ERR_OPERATION_INVALID, "%s",
			   "lock owner details have not been registered");
		return -EPERM;
	}
	return 0;
}

/* The common prologue: flags, restriction, registration, lockspace. */
static int prologue(struct daemon *d, struct client *c, const char *func,
		    const struct lock_args *a, uint32_t allowed,
		    struct lockspace **ls, struct lw_err *err)
{
	int rc;

	if ((rc = check_flags(err, func, a->flags, allowed)) ||
	    (rc = check_restricted(c, err)) ||
	    (rc = check_registered(c, err)))
		return rc;
	if (!(*ls = lockspaces_find(&d->spaces, a->path))) {
		lw_err_set(err, ERR_FROM_RPC, ERR_INTERNAL_ERROR,
			   "Lockspace for path %s does not exist", a->path);
		return -ENOENT;
	}
	return 0;
}

static int proc_register(struct daemon *d, struct client *c, struct xdr_in *in,
			 struct buf *out, struct lw_err *err)
{
	uint8_t uuid[LOCK_UUID_LEN];
	uint32_t id, pid, flags;
	char *name = NULL;
	int rc, taken;

	if (xdr_get_fixed(in, uuid, sizeof(uuid)) || get_str(in, &name) ||
	    xdr_get_u32(in, &id) || xdr_get_u32(in, &pid) || xdr_get_u32(in, &flags)) {
		free(name);
		return -EBADMSG;
	}
	if ((rc = check_flags(err, "virLockSpaceProtocolDispatchRegister", flags, 0)) ||
	    (rc = check_restricted(c, err)))
		goto out;
	if (!id) {
		lw_err_set(err, ERR_FROM_RPC, ERR_OPERATION_INVALID, "%s",
			   "lock owner details have not been registered");
		rc = -EINVAL;
		goto out;
	}
	if (d->guard)
		guard_client_owner(d->guard, c, false);
	free(c->owner_name);
	c->owner_name = name;
	name = NULL;
	memcpy(c->owner_uuid, uuid, sizeof(uuid));
	c->owner_id = id;
	c->owner_pid = (pid_t)pid;
	/* Now, while pid is still the owner's: a later one may get it. As
	 * virtlockd, a pid that names no process is accepted all the same. */
	taken = ownerid_take(&c->ident, c->src.fd, c->pid, c->owner_pid,
			     clients_owner_ident(&d->clients, c->owner_pid));
	if (taken < 0)
		log_debug("client %llu: owner pid %u: %s; no process will be taken for that owner",
			  (unsigned long long)c->id, pid, strerror(-taken));
	client_index_owner(c);
	if (d->guard)
		guard_client_owner(d->guard, c, true);
	log_debug("client %llu: owner name=%s id=%u pid=%u",
		  (unsigned long long)c->id, c->owner_name, id, pid);
out:
	free(name);
	return rc;
}

static int proc_restrict(struct daemon *d, struct client *c, struct xdr_in *in,
			 struct buf *out, struct lw_err *err)
{
	uint32_t flags;
	int rc;

	if (xdr_get_u32(in, &flags))
		return -EBADMSG;
	if ((rc = check_flags(err, "virLockSpaceProtocolDispatchRestrict", flags, 0)) ||
	    (rc = check_restricted(c, err)) ||
	    (rc = check_registered(c, err)))
		return rc;
	c->restricted = true;
	return 0;
}

static int proc_new(struct daemon *d, struct client *c, struct xdr_in *in,
		    struct buf *out, struct lw_err *err)
{
	struct lock_args a;
	int rc;

	if (get_lock_args(in, false, true, &a))
		goto bad;
	if ((rc = check_flags(err, "virLockSpaceProtocolDispatchNew", a.flags, 0)) ||
	    (rc = check_restricted(c, err)) ||
	    (rc = check_registered(c, err)))
		goto out;
	if (!*a.path) {
		lw_err_set(err, ERR_FROM_RPC, ERR_OPERATION_INVALID, "%s",
			   "the default lockspace already exists");
		rc = -EEXIST;
		goto out;
	}
	if (lockspaces_find(&d->spaces, a.path)) {
		lw_err_set(err, ERR_FROM_RPC, ERR_INTERNAL_ERROR,
			   "Lockspace for path %s already exists", a.path);
		rc = -EEXIST;
		goto out;
	}
	rc = lockspaces_add(&d->spaces, a.path, NULL, err);
out:
	free_lock_args(&a);
	return rc;
bad:
	free_lock_args(&a);
	return -EBADMSG;
}

static int proc_create_lockspace(struct daemon *d, struct client *c, struct xdr_in *in,
				 struct buf *out, struct lw_err *err)
{
	struct lock_args a;
	int rc;

	if (get_lock_args(in, false, false, &a)) {
		free_lock_args(&a);
		return -EBADMSG;
	}
	/* As virtlockd: no registration needed, and an existing one is fine. */
	rc = check_restricted(c, err);
	if (!rc && !lockspaces_find(&d->spaces, a.path))
		rc = lockspaces_add(&d->spaces, a.path, NULL, err);
	free_lock_args(&a);
	return rc;
}

enum resource_op { OP_CREATE, OP_DELETE, OP_ACQUIRE, OP_RELEASE };

static int resource_proc(struct daemon *d, struct client *c, struct xdr_in *in,
			 struct lw_err *err, enum resource_op op)
{
	static const struct {
		const char *func;
		uint32_t flags;
	} ops[] = {
		[OP_CREATE] = { "virLockSpaceProtocolDispatchCreateResource", 0 },
		[OP_DELETE] = { "virLockSpaceProtocolDispatchDeleteResource", 0 },
		[OP_ACQUIRE] = { "virLockSpaceProtocolDispatchAcquireResource",
				 LOCK_ACQUIRE_SHARED | LOCK_ACQUIRE_AUTOCREATE },
		[OP_RELEASE] = { "virLockSpaceProtocolDispatchReleaseResource", 0 },
	};
	struct lockspace *ls;
	struct lock_args a;
	int rc;

	if (get_lock_args(in, true, true, &a)) {
		free_lock_args(&a);
		return -EBADMSG;
	}
	if ((rc = prologue(d, c, ops[op].func, &a, ops[op].flags, &ls, err)))
		goto out;
	switch (op) {
	case OP_CREATE:
		rc = lockspace_create_resource(ls, a.name, err);
		break;
	case OP_DELETE:
		rc = lockspace_delete_resource(ls, a.name, err);
		break;
	case OP_ACQUIRE:
		rc = lockspace_acquire(ls, a.name, c->owner_pid, a.flags, err);
		break;
	case OP_RELEASE:
		rc = lockspace_release(ls, a.name, c->owner_pid, err);
		break;
	}
	if (op == OP_ACQUIRE && (!rc || err->code == ERR_RESOURCE_BUSY))
		events_lock(d->audit, c, lockspace_dir(ls), a.name,
			    rc ? LOCK_EV_BUSY : LOCK_EV_ACQUIRE, a.flags & LS_SHARED);
	else if (op == OP_RELEASE && !rc)
		events_lock(d->audit, c, lockspace_dir(ls), a.name, LOCK_EV_RELEASE, false);
out:
	if (rc)
		log_debug("client %llu (pid %d): %s '%s' in '%s': %s", (unsigned long long)c->id,
			  c->pid, ops[op].func + strlen("virLockSpaceProtocolDispatch"),
			  a.name, a.path, err->message);
	free_lock_args(&a);
	return rc;
}

#define RESOURCE_PROC(fn, op)							\
static int fn(struct daemon *d, struct client *c, struct xdr_in *in,		\
	      struct buf *out, struct lw_err *err)				\
{										\
	return resource_proc(d, c, in, err, op);				\
}

RESOURCE_PROC(proc_create_resource, OP_CREATE)
RESOURCE_PROC(proc_delete_resource, OP_DELETE)
RESOURCE_PROC(proc_acquire_resource, OP_ACQUIRE)
RESOURCE_PROC(proc_release_resource, OP_RELEASE)

static const rpc_proc_fn lock_procs[] = {
	[LOCK_PROC_REGISTER]		= proc_register,
	[LOCK_PROC_RESTRICT]		= proc_restrict,
	[LOCK_PROC_NEW]			= proc_new,
	[LOCK_PROC_CREATE_RESOURCE]	= proc_create_resource,
	[LOCK_PROC_DELETE_RESOURCE]	= proc_delete_resource,
	[LOCK_PROC_ACQUIRE_RESOURCE]	= proc_acquire_resource,
	[LOCK_PROC_RELEASE_RESOURCE]	= proc_release_resource,
	[LOCK_PROC_CREATE_LOCKSPACE]	= proc_create_lockspace,
};

const struct rpc_program lock_program = {
	.prog = LOCK_PROGRAM,
	.vers = LOCK_PROGRAM_VERSION,
	.kind = CLIENT_LOCK,
	.procs = lock_procs,
	.nprocs = ARRAY_SIZE(lock_procs),
};

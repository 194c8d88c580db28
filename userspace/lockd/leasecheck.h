/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lost-lock detection on shared storage. A lock on a network filesystem
 * lives on a server that can drop it: NFSv4 expires the state of a client
 * it did not hear from within its lease, and once the client is back its
 * kernel (nfs.recover_lost_locks=0, the default) does not take the lock
 * again but fails I/O through the lock's open file with EIO. Nothing tells
 * the daemon, whose lease fd does no I/O, nor the VM that goes on writing.
 *
 * So every resource whose file is on one of lease_check_filesystems is
 * probed every lease_check_interval seconds from a thread of its own (a
 * probe of an unreachable hard-mounted server blocks; the event loop must
 * not): a 1-byte O_DIRECT read through the lock's own fd, which the NFS
 * client fails with EIO once it marked the lock lost, and F_OFD_GETLK for
 * the held mode, which names a conflicting holder elsewhere. Both only
 * read: nothing is ever written into a disk image, and the lock is never
 * asserted again (a lost NFS lock re-asserted could be granted anew after
 * another host used the disk).
 *
 * A lost lock gets its owners fenced as lease_lost_action says (SIGKILL,
 * SIGSTOP, or nothing) and a critical "lease_lost" record naming the
 * resource, each VM and what was done, once per resource, re-execs
 * included; the status lists it until the resource is released.
 */
#ifndef LW_LEASECHECK_H
#define LW_LEASECHECK_H

#include <stddef.h>

#include "clients.h"
#include "lockspace.h"
#include "loop.h"
#include "restart.h"

struct json_object;
struct leasecheck;

enum lease_lost_action {
	LEASE_LOST_KILL,
	LEASE_LOST_PAUSE,
	LEASE_LOST_ALERT,
};

/* For the config: NULL when valid, else why not. */
const char *leasecheck_action_check(const char *s);
const char *leasecheck_fs_check(char *const *names, size_t n);

struct leasecheck_params {
	struct loop *loop;
	unsigned int interval_s;		/* 0: off */
	char *const *filesystems;		/* names, as leasecheck_fs_check takes */
	size_t nfilesystems;
	const char *action;			/* "kill", "pause" or "alert" */
	struct client_table *clients;		/* who owns a lost lock, to fence and name */
	/* A "lease_lost" record, critical; the callee takes ownership. */
	void (*report)(void *data, struct json_object *rec);
	void *data;
};

/* Off (NULL, 0) when the interval is 0 or no filesystem is listed. */
int leasecheck_new(const struct leasecheck_params *p, struct leasecheck **out);
void leasecheck_free(struct leasecheck *lc);
/* From the lockspace hook: start or stop probing res. */
void leasecheck_resource(struct leasecheck *lc, struct lockspace *ls, struct resource *res,
			 enum lockspace_event ev);
/* The locks found lost and fenced, a line each; NULL when none (or off). */
struct json_object *leasecheck_lost(struct leasecheck *lc);

/*
 * Across a re-exec the lost locks stay marked: not probed, fenced or
 * reported again, nor locked again (leasecheck_marked_lost), and listed in
 * the status. Save as "leasecheck" in lockwarden's part of the state (no
 * key when none is lost; lc NULL: nothing); restore from it before the
 * resources are restored (each takes its mark as it comes back). Restore
 * takes lc NULL (the check now off: the marks are dropped, said in the
 * log) and returns -EINVAL, the problem noted in r, when it is malformed.
 */
void leasecheck_save(struct leasecheck *lc, struct restart_writer *rw);
int leasecheck_restore(struct leasecheck *lc, struct restart_reader *r, struct json_object *ours);
/* Was resource id restored marked lost (not yet taken back by its entry)?
 * Then its lock is not asserted again. NULL lc: no. */
bool leasecheck_marked_lost(struct leasecheck *lc, unsigned int id);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guard: every locked resource, keyed by the inode it locks (so every
 * path to the file is the same file), with its owner pids, lock mode, and
 * VM name and uuid. It is the one source of truth the monitors are fed
 * from: the BPF open monitor (bpfmon.c) gets it as a map, the fanotify
 * monitor (fanmon.c) as inode marks. A resource is guarded exactly while
 * it is locked. Opens of a guarded inode by anyone but its owners and the
 * daemon become records handed to the report callback (guardevent.c
 * builds them), or, where the policy says so, are refused.
 */
#ifndef LW_GUARD_H
#define LW_GUARD_H

#include <json-c/json.h>

#include "clients.h"
#include "guardconf.h"
#include "lockspace.h"

struct audit;
struct guard;
struct lockspaces;
struct loop;

/* What the guard is given. settings and pidfile are read by guard_new
 * only; everything else must outlive the guard. */
struct guard_params {
	struct loop *loop;
	const struct guard_settings *settings;
	const char *rundir;		/* the BPF monitor's start-up probe goes here */
	const char *pidfile;		/* names this daemon's pin directory */
	struct client_table *clients;	/* who registered which owner pid, as which VM */
	struct lockspaces *spaces;	/* every resource, to guard them anew */
	struct audit *audit;		/* written out before a re-exec; NULL: none */
	/* Every record of an open (or a folded run of them); takes rec. */
	void (*report)(void *arg, struct json_object *rec);
	void *arg;
};

/*
 * Build the table and start the monitors the settings ask for. A monitor
 * the kernel refuses is one warning naming what failed and what still
 * watches; the lock service runs on regardless, so this only fails on
 * what cannot happen (-errno).
 */
int guard_new(const struct guard_params *p, struct guard **out);
/* Clean shutdown: detach, unpin, close everything. NULL is fine. */
void guard_free(struct guard *g);

/*
 * A lock client registered its owner (registered true), or is about to
 * close or register again (false): while registered, its process is a
 * prospective owner of that VM's disks (guardvms.h).
 */
void guard_client_owner(struct guard *g, const struct client *c, bool registered);

/* A resource was locked, changed owners, or is about to be unlocked. */
void guard_resource(struct guard *g, struct lockspace *ls, struct resource *res,
		    enum lockspace_event ev);

/*
 * What is guarded and how: each monitor with its state and active hooks,
 * the policy, and counters (violations and denials by severity, lost
 * ring-buffer events, fanotify answer timeouts). A new object.
 */
struct json_object *guard_status(struct guard *g);

/*
 * Re-exec. save answers every permission event in hand, writes out every
 * sighting, and puts under obj what the new image needs (the pinned BPF
 * monitor's directory, the fanotify group's fd, whose close-on-exec it
 * clears). If the exec fails, the guard resumes by itself at the next
 * turn of the loop. restore re-adopts them (a monitor it cannot take over
 * is logged and replaced by a new one); call it before any request is
 * served. Both return 0 or -errno (logged).
 */
int guard_state_save(struct guard *g, struct json_object *obj);
int guard_state_restore(struct guard *g, struct json_object *obj);

#endif

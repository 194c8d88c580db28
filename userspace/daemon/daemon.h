/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's one context: everything lockwardend holds lives here,
 * reachable from the event loop's callbacks, and nowhere else.
 */
#ifndef LW_DAEMON_H
#define LW_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "alert.h"
#include "audit.h"
#include "clients.h"
#include "config.h"
#include "guard.h"
#include "leasecheck.h"
#include "lockspaces.h"
#include "loop.h"
#include "metrics.h"
#include "reaper.h"
#include "recent.h"
#include "restart.h"
#include "sockets.h"

struct daemon_paths {
	char *config;		/* NULL: none given, use the default if present */
	char *sock[CLIENT_KINDS];
	char *pidfile;
	char *state;		/* re-exec state file */
	char *rundir;
};

struct daemon {
	struct config cfg;
	struct daemon_paths paths;
	bool privileged;
	bool godaemon;
	bool verbose;
	unsigned int timeout;		/* -t: seconds idle before exiting; 0 never */
	char **argv;			/* for re-exec */
	uint64_t start_time;		/* CLOCK_REALTIME ns */

	struct loop *loop;
	struct listener listeners[CLIENT_KINDS];
	struct client_table clients;
	struct reaper reaper;
	struct loop_source signals;
	struct loop_timer idle;

	struct lockspaces spaces;	/* with the locks held outside them */

	struct audit *audit;		/* the audit log's writer */
	struct alerts *alerts;		/* syslog and the hook, for critical events */
	struct metrics *metrics;	/* NULL: no metrics_file */
	struct recent recent;		/* the latest violations, for lockwardenctl */
	struct guard *guard;		/* locked inodes and who may open them */
	struct leasecheck *leasecheck;	/* NULL: locks are not probed for loss */

	int pid_fd;
	bool reexec;			/* SIGUSR1 seen */
	char *reexec_path;		/* the file checked to be exec'd */
	char *config_error;		/* NULL, or why the defaults serve */
	struct restart_fds inherited;	/* until a re-exec's state is applied */
};

/* Fill paths from privilege and the environment, as virtlockd does. */
int daemon_default_paths(struct daemon *d);
void daemon_paths_free(struct daemon_paths *p);
/* The loop, signals, lockspaces, audit: everything but the sockets. */
int daemon_init(struct daemon *d);
/* Open (or take from systemd) every listening socket not yet restored. */
int daemon_listen(struct daemon *d);
/* The listener of kind on its path, or on fd >= 0 (activation, re-exec). */
int daemon_open_listener(struct daemon *d, int kind, int fd);
int daemon_run(struct daemon *d);
void daemon_fini(struct daemon *d);

/*
 * An inherited fd whose lock cannot be restored as a resource: keep it,
 * and the lock with it, and say so (error log, critical audit record, in
 * the status) unless restored says it was kept so by the image before.
 */
void daemon_hold_orphan(struct daemon *d, int fd, const char *path, const char *why,
			bool restored);

/* A new connection (or one restored across a re-exec): check its
 * credentials, count it. */
void daemon_client_accepted(struct daemon *d, struct client *c, bool restored);
/*
 * Everything the operator should learn of (violations, denials, lock and
 * client events) goes through here: the audit log, and for critical
 * events the alerts. Takes ownership of rec (see audit_record()).
 */
void daemon_report(struct daemon *d, struct json_object *rec);
/* events_daemon() with the daemon's counts: "daemon_start", "reexec", ... */
void daemon_event(struct daemon *d, const char *event, const char *why);

/*
 * Re-exec as on SIGUSR1, once the current loop batch is done, if the new
 * image would start (see execcheck.h); else -errno and *err: refused,
 * logged and recorded, the daemon serving on with every lock.
 */
int daemon_request_reexec(struct daemon *d, const char *why, struct lw_err *err);

/* Called whenever clients or resources come or go. */
void daemon_update_idle(struct daemon *d);

/*
 * The daemon's state in one JSON object: version, uptime, sockets,
 * clients, locks, the audit log, alerts, and the guard's monitors, policy
 * and counters. `lockwardenctl status` prints it; the metrics file is
 * rendered from it; so the two always agree.
 */
struct json_object *daemon_status(struct daemon *d);

#endif

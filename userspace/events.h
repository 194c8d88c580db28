/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's own audit records: lock acquire, release and refusal,
 * client connect and disconnect, start, stop and re-exec. Each is built
 * here and goes out through daemon_report(); the guard builds the
 * violation and denial records the same way.
 *
 * Every record has "event", "time" and "severity" (info, low, medium,
 * high, critical: the guard's scale); lock and client records name the
 * client ("client", its id on the admin socket's client-list) and, once
 * registered, its owner ("pid", "vm_name", "vm_uuid").
 */
#ifndef LW_EVENTS_H
#define LW_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

struct client;
struct daemon;
struct held_fd;
struct lockspace;

enum lock_event {
	LOCK_EV_ACQUIRE,
	LOCK_EV_RELEASE,
	LOCK_EV_BUSY,		/* refused: held by another owner */
	LOCK_EV_DROPPED,	/* released because its owner's connection closed */
};

/* name in ls, taken (ACQUIRE with the request's flags), let go or refused. */
void events_lock(struct daemon *d, const struct client *c, struct lockspace *ls,
		 const char *name, enum lock_event ev, uint32_t flags);
/* The owner of c is gone: LOCK_EV_DROPPED for every lease it holds. */
void events_owner_gone(struct daemon *d, const struct client *c);
enum client_event {
	CLIENT_EV_CONNECT,	/* accepted: its credentials pass */
	CLIENT_EV_REFUSED,	/* closed at once: wrong user for this socket */
	CLIENT_EV_DISCONNECT,
};

/* A connection came, was refused, or went; released: how many leases its
 * owner lost with it. */
void events_client(struct daemon *d, const struct client *c, enum client_event ev,
		   int released);
/* "daemon_start", "daemon_stop", "reexec", "reexec_failed": with the
 * daemon's counts and, when not NULL, why. */
void events_daemon(struct daemon *d, const char *event, const char *why);
/* "lock_unrestored", critical: an inherited lock kept as an orphan. */
void events_unrestored(struct daemon *d, const struct held_fd *h);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's own audit records: lock acquire, release and refusal,
 * client connect and disconnect, start, stop and re-exec. Each is built
 * here as JSON text and written to the audit log: never critical, never a
 * violation (the guard builds those, guardevent.c).
 *
 * Every record has "event", "time" and "severity" (info, low, medium,
 * high, critical: the guard's scale); lock and client records name the
 * client ("client", its id on the admin socket's client-list) and, once
 * registered, its owner ("pid", "vm_name", "vm_uuid").
 */
#ifndef LW_EVENTS_H
#define LW_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct audit;
struct client;
struct json_object;

enum lock_event {
	LOCK_EV_ACQUIRE,
	LOCK_EV_RELEASE,
	LOCK_EV_BUSY,		/* refused: held by another owner */
	LOCK_EV_DROPPED,	/* released because its owner's connection closed */
};

/* name in the lockspace of directory dir (NULL: the default one), taken
 * (ACQUIRE and BUSY say in which mode), let go, refused or dropped. */
void events_lock(struct audit *a, const struct client *c, const char *dir,
		 const char *name, enum lock_event ev, bool shared);
enum client_event {
	CLIENT_EV_CONNECT,	/* accepted: its credentials pass */
	CLIENT_EV_REFUSED,	/* closed at once: wrong user for this socket */
	CLIENT_EV_DISCONNECT,
};

/* A connection came, was refused, or went; released: how many leases its
 * owner lost with it. */
void events_client(struct audit *a, const struct client *c, enum client_event ev,
		   int released);
/* The daemon's counts, in its start, stop and re-exec records. */
struct daemon_counts {
	size_t locks;
	size_t unrestored;	/* inherited locks held but not restored */
	size_t clients;
};

/* "daemon_start", "daemon_stop", "reexec", "reexec_failed": with the
 * daemon's counts and, when not NULL, why. */
void events_daemon(struct audit *a, const char *event, const struct daemon_counts *counts,
		   const char *why);
/* "lock_unrestored", critical (for daemon_report, so the alerts say it):
 * an inherited lock on path (inode ino) kept on fd as an orphan. */
struct json_object *events_unrestored(const char *path, int fd, uint64_t ino, const char *why);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An owner that drops its connection while holding leases has lost them
 * and must not go on writing: like virtlockd, send it SIGTERM, then
 * SIGKILL 1.6 s later. Unlike virtlockd, which sleeps ~3 s in its only
 * thread meanwhile, this is event driven: a pidfd tells when it is gone,
 * a timer escalates, and every other client is served throughout. The
 * pidfd, taken when the owner registered (ownerid.h), makes the signal
 * reach that process or none: never another one given its pid. The same
 * watch reaps children a previous image left running (alert hooks).
 */
#ifndef LW_REAPER_H
#define LW_REAPER_H

#include <stdbool.h>
#include <sys/types.h>

#include "loop.h"
#include "restart.h"

struct reaper {
	struct loop *loop;
	struct victim *victims;
	unsigned long killed, escalated;
};

void reaper_init(struct reaper *r, struct loop *l);
void reaper_fini(struct reaper *r);
/* Start killing owner pid through its pidfd (taken over; -1: the owner
 * was already gone when it registered, so nothing is signalled). */
void reaper_kill(struct reaper *r, int pidfd, pid_t pid);

/* A child of a previous image (an alert hook still running at a re-exec):
 * waited for when it exits, so it does not linger as a zombie. */
int reaper_adopt_child(struct reaper *r, pid_t pid);

/* Visit each victim still being killed. */
void reaper_foreach(struct reaper *r, void (*fn)(int pidfd, pid_t pid, bool sent_kill, void *arg),
		    void *arg);
/* The same as lockwarden's "victims" in the restart state (see restart.h):
 * each one's pidfd kept and taken over; -EINVAL at the first bad entry. */
void reaper_save(struct reaper *r, struct restart_writer *rw);
int reaper_restore(struct reaper *r, struct restart_reader *rd, struct json_object *ours);

#endif

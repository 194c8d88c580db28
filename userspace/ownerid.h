/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A lock owner's identity, taken when it registers: its pid, its start
 * time (field 22 of /proc/PID/stat) and, when the connection is the
 * owner's own (its SO_PEERCRED pid is the pid it registered, virtlockd's
 * test for "this connection is the owner"), a pidfd. A pid alone names
 * whichever process has it now: once the owner exits, another process can
 * get it. The start time tells the owner from that later process; the
 * pidfd signals the owner or nobody. Taken at REGISTER, not at
 * disconnect: by then the pid may already name another process (before
 * Linux 6.5 there is no SO_PEERPIDFD to ask the socket instead).
 */
#ifndef LW_OWNERID_H
#define LW_OWNERID_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A start time no process has: the pid named no process at REGISTER. */
#define OWNERID_GONE	UINT64_MAX

struct ownerid {
	pid_t pid;
	uint64_t start;			/* clock ticks since boot; 0: never taken */
	int pidfd;			/* -1: none (not its own connection, or gone) */
};

#define OWNERID_NONE ((struct ownerid){ .pid = 0, .start = 0, .pidfd = -1 })

/*
 * The identity of pid, registered over sockfd by its peer peer_pid; known
 * (NULL: none) is an identity of pid held already, reused while its
 * process runs, which spares /proc. A pid that names no process gets
 * start OWNERID_GONE and no pidfd: no process is that owner. -errno when
 * it cannot be taken (-ESRCH: no such process).
 */
int ownerid_take(struct ownerid *id, int sockfd, pid_t peer_pid, pid_t pid,
		 const struct ownerid *known);
/* Close its pidfd; an identity that is not taken is fine. */
void ownerid_clear(struct ownerid *id);
/* Hand its pidfd on (the reaper signals through it); -1 if none. */
int ownerid_steal_pidfd(struct ownerid *id);
/*
 * Is the process pid, started at start (0: could not be read), the owner
 * whose identity is owner_pid and owner_start? An owner whose start was
 * never taken (0: a lease restored from virtlockd with no registration
 * left to tell) is matched by its pid alone, as virtlockd would.
 */
bool ownerid_match(pid_t owner_pid, uint64_t owner_start, pid_t pid, uint64_t start);

#endif

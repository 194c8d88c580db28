/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fds the daemon keeps open for a lock no resource of a lockspace serves:
 *  - an orphan: an inherited lock a re-exec could not restore (a broken
 *    state entry, an unknown lockspace, no usable state at all). Closing
 *    it would hand the disk to anyone, so it stays held, listed by
 *    `lockwardenctl status`, until the daemon stops;
 *  - a parked fd: one of several fds of a file whose process-owned POSIX
 *    lock (adopted from virtlockd) another resource still uses, as for two
 *    names of one file. Any close of that file would drop the lock, so it
 *    is closed only with the last resource of its inode.
 * Both go across every re-exec.
 */
#ifndef LW_HELDFDS_H
#define LW_HELDFDS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "restart.h"

struct held_fd {
	int fd;
	dev_t dev;
	ino_t ino;
	char *path;		/* what the fd is */
	char *why;		/* an orphan: why it is not restored; NULL: parked */
};

struct held_fds {
	struct held_fd *v;
	size_t n;
	size_t norphans;
};

/* Take fd over (why NULL: parked), named by its /proc link, else path.
 * -errno when fd is not open. */
int held_fds_add(struct held_fds *h, int fd, const char *path, const char *why);
/* Does an orphan hold a lock on this inode? */
bool held_fds_orphaned(const struct held_fds *h, dev_t dev, ino_t ino);
/* The last resource of an inode is gone: close its parked fds. */
void held_fds_close_parked(struct held_fds *h, dev_t dev, ino_t ino);
/* Closes every fd, so every lock goes with it: only for shutdown. */
void held_fds_free(struct held_fds *h);

/* Live upgrade: every held fd, as lockwarden's "held" (an orphan with why
 * it is not restored), kept; restored as they were (an orphan said again
 * through the reader's orphan callback, restored). Absent in states older
 * than orphans, and virtlockd's: nothing to restore. */
void held_fds_save(const struct held_fds *h, struct restart_writer *rw);
void held_fds_restore(struct held_fds *h, struct restart_reader *r, struct json_object *ours);
/* The orphans, for the status: "fd N PATH (inode I): why" each. */
struct json_object *held_fds_status(const struct held_fds *h);

#endif

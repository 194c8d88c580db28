/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pid file, itself locked (a POSIX lock on byte 0, as virtlockd locks
 * its pid file) so two daemons never run on one socket. Its fd survives
 * re-exec with the lock held, whichever daemon the exec starts.
 */
#ifndef LW_PIDFILE_H
#define LW_PIDFILE_H

#include <sys/types.h>

#include "restart.h"

/* Create, lock and write path; returns the fd or -errno (-EAGAIN: another
 * daemon holds it). */
int pidfile_acquire(const char *path, pid_t pid);
/* Check an inherited fd still holds path's lock (after re-exec). */
int pidfile_check(const char *path, int fd);
void pidfile_release(const char *path, int fd);

/* Live upgrade: lockwarden's "pidfile" entry, fd (-1: none held, then no
 * entry) kept across the exec. */
void pidfile_save(struct restart_writer *rw, const char *path, int fd);
/* *fd: the inherited fd holding path's lock, or left as it was when the
 * state names none (main takes the pid file then) or another path (that
 * lock goes). -EINVAL with the problem noted in r. */
int pidfile_restore(struct restart_reader *r, struct json_object *ours, const char *path,
		    int *fd);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Facts about a process from /proc: who opened a guarded file (ids,
 * command, executable, cgroup) and, while it waits in the open syscall,
 * the flags and path it passed. Reading /proc races with the process
 * exiting and its pid being reused; procinfo_same() tells whether the
 * thread read at the start is still the one there.
 */
#ifndef LW_PROCINFO_H
#define LW_PROCINFO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct procinfo {
	pid_t tid, tgid, ppid;
	uid_t uid;			/* real ids */
	gid_t gid;
	uint64_t start;			/* the thread's start time, clock ticks since boot */
	char comm[16];			/* the process's, not an io_uring worker's */
};

/* Ids, start time and command of thread tid; -errno (-ENOENT: gone). */
int procinfo_read(pid_t tid, struct procinfo *pi);
/* When process pid started, clock ticks after boot (/proc/PID/stat); -errno. */
int procinfo_start(pid_t pid, uint64_t *start);
/* Is tid still the thread procinfo_read() saw? */
bool procinfo_same(const struct procinfo *pi);

/* The path of tgid's executable, and its inode; -errno. */
int procinfo_exe(pid_t tgid, char **path, dev_t *dev, ino_t *ino);
/* Its cgroup v2 path ("/system.slice/x.service"); -errno. */
int procinfo_cgroup(pid_t tgid, char **path);

/*
 * The open syscall thread tid is blocked in: its flags, and the path as
 * it passed it (NULL for open_by_handle_at). -ENOENT when it is not in
 * one (an io_uring worker, or it has moved on).
 */
int procinfo_open_args(pid_t tid, int *flags, char **path);

#endif

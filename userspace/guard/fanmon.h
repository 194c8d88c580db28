/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fanotify monitor: one FAN_CLASS_CONTENT group with an inode mark
 * for FAN_OPEN_PERM on each guarded file. It sees every open that reaches
 * the file, whatever path, syscall or io_uring led there, costs nothing
 * for other files, and can refuse an open before it succeeds.
 *
 * Permission events are used even where the policy only audits: only
 * while the opener waits for the answer can its flags (is it a write?)
 * and its identity be read, race-free, from /proc; a notification
 * arrives when a short-lived opener may already be gone.
 *
 * The verdict rests on what the kernel tells: the event's file and tid,
 * the opener's ids, executable and cgroup, and the flags of an open
 * syscall from its saved registers. Never on the opener's memory (an
 * openat2's struct open_how), which another of its threads may rewrite
 * once the kernel copied it and which may page in from a filesystem that
 * never answers; nor on a stat that would ask such a filesystem. So
 * nothing on the answering path can block, and under a deny policy an
 * open whose mode only memory would tell is refused as a write.
 *
 * A thread of its own reads and answers, so an answer never waits for the
 * event loop; each event's answer is bounded by the timeout, past which
 * the configured default is given and counted. The name of the file
 * opened is taken after the answer. Sightings to report go to the loop's
 * thread. If the daemon dies, the kernel allows every open
 * still waiting; before a re-exec the thread answers all it has read and
 * stops, and the new image reads the rest from the inherited group.
 */
#ifndef LW_FANMON_H
#define LW_FANMON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

struct loop;
struct fanmon;
struct guard_open;

struct fanmon_params {
	struct loop *loop;
	/*
	 * In the monitor's thread: decide on o (fanotify's sighting: tid,
	 * dev, ino filled in; path after the answer); set o->denied to refuse. Returns false for an
	 * open not to report (the owner's, the daemon's). deadline is when
	 * the timeout default must be given (CLOCK_MONOTONIC ns).
	 */
	bool (*decide)(void *data, struct guard_open *o, uint64_t deadline);
	/* In the loop's thread: a sighting to report; takes ownership. */
	void (*report)(void *data, struct guard_open *o);
	void *data;
	unsigned int timeout_ms;
};

/* Returns 0, or -errno with *why (allocated). */
int fanmon_new(const struct fanmon_params *p, struct fanmon **out, char **why);
void fanmon_free(struct fanmon *m);

/* Watch (or stop watching) the file fd refers to; fd itself stays ours. */
int fanmon_mark(struct fanmon *m, int fd);
int fanmon_unmark(struct fanmon *m, int fd);

uint64_t fanmon_timeouts(const struct fanmon *m);
/* Denials also make a kernel audit record (FAN_AUDIT). */
bool fanmon_kernel_audit(const struct fanmon *m);

/*
 * Re-exec: stop the thread (answering all it has read), keep the group
 * fd open across exec and name it in obj. resume undoes that when the
 * exec failed; restore takes over the group in the new image.
 */
int fanmon_save(struct fanmon *m, struct json_object *obj);
void fanmon_resume(struct fanmon *m);
int fanmon_restore(const struct fanmon_params *p, struct json_object *obj,
		   struct fanmon **out, char **why);

#endif

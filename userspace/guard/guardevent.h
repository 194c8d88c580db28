/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An open of a guarded inode, as the monitors saw it, on its way to the
 * audit log: the opener, the open, the resource it hit and the verdict.
 * When both monitors see one open, their two sightings are merged into one
 * record naming both sources: a sighting waits a short window for its
 * partner when the other monitor could see it too.
 */
#ifndef LW_GUARDEVENT_H
#define LW_GUARDEVENT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "guardpolicy.h"
#include "lock_protocol.h"
#include "loop.h"

enum guard_source {
	SRC_BPF		= 1 << 0,
	SRC_FANOTIFY	= 1 << 1,
};

struct guard_open {
	uint64_t time_ns;		/* of the open, CLOCK_REALTIME */
	unsigned int sources;		/* enum guard_source */
	const char *hook;		/* the BPF hook that saw it */

	/* The opener; comm, ids and exe inode are the kernel's own when
	 * SRC_BPF, read from /proc while it waited when SRC_FANOTIFY. */
	pid_t tid, tgid, ppid;
	uid_t uid;
	gid_t gid;
	char comm[16];
	char *exe;			/* NULL: unknown */
	dev_t exe_dev;
	ino_t exe_ino;
	bool exe_known;
	uint64_t cgroup_id;		/* 0: unknown */
	char *cgroup;
	char *opener_vm_name;		/* the VM it is registered as, if any */
	uint8_t opener_vm_uuid[LOCK_UUID_LEN];

	/* The open. */
	char *path;			/* as the caller passed it (BPF) or the kernel's
					 * name of the file opened (fanotify); NULL: unknown */
	int flags;
	bool flags_known;
	bool open_syscall;		/* fanotify: the opener was in an open syscall */
	bool truncate;			/* a truncate of the file, not an open */
	dev_t dev;
	ino_t ino;

	/* The resource it hit, as it was then. */
	char *resource;
	char *resource_path;
	bool exclusive;
	enum guard_policy policy;
	pid_t *owners;
	size_t nowners;
	char *vm_name;
	uint8_t vm_uuid[LOCK_UUID_LEN];

	/* The verdict. */
	bool allowed;			/* an allowlisted helper */
	bool denied;			/* refused (fanotify, or lsm/file_open) */
	bool timed_out;			/* answered by the timeout default */

	uint64_t deadline;		/* CLOCK_MONOTONIC ns: stop waiting for a partner */
	struct guard_open *next;
};

void guard_open_free(struct guard_open *o);

/* The audit record: event, time, source, opener, open, resource, verdict. */
struct json_object *guard_open_record(const struct guard_open *o, const char *event,
				      enum severity sev);

struct guard_merge {
	struct loop *loop;
	struct loop_timer timer;
	struct guard_open *pending;	/* oldest first */
	uint64_t merged;		/* records that name both sources */
	/* A sighting is done with: write it out. Takes ownership. */
	void (*emit)(void *data, struct guard_open *o);
	void *data;
};

/*
 * A sighting. If an earlier one of the same open by the other monitor
 * waits, both become one record; else it waits for its partner when
 * partner is true, or goes out at once. Takes ownership of o.
 */
void guard_merge_add(struct guard_merge *m, struct guard_open *o, bool partner);
/* Write out everything waiting (shutdown, re-exec). */
void guard_merge_flush(struct guard_merge *m);

#endif

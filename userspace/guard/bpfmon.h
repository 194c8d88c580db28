/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The BPF open monitor: loads bpf/openwatch.bpf.c with the best hook this
 * kernel takes and proves it fires (lsm/file_open with the truncate hooks,
 * which also refuse, else fexit/vfs_open, else tp_btf/sys_exit on the open
 * and truncate syscalls), keeps its guarded-inode map
 * as the guard says, attaches it only while the guard asks, and hands
 * each event of its ring buffer to the guard from the event loop.
 */
#ifndef LW_BPFMON_H
#define LW_BPFMON_H

#include <json-c/json.h>
#include <linux/types.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/sysmacros.h>

#include "openwatch.h"

struct loop;
struct bpfmon;

struct bpfmon_params {
	struct loop *loop;
	const char *probe_dir;	/* a directory for the start-up probe's file */
	void (*event)(void *data, const struct ow_event *ev);
	void *data;
};

/* The kernel's dev_t, as the programs see it, and back. */
static inline __u64 ow_kdev(dev_t dev)
{
	return (__u64)major(dev) << 20 | minor(dev);
}

static inline dev_t ow_udev(__u64 kdev)
{
	return makedev(kdev >> 20, kdev & 0xfffff);
}

/*
 * Load and probe. Returns 0, or -errno with *why (allocated) naming each
 * hook tried and why it failed.
 */
int bpfmon_new(const struct bpfmon_params *p, struct bpfmon **out, char **why);
void bpfmon_free(struct bpfmon *m);

int bpfmon_set(struct bpfmon *m, dev_t dev, ino_t ino, const struct ow_value *v);
int bpfmon_del(struct bpfmon *m, dev_t dev, ino_t ino);
/* Drop every inode of the map that keep() does not want. */
void bpfmon_prune(struct bpfmon *m, bool (*keep)(void *data, dev_t dev, ino_t ino), void *data);

/* The allowed helpers, for the programs that refuse (bpfmon_enforces). */
int bpfmon_set_allow(struct bpfmon *m, const struct ow_allow *a);
/* Process tgid (started at start, clock ticks) registered as a VM, or no
 * longer: a prospective owner of what others hold shared. */
int bpfmon_set_vm(struct bpfmon *m, pid_t tgid, uint64_t start, bool registered);

int bpfmon_attach(struct bpfmon *m);
void bpfmon_detach(struct bpfmon *m);
bool bpfmon_attached(const struct bpfmon *m);
/* "lsm/file_open", "fexit/vfs_open" or "tp_btf/sys_exit" */
const char *bpfmon_hook(const struct bpfmon *m);
/* How many programs it loaded (each attaches with a link of its own). */
int bpfmon_nprogs(const struct bpfmon *m);
/* Do its programs refuse what an inode's policy denies (lsm/file_open)? */
bool bpfmon_enforces(const struct bpfmon *m);
/* The program an event names (struct ow_event's hook). */
const char *bpfmon_hook_name(uint32_t hook);
/* Hand over what is in the ring buffer now (the loop does it when woken). */
void bpfmon_poll(struct bpfmon *m);
/* Events the programs dropped because the ring buffer was full. */
uint64_t bpfmon_lost(const struct bpfmon *m);

/*
 * Re-exec: pin maps and link under pin_dir (bpffs, mounted if needed) and
 * describe them in obj; unpin them again if the exec did not happen.
 * restore loads the same hook on the pinned maps, takes over the old
 * program's link where it was attached, and unpins all: events the old
 * program put in the ring buffer meanwhile are read by this one.
 */
int bpfmon_save(struct bpfmon *m, const char *pin_dir, struct json_object *obj);
void bpfmon_unpin(const char *pin_dir);
int bpfmon_restore(const struct bpfmon_params *p, struct json_object *obj,
		   struct bpfmon **out, char **why);

#endif

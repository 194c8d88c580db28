/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the open monitor's BPF programs (bpf/openwatch.bpf.c) and the
 * daemon (userspace/bpfmon.c) both see: the guarded-inode map, the event
 * the programs put in the ring buffer, and their counters. __u64 fields
 * come first, then __u32, then bytes, so neither side has padding.
 */
#ifndef LW_OPENWATCH_H
#define LW_OPENWATCH_H

#define OW_MAX_OWNERS	16	/* owner pids the programs check themselves */
#define OW_COMM_LEN	16
#define OW_PATH_LEN	256
#define OW_MAX_GUARDED	65536	/* inodes in the map */

/* dev is the kernel's dev_t (major << 20 | minor), not st_dev's encoding. */
struct ow_key {
	__u64 dev;
	__u64 ino;
};

enum ow_flags {
	OW_EXCLUSIVE	= 1 << 0,	/* locked exclusively */
	OW_PROBE	= 1 << 1,	/* the daemon's start-up probe: report its opens too */
};

/*
 * An owner is a process: its tgid and its start time, in clock ticks since
 * boot as /proc/PID/stat gives it (0: any process with that tgid), so that
 * a process given a dead owner's pid is not taken for it.
 */
struct ow_value {
	__u64 starts[OW_MAX_OWNERS];	/* of owners[i] */
	__u32 id;			/* a resource id, for userspace's table */
	__u32 flags;			/* enum ow_flags */
	__u32 nowners;			/* may exceed OW_MAX_OWNERS: userspace decides then */
	__u32 owners[OW_MAX_OWNERS];	/* tgids */
};

/* Which program saw an open. */
enum ow_hook {
	OW_HOOK_LSM,			/* lsm/file_open */
	OW_HOOK_FEXIT,			/* fexit/vfs_open */
	OW_HOOK_SYS_EXIT,		/* tp_btf/sys_exit */
};

enum ow_event_flags {
	OW_EV_FLAGS_KNOWN = 1 << 0,	/* open_flags are the caller's, O_TRUNC and all */
	OW_EV_EXE_KNOWN	  = 1 << 1,
};

struct ow_event {
	__u64 boot_ns;			/* when: CLOCK_BOOTTIME */
	__u64 dev;
	__u64 ino;
	__u64 cgroup_id;
	__u64 exe_dev;			/* kernel dev_t of its executable */
	__u64 exe_ino;
	__u32 tid;
	__u32 tgid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 open_flags;
	__u32 id;			/* ow_value.id when it was seen */
	__u32 hook;			/* enum ow_hook */
	__u32 syscall;			/* its number; -1 outside an open syscall */
	__u32 ev_flags;			/* enum ow_event_flags */
	char comm[OW_COMM_LEN];
	char path[OW_PATH_LEN];		/* as the caller passed it; "" unknown */
};

struct ow_stats {
	__u64 events;			/* put in the ring buffer */
	__u64 lost;			/* dropped: the ring buffer was full */
};

#endif

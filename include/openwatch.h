/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the open monitor's BPF programs (bpf/openwatch.bpf.c) and the
 * daemon (userspace/bpfmon.c) both see: the guarded-inode map, the event
 * the programs put in the ring buffer, and their counters. __u64 fields
 * come first, then __u32, then bytes, so neither side has padding.
 */
#ifndef LW_OPENWATCH_H
#define LW_OPENWATCH_H

#define OW_MAX_OWNERS	16	/* owners the programs check themselves */
#define OW_MAX_ALLOW	16	/* entries of each allow list the programs check */
#define OW_COMM_LEN	16
#define OW_PATH_LEN	256
#define OW_MAX_GUARDED	65536	/* inodes in the map */
#define OW_MAX_VMS	65536	/* processes registered as VMs */
#define OW_USER_HZ	100	/* /proc/PID/stat's clock ticks (x86, arm64) */

/* dev is the kernel's dev_t (major << 20 | minor), not st_dev's encoding. */
struct ow_key {
	__u64 dev;
	__u64 ino;
};

enum ow_flags {
	OW_EXCLUSIVE	= 1 << 0,	/* locked exclusively */
	OW_PROBE	= 1 << 1,	/* the daemon's start-up probe: report its opens too */
	OW_DENY_WRITE	= 1 << 2,	/* its policy: refuse others' write opens, truncates */
	OW_DENY_ALL	= 1 << 3,	/* refuse others' every open */
};

/*
 * An owner is a process, not a pid: its tgid and its start time in clock
 * ticks after boot (/proc/PID/stat's 22nd field), so a pid reused by
 * another process is no owner. start 0: not known, the tgid alone.
 */
struct ow_owner {
	__u64 start;
	__u32 tgid;
	__u32 pad;
};

struct ow_value {
	__u32 id;			/* a resource id, for userspace's table */
	__u32 flags;			/* enum ow_flags */
	__u32 nowners;			/* may exceed OW_MAX_OWNERS: never refused then */
	__u32 pad;
	struct ow_owner owners[OW_MAX_OWNERS];
};

enum ow_allow_flags {
	OW_ALLOW_UIDS	 = 1 << 0,	/* guard_allow_uids is configured */
	OW_ALLOW_EXES	 = 1 << 1,
	OW_ALLOW_CGROUPS = 1 << 2,
};

/*
 * The allowed helpers, as the one entry of the "allow" map: an opener is
 * allowed when at least one list is configured and it passes each: its
 * uid is listed (uid 0 when no uid list is), its executable's inode is
 * listed (any when none is), it runs in or below a listed cgroup (any
 * when none is). Configured entries that do not resolve (a missing
 * executable) are left out, so they match nothing.
 */
struct ow_allow {
	struct ow_key exes[OW_MAX_ALLOW];
	__u64 cgroup_ids[OW_MAX_ALLOW];
	__u32 cgroup_levels[OW_MAX_ALLOW];	/* depth below the cgroup2 root */
	__u32 uids[OW_MAX_ALLOW];
	__u32 flags;			/* enum ow_allow_flags */
	__u32 nexes;
	__u32 ncgroups;
	__u32 nuids;
};

/* Which program saw an open. */
enum ow_hook {
	OW_HOOK_LSM,			/* lsm/file_open */
	OW_HOOK_FEXIT,			/* fexit/vfs_open */
	OW_HOOK_SYS_EXIT,		/* tp_btf/sys_exit */
	OW_HOOK_PATH_TRUNCATE,		/* lsm/path_truncate */
	OW_HOOK_FILE_TRUNCATE,		/* lsm/file_truncate (6.2 on) */
};

enum ow_event_flags {
	OW_EV_FLAGS_KNOWN = 1 << 0,	/* open_flags are the open's, O_TRUNC and all */
	OW_EV_EXE_KNOWN	  = 1 << 1,
	OW_EV_DENIED	  = 1 << 2,	/* the program refused it (-EPERM) */
	OW_EV_TRUNCATE	  = 1 << 3,	/* a truncate, not an open */
	OW_EV_BY_PATH	  = 1 << 4,	/* truncate(2) seen at its exit: dev and ino
					 * unknown, the path is the caller's */
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

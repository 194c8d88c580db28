// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The open monitor: report every open of a guarded inode by a process that
 * is not one of its owners. Three programs see opens; the daemon loads
 * the first this kernel takes (bpfmon.c) and attaches it only while
 * something is guarded:
 *  - lsm/file_open: every open, from any syscall, io_uring or the kernel,
 *    before it happens: it also refuses those the inode's policy denies
 *    (-EPERM), deciding on the struct file alone, never on the opener's
 *    memory; with lsm/path_truncate (and lsm/file_truncate, 6.2 on) for
 *    truncates;
 *  - fexit/vfs_open: the same opens, after the fact: it only records;
 *  - tp_btf/sys_exit: the open syscalls' returns, the fd resolved to its
 *    inode, and truncate(2)/ftruncate(2)'s. It runs on every syscall of
 *    every process, so its way out for all other syscalls is a handful of
 *    instructions with no helper call.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "openwatch.h"

char LICENSE[] SEC("license") = "GPL";

/* The daemon: its own opens (lock files, fanotify's fds) are never reported. */
const volatile __u32 daemon_tgid;
/* Its pid namespace: pids are compared and reported as the daemon sees
 * them (owners register theirs so), 0 for a process it cannot see. */
const volatile __u64 pidns_ino;

#define MAX_PID_NS_LEVEL	32
#define PROC_PID_INIT_INO	0xEFFFFFFCU	/* include/linux/proc_ns.h */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OW_MAX_GUARDED);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ow_key);
	__type(value, struct ow_value);
} guarded SEC(".maps");

/*
 * The processes lock clients registered as VMs (tgid -> start time in
 * clock ticks): a VM's QEMU opens its disks before its leases exist, so it
 * is a prospective owner of what others hold shared (guardvms.h).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OW_MAX_VMS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u64);
} vms SEC(".maps");

/* The allowed helpers (struct ow_allow), one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ow_allow);
} allow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);	/* ~2900 events */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ow_stats);
} stats SEC(".maps");

#define O_WRONLY	01
#define O_CREAT		0100
#define O_TRUNC		01000
#define FMODE_WRITE	0x2
#define EPERM		1
#define NO_SYSCALL	((__u32)-1)

#if defined(__TARGET_ARCH_x86)
#define NR_open			2
#define NR_creat		85
#define NR_open_by_handle_at	304
#define NR_openat		257
#define NR_openat2		437
#define NR_truncate		76
#define NR_ftruncate		77
#define SYSCALL_NR(regs)	((regs)->orig_ax)
#define TS_COMPAT		0x0002	/* arch/x86/include/asm/thread_info.h */
#elif defined(__TARGET_ARCH_arm64)
#define NR_open			-1000	/* none: never a syscall number, nor NO_SYSCALL */
#define NR_creat		-1001
#define NR_open_by_handle_at	265
#define NR_openat		56
#define NR_openat2		437
#define NR_truncate		45
#define NR_ftruncate		46
#define SYSCALL_NR(regs)	((regs)->syscallno)
#else
#error "the open syscalls of this architecture are not listed"
#endif

/* A 32-bit syscall numbers its calls otherwise (ia32's 2 is fork): not
 * ours to read; fanotify still sees those opens. */
static __always_inline bool compat_syscall(struct task_struct *task)
{
#if defined(__TARGET_ARCH_x86)
	return task->thread_info.status & TS_COMPAT;
#else
	return false;
#endif
}

static __always_inline bool open_syscall(long nr)
{
	return nr == NR_openat || nr == NR_open || nr == NR_openat2 ||
	       nr == NR_creat || nr == NR_open_by_handle_at;
}

/* The number of pid in the daemon's namespace: one of pid->numbers[],
 * at the namespace's level, which only the namespace itself knows. */
static __always_inline __u32 pid_nr(struct pid *pid)
{
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid;

	for (unsigned int i = 0; i <= level && i < MAX_PID_NS_LEVEL; i++) {
		if (bpf_probe_read_kernel(&upid, sizeof(upid), &pid->numbers[i]))
			break;
		if (BPF_CORE_READ(upid.ns, ns.inum) == pidns_ino)
			return upid.nr;
	}
	return 0;
}

static __always_inline __u32 tgid_nr(struct task_struct *task)
{
	return pid_nr(BPF_CORE_READ(task, group_leader, thread_pid));
}

/* The current process's: in the initial pid namespace (a daemon run by
 * systemd) the task's own tgid, a load, with no walk of the pid's levels. */
static __always_inline __u32 current_tgid(struct task_struct *task)
{
	return pidns_ino == PROC_PID_INIT_INO ? task->tgid : tgid_nr(task);
}

/* When the current process started, as /proc/PID/stat says it: loads
 * through the task the verifier knows, no helper call. */
static __always_inline __u64 start_ticks(struct task_struct *task)
{
	return task->group_leader->start_boottime / (1000000000ULL / OW_USER_HZ);
}

/* The start time is read only for a tgid that matches: the owner's own
 * opens are the ones that must stay cheap. */
static __always_inline bool owned_by(const struct ow_value *v, __u32 tgid,
				     struct task_struct *task)
{
	for (int i = 0; i < OW_MAX_OWNERS; i++) {
		if (i >= v->nowners)
			break;
		if (v->owners[i].tgid == tgid &&
		    (!v->owners[i].start || v->owners[i].start == start_ticks(task)))
			return true;
	}
	return false;
}

/* A process registered as a VM opening what is only held shared: it will
 * join (an exclusive request of its own fails at the lock), so neither a
 * violation nor refused. What another VM holds exclusive is the conflict. */
static __always_inline bool vm_joins(const struct ow_value *v, __u32 tgid,
				     struct task_struct *task)
{
	__u64 *start;

	if (v->flags & OW_EXCLUSIVE)
		return false;
	start = bpf_map_lookup_elem(&vms, &tgid);
	return start && *start == start_ticks(task);
}

/* The rule of struct ow_allow, on the kernel's own facts of the opener. */
static __always_inline bool allowed(__u32 uid, struct file *exe)
{
	struct ow_allow *a;
	__u32 zero = 0;
	__u64 dev, ino;
	bool ok;

	a = bpf_map_lookup_elem(&allow, &zero);
	if (!a || !a->flags)
		return false;
	if (a->flags & OW_ALLOW_UIDS) {
		ok = false;
		for (int i = 0; i < OW_MAX_ALLOW && i < a->nuids; i++)
			ok |= a->uids[i] == uid;
		if (!ok)
			return false;
	} else if (uid != 0) {
		return false;
	}
	if (a->flags & OW_ALLOW_EXES) {
		if (!exe)
			return false;
		dev = BPF_CORE_READ(exe, f_inode, i_sb, s_dev);
		ino = BPF_CORE_READ(exe, f_inode, i_ino);
		ok = false;
		for (int i = 0; i < OW_MAX_ALLOW && i < a->nexes; i++)
			ok |= a->exes[i].dev == dev && a->exes[i].ino == ino;
		if (!ok)
			return false;
	}
	if (a->flags & OW_ALLOW_CGROUPS) {
		ok = false;
		for (int i = 0; i < OW_MAX_ALLOW && i < a->ncgroups; i++)
			ok |= bpf_get_current_ancestor_cgroup_id(a->cgroup_levels[i]) ==
			      a->cgroup_ids[i];
		if (!ok)
			return false;
	}
	return true;
}

/* Does the inode's policy refuse this access? Never when some owner is
 * beyond what the map holds: the opener may be one. */
static __always_inline bool policy_denies(const struct ow_value *v, bool write)
{
	if (v->nowners > OW_MAX_OWNERS)
		return false;
	return (v->flags & OW_DENY_ALL) || ((v->flags & OW_DENY_WRITE) && write);
}

/* The caller's path and flags, from the open syscall it is in. */
static __always_inline void syscall_args(struct ow_event *e, struct file *file,
					 struct pt_regs *regs, long nr)
{
	const char *path = NULL;
	__u64 flags = 0;

	if (nr == NR_openat) {
		path = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
		flags = PT_REGS_PARM3_CORE_SYSCALL(regs);
	} else if (nr == NR_open) {
		path = (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs);
		flags = PT_REGS_PARM2_CORE_SYSCALL(regs);
	} else if (nr == NR_openat2) {
		path = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
		/* Not its struct open_how: another thread may have rewritten
		 * that since the kernel copied it. The file's own flags. */
		flags = BPF_CORE_READ(file, f_flags);
	} else if (nr == NR_creat) {
		path = (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs);
		flags = O_CREAT | O_WRONLY | O_TRUNC;
	} else {
		flags = PT_REGS_PARM3_CORE_SYSCALL(regs);	/* open_by_handle_at */
	}
	e->syscall = nr;
	e->open_flags = flags;
	if (nr != NR_openat2)
		e->ev_flags |= OW_EV_FLAGS_KNOWN;
	if (path)
		bpf_probe_read_user_str(e->path, sizeof(e->path), path);
}

/* What a hook saw: an open or a truncate of an inode. */
struct sighting {
	struct file *file;		/* NULL: a truncate by path */
	struct pt_regs *regs;		/* the syscall it is in; NULL: none */
	long nr;
	struct ow_key key;		/* the inode's, when known */
	enum ow_hook hook;
	__u32 ev_flags;			/* OW_EV_TRUNCATE, OW_EV_BY_PATH */
	bool known;			/* false: truncate(2) at its exit, inode gone */
	bool lazy_regs;			/* regs, nr: the current task's, read to record */
	bool enforce;			/* the hook can refuse */
	bool write;			/* the file's mode or O_TRUNC, or a truncate */
};

/* The key of an inode the verifier knows (a hook's argument): plain
 * loads, no helper call, as every open of every file pays for them. */
static __always_inline struct ow_key inode_key(struct inode *inode)
{
	return (struct ow_key){ .dev = inode->i_sb->s_dev, .ino = inode->i_ino };
}

/* The syscall the current task is in, for the hooks that see the file. */
static __always_inline void in_task(struct sighting *s)
{
	s->regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	s->nr = s->regs ? (long)SYSCALL_NR(s->regs) : -1;
}

/*
 * Record what s saw if the inode is guarded and the opener no owner;
 * returns -EPERM when s can refuse and the inode's policy says so.
 * The common cases leave first, with the fewest helper calls: an
 * unguarded inode after one map lookup, its owner after one more call
 * (the task) and a start time read only on a tgid match.
 */
static __always_inline int report(struct sighting *s)
{
	struct task_struct *task;
	struct ow_stats *st;
	struct ow_value *v = NULL;
	struct ow_event *e;
	struct file *exe;
	struct pt_regs *regs;
	struct file *file;
	__u32 tgid, zero = 0;
	int verdict = 0;
	__u64 ugid;

	if (s->known) {
		v = bpf_map_lookup_elem(&guarded, &s->key);
		if (!v)
			return 0;
	}
	task = bpf_get_current_task_btf();
	tgid = current_tgid(task);
	if (v && ((tgid == daemon_tgid && !(v->flags & OW_PROBE)) ||
		  owned_by(v, tgid, task) || vm_joins(v, tgid, task)))
		return 0;
	if (!v && tgid == daemon_tgid)
		return 0;
	if (s->lazy_regs)
		in_task(s);
	/* Not s->... in the CO-RE macros: they would relocate struct sighting. */
	regs = s->regs;
	file = s->file;
	ugid = bpf_get_current_uid_gid();
	exe = BPF_CORE_READ(task, mm, exe_file);
	if (v && s->enforce && policy_denies(v, s->write) && !allowed((__u32)ugid, exe))
		verdict = -EPERM;
	st = bpf_map_lookup_elem(&stats, &zero);
	if (!st)
		return verdict;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&st->lost, 1);
		return verdict;
	}
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->dev = s->key.dev;
	e->ino = s->key.ino;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->exe_dev = exe ? BPF_CORE_READ(exe, f_inode, i_sb, s_dev) : 0;
	e->exe_ino = exe ? BPF_CORE_READ(exe, f_inode, i_ino) : 0;
	e->tid = pid_nr(BPF_CORE_READ(task, thread_pid));
	e->tgid = tgid;
	e->ppid = tgid_nr(BPF_CORE_READ(task, real_parent));
	e->uid = (__u32)ugid;
	e->gid = ugid >> 32;
	e->id = v ? v->id : 0;
	e->hook = s->hook;
	e->ev_flags = s->ev_flags | (exe ? OW_EV_EXE_KNOWN : 0) | (verdict ? OW_EV_DENIED : 0);
	e->path[0] = '\0';
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->syscall = s->regs ? s->nr : NO_SYSCALL;
	if (s->ev_flags & OW_EV_TRUNCATE) {
		e->open_flags = 0;
		/* The path as the caller passed it: a record, never a reason. */
		if (regs && s->nr == NR_truncate)
			bpf_probe_read_user_str(e->path, sizeof(e->path),
						(const char *)PT_REGS_PARM1_CORE_SYSCALL(regs));
	} else if (regs && open_syscall(s->nr)) {
		syscall_args(e, file, regs, s->nr);
	} else {
		/* io_uring, or the kernel itself: no syscall to read. */
		e->open_flags = BPF_CORE_READ(file, f_flags);
	}
	/*
	 * Before the open is done the file's flags are the open's, O_CREAT
	 * and O_TRUNC included, and they are what was decided on; after it
	 * (fexit, io_uring), O_CREAT and O_TRUNC are consumed.
	 */
	if (s->enforce && !(s->ev_flags & OW_EV_TRUNCATE)) {
		e->open_flags = BPF_CORE_READ(file, f_flags);
		e->ev_flags |= OW_EV_FLAGS_KNOWN;
	}
	bpf_ringbuf_submit(e, 0);
	__sync_fetch_and_add(&st->events, 1);
	return verdict;
}

SEC("lsm/file_open")
int BPF_PROG(ow_file_open, struct file *file)
{
	struct sighting s = {
		.file = file,
		.key = inode_key(file->f_inode),
		.hook = OW_HOOK_LSM,
		.known = true,
		.lazy_regs = true,
		.enforce = true,
		.write = (file->f_mode & FMODE_WRITE) || (file->f_flags & O_TRUNC),
	};

	return report(&s);
}

/* A truncate of inode: refused as a write would be. One inside an open
 * syscall is its O_TRUNC, which lsm/file_open has judged already. */
static __always_inline int truncating(struct inode *inode, enum ow_hook hook)
{
	struct sighting s = {
		.key = inode_key(inode),
		.hook = hook,
		.ev_flags = OW_EV_TRUNCATE,
		.known = true,
		.enforce = true,
		.write = true,
	};

	in_task(&s);
	if (s.regs && open_syscall(s.nr))
		return 0;
	return report(&s);
}

/* truncate(2), ftruncate(2) before 6.2, an open's O_TRUNC. */
SEC("lsm/path_truncate")
int BPF_PROG(ow_path_truncate, const struct path *path)
{
	return truncating(path->dentry->d_inode, OW_HOOK_PATH_TRUNCATE);
}

/* ftruncate(2) from 6.2 on. */
SEC("lsm/file_truncate")
int BPF_PROG(ow_file_truncate, struct file *file)
{
	return truncating(file->f_inode, OW_HOOK_FILE_TRUNCATE);
}

SEC("fexit/vfs_open")
int BPF_PROG(ow_vfs_open, const struct path *path, struct file *file, int ret)
{
	struct sighting s = {
		.file = file,
		.key = inode_key(file->f_inode),
		.hook = OW_HOOK_FEXIT,
		.known = true,
		.lazy_regs = true,
	};

	if (ret)
		return 0;
	report(&s);
	return 0;
}

/* The file behind fd of the current task, or NULL. */
static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt;
	struct file *file = NULL;

	/*
	 * current->files->fdt->fd[fd]: direct loads where the verifier
	 * knows the type, a helper call only for the array slot and what
	 * lies behind it.
	 */
	fdt = task->files->fdt;
	if (!fdt || fd < 0 || fd >= fdt->max_fds)
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]);
	return file;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(ow_sys_exit, struct pt_regs *regs, long ret)
{
	struct sighting s;
	struct inode *inode;
	struct file *file;
	long nr;

	/* The way out for every other syscall, before any other work. */
	if (ret < 0)
		return 0;
	nr = SYSCALL_NR(regs);
	if (!open_syscall(nr) && nr != NR_ftruncate && nr != NR_truncate)
		return 0;
	if (compat_syscall(bpf_get_current_task_btf()))
		return 0;
	s = (struct sighting){ .regs = regs, .nr = nr, .hook = OW_HOOK_SYS_EXIT };
	if (nr == NR_truncate) {
		/* Done by path: the inode is gone from reach here, so the
		 * daemon looks the caller's path up (a record, never a
		 * decision: the caller could have changed it since). */
		s.ev_flags = OW_EV_TRUNCATE | OW_EV_BY_PATH;
		return report(&s);
	}
	/* An open's new fd, or ftruncate's fd (the syscall's argument,
	 * saved in the kernel's pt_regs: not the caller's memory). */
	file = fd_file(nr == NR_ftruncate ? (long)PT_REGS_PARM1_CORE_SYSCALL(regs) : ret);
	if (!file)
		return 0;
	/* Read, not loaded: the fd table's slot gave a plain address. */
	inode = BPF_CORE_READ(file, f_inode);
	s.file = file;
	s.key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	s.key.ino = BPF_CORE_READ(inode, i_ino);
	s.known = true;
	if (nr == NR_ftruncate)
		s.ev_flags = OW_EV_TRUNCATE;
	return report(&s);
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The open monitor: report every open of a guarded inode by a process that
 * is not one of its owners. Three programs see opens; the daemon loads
 * the first this kernel takes (bpfmon.c) and attaches it only while
 * something is guarded:
 *  - lsm/file_open: every open, from any syscall, io_uring or the kernel;
 *  - fexit/vfs_open: the same, after the fact;
 *  - tp_btf/sys_exit: the open syscalls' returns, the fd resolved to its
 *    inode. It runs on every syscall of every process, so its way out for
 *    all other syscalls is a handful of instructions with no helper call.
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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OW_MAX_GUARDED);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ow_key);
	__type(value, struct ow_value);
} guarded SEC(".maps");

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
#define NO_SYSCALL	((__u32)-1)

#if defined(__TARGET_ARCH_x86)
#define NR_open			2
#define NR_creat		85
#define NR_open_by_handle_at	304
#define NR_openat		257
#define NR_openat2		437
#define SYSCALL_NR(regs)	((regs)->orig_ax)
#define TS_COMPAT		0x0002	/* arch/x86/include/asm/thread_info.h */
#elif defined(__TARGET_ARCH_arm64)
#define NR_open			-1000	/* none: never a syscall number, nor NO_SYSCALL */
#define NR_creat		-1001
#define NR_open_by_handle_at	265
#define NR_openat		56
#define NR_openat2		437
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

/* /proc/PID/stat's clock ticks: USER_HZ is 100 on every arch built for. */
#define NSEC_PER_TICK	(1000000000ULL / 100)

/*
 * One of v's owners: its tgid, and the process that registered, not one
 * given its pid since. (In a time namespace /proc adds an offset to start
 * times: then no start matches here and userspace judges, by /proc too.)
 */
static __always_inline bool owned_by(const struct ow_value *v, __u32 tgid,
				     struct task_struct *task)
{
	for (int i = 0; i < OW_MAX_OWNERS; i++) {
		if (i >= v->nowners)
			break;
		if (v->owners[i] != tgid)
			continue;
		if (!v->starts[i] ||
		    v->starts[i] == BPF_CORE_READ(task, group_leader, start_boottime) / NSEC_PER_TICK)
			return true;
	}
	return false;
}

/* The caller's path and flags, from the open syscall it is in. */
static __always_inline void syscall_args(struct ow_event *e, struct pt_regs *regs, long nr)
{
	const char *path = NULL;
	struct open_how *how;
	__u64 flags = 0;

	if (nr == NR_openat) {
		path = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
		flags = PT_REGS_PARM3_CORE_SYSCALL(regs);
	} else if (nr == NR_open) {
		path = (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs);
		flags = PT_REGS_PARM2_CORE_SYSCALL(regs);
	} else if (nr == NR_openat2) {
		path = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
		how = (struct open_how *)PT_REGS_PARM3_CORE_SYSCALL(regs);
		bpf_probe_read_user(&flags, sizeof(flags), &how->flags);
	} else if (nr == NR_creat) {
		path = (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs);
		flags = O_CREAT | O_WRONLY | O_TRUNC;
	} else {
		flags = PT_REGS_PARM3_CORE_SYSCALL(regs);	/* open_by_handle_at */
	}
	e->syscall = nr;
	e->open_flags = flags;
	e->ev_flags |= OW_EV_FLAGS_KNOWN;
	if (path)
		bpf_probe_read_user_str(e->path, sizeof(e->path), path);
}

static __always_inline int report(struct file *file, struct inode *inode, enum ow_hook hook,
				  struct pt_regs *regs, long nr)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tgid, zero = 0;
	struct ow_key key = {
		.dev = BPF_CORE_READ(inode, i_sb, s_dev),
		.ino = BPF_CORE_READ(inode, i_ino),
	};
	struct ow_stats *st;
	struct file *exe;
	struct ow_value *v;
	struct ow_event *e;
	__u64 ugid;

	v = bpf_map_lookup_elem(&guarded, &key);
	if (!v)
		return 0;
	tgid = tgid_nr(task);
	if ((tgid == daemon_tgid && !(v->flags & OW_PROBE)) || owned_by(v, tgid, task))
		return 0;
	st = bpf_map_lookup_elem(&stats, &zero);
	if (!st)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&st->lost, 1);
		return 0;
	}
	ugid = bpf_get_current_uid_gid();
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->dev = key.dev;
	e->ino = key.ino;
	e->cgroup_id = bpf_get_current_cgroup_id();
	exe = BPF_CORE_READ(task, mm, exe_file);
	e->exe_dev = exe ? BPF_CORE_READ(exe, f_inode, i_sb, s_dev) : 0;
	e->exe_ino = exe ? BPF_CORE_READ(exe, f_inode, i_ino) : 0;
	e->tid = pid_nr(BPF_CORE_READ(task, thread_pid));
	e->tgid = tgid;
	e->ppid = tgid_nr(BPF_CORE_READ(task, real_parent));
	e->uid = (__u32)ugid;
	e->gid = ugid >> 32;
	e->id = v->id;
	e->hook = hook;
	e->ev_flags = exe ? OW_EV_EXE_KNOWN : 0;
	e->path[0] = '\0';
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (regs && open_syscall(nr)) {
		syscall_args(e, regs, nr);
	} else {
		/* io_uring, or the kernel itself: the file's flags, less
		 * O_CREAT and O_TRUNC, which the open has consumed. */
		e->syscall = NO_SYSCALL;
		e->open_flags = BPF_CORE_READ(file, f_flags);
	}
	bpf_ringbuf_submit(e, 0);
	__sync_fetch_and_add(&st->events, 1);
	return 0;
}

/* The syscall the current task is in, for the hooks that see the file. */
static __always_inline int report_in_task(struct file *file, enum ow_hook hook)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return report(file, file->f_inode, hook, regs, regs ? (long)SYSCALL_NR(regs) : -1);
}

SEC("lsm/file_open")
int BPF_PROG(ow_file_open, struct file *file)
{
	report_in_task(file, OW_HOOK_LSM);
	return 0;			/* never refuses: fanotify enforces */
}

SEC("fexit/vfs_open")
int BPF_PROG(ow_vfs_open, const struct path *path, struct file *file, int ret)
{
	if (!ret)
		report_in_task(file, OW_HOOK_FEXIT);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(ow_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	struct fdtable *fdt;
	struct file *file;
	long nr;

	if (ret < 0)
		return 0;
	nr = SYSCALL_NR(regs);
	if (!open_syscall(nr) || compat_syscall(bpf_get_current_task_btf()))
		return 0;
	/*
	 * ret is the new fd: current->files->fdt->fd[ret]. Direct loads
	 * where the verifier knows the type, a helper call only for the
	 * array slot and what lies behind it.
	 */
	task = bpf_get_current_task_btf();
	fdt = task->files->fdt;
	if (!fdt || ret >= fdt->max_fds)
		return 0;
	file = NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[ret]);
	if (!file)
		return 0;
	return report(file, BPF_CORE_READ(file, f_inode), OW_HOOK_SYS_EXIT, regs, nr);
}

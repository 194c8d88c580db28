// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * loadgen: load and fault generator for a lock daemon, speaking the lock
 * protocol directly (the project's codec), and an independent checker of
 * the locks it holds: each lock file is probed with F_OFD_GETLK from a
 * process that is not the daemon.
 *
 *   loadgen run [OPTIONS]     N VMs in this process, each on its own
 *       connection with its own owner pid, acquiring and releasing K disks
 *       for T seconds in the indirect lockspace DIR.  Now and then a VM
 *       tries to take a disk another VM holds: the answer must be "busy"
 *       (a yes would be a doubled lock).  Every C seconds the VMs pause
 *       with every disk held and every lock file is probed.  Prints
 *       throughput, latency percentiles and the daemon's RSS at each
 *       pause; fails on any error a VM should not see, any lost or
 *       doubled lock, or RSS growth after the warm-up (the first W pauses:
 *       buffers such as the audit queue reach their high-water marks).
 *   loadgen hold [OPTIONS]    the VMs acquire their disks, check them, print
 *       "held" and keep them until stdin closes; then exit without
 *       releasing (-r: release first).
 *   loadgen procs [OPTIONS]   N VMs as forked processes registered with
 *       their own pid, as lockd.so does, cycling; X of them are killed with
 *       SIGKILL in mid-request; then the survivors' disks must be locked,
 *       the victims' released, and the daemon's table must agree.
 *   loadgen probe FILE...     print each file's lock: W, R, unlocked, absent.
 *
 * Options: -s SOCKET  -l DIR (/srv/lockspace)  -n VMS (1000)  -k DISKS (4)
 *   -t SECONDS (60)  -c CHECK_EVERY_S (10)  -p DAEMON_PID (RSS)
 *   -m MAX_RSS_GROWTH_KB (2048)  -w WARMUP_PAUSES (1)  -i INTRUDE_PERCENT (5)  -S STALLED (0)
 *   -x VICTIMS (procs)  -r (hold: release before exit)  -z SEED
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rpc.h"
#include "util.h"

#define FAKE_PID_BASE	3000000		/* owner pids of in-process VMs: no such process */
#define REPLY_TIMEOUT_MS 30000
#define SETTLE_MS	5000		/* for the daemon to act on a closed connection */

static struct {
	const char *sock, *dir;
	int nvms, ndisks, seconds, check_every, warmup, intrude_pct, nstalled, victims;
	pid_t daemon_pid;
	long max_growth_kb;
	bool release;
	uint64_t seed;
} opt = {
	.sock = "/run/libvirt/virtlockd-sock", .dir = "/srv/lockspace",
	.nvms = 1000, .ndisks = 4, .seconds = 60, .check_every = 10, .warmup = 1,
	.intrude_pct = 5, .max_growth_kb = 2048, .seed = 1,
};

static int nerrors;

__attribute__((format(printf, 1, 2)))
static void error(const char *fmt, ...)
{
	va_list ap;

	/* The first few say what went wrong; the count says how often. */
	if (nerrors++ < 20) {
		va_start(ap, fmt);
		fputs("error: ", stdout);
		vprintf(fmt, ap);
		putchar('\n');
		va_end(ap);
	}
}

static uint64_t rnd(void)
{
	opt.seed ^= opt.seed << 13;
	opt.seed ^= opt.seed >> 7;
	opt.seed ^= opt.seed << 17;
	return opt.seed;
}

static char *disk_name(int vm, int disk)
{
	return xasprintf("vm%05d-disk%d", vm, disk);
}

static char *disk_path(int vm, int disk)
{
	char *name = disk_name(vm, disk), *path = xasprintf("%s/%s", opt.dir, name);

	free(name);
	return path;
}

/* ---- requests ---- */

static size_t call_begin(struct buf *b, int proc, uint32_t serial)
{
	struct rpc_hdr h = {
		.prog = LOCK_PROGRAM, .vers = LOCK_PROGRAM_VERSION, .proc = proc,
		.type = RPC_CALL, .serial = serial, .status = RPC_OK,
	};

	return rpc_msg_begin(b, &h);
}

static void put_register(struct buf *b, uint32_t serial, int vm, pid_t pid)
{
	size_t start = call_begin(b, LOCK_PROC_REGISTER, serial);
	uint8_t uuid[LOCK_UUID_LEN] = "loadgen-vm";
	char *name = xasprintf("vm%05d", vm);

	uuid[14] = vm >> 8;
	uuid[15] = vm;
	xdr_put_fixed(b, uuid, sizeof(uuid));
	xdr_put_string(b, name);
	xdr_put_u32(b, vm + 1);
	xdr_put_u32(b, pid);
	xdr_put_u32(b, 0);
	rpc_msg_end(b, start);
	free(name);
}

static void put_resource(struct buf *b, uint32_t serial, int proc, int vm, int disk)
{
	size_t start = call_begin(b, proc, serial);
	char *name = disk_name(vm, disk);

	xdr_put_string(b, opt.dir);
	xdr_put_string(b, name);
	xdr_put_u32(b, proc == LOCK_PROC_ACQUIRE_RESOURCE ? LOCK_ACQUIRE_AUTOCREATE : 0);
	rpc_msg_end(b, start);
	free(name);
}

static int connect_to(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", opt.sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		safe_close(fd);
		return err;
	}
	return fd;
}

/*
 * Take one whole message off the front of rx into *h and *e (e->code is
 * ERR_OK for a success); returns 1, 0 when it is not all there yet, or
 * -EBADMSG.
 */
static int take_reply(struct buf *rx, struct rpc_hdr *h, struct lw_err *e)
{
	struct xdr_in in;
	uint32_t len;
	int rc = 1;

	if (rx->len < RPC_LEN_SIZE)
		return 0;
	if (rpc_frame_len(rx->data, RPC_MESSAGE_MAX, &len) < 0)
		return -EBADMSG;
	if (rx->len < len)
		return 0;
	xdr_in_init(&in, rx->data + RPC_LEN_SIZE, len - RPC_LEN_SIZE);
	lw_err_clear(e);
	if (rpc_hdr_decode(&in, h) < 0 ||
	    (h->status == RPC_ERROR && rpc_get_error(&in, e) < 0))
		rc = -EBADMSG;
	buf_consume(rx, len);
	return rc;
}

/* Send b and wait for the reply to serial; returns 0 (e says whether it
 * succeeded) or -errno when the connection failed. */
static int call_sync(int fd, struct buf *b, uint32_t serial, struct buf *rx, struct lw_err *e)
{
	struct rpc_hdr h;
	int rc;

	if ((rc = write_all(fd, b->data, b->len)) < 0)
		return rc;
	b->len = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		while ((rc = take_reply(rx, &h, e)) == 1)
			if (h.type == RPC_REPLY && h.serial == serial)
				return 0;
		if (rc < 0)
			return rc;
		rc = poll(&p, 1, REPLY_TIMEOUT_MS);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return -ETIMEDOUT;
		buf_reserve(rx, 4096);
		n = read(fd, rx->data + rx->len, 4096);
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		rx->len += n;
	}
}

static bool is_busy(const struct lw_err *e)
{
	return e->code == ERR_RESOURCE_BUSY && e->domain == ERR_FROM_LOCKSPACE;
}

/* ---- the checker ---- */

enum lock_seen { SEEN_ABSENT, SEEN_UNLOCKED, SEEN_READ, SEEN_WRITE, SEEN_ERROR };
static const char *const seen_name[] = { "absent", "unlocked", "R", "W", "error" };

/* The lock on byte 0 of path, as any process other than its holder sees it. */
static enum lock_seen probe(const char *path)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int rc;

	if (fd < 0)
		return errno == ENOENT ? SEEN_ABSENT : SEEN_ERROR;
	rc = fcntl(fd, F_OFD_GETLK, &fl);
	close(fd);
	if (rc < 0)
		return SEEN_ERROR;
	return fl.l_type == F_UNLCK ? SEEN_UNLOCKED : fl.l_type == F_RDLCK ? SEEN_READ : SEEN_WRITE;
}

/*
 * Probe the disks of VMs [0, n) in a child process; held[vm] says whether
 * that VM's disks must be locked (W) or free (absent or unlocked).
 * Returns how many are not as expected; with report, they count as errors
 * and the first are shown.
 */
static int probe_all(const bool *held, int n, bool report)
{
	int status, bad = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		error("fork: %m");
		return 1;
	}
	if (pid == 0) {
		for (int vm = 0; vm < n; vm++) {
			for (int k = 0; k < opt.ndisks; k++) {
				char *path = disk_path(vm, k);
				enum lock_seen s = probe(path);
				bool ok = held[vm] ? s == SEEN_WRITE :
					  s == SEEN_ABSENT || s == SEEN_UNLOCKED;

				if (!ok && bad++ < 10 && report)
					printf("error: %s is %s, expected %s\n", path, seen_name[s],
					       held[vm] ? "W (held)" : "free");
				free(path);
			}
		}
		fflush(stdout);
		_exit(bad > 255 ? 255 : bad);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1;
	bad = WEXITSTATUS(status);
	if (report)
		nerrors += bad;
	return bad;
}

static int check_locks(const bool *held, int n)
{
	return probe_all(held, n, true);
}

/* check_locks, once what the daemon does asynchronously had its time. */
static int check_locks_settled(const bool *held, int n)
{
	for (int tries = SETTLE_MS / 100; tries > 0 && probe_all(held, n, false); tries--)
		usleep(100000);
	return check_locks(held, n);
}

static long rss_kb(pid_t pid)
{
	char path[64], *text, *p;
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_file(path, 1 << 16, &text, NULL) < 0)
		return -1;
	if ((p = strstr(text, "VmRSS:")))
		kb = strtol(p + 6, NULL, 10);
	free(text);
	return kb;
}

/* ---- in-process VMs ---- */

enum vm_state {
	VM_REGISTERING,
	VM_IDLE,		/* holds nothing */
	VM_ACQUIRING,		/* holds disks [0, done) */
	VM_HOLDING,		/* every disk */
	VM_INTRUDING,		/* and asks for a disk of another VM */
	VM_GIVING_BACK,		/* and releases the other VM's disk it got */
	VM_RELEASING,		/* holds disks [done, ndisks) */
	VM_DEAD,
};

struct vm {
	int idx, fd;
	enum vm_state state;
	int done;		/* disks acquired or released in this state */
	bool pending;		/* a request is in flight */
	uint32_t serial;
	uint64_t sent_ns;
	int pins;		/* intrusions into this VM's disks in flight */
	struct vm *target;	/* of our intrusion */
	int target_disk;
	bool intruded;		/* this cycle */
	struct buf rx;
};

static struct vm *vms;
static int epfd = -1;
static bool quiesce, stopping;
static uint32_t *lat_us;
static size_t nlat, caplat;
static uint64_t nops, intrusions, refused, doubled, cycles;

static void unpin(struct vm *t);

static void vm_fail(struct vm *v, const char *what, const char *why)
{
	error("vm%05d: %s: %s", v->idx, what, why);
	v->state = VM_DEAD;
	v->pending = false;
	epoll_ctl(epfd, EPOLL_CTL_DEL, v->fd, NULL);
	v->fd = safe_close(v->fd);
	if (v->target)
		unpin(v->target);
}

static void vm_send(struct vm *v, int proc, int vm, int disk)
{
	struct buf b = { 0 };

	if (proc == LOCK_PROC_REGISTER)
		put_register(&b, v->serial, v->idx, FAKE_PID_BASE + v->idx);
	else
		put_resource(&b, v->serial, proc, vm, disk);
	v->sent_ns = now_mono_ns();
	v->pending = true;
	/* One small request at a time: it always fits the socket buffer. */
	if (send(v->fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)b.len)
		vm_fail(v, "send", strerror(errno));
	buf_free(&b);
}

/* The disks [*lo, *hi) that t holds and will not release while pinned. */
static void settled_disks(const struct vm *t, int *lo, int *hi)
{
	*lo = *hi = 0;
	switch (t->state) {
	case VM_ACQUIRING:
		*hi = t->done;
		break;
	case VM_HOLDING:
	case VM_INTRUDING:
	case VM_GIVING_BACK:
		*hi = opt.ndisks;
		break;
	case VM_RELEASING:
		*lo = t->done + t->pending;	/* not the one being released */
		*hi = opt.ndisks;
		break;
	default:
		break;
	}
}

/*
 * Ask for a disk another VM holds: the answer must be "busy". The holder
 * is pinned (releases nothing) until the answer is in, so that a grant
 * can only mean a doubled lock.
 */
static bool intrude(struct vm *v)
{
	struct vm *t = &vms[rnd() % opt.nvms];
	int lo, hi;

	settled_disks(t, &lo, &hi);
	if (t == v || lo >= hi)
		return false;
	v->target = t;
	v->target_disk = lo + rnd() % (hi - lo);
	t->pins++;
	v->state = VM_INTRUDING;
	intrusions++;
	vm_send(v, LOCK_PROC_ACQUIRE_RESOURCE, t->idx, v->target_disk);
	return true;
}

/* The VM's next request, or none while it waits (pins, quiesce, stop). */
static void vm_next(struct vm *v)
{
	switch (v->state) {
	case VM_REGISTERING:
	case VM_IDLE:
		v->state = VM_IDLE;
		if (stopping)
			return;
		v->state = VM_ACQUIRING;
		v->done = 0;
		v->intruded = false;
		/* fall through */
	case VM_ACQUIRING:
		if (v->done < opt.ndisks) {
			vm_send(v, LOCK_PROC_ACQUIRE_RESOURCE, v->idx, v->done);
			return;
		}
		/* fall through */
	case VM_HOLDING:
	case VM_INTRUDING:
	case VM_GIVING_BACK:
		v->state = VM_HOLDING;
		v->target = NULL;
		if (quiesce && !stopping)
			return;
		if (!stopping && !v->intruded && rnd() % 100 < (uint64_t)opt.intrude_pct) {
			v->intruded = true;
			if (intrude(v))
				return;
		}
		v->state = VM_RELEASING;
		v->done = 0;
		/* fall through */
	case VM_RELEASING:
		if (v->pins)
			return;			/* unpin() resumes us */
		if (v->done < opt.ndisks) {
			vm_send(v, LOCK_PROC_RELEASE_RESOURCE, v->idx, v->done);
			return;
		}
		cycles++;
		v->state = VM_IDLE;
		vm_next(v);
		return;
	case VM_DEAD:
		return;
	}
}

static void unpin(struct vm *t)
{
	if (--t->pins == 0 && !t->pending && t->state == VM_RELEASING)
		vm_next(t);
}

static void vm_reply(struct vm *v, const struct lw_err *e)
{
	uint64_t us = (now_mono_ns() - v->sent_ns) / 1000;
	static const char *const doing[] = {
		[VM_REGISTERING] = "register", [VM_ACQUIRING] = "acquire",
		[VM_GIVING_BACK] = "give back", [VM_RELEASING] = "release",
	};

	if (nlat == caplat) {
		caplat = caplat ? caplat * 2 : 1 << 20;
		lat_us = xrealloc(lat_us, caplat * sizeof(*lat_us));
	}
	lat_us[nlat++] = us > UINT32_MAX ? UINT32_MAX : us;
	nops++;
	v->pending = false;
	if (v->state == VM_INTRUDING) {
		unpin(v->target);
		if (is_busy(e)) {
			refused++;
		} else if (e->code == ERR_OK) {
			/* Both hold it now: a doubled lock. Give it back. */
			doubled++;
			error("vm%05d was granted disk %d of vm%05d, which holds it", v->idx,
			      v->target_disk, v->target->idx);
			v->state = VM_GIVING_BACK;
			vm_send(v, LOCK_PROC_RELEASE_RESOURCE, v->target->idx, v->target_disk);
			return;
		} else {
			vm_fail(v, "intrusion", e->message ? e->message : "?");
			return;
		}
	} else if (e->code != ERR_OK) {
		char what[64];

		snprintf(what, sizeof(what), "%s disk %d", doing[v->state], v->done);
		vm_fail(v, what, e->message ? e->message : "?");
		return;
	} else if (v->state == VM_ACQUIRING || v->state == VM_RELEASING) {
		v->done++;
	}
	vm_next(v);
}

static void vm_readable(struct vm *v)
{
	struct lw_err e = { 0 };
	struct rpc_hdr h;
	ssize_t n;
	int rc;

	buf_reserve(&v->rx, 4096);
	n = recv(v->fd, v->rx.data + v->rx.len, 4096, MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		vm_fail(v, "connection", n == 0 ? "closed by the daemon" : strerror(errno));
		return;
	}
	v->rx.len += n;
	while (v->state != VM_DEAD && (rc = take_reply(&v->rx, &h, &e)) != 0) {
		if (rc < 0) {
			vm_fail(v, "reply", "undecodable");
			break;
		}
		if (h.type != RPC_REPLY)
			continue;		/* keepalive */
		if (!v->pending || h.serial != v->serial) {
			vm_fail(v, "reply", "to no request of ours");
			break;
		}
		v->serial++;
		vm_reply(v, &e);
	}
	lw_err_clear(&e);
}

/* Run the event loop until deadline (CLOCK_MONOTONIC ns) or until done(). */
static void pump(uint64_t deadline, bool (*done)(void))
{
	struct epoll_event ev[256];

	while (!(done && done()) && now_mono_ns() < deadline) {
		int n = epoll_wait(epfd, ev, 256, 100);

		for (int i = 0; i < n; i++)
			vm_readable(ev[i].data.ptr);
	}
}

static bool all_settled(void)
{
	for (int i = 0; i < opt.nvms; i++)
		if (vms[i].pending || vms[i].pins)
			return false;
	return true;
}

/* Every live VM at rest; held says which hold their disks. */
static int quiesced_check(bool *held)
{
	int live = 0;

	pump(now_mono_ns() + REPLY_TIMEOUT_MS * 1000000ull, all_settled);
	if (!all_settled())
		error("the VMs did not come to rest within %d ms", REPLY_TIMEOUT_MS);
	for (int i = 0; i < opt.nvms; i++) {
		held[i] = vms[i].state == VM_HOLDING;
		live += vms[i].state != VM_DEAD;
	}
	return live;
}

static void resume(void)
{
	for (int i = 0; i < opt.nvms; i++)
		if (!vms[i].pending && vms[i].state != VM_DEAD)
			vm_next(&vms[i]);
}

/* As lockd.so does once, on a connection of its own. */
static int create_lockspace(void)
{
	struct lw_err e = { 0 };
	struct buf b = { 0 }, rx = { 0 };
	size_t start;
	int fd, rc;

	if ((fd = connect_to()) < 0) {
		error("connect %s: %s", opt.sock, strerror(-fd));
		return fd;
	}
	start = call_begin(&b, LOCK_PROC_CREATE_LOCKSPACE, 0);
	xdr_put_string(&b, opt.dir);
	rpc_msg_end(&b, start);
	rc = call_sync(fd, &b, 0, &rx, &e);
	close(fd);
	buf_free(&b);
	buf_free(&rx);
	if (rc == 0 && e.code != ERR_OK)
		rc = -EIO;
	if (rc < 0)
		error("create lockspace %s: %s", opt.dir, e.message ? e.message : strerror(-rc));
	lw_err_clear(&e);
	return rc;
}

static int vms_start(void)
{
	struct rlimit rl;

	/* A thousand connections need more than the default 1024 fds. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (create_lockspace() < 0)
		return -EIO;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	vms = xcalloc(opt.nvms, sizeof(*vms));
	for (int i = 0; i < opt.nvms; i++)
		vms[i].fd = -1;
	for (int i = 0; i < opt.nvms; i++) {
		struct vm *v = &vms[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = v };

		v->idx = i;
		v->serial = 1;
		if ((v->fd = connect_to()) < 0) {
			error("vm%05d: connect: %s", i, strerror(-v->fd));
			return v->fd;
		}
		epoll_ctl(epfd, EPOLL_CTL_ADD, v->fd, &ev);
		v->state = VM_REGISTERING;
		vm_send(v, LOCK_PROC_REGISTER, i, 0);
	}
	return 0;
}

static void vms_close(void)
{
	for (int i = 0; vms && i < opt.nvms; i++) {
		safe_close(vms[i].fd);
		buf_free(&vms[i].rx);
	}
	free(vms);
	vms = NULL;
	safe_close(epfd);
}

/* Connections that send part of a request and stall, for the whole run. */
struct stalled {
	int fd;
	struct buf req;
	size_t sent;
};

static struct stalled *stall_start(void)
{
	struct stalled *s = xcalloc(opt.nstalled + 1, sizeof(*s));

	for (int i = 0; i < opt.nstalled; i++) {
		if ((s[i].fd = connect_to()) < 0) {
			error("stalled client %d: connect: %s", i, strerror(-s[i].fd));
			continue;
		}
		put_register(&s[i].req, 0, opt.nvms + i, FAKE_PID_BASE + opt.nvms + i);
		/* Anywhere in the frame: in the length word, the header, the body. */
		s[i].sent = 1 + rnd() % (s[i].req.len - 1);
		if (write_all(s[i].fd, s[i].req.data, s[i].sent) < 0)
			error("stalled client %d: send: %m", i);
	}
	return s;
}

/* The stalled clients finish their request (with complete): each must now
 * be answered. */
static void stall_finish(struct stalled *s, bool complete)
{
	struct lw_err e = { 0 };

	for (int i = 0; i < opt.nstalled; i++) {
		struct buf rest = { 0 }, rx = { 0 };
		int rc;

		if (s[i].fd < 0 || !complete) {
			buf_free(&s[i].req);
			safe_close(s[i].fd);
			continue;
		}
		buf_reserve(&rest, s[i].req.len - s[i].sent);
		rest.len = s[i].req.len - s[i].sent;
		memcpy(rest.data, s[i].req.data + s[i].sent, rest.len);
		rc = call_sync(s[i].fd, &rest, 0, &rx, &e);
		if (rc < 0 || e.code != ERR_OK)
			error("stalled client %d (cut at byte %zu): %s", i, s[i].sent,
			      rc < 0 ? strerror(-rc) : e.message);
		lw_err_clear(&e);
		buf_free(&rest);
		buf_free(&rx);
		buf_free(&s[i].req);
		close(s[i].fd);
	}
	free(s);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t percentile(double p)
{
	size_t i = (size_t)(p * (nlat - 1));

	return nlat ? lat_us[i] : 0;
}

struct run_stats {
	uint64_t start, end, paused;
	long rss_first, rss_last, rss_max;
	int checks, lost;
};

/* The load until its time is up, paused for a check every C seconds;
 * then every VM releases everything, and every lock file must be free. */
static void run_load(bool *held, struct run_stats *st)
{
	uint64_t end;

	st->start = now_mono_ns();
	end = st->start + opt.seconds * 1000000000ull;
	printf("rss_kb");
	while (now_mono_ns() < end && !nerrors) {
		uint64_t next = now_mono_ns() + opt.check_every * 1000000000ull, t0;
		long rss;

		pump(next < end ? next : end, NULL);
		/* Pause every VM with its disks held, and look at every lock file. */
		t0 = now_mono_ns();
		quiesce = true;
		resume();
		quiesced_check(held);
		st->lost += check_locks(held, opt.nvms);
		st->checks++;
		if (opt.daemon_pid && (rss = rss_kb(opt.daemon_pid)) > 0) {
			printf(" %ld", rss);
			fflush(stdout);
			if (st->checks == opt.warmup)
				st->rss_first = rss;
			st->rss_last = rss;
			st->rss_max = rss > st->rss_max ? rss : st->rss_max;
		}
		quiesce = false;
		st->paused += now_mono_ns() - t0;
		resume();
	}
	putchar('\n');
	stopping = true;
	resume();
	quiesced_check(held);
	st->lost += check_locks(held, opt.nvms);
	st->end = now_mono_ns();
}

static void print_stats(struct run_stats *st)
{
	double active = (st->end - st->start - st->paused) / 1e9;

	qsort(lat_us, nlat, sizeof(*lat_us), cmp_u32);
	printf("clients=%d disks=%d resources=%d seconds=%.1f stalled=%d\n", opt.nvms,
	       opt.ndisks, opt.nvms * opt.ndisks, (st->end - st->start) / 1e9, opt.nstalled);
	printf("ops=%llu ops_per_s=%.0f cycles=%llu\n", (unsigned long long)nops,
	       nops / active, (unsigned long long)cycles);
	printf("latency_us p50=%u p90=%u p99=%u p999=%u max=%u\n", percentile(0.5),
	       percentile(0.9), percentile(0.99), percentile(0.999), nlat ? lat_us[nlat - 1] : 0);
	printf("checks=%d lost=%d intrusions=%llu refused=%llu doubled=%llu\n", st->checks,
	       st->lost, (unsigned long long)intrusions, (unsigned long long)refused,
	       (unsigned long long)doubled);
	if (opt.daemon_pid && st->rss_first < 0) {
		printf("rss_growth_kb=none (no pause after the warm-up)\n");
	} else if (opt.daemon_pid) {
		long growth = st->rss_last - st->rss_first;

		printf("rss_growth_kb=%ld rss_max_kb=%ld\n", growth, st->rss_max);
		if (growth > opt.max_growth_kb)
			error("the daemon's RSS grew by %ld KiB after warm-up (limit %ld)",
			      growth, opt.max_growth_kb);
	}
}

static int cmd_run(void)
{
	struct run_stats st = { .rss_first = -1, .rss_last = -1, .rss_max = -1 };
	bool *held = xcalloc(opt.nvms, sizeof(*held));
	struct stalled *stalled = stall_start();
	bool started = vms_start() == 0;

	if (started)
		run_load(held, &st);
	stall_finish(stalled, started);
	vms_close();
	if (started)
		print_stats(&st);
	printf("errors=%d\n", nerrors);
	free(held);
	free(lat_us);
	return nerrors ? 1 : 0;
}

static int cmd_hold(void)
{
	bool *held = xcalloc(opt.nvms, sizeof(*held));
	char c;

	quiesce = true;
	if (vms_start() < 0)
		goto out;
	if (quiesced_check(held) != opt.nvms)
		error("not every VM got its disks");
	check_locks(held, opt.nvms);
	printf("%s\n", nerrors ? "not held" : "held");
	fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
	if (opt.release) {
		stopping = true;
		resume();
		quiesced_check(held);
		check_locks(held, opt.nvms);
	}
out:
	vms_close();
	free(held);
	return nerrors ? 1 : 0;
}

/* ---- VMs as processes ---- */

enum proc_phase { PH_IDLE, PH_SENDING, PH_WAITING, PH_FROZEN };

static volatile sig_atomic_t freeze;

static void on_usr1(int sig)
{
	freeze = 1;
}

/* One request as lockd.so sends it, split in two writes so that a kill
 * can land in the middle of the frame as well as while it is answered. */
static int proc_call(int fd, struct buf *b, uint32_t serial, struct buf *rx,
		     volatile uint8_t *phase)
{
	struct lw_err e = { 0 };
	size_t half = b->len / 2;
	int rc;

	*phase = PH_SENDING;
	if ((rc = write_all(fd, b->data, half)) < 0)
		return rc;
	usleep(rnd() % 500);
	buf_consume(b, half);
	*phase = PH_WAITING;
	rc = call_sync(fd, b, serial, rx, &e);
	*phase = PH_IDLE;
	if (rc == 0 && e.code != ERR_OK) {
		fprintf(stderr, "pid %d: %s\n", getpid(), e.message);
		rc = -EPROTO;
	}
	lw_err_clear(&e);
	return rc;
}

static void proc_vm(int idx, int ready_fd, volatile uint8_t *phase)
{
	struct buf b = { 0 }, rx = { 0 };
	uint32_t serial = 0;
	int fd, k;
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };

	sigaction(SIGUSR1, &sa, NULL);
	opt.seed += idx;
	if ((fd = connect_to()) < 0)
		_exit(2);
	put_register(&b, serial, idx, getpid());
	if (proc_call(fd, &b, serial++, &rx, phase) < 0)
		_exit(3);
	for (;;) {
		for (k = 0; k < opt.ndisks; k++) {
			put_resource(&b, serial, LOCK_PROC_ACQUIRE_RESOURCE, idx, k);
			if (proc_call(fd, &b, serial++, &rx, phase) < 0)
				_exit(4);
		}
		if (freeze) {
			/* Every disk held: tell the parent, and keep them. */
			*phase = PH_FROZEN;
			if (write(ready_fd, "x", 1) != 1)
				_exit(5);
			for (;;)
				pause();
		}
		for (k = 0; k < opt.ndisks; k++) {
			put_resource(&b, serial, LOCK_PROC_RELEASE_RESOURCE, idx, k);
			if (proc_call(fd, &b, serial++, &rx, phase) < 0)
				_exit(6);
		}
	}
}

/* Probe the daemon's own table: a disk is free exactly when a newcomer
 * can take it. */
static void check_table(const bool *held)
{
	struct lw_err e = { 0 };
	struct buf b = { 0 }, rx = { 0 };
	uint32_t serial = 0;
	int fd = connect_to(), rc;

	if (fd < 0) {
		error("verifier: connect: %s", strerror(-fd));
		return;
	}
	put_register(&b, serial, opt.nvms, FAKE_PID_BASE);
	rc = call_sync(fd, &b, serial++, &rx, &e);
	for (int vm = 0; vm < opt.nvms && rc == 0; vm++) {
		for (int k = 0; k < opt.ndisks && rc == 0; k++) {
			put_resource(&b, serial, LOCK_PROC_ACQUIRE_RESOURCE, vm, k);
			if ((rc = call_sync(fd, &b, serial++, &rx, &e)) < 0)
				break;
			if (held[vm] ? !is_busy(&e) : e.code != ERR_OK)
				error("the daemon's table: disk %d of vm%05d: %s, expected %s", k, vm,
				      e.code ? e.message : "granted", held[vm] ? "busy" : "granted");
			if (e.code == ERR_OK) {
				put_resource(&b, serial, LOCK_PROC_RELEASE_RESOURCE, vm, k);
				rc = call_sync(fd, &b, serial++, &rx, &e);
			}
		}
	}
	if (rc < 0)
		error("verifier: %s", strerror(-rc));
	lw_err_clear(&e);
	buf_free(&b);
	buf_free(&rx);
	close(fd);
}

static int cmd_procs(void)
{
	volatile uint8_t *phase = mmap(NULL, opt.nvms, PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int pipefd[2], mid_frame = 0, awaiting = 0, nsurvivors = 0, live = 0;
	bool *held;
	pid_t *pids;
	char c;

	if (phase == MAP_FAILED || pipe2(pipefd, O_CLOEXEC) < 0) {
		error("setup: %m");
		return 1;
	}
	if (create_lockspace() < 0)
		return 1;
	held = xcalloc(opt.nvms, sizeof(*held));
	pids = xcalloc(opt.nvms, sizeof(*pids));
	for (int i = 0; i < opt.nvms; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(pipefd[0]);
			proc_vm(i, pipefd[1], phase + i);
		}
		held[i] = true;
	}
	close(pipefd[1]);
	usleep(opt.seconds * 1000000);
	/* The victims, at random moments over a second, mostly mid-request. */
	for (int i = 0; i < opt.victims && i < opt.nvms; i++) {
		int v = rnd() % opt.nvms;

		if (!held[v]) {
			i--;
			continue;
		}
		usleep(rnd() % (1000000 / (opt.victims + 1)));
		if (phase[v] == PH_SENDING)
			mid_frame++;
		else if (phase[v] == PH_WAITING)
			awaiting++;
		kill(pids[v], SIGKILL);
		waitpid(pids[v], NULL, 0);
		held[v] = false;
	}
	for (int i = 0; i < opt.nvms; i++) {
		if (held[i]) {
			kill(pids[i], SIGUSR1);
			nsurvivors++;
		}
	}
	for (int i = 0; i < nsurvivors; i++) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };

		if (poll(&p, 1, REPLY_TIMEOUT_MS) <= 0 || read(pipefd[0], &c, 1) != 1) {
			error("only %d of %d survivors came to hold their disks", i, nsurvivors);
			break;
		}
	}
	for (int i = 0; i < opt.nvms; i++) {
		int st;

		if (held[i] && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
			error("vm%05d exited (status %#x) before it held its disks", i, st);
			held[i] = false;
		}
		live += held[i];
	}
	printf("killed=%d mid_frame=%d awaiting_reply=%d survivors=%d\n", opt.victims,
	       mid_frame, awaiting, live);
	check_locks_settled(held, opt.nvms);
	check_table(held);
	/* The survivors go too (SIGKILL): everything must be released. */
	for (int i = 0; i < opt.nvms; i++) {
		if (held[i]) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
			held[i] = false;
		}
	}
	check_locks_settled(held, opt.nvms);
	printf("errors=%d\n", nerrors);
	free(held);
	free(pids);
	return nerrors ? 1 : 0;
}

static int cmd_probe(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		printf("%s %s\n", argv[i], seen_name[probe(argv[i])]);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(cmd, "probe"))
		return cmd_probe(argc - 2, argv + 2);
	optind = 2;
	while ((c = getopt(argc, argv, "s:l:n:k:t:c:p:m:w:i:S:x:rz:")) != -1) {
		switch (c) {
		case 's': opt.sock = optarg; break;
		case 'l': opt.dir = optarg; break;
		case 'n': opt.nvms = atoi(optarg); break;
		case 'k': opt.ndisks = atoi(optarg); break;
		case 't': opt.seconds = atoi(optarg); break;
		case 'c': opt.check_every = atoi(optarg); break;
		case 'p': opt.daemon_pid = atoi(optarg); break;
		case 'm': opt.max_growth_kb = atol(optarg); break;
		case 'w': opt.warmup = atoi(optarg); break;
		case 'i': opt.intrude_pct = atoi(optarg); break;
		case 'S': opt.nstalled = atoi(optarg); break;
		case 'x': opt.victims = atoi(optarg); break;
		case 'r': opt.release = true; break;
		case 'z': opt.seed = strtoull(optarg, NULL, 0) | 1; break;
		default: return 2;
		}
	}
	if (opt.nvms < 2 || opt.ndisks < 1 || opt.check_every < 1 || opt.warmup < 1 ||
	    opt.victims >= opt.nvms) {
		fprintf(stderr, "loadgen: bad options\n");
		return 2;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run();
	if (!strcmp(cmd, "hold"))
		return cmd_hold();
	if (!strcmp(cmd, "procs"))
		return cmd_procs();
	fprintf(stderr, "usage: loadgen run|hold|procs [OPTIONS] | loadgen probe FILE...\n");
	return 2;
}

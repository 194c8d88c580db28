// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * guardbench: what the guard's monitors cost other processes, in ns per
 * operation: a getppid() loop (every syscall pays for a sys_exit hook) and
 * an open+close loop. The machine is shared, so time is this thread's CPU
 * time, every figure is the best of 21 rounds (-r) of 100 ms, and figures
 * to be compared are measured in interleaved rounds of one process.
 *
 *   guardbench [-w] [-r ROUNDS] compare IMAGE DIR OP   each round, OP in four states:
 *       none      nothing attached (nothing guarded);
 *       empty     an empty program on tp_btf/sys_exit: the hook's own price,
 *                 the floor for any program there;
 *       guard1    this process is IMAGE's lock owner, as a VM (registered
 *                 with its own pid, IMAGE acquired in the default lockspace):
 *                 the daemon's monitors watch one image;
 *       guardN    and 10000 more, lock files in the indirect lockspace DIR.
 *   guardbench [-e] owner IMAGE OP    as IMAGE's owner, OP alone; -e: and
 *                                     in the rounds between, under an empty
 *                                     lsm/file_open program (empty_lsm=NS):
 *                                     the floor for any program there.
 *   guardbench plain OP               OP alone, no daemon needed.
 *
 * OP: getppid, or open PATH. -w: wall time, not CPU time (see cpu_ns).
 * Prints "STATE=NS" per state.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <getopt.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rpc.h"
#include "util.h"

#define ROUNDS		21		/* -r */
#define ROUND_NS	100000000ull
#define MANY		10000
#define SETTLE_US	500000		/* after 10001 locks: the audit log's writer is busy */

enum state { NONE, EMPTY, GUARD1, GUARDN, STATES };

static const char *const state_names[STATES] = { "none", "empty", "guard1", "guard10001" };

struct conn {
	int fd;
	uint32_t serial;
	struct buf out;
};

static size_t begin(struct conn *c, int proc)
{
	struct rpc_hdr h = {
		.prog = LOCK_PROGRAM, .vers = LOCK_PROGRAM_VERSION, .proc = proc,
		.type = RPC_CALL, .serial = c->serial++, .status = RPC_OK,
	};

	return rpc_msg_begin(&c->out, &h);
}

static int read_exact(int fd, void *p, size_t n)
{
	for (ssize_t r; n; n -= r, p = (char *)p + r)
		if ((r = read(fd, p, n)) <= 0)
			return r < 0 ? -errno : -EPIPE;
	return 0;
}

/* Send what is queued, then read n replies: all must be OK. */
static int flush(struct conn *c, size_t n)
{
	uint8_t len[RPC_LEN_SIZE], body[4096];
	struct xdr_in in;
	struct rpc_hdr h;
	uint32_t total;
	int rc;

	if (write_all(c->fd, c->out.data, c->out.len) < 0)
		return -errno;
	c->out.len = 0;
	while (n--) {
		if ((rc = read_exact(c->fd, len, sizeof(len))) < 0)
			return rc;
		if (rpc_frame_len(len, sizeof(body), &total) < 0 ||
		    (rc = read_exact(c->fd, body, total - RPC_LEN_SIZE)) < 0)
			return -EPROTO;
		xdr_in_init(&in, body, total - RPC_LEN_SIZE);
		if (rpc_hdr_decode(&in, &h) < 0 || h.status != RPC_OK)
			return -EPROTO;
	}
	return 0;
}

/* Register as a VM with our own pid. */
static int connect_owner(struct conn *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/run/libvirt/virtlockd-sock" };
	uint8_t uuid[LOCK_UUID_LEN] = "guardbench-vm";
	size_t start;

	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	start = begin(c, LOCK_PROC_REGISTER);
	xdr_put_fixed(&c->out, uuid, sizeof(uuid));
	xdr_put_string(&c->out, "guardbench");
	xdr_put_u32(&c->out, 1);
	xdr_put_u32(&c->out, getpid());
	xdr_put_u32(&c->out, 0);
	rpc_msg_end(&c->out, start);
	return flush(c, 1);
}

static void resource(struct conn *c, int proc, const char *dir, const char *name)
{
	size_t start = begin(c, proc);

	xdr_put_string(&c->out, dir);
	xdr_put_string(&c->out, name);
	xdr_put_u32(&c->out, proc == LOCK_PROC_ACQUIRE_RESOURCE && *dir ?
		    LOCK_ACQUIRE_AUTOCREATE : 0);
	rpc_msg_end(&c->out, start);
}

/* Acquire or release image and, with dir, MANY lock files in dir. */
static int hold(struct conn *c, int proc, const char *image, const char *dir)
{
	char name[32];

	resource(c, proc, "", image);
	for (int i = 0; dir && i < MANY; i++) {
		snprintf(name, sizeof(name), "bench-%05d", i);
		resource(c, proc, dir, name);
	}
	return flush(c, dir ? MANY + 1 : 1);
}

static int new_lockspace(struct conn *c, const char *dir)
{
	size_t start = begin(c, LOCK_PROC_CREATE_LOCKSPACE);

	xdr_put_string(&c->out, dir);
	rpc_msg_end(&c->out, start);
	return flush(c, 1);
}

/*
 * An empty program (r0 = 0; exit) on a BTF hook: tp_btf/sys_exit (TRACING,
 * BPF_TRACE_RAW_TP) or lsm/file_open (LSM, BPF_LSM_MAC); returns its link.
 */
static int empty_hook(enum bpf_prog_type type, enum bpf_attach_type attach, const char *hook)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach);
	int prog, link;

	opts.attach_btf_id = libbpf_find_vmlinux_btf_id(hook, attach);
	if ((int)opts.attach_btf_id < 0)
		return opts.attach_btf_id;
	prog = bpf_prog_load(type, "empty_hook", "GPL", insns, ARRAY_SIZE(insns), &opts);
	if (prog < 0)
		return prog;
	link = bpf_raw_tracepoint_open(NULL, prog);
	close(prog);
	return link;
}

/*
 * This thread's CPU time, so time others take the CPU away does not
 * count: the price of a program run by the syscall itself. With -w, wall
 * time: what an open that waits for an answer (fanotify) takes.
 */
static clockid_t clock_id = CLOCK_THREAD_CPUTIME_ID;
static int rounds = ROUNDS;
static bool empty_lsm;		/* -e */

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(clock_id, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static double round_ns(const char *path)
{
	uint64_t start = cpu_ns(), n = 0, t;

	do {
		for (int i = 0; i < 1000; i++) {
			if (path) {
				int fd = open(path, O_RDONLY | O_CLOEXEC);

				if (fd < 0) {
					perror(path);
					exit(1);
				}
				close(fd);
			} else {
				syscall(SYS_getppid);
			}
		}
		n += 1000;
		t = cpu_ns() - start;
	} while (t < ROUND_NS);
	return (double)t / n;
}

static void best(double *b, double ns)
{
	if (!*b || ns < *b)
		*b = ns;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "guardbench: %s: %s\n", what, strerror(-rc));
	return 1;
}

static int compare(const char *image, const char *dir, const char *path)
{
	struct conn c = { 0 };
	double ns[STATES] = { 0 };
	int rc, link;

	if ((rc = connect_owner(&c)) < 0 || (rc = new_lockspace(&c, dir)) < 0)
		return fail("cannot register with the daemon", rc);
	for (int r = 0; r < rounds; r++) {
		best(&ns[NONE], round_ns(path));
		if ((link = empty_hook(BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, "sys_exit")) < 0)
			return fail("empty tp_btf/sys_exit program", link);
		best(&ns[EMPTY], round_ns(path));
		close(link);
		if ((rc = hold(&c, LOCK_PROC_ACQUIRE_RESOURCE, image, NULL)) < 0)
			return fail("cannot lock the image", rc);
		best(&ns[GUARD1], round_ns(path));
		if ((rc = hold(&c, LOCK_PROC_RELEASE_RESOURCE, image, NULL)) < 0 ||
		    (rc = hold(&c, LOCK_PROC_ACQUIRE_RESOURCE, image, dir)) < 0)
			return fail("cannot lock 10001 files", rc);
		usleep(SETTLE_US);
		best(&ns[GUARDN], round_ns(path));
		if ((rc = hold(&c, LOCK_PROC_RELEASE_RESOURCE, image, dir)) < 0)
			return fail("cannot unlock 10001 files", rc);
		usleep(SETTLE_US);
	}
	for (int s = 0; s < STATES; s++)
		printf("%s=%.1f\n", state_names[s], ns[s]);
	return 0;
}

/* image: as its owner; NULL: alone. */
static int single(const char *image, const char *path)
{
	double ns = 0, empty_ns = 0;
	struct conn c = { 0 };
	int rc, link;

	if (image && ((rc = connect_owner(&c)) < 0 ||
		      (rc = hold(&c, LOCK_PROC_ACQUIRE_RESOURCE, image, NULL)) < 0))
		return fail("cannot lock the image as its owner", rc);
	for (int r = 0; r < rounds; r++) {
		best(&ns, round_ns(path));
		if (!empty_lsm)
			continue;
		if ((link = empty_hook(BPF_PROG_TYPE_LSM, BPF_LSM_MAC, "file_open")) < 0)
			return fail("empty lsm/file_open program", link);
		best(&empty_ns, round_ns(path));
		close(link);
	}
	printf("%s=%.1f\n", image ? "owner" : "plain", ns);
	if (empty_lsm)
		printf("empty_lsm=%.1f\n", empty_ns);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode, *path = NULL;
	int op;

	for (int c; (c = getopt(argc, argv, "+ewr:")) != -1;) {
		if (c == 'e')
			empty_lsm = true;
		else if (c == 'w')
			clock_id = CLOCK_MONOTONIC;
		else if (c == 'r' && atoi(optarg) > 0)
			rounds = atoi(optarg);
		else
			goto usage;
	}
	argc -= optind - 1;
	argv += optind - 1;
	mode = argc > 1 ? argv[1] : "";
	op = !strcmp(mode, "compare") ? 4 : !strcmp(mode, "owner") ? 3 : 2;

	if (argc == op + 1 && !strcmp(argv[op], "getppid"))
		path = NULL;
	else if (argc == op + 2 && !strcmp(argv[op], "open"))
		path = argv[op + 1];
	else
		goto usage;
	if (op == 4)
		return compare(argv[2], argv[3], path);
	if (op == 3 || !strcmp(mode, "plain"))
		return single(op == 3 ? argv[2] : NULL, path);
usage:
	fprintf(stderr, "usage: %s [-ew] [-r ROUNDS] compare IMAGE DIR OP | owner IMAGE OP | plain OP\n"
		"  OP: getppid | open PATH\n", argv[0]);
	return 2;
}

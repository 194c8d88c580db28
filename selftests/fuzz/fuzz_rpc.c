// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The daemon's request path from the first byte a client sends: the
 * client's framing (clients.c), the header and program routing
 * (rpcserver.c), the XDR arguments of every lock procedure (lockprog.c)
 * and what the procedures then do to lockspaces, on real files in the
 * sandbox. Each input is one connection of a fresh daemon:
 *
 *   byte 0   how the stream is cut into reads (1..16 bytes, or up to 64 KiB)
 *   byte 1   bit 0: the admin socket instead of the lock socket
 *   rest     what the client sends, then it shuts down its side
 *
 * Every reply must be a well-formed frame that a client decodes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "rpc.h"
#include "rpcserver.h"
#include "sandbox.h"
#include "util.h"

static struct daemon d;
static struct loop_timer tick;
static bool closed;

/* What the daemon does when a connection ends, minus killing the owner
 * (here the peer is the fuzzer itself). */
static void client_closed(void *data, struct client *c)
{
	closed = true;
	if (!c->owner_pid)
		return;
	lockspace_release_owner(d.default_ls, c->owner_pid);
	for (size_t i = 0; i < d.nspaces; i++)
		lockspace_release_owner(d.spaces[i], c->owner_pid);
}

static void tick_fn(struct loop_timer *t)
{
}

static void after_batch(void *data)
{
	clients_reap(&d.clients);
	loop_quit(d.loop, 0);
}

/* One batch of the daemon's real event loop, without blocking. */
static void step(void)
{
	loop_timer_arm(d.loop, &tick, 0, tick_fn);
	loop_run(d.loop);
}

/* Check every complete reply in rx, and drop it. */
static void check_replies(struct buf *rx)
{
	size_t used = 0;

	while (rx->len - used >= RPC_LEN_SIZE) {
		struct xdr_in in;
		struct rpc_hdr h;
		struct lw_err e = { 0 };
		uint32_t len;

		if (rpc_frame_len(rx->data + used, RPC_MESSAGE_MAX, &len) < 0)
			abort();	/* the daemon sent a malformed frame */
		if (rx->len - used < len)
			break;
		xdr_in_init(&in, rx->data + used + RPC_LEN_SIZE, len - RPC_LEN_SIZE);
		if (rpc_hdr_decode(&in, &h) < 0)
			abort();
		if (h.type == RPC_REPLY && h.status == RPC_ERROR) {
			if (rpc_get_error(&in, &e) < 0 || !e.message || in.pos != in.len)
				abort();	/* an error reply libvirt cannot decode */
			lw_err_clear(&e);
		}
		used += len;
	}
	buf_consume(rx, used);
}

static void drain(int fd, struct buf *rx)
{
	for (;;) {
		ssize_t n;

		buf_reserve(rx, 65536);
		n = recv(fd, rx->data + rx->len, 65536, MSG_DONTWAIT);
		if (n <= 0)
			break;
		rx->len += n;
		check_replies(rx);
	}
}

/* Back to a daemon that never saw a request: no lock, no lockspace, no file. */
static void reset(void)
{
	for (size_t i = 0; i < d.nspaces; i++)
		lockspace_free(d.spaces[i]);
	free(d.spaces);
	d.spaces = NULL;
	d.nspaces = 0;
	lockspace_free(d.default_ls);
	d.default_ls = NULL;
	d.nresources = d.nposix = 0;
	sandbox_wipe();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct client_ops ops = {
		.frame = rpc_handle_frame,
		.closed = client_closed,
		.data = &d,
	};

	sandbox_enter(argc, argv);
	d.privileged = true;
	config_defaults(&d.cfg);
	if (loop_new(&d.loop) < 0)
		abort();
	loop_set_after_batch(d.loop, after_batch, NULL);
	clients_init(&d.clients, d.loop, &ops);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lw_err err = { 0 };
	struct buf rx = { 0 };
	struct client *c;
	size_t chunk, off = 2;
	int sv[2];

	if (size < 2)
		return 0;
	chunk = data[0] < 16 ? data[0] + 1u : (data[0] - 15u) * 292u;
	if (lockspace_new(NULL, daemon_lockspace_hooks(&d), &d.default_ls, &err) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0 ||
	    clients_add(&d.clients, sv[0], data[1] & 1 ? CLIENT_ADMIN : CLIENT_LOCK, &c) < 0)
		abort();
	closed = false;
	while (off < size && !closed) {
		ssize_t n = send(sv[1], data + off, chunk < size - off ? chunk : size - off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0)
			off += n;
		else if (errno != EAGAIN)
			break;
		step();
		drain(sv[1], &rx);
	}
	/* The rest is answered, then the end of file closes the connection. */
	shutdown(sv[1], SHUT_WR);
	while (!closed) {
		step();
		drain(sv[1], &rx);
	}
	close(sv[1]);
	buf_free(&rx);
	reset();
	return 0;
}

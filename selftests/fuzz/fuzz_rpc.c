// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The daemon's request path from the first byte a client sends: the
 * client's framing (clients.c), the header and program routing
 * (rpcserver.c), the XDR arguments of every procedure of the lock and
 * admin programs, and what they then do to lockspaces, on real files in
 * the sandbox. Each input is one connection to a fresh daemon:
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

#include "fixture.h"
#include "rpc.h"
#include "sandbox.h"
#include "util.h"

static struct daemon d;

/* Check every complete reply in rx, and drop it. */
static void check_replies(struct buf *rx)
{
	size_t used = 0;

	while (rx->len - used >= RPC_LEN_SIZE) {
		struct lw_err e = { 0 };
		struct xdr_in in;
		struct rpc_hdr h;
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

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	sandbox_enter(argc, argv);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum client_kind kind;
	struct buf rx = { 0 };
	struct client *c;
	size_t chunk, off = 2;
	int sv[2];

	if (size < 2)
		return 0;
	chunk = data[0] < 16 ? data[0] + 1u : (data[0] - 15u) * 292u;
	kind = data[1] & 1 ? CLIENT_ADMIN : CLIENT_LOCK;
	fixture_start(&d);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0 ||
	    clients_add(&d.clients, sv[0], kind, &c) < 0)
		abort();
	/* The peer is this process: pid -1 keeps the reaper from killing it
	 * when a request registered that pid as the owner. */
	c->pid = -1;
	daemon_client_accepted(&d, c, false);
	while (off < size && clients_count(&d.clients, kind)) {
		size_t n = chunk < size - off ? chunk : size - off;
		ssize_t sent = send(sv[1], data + off, n, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (sent > 0)
			off += sent;
		else if (errno != EAGAIN)
			break;
		fixture_step(&d);
		drain(sv[1], &rx);
	}
	/* The rest is answered, then the end of file closes the connection. */
	shutdown(sv[1], SHUT_WR);
	while (clients_count(&d.clients, kind)) {
		fixture_step(&d);
		drain(sv[1], &rx);
	}
	close(sv[1]);
	buf_free(&rx);
	fixture_stop(&d);
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc.h"
#include "rpcclient.h"
#include "util.h"

int rpc_client_connect(struct rpc_client *c, const char *path, uint32_t prog, uint32_t vers)
{
	struct sockaddr_un sa;
	int rc;

	memset(c, 0, sizeof(*c));
	c->prog = prog;
	c->vers = vers;
	c->timeout_ms = 30000;
	if ((rc = unix_addr(&sa, path)) < 0)
		return rc;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		c->fd = safe_close(c->fd);
		return rc;
	}
	return 0;
}

void rpc_client_close(struct rpc_client *c)
{
	c->fd = safe_close(c->fd);
}

static int read_exact(struct rpc_client *c, uint8_t *p, size_t n)
{
	while (n) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, c->timeout_ms) == 0)
			return -ETIMEDOUT;
		r = read(c->fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		p += r;
		n -= r;
	}
	return 0;
}

/* The next message: its header and payload (in *msg, from *payload). */
static int read_message(struct rpc_client *c, struct rpc_hdr *h, struct buf *msg,
			struct xdr_in *payload)
{
	uint8_t lenbuf[RPC_LEN_SIZE];
	uint32_t len;
	int rc;

	if ((rc = read_exact(c, lenbuf, sizeof(lenbuf))) < 0)
		return rc;
	if ((rc = rpc_frame_len(lenbuf, RPC_MESSAGE_MAX, &len)) < 0)
		return -EBADMSG;
	msg->len = 0;
	buf_reserve(msg, len - RPC_LEN_SIZE);
	if ((rc = read_exact(c, msg->data, len - RPC_LEN_SIZE)) < 0)
		return rc;
	msg->len = len - RPC_LEN_SIZE;
	xdr_in_init(payload, msg->data, msg->len);
	return rpc_hdr_decode(payload, h);
}

int rpc_client_call(struct rpc_client *c, int proc, const struct buf *args, struct buf *reply,
		    struct lw_err *err)
{
	struct rpc_hdr h = {
		.prog = c->prog, .vers = c->vers, .proc = proc, .type = RPC_CALL,
		.serial = ++c->serial, .status = RPC_OK,
	};
	struct buf out = { 0 }, msg = { 0 };
	struct xdr_in in;
	size_t start;
	int rc;

	start = rpc_msg_begin(&out, &h);
	if (args)
		buf_append(&out, args->data, args->len);
	rpc_msg_end(&out, start);
	rc = write_all(c->fd, out.data, out.len);
	buf_free(&out);
	if (rc < 0)
		return rc;
	for (;;) {
		struct rpc_hdr r;

		if ((rc = read_message(c, &r, &msg, &in)) < 0)
			goto out;
		/* Keepalive and anything else that is not our reply: skip. */
		if (r.prog != c->prog || r.type != RPC_REPLY || r.serial != h.serial)
			continue;
		if (r.status == RPC_ERROR) {
			rc = rpc_get_error(&in, err) < 0 ? -EBADMSG : -EREMOTEIO;
			goto out;
		}
		if (r.status != RPC_OK) {
			rc = -EBADMSG;
			goto out;
		}
		break;
	}
	reply->len = 0;
	buf_append(reply, msg.data + in.pos, in.len - in.pos);
out:
	buf_free(&msg);
	return rc;
}

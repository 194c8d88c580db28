// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>

#include "log.h"
#include "rpc.h"
#include "rpcserver.h"
#include "util.h"

static const struct rpc_program *const programs[] = {
	&lock_program,
	&admin_program,
	&lwadmin_program,
};

static const struct rpc_program *find_program(const struct rpc_hdr *h, enum client_kind kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(programs); i++)
		if (programs[i]->prog == h->prog && programs[i]->vers == h->vers &&
		    programs[i]->kind == kind)
			return programs[i];
	return NULL;
}

static void reply_error(struct client *c, const struct rpc_hdr *req, const struct lw_err *err)
{
	struct rpc_hdr h = *req;
	size_t start;

	h.type = RPC_REPLY;
	h.status = RPC_ERROR;
	start = rpc_msg_begin(&c->tx, &h);
	rpc_put_error(&c->tx, err);
	rpc_msg_end(&c->tx, start);
}

static void keepalive(struct client *c, const struct rpc_hdr *req)
{
	struct rpc_hdr pong = {
		.prog = KEEPALIVE_PROGRAM,
		.vers = KEEPALIVE_VERSION,
		.proc = KEEPALIVE_PROC_PONG,
		.type = RPC_MESSAGE,
		.serial = 0,
		.status = RPC_OK,
	};

	if (req->proc == KEEPALIVE_PROC_PING)
		rpc_msg_end(&c->tx, rpc_msg_begin(&c->tx, &pong));
}

static void call(struct daemon *d, struct client *c, const struct rpc_program *prog,
		 const struct rpc_hdr *req, struct xdr_in *in)
{
	struct lw_err err = { 0 };
	struct rpc_hdr h = *req;
	size_t start;
	int rc;

	if (req->status != RPC_OK) {
		lw_err_set(&err, ERR_FROM_RPC, ERR_RPC, "Unexpected message status %u",
			   (unsigned int)req->status);
		goto fail;
	}
	if (req->proc < 0 || (size_t)req->proc >= prog->nprocs || !prog->procs[req->proc]) {
		lw_err_set(&err, ERR_FROM_RPC, ERR_RPC, "unknown procedure: %d", req->proc);
		goto fail;
	}
	h.type = RPC_REPLY;
	h.status = RPC_OK;
	start = rpc_msg_begin(&c->tx, &h);
	rc = prog->procs[req->proc](d, c, in, &c->tx, &err);
	if (rc == 0) {
		rpc_msg_end(&c->tx, start);
		return;
	}
	c->tx.len = start;		/* drop the half-built reply */
	if (rc == -EBADMSG)
		lw_err_set(&err, ERR_FROM_RPC, ERR_RPC, "Unable to decode message payload");
fail:
	reply_error(c, req, &err);
	lw_err_clear(&err);
}

int rpc_handle_frame(void *data, struct client *c, const uint8_t *frame, size_t len)
{
	struct daemon *d = data;
	const struct rpc_program *prog;
	struct rpc_hdr h;
	struct xdr_in in;

	xdr_in_init(&in, frame + RPC_LEN_SIZE, len - RPC_LEN_SIZE);
	if (rpc_hdr_decode(&in, &h) < 0)
		return -EBADMSG;		/* cannot happen: the length covers a header */
	if (h.type == RPC_CALL_WITH_FDS) {
		/* No procedure of ours takes fds; do not collect a peer's fds. */
		log_warn("client %llu (pid %d): call with file descriptors (program %#x proc %d); closing",
			 (unsigned long long)c->id, c->pid, h.prog, h.proc);
		return -EPROTO;
	}
	if (h.prog == KEEPALIVE_PROGRAM && h.vers == KEEPALIVE_VERSION && h.type == RPC_MESSAGE) {
		keepalive(c, &h);
		return 0;
	}
	prog = find_program(&h, c->kind);
	if (h.type != RPC_CALL) {
		/* Replies, events and stream data expect no answer. */
		log_debug("client %llu: dropping message type %d for program %#x",
			  (unsigned long long)c->id, h.type, h.prog);
		return 0;
	}
	if (!prog) {
		struct lw_err err = { 0 };

		lw_err_set(&err, ERR_FROM_RPC, ERR_RPC, "Cannot find program %d version %d",
			   (int)h.prog, (int)h.vers);
		reply_error(c, &h, &err);
		lw_err_clear(&err);
		return 0;
	}
	call(d, c, prog, &h, &in);
	return 0;
}

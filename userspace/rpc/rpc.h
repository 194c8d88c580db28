/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt's RPC message codec: [u32 total length][header][XDR payload].
 * Used by the daemon for both of its sockets and by the tools and tests
 * as clients.
 */
#ifndef LW_RPC_H
#define LW_RPC_H

#include <stdint.h>

#include "error.h"
#include "xdr.h"

struct rpc_hdr {
	uint32_t prog;
	uint32_t vers;
	int32_t proc;
	int32_t type;		/* enum rpc_type */
	uint32_t serial;
	int32_t status;		/* enum rpc_status */
};

/*
 * Validate the length word at p (RPC_LEN_SIZE bytes). *total is the whole
 * frame including the length word. -EBADMSG when it cannot even hold a
 * header, -EMSGSIZE above max.
 */
int rpc_frame_len(const uint8_t *p, uint32_t max, uint32_t *total);

int rpc_hdr_decode(struct xdr_in *x, struct rpc_hdr *h);

/* Start a message in b (length placeholder + header); returns its offset. */
size_t rpc_msg_begin(struct buf *b, const struct rpc_hdr *h);
/* Fill in the length of the message started at `start`. */
void rpc_msg_end(struct buf *b, size_t start);

/* virNetMessageError, as the payload of an RPC_ERROR reply. */
void rpc_put_error(struct buf *b, const struct lw_err *e);
int rpc_get_error(struct xdr_in *x, struct lw_err *e);

#endif

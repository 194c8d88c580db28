/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The server side of libvirt's RPC: one complete frame in, at most one
 * reply out, with libvirt's rules for what gets an error reply (calls)
 * and what is dropped (anything else), and keepalive answered on the way.
 */
#ifndef LW_RPCSERVER_H
#define LW_RPCSERVER_H

#include <stddef.h>
#include <stdint.h>

#include "clients.h"
#include "error.h"
#include "xdr.h"

struct daemon;

/*
 * A procedure: decode the arguments from in, do it, append the reply
 * payload to out. Returns 0; -EBADMSG when the arguments do not decode;
 * any other negative value with err set.
 */
typedef int (*rpc_proc_fn)(struct daemon *d, struct client *c, struct xdr_in *in,
			   struct buf *out, struct lw_err *err);

struct rpc_program {
	uint32_t prog, vers;
	enum client_kind kind;		/* the socket that serves it */
	const rpc_proc_fn *procs;	/* indexed by procedure number */
	size_t nprocs;
};

extern const struct rpc_program lock_program;	/* lockprog.c */
extern const struct rpc_program admin_program;	/* adminprog.c: libvirt's, for virt-admin */
extern const struct rpc_program lwadmin_program;	/* lwadminprog.c: lockwardenctl's */

/* The client_ops.frame handler. */
int rpc_handle_frame(void *daemon, struct client *c, const uint8_t *frame, size_t len);

#endif

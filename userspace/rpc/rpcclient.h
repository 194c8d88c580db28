/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A blocking client of libvirt's RPC over a UNIX socket, one call at a
 * time: what the tools (lockwardenctl) use to talk to the daemon.
 */
#ifndef LW_RPCCLIENT_H
#define LW_RPCCLIENT_H

#include <stdint.h>

#include "error.h"
#include "xdr.h"

struct rpc_client {
	int fd;
	uint32_t prog, vers;
	uint32_t serial;
	unsigned int timeout_ms;	/* for each reply */
};

/* -errno: the socket cannot be reached. */
int rpc_client_connect(struct rpc_client *c, const char *path, uint32_t prog, uint32_t vers);
void rpc_client_close(struct rpc_client *c);

/*
 * Call proc with the XDR args (may be NULL). 0 with the reply's payload in
 * *reply (the caller frees it with buf_free); -EREMOTEIO when the daemon
 * answered with an error (err holds it); -EBADMSG for a reply that is not
 * one; -ETIMEDOUT; other -errno for the connection.
 */
int rpc_client_call(struct rpc_client *c, int proc, const struct buf *args, struct buf *reply,
		    struct lw_err *err);

#endif

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>

#include "rpc.h"

int rpc_frame_len(const uint8_t *p, uint32_t max, uint32_t *total)
{
	struct xdr_in x;
	uint32_t len;

	xdr_in_init(&x, p, RPC_LEN_SIZE);
	xdr_get_u32(&x, &len);
	if (len < RPC_LEN_SIZE + RPC_HDR_SIZE)
		return -EBADMSG;
	if (len > max)
		return -EMSGSIZE;
	*total = len;
	return 0;
}

int rpc_hdr_decode(struct xdr_in *x, struct rpc_hdr *h)
{
	if (xdr_get_u32(x, &h->prog) || xdr_get_u32(x, &h->vers) ||
	    xdr_get_i32(x, &h->proc) || xdr_get_i32(x, &h->type) ||
	    xdr_get_u32(x, &h->serial) || xdr_get_i32(x, &h->status))
		return -EBADMSG;
	return 0;
}

size_t rpc_msg_begin(struct buf *b, const struct rpc_hdr *h)
{
	size_t start = b->len;

	xdr_put_u32(b, 0);
	xdr_put_u32(b, h->prog);
	xdr_put_u32(b, h->vers);
	xdr_put_u32(b, (uint32_t)h->proc);
	xdr_put_u32(b, (uint32_t)h->type);
	xdr_put_u32(b, h->serial);
	xdr_put_u32(b, (uint32_t)h->status);
	return start;
}

void rpc_msg_end(struct buf *b, size_t start)
{
	xdr_patch_u32(b, start, b->len - start);
}

/* Field order of virNetMessageError; dom and net are always absent. */
void rpc_put_error(struct buf *b, const struct lw_err *e)
{
	xdr_put_u32(b, (uint32_t)e->code);
	xdr_put_u32(b, (uint32_t)e->domain);
	xdr_put_opt_string(b, e->message);
	xdr_put_u32(b, ERR_LEVEL_ERROR);
	xdr_put_u32(b, 0);			/* dom */
	xdr_put_opt_string(b, e->str1);
	xdr_put_opt_string(b, e->str2);
	xdr_put_opt_string(b, e->str3);
	xdr_put_u32(b, (uint32_t)e->int1);
	xdr_put_u32(b, (uint32_t)e->int2);
	xdr_put_u32(b, 0);			/* net */
}

/* dom and net: absent in everything libvirt sends, skipped when present. */
static int skip_named_uuid(struct xdr_in *x, bool with_id)
{
	uint8_t uuid[16];
	bool present;
	uint32_t id;
	char *name;

	if (xdr_get_bool(x, &present))
		return -EBADMSG;
	if (!present)
		return 0;
	if (xdr_get_string(x, RPC_STRING_MAX, &name))
		return -EBADMSG;
	free(name);
	if (xdr_get_fixed(x, uuid, sizeof(uuid)))
		return -EBADMSG;
	return with_id ? xdr_get_u32(x, &id) : 0;
}

int rpc_get_error(struct xdr_in *x, struct lw_err *e)
{
	int32_t level;

	lw_err_clear(e);
	if (xdr_get_i32(x, &e->code) || xdr_get_i32(x, &e->domain) ||
	    xdr_get_opt_string(x, RPC_STRING_MAX, &e->message) ||
	    xdr_get_i32(x, &level) || skip_named_uuid(x, true) ||
	    xdr_get_opt_string(x, RPC_STRING_MAX, &e->str1) ||
	    xdr_get_opt_string(x, RPC_STRING_MAX, &e->str2) ||
	    xdr_get_opt_string(x, RPC_STRING_MAX, &e->str3) ||
	    xdr_get_i32(x, &e->int1) || xdr_get_i32(x, &e->int2) ||
	    skip_named_uuid(x, false)) {
		lw_err_clear(e);
		return -EBADMSG;
	}
	return 0;
}

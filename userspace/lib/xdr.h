/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * XDR (RFC 4506) as libvirt's RPC uses it: big-endian 32-bit words,
 * strings and opaques padded to 4 bytes. Decoding never reads past the
 * buffer and never allocates more than the bytes that are really there.
 * Kept over libtirpc's xdrmem: it refuses embedded NULs, decodes a lock
 * call in 0.45-0.65x the time (make bench, libs) and is fuzzed (fuzz_rpc).
 */
#ifndef LW_XDR_H
#define LW_XDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xdr_in {
	const uint8_t *p;
	size_t len, pos;
};

static inline void xdr_in_init(struct xdr_in *x, const void *p, size_t len)
{
	x->p = p;
	x->len = len;
	x->pos = 0;
}

/* All return 0, or -EBADMSG when the input is short or malformed. */
int xdr_get_u32(struct xdr_in *x, uint32_t *v);
int xdr_get_i32(struct xdr_in *x, int32_t *v);
int xdr_get_u64(struct xdr_in *x, uint64_t *v);
int xdr_get_bool(struct xdr_in *x, bool *v);
int xdr_get_fixed(struct xdr_in *x, void *out, size_t n);
/* A string of at most max bytes, copied and NUL-terminated into *s.
 * Embedded NULs are refused: a name must mean one thing. */
int xdr_get_string(struct xdr_in *x, size_t max, char **s);
/* An optional string (XDR pointer): *s is NULL when absent. */
int xdr_get_opt_string(struct xdr_in *x, size_t max, char **s);

/* A growable output buffer; memory failure aborts (see util.h). */
struct buf {
	uint8_t *data;
	size_t len, cap;
};

void buf_reserve(struct buf *b, size_t more);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_free(struct buf *b);
void buf_consume(struct buf *b, size_t n);

void xdr_put_u32(struct buf *b, uint32_t v);
void xdr_put_u64(struct buf *b, uint64_t v);
void xdr_put_fixed(struct buf *b, const void *p, size_t n);
void xdr_put_string(struct buf *b, const char *s);
void xdr_put_opt_string(struct buf *b, const char *s);
void xdr_patch_u32(struct buf *b, size_t at, uint32_t v);

#endif

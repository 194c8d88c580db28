// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "xdr.h"

#define PAD4(n) (((n) + 3) & ~(size_t)3)

int xdr_get_u32(struct xdr_in *x, uint32_t *v)
{
	const uint8_t *p;

	if (x->len - x->pos < 4)
		return -EBADMSG;
	p = x->p + x->pos;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	x->pos += 4;
	return 0;
}

int xdr_get_i32(struct xdr_in *x, int32_t *v)
{
	return xdr_get_u32(x, (uint32_t *)v);
}

int xdr_get_u64(struct xdr_in *x, uint64_t *v)
{
	uint32_t hi, lo;

	if (xdr_get_u32(x, &hi) || xdr_get_u32(x, &lo))
		return -EBADMSG;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

int xdr_get_bool(struct xdr_in *x, bool *v)
{
	uint32_t w;

	if (xdr_get_u32(x, &w))
		return -EBADMSG;
	*v = w != 0;	/* as libtirpc's xdr_bool: any non-zero word is TRUE */
	return 0;
}

int xdr_get_fixed(struct xdr_in *x, void *out, size_t n)
{
	if (x->len - x->pos < PAD4(n))
		return -EBADMSG;
	memcpy(out, x->p + x->pos, n);
	x->pos += PAD4(n);
	return 0;
}

int xdr_get_string(struct xdr_in *x, size_t max, char **s)
{
	uint32_t n;

	*s = NULL;	/* callers may free it whatever the outcome */
	if (xdr_get_u32(x, &n) || n > max || x->len - x->pos < PAD4((size_t)n))
		return -EBADMSG;
	if (memchr(x->p + x->pos, '\0', n))
		return -EBADMSG;
	*s = xstrndup((const char *)x->p + x->pos, n);
	x->pos += PAD4((size_t)n);
	return 0;
}

int xdr_get_opt_string(struct xdr_in *x, size_t max, char **s)
{
	bool present;

	*s = NULL;
	if (xdr_get_bool(x, &present))
		return -EBADMSG;
	return present ? xdr_get_string(x, max, s) : 0;
}

void buf_reserve(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;

	if (b->cap - b->len >= more)
		return;
	while (cap - b->len < more)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	if (!n)
		return;		/* an empty buffer has no data to memcpy into */
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Drop n bytes from the front: what was written or parsed. */
void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void xdr_patch_u32(struct buf *b, size_t at, uint32_t v)
{
	uint8_t *p = b->data + at;

	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

void xdr_put_u32(struct buf *b, uint32_t v)
{
	buf_reserve(b, 4);
	b->len += 4;
	xdr_patch_u32(b, b->len - 4, v);
}

void xdr_put_u64(struct buf *b, uint64_t v)
{
	xdr_put_u32(b, v >> 32);
	xdr_put_u32(b, (uint32_t)v);
}

void xdr_put_fixed(struct buf *b, const void *p, size_t n)
{
	size_t padded = PAD4(n);

	buf_reserve(b, padded);
	memcpy(b->data + b->len, p, n);
	memset(b->data + b->len + n, 0, padded - n);
	b->len += padded;
}

void xdr_put_string(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	xdr_put_u32(b, n);
	xdr_put_fixed(b, s, n);
}

void xdr_put_opt_string(struct buf *b, const char *s)
{
	xdr_put_u32(b, s != NULL);
	if (s)
		xdr_put_string(b, s);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SHA-256 and HMAC-SHA-256 from nettle (GnuTLS's own crypto, so on every
 * libvirt host; it uses the CPU's SHA instructions where there are some),
 * in the lowercase hex the audit chain and lockd.so's lock-file names use.
 */
#ifndef LW_SHA256_H
#define LW_SHA256_H

#include <stddef.h>
#include <stdint.h>
#include <nettle/hmac.h>
#include <nettle/sha2.h>

#define SHA256_LEN	SHA256_DIGEST_SIZE
#define SHA256_HEX_LEN	(2 * SHA256_LEN)

/* The digest of data as 64 lowercase hex digits and a NUL. */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);

/* The HMAC of data under the key ctx was set to (hmac_sha256_set_key),
 * the same way; ctx stays keyed for the next message. */
void hmac_sha256_hex(struct hmac_sha256_ctx *ctx, const void *data, size_t len,
		     char out[SHA256_HEX_LEN + 1]);

#endif

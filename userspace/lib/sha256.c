// SPDX-License-Identifier: LGPL-2.1-or-later
#include <nettle/base16.h>

#include "sha256.h"

static void to_hex(const uint8_t digest[SHA256_LEN], char out[SHA256_HEX_LEN + 1])
{
	base16_encode_update(out, SHA256_LEN, digest);
	out[SHA256_HEX_LEN] = '\0';
}

void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
	struct sha256_ctx ctx;
	uint8_t digest[SHA256_LEN];

	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, SHA256_LEN, digest);
	to_hex(digest, out);
}

void hmac_sha256_hex(struct hmac_sha256_ctx *ctx, const void *data, size_t len,
		     char out[SHA256_HEX_LEN + 1])
{
	uint8_t digest[SHA256_LEN];

	hmac_sha256_update(ctx, len, data);
	hmac_sha256_digest(ctx, SHA256_LEN, digest);
	to_hex(digest, out);
}

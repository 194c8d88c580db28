// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libbench: the hand-written pieces against the libraries that would do
 * their job, on the daemon's own workloads, in one run:
 *   xdr      decoding a lock call's arguments (ACQUIRE: two strings and
 *            flags), xdr.c against libtirpc's xdrmem (libvirt's RPC uses it)
 *   hashmap  the guard table's pattern: put, get and remove by a short key,
 *            hashmap.c against glib's GHashTable (libvirt's hash table)
 * Prints ns per operation for each and their ratio (ours / library).
 */
#include <glib.h>
#include <rpc/xdr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "util.h"
#include "xdr.h"

#define ROUNDS		2000000
#define KEYS		10000
#define STRING_MAX	65536

static uint8_t call[512];
static size_t call_len;

static void build_call(void)
{
	struct buf b = { 0 };

	xdr_put_string(&b, "/var/lib/libvirt/lockd/files");
	xdr_put_string(&b, "0f3b9d6e2c1a4b5d8e7f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5");
	xdr_put_u32(&b, 3);
	memcpy(call, b.data, b.len);
	call_len = b.len;
	buf_free(&b);
}

static double ns_per_op(uint64_t t0, long n)
{
	return (double)(now_mono_ns() - t0) / n;
}

static double xdr_ours(void)
{
	uint64_t t0 = now_mono_ns();

	for (long i = 0; i < ROUNDS; i++) {
		struct xdr_in in;
		char *path, *name;
		uint32_t flags;

		xdr_in_init(&in, call, call_len);
		if (xdr_get_string(&in, STRING_MAX, &path) || xdr_get_string(&in, STRING_MAX, &name) ||
		    xdr_get_u32(&in, &flags))
			abort();
		free(path);
		free(name);
	}
	return ns_per_op(t0, ROUNDS);
}

static double xdr_tirpc(void)
{
	uint64_t t0 = now_mono_ns();

	for (long i = 0; i < ROUNDS; i++) {
		char *path = NULL, *name = NULL;
		u_int flags;
		XDR x;

		xdrmem_create(&x, (char *)call, call_len, XDR_DECODE);
		if (!xdr_string(&x, &path, STRING_MAX) || !xdr_string(&x, &name, STRING_MAX) ||
		    !xdr_u_int(&x, &flags))
			abort();
		xdr_destroy(&x);
		free(path);
		free(name);
	}
	return ns_per_op(t0, ROUNDS);
}

static char keys[KEYS][24];

static double map_ours(void)
{
	struct hashmap m;
	uint64_t t0;

	hashmap_init(&m);
	t0 = now_mono_ns();
	for (long r = 0; r < ROUNDS / KEYS; r++) {
		for (int i = 0; i < KEYS; i++)
			hashmap_put(&m, keys[i], keys[i]);
		for (int i = 0; i < KEYS; i++)
			if (hashmap_get(&m, keys[i]) != keys[i])
				abort();
		for (int i = 0; i < KEYS; i++)
			hashmap_remove(&m, keys[i]);
	}
	hashmap_free(&m);
	return ns_per_op(t0, (long)(ROUNDS / KEYS) * KEYS * 3);
}

static double map_glib(void)
{
	GHashTable *m = g_hash_table_new(g_str_hash, g_str_equal);
	uint64_t t0 = now_mono_ns();

	for (long r = 0; r < ROUNDS / KEYS; r++) {
		for (int i = 0; i < KEYS; i++)
			g_hash_table_insert(m, keys[i], keys[i]);
		for (int i = 0; i < KEYS; i++)
			if (g_hash_table_lookup(m, keys[i]) != keys[i])
				abort();
		for (int i = 0; i < KEYS; i++)
			g_hash_table_remove(m, keys[i]);
	}
	g_hash_table_destroy(m);
	return ns_per_op(t0, (long)(ROUNDS / KEYS) * KEYS * 3);
}

int main(void)
{
	double a, b;

	build_call();
	for (int i = 0; i < KEYS; i++)
		snprintf(keys[i], sizeof(keys[i]), "%d:%d", 2049, 1000000 + i * 7919);
	a = xdr_ours();
	b = xdr_tirpc();
	printf("  xdr decode of an ACQUIRE call: xdr.c %.0f ns, libtirpc %.0f ns, ratio %.2f\n",
	       a, b, a / b);
	a = map_ours();
	b = map_glib();
	printf("  hash put/get/remove, %d keys: hashmap.c %.0f ns, GHashTable %.0f ns, ratio %.2f\n",
	       KEYS, a, b, a / b);
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A string-keyed hash map. Keys are not copied: each key must live as long
 * as its entry, which is natural when the key is a field of the value.
 * Kept over glib's GHashTable (no glib in the daemon): 0.55-0.75x its time
 * for the guard's put/get/remove (make bench, libs); fuzzed through every
 * table of fuzz_rpc and fuzz_state.
 */
#ifndef LW_HASHMAP_H
#define LW_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct hashmap_entry {
	const char *key;
	void *value;
	uint64_t hash;
	struct hashmap_entry *next;
};

struct hashmap {
	struct hashmap_entry **buckets;
	size_t nbuckets, count;
};

void hashmap_init(struct hashmap *m);
/* Room for n entries without growing (a restore knows how many come). */
void hashmap_reserve(struct hashmap *m, size_t n);
void hashmap_free(struct hashmap *m);	/* entries only; values are the caller's */
void *hashmap_get(const struct hashmap *m, const char *key);
/* Add key -> value; the key must not be present. */
void hashmap_put(struct hashmap *m, const char *key, void *value);
void *hashmap_remove(struct hashmap *m, const char *key);

struct hashmap_entry *hashmap_first(const struct hashmap *m, size_t *i);
struct hashmap_entry *hashmap_next(const struct hashmap *m, struct hashmap_entry *e, size_t *i);

/* Iterate; the body may remove the current entry (its successor is
 * fetched first), no other. */
#define hashmap_foreach(m, e, nx, i)					\
	for ((e) = hashmap_first((m), &(i)),				\
	     (nx) = (e) ? hashmap_next((m), (e), &(i)) : NULL;		\
	     (e);							\
	     (e) = (nx), (nx) = (e) ? hashmap_next((m), (e), &(i)) : NULL)

#endif

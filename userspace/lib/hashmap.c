// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "util.h"

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

void hashmap_init(struct hashmap *m)
{
	m->nbuckets = 16;
	m->count = 0;
	m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
}

void hashmap_free(struct hashmap *m)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hashmap_entry *e = m->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(m->buckets);
	m->buckets = NULL;
	m->nbuckets = m->count = 0;
}

static struct hashmap_entry **slot(const struct hashmap *m, const char *key)
{
	uint64_t h = hash_str(key);
	struct hashmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)];

	while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key)))
		pp = &(*pp)->next;
	return pp;
}

void *hashmap_get(const struct hashmap *m, const char *key)
{
	struct hashmap_entry *e = *slot(m, key);

	return e ? e->value : NULL;
}

static void rehash(struct hashmap *m, size_t n)
{
	struct hashmap_entry **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hashmap_entry *e = m->buckets[i], *next;

		for (; e; e = next) {
			size_t j = e->hash & (n - 1);

			next = e->next;
			e->next = b[j];
			b[j] = e;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

void hashmap_reserve(struct hashmap *m, size_t n)
{
	size_t want = m->nbuckets;

	while (want < n)
		want *= 2;
	if (want > m->nbuckets)
		rehash(m, want);
}

void hashmap_put(struct hashmap *m, const char *key, void *value)
{
	struct hashmap_entry *e = xmalloc(sizeof(*e));
	struct hashmap_entry **head;

	if (m->count >= m->nbuckets)
		rehash(m, m->nbuckets * 2);
	e->hash = hash_str(key);
	head = &m->buckets[e->hash & (m->nbuckets - 1)];
	e->key = key;
	e->value = value;
	e->next = *head;
	*head = e;
	m->count++;
}

void *hashmap_remove(struct hashmap *m, const char *key)
{
	struct hashmap_entry **pp = slot(m, key), *e = *pp;
	void *value;

	if (!e)
		return NULL;
	*pp = e->next;
	value = e->value;
	free(e);
	m->count--;
	return value;
}

static struct hashmap_entry *scan(const struct hashmap *m, size_t *i)
{
	for (; *i < m->nbuckets; (*i)++)
		if (m->buckets[*i])
			return m->buckets[*i];
	return NULL;
}

struct hashmap_entry *hashmap_first(const struct hashmap *m, size_t *i)
{
	*i = 0;
	return scan(m, i);
}

struct hashmap_entry *hashmap_next(const struct hashmap *m, struct hashmap_entry *e, size_t *i)
{
	if (e->next)
		return e->next;
	(*i)++;
	return scan(m, i);
}

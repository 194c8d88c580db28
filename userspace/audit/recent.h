/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The latest violations and denials, kept in memory so that
 * `lockwardenctl violations` answers at once from the daemon; the audit
 * log (lockwarden-audit) has them all.
 */
#ifndef LW_RECENT_H
#define LW_RECENT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define RECENT_MAX 1024

struct recent {
	struct json_object *rec[RECENT_MAX];	/* a ring, oldest at head */
	uint64_t ns[RECENT_MAX];		/* when each was reported */
	size_t head, count;
};

/* Keep rec (a reference is taken) if it is a violation or a denial. */
void recent_add(struct recent *r, struct json_object *rec);
/* Those reported at or after since_ns, oldest first, at most limit
 * (the newest ones); limit 0: all. A new array. */
struct json_object *recent_list(const struct recent *r, uint64_t since_ns, size_t limit);
void recent_free(struct recent *r);

#endif

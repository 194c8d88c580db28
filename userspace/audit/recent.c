// SPDX-License-Identifier: LGPL-2.1-or-later
#include <string.h>

#include "recent.h"
#include "util.h"

static bool kept(struct json_object *rec)
{
	static const char *const events[] = { "violation", "warning", "denied" };
	struct json_object *ev;

	if (!json_object_object_get_ex(rec, "event", &ev) || !json_object_is_type(ev, json_type_string))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(events); i++)
		if (!strcmp(json_object_get_string(ev), events[i]))
			return true;
	return false;
}

void recent_add(struct recent *r, struct json_object *rec)
{
	size_t slot;

	if (!kept(rec))
		return;
	if (r->count == RECENT_MAX) {
		json_object_put(r->rec[r->head]);
		r->head = (r->head + 1) % RECENT_MAX;
		r->count--;
	}
	slot = (r->head + r->count++) % RECENT_MAX;
	r->rec[slot] = json_object_get(rec);
	r->ns[slot] = now_real_ns();
}

struct json_object *recent_list(const struct recent *r, uint64_t since_ns, size_t limit)
{
	struct json_object *list = json_object_new_array();
	size_t first = 0, n = 0;

	while (first < r->count && r->ns[(r->head + first) % RECENT_MAX] < since_ns)
		first++;
	if (limit && r->count - first > limit)
		first = r->count - limit;
	for (size_t i = first; i < r->count; i++, n++)
		json_object_array_add(list, json_object_get(r->rec[(r->head + i) % RECENT_MAX]));
	return list;
}

void recent_free(struct recent *r)
{
	for (size_t i = 0; i < r->count; i++)
		json_object_put(r->rec[(r->head + i) % RECENT_MAX]);
	memset(r, 0, sizeof(*r));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A list of strings, as a config value holds one ([ "a", "b" ]). */
#ifndef LW_STRLIST_H
#define LW_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

struct strlist {
	char **v;
	size_t n;
};

bool strlist_contains(const struct strlist *l, const char *s);
/* Frees every string and leaves l empty, ready for reuse. */
void strlist_free(struct strlist *l);

#endif

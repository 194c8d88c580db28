/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A streaming JSON writer into a buffer, for documents too large to build
 * as a tree of json-c objects first: the re-exec state of ten thousand
 * locks is written in the pause before exec, where every millisecond
 * counts. Output is compact; json-c reads it back.
 */
#ifndef LW_JSONW_H
#define LW_JSONW_H

#include <stdbool.h>
#include <stdint.h>

#include "xdr.h"

#define JSONW_MAX_DEPTH 16

struct jsonw {
	struct buf *out;
	int depth;
	bool first[JSONW_MAX_DEPTH];	/* nothing written yet at this level */
	char close[JSONW_MAX_DEPTH];	/* '}' or ']' */
};

void jw_init(struct jsonw *w, struct buf *out);
/* key is NULL inside arrays and for the top-level value. */
void jw_object(struct jsonw *w, const char *key);
void jw_array(struct jsonw *w, const char *key);
void jw_end(struct jsonw *w);		/* closes the innermost object or array */
void jw_str(struct jsonw *w, const char *key, const char *v);
void jw_int(struct jsonw *w, const char *key, int64_t v);
void jw_bool(struct jsonw *w, const char *key, bool v);
/* A value that is already JSON text (from json-c), inserted as it is. */
void jw_raw(struct jsonw *w, const char *key, const char *json);

#endif

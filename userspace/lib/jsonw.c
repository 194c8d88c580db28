// SPDX-License-Identifier: LGPL-2.1-or-later
#include <string.h>

#include "jsonw.h"

static void put(struct jsonw *w, const char *s, size_t n)
{
	buf_reserve(w->out, n);
	memcpy(w->out->data + w->out->len, s, n);
	w->out->len += n;
}

static void put_quoted(struct jsonw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	put(w, "\"", 1);
	for (; *s; s++) {
		unsigned char c = *s;
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(w, run, s - run);
		if (c == '"' || c == '\\') {
			esc[1] = c;
			put(w, esc, 2);
		} else {
			put(w, esc, 6);
		}
		run = s + 1;
	}
	put(w, run, s - run);
	put(w, "\"", 1);
}

/* The separator and key before a value at the current level. */
static void prefix(struct jsonw *w, const char *key)
{
	if (w->depth) {
		if (!w->first[w->depth])
			put(w, ",", 1);
		w->first[w->depth] = false;
	}
	if (key) {
		put_quoted(w, key);
		put(w, ":", 1);
	}
}

void jw_init(struct jsonw *w, struct buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

static void open_level(struct jsonw *w, const char *key, const char *bracket, char close)
{
	prefix(w, key);
	put(w, bracket, 1);
	w->depth++;
	w->first[w->depth] = true;
	w->close[w->depth] = close;
}

void jw_object(struct jsonw *w, const char *key)
{
	open_level(w, key, "{", '}');
}

void jw_array(struct jsonw *w, const char *key)
{
	open_level(w, key, "[", ']');
}

void jw_end(struct jsonw *w)
{
	put(w, &w->close[w->depth], 1);
	w->depth--;
}

void jw_str(struct jsonw *w, const char *key, const char *v)
{
	prefix(w, key);
	put_quoted(w, v);
}

void jw_int(struct jsonw *w, const char *key, int64_t v)
{
	/* printf's machinery is most of the cost of a state full of numbers */
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	char num[24], *p = num + sizeof(num);

	do
		*--p = '0' + u % 10;
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	prefix(w, key);
	put(w, p, num + sizeof(num) - p);
}

void jw_bool(struct jsonw *w, const char *key, bool v)
{
	prefix(w, key);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_raw(struct jsonw *w, const char *key, const char *json)
{
	prefix(w, key);
	put(w, json, strlen(json));
}

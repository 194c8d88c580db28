// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <nettle/base64.h>

#include "log.h"
#include "restart.h"
#include "util.h"

/* ---- writing ---- */

void restart_keep(struct restart_writer *rw, int fd)
{
	rw->keep = xrealloc(rw->keep, (rw->nkeep + 1) * sizeof(int));
	rw->keep[rw->nkeep++] = fd;
}

void restart_keep_cloexec(const struct restart_writer *rw, bool on)
{
	for (size_t i = 0; i < rw->nkeep; i++)
		fd_set_cloexec(rw->keep[i], on);
}

void restart_put_b64(struct restart_writer *rw, const char *key, const struct buf *b)
{
	char *s = xmalloc(BASE64_ENCODE_RAW_LENGTH(b->len) + 1);

	base64_encode_raw(s, b->len, b->data);
	s[BASE64_ENCODE_RAW_LENGTH(b->len)] = '\0';
	jw_str(&rw->w, key, s);
	free(s);
}

void restart_put_sock(struct restart_writer *rw, const char *key, int fd, bool client,
		      pid_t pid)
{
	jw_object(&rw->w, key);
	jw_int(&rw->w, "fd", fd);
	jw_int(&rw->w, "errfd", -1);
	jw_int(&rw->w, "pid", client ? pid : 0);
	jw_bool(&rw->w, "isClient", client);
	jw_bool(&rw->w, "unlinkUNIX", !client);
	jw_end(&rw->w);
	restart_keep(rw, fd);
}

/* ---- the inherited fds ---- */

void restart_fds_mark(struct restart_fds *f, int fd, uint8_t bit)
{
	if ((size_t)fd >= f->size) {
		size_t n = f->size ? f->size : 64;

		while (n <= (size_t)fd)
			n *= 2;
		f->map = xrealloc(f->map, n);
		memset(f->map + f->size, 0, n - f->size);
		f->size = n;
	}
	f->map[fd] |= bit;
}

uint8_t restart_fds_bits(const struct restart_fds *f, int fd)
{
	return fd >= 0 && (size_t)fd < f->size ? f->map[fd] : 0;
}

/*
 * Account for an fd the state names; each may be named once. A claimed fd
 * is ours again: close-on-exec until the next re-exec clears it (in our
 * own re-exec, restart_fds_cloexec_claimed sets that on all fds at once).
 * Whether it is open and what it should be, each one's own check finds out.
 */
static bool claim(struct restart_fds *f, int fd)
{
	if (fd <= 2 || (restart_fds_bits(f, fd) & RESTART_FD_CLAIMED))
		return false;
	if (!f->trusted &&
	    (!(restart_fds_bits(f, fd) & RESTART_FD_INHERITED) || fd_set_cloexec(fd, true) < 0))
		return false;
	restart_fds_mark(f, fd, RESTART_FD_CLAIMED);
	return true;
}

/* One call instead of thousands (one by one where close_range cannot,
 * before Linux 5.11). */
void restart_fds_cloexec_claimed(struct restart_fds *f)
{
	if (!f->trusted || close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (size_t fd = 0; fd < f->size; fd++)
		if (restart_fds_bits(f, fd) & RESTART_FD_CLAIMED)
			fd_set_cloexec(fd, true);
}

void restart_fds_free(struct restart_fds *f)
{
	free(f->map);
	memset(f, 0, sizeof(*f));
}

/* ---- reading ---- */

int restart_bad(struct restart_reader *r, const char *where, const char *fmt, ...)
{
	va_list ap;
	char *what;

	if (r->why)
		return -EINVAL;
	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	r->why = xasprintf("%s: %s", where, what);
	free(what);
	return -EINVAL;
}

void restart_skip(struct restart_reader *r, const char *what)
{
	log_error("cannot restore %s from %s: %s", what, r->path, r->why ? r->why : "malformed");
	r->problems++;
	free(r->why);
	r->why = NULL;
}

void restart_orphan(struct restart_reader *r, int fd, const char *path)
{
	r->orphan(r->data, fd, path, r->why ? r->why : "malformed state entry", false);
	r->problems++;
	free(r->why);
	r->why = NULL;
}

struct json_object *restart_member(struct restart_reader *r, struct json_object *o,
				   const char *where, const char *key, json_type type)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type)) {
		restart_bad(r, where, "%s '%s'", v ? "malformed" : "missing", key);
		return NULL;
	}
	return v;
}

int restart_get_int(struct restart_reader *r, struct json_object *o, const char *where,
		    const char *key, int64_t lo, int64_t hi, int64_t *out)
{
	struct json_object *v = restart_member(r, o, where, key, json_type_int);

	if (!v)
		return -EINVAL;
	*out = json_object_get_int64(v);
	if (*out < lo || *out > hi)
		return restart_bad(r, where, "'%s' is %lld, out of range", key, (long long)*out);
	return 0;
}

int restart_get_opt_int(struct restart_reader *r, struct json_object *o, const char *where,
			const char *key, int64_t lo, int64_t hi, int64_t *out)
{
	if (!json_object_object_get_ex(o, key, NULL))
		return 0;
	return restart_get_int(r, o, where, key, lo, hi, out) < 0 ? -EINVAL : 1;
}

const char *restart_get_str(struct restart_reader *r, struct json_object *o, const char *where,
			    const char *key)
{
	struct json_object *v = restart_member(r, o, where, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

int restart_get_bool(struct restart_reader *r, struct json_object *o, const char *where,
		     const char *key, bool *out)
{
	struct json_object *v = restart_member(r, o, where, key, json_type_boolean);

	if (!v)
		return -EINVAL;
	*out = json_object_get_boolean(v);
	return 0;
}

int restart_get_fd(struct restart_reader *r, struct json_object *o, const char *where,
		   const char *key, int *fd)
{
	int64_t v;

	if (restart_get_int(r, o, where, key, 3, 1 << 20, &v) < 0)
		return -EINVAL;
	if (!claim(r->fds, v))
		return restart_bad(r, where, "fd %lld was not inherited (or is named twice)",
				   (long long)v);
	*fd = v;
	return 0;
}

/* Strict, as the format is written: padded, no line breaks or spaces
 * (nettle's decoder would skip those). */
int restart_b64_decode(const char *s, struct buf *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
	struct base64_decode_ctx ctx;
	size_t n = strlen(s), got;

	if (n % 4 || strspn(s, alphabet) != n)
		return -EINVAL;
	if (!n)
		return 0;
	buf_reserve(out, BASE64_DECODE_LENGTH(n));
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &got, out->data + out->len, n, s) ||
	    !base64_decode_final(&ctx))
		return -EINVAL;
	out->len += got;
	return 0;
}

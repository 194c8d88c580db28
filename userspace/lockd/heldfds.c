// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "heldfds.h"
#include "log.h"
#include "util.h"

int held_fds_add(struct held_fds *h, int fd, const char *path, const char *why)
{
	char proc[64], target[PATH_MAX];
	struct held_fd *e;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* Named by what the fd is, the name it was known by if that fails. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if ((n = readlink(proc, target, sizeof(target) - 1)) > 0) {
		target[n] = '\0';
		path = target;
	}
	h->v = xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
	e = &h->v[h->n++];
	e->fd = fd;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->path = xstrdup(path ? path : "?");
	e->why = why ? xstrdup(why) : NULL;
	h->norphans += why != NULL;
	return 0;
}

bool held_fds_orphaned(const struct held_fds *h, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].why && h->v[i].dev == dev && h->v[i].ino == ino)
			return true;
	return false;
}

static void entry_free(struct held_fd *e)
{
	safe_close(e->fd);
	free(e->path);
	free(e->why);
}

void held_fds_close_parked(struct held_fds *h, dev_t dev, ino_t ino)
{
	size_t kept = 0;

	for (size_t i = 0; i < h->n; i++) {
		if (!h->v[i].why && h->v[i].dev == dev && h->v[i].ino == ino)
			entry_free(&h->v[i]);
		else
			h->v[kept++] = h->v[i];
	}
	h->n = kept;
}

void held_fds_free(struct held_fds *h)
{
	for (size_t i = 0; i < h->n; i++)
		entry_free(&h->v[i]);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

void held_fds_save(const struct held_fds *h, struct restart_writer *rw)
{
	jw_array(&rw->w, "held");
	for (size_t i = 0; i < h->n; i++) {
		jw_object(&rw->w, NULL);
		jw_int(&rw->w, "fd", h->v[i].fd);
		jw_str(&rw->w, "path", h->v[i].path);
		if (h->v[i].why)
			jw_str(&rw->w, "unrestored", h->v[i].why);
		jw_end(&rw->w);
		restart_keep(rw, h->v[i].fd);
	}
	jw_end(&rw->w);
}

void held_fds_restore(struct held_fds *h, struct restart_reader *r, struct json_object *ours)
{
	struct json_object *held;

	if (!json_object_object_get_ex(ours, "held", &held))
		return;
	if (!json_object_is_type(held, json_type_array)) {
		restart_bad(r, "lockwarden.held", "malformed");
		restart_skip(r, "the held fds");
		return;
	}
	for (size_t i = 0; i < json_object_array_length(held); i++) {
		struct json_object *o = json_object_array_get_idx(held, i), *why;
		const char *path;
		int fd;

		if (!json_object_is_type(o, json_type_object) ||
		    restart_get_fd(r, o, "lockwarden.held", "fd", &fd) < 0 ||
		    !(path = restart_get_str(r, o, "lockwarden.held", "path"))) {
			restart_skip(r, "a held fd");
			continue;
		}
		if (json_object_object_get_ex(o, "unrestored", &why))
			r->orphan(r->data, fd, path, json_object_get_string(why), true);
		else if (held_fds_add(h, fd, path, NULL) < 0)
			log_error("parked fd %d of %s is gone", fd, path);
	}
}

struct json_object *held_fds_status(const struct held_fds *h)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < h->n; i++) {
		const struct held_fd *f = &h->v[i];
		char *s;

		if (!f->why)
			continue;
		s = xasprintf("fd %d %s (inode %lu): %s", f->fd, f->path, (unsigned long)f->ino,
			      f->why);
		json_object_array_add(a, json_object_new_string(s));
		free(s);
	}
	return a;
}

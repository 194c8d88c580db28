// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "heldfds.h"
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

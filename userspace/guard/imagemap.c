// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hashmap.h"
#include "imagemap.h"
#include "log.h"
#include "sha256.h"
#include "util.h"

#define RESCAN_NS	1000000000ull	/* a miss rescans at most this often */
#define MAX_FILES	200000		/* a directory tree larger than this is cut */
#define MAX_DEPTH	16

struct image {
	char hash[SHA256_HEX_LEN + 1];	/* the key */
	char *path;
};

struct imagemap {
	struct strlist dirs;
	struct hashmap images;		/* sha256(path) -> struct image */
	uint64_t scanned_at;		/* CLOCK_MONOTONIC ns; 0: never */
};

bool imagemap_is_hashed(const char *name)
{
	size_t n = strspn(name, "0123456789abcdef");

	return n == SHA256_HEX_LEN && !name[n];
}

static void clear(struct imagemap *m)
{
	struct hashmap_entry *e, *nx;
	size_t i;

	hashmap_foreach(&m->images, e, nx, i) {
		struct image *img = hashmap_remove(&m->images, e->key);

		free(img->path);
		free(img);
	}
}

static void add(struct imagemap *m, char *path)
{
	struct image *img = xcalloc(1, sizeof(*img));

	sha256_hex(path, strlen(path), img->hash);
	img->path = path;
	if (hashmap_get(&m->images, img->hash)) {
		free(path);
		free(img);
		return;
	}
	hashmap_put(&m->images, img->hash, img);
}

/* Files, symlinks (the domain's XML may name an image through one) and
 * block devices under dir; not following symlinked directories. */
static void walk(struct imagemap *m, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) && m->images.count < MAX_FILES) {
		char *path;
		unsigned char type = e->d_type;
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		if (type == DT_UNKNOWN && lstat(path, &st) == 0)
			type = IFTODT(st.st_mode);
		if (type == DT_DIR && depth < MAX_DEPTH) {
			walk(m, path, depth + 1);
		} else if (type == DT_REG || type == DT_LNK || type == DT_BLK) {
			add(m, path);
			continue;
		}
		free(path);
	}
	closedir(d);
}

static void scan(struct imagemap *m)
{
	clear(m);
	for (size_t i = 0; i < m->dirs.n; i++)
		walk(m, m->dirs.v[i], 0);
	if (m->images.count >= MAX_FILES)
		log_warn("guard: more than %d files under the image directories; "
			 "those past it are not known by name", MAX_FILES);
	m->scanned_at = now_mono_ns();
	log_debug("guard: %zu images known under the image directories", m->images.count);
}

struct imagemap *imagemap_new(const struct strlist *dirs)
{
	struct imagemap *m = xcalloc(1, sizeof(*m));

	for (size_t i = 0; i < dirs->n; i++) {
		m->dirs.v = xrealloc(m->dirs.v, (m->dirs.n + 1) * sizeof(char *));
		m->dirs.v[m->dirs.n++] = xstrdup(dirs->v[i]);
	}
	hashmap_init(&m->images);
	return m;
}

void imagemap_free(struct imagemap *m)
{
	if (!m)
		return;
	clear(m);
	hashmap_free(&m->images);
	strlist_free(&m->dirs);
	free(m);
}

const char *imagemap_lookup(struct imagemap *m, const char *name)
{
	struct image *img;

	if (!m->dirs.n || !imagemap_is_hashed(name))
		return NULL;
	if ((img = hashmap_get(&m->images, name)))
		return img->path;
	if (m->scanned_at && now_mono_ns() - m->scanned_at < RESCAN_NS)
		return NULL;
	scan(m);
	img = hashmap_get(&m->images, name);
	return img ? img->path : NULL;
}

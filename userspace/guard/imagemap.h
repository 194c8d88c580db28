/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which disk image an indirect lock file stands for. In a lockspace with a
 * directory (lockd.so's file_lockspace_dir) a disk's lock file is named by
 * the SHA-256 of the disk's path, so the lock daemon never learns the
 * path; the guard wants the image itself. This index maps such names back
 * by hashing the path of every file under the configured image
 * directories (guard_image_dirs), as lockd.so hashes the path written in
 * the domain's XML.
 */
#ifndef LW_IMAGEMAP_H
#define LW_IMAGEMAP_H

#include <stdbool.h>

#include "strlist.h"

struct imagemap;

struct imagemap *imagemap_new(const struct strlist *dirs);
void imagemap_free(struct imagemap *m);

/* Is name what lockd.so names a lock file: 64 lowercase hex digits? */
bool imagemap_is_hashed(const char *name);

/*
 * The path of the image whose path hashes to name, or NULL. A miss scans
 * the directories again, at most once a second. The string is valid until
 * the next call.
 */
const char *imagemap_lookup(struct imagemap *m, const char *name);

#endif

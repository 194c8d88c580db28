/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's set of lockspaces: the default one (resources named by the
 * file they lock) and the indirect ones, keyed by directory as virtlockd's
 * hash is. The set owns what is true of all of them together: resource ids,
 * how many resources are held, the adopted process-owned (POSIX) locks,
 * which the lockspaces ask about through the hooks the set gives them, and
 * the lock fds held outside any lockspace (heldfds.h: orphans, parked).
 */
#ifndef LW_LOCKSPACES_H
#define LW_LOCKSPACES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "hashmap.h"
#include "heldfds.h"
#include "lockspace.h"
#include "restart.h"

/* changed(): after a resource is added or its owners change, before it is
 * removed (lockspace_hooks.changed), with the set's counts already updated. */
struct lockspaces_ops {
	void (*changed)(void *data, struct lockspace *ls, struct resource *res,
			enum lockspace_event ev);
	bool (*lost)(void *data, unsigned int id);	/* lockspace_hooks.lost */
	void *data;
};

struct lockspaces {
	struct lockspace *dflt;
	struct hashmap by_dir;		/* the indirect ones */
	struct lockspaces_ops ops;
	struct lockspace_hooks hooks;	/* given to each lockspace */
	unsigned int next_id;		/* the last resource id given */
	size_t nresources;		/* over all lockspaces */
	size_t nposix;			/* of them adopted process-owned locks */
	struct held_fds held;		/* locks no resource serves */
};

/* Creates the default lockspace. */
int lockspaces_init(struct lockspaces *s, const struct lockspaces_ops *ops,
		    struct lw_err *err);
/* Closes every fd, held ones too, so every lock is released: only for
 * shutdown. */
void lockspaces_fini(struct lockspaces *s);

/* dir NULL or "": the default lockspace. NULL when there is none. */
struct lockspace *lockspaces_find(const struct lockspaces *s, const char *dir);
/* A new indirect lockspace (dir must not be one yet); creates dir. */
int lockspaces_add(struct lockspaces *s, const char *dir, struct lockspace **out,
		   struct lw_err *err);
/* How many lockspaces, the default one included. */
size_t lockspaces_count(const struct lockspaces *s);

/* Visit every lockspace, the default one first; stops at and returns the
 * first non-zero fn result. */
int lockspaces_foreach(const struct lockspaces *s,
		       int (*fn)(struct lockspace *ls, void *arg), void *arg);
/* The same over every resource of every lockspace. */
int lockspaces_foreach_resource(const struct lockspaces *s,
				int (*fn)(struct lockspace *ls, struct resource *res, void *arg),
				void *arg);

/* Visit every fd the set holds: each resource's and each held one. */
void lockspaces_foreach_fd(const struct lockspaces *s, void (*fn)(int fd, void *arg), void *arg);

/* Drop owner from every resource; returns how many resources it held. */
int lockspaces_release_owner(struct lockspaces *s, pid_t owner);
/* Does an adopted process-owned lock, or an orphan's (which may be one),
 * sit on this inode? */
bool lockspaces_posix_held(const struct lockspaces *s, dev_t dev, ino_t ino);

/*
 * Live upgrade, as virtlockd saves its lockspaces: the default one as
 * "defaultLockspace", the indirect ones as the array "lockspaces" (see
 * lockspace_save). Restoring never drops a lock: what cannot be restored
 * is skipped, each lock it names kept as an orphan.
 */
void lockspaces_save(const struct lockspaces *s, struct restart_writer *rw);
void lockspaces_restore(struct lockspaces *s, struct restart_reader *r,
			struct json_object *state);
/* The last resource id given, as lockwarden's "next_resource_id": ids go on
 * from it. */
void lockspaces_save_next_id(const struct lockspaces *s, struct restart_writer *rw);
int lockspaces_restore_next_id(struct lockspaces *s, struct restart_reader *r,
			       struct json_object *ours);

#endif

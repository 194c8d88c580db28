/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A lockspace: a set of named resources, each a file held locked through
 * one open fd. The default lockspace (no directory) locks the named file
 * itself (a disk image path); an indirect lockspace is a directory of lock
 * files named by the client (lockd.so uses sha256 of the disk path).
 *
 * Locks are OFD locks on byte 0 (length 1) of the file, the byte virtlockd
 * locks, so lockwarden and virtlockd hosts exclude each other on shared
 * storage. A shared resource is one F_RDLCK with a list of owner pids.
 */
#ifndef LW_LOCKSPACE_H
#define LW_LOCKSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "restart.h"

enum lockspace_flags {
	LS_SHARED	= 1 << 0,	/* == LOCK_ACQUIRE_SHARED */
	LS_AUTOCREATE	= 1 << 1,	/* == LOCK_ACQUIRE_AUTOCREATE */
};

/* Read-only outside lockspace.c. */
struct resource {
	char *name;		/* key within its lockspace */
	char *path;		/* the file locked */
	int fd;			/* holds the lock; never another fd of this file */
	unsigned int flags;	/* enum lockspace_flags */
	bool posix;		/* a process-owned lock adopted from virtlockd */
	dev_t dev;
	ino_t ino;
	size_t nowners;
	pid_t *owners;
	unsigned int id;	/* daemon-wide, for the guard table and audit */
};

struct lockspace;

enum lockspace_event {
	LS_ADDED,		/* a new resource, locked (or adopted) */
	LS_OWNERS,		/* its list of owners changed */
	LS_REMOVED,		/* about to be unlocked and freed */
};

/*
 * What a lockspace tells its daemon. changed() runs after a resource is
 * added or its owners change, and before it is removed.
 * posix_held() says whether an adopted process-owned lock is on an inode:
 * such a lock vanishes when the daemon closes *any* fd of that file, so
 * while posix_any() the lockspace opens candidates O_PATH first (see
 * resource_open in lockspace.c).
 * posix_keep() is asked when a resource with an adopted POSIX lock goes:
 * true means the lock still serves another resource of that inode (two
 * names of one file) and the daemon took the fd over, so it is neither
 * unlocked nor closed; else posix_gone() follows once it is unlocked.
 */
struct lockspace_hooks {
	void (*changed)(void *data, struct lockspace *ls, struct resource *res,
			enum lockspace_event ev);
	bool (*posix_any)(void *data);
	bool (*posix_held)(void *data, dev_t dev, ino_t ino);
	bool (*posix_keep)(void *data, struct resource *res);
	void (*posix_gone)(void *data, dev_t dev, ino_t ino);
	unsigned int (*next_id)(void *data);
	/* An inherited resource whose lock was found lost before the re-exec:
	 * adopted without asserting its lock again (see lockspace_adopt). */
	bool (*lost)(void *data, unsigned int id);
	void *data;
};

/* dir NULL: the default lockspace. Creates dir (0700) when missing. */
int lockspace_new(const char *dir, const struct lockspace_hooks *hooks,
		  struct lockspace **out, struct lw_err *err);
/* Closes every fd, so every lock is released: only for shutdown. */
void lockspace_free(struct lockspace *ls);
const char *lockspace_dir(const struct lockspace *ls);
size_t lockspace_count(const struct lockspace *ls);
/* Room for n resources (a restore knows how many come). */
void lockspace_reserve(struct lockspace *ls, size_t n);

int lockspace_acquire(struct lockspace *ls, const char *name, pid_t owner,
		      unsigned int flags, struct lw_err *err);
int lockspace_release(struct lockspace *ls, const char *name, pid_t owner,
		      struct lw_err *err);
/* Drop owner from every resource; returns how many resources it held. */
int lockspace_release_owner(struct lockspace *ls, pid_t owner);
int lockspace_create_resource(struct lockspace *ls, const char *name, struct lw_err *err);
int lockspace_delete_resource(struct lockspace *ls, const char *name, struct lw_err *err);

struct resource *lockspace_find(const struct lockspace *ls, const char *name);
/* Visit every resource; stops at and returns the first non-zero fn result. */
int lockspace_foreach(const struct lockspace *ls,
		      int (*fn)(struct lockspace *ls, struct resource *res, void *arg),
		      void *arg);

/* Free a resource not (or no longer) in a lockspace; closes its fd. */
void lockspace_resource_free(struct resource *res);

/*
 * Live upgrade: ls as virtlockd saves a virLockSpace under key (its
 * directory, if any, and its resources, each with lockwarden's facts as
 * [posix, dev, ino, id] under "lockwarden"), every lock fd kept.
 */
void lockspace_save(struct lockspace *ls, struct restart_writer *rw, const char *key);
/* Adopt each resource entry of the array resources: each is the file its
 * inherited fd is, whose lock the fd must still hold (a lock found lost
 * before excepted: see lockspace_hooks.lost); one that cannot be is
 * skipped, its lock, if named, kept as an orphan. */
void lockspace_restore(struct lockspace *ls, struct restart_reader *r,
		       struct json_object *resources, const char *where);
/* A lockspace that cannot be had: each lock its resources name is kept as
 * an orphan, for the problem r notes. */
void lockspace_orphan_resources(struct restart_reader *r, struct json_object *resources,
				const char *where);

#endif

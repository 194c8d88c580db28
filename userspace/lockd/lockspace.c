// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Semantics and error texts follow libvirt 9.0's virlockspace.c, which
 * lockd.so and operators know. Deliberate differences, each safer:
 *  - locks are OFD locks, owned by the one fd, not by the process, so no
 *    other open or close in the daemon can drop them;
 *  - in a lockspace with a directory a resource name must be a plain file
 *    name, and lock files are never reached through a symlink;
 *  - a departing owner is removed from every resource entry it holds,
 *    including a shared resource it acquired twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hashmap.h"
#include "lockspace.h"
#include "log.h"
#include "util.h"

struct lockspace {
	char *dir;		/* NULL: the default lockspace */
	int dirfd;		/* O_PATH on dir, so names resolve in it alone */
	struct hashmap resources;
	struct lockspace_hooks hooks;
};

const char *lockspace_dir(const struct lockspace *ls)
{
	return ls->dir;
}

size_t lockspace_count(const struct lockspace *ls)
{
	return ls->resources.count;
}

void lockspace_reserve(struct lockspace *ls, size_t n)
{
	hashmap_reserve(&ls->resources, n);
}

struct resource *lockspace_find(const struct lockspace *ls, const char *name)
{
	return hashmap_get(&ls->resources, name);
}

static int byte0_lock(const struct resource *res, short type)
{
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 1,
	};

	if (fcntl(res->fd, res->posix ? F_SETLK : F_OFD_SETLK, &fl) < 0)
		return -errno;
	return 0;
}

static bool busy_errno(int err)
{
	return err == -EAGAIN || err == -EACCES;
}

static void notify(struct lockspace *ls, struct resource *res, enum lockspace_event ev)
{
	if (ls->hooks.changed)
		ls->hooks.changed(ls->hooks.data, ls, res, ev);
}

void lockspace_resource_free(struct resource *res)
{
	if (!res)
		return;
	free(res->owners);
	safe_close(res->fd);
	free(res->path);
	free(res->name);
	free(res);
}

/* The file a name refers to; NULL with err set when it cannot be one. */
static char *resource_path(struct lockspace *ls, const char *name, struct lw_err *err)
{
	if (!ls->dir)
		return xstrdup(name);
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		lw_err_set(err, ERR_FROM_LOCKSPACE, ERR_INVALID_ARG,
			   "Lockspace resource name '%s' is not a file name in %s",
			   name, ls->dir);
		return NULL;
	}
	return xasprintf("%s/%s", ls->dir, name);
}

static int open_at(struct lockspace *ls, const char *name, int flags)
{
	if (!ls->dir)
		return open(name, flags | O_CLOEXEC, 0600);
	return openat(ls->dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
}

static int stat_at(struct lockspace *ls, const char *name, struct stat *st)
{
	if (!ls->dir)
		return stat(name, st);
	return fstatat(ls->dirfd, name, st, AT_SYMLINK_NOFOLLOW);
}

/*
 * Open the file of a resource. When locks adopted from virtlockd exist, a
 * plain open+close of one of their files would drop them (POSIX locks die
 * with any close of the file by their process), so the file is first
 * opened O_PATH, whose close never touches locks, and its inode checked
 * before the real open through /proc/self/fd. Returns fd or -errno;
 * -EBUSY for an inode held by an adopted lock.
 */
static int resource_open(struct lockspace *ls, const char *name, bool create)
{
	char proc[64];
	struct stat st;
	int pfd, fd;

	if (!ls->hooks.posix_any || !ls->hooks.posix_any(ls->hooks.data)) {
		fd = open_at(ls, name, O_RDWR | (create ? O_CREAT : 0));
		return fd < 0 ? -errno : fd;
	}

	pfd = open_at(ls, name, O_PATH);
	if (pfd < 0 && errno == ENOENT && create) {
		/* A file this open creates cannot carry an adopted lock. */
		fd = open_at(ls, name, O_RDWR | O_CREAT | O_EXCL);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
		pfd = open_at(ls, name, O_PATH);
	}
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st) < 0) {
		fd = -errno;
		goto out;
	}
	if (ls->hooks.posix_held(ls->hooks.data, st.st_dev, st.st_ino)) {
		fd = -EBUSY;
		goto out;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
out:
	close(pfd);
	return fd;
}

static int busy(struct lw_err *err, const char *name)
{
	lw_err_set(err, ERR_FROM_LOCKSPACE, ERR_RESOURCE_BUSY,
		   "Lockspace resource '%s' is locked", name);
	return -EBUSY;
}

static void report_lock_failure(struct lw_err *err, int rc, const char *name, const char *path)
{
	if (busy_errno(rc) || rc == -EBUSY)
		busy(err, name);
	else
		lw_err_sys(err, ERR_FROM_LOCKSPACE, -rc, "Unable to acquire lock on '%s'", path);
}

/*
 * Open and lock a new resource. With AUTOCREATE the lock file may be
 * unlinked by a releasing holder between our open and our lock, so after
 * locking we check that the name still refers to the inode we locked.
 */
static int resource_lock_new(struct lockspace *ls, struct resource *res, struct lw_err *err)
{
	bool create = res->flags & LS_AUTOCREATE;
	short type = (res->flags & LS_SHARED) ? F_RDLCK : F_WRLCK;
	struct stat locked, now;
	int rc;

	for (;;) {
		rc = resource_open(ls, res->name, create);
		if (rc == -EBUSY) {
			report_lock_failure(err, rc, res->name, res->path);
			return rc;
		}
		if (rc < 0) {
			lw_err_sys(err, ERR_FROM_LOCKSPACE, -rc,
				   create ? "Unable to open/create resource %s" :
					    "Unable to open resource %s", res->path);
			return rc;
		}
		res->fd = rc;
		if (fstat(res->fd, &locked) < 0) {
			rc = -errno;
			lw_err_sys(err, ERR_FROM_LOCKSPACE, -rc,
				   "Unable to check status of pid file '%s'", res->path);
			return rc;
		}
		if ((rc = byte0_lock(res, type)) < 0) {
			report_lock_failure(err, rc, res->name, res->path);
			return rc;
		}
		res->dev = locked.st_dev;
		res->ino = locked.st_ino;
		if (!create)
			return 0;
		if (stat_at(ls, res->name, &now) == 0 &&
		    now.st_ino == locked.st_ino && now.st_dev == locked.st_dev)
			return 0;
		log_debug("resource '%s' was replaced while locking it, retrying", res->path);
		res->fd = safe_close(res->fd);
	}
}

static void owners_add(struct resource *res, pid_t owner)
{
	res->owners = xrealloc(res->owners, (res->nowners + 1) * sizeof(*res->owners));
	res->owners[res->nowners++] = owner;
}

/* Remove one (all=false) or every occurrence of owner; returns how many. */
static size_t owners_remove(struct resource *res, pid_t owner, bool all)
{
	size_t i, kept = 0, removed = 0;

	for (i = 0; i < res->nowners; i++) {
		if (res->owners[i] == owner && (all || !removed))
			removed++;
		else
			res->owners[kept++] = res->owners[i];
	}
	res->nowners = kept;
	return removed;
}

int lockspace_acquire(struct lockspace *ls, const char *name, pid_t owner,
		      unsigned int flags, struct lw_err *err)
{
	struct resource *res = lockspace_find(ls, name);
	int rc;

	if (res) {
		if ((res->flags & LS_SHARED) && (flags & LS_SHARED)) {
			owners_add(res, owner);
			notify(ls, res, LS_OWNERS);
			return 0;
		}
		return busy(err, name);
	}

	res = xcalloc(1, sizeof(*res));
	res->fd = -1;
	res->flags = flags & (LS_SHARED | LS_AUTOCREATE);
	res->name = xstrdup(name);
	if (!(res->path = resource_path(ls, name, err))) {
		rc = -EINVAL;
		goto fail;
	}
	if ((rc = resource_lock_new(ls, res, err)) < 0)
		goto fail;
	res->id = ls->hooks.next_id ? ls->hooks.next_id(ls->hooks.data) : 0;
	owners_add(res, owner);
	hashmap_put(&ls->resources, res->name, res);
	notify(ls, res, LS_ADDED);
	return 0;

fail:
	lockspace_resource_free(res);
	return rc;
}

/*
 * The last owner is gone: delete an auto-created lock file while still
 * holding the lock (a shared one only if it can be upgraded, i.e. no other
 * host holds it too), then close, which releases the lock.
 */
static void resource_drop(struct lockspace *ls, struct resource *res)
{
	notify(ls, res, LS_REMOVED);
	hashmap_remove(&ls->resources, res->name);
	if (res->posix && ls->hooks.posix_keep && ls->hooks.posix_keep(ls->hooks.data, res)) {
		res->fd = -1;	/* the daemon's now, the lock still in use */
		lockspace_resource_free(res);
		return;
	}
	if ((res->flags & LS_AUTOCREATE) &&
	    (!(res->flags & LS_SHARED) || byte0_lock(res, F_WRLCK) == 0)) {
		int rc = ls->dir ? unlinkat(ls->dirfd, res->name, 0) : unlink(res->path);

		if (rc < 0 && errno != ENOENT)
			log_warn("Failed to unlink resource %s: %m", res->path);
	}
	if (res->posix)
		byte0_lock(res, F_UNLCK);
	if (res->posix && ls->hooks.posix_gone)
		ls->hooks.posix_gone(ls->hooks.data, res->dev, res->ino);
	lockspace_resource_free(res);
}

int lockspace_release(struct lockspace *ls, const char *name, pid_t owner, struct lw_err *err)
{
	struct resource *res = lockspace_find(ls, name);

	if (!res) {
		lw_err_set(err, ERR_FROM_LOCKSPACE, ERR_RESOURCE_BUSY,
			   "Lockspace resource '%s' is not locked", name);
		return -ENOENT;
	}
	if (!owners_remove(res, owner, false)) {
		lw_err_set(err, ERR_FROM_LOCKSPACE, ERR_INTERNAL_ERROR,
			   "owner %lld does not hold the resource lock", (long long)owner);
		return -EPERM;
	}
	if (res->nowners)
		notify(ls, res, LS_OWNERS);
	else
		resource_drop(ls, res);
	return 0;
}

int lockspace_release_owner(struct lockspace *ls, pid_t owner)
{
	struct hashmap_entry *e, *nx;
	int count = 0;
	size_t i;

	hashmap_foreach(&ls->resources, e, nx, i) {
		struct resource *res = e->value;

		if (!owners_remove(res, owner, true))
			continue;
		count++;
		if (res->nowners)
			notify(ls, res, LS_OWNERS);
		else
			resource_drop(ls, res);
	}
	return count;
}

/* CREATE and DELETE act on the file of a resource not held here. */
static int unheld_path(struct lockspace *ls, const char *name, char **path, struct lw_err *err)
{
	if (lockspace_find(ls, name))
		return busy(err, name);
	*path = resource_path(ls, name, err);
	return *path ? 0 : -EINVAL;
}

int lockspace_create_resource(struct lockspace *ls, const char *name, struct lw_err *err)
{
	char *path;
	int fd;

	if ((fd = unheld_path(ls, name, &path, err)) < 0)
		return fd;
	fd = resource_open(ls, name, true);
	if (fd >= 0) {
		close(fd);
		fd = 0;
	} else if (fd == -EBUSY) {
		busy(err, name);
	} else {
		lw_err_sys(err, ERR_FROM_LOCKSPACE, -fd, "cannot create file '%s'", path);
	}
	free(path);
	return fd;
}

int lockspace_delete_resource(struct lockspace *ls, const char *name, struct lw_err *err)
{
	char *path;
	int rc;

	if ((rc = unheld_path(ls, name, &path, err)) < 0)
		return rc;
	rc = ls->dir ? unlinkat(ls->dirfd, name, 0) : unlink(path);
	if (rc < 0 && errno != ENOENT) {
		rc = -errno;
		lw_err_sys(err, ERR_FROM_LOCKSPACE, -rc,
			   "Unable to delete lockspace resource %s", path);
	} else {
		rc = 0;
	}
	free(path);
	return rc;
}

int lockspace_foreach(const struct lockspace *ls,
		      int (*fn)(struct lockspace *ls, struct resource *res, void *arg),
		      void *arg)
{
	struct hashmap_entry *e, *nx;
	size_t i;
	int rc;

	hashmap_foreach(&ls->resources, e, nx, i)
		if ((rc = fn((struct lockspace *)ls, e->value, arg)))
			return rc;
	return 0;
}

/*
 * Take over an inherited resource (live upgrade); on success the lockspace
 * owns res. The resource is the file its fd is: no recorded inode
 * (virtlockd's state) takes the fd's, a recorded one must be the fd's; a
 * renamed or deleted image is a warning. The lock is asserted
 * again on the same fd: a no-op for a lock we hold (an OFD lock through
 * this fd, or a POSIX lock of this process), a failure when another holder
 * has it, which means the inherited fd does not carry the lock the state
 * claims. The path only names it: what is there now may differ. A lock
 * found lost before (hooks.lost) is never asserted again: on a network
 * filesystem the server may have granted it anew to another host since,
 * and a fresh grant now would let a fenced VM resume on it.
 */
static int lockspace_adopt(struct lockspace *ls, struct resource *res, struct lw_err *err)
{
	short type = (res->flags & LS_SHARED) ? F_RDLCK : F_WRLCK;
	struct stat fst, pst;
	int rc;

	if (fstat(res->fd, &fst) < 0) {
		rc = -errno;
		lw_err_sys(err, ERR_FROM_LOCKSPACE, -rc, "Inherited fd %d of resource %s is unusable",
			   res->fd, res->path);
		return rc;
	}
	if (!S_ISREG(fst.st_mode) && !S_ISBLK(fst.st_mode)) {
		lw_err_set(err, ERR_FROM_LOCKSPACE, ERR_INTERNAL_ERROR,
			   "Inherited fd %d of resource %s is not a file", res->fd, res->path);
		return -EBADF;
	}
	if (res->ino && (fst.st_dev != res->dev || fst.st_ino != res->ino)) {
		lw_err_set(err, ERR_FROM_LOCKSPACE, ERR_INTERNAL_ERROR,
			   "Inherited fd %d is not the file of resource %s (inode %lu, expected %lu)",
			   res->fd, res->path, (unsigned long)fst.st_ino, (unsigned long)res->ino);
		return -ESTALE;
	}
	res->dev = fst.st_dev;
	res->ino = fst.st_ino;
	if (res->id && ls->hooks.lost && ls->hooks.lost(ls->hooks.data, res->id)) {
		log_warn("resource %s: its lock was found lost before the re-exec; keeping "
			 "inherited fd %d without taking the lock again", res->path, res->fd);
	} else if ((rc = byte0_lock(res, type)) < 0) {
		lw_err_sys(err, ERR_FROM_LOCKSPACE, -rc,
			   "Inherited fd %d of resource %s does not hold its %s %s lock",
			   res->fd, res->path, res->posix ? "POSIX" : "OFD",
			   type == F_RDLCK ? "shared" : "exclusive");
		return rc;
	}
	if (lockspace_find(ls, res->name)) {
		lw_err_set(err, ERR_FROM_LOCKSPACE, ERR_INTERNAL_ERROR,
			   "Resource %s appears twice in the inherited state", res->path);
		return -EEXIST;
	}
	if (stat_at(ls, res->name, &pst) < 0)
		log_warn("resource %s: %m; its lock is kept on inherited fd %d (inode %lu)",
			 res->path, res->fd, (unsigned long)res->ino);
	else if (pst.st_dev != res->dev || pst.st_ino != res->ino)
		log_warn("resource %s is now another file (inode %lu); its lock is kept on "
			 "inherited fd %d (inode %lu)", res->path, (unsigned long)pst.st_ino,
			 res->fd, (unsigned long)res->ino);
	if (!res->id && ls->hooks.next_id)
		res->id = ls->hooks.next_id(ls->hooks.data);
	hashmap_put(&ls->resources, res->name, res);
	notify(ls, res, LS_ADDED);
	return 0;
}

int lockspace_new(const char *dir, const struct lockspace_hooks *hooks,
		  struct lockspace **out, struct lw_err *err)
{
	struct lockspace *ls = xcalloc(1, sizeof(*ls));
	struct stat st;
	int rc;

	ls->dirfd = -1;
	if (hooks)
		ls->hooks = *hooks;
	hashmap_init(&ls->resources);
	if (dir) {
		ls->dir = xstrdup(dir);
		if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
			lw_err_set(err, ERR_FROM_LOCKSPACE, ERR_INTERNAL_ERROR,
				   "Lockspace location %s exists, but is not a directory", dir);
			rc = -ENOTDIR;
			goto fail;
		}
		if ((rc = mkdir_p(dir, 0700)) < 0 ||
		    (ls->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
			rc = rc < 0 ? rc : -errno;
			lw_err_sys(err, ERR_FROM_LOCKSPACE, -rc, "Unable to create lockspace %s", dir);
			goto fail;
		}
	}
	*out = ls;
	return 0;

fail:
	lockspace_free(ls);
	return rc;
}

void lockspace_free(struct lockspace *ls)
{
	struct hashmap_entry *e, *nx;
	size_t i;

	if (!ls)
		return;
	hashmap_foreach(&ls->resources, e, nx, i)
		lockspace_resource_free(e->value);
	hashmap_free(&ls->resources);
	safe_close(ls->dirfd);
	free(ls->dir);
	free(ls);
}

/* ---- live upgrade ---- */

static int save_resource(struct lockspace *ls, struct resource *res, void *arg)
{
	struct restart_writer *rw = arg;
	struct jsonw *w = &rw->w;

	jw_object(w, NULL);
	jw_str(w, "name", res->name);
	jw_str(w, "path", res->path);
	jw_int(w, "fd", res->fd);
	jw_bool(w, "lockHeld", true);
	jw_int(w, "flags", res->flags);
	jw_array(w, "owners");
	for (size_t i = 0; i < res->nowners; i++)
		jw_int(w, NULL, res->owners[i]);
	jw_end(w);
	/* [posix, dev, ino, id]: an array, as json-c reads ten thousand of
	 * them several times faster than objects. */
	jw_array(w, "lockwarden");
	jw_bool(w, NULL, res->posix);
	jw_int(w, NULL, res->dev);
	jw_int(w, NULL, res->ino);
	jw_int(w, NULL, res->id);
	jw_end(w);
	jw_end(w);
	restart_keep(rw, res->fd);
	return 0;
}

void lockspace_save(struct lockspace *ls, struct restart_writer *rw, const char *key)
{
	jw_object(&rw->w, key);
	if (ls->dir)
		jw_str(&rw->w, "directory", ls->dir);
	jw_array(&rw->w, "resources");
	lockspace_foreach(ls, save_resource, rw);
	jw_end(&rw->w);
	jw_end(&rw->w);
}

/* What lockwarden adds to a resource: [posix, dev, ino, id]. */
static int restore_resource_ext(struct restart_reader *r, struct resource *res,
				struct json_object *ext, const char *where)
{
	struct json_object *v[4];

	if (!json_object_is_type(ext, json_type_array) || json_object_array_length(ext) < 4)
		return restart_bad(r, where, "malformed 'lockwarden'");
	for (int i = 0; i < 4; i++)
		v[i] = json_object_array_get_idx(ext, i);
	if (!json_object_is_type(v[0], json_type_boolean) ||
	    !json_object_is_type(v[1], json_type_int) || json_object_get_int64(v[1]) < 0 ||
	    !json_object_is_type(v[2], json_type_int) || json_object_get_int64(v[2]) <= 0 ||
	    !json_object_is_type(v[3], json_type_int) || json_object_get_int64(v[3]) < 0 ||
	    json_object_get_int64(v[3]) > UINT32_MAX)
		return restart_bad(r, where, "malformed 'lockwarden'");
	res->posix = json_object_get_boolean(v[0]);
	res->dev = json_object_get_int64(v[1]);
	res->ino = json_object_get_int64(v[2]);
	res->id = json_object_get_int64(v[3]);
	return 0;
}

static int restore_resource(struct restart_reader *r, struct lockspace *ls, struct json_object *o,
			    const char *where)
{
	struct json_object *owners, *ext;
	struct resource *res = xcalloc(1, sizeof(*res));
	struct lw_err err = { 0 };
	const char *name, *path;
	int64_t flags;
	bool held;
	int rc = -EINVAL;

	res->fd = -1;
	res->posix = true;		/* virtlockd's locks are process-owned */
	if (!(name = restart_get_str(r, o, where, "name")) ||
	    !(path = restart_get_str(r, o, where, "path")) ||
	    restart_get_fd(r, o, where, "fd", &res->fd) < 0 ||
	    restart_get_bool(r, o, where, "lockHeld", &held) < 0 ||
	    restart_get_int(r, o, where, "flags", 0, LS_SHARED | LS_AUTOCREATE, &flags) < 0 ||
	    !(owners = restart_member(r, o, where, "owners", json_type_array)))
		goto fail;
	if (!held) {
		restart_bad(r, where, "resource %s is recorded as not locked", path);
		goto fail;
	}
	res->name = xstrdup(name);
	res->path = xstrdup(path);
	res->flags = flags;
	res->nowners = json_object_array_length(owners);
	res->owners = xcalloc(res->nowners, sizeof(pid_t));
	for (size_t i = 0; i < res->nowners; i++) {
		struct json_object *p = json_object_array_get_idx(owners, i);

		if (!json_object_is_type(p, json_type_int) || json_object_get_int64(p) <= 0 ||
		    json_object_get_int64(p) > INT32_MAX) {
			restart_bad(r, where, "malformed owner pid");
			goto fail;
		}
		res->owners[i] = json_object_get_int64(p);
	}
	if (!res->nowners) {
		restart_bad(r, where, "resource %s has no owner", path);
		goto fail;
	}
	if (json_object_object_get_ex(o, "lockwarden", &ext) &&
	    restore_resource_ext(r, res, ext, where) < 0)
		goto fail;
	if ((rc = lockspace_adopt(ls, res, &err)) < 0) {
		restart_bad(r, where, "%s", err.message ? err.message : strerror(-rc));
		lw_err_clear(&err);
		goto fail;
	}
	return 0;
fail:
	if (res->fd >= 0)
		restart_orphan(r, res->fd, res->path ? res->path : where);
	else
		restart_skip(r, where);
	res->fd = -1;
	lockspace_resource_free(res);
	return rc < 0 ? rc : -EINVAL;
}

void lockspace_restore(struct lockspace *ls, struct restart_reader *r,
		       struct json_object *resources, const char *where)
{
	char rwhere[160];

	lockspace_reserve(ls, lockspace_count(ls) + json_object_array_length(resources));
	for (size_t i = 0; i < json_object_array_length(resources); i++) {
		snprintf(rwhere, sizeof(rwhere), "%s resource %zu", where, i);
		restore_resource(r, ls, json_object_array_get_idx(resources, i), rwhere);
	}
}

void lockspace_orphan_resources(struct restart_reader *r, struct json_object *resources,
				const char *where)
{
	char *why = r->why;

	r->why = NULL;
	for (size_t i = 0; i < json_object_array_length(resources); i++) {
		struct json_object *o = json_object_array_get_idx(resources, i), *p;
		int fd;

		if (json_object_is_type(o, json_type_object) &&
		    restart_get_fd(r, o, where, "fd", &fd) == 0) {
			free(r->why);
			r->why = xstrdup(why);
			restart_orphan(r, fd, json_object_object_get_ex(o, "path", &p) ?
					      json_object_get_string(p) : where);
		}
		free(r->why);
		r->why = NULL;
	}
	r->why = why;
	restart_skip(r, where);
}

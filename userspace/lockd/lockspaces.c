// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lockspaces.h"
#include "log.h"

static void changed(void *data, struct lockspace *ls, struct resource *res,
		    enum lockspace_event ev)
{
	struct lockspaces *s = data;

	if (ev == LS_ADDED) {
		s->nresources++;
		s->nposix += res->posix;
	} else if (ev == LS_REMOVED) {
		s->nresources--;
		s->nposix -= res->posix;
	}
	if (s->ops.changed)
		s->ops.changed(s->ops.data, ls, res, ev);
}

static bool posix_any(void *data)
{
	const struct lockspaces *s = data;

	return s->nposix > 0 || s->held.norphans > 0;
}

static bool posix_held(void *data, dev_t dev, ino_t ino)
{
	return lockspaces_posix_held(data, dev, ino);
}

/* Called with res out of its lockspace: any POSIX user of its inode left
 * is another resource (two names of one file), whose lock res's close or
 * unlock would drop. */
static bool posix_keep(void *data, struct resource *res)
{
	struct lockspaces *s = data;

	if (!lockspaces_posix_held(s, res->dev, res->ino) ||
	    held_fds_add(&s->held, res->fd, res->path, NULL) < 0)
		return false;
	log_info("resource %s released; its fd %d stays open, as its file's POSIX lock "
		 "still serves another resource", res->path, res->fd);
	return true;
}

/* The last resource of an inode is unlocked: its parked fds may close. */
static void posix_gone(void *data, dev_t dev, ino_t ino)
{
	struct lockspaces *s = data;

	held_fds_close_parked(&s->held, dev, ino);
}

static bool lost(void *data, unsigned int id)
{
	struct lockspaces *s = data;

	return s->ops.lost && s->ops.lost(s->ops.data, id);
}

static unsigned int next_id(void *data)
{
	struct lockspaces *s = data;

	return ++s->next_id;
}

int lockspaces_init(struct lockspaces *s, const struct lockspaces_ops *ops,
		    struct lw_err *err)
{
	*s = (struct lockspaces){
		.ops = *ops,
		.hooks = {
			.changed = changed,
			.posix_any = posix_any,
			.posix_held = posix_held,
			.posix_keep = posix_keep,
			.posix_gone = posix_gone,
			.next_id = next_id,
			.lost = lost,
			.data = s,
		},
	};
	hashmap_init(&s->by_dir);
	return lockspace_new(NULL, &s->hooks, &s->dflt, err);
}

void lockspaces_fini(struct lockspaces *s)
{
	struct hashmap_entry *e, *nx;
	size_t i;

	hashmap_foreach(&s->by_dir, e, nx, i)
		lockspace_free(e->value);
	hashmap_free(&s->by_dir);
	lockspace_free(s->dflt);
	s->dflt = NULL;
	held_fds_free(&s->held);
}

struct lockspace *lockspaces_find(const struct lockspaces *s, const char *dir)
{
	if (!dir || !*dir)
		return s->dflt;
	return hashmap_get(&s->by_dir, dir);
}

int lockspaces_add(struct lockspaces *s, const char *dir, struct lockspace **out,
		   struct lw_err *err)
{
	struct lockspace *ls;
	int rc;

	if ((rc = lockspace_new(dir, &s->hooks, &ls, err)) < 0) {
		log_error("cannot create lockspace %s: %s", dir, err->message);
		return rc;
	}
	/* The key is the lockspace's own copy of dir. */
	hashmap_put(&s->by_dir, lockspace_dir(ls), ls);
	log_info("lockspace %s created", dir);
	if (out)
		*out = ls;
	return 0;
}

size_t lockspaces_count(const struct lockspaces *s)
{
	return 1 + s->by_dir.count;
}

int lockspaces_foreach(const struct lockspaces *s,
		       int (*fn)(struct lockspace *ls, void *arg), void *arg)
{
	struct hashmap_entry *e, *nx;
	size_t i;
	int rc;

	if ((rc = fn(s->dflt, arg)))
		return rc;
	hashmap_foreach(&s->by_dir, e, nx, i)
		if ((rc = fn(e->value, arg)))
			return rc;
	return 0;
}

struct resource_visit {
	int (*fn)(struct lockspace *ls, struct resource *res, void *arg);
	void *arg;
};

static int visit_resources(struct lockspace *ls, void *arg)
{
	struct resource_visit *v = arg;

	return lockspace_foreach(ls, v->fn, v->arg);
}

int lockspaces_foreach_resource(const struct lockspaces *s,
				int (*fn)(struct lockspace *ls, struct resource *res, void *arg),
				void *arg)
{
	struct resource_visit v = { fn, arg };

	return lockspaces_foreach(s, visit_resources, &v);
}

struct fd_visit {
	void (*fn)(int fd, void *arg);
	void *arg;
};

static int visit_fd(struct lockspace *ls, struct resource *res, void *arg)
{
	struct fd_visit *v = arg;

	v->fn(res->fd, v->arg);
	return 0;
}

void lockspaces_foreach_fd(const struct lockspaces *s, void (*fn)(int fd, void *arg), void *arg)
{
	struct fd_visit v = { fn, arg };

	lockspaces_foreach_resource(s, visit_fd, &v);
	for (size_t i = 0; i < s->held.n; i++)
		fn(s->held.v[i].fd, arg);
}

struct owner_release {
	pid_t owner;
	int held;
};

static int release_in(struct lockspace *ls, void *arg)
{
	struct owner_release *o = arg;

	o->held += lockspace_release_owner(ls, o->owner);
	return 0;
}

int lockspaces_release_owner(struct lockspaces *s, pid_t owner)
{
	struct owner_release o = { .owner = owner };

	lockspaces_foreach(s, release_in, &o);
	return o.held;
}

static int is_posix_on(struct lockspace *ls, struct resource *res, void *arg)
{
	const struct resource *want = arg;

	return res->posix && res->dev == want->dev && res->ino == want->ino;
}

bool lockspaces_posix_held(const struct lockspaces *s, dev_t dev, ino_t ino)
{
	struct resource want = { .dev = dev, .ino = ino };

	return held_fds_orphaned(&s->held, dev, ino) ||
	       (s->nposix && lockspaces_foreach_resource(s, is_posix_on, &want));
}

/* ---- live upgrade ---- */

static int save_indirect(struct lockspace *ls, void *arg)
{
	if (lockspace_dir(ls))
		lockspace_save(ls, arg, NULL);
	return 0;
}

void lockspaces_save(const struct lockspaces *s, struct restart_writer *rw)
{
	lockspace_save(s->dflt, rw, "defaultLockspace");
	jw_array(&rw->w, "lockspaces");
	lockspaces_foreach(s, save_indirect, rw);
	jw_end(&rw->w);
}

/* An indirect one (*lsp NULL) is added by its directory first. */
static int restore_lockspace(struct lockspaces *s, struct restart_reader *r,
			     struct json_object *o, const char *where, struct lockspace **lsp)
{
	struct json_object *resources;
	struct lw_err err = { 0 };

	if (!(resources = restart_member(r, o, where, "resources", json_type_array))) {
		restart_skip(r, where);
		return -EINVAL;
	}
	if (!*lsp) {
		const char *dir = restart_get_str(r, o, where, "directory");

		if (!dir) {
			lockspace_orphan_resources(r, resources, where);
			return -EINVAL;
		}
		if (lockspaces_find(s, dir)) {
			restart_bad(r, where, "lockspace %s appears twice", dir);
			lockspace_orphan_resources(r, resources, where);
			return -EINVAL;
		}
		if (lockspaces_add(s, dir, lsp, &err) < 0) {
			restart_bad(r, where, "%s", err.message);
			lw_err_clear(&err);
			lockspace_orphan_resources(r, resources, where);
			return -EINVAL;
		}
	}
	lockspace_restore(*lsp, r, resources, where);
	return 0;
}

void lockspaces_restore(struct lockspaces *s, struct restart_reader *r,
			struct json_object *state)
{
	struct json_object *dflt, *spaces;
	char where[64];

	if (!(dflt = restart_member(r, state, "state", "defaultLockspace", json_type_object)))
		restart_skip(r, "the default lockspace");
	else
		restore_lockspace(s, r, dflt, "defaultLockspace", &s->dflt);
	if (!(spaces = restart_member(r, state, "state", "lockspaces", json_type_array))) {
		restart_skip(r, "the lockspaces");
		return;
	}
	for (size_t i = 0; i < json_object_array_length(spaces); i++) {
		struct json_object *o = json_object_array_get_idx(spaces, i);
		struct lockspace *ls = NULL;

		snprintf(where, sizeof(where), "lockspaces[%zu]", i);
		if (!json_object_is_type(o, json_type_object))
			restart_skip(r, where);
		else
			restore_lockspace(s, r, o, where, &ls);
	}
}

void lockspaces_save_next_id(const struct lockspaces *s, struct restart_writer *rw)
{
	jw_int(&rw->w, "next_resource_id", s->next_id);
}

int lockspaces_restore_next_id(struct lockspaces *s, struct restart_reader *r,
			       struct json_object *ours)
{
	int64_t v;

	if (restart_get_int(r, ours, "lockwarden", "next_resource_id", 0, UINT32_MAX, &v) < 0)
		return -EINVAL;
	if (v > s->next_id)
		s->next_id = v;
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "daemon.h"
#include "guard.h"
#include "guardpolicy.h"
#include "hashmap.h"
#include "log.h"
#include "util.h"

struct guard_owner {
	pid_t pid;
	char *vm_name;			/* NULL: no VM registered this pid */
	uint8_t vm_uuid[LOCK_UUID_LEN];
};

/* One locked resource on a guarded inode (usually the only one). */
struct guard_res {
	unsigned int id;
	char *name;			/* its name in its lockspace */
	char *path;			/* the file locked */
	bool shared;
	bool posix;			/* an adopted process-owned lock */
	struct guard_owner *owners;
	size_t nowners;
};

/* A guarded inode. Two resources share one when a file is locked shared
 * under two names (hard links, or paths through symlinks). */
struct guard_entry {
	char key[48];			/* "dev:ino", the table's key */
	dev_t dev;
	ino_t ino;
	enum guard_policy policy;	/* the strictest of its resources' paths */
	struct guard_res *res;
	size_t nres;
};

struct guard_counters {
	uint64_t opens[CLASS_COUNT][SEV_COUNT];
	uint64_t denied[SEV_COUNT];
};

struct guard {
	struct daemon *d;
	struct guard_rules rules;
	/*
	 * The table. Only the main thread changes it, holding lock; the
	 * fanotify thread reads it holding lock, the main thread without.
	 */
	pthread_mutex_t lock;
	struct hashmap table;
	size_t nresources;
	struct guard_counters n;
};

/* ---- the table ---- */

static void entry_key(char *buf, size_t len, dev_t dev, ino_t ino)
{
	snprintf(buf, len, "%u:%u:%llu", major(dev), minor(dev), (unsigned long long)ino);
}

static struct guard_entry *entry_find(struct guard *g, dev_t dev, ino_t ino)
{
	char key[48];

	entry_key(key, sizeof(key), dev, ino);
	return hashmap_get(&g->table, key);
}

static void owners_free(struct guard_res *r)
{
	for (size_t i = 0; i < r->nowners; i++)
		free(r->owners[i].vm_name);
	free(r->owners);
	r->owners = NULL;
	r->nowners = 0;
}

static void res_free(struct guard_res *r)
{
	owners_free(r);
	free(r->name);
	free(r->path);
}

static void entry_free(struct guard_entry *e)
{
	for (size_t i = 0; i < e->nres; i++)
		res_free(&e->res[i]);
	free(e->res);
	free(e);
}

static struct guard_res *entry_res(struct guard_entry *e, unsigned int id)
{
	for (size_t i = 0; i < e->nres; i++)
		if (e->res[i].id == id)
			return &e->res[i];
	return NULL;
}

/* The VM that registered pid as its owner, if its connection is here. */
static const struct client *owner_client(struct guard *g, pid_t pid)
{
	struct client *c;

	clients_foreach(&g->d->clients, c)
		if (c->owner_id && c->owner_pid == pid && c->owner_name)
			return c;
	return NULL;
}

/*
 * Copy the owners of res, with their VMs. A VM learnt earlier is kept for
 * an owner whose connection is not here (a restored table, a helper's
 * connection that named the VM's pid and left).
 */
static void owners_update(struct guard *g, struct guard_res *r, const struct resource *res)
{
	struct guard_owner *owners = xcalloc(res->nowners + 1, sizeof(*owners));

	for (size_t i = 0; i < res->nowners; i++) {
		const struct client *c = owner_client(g, res->owners[i]);

		owners[i].pid = res->owners[i];
		if (c) {
			owners[i].vm_name = xstrdup(c->owner_name);
			memcpy(owners[i].vm_uuid, c->owner_uuid, LOCK_UUID_LEN);
			continue;
		}
		for (size_t j = 0; j < r->nowners; j++) {
			if (r->owners[j].pid == owners[i].pid && r->owners[j].vm_name) {
				owners[i].vm_name = xstrdup(r->owners[j].vm_name);
				memcpy(owners[i].vm_uuid, r->owners[j].vm_uuid, LOCK_UUID_LEN);
				break;
			}
		}
	}
	owners_free(r);
	r->owners = owners;
	r->nowners = res->nowners;
}

static void entry_update_policy(struct guard *g, struct guard_entry *e)
{
	e->policy = GUARD_OFF;
	for (size_t i = 0; i < e->nres; i++) {
		enum guard_policy p = guard_rules_policy(&g->rules, e->res[i].path);

		if (p > e->policy)
			e->policy = p;
	}
}

static void table_add(struct guard *g, const struct resource *res)
{
	struct guard_entry *e = entry_find(g, res->dev, res->ino);
	struct guard_res *r;

	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->dev = res->dev;
		e->ino = res->ino;
		entry_key(e->key, sizeof(e->key), e->dev, e->ino);
		hashmap_put(&g->table, e->key, e);
	}
	e->res = xrealloc(e->res, (e->nres + 1) * sizeof(*e->res));
	r = &e->res[e->nres++];
	memset(r, 0, sizeof(*r));
	r->id = res->id;
	r->name = xstrdup(res->name);
	r->path = xstrdup(res->path);
	r->shared = res->flags & LS_SHARED;
	r->posix = res->posix;
	owners_update(g, r, res);
	entry_update_policy(g, e);
	g->nresources++;
}

/* Returns the entry, or NULL when it went with its last resource. */
static struct guard_entry *table_remove(struct guard *g, struct guard_entry *e, struct guard_res *r)
{
	res_free(r);
	*r = e->res[--e->nres];
	g->nresources--;
	if (e->nres) {
		entry_update_policy(g, e);
		return e;
	}
	hashmap_remove(&g->table, e->key);
	entry_free(e);
	return NULL;
}

void guard_resource(struct guard *g, struct lockspace *ls, struct resource *res,
		    enum lockspace_event ev)
{
	struct guard_entry *e;
	struct guard_res *r;

	pthread_mutex_lock(&g->lock);
	if (ev == LS_ADDED) {
		table_add(g, res);
	} else if ((e = entry_find(g, res->dev, res->ino)) && (r = entry_res(e, res->id))) {
		if (ev == LS_OWNERS)
			owners_update(g, r, res);
		else
			table_remove(g, e, r);
	}
	pthread_mutex_unlock(&g->lock);
}

/* ---- status ---- */

static struct json_object *by_severity(const uint64_t *n)
{
	struct json_object *o = json_object_new_object();

	for (int s = SEV_LOW; s < SEV_COUNT; s++)
		json_object_object_add(o, guard_severity_name(s), json_object_new_uint64(n[s]));
	return o;
}

struct json_object *guard_status(struct guard *g)
{
	struct json_object *st = json_object_new_object(), *c = json_object_new_object();

	json_object_object_add(st, "policy",
			       json_object_new_string(guard_policy_name(g->rules.policy)));
	json_object_object_add(st, "guarded_inodes", json_object_new_uint64(g->table.count));
	json_object_object_add(st, "guarded_resources", json_object_new_uint64(g->nresources));
	json_object_object_add(c, "violations", by_severity(g->n.opens[CLASS_VIOLATION]));
	json_object_object_add(c, "warnings", by_severity(g->n.opens[CLASS_WARNING]));
	json_object_object_add(c, "management",
			       json_object_new_uint64(g->n.opens[CLASS_MANAGEMENT][SEV_INFO]));
	json_object_object_add(c, "denials", by_severity(g->n.denied));
	json_object_object_add(st, "counters", c);
	return st;
}

/* ---- life ---- */

int guard_new(struct daemon *d, struct guard **out)
{
	struct guard *g = xcalloc(1, sizeof(*g));

	g->d = d;
	pthread_mutex_init(&g->lock, NULL);
	hashmap_init(&g->table);
	guard_rules_init(&g->rules, &d->cfg);
	*out = g;
	return 0;
}

void guard_free(struct guard *g)
{
	struct hashmap_entry *he, *nx;
	size_t i;

	if (!g)
		return;
	hashmap_foreach(&g->table, he, nx, i)
		entry_free(he->value);
	hashmap_free(&g->table);
	guard_rules_fini(&g->rules);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

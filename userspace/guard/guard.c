// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "bpfmon.h"
#include "fanmon.h"
#include "guard.h"
#include "guardevent.h"
#include "guardpolicy.h"
#include "guardvms.h"
#include "hashmap.h"
#include "imagemap.h"
#include "lockspaces.h"
#include "log.h"
#include "procinfo.h"
#include "repeats.h"
#include "util.h"

#include <fcntl.h>
#include <sys/stat.h>

#define PIN_ROOT	"/sys/fs/bpf/lockwarden"
#define SAVE_SYNC_MS	2000
#define DETACH_GRACE_MS	1000

struct guard_owner {
	pid_t pid;
	uint64_t start;			/* its identity (ownerid.h); 0: not known */
	char *vm_name;			/* NULL: no VM registered this pid */
	uint8_t vm_uuid[LOCK_UUID_LEN];
};

/* One locked resource on a guarded inode (usually the only one). */
struct guard_res {
	unsigned int id;
	/* The resource's own strings: a guard_res is removed (LS_REMOVED)
	 * before its resource is freed. */
	const char *name;		/* its name in its lockspace */
	const char *path;		/* the file locked */
	bool shared;
	bool posix;			/* an adopted process-owned lock */
	struct guard_owner *owners;
	size_t nowners;
};

/* A guarded inode. Two resources share one when a file is locked shared
 * under two names (hard links, or paths through symlinks). */
#define ENTRY_KEY_LEN 34		/* two 64-bit hex numbers, ':', NUL */

struct guard_entry {
	char key[ENTRY_KEY_LEN];	/* "dev:ino", the table's key */
	dev_t dev;
	ino_t ino;
	enum guard_policy policy;	/* the strictest of its resources' paths */
	struct guard_res *res;
	size_t nres;
	bool in_map;			/* in the BPF monitor's map */
	bool marked;			/* has a fanotify mark */
	bool failed;			/* a monitor refused it: said once */
};

struct guard_counters {
	uint64_t opens[CLASS_COUNT][SEV_COUNT];
	uint64_t denied[SEV_COUNT];
};

/*
 * The disk image an indirect lock file stands for (imagemap.h), watched in
 * the lock file's place: opened, so there is an fd to mark it by.
 */
struct guard_image {
	char key[16];			/* the resource's id */
	char *path;
	int fd;
	dev_t dev;
	ino_t ino;
};

/* What the guard watches for a resource: its file, or its mapped image. */
struct watched {
	dev_t dev;
	ino_t ino;
	int fd;
	const char *path;
};

struct guard {
	/* What guard_params gave. */
	struct loop *loop;
	const char *rundir;
	struct client_table *clients;
	struct lockspaces *spaces;
	struct audit *audit;
	void (*report)(void *arg, struct json_object *rec);
	void *report_arg;

	struct guard_rules rules;
	bool want_bpf, want_fan;	/* the monitors the settings ask for */
	struct imagemap *images;	/* lock file names back to image paths */
	struct hashmap mapped;		/* resource id -> struct guard_image */
	/*
	 * The table. Only the main thread changes it, holding lock; the
	 * fanotify thread reads it holding lock, the main thread without.
	 */
	pthread_mutex_t lock;
	struct hashmap table;
	struct guard_vms vms;		/* processes registered as VMs */
	size_t nresources;
	size_t nmapped, nmarked;	/* entries in the BPF map, marked */

	struct bpfmon *bpf;
	struct fanmon *fan;
	char *bpf_error, *fan_error;	/* why a monitor the config wants is missing */
	struct guard_merge merge;
	struct repeats *repeats;	/* one opener's repeated records, folded */
	struct guard_counters n;

	/* Re-exec: where the BPF monitor pins; what to undo if the exec fails. */
	char *pin_dir;
	struct loop_timer after_save;	/* fires only if the exec did not happen */
	struct loop_timer start;	/* the first turn of the loop */
	struct loop_timer detach;	/* nothing guarded for DETACH_GRACE_MS */
	bool started;
	/* What the old image had in the map and marked, when its rules were
	 * ours: taken as it is instead of redone (see adopt_watching). */
	char *rules_fp;			/* the config that decides what is watched */
	bool saved_valid;
	size_t saved_mapped, saved_marked;
};

/* ---- the table ---- */

static char *put_hex(char *p, uint64_t v)
{
	char digits[16];
	int n = 0;

	do
		digits[n++] = "0123456789abcdef"[v & 15];
	while (v >>= 4);
	while (n)
		*p++ = digits[--n];
	return p;
}

/* "dev:ino" in hex, a key for the table; no printf on the lock path. */
static void entry_key(char key[ENTRY_KEY_LEN], dev_t dev, ino_t ino)
{
	char *p = put_hex(key, dev);

	*p++ = ':';
	*put_hex(p, ino) = '\0';
}

static struct guard_entry *entry_find(struct guard *g, dev_t dev, ino_t ino)
{
	char key[ENTRY_KEY_LEN];

	entry_key(key, dev, ino);
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

static void entry_free(struct guard_entry *e)
{
	for (size_t i = 0; i < e->nres; i++)
		owners_free(&e->res[i]);
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
/*
 * Copy the owners of res, with their VMs. A VM learnt earlier is kept for
 * an owner whose connection is not here (a restored table, a helper's
 * connection that named the VM's pid and left).
 */
static void owners_update(struct guard *g, struct guard_res *r, const struct resource *res)
{
	struct guard_owner *owners = xcalloc(res->nowners + 1, sizeof(*owners));

	for (size_t i = 0; i < res->nowners; i++) {
		const struct client *c = clients_owner(g->clients, res->owners[i]);

		owners[i].pid = res->owners[i];
		if (c) {
			/* Its identity, taken when it registered. */
			owners[i].start = c->ident.start;
			owners[i].vm_name = xstrdup(c->owner_name);
			memcpy(owners[i].vm_uuid, c->owner_uuid, LOCK_UUID_LEN);
			continue;
		}
		for (size_t j = 0; j < r->nowners; j++) {
			if (r->owners[j].pid != owners[i].pid)
				continue;
			owners[i].start = r->owners[j].start;
			if (r->owners[j].vm_name) {
				owners[i].vm_name = xstrdup(r->owners[j].vm_name);
				memcpy(owners[i].vm_uuid, r->owners[j].vm_uuid, LOCK_UUID_LEN);
			}
			break;
		}
		/* No connection names it: its start time, read once, when it
		 * first owned r. */
		if (!owners[i].start)
			procinfo_start(owners[i].pid, &owners[i].start);
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

static bool entry_posix(const struct guard_entry *e)
{
	for (size_t i = 0; i < e->nres; i++)
		if (e->res[i].posix)
			return true;
	return false;
}

/* The map's value: owners of every resource on the inode, once each, and
 * the policy the programs enforce where they can. */
static void entry_value(const struct guard_entry *e, struct ow_value *v)
{
	memset(v, 0, sizeof(*v));
	v->id = e->res[0].id;
	if (e->policy == GUARD_DENY_ALL)
		v->flags |= OW_DENY_ALL;
	else if (e->policy == GUARD_DENY_WRITE)
		v->flags |= OW_DENY_WRITE;
	for (size_t i = 0; i < e->nres; i++) {
		const struct guard_res *r = &e->res[i];

		if (!r->shared)
			v->flags |= OW_EXCLUSIVE;
		for (size_t j = 0; j < r->nowners; j++) {
			/* No process is an owner that was gone at REGISTER. */
			bool skip = r->owners[j].start == OWNERID_GONE;

			for (size_t k = 0; k < v->nowners && k < OW_MAX_OWNERS; k++)
				skip |= v->owners[k].tgid == (__u32)r->owners[j].pid;
			if (skip)
				continue;
			if (v->nowners < OW_MAX_OWNERS) {
				v->owners[v->nowners].tgid = r->owners[j].pid;
				v->owners[v->nowners].start = r->owners[j].start;
			}
			v->nowners++;
		}
	}
}

static void watch_failed(struct guard_entry *e, const char *monitor, int rc)
{
	if (e->failed)
		return;
	e->failed = true;
	log_warn("guard: %s cannot watch resource %s (inode %s): %s", monitor, e->res[0].path,
		 e->key, strerror(-rc));
}

/*
 * Bring the monitors in line with e: in the BPF map while its policy is
 * not off, and marked for fanotify too unless a resource on it is an
 * adopted POSIX lock. fd is an open fd of the inode (a resource's).
 */
static void entry_wants(const struct guard *g, const struct guard_entry *e, bool *map, bool *mark)
{
	bool watch = e->nres && e->policy != GUARD_OFF;

	*map = g->bpf && watch;
	/*
	 * Never a fanotify mark on an adopted process-owned (POSIX) lock:
	 * every event hands the daemon an fd of the file, and closing any
	 * fd of a file drops the POSIX locks this process holds on it. BPF
	 * alone watches those.
	 */
	*mark = g->fan && watch && !entry_posix(e);
}

/*
 * The allowed helpers as the programs check them (struct ow_allow):
 * executables and cgroups resolved to inodes and ids now, as the
 * userspace check does at each open; again whenever an inode is newly
 * guarded, so an upgraded helper matches by then.
 */
static void allow_update(struct guard *g)
{
	const struct guard_rules *r = &g->rules;
	struct ow_allow a = { 0 };
	struct stat st;
	char *path;
	int rc;

	if (!g->bpf || !bpfmon_enforces(g->bpf))
		return;
	a.flags = (r->nuids ? OW_ALLOW_UIDS : 0) | (r->nexes ? OW_ALLOW_EXES : 0) |
		  (r->ncgroups ? OW_ALLOW_CGROUPS : 0);
	for (size_t i = 0; i < r->nuids && a.nuids < OW_MAX_ALLOW; i++)
		a.uids[a.nuids++] = r->uids[i];
	for (size_t i = 0; i < r->nexes && a.nexes < OW_MAX_ALLOW; i++) {
		if (stat(r->exes[i], &st) < 0)
			continue;
		a.exes[a.nexes].dev = ow_kdev(st.st_dev);
		a.exes[a.nexes++].ino = st.st_ino;
	}
	for (size_t i = 0; i < r->ncgroups && a.ncgroups < OW_MAX_ALLOW; i++) {
		unsigned int level = 0;

		/* A cgroup2 directory's inode is its id; its depth, the
		 * ancestor level the program asks for. */
		path = xasprintf("/sys/fs/cgroup%s", r->cgroups[i]);
		rc = stat(path, &st);
		free(path);
		if (rc < 0)
			continue;
		for (const char *c = r->cgroups[i]; *c; c++)
			level += *c == '/' && c[1] && c[1] != '/';
		a.cgroup_ids[a.ncgroups] = st.st_ino;
		a.cgroup_levels[a.ncgroups++] = level;
	}
	if ((rc = bpfmon_set_allow(g->bpf, &a)) < 0)
		log_warn("guard: cannot give the BPF open monitor the allowed helpers: %s; "
			 "it refuses them too", strerror(-rc));
}

static void entry_watch(struct guard *g, struct guard_entry *e, int fd)
{
	struct ow_value v;
	bool map, mark;
	int rc;

	entry_wants(g, e, &map, &mark);
	if (map) {
		if (!e->in_map)
			allow_update(g);
		entry_value(e, &v);
		if ((rc = bpfmon_set(g->bpf, e->dev, e->ino, &v)) < 0)
			watch_failed(e, "the BPF open monitor", rc);
		else if (!e->in_map && ++g->nmapped)
			e->in_map = true;
	} else if (g->bpf && e->in_map) {
		bpfmon_del(g->bpf, e->dev, e->ino);
		e->in_map = false;
		g->nmapped--;
	}
	if (mark && !e->marked) {
		if ((rc = fanmon_mark(g->fan, fd)) < 0)
			watch_failed(e, "the fanotify monitor", rc);
		else if (++g->nmarked)
			e->marked = true;
	} else if (g->fan && !mark && e->marked) {
		fanmon_unmark(g->fan, fd);
		e->marked = false;
		g->nmarked--;
	}
}

static void detach_idle(struct loop_timer *t)
{
	struct guard *g = container_of(t, struct guard, detach);

	if (g->bpf && !g->nmapped && bpfmon_attached(g->bpf)) {
		bpfmon_detach(g->bpf);
		log_debug("guard: nothing guarded; BPF open monitor detached");
	}
}

/*
 * The programs run on every syscall while attached: only while something
 * is guarded. But attaching or detaching a tracepoint patches kernel text
 * on every CPU, costlier than a whole lock cycle, so a table that empties
 * and fills again at once (a VM restarting, libvirtd's release then
 * acquire) keeps them attached for DETACH_GRACE_MS.
 */
static void bpf_attach_update(struct guard *g)
{
	int rc;

	if (!g->bpf)
		return;
	if (!g->nmapped) {
		if (bpfmon_attached(g->bpf) && !g->detach.armed)
			loop_timer_arm(g->loop, &g->detach, DETACH_GRACE_MS, detach_idle);
		return;
	}
	loop_timer_disarm(g->loop, &g->detach);
	if (bpfmon_attached(g->bpf))
		return;
	if ((rc = bpfmon_attach(g->bpf)) < 0)
		log_warn("guard: cannot attach the BPF open monitor (%s): %s; %s",
			 bpfmon_hook(g->bpf), strerror(-rc),
			 g->fan ? "fanotify alone watches" : "opens go unwatched");
	else
		log_debug("guard: BPF open monitor attached (%s)", bpfmon_hook(g->bpf));
}

static struct guard_entry *table_add(struct guard *g, const struct resource *res,
				     const struct watched *w)
{
	struct guard_entry *e = entry_find(g, w->dev, w->ino);
	struct guard_res *r;

	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->dev = w->dev;
		e->ino = w->ino;
		entry_key(e->key, e->dev, e->ino);
		hashmap_put(&g->table, e->key, e);
	}
	e->res = xrealloc(e->res, (e->nres + 1) * sizeof(*e->res));
	r = &e->res[e->nres++];
	memset(r, 0, sizeof(*r));
	r->id = res->id;
	r->name = res->name;
	r->path = w->path;
	r->shared = res->flags & LS_SHARED;
	r->posix = res->posix;
	owners_update(g, r, res);
	entry_update_policy(g, e);
	g->nresources++;
	return e;
}

static void table_remove(struct guard *g, struct guard_entry *e, struct guard_res *r, int fd)
{
	owners_free(r);
	*r = e->res[--e->nres];
	g->nresources--;
	entry_update_policy(g, e);
	entry_watch(g, e, fd);
	if (e->nres)
		return;
	hashmap_remove(&g->table, e->key);
	entry_free(e);
}

void guard_client_owner(struct guard *g, const struct client *c, bool registered)
{
	bool changed;
	int rc;

	/* Only a process that ran when it registered can be recognised. */
	if (!c->owner_id || !c->owner_name || !c->ident.start || c->ident.start == OWNERID_GONE)
		return;
	pthread_mutex_lock(&g->lock);
	changed = registered ?
		  guard_vms_add(&g->vms, c->owner_pid, c->ident.start, c->owner_name,
				c->owner_uuid) :
		  guard_vms_del(&g->vms, c->owner_pid, c->ident.start);
	pthread_mutex_unlock(&g->lock);
	/* The kernel side too, where it decides (lsm/file_open) and records. */
	if (changed && g->bpf && (rc = bpfmon_set_vm(g->bpf, c->owner_pid, c->ident.start,
						     registered)) < 0)
		log_warn("guard: BPF map of VMs: cannot %s pid %d: %s",
			 registered ? "add" : "remove", c->owner_pid, strerror(-rc));
}

static void vm_to_map(pid_t pid, uint64_t start, void *arg)
{
	struct guard *g = arg;
	int rc;

	if ((rc = bpfmon_set_vm(g->bpf, pid, start, true)) < 0)
		log_warn("guard: BPF map of VMs: cannot add pid %d: %s", pid, strerror(-rc));
}

static void image_key(char key[16], unsigned int id)
{
	snprintf(key, 16, "%u", id);
}

/*
 * In a lockspace with a directory, a lock file named by lockd.so's hash of
 * a disk path under guard_image_dirs stands for that image: watch the
 * image instead. Not one that carries an adopted POSIX lock: our open and
 * close of it would drop that lock (its own resource watches it anyway).
 */
static void image_map(struct guard *g, struct lockspace *ls, const struct resource *res)
{
	const char *path;
	struct guard_image *img;
	struct stat st;
	int fd;

	if (!lockspace_dir(ls) || !(path = imagemap_lookup(g->images, res->name)))
		return;
	/* O_PATH: no open event for the monitors to wait on, and closing it
	 * drops no POSIX lock the daemon adopted on the same inode. */
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		safe_close(fd);
		return;
	}
	img = xcalloc(1, sizeof(*img));
	image_key(img->key, res->id);
	img->path = xstrdup(path);
	img->fd = fd;
	img->dev = st.st_dev;
	img->ino = st.st_ino;
	hashmap_put(&g->mapped, img->key, img);
	log_debug("guard: lock file %s stands for the image %s", res->path, path);
}

static void image_free(struct guard_image *img)
{
	close(img->fd);
	free(img->path);
	free(img);
}

static struct watched watched(struct guard *g, const struct resource *res)
{
	struct watched w = { res->dev, res->ino, res->fd, res->path };
	struct guard_image *img;
	char key[16];

	image_key(key, res->id);
	if (g->mapped.count && (img = hashmap_get(&g->mapped, key)))
		w = (struct watched){ img->dev, img->ino, img->fd, img->path };
	return w;
}

void guard_resource(struct guard *g, struct lockspace *ls, struct resource *res,
		    enum lockspace_event ev)
{
	struct guard_entry *e;
	struct guard_res *r;
	struct watched w;
	char key[16];

	if (ev == LS_ADDED)
		image_map(g, ls, res);
	w = watched(g, res);
	pthread_mutex_lock(&g->lock);
	if (ev == LS_ADDED) {
		entry_watch(g, table_add(g, res, &w), w.fd);
	} else if ((e = entry_find(g, w.dev, w.ino)) && (r = entry_res(e, res->id))) {
		if (ev == LS_OWNERS) {
			owners_update(g, r, res);
			entry_watch(g, e, w.fd);
		} else {
			table_remove(g, e, r, w.fd);
		}
	}
	pthread_mutex_unlock(&g->lock);
	if (ev == LS_REMOVED && g->mapped.count) {
		struct guard_image *img;

		image_key(key, res->id);
		if ((img = hashmap_remove(&g->mapped, key)))
			image_free(img);
	}
	bpf_attach_update(g);
}

/* Feed the monitors the whole table again (new monitors after a re-exec). */
static int resync_one(struct lockspace *ls, struct resource *res, void *arg)
{
	struct guard *g = arg;
	struct watched w = watched(g, res);
	struct guard_entry *e = entry_find(g, w.dev, w.ino);

	if (e)
		entry_watch(g, e, w.fd);
	return 0;
}

static bool in_table(void *data, dev_t dev, ino_t ino)
{
	return entry_find(data, dev, ino) != NULL;
}

/*
 * After a re-exec the pinned map and the inherited fanotify group hold
 * what the old image put there. When the rules that decide it are the
 * same (guard_state_save recorded them) and the counts agree, take it as
 * it is rather than redo ten thousand map updates and marks in the pause.
 */
static bool adopt_watching(struct guard *g)
{
	struct hashmap_entry *he, *nx;
	size_t i, mapped = 0, marked = 0;
	bool map, mark;

	if (!g->saved_valid)
		return false;
	hashmap_foreach(&g->table, he, nx, i) {
		entry_wants(g, he->value, &map, &mark);
		mapped += map;
		marked += mark;
	}
	if (mapped != g->saved_mapped || marked != g->saved_marked)
		return false;
	hashmap_foreach(&g->table, he, nx, i) {
		struct guard_entry *e = he->value;

		entry_wants(g, e, &e->in_map, &e->marked);
	}
	g->nmapped = mapped;
	g->nmarked = marked;
	return true;
}

static void resync(struct guard *g)
{
	struct hashmap_entry *he, *nx;
	size_t i;

	pthread_mutex_lock(&g->lock);
	g->nmapped = g->nmarked = 0;
	hashmap_foreach(&g->table, he, nx, i) {
		struct guard_entry *e = he->value;

		e->in_map = e->marked = false;
	}
	if (g->bpf)
		bpfmon_prune(g->bpf, in_table, g);
	lockspaces_foreach_resource(g->spaces, resync_one, g);
	pthread_mutex_unlock(&g->lock);
	bpf_attach_update(g);
}

/* ---- sightings ---- */

/*
 * Not to report: an inode no longer guarded, the daemon's open, an
 * owner's (that process, not a later one given its pid), and the open of
 * a process registered as a VM where no one holds the resource exclusive:
 * a prospective owner, which joins the shared lease or whose acquire
 * fails. Else *vm is the VM the opener is registered as, if any.
 */
static bool exempt(const struct guard *g, const struct guard_entry *e, pid_t pid,
		   const struct guard_vm **vm)
{
	bool owner_pid = false, exclusive = false;
	uint64_t start = 0;

	*vm = NULL;
	if (!e || e->policy == GUARD_OFF || pid == getpid())
		return true;
	for (size_t i = 0; i < e->nres; i++) {
		exclusive |= !e->res[i].shared;
		for (size_t j = 0; j < e->res[i].nowners; j++)
			owner_pid |= e->res[i].owners[j].pid == pid;
	}
	/* Its start time only when it can matter: one /proc read. */
	if (!owner_pid && guard_vms_empty(&g->vms))
		return false;
	if (procinfo_start(pid, &start) < 0)
		start = 0;
	for (size_t i = 0; owner_pid && i < e->nres; i++)
		for (size_t j = 0; j < e->res[i].nowners; j++)
			if (ownerid_match(e->res[i].owners[j].pid, e->res[i].owners[j].start,
					  pid, start))
				return true;
	*vm = start ? guard_vms_find(&g->vms, pid, start) : NULL;
	return *vm && !exclusive;
}

/* The resource as o's record names it: as it is now. */
static void snapshot(const struct guard_entry *e, struct guard_open *o)
{
	const struct guard_owner *vm = NULL;

	o->resource = xstrdup(e->res[0].name);
	o->resource_path = xstrdup(e->res[0].path);
	o->policy = e->policy;
	for (size_t i = 0; i < e->nres; i++) {
		const struct guard_res *r = &e->res[i];

		o->exclusive |= !r->shared;
		o->owners = xrealloc(o->owners, (o->nowners + r->nowners + 1) * sizeof(pid_t));
		for (size_t j = 0; j < r->nowners; j++) {
			o->owners[o->nowners++] = r->owners[j].pid;
			if (!vm && r->owners[j].vm_name)
				vm = &r->owners[j];
		}
	}
	if (vm) {
		o->vm_name = xstrdup(vm->vm_name);
		memcpy(o->vm_uuid, vm->vm_uuid, LOCK_UUID_LEN);
	}
}

/*
 * Is o, by process pid, an open to report? If so, fill in the resource
 * it hit. Either thread.
 */
static bool check(struct guard *g, struct guard_open *o, pid_t pid)
{
	const struct guard_vm *vm;
	struct guard_entry *e;
	bool report;

	pthread_mutex_lock(&g->lock);
	e = entry_find(g, o->dev, o->ino);
	report = !exempt(g, e, pid, &vm);
	if (report && !o->resource)
		snapshot(e, o);
	if (report && vm && !o->opener_vm_name) {
		o->opener_vm_name = xstrdup(vm->name);
		memcpy(o->opener_vm_uuid, vm->uuid, LOCK_UUID_LEN);
	}
	pthread_mutex_unlock(&g->lock);
	return report;
}

static void opener_of(const struct guard_open *o, struct guard_opener *op)
{
	op->uid = o->uid;
	op->cgroup = o->cgroup;
	op->exe_dev = o->exe_dev;
	op->exe_ino = o->exe_ino;
	op->exe_known = o->exe_known;
}

/* Written out: one record, counted. */
static void emit(void *data, struct guard_open *o)
{
	struct guard *g = data;
	enum guard_access a = guard_access_of(o->flags, o->flags_known);
	enum guard_class c = guard_class_of(&g->rules, o->allowed, a);
	enum severity sev = c == CLASS_MANAGEMENT ? SEV_INFO : guard_severity_of(a, o->exclusive);
	struct json_object *rec;

	if (o->denied)
		g->n.denied[sev]++;
	else
		g->n.opens[c][sev]++;
	rec = guard_open_record(o, o->denied ? "denied" : guard_class_event(c), sev);
	if (repeats_admit(g->repeats, rec))
		g->report(g->report_arg, rec);
	else
		json_object_put(rec);
	guard_open_free(o);
}

static void report_repeated(void *data, struct json_object *rec)
{
	struct guard *g = data;

	g->report(g->report_arg, rec);
}

/*
 * truncate(2) seen at its exit (tp_btf/sys_exit): the program cannot reach
 * the inode, so look the caller's path up from its cwd. Its path may have
 * changed since, so this names a file for the record, never for a
 * decision; -ENOENT when it is not a guarded one.
 */
static int truncated_inode(struct guard *g, struct guard_open *o)
{
	char *path;
	struct stat st;
	int rc;

	if (!o->path)
		return -ENOENT;
	path = o->path[0] == '/' ? xasprintf("/proc/%d/root%s", o->tgid, o->path) :
				   xasprintf("/proc/%d/cwd/%s", o->tgid, o->path);
	rc = stat(path, &st) < 0 ? -errno : 0;
	free(path);
	if (rc < 0)
		return rc;
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	return entry_find(g, o->dev, o->ino) ? 0 : -ENOENT;
}

static void bpf_event(void *data, const struct ow_event *ev)
{
	struct guard *g = data;
	struct guard_open *o = xcalloc(1, sizeof(*o));
	struct guard_opener op;
	dev_t dev;
	ino_t ino;

	o->time_ns = now_real_ns() - (now_boot_ns() - ev->boot_ns);
	o->sources = SRC_BPF;
	o->hook = bpfmon_hook_name(ev->hook);
	o->truncate = ev->ev_flags & OW_EV_TRUNCATE;
	o->denied = ev->ev_flags & OW_EV_DENIED;
	o->tid = ev->tid;
	o->tgid = ev->tgid;
	o->ppid = ev->ppid;
	o->uid = ev->uid;
	o->gid = ev->gid;
	snprintf(o->comm, sizeof(o->comm), "%.*s", OW_COMM_LEN, ev->comm);
	o->exe_dev = ow_udev(ev->exe_dev);
	o->exe_ino = ev->exe_ino;
	o->exe_known = ev->ev_flags & OW_EV_EXE_KNOWN;
	o->cgroup_id = ev->cgroup_id;
	if (ev->path[0])
		o->path = xstrndup(ev->path, OW_PATH_LEN);
	/* Outside an open syscall these are the file's flags, which lost
	 * O_TRUNC; the access mode is still right. A truncate writes. */
	o->flags = o->truncate ? O_WRONLY | O_TRUNC : ev->open_flags;
	o->flags_known = true;
	o->dev = ow_udev(ev->dev);
	o->ino = ev->ino;
	if ((ev->ev_flags & OW_EV_BY_PATH) && truncated_inode(g, o) < 0) {
		guard_open_free(o);
		return;
	}
	if (!check(g, o, o->tgid)) {
		guard_open_free(o);
		return;
	}
	/* The executable's path, if the process there now still runs the
	 * inode the kernel saw: not another one under a reused pid. */
	if (o->exe_known && procinfo_exe(o->tgid, &o->exe, &dev, &ino) == 0 &&
	    (dev != o->exe_dev || ino != o->exe_ino)) {
		free(o->exe);
		o->exe = NULL;
	}
	procinfo_cgroup(o->tgid, &o->cgroup);
	opener_of(o, &op);
	o->allowed = guard_rules_allowed(&g->rules, &op);
	/* fanotify sees no truncate, nor an open lsm/file_open refused. */
	guard_merge_add(&g->merge, o, g->fan && !o->truncate && !o->denied &&
			entry_find(g, o->dev, o->ino)->marked);
}

/* In the fanotify thread. tid 0: an opener outside our pid namespace. */
static bool fan_decide(void *data, struct guard_open *o, uint64_t deadline)
{
	struct guard *g = data;
	struct guard_opener op;
	struct procinfo pi;
	int rc;

	/* The owner's main thread (whose tid is its pid; QEMU opening its
	 * disk) passes before any /proc read. */
	if (o->tid && !check(g, o, o->tid))
		return false;
	if (o->tid) {
		/* Gone: it was killed while it waited, so there is no open. */
		if (procinfo_read(o->tid, &pi) < 0)
			return false;
		o->tgid = pi.tgid;
		o->ppid = pi.ppid;
		o->uid = pi.uid;
		o->gid = pi.gid;
		memcpy(o->comm, pi.comm, sizeof(o->comm));
	}
	if (!check(g, o, o->tgid))
		return false;
	if (now_mono_ns() > deadline) {
		o->timed_out = true;
		o->denied = !g->rules.timeout_allow;
		return true;
	}
	if (o->tid) {
		rc = procinfo_open_flags(o->tid, deadline, &o->flags);
		o->flags_known = rc > 0;
		o->open_syscall = rc >= 0;
		o->exe_known = procinfo_exe(o->tgid, &o->exe, &o->exe_dev, &o->exe_ino) == 0;
		procinfo_cgroup(o->tgid, &o->cgroup);
		/* All of that was read while it waited; unless it was killed
		 * and its tid reused meanwhile, which this tells. */
		if (!procinfo_same(&pi))
			return false;
	}
	opener_of(o, &op);
	o->allowed = guard_rules_allowed(&g->rules, &op);
	o->denied = !o->allowed &&
		    guard_policy_denies(o->policy, guard_access_of(o->flags, o->flags_known));
	return true;
}

/* Could the BPF monitor see the open fanotify saw as o? */
static bool bpf_sees(struct guard *g, const struct guard_open *o)
{
	struct guard_entry *e = entry_find(g, o->dev, o->ino);
	const char *hook;

	if (!g->bpf || !bpfmon_attached(g->bpf) || !e || !e->in_map)
		return false;
	hook = bpfmon_hook(g->bpf);
	/* lsm/file_open runs before fanotify's permission check; the others
	 * see only opens that succeeded, sys_exit only from open syscalls. */
	if (!strcmp(hook, "lsm/file_open"))
		return true;
	return !o->denied && (strcmp(hook, "tp_btf/sys_exit") || o->open_syscall);
}

static void fan_report(void *data, struct guard_open *o)
{
	struct guard *g = data;

	guard_merge_add(&g->merge, o, bpf_sees(g, o));
}

/* Does the config refuse anything, globally or under some prefix? */
static bool rules_deny(const struct guard_rules *r)
{
	bool deny = r->policy >= GUARD_DENY_WRITE;

	for (size_t i = 0; i < r->nprefixes; i++)
		deny |= r->prefixes[i].policy >= GUARD_DENY_WRITE;
	return deny;
}

/* What refuses the opens the policy denies: NULL when nothing can. */
static const char *enforced_by(const struct guard *g)
{
	bool lsm = g->bpf && bpfmon_enforces(g->bpf);

	if (lsm && g->fan)
		return "lsm/file_open and fanotify";
	return lsm ? "lsm/file_open" : g->fan ? "fanotify" : NULL;
}

/* ---- status ---- */

static struct json_object *by_severity(const uint64_t *n)
{
	struct json_object *o = json_object_new_object();

	for (int s = SEV_LOW; s < SEV_COUNT; s++)
		json_object_object_add(o, severity_name(s), json_object_new_uint64(n[s]));
	return o;
}

static bool wanted(struct guard *g, const char *monitor)
{
	return !strcmp(monitor, "bpf") ? g->want_bpf : g->want_fan;
}

/* Anything to watch: a policy not off, globally or for some prefix. */
static bool active(struct guard *g)
{
	return g->rules.policy != GUARD_OFF || g->rules.nprefixes;
}

static struct json_object *monitor_status(struct guard *g, const char *monitor, bool present,
					  const char *error, const char *state)
{
	struct json_object *o = json_object_new_object();

	if (!wanted(g, monitor))
		state = "disabled";
	else if (!active(g))
		state = "off";
	else if (!g->started)
		state = "starting";
	else if (!present)
		state = "unavailable";
	json_object_object_add(o, "state", json_object_new_string(state));
	if (error)
		json_object_object_add(o, "error", json_object_new_string(error));
	return o;
}

struct json_object *guard_status(struct guard *g)
{
	static const char *const syscalls[] = { "open", "openat", "openat2", "creat",
						"open_by_handle_at" };
	struct json_object *st = json_object_new_object(), *c = json_object_new_object();
	struct json_object *mon = json_object_new_object(), *bpf, *fan, *hooks;

	bpf = monitor_status(g, "bpf", g->bpf, g->bpf_error,
			     g->bpf && bpfmon_attached(g->bpf) ? "attached" : "detached");
	if (g->bpf) {
		const char *hook = bpfmon_hook(g->bpf);

		hooks = json_object_new_array();
		json_object_array_add(hooks, json_object_new_string(hook));
		json_object_object_add(bpf, "hooks", hooks);
		if (!strcmp(hook, "tp_btf/sys_exit")) {
			hooks = json_object_new_array();
			for (size_t i = 0; i < ARRAY_SIZE(syscalls); i++)
				json_object_array_add(hooks, json_object_new_string(syscalls[i]));
			json_object_object_add(bpf, "syscalls", hooks);
		}
		json_object_object_add(bpf, "inodes", json_object_new_uint64(g->nmapped));
		json_object_object_add(bpf, "programs", json_object_new_int(bpfmon_nprogs(g->bpf)));
	}
	fan = monitor_status(g, "fanotify", g->fan, g->fan_error, "active");
	if (g->fan) {
		hooks = json_object_new_array();
		json_object_array_add(hooks, json_object_new_string("FAN_OPEN_PERM"));
		json_object_object_add(fan, "hooks", hooks);
		json_object_object_add(fan, "marks", json_object_new_uint64(g->nmarked));
		json_object_object_add(fan, "kernel_audit",
				       json_object_new_boolean(fanmon_kernel_audit(g->fan)));
	}
	json_object_object_add(mon, "bpf", bpf);
	json_object_object_add(mon, "fanotify", fan);

	json_object_object_add(st, "policy",
			       json_object_new_string(guard_policy_name(g->rules.policy)));
	/* Who refuses what the policy denies; null with a deny policy: nobody. */
	if (rules_deny(&g->rules))
		json_object_object_add(st, "enforced_by", enforced_by(g) ?
				       json_object_new_string(enforced_by(g)) : NULL);
	json_object_object_add(st, "guarded_inodes", json_object_new_uint64(g->table.count));
	json_object_object_add(st, "guarded_resources", json_object_new_uint64(g->nresources));
	json_object_object_add(st, "monitors", mon);
	json_object_object_add(c, "violations", by_severity(g->n.opens[CLASS_VIOLATION]));
	json_object_object_add(c, "warnings", by_severity(g->n.opens[CLASS_WARNING]));
	json_object_object_add(c, "management",
			       json_object_new_uint64(g->n.opens[CLASS_MANAGEMENT][SEV_INFO]));
	json_object_object_add(c, "denials", by_severity(g->n.denied));
	json_object_object_add(c, "lost_events",
			       json_object_new_uint64(g->bpf ? bpfmon_lost(g->bpf) : 0));
	json_object_object_add(c, "fanotify_timeouts",
			       json_object_new_uint64(g->fan ? fanmon_timeouts(g->fan) : 0));
	json_object_object_add(c, "merged", json_object_new_uint64(g->merge.merged));
	json_object_object_add(st, "counters", c);
	return st;
}

/* ---- life ---- */

static struct bpfmon_params bpf_params(struct guard *g)
{
	return (struct bpfmon_params){
		.loop = g->loop,
		.probe_dir = g->rundir,
		.event = bpf_event,
		.data = g,
	};
}

static struct fanmon_params fan_params(struct guard *g)
{
	return (struct fanmon_params){
		.loop = g->loop,
		.decide = fan_decide,
		.report = fan_report,
		.data = g,
		.timeout_ms = g->rules.answer_timeout_ms,
	};
}

/* One line on what watches, and, if anything the config wants is
 * missing, one warning naming what failed and what remains; another if
 * a deny policy is configured that nothing loaded can enforce. */
static void say_monitors(struct guard *g)
{
	char *what = xasprintf("%s%s%s%s", g->bpf ? "the BPF open monitor on " : "",
			       g->bpf ? bpfmon_hook(g->bpf) : "", g->bpf && g->fan ? " and " : "",
			       g->fan ? "the fanotify permission monitor" : "");
	const char *policy = guard_policy_name(g->rules.policy);

	if (g->bpf_error || g->fan_error)
		log_warn("guard: %s%s%s%s%s; %s%s%s", g->bpf_error ? "no BPF open monitor: " : "",
			 g->bpf_error ? g->bpf_error : "", g->bpf_error && g->fan_error ? "; " : "",
			 g->fan_error ? "no fanotify monitor: " : "", g->fan_error ? g->fan_error : "",
			 *what ? what : "opens of locked images go unwatched; locks are served as ever",
			 *what ? " watches opens of locked images, policy " : "",
			 *what ? (g->fan ? policy : "audit only: nothing can refuse an open") : "");
	else if (*what)
		log_info("guard: %s watches opens of locked images (policy %s; BPF attached only "
			 "while something is guarded)", what, policy);
	else
		log_info("guard: %s; opens of locked images go unwatched",
			 active(g) ? "no monitor configured (guard_monitors)" : "guard_policy is off");
	if (rules_deny(&g->rules) && !enforced_by(g))
		log_warn("guard: the deny policy is NOT enforced: %s%s%s; opens and truncates "
			 "of locked images are %s, never refused (enforcing needs the BPF LSM "
			 "hook lsm/file_open or the fanotify monitor)",
			 g->bpf ? "the BPF open monitor on " : "no BPF open monitor",
			 g->bpf ? bpfmon_hook(g->bpf) : "", g->bpf ? " only records and no "
			 "fanotify monitor runs" : " and no fanotify monitor runs",
			 g->bpf ? "recorded" : "not even recorded");
	free(what);
}

/* Per daemon instance: its mount namespace and pid file, both kept
 * across a re-exec, never shared by two running daemons. */
static char *pin_dir_for(const char *pidfile)
{
	uint64_t h = 0xcbf29ce484222325ull;
	struct stat ns = { 0 };

	stat("/proc/self/ns/mnt", &ns);
	for (const char *s = pidfile; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return xasprintf("%s/%llu-%016llx", PIN_ROOT, (unsigned long long)ns.st_ino,
			 (unsigned long long)h);
}

/* What decides which inodes are in the map and marked: the policy, its
 * per-path overrides and the monitors. */
static void fp_add(char **fp, const char *sep, const char *s)
{
	char *next = xasprintf("%s%s%s", *fp, sep, s);

	free(*fp);
	*fp = next;
}

static char *rules_fingerprint(const struct guard_settings *s)
{
	char *fp = xstrdup(s->policy);

	for (size_t i = 0; i < s->policy_paths.n; i++)
		fp_add(&fp, "|", s->policy_paths.v[i]);
	for (size_t i = 0; i < s->monitors.n; i++)
		fp_add(&fp, "/", s->monitors.v[i]);
	return fp;
}

/* The monitors the config wants and restore did not bring. */
static void start_monitors(struct guard *g)
{
	struct bpfmon_params bp = bpf_params(g);
	struct fanmon_params fp = fan_params(g);
	int rc;

	if (active(g) && !g->bpf && wanted(g, "bpf"))
		bpfmon_new(&bp, &g->bpf, &g->bpf_error);
	if (active(g) && !g->fan && wanted(g, "fanotify"))
		fanmon_new(&fp, &g->fan, &g->fan_error);
	if (g->fan && (rc = procinfo_stacks_readable()) < 0)
		log_warn("guard: cannot read kernel stacks (/proc/PID/stack: %s): the fanotify "
			 "monitor cannot tell any open's flags, so deny-write refuses every open "
			 "by others", strerror(-rc));
	g->started = true;
	say_monitors(g);
	allow_update(g);
	/* Registrations before the monitor (a restore) or its pins (an older
	 * image's, or none) are in the registry: the map gets them all. */
	if (g->bpf)
		guard_vms_foreach(&g->vms, vm_to_map, g);
	if (adopt_watching(g))
		bpf_attach_update(g);
	else
		resync(g);
}

/*
 * The first turn of the loop, after any restore: start what is missing.
 * Pins still there were not restored: a crashed re-exec's, still
 * attached for nobody.
 */
static void start_late(struct loop_timer *t)
{
	struct guard *g = container_of(t, struct guard, start);

	if (g->started)
		return;
	bpfmon_unpin(g->pin_dir);
	start_monitors(g);
}

/*
 * The monitors start at the first turn of the loop, not here: a re-exec
 * restores the old image's instead, and two at once would report one
 * open twice.
 */
int guard_new(const struct guard_params *p, struct guard **out)
{
	const struct guard_settings *s = p->settings;
	struct guard *g = xcalloc(1, sizeof(*g));

	g->loop = p->loop;
	g->rundir = p->rundir;
	g->clients = p->clients;
	g->spaces = p->spaces;
	g->audit = p->audit;
	g->report = p->report;
	g->report_arg = p->arg;
	pthread_mutex_init(&g->lock, NULL);
	hashmap_init(&g->table);
	guard_vms_init(&g->vms);
	hashmap_init(&g->mapped);
	g->images = imagemap_new(&s->image_dirs);
	guard_rules_init(&g->rules, s);
	g->want_bpf = strlist_contains(&s->monitors, "bpf");
	g->want_fan = strlist_contains(&s->monitors, "fanotify");
	g->rules_fp = rules_fingerprint(s);
	g->merge.loop = p->loop;
	g->merge.emit = emit;
	g->merge.data = g;
	g->repeats = repeats_new(p->loop, s->repeat_window * 1000, report_repeated, g);
	g->pin_dir = pin_dir_for(p->pidfile);
	loop_timer_arm(p->loop, &g->start, 0, start_late);
	*out = g;
	return 0;
}

void guard_free(struct guard *g)
{
	struct hashmap_entry *he, *nx;
	size_t i;

	if (!g)
		return;
	loop_timer_disarm(g->loop, &g->start);
	loop_timer_disarm(g->loop, &g->after_save);
	loop_timer_disarm(g->loop, &g->detach);
	fanmon_free(g->fan);
	if (g->bpf)
		bpfmon_poll(g->bpf);
	bpfmon_free(g->bpf);
	guard_merge_flush(&g->merge);
	repeats_free(g->repeats);
	bpfmon_unpin(g->pin_dir);
	hashmap_foreach(&g->table, he, nx, i)
		entry_free(he->value);
	hashmap_free(&g->table);
	guard_vms_fini(&g->vms);
	hashmap_foreach(&g->mapped, he, nx, i)
		image_free(he->value);
	hashmap_free(&g->mapped);
	imagemap_free(g->images);
	guard_rules_fini(&g->rules);
	pthread_mutex_destroy(&g->lock);
	free(g->bpf_error);
	free(g->fan_error);
	free(g->pin_dir);
	free(g->rules_fp);
	free(g);
}

/* ---- re-exec ---- */

/* Still here at the next turn of the loop: the exec failed. */
static void exec_failed(struct loop_timer *t)
{
	struct guard *g = container_of(t, struct guard, after_save);

	if (g->fan)
		fanmon_resume(g->fan);
	bpfmon_unpin(g->pin_dir);
	log_info("guard: monitors resumed after the failed re-exec");
}

int guard_state_save(struct guard *g, struct json_object *obj)
{
	struct json_object *o;
	int rc;

	/* Every permission event read is answered, and every sighting in
	 * hand written out, before the exec. */
	if (g->fan && (rc = fanmon_save(g->fan, o = json_object_new_object())) < 0) {
		json_object_put(o);
		log_error("guard: cannot hand the fanotify group to the next image: %s",
			  strerror(-rc));
		return rc;
	} else if (g->fan) {
		json_object_object_add(obj, "fanotify", o);
	}
	if (g->bpf)
		bpfmon_poll(g->bpf);
	guard_merge_flush(&g->merge);
	repeats_flush(g->repeats);
	if (g->audit && audit_sync(g->audit, SAVE_SYNC_MS) < 0)
		log_warn("guard: re-exec: the last open records could not be written out first");
	if (g->bpf && (rc = bpfmon_save(g->bpf, g->pin_dir, o = json_object_new_object())) < 0) {
		json_object_put(o);
		log_warn("guard: cannot pin the BPF open monitor in %s: %s; the next image "
			 "starts a new one, opens meanwhile go unseen by it", g->pin_dir,
			 strerror(-rc));
	} else if (g->bpf) {
		json_object_object_add(obj, "bpf", o);
	}
	json_object_object_add(obj, "rules", json_object_new_string_len(g->rules_fp, strlen(g->rules_fp)));
	json_object_object_add(obj, "mapped", json_object_new_uint64(g->bpf ? g->nmapped : 0));
	json_object_object_add(obj, "marked", json_object_new_uint64(g->fan ? g->nmarked : 0));
	loop_timer_arm(g->loop, &g->after_save, 0, exec_failed);
	return 0;
}

int guard_state_restore(struct guard *g, struct json_object *obj)
{
	struct bpfmon_params bp = bpf_params(g);
	struct fanmon_params fp = fan_params(g);
	struct json_object *o;
	char *why = NULL;

	if (json_object_object_get_ex(obj, "fanotify", &o) &&
	    fanmon_restore(&fp, o, &g->fan, &why) < 0) {
		log_warn("guard: cannot take over the fanotify group: %s; starting a new one", why);
		free(why);
		why = NULL;
	}
	if (json_object_object_get_ex(obj, "bpf", &o) && bpfmon_restore(&bp, o, &g->bpf, &why) < 0) {
		log_warn("guard: cannot take over the pinned BPF open monitor: %s; starting a new one",
			 why);
		free(why);
	}
	/* Only monitors taken over hold anything: a new one starts empty. */
	g->saved_valid = json_object_object_get_ex(obj, "rules", &o) &&
			 !strcmp(json_object_get_string(o), g->rules_fp);
	g->saved_mapped = json_object_object_get_ex(obj, "mapped", &o) && g->bpf &&
			  json_object_object_get_ex(obj, "bpf", NULL) ? json_object_get_uint64(o) : 0;
	g->saved_marked = json_object_object_get_ex(obj, "marked", &o) && g->fan &&
			  json_object_object_get_ex(obj, "fanotify", NULL) ? json_object_get_uint64(o) : 0;
	start_monitors(g);
	return 0;
}

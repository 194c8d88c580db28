// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <json-c/json.h>

#include "hashmap.h"
#include "leasecheck.h"
#include "log.h"
#include "timefmt.h"
#include "util.h"

/* Filesystems whose locks live elsewhere, by statfs f_type; the local ones
 * are here for tests and for operators who want every lock probed. */
static const struct {
	const char *name;
	unsigned long magic;
} fs_types[] = {
	{ "nfs",	0x6969 },
	{ "cifs",	0xff534d42 },
	{ "smb2",	0xfe534d42 },
	{ "gfs2",	0x01161970 },
	{ "ocfs2",	0x7461636f },
	{ "ceph",	0x00c36400 },
	{ "fuse",	0x65735546 },
	{ "tmpfs",	0x01021994 },
	{ "ext4",	0xef53 },
	{ "xfs",	0x58465342 },
	{ "btrfs",	0x9123683e },
};

static const char *const action_names[] = {
	[LEASE_LOST_KILL] = "kill",
	[LEASE_LOST_PAUSE] = "pause",
	[LEASE_LOST_ALERT] = "alert",
};

static int action_parse(const char *s, enum lease_lost_action *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(action_names); i++) {
		if (!strcmp(s, action_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *leasecheck_action_check(const char *s)
{
	enum lease_lost_action a;

	return action_parse(s, &a) < 0 ? "must be \"kill\", \"pause\" or \"alert\"" : NULL;
}

/* The index of a filesystem in fs_types, or -1. */
static int fs_index(unsigned long magic)
{
	for (size_t i = 0; i < ARRAY_SIZE(fs_types); i++)
		if (fs_types[i].magic == magic)
			return i;
	return -1;
}

static bool fs_known(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(fs_types); i++)
		if (!strcmp(fs_types[i].name, name))
			return true;
	return false;
}

const char *leasecheck_fs_check(char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!fs_known(names[i]))
			return "entries must be among nfs, cifs, smb2, gfs2, ocfs2, ceph, fuse, "
			       "tmpfs, ext4, xfs, btrfs";
	return NULL;
}

/* One probed resource. The fd is the resource's own: the daemon waits for a
 * probe in flight before the resource goes (and its fd with it). */
struct lease_entry {
	char key[16];		/* the resource id, as the map's key */
	unsigned int id;
	int fd;
	bool posix;		/* process-owned: F_GETLK, not F_OFD_GETLK */
	short type;		/* F_RDLCK or F_WRLCK */
	const char *fs;
	struct lockspace *ls;
	char *name;
	bool probing;		/* the worker uses fd now */
	bool lost;		/* found lost: not probed again */
	char *lost_why;		/* fenced and reported: what, when, what was done */
	uint64_t last_ok_ns;	/* CLOCK_MONOTONIC of the last good probe */
};

/* What the worker found, for the event loop to act on. */
struct lost_note {
	unsigned int id;
	const char *probe;	/* "read" or "lock test" */
	int err;		/* errno of the probe; 0 for a conflicting lock */
	pid_t holder;		/* F_GETLK's l_pid for a conflict */
	uint64_t since_ok_ms;
	struct lost_note *next;
};

struct leasecheck {
	struct loop *loop;
	struct client_table *clients;
	void (*report)(void *data, struct json_object *rec);
	void *data;
	enum lease_lost_action action;
	unsigned int interval_s;
	uint32_t fs_probed;	/* bits of fs_types */
	pthread_mutex_t mu;
	pthread_cond_t wake;	/* the worker sleeps on it between rounds */
	pthread_cond_t done;	/* a probe finished */
	struct hashmap entries;
	struct hashmap marks;	/* lost_why of the image before, by resource id */
	struct lost_note *notes;
	bool stop;
	bool started;
	pthread_t worker;
	struct loop_source ev;	/* eventfd: notes are waiting */
};

static void entry_free(struct lease_entry *e)
{
	if (!e)
		return;
	free(e->name);
	free(e->lost_why);
	free(e);
}

/* A lost lock's mark carried over a re-exec, until its resource is back. */
struct lost_mark {
	char key[16];
	char *why;
};

static void mark_free(struct lost_mark *m)
{
	if (!m)
		return;
	free(m->why);
	free(m);
}

/*
 * Is the lock on e still ours? 0 yes; else the note says why not. Only
 * EIO from the read counts: it is the NFS client's word for a lost lock
 * (and a soft mount's for a server gone too long, when the VM's own I/O
 * fails the same way).
 */
static int probe(const struct lease_entry *e, struct lost_note *n)
{
	struct flock fl = {
		.l_type = e->type,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 1,
	};
	char byte;

	if (pread(e->fd, &byte, 1, 0) < 0 && errno == EIO) {
		n->probe = "read";
		n->err = EIO;
		return -EIO;
	}
	if (fcntl(e->fd, e->posix ? F_GETLK : F_OFD_GETLK, &fl) < 0) {
		if (errno != EIO)
			return 0;
		n->probe = "lock test";
		n->err = EIO;
		return -EIO;
	}
	if (fl.l_type == F_UNLCK)
		return 0;
	n->probe = "lock test";
	n->holder = fl.l_pid;
	return -EBUSY;
}

static void note_post(struct leasecheck *lc, struct lost_note *n)
{
	uint64_t one = 1;

	n->next = lc->notes;
	lc->notes = n;
	if (write(lc->ev.fd, &one, sizeof(one)) < 0)
		log_warn("lease check: cannot wake the event loop: %m");
}

/* One probe of the entry under key, if it is still there; under mu. */
static void probe_one(struct leasecheck *lc, const char *key)
{
	struct lease_entry *e = hashmap_get(&lc->entries, key);
	struct lost_note n = { 0 };
	uint64_t now;
	int rc;

	if (!e || e->lost)
		return;
	e->probing = true;
	pthread_mutex_unlock(&lc->mu);
	rc = probe(e, &n);
	pthread_mutex_lock(&lc->mu);
	e->probing = false;
	pthread_cond_broadcast(&lc->done);
	now = now_mono_ns();
	if (!rc) {
		e->last_ok_ns = now;
		return;
	}
	e->lost = true;
	n.id = e->id;
	n.since_ok_ms = (now - e->last_ok_ns) / 1000000;
	note_post(lc, memcpy(xmalloc(sizeof(n)), &n, sizeof(n)));
}

static void *worker(void *arg)
{
	struct leasecheck *lc = arg;
	struct hashmap_entry *he, *nx;
	struct timespec until;
	char (*keys)[16] = NULL;
	size_t i, n;

	pthread_mutex_lock(&lc->mu);
	while (!lc->stop) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += lc->interval_s;
		while (!lc->stop && pthread_cond_timedwait(&lc->wake, &lc->mu, &until) != ETIMEDOUT)
			;
		/* Keys, not entries: the daemon may drop any entry while a
		 * probe runs unlocked. */
		keys = xrealloc(keys, (lc->entries.count + 1) * sizeof(*keys));
		n = 0;
		hashmap_foreach(&lc->entries, he, nx, i)
			memcpy(keys[n++], he->key, sizeof(*keys));
		for (i = 0; i < n && !lc->stop; i++)
			probe_one(lc, keys[i]);
	}
	pthread_mutex_unlock(&lc->mu);
	free(keys);
	return NULL;
}

/* Signal owner pid through the pidfd taken when it registered (ownerid.h:
 * a process given its pid since is never hit); an owner no live connection
 * names (its lease restored from virtlockd's state) by its pid, as
 * virtlockd would. */
static void signal_owner(struct leasecheck *lc, pid_t pid, int sig, int *err)
{
	const struct ownerid *id = clients_owner_ident(lc->clients, pid);
	int fd;

	if (id && id->pidfd >= 0) {
		*err = syscall(SYS_pidfd_send_signal, id->pidfd, sig, NULL, 0) < 0 ? errno : 0;
		return;
	}
	if ((fd = syscall(SYS_pidfd_open, pid, 0)) < 0) {
		*err = errno;
		return;
	}
	*err = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0 ? errno : 0;
	close(fd);
}

/* Fence every owner of res and say so, once, as loudly as we can. */
static void fence(struct leasecheck *lc, struct lockspace *ls, struct resource *res,
		  struct lease_entry *e, const struct lost_note *n)
{
	static const int sigs[] = { [LEASE_LOST_KILL] = SIGKILL, [LEASE_LOST_PAUSE] = SIGSTOP };
	struct json_object *rec = json_object_new_object(), *owners = json_object_new_array();
	const char *action = action_names[lc->action];
	char ts[TIME_RFC3339_LEN], uuid[UUID_STR_LEN];
	const char *vm = NULL;
	char *why;

	time_format(now_real_ns(), ts);
	for (size_t i = 0; i < res->nowners; i++) {
		struct client *c = clients_owner(lc->clients, res->owners[i]);
		struct json_object *o = json_object_new_object();
		int err = 0;

		json_object_object_add(o, "pid", json_object_new_int(res->owners[i]));
		if (c) {
			uuid_format(c->owner_uuid, uuid);
			json_object_object_add(o, "vm_name", json_object_new_string(c->owner_name));
			json_object_object_add(o, "vm_uuid", json_object_new_string(uuid));
			vm = vm ? vm : c->owner_name;
		}
		if (lc->action != LEASE_LOST_ALERT) {
			signal_owner(lc, res->owners[i], sigs[lc->action], &err);
			json_object_object_add(o, "fenced", json_object_new_boolean(!err));
			if (err) {
				json_object_object_add(o, "error", json_object_new_string(strerror(err)));
				log_error("lease lost on %s: cannot %s pid %d: %s", res->path, action,
					  res->owners[i], strerror(err));
			}
		}
		json_object_array_add(owners, o);
	}
	why = n->err ? xasprintf("lock on %s lost: the %s probe failed: %s", res->path,
				 n->probe, strerror(n->err)) :
		       xasprintf("lock on %s lost: another holder has it (pid %d there)",
				 res->path, n->holder);
	json_object_object_add(rec, "event", json_object_new_string("lease_lost"));
	json_object_object_add(rec, "time", json_object_new_string(ts));
	json_object_object_add(rec, "severity", json_object_new_string("critical"));
	json_object_object_add(rec, "message", json_object_new_string(why));
	json_object_object_add(rec, "resource", json_object_new_string(res->name));
	json_object_object_add(rec, "lockspace",
			       json_object_new_string(lockspace_dir(ls) ? lockspace_dir(ls) : ""));
	json_object_object_add(rec, "path", json_object_new_string(res->path));
	json_object_object_add(rec, "filesystem", json_object_new_string(e->fs));
	json_object_object_add(rec, "mode", json_object_new_string(
		res->flags & LS_SHARED ? "shared" : "exclusive"));
	json_object_object_add(rec, "probe", json_object_new_string(n->probe));
	json_object_object_add(rec, "since_last_good_ms", json_object_new_uint64(n->since_ok_ms));
	json_object_object_add(rec, "action", json_object_new_string(action));
	json_object_object_add(rec, "owners", owners);
	log_error("%s; VM %s; action: %s", why, vm ? vm : "?", action);
	e->lost_why = xasprintf("%s, at %s; action: %s", why, ts, action);
	free(why);
	lc->report(lc->data, rec);
}

static void on_notes(struct loop_source *src, uint32_t events)
{
	struct leasecheck *lc = container_of(src, struct leasecheck, ev);
	struct lost_note *n, *next;
	uint64_t count;

	if (read(src->fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("lease check: reading its eventfd: %m");
	pthread_mutex_lock(&lc->mu);
	n = lc->notes;
	lc->notes = NULL;
	pthread_mutex_unlock(&lc->mu);
	for (; n; n = next) {
		char key[16];
		struct lease_entry *e;
		struct resource *res;

		next = n->next;
		snprintf(key, sizeof(key), "%u", n->id);
		/* Entries change in this thread only: no lock needed to read. */
		e = hashmap_get(&lc->entries, key);
		res = e ? lockspace_find(e->ls, e->name) : NULL;
		if (res && res->id == n->id)
			fence(lc, e->ls, res, e, n);
		free(n);
	}
}

static void entry_add(struct leasecheck *lc, struct lockspace *ls, struct resource *res)
{
	struct lease_entry *e;
	struct lost_mark *m;
	struct statfs sfs;
	int fl, fs;

	if (fstatfs(res->fd, &sfs) < 0) {
		log_warn("lease check: cannot tell the filesystem of %s: %m; not probed", res->path);
		return;
	}
	fs = fs_index(sfs.f_type);
	if (fs < 0 || !(lc->fs_probed & 1u << fs))
		return;
	/* The read must reach the server, where a lost lock fails it, not
	 * the page cache. Reading only: the fd is no one else's. */
	fl = fcntl(res->fd, F_GETFL);
	if (fl >= 0 && !(fl & O_DIRECT) && fcntl(res->fd, F_SETFL, fl | O_DIRECT) < 0)
		log_debug("lease check: %s: no O_DIRECT (%m), the read probe may hit the cache",
			  res->path);
	e = xcalloc(1, sizeof(*e));
	e->id = res->id;
	snprintf(e->key, sizeof(e->key), "%u", res->id);
	e->fd = res->fd;
	e->posix = res->posix;
	e->type = res->flags & LS_SHARED ? F_RDLCK : F_WRLCK;
	e->fs = fs_types[fs].name;
	e->ls = ls;
	e->name = xstrdup(res->name);
	e->last_ok_ns = now_mono_ns();
	/* Lost before a re-exec: fenced then, never probed nor fenced again. */
	if ((m = hashmap_remove(&lc->marks, e->key))) {
		e->lost = true;
		e->lost_why = m->why;
		m->why = NULL;
		mark_free(m);
	}
	pthread_mutex_lock(&lc->mu);
	if (hashmap_get(&lc->entries, e->key)) {
		pthread_mutex_unlock(&lc->mu);
		log_warn("lease check: resource id %u of %s is probed already", res->id, res->path);
		entry_free(e);
		return;
	}
	hashmap_put(&lc->entries, e->key, e);
	pthread_mutex_unlock(&lc->mu);
	log_debug("lease check: probing %s (%s) every %u s", res->path, e->fs, lc->interval_s);
}

static void entry_remove(struct leasecheck *lc, struct resource *res)
{
	struct lease_entry *e;
	char key[16];

	snprintf(key, sizeof(key), "%u", res->id);
	pthread_mutex_lock(&lc->mu);
	e = hashmap_get(&lc->entries, key);
	/* Its fd closes after this: let a probe in flight finish with it. */
	while (e && e->probing)
		pthread_cond_wait(&lc->done, &lc->mu);
	if (e)
		hashmap_remove(&lc->entries, key);
	pthread_mutex_unlock(&lc->mu);
	entry_free(e);
}

void leasecheck_resource(struct leasecheck *lc, struct lockspace *ls, struct resource *res,
			 enum lockspace_event ev)
{
	if (!lc || res->fd < 0)
		return;
	if (ev == LS_ADDED)
		entry_add(lc, ls, res);
	else if (ev == LS_REMOVED)
		entry_remove(lc, res);
}

int leasecheck_new(const struct leasecheck_params *p, struct leasecheck **out)
{
	struct leasecheck *lc;
	pthread_condattr_t ca;
	enum lease_lost_action action;
	int rc, fd;

	*out = NULL;
	if (!p->interval_s || !p->nfilesystems)
		return 0;
	if (action_parse(p->action, &action) < 0) {
		log_error("lease check: lease_lost_action \"%s\" %s", p->action,
			  leasecheck_action_check(p->action));
		return -EINVAL;
	}
	lc = xcalloc(1, sizeof(*lc));
	lc->loop = p->loop;
	lc->clients = p->clients;
	lc->report = p->report;
	lc->data = p->data;
	lc->interval_s = p->interval_s;
	lc->action = action;
	for (size_t i = 0; i < ARRAY_SIZE(fs_types); i++)
		for (size_t j = 0; j < p->nfilesystems; j++)
			if (!strcmp(fs_types[i].name, p->filesystems[j]))
				lc->fs_probed |= 1u << i;
	hashmap_init(&lc->entries);
	hashmap_init(&lc->marks);
	pthread_mutex_init(&lc->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&lc->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&lc->done, NULL);
	lc->ev.fd = -1;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0 || (rc = loop_add(lc->loop, &lc->ev, fd, EPOLLIN, on_notes)) < 0) {
		rc = fd < 0 ? -errno : rc;
		safe_close(fd);
		log_error("lease check: cannot set up its event: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = -pthread_create(&lc->worker, NULL, worker, lc)) < 0) {
		log_error("lease check: cannot start its thread: %s", strerror(-rc));
		goto fail;
	}
	lc->started = true;
	log_info("lease check: locks on shared filesystems probed every %u s; a lost one: %s",
		 lc->interval_s, action_names[lc->action]);
	*out = lc;
	return 0;

fail:
	leasecheck_free(lc);
	return rc;
}

void leasecheck_free(struct leasecheck *lc)
{
	struct hashmap_entry *he, *nx;
	struct lost_note *n;
	bool stuck;
	size_t i;

	if (!lc)
		return;
	pthread_mutex_lock(&lc->mu);
	lc->stop = true;
	pthread_cond_broadcast(&lc->wake);
	stuck = false;
	hashmap_foreach(&lc->entries, he, nx, i)
		stuck |= ((struct lease_entry *)he->value)->probing;
	pthread_mutex_unlock(&lc->mu);
	if (stuck) {
		/* A probe blocked on an unreachable server: the thread goes
		 * with the process, and what it uses stays until then. */
		log_warn("lease check: a probe is still blocked; leaving it to the exit");
		return;
	}
	if (lc->started)
		pthread_join(lc->worker, NULL);
	if (lc->ev.fd >= 0) {
		loop_del(lc->loop, &lc->ev);
		safe_close(lc->ev.fd);
	}
	while ((n = lc->notes)) {
		lc->notes = n->next;
		free(n);
	}
	hashmap_foreach(&lc->entries, he, nx, i)
		entry_free(he->value);
	hashmap_free(&lc->entries);
	hashmap_foreach(&lc->marks, he, nx, i)
		mark_free(he->value);
	hashmap_free(&lc->marks);
	pthread_cond_destroy(&lc->wake);
	pthread_cond_destroy(&lc->done);
	pthread_mutex_destroy(&lc->mu);
	free(lc);
}

struct json_object *leasecheck_lost(struct leasecheck *lc)
{
	struct json_object *a = NULL;
	struct hashmap_entry *he, *nx;
	size_t i;

	if (!lc)
		return NULL;
	/* Entries change in the event loop's thread only, as lost_why does. */
	hashmap_foreach(&lc->entries, he, nx, i) {
		const struct lease_entry *e = he->value;

		if (!e->lost_why)
			continue;
		a = a ? a : json_object_new_array();
		json_object_array_add(a, json_object_new_string(e->lost_why));
	}
	return a;
}

static size_t count_lost(struct leasecheck *lc)
{
	struct hashmap_entry *he, *nx;
	size_t i, n = 0;

	hashmap_foreach(&lc->entries, he, nx, i)
		n += ((const struct lease_entry *)he->value)->lost_why != NULL;
	return n;
}

/*
 * Only what was fenced: a loss found but not yet acted on is found again
 * by the next image's first probe, as the lock is still lost then. No key
 * when nothing was lost, so the state is as it was before marks existed.
 */
void leasecheck_save(struct leasecheck *lc, struct restart_writer *rw)
{
	struct hashmap_entry *he, *nx;
	size_t i;

	if (!lc || !count_lost(lc))
		return;
	jw_object(&rw->w, "leasecheck");
	jw_array(&rw->w, "lost");
	hashmap_foreach(&lc->entries, he, nx, i) {
		const struct lease_entry *e = he->value;

		if (!e->lost_why)
			continue;
		jw_object(&rw->w, NULL);
		jw_int(&rw->w, "id", e->id);
		jw_str(&rw->w, "why", e->lost_why);
		jw_end(&rw->w);
	}
	jw_end(&rw->w);
	jw_end(&rw->w);
}

int leasecheck_restore(struct leasecheck *lc, struct restart_reader *r, struct json_object *ours)
{
	static const char where[] = "lockwarden.leasecheck";
	struct json_object *obj, *lost;
	size_t n;
	int64_t id;

	if (!json_object_object_get_ex(ours, "leasecheck", NULL))
		return 0;
	if (!(obj = restart_member(r, ours, "lockwarden", "leasecheck", json_type_object)) ||
	    !(lost = restart_member(r, obj, where, "lost", json_type_array)))
		return -EINVAL;
	/* All or none: a malformed entry leaves no mark restored. */
	n = json_object_array_length(lost);
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(lost, i);

		if (!json_object_is_type(o, json_type_object))
			return restart_bad(r, where, "malformed entry %zu", i);
		if (restart_get_int(r, o, where, "id", 0, UINT32_MAX, &id) < 0 ||
		    !restart_get_str(r, o, where, "why"))
			return -EINVAL;
	}
	if (!lc) {
		if (n)
			log_warn("lease check is off: the %zu locks the image before found lost are "
				 "no longer marked so", n);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(lost, i);
		struct lost_mark *m = xcalloc(1, sizeof(*m));

		restart_get_int(r, o, where, "id", 0, UINT32_MAX, &id);
		snprintf(m->key, sizeof(m->key), "%u", (unsigned int)id);
		m->why = xstrdup(restart_get_str(r, o, where, "why"));
		mark_free(hashmap_remove(&lc->marks, m->key));
		hashmap_put(&lc->marks, m->key, m);
	}
	return 0;
}

bool leasecheck_marked_lost(struct leasecheck *lc, unsigned int id)
{
	char key[16];

	if (!lc)
		return false;
	snprintf(key, sizeof(key), "%u", id);
	return hashmap_get(&lc->marks, key) != NULL;
}

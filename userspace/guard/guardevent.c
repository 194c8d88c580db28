// SPDX-License-Identifier: LGPL-2.1-or-later
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "audit.h"
#include "guardevent.h"
#include "timefmt.h"
#include "util.h"

/* How long a sighting waits for the other monitor's: both normally come
 * within a millisecond, a loaded loop may take longer. */
#define MERGE_WINDOW_MS	250

void guard_open_free(struct guard_open *o)
{
	if (!o)
		return;
	free(o->exe);
	free(o->cgroup);
	free(o->path);
	free(o->resource);
	free(o->resource_path);
	free(o->owners);
	free(o->vm_name);
	free(o->opener_vm_name);
	free(o);
}

/* ---- the record ---- */

static void add_str(struct json_object *r, const char *key, const char *v)
{
	json_object_object_add(r, key, v ? json_object_new_string(v) : NULL);
}

static void add_int(struct json_object *r, const char *key, int64_t v)
{
	json_object_object_add(r, key, json_object_new_int64(v));
}

static const char *source_name(unsigned int sources)
{
	switch (sources) {
	case SRC_BPF:
		return "bpf";
	case SRC_FANOTIFY:
		return "fanotify";
	default:
		return "bpf+fanotify";
	}
}

static char *flags_string(int flags)
{
	static const struct {
		int flag;
		const char *name;
	} names[] = {
		{ O_CREAT, "O_CREAT" }, { O_EXCL, "O_EXCL" }, { O_TRUNC, "O_TRUNC" },
		{ O_APPEND, "O_APPEND" }, { O_DIRECT, "O_DIRECT" }, { O_SYNC, "O_SYNC" },
		{ O_DSYNC, "O_DSYNC" }, { O_NOATIME, "O_NOATIME" }, { O_NONBLOCK, "O_NONBLOCK" },
	};
	int acc = flags & O_ACCMODE;
	char buf[256];
	size_t n;

	n = snprintf(buf, sizeof(buf), "%s", acc == O_RDONLY ? "O_RDONLY" :
		     acc == O_WRONLY ? "O_WRONLY" : acc == O_RDWR ? "O_RDWR" : "O_ACCMODE");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		/* O_SYNC includes O_DSYNC's bit */
		if ((flags & names[i].flag) == names[i].flag &&
		    !(names[i].flag == O_DSYNC && (flags & O_SYNC) == O_SYNC))
			n += snprintf(buf + n, sizeof(buf) - n, "|%s", names[i].name);
	return xstrdup(buf);
}

struct json_object *guard_open_record(const struct guard_open *o, const char *event,
				      enum severity sev)
{
	struct json_object *r = audit_record(event), *owners = json_object_new_array();
	char ts[TIME_RFC3339_LEN], uuid[UUID_STR_LEN], *s;

	/* When it happened, not when it was written out. */
	time_format(o->time_ns, ts);
	add_str(r, "time", ts);

	add_str(r, "source", source_name(o->sources));
	if (o->truncate)
		add_str(r, "op", "truncate");
	if (o->hook)
		add_str(r, "hook", o->hook);
	add_int(r, "pid", o->tgid);
	add_int(r, "tid", o->tid);
	add_int(r, "ppid", o->ppid);
	add_int(r, "uid", o->uid);
	add_int(r, "gid", o->gid);
	add_str(r, "comm", o->comm);
	add_str(r, "exe", o->exe);
	add_str(r, "cgroup", o->cgroup);
	if (o->cgroup_id)
		json_object_object_add(r, "cgroup_id", json_object_new_uint64(o->cgroup_id));
	/* An open without a path (io_uring, open_by_handle_at) opened the resource's file. */
	add_str(r, "path", o->path ? o->path : o->resource_path);
	s = o->flags_known ? flags_string(o->flags) : NULL;
	add_str(r, "flags", s);
	free(s);
	s = xasprintf("%u:%u", major(o->dev), minor(o->dev));
	add_str(r, "dev", s);
	free(s);
	json_object_object_add(r, "ino", json_object_new_uint64(o->ino));
	add_str(r, "resource", o->resource);
	add_str(r, "resource_path", o->resource_path);
	for (size_t i = 0; i < o->nowners; i++)
		json_object_array_add(owners, json_object_new_int64(o->owners[i]));
	json_object_object_add(r, "owner_pids", owners);
	add_str(r, "vm_name", o->vm_name);
	if (o->vm_name)
		uuid_format(o->vm_uuid, uuid);
	add_str(r, "vm_uuid", o->vm_name ? uuid : NULL);
	/* A VM's QEMU opening another VM's disk: both VMs named. */
	if (o->opener_vm_name) {
		add_str(r, "opener_vm_name", o->opener_vm_name);
		uuid_format(o->opener_vm_uuid, uuid);
		add_str(r, "opener_vm_uuid", uuid);
	}
	add_str(r, "lock_mode", o->exclusive ? "exclusive" : "shared");
	add_str(r, "policy", guard_policy_name(o->policy));
	add_str(r, "severity", severity_name(sev));
	if (o->timed_out)
		json_object_object_add(r, "timed_out", json_object_new_boolean(true));
	return r;
}

/* ---- merging the two monitors' sightings ---- */

static bool same_open(const struct guard_open *a, const struct guard_open *b)
{
	return a->tgid == b->tgid && a->dev == b->dev && a->ino == b->ino &&
	       !(a->sources & b->sources);
}

static void take_str(char **to, char **from)
{
	if (!*to) {
		*to = *from;
		*from = NULL;
	}
}

/*
 * Fold b into a. The BPF sighting's opener facts are the kernel's own,
 * taken at the open; fanotify's fill what it lacks (exe and cgroup paths)
 * and bring the verdict.
 */
static void combine(struct guard_open *a, struct guard_open *b)
{
	struct guard_open *bpf = (a->sources & SRC_BPF) ? a : b, *fan = bpf == a ? b : a;

	if (bpf == b) {
		a->hook = b->hook;
		a->tid = b->tid;
		a->ppid = b->ppid;
		a->uid = b->uid;
		a->gid = b->gid;
		memcpy(a->comm, b->comm, sizeof(a->comm));
		a->exe_dev = b->exe_dev;
		a->exe_ino = b->exe_ino;
		a->exe_known = b->exe_known;
		a->cgroup_id = b->cgroup_id;
	}
	take_str(&a->exe, &b->exe);
	take_str(&a->cgroup, &b->cgroup);
	take_str(&a->path, &b->path);
	if (!a->opener_vm_name && b->opener_vm_name)
		memcpy(a->opener_vm_uuid, b->opener_vm_uuid, LOCK_UUID_LEN);
	take_str(&a->opener_vm_name, &b->opener_vm_name);
	if (!a->flags_known && b->flags_known) {
		a->flags = b->flags;
		a->flags_known = true;
	}
	if (b->time_ns < a->time_ns)
		a->time_ns = b->time_ns;
	a->allowed |= b->allowed;
	a->denied = fan->denied;
	a->timed_out = fan->timed_out;
	a->sources |= b->sources;
}

static void arm(struct guard_merge *m);

static void expired(struct loop_timer *t)
{
	struct guard_merge *m = container_of(t, struct guard_merge, timer);
	uint64_t now = now_mono_ns();

	while (m->pending && m->pending->deadline <= now) {
		struct guard_open *o = m->pending;

		m->pending = o->next;
		m->emit(m->data, o);
	}
	arm(m);
}

static void arm(struct guard_merge *m)
{
	uint64_t now = now_mono_ns();

	if (!m->pending)
		loop_timer_disarm(m->loop, &m->timer);
	else
		loop_timer_arm(m->loop, &m->timer, m->pending->deadline > now ?
			       (m->pending->deadline - now + 999999) / 1000000 : 0, expired);
}

void guard_merge_add(struct guard_merge *m, struct guard_open *o, bool partner)
{
	struct guard_open **pp, *p;

	for (pp = &m->pending; (p = *pp); pp = &p->next) {
		if (!same_open(p, o))
			continue;
		*pp = p->next;
		combine(p, o);
		guard_open_free(o);
		m->merged++;
		m->emit(m->data, p);
		arm(m);
		return;
	}
	if (!partner) {
		m->emit(m->data, o);
		return;
	}
	o->deadline = now_mono_ns() + MERGE_WINDOW_MS * 1000000ull;
	o->next = NULL;
	*pp = o;
	arm(m);
}

void guard_merge_flush(struct guard_merge *m)
{
	while (m->pending) {
		struct guard_open *o = m->pending;

		m->pending = o->next;
		m->emit(m->data, o);
	}
	loop_timer_disarm(m->loop, &m->timer);
}

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "fanmon.h"
#include "guardevent.h"
#include "log.h"
#include "loop.h"
#include "util.h"

struct fanmon {
	struct fanmon_params p;
	int fd;				/* the group */
	bool kernel_audit;		/* created with FAN_ENABLE_AUDIT */
	pthread_t thread;
	bool running;
	int stop_fd;			/* eventfd: the thread is to stop */
	struct loop_source wake;	/* eventfd: sightings queued for the loop */
	pthread_mutex_t qlock;
	struct guard_open *queue, **qtail;
	atomic_uint_fast64_t timeouts;
	atomic_bool overflow_logged;
};

/* ---- the thread ---- */

static void answer(struct fanmon *m, int fd, bool deny)
{
	struct fanotify_response r = {
		.fd = fd,
		.response = deny ? FAN_DENY | (m->kernel_audit ? FAN_AUDIT : 0) : FAN_ALLOW,
	};

	/* ENOENT: the opener was killed while it waited; nothing to answer. */
	if (write(m->fd, &r, sizeof(r)) < 0 && errno != ENOENT)
		log_error("fanotify: cannot answer an open (fd %d): %m", fd);
}

static void enqueue(struct fanmon *m, struct guard_open *o)
{
	uint64_t one = 1;

	pthread_mutex_lock(&m->qlock);
	*m->qtail = o;
	m->qtail = &o->next;
	pthread_mutex_unlock(&m->qlock);
	if (write(m->wake.fd, &one, sizeof(one)) < 0)
		log_error("fanotify: cannot wake the event loop: %m");
}

/* The name the kernel opened the file by: its own, not the opener's memory. */
static char *event_path(int fd)
{
	char link[32], buf[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, buf, sizeof(buf) - 1)) < 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

/*
 * Answer first, from what the event carries and the kernel tells of the
 * opener; describe it afterwards. Each event has a deadline of its own,
 * so one slow event cannot time out those read with it.
 */
static void handle(struct fanmon *m, const struct fanotify_event_metadata *md)
{
	uint64_t deadline = now_mono_ns() + m->p.timeout_ms * 1000000ull;
	struct guard_open *o;
	bool report;

	if (md->mask & FAN_Q_OVERFLOW) {
		/* Cannot happen with FAN_UNLIMITED_QUEUE; say so if it does. */
		if (!atomic_exchange(&m->overflow_logged, true))
			log_error("fanotify: the event queue overflowed; opens went unseen");
		return;
	}
	o = xcalloc(1, sizeof(*o));
	o->time_ns = now_real_ns();	/* the opener waits: it is now */
	o->sources = SRC_FANOTIFY;
	o->tid = md->pid;
	inode_cached(md->fd, "", &o->dev, &o->ino);
	report = m->p.decide(m->p.data, o, deadline);
	if (o->timed_out)
		atomic_fetch_add(&m->timeouts, 1);
	if (md->mask & FAN_OPEN_PERM)
		answer(m, md->fd, o->denied);
	if (report)
		o->path = event_path(md->fd);
	/*
	 * This fd is fanotify's own open of a guarded file. Closing it never
	 * drops the file's lock: the daemon's locks are OFD locks, owned by
	 * the open file description that took them (the resource's fd), not
	 * by the process. Adopted process-owned POSIX locks, which any close
	 * of the file by this process would drop, get no mark (guard.c), so
	 * fanotify never hands us an fd of their files.
	 */
	close(md->fd);
	if (report)
		enqueue(m, o);
	else
		guard_open_free(o);
}

static void *run(void *arg)
{
	struct fanmon *m = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	struct pollfd pfd[2] = { { .fd = m->fd, .events = POLLIN },
				 { .fd = m->stop_fd, .events = POLLIN } };

	for (;;) {
		const struct fanotify_event_metadata *md;
		ssize_t n;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
			log_error("fanotify: poll failed: %m");
			continue;
		}
		if (pfd[1].revents)
			break;
		n = read(m->fd, buf, sizeof(buf));
		if (n < 0) {
			/* EMFILE and the like: the kernel has refused that
			 * open itself, since no fd could carry it to us. */
			if (errno != EAGAIN && errno != EINTR)
				log_error("fanotify: cannot read events: %m");
			continue;
		}
		/* Every event read is answered before the next poll, and so
		 * before the thread can stop. */
		for (md = (const void *)buf; FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n))
			if (md->vers == FANOTIFY_METADATA_VERSION)
				handle(m, md);
	}
	return NULL;
}

static int start(struct fanmon *m)
{
	int rc;

	if ((rc = -pthread_create(&m->thread, NULL, run, m)) < 0)
		return rc;
	m->running = true;
	return 0;
}

static void stop(struct fanmon *m)
{
	uint64_t one = 1;

	if (!m->running)
		return;
	if (write(m->stop_fd, &one, sizeof(one)) < 0)
		log_error("fanotify: cannot stop the monitor thread: %m");
	pthread_join(m->thread, NULL);
	m->running = false;
	if (read(m->stop_fd, &one, sizeof(one)) < 0)
		one = 0;
}

/* ---- the loop's side ---- */

static void deliver(struct fanmon *m)
{
	struct guard_open *o, *next;

	pthread_mutex_lock(&m->qlock);
	o = m->queue;
	m->queue = NULL;
	m->qtail = &m->queue;
	pthread_mutex_unlock(&m->qlock);
	for (; o; o = next) {
		next = o->next;
		o->next = NULL;
		m->p.report(m->p.data, o);
	}
}

static void on_wake(struct loop_source *src, uint32_t events)
{
	struct fanmon *m = container_of(src, struct fanmon, wake);
	uint64_t n;

	if (read(src->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("fanotify: cannot read the wake-up count: %m");
	deliver(m);
}

/* Everything but the group: eventfds, the loop's source, the thread. */
static int setup(struct fanmon *m, char **why)
{
	int rc, wake;

	m->stop_fd = eventfd(0, EFD_CLOEXEC);
	wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0 || wake < 0) {
		rc = -errno;
		safe_close(wake);
		*why = xasprintf("cannot create an eventfd: %s", strerror(-rc));
		return rc;
	}
	/* From here m->wake owns the fd, added or not. */
	if ((rc = loop_add(m->p.loop, &m->wake, wake, EPOLLIN, on_wake)) < 0) {
		*why = xasprintf("cannot watch its eventfd: %s", strerror(-rc));
		return rc;
	}
	if ((rc = start(m)) < 0) {
		*why = xasprintf("cannot start its thread: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* The group is set up: the rest, and hand it out or free it. */
static int finish(struct fanmon *m, struct fanmon **out, char **why)
{
	int rc;

	if ((rc = setup(m, why)) < 0) {
		fanmon_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

static struct fanmon *alloc(const struct fanmon_params *p)
{
	struct fanmon *m = xcalloc(1, sizeof(*m));

	m->p = *p;
	m->fd = m->stop_fd = m->wake.fd = -1;
	pthread_mutex_init(&m->qlock, NULL);
	m->qtail = &m->queue;
	return m;
}

int fanmon_new(const struct fanmon_params *p, struct fanmon **out, char **why)
{
	/* Unlimited: on overflow the kernel drops permission events by
	 * allowing them, which would let opens through unrefused and unseen. */
	unsigned int flags = FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK |
			     FAN_UNLIMITED_QUEUE | FAN_REPORT_TID;
	struct fanmon *m = alloc(p);
	int rc;

	m->fd = fanotify_init(flags | FAN_ENABLE_AUDIT, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	m->kernel_audit = m->fd >= 0;
	if (m->fd < 0 && (errno == EINVAL || errno == EPERM))
		m->fd = fanotify_init(flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (m->fd < 0) {
		rc = -errno;
		*why = xasprintf("fanotify_init: %s", strerror(-rc));
		fanmon_free(m);
		return rc;
	}
	return finish(m, out, why);
}

void fanmon_free(struct fanmon *m)
{
	if (!m)
		return;
	stop(m);
	deliver(m);
	if (m->wake.fn)
		loop_del(m->p.loop, &m->wake);
	safe_close(m->wake.fd);
	safe_close(m->stop_fd);
	/* Closing the group allows every open still waiting. */
	safe_close(m->fd);
	pthread_mutex_destroy(&m->qlock);
	free(m);
}

/*
 * Marked through the descriptor's /proc link rather than the descriptor:
 * fanotify_mark() refuses O_PATH descriptors, and the guard holds images
 * only by O_PATH, because opening one for real would wait on its own mark
 * while the daemon cannot answer (during a re-exec).
 */
static int mark(struct fanmon *m, unsigned int op, int fd)
{
	char link[32];

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (fanotify_mark(m->fd, op, FAN_OPEN_PERM, AT_FDCWD, link) < 0)
		return -errno;
	return 0;
}

int fanmon_mark(struct fanmon *m, int fd)
{
	return mark(m, FAN_MARK_ADD, fd);
}

int fanmon_unmark(struct fanmon *m, int fd)
{
	int rc = mark(m, FAN_MARK_REMOVE, fd);

	return rc == -ENOENT ? 0 : rc;
}

uint64_t fanmon_timeouts(const struct fanmon *m)
{
	return atomic_load(&m->timeouts);
}

bool fanmon_kernel_audit(const struct fanmon *m)
{
	return m->kernel_audit;
}

/* ---- re-exec ---- */

int fanmon_save(struct fanmon *m, struct json_object *obj)
{
	int rc;

	stop(m);
	deliver(m);
	if ((rc = fd_set_cloexec(m->fd, false)) < 0) {
		fanmon_resume(m);
		return rc;
	}
	json_object_object_add(obj, "fd", json_object_new_int(m->fd));
	json_object_object_add(obj, "kernel_audit", json_object_new_boolean(m->kernel_audit));
	return 0;
}

void fanmon_resume(struct fanmon *m)
{
	int rc;

	fd_set_cloexec(m->fd, true);
	if (!m->running && (rc = start(m)) < 0)
		log_error("fanotify: cannot restart the monitor thread: %s; opens of guarded "
			  "files wait until the daemon exits", strerror(-rc));
}

static bool is_fanotify(int fd)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return !strcmp(target, "anon_inode:[fanotify]");
}

int fanmon_restore(const struct fanmon_params *p, struct json_object *obj,
		   struct fanmon **out, char **why)
{
	struct json_object *v;
	struct fanmon *m;
	int fd, rc;

	if (!json_object_object_get_ex(obj, "fd", &v) || !json_object_is_type(v, json_type_int) ||
	    !is_fanotify(fd = json_object_get_int(v))) {
		*why = xstrdup("the state names no inherited fanotify group");
		return -EBADF;
	}
	m = alloc(p);
	m->fd = fd;
	m->kernel_audit = json_object_object_get_ex(obj, "kernel_audit", &v) &&
			  json_object_get_boolean(v);
	if ((rc = fd_set_cloexec(fd, true)) < 0 || (rc = fd_set_nonblock(fd)) < 0) {
		*why = xasprintf("cannot set up inherited fd %d: %s", fd, strerror(-rc));
		fanmon_free(m);
		return rc;
	}
	return finish(m, out, why);
}

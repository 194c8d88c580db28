// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "reaper.h"
#include "util.h"

#define KILL_AFTER_MS	1600	/* virtlockd: SIGKILL on the 8th 200 ms tick */
#define GIVE_UP_MS	1400	/* then watch as long as virtlockd does (3 s) */

struct victim {
	struct loop_source src;		/* the pidfd, readable once it exits */
	struct loop_timer timer;
	struct reaper *r;
	pid_t pid;
	bool sent_kill;
	bool child;			/* only to be waited for, not killed */
	struct victim *next;
};

void reaper_init(struct reaper *r, struct loop *l)
{
	r->loop = l;
	r->victims = NULL;
	r->killed = r->escalated = 0;
}

static void victim_done(struct victim *v)
{
	struct victim **pp;

	for (pp = &v->r->victims; *pp; pp = &(*pp)->next) {
		if (*pp == v) {
			*pp = v->next;
			break;
		}
	}
	loop_del(v->r->loop, &v->src);
	loop_timer_disarm(v->r->loop, &v->timer);
	safe_close(v->src.fd);
	free(v);
}

void reaper_fini(struct reaper *r)
{
	while (r->victims)
		victim_done(r->victims);
}

static int send_signal(struct victim *v, int sig)
{
	if (syscall(SYS_pidfd_send_signal, v->src.fd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

static void victim_exited(struct loop_source *src, uint32_t events)
{
	struct victim *v = container_of(src, struct victim, src);

	if (v->child)
		waitpid(v->pid, NULL, WNOHANG);
	else
		log_info("pid %d, which dropped its connection while holding leases, is gone",
			 v->pid);
	victim_done(v);
}

static void victim_timer(struct loop_timer *t)
{
	struct victim *v = container_of(t, struct victim, timer);

	if (v->sent_kill) {
		log_warn("pid %d did not exit after SIGKILL; no longer watching it", v->pid);
		victim_done(v);
		return;
	}
	if (send_signal(v, SIGKILL) < 0) {
		victim_done(v);
		return;
	}
	v->r->escalated++;
	v->sent_kill = true;
	log_warn("pid %d ignored SIGTERM; sent SIGKILL", v->pid);
	loop_timer_arm(v->r->loop, &v->timer, GIVE_UP_MS, victim_timer);
}

/* Watch v (its pidfd in v->src.fd) until it exits, escalating on time. */
static int victim_watch(struct reaper *r, struct victim *v)
{
	int rc = loop_add(r->loop, &v->src, v->src.fd, EPOLLIN, victim_exited);

	if (rc < 0)
		return rc;
	if (!v->child)
		loop_timer_arm(r->loop, &v->timer, v->sent_kill ? GIVE_UP_MS : KILL_AFTER_MS,
			       victim_timer);
	v->next = r->victims;
	r->victims = v;
	return 0;
}

void reaper_kill(struct reaper *r, int fd, pid_t pid)
{
	struct victim *v;
	int rc;

	if (fd < 0) {
		log_info("pid %d dropped its connection while holding leases; it was gone "
			 "already when it registered, so nothing is signalled", pid);
		return;
	}
	v = xcalloc(1, sizeof(*v));
	v->r = r;
	v->pid = pid;
	v->src.fd = fd;
	rc = send_signal(v, SIGTERM);
	if (rc == 0)
		rc = victim_watch(r, v);
	if (rc < 0) {
		if (rc != -ESRCH)
			log_warn("Failed to kill off pid %d: %s", pid, strerror(-rc));
		else
			log_info("pid %d dropped its connection while holding leases; it has "
				 "exited, so nothing is signalled (not even a process given "
				 "its pid since)", pid);
		close(fd);
		free(v);
		return;
	}
	r->killed++;
	log_warn("pid %d dropped its connection while holding leases; sent SIGTERM", pid);
}

int reaper_adopt_child(struct reaper *r, pid_t pid)
{
	struct victim *v = xcalloc(1, sizeof(*v));
	int rc;

	v->r = r;
	v->pid = pid;
	v->child = true;
	v->src.fd = syscall(SYS_pidfd_open, pid, 0);
	if (v->src.fd < 0 || (rc = victim_watch(r, v)) < 0) {
		rc = v->src.fd < 0 ? -errno : rc;
		safe_close(v->src.fd);
		free(v);
		return rc;
	}
	return 0;
}

/* Children are not handed on: the next image finds them as its own. */
void reaper_foreach(struct reaper *r, void (*fn)(int pidfd, pid_t pid, bool sent_kill, void *arg),
		    void *arg)
{
	for (struct victim *v = r->victims; v; v = v->next)
		if (!v->child)
			fn(v->src.fd, v->pid, v->sent_kill, arg);
}

/* A victim of the image before, its pidfd inherited, followed to its end. */
static int reaper_adopt(struct reaper *r, int pidfd, pid_t pid, bool sent_kill)
{
	struct victim *v = xcalloc(1, sizeof(*v));
	int rc;

	v->r = r;
	v->pid = pid;
	v->sent_kill = sent_kill;
	v->src.fd = pidfd;
	if ((rc = fd_set_cloexec(pidfd, true)) < 0 || (rc = victim_watch(r, v)) < 0) {
		free(v);
		return rc;
	}
	return 0;
}

static void save_victim(int pidfd, pid_t pid, bool sent_kill, void *arg)
{
	struct restart_writer *rw = arg;

	jw_object(&rw->w, NULL);
	jw_int(&rw->w, "pidfd", pidfd);
	jw_int(&rw->w, "pid", pid);
	jw_bool(&rw->w, "sent_kill", sent_kill);
	jw_end(&rw->w);
	restart_keep(rw, pidfd);
}

void reaper_save(struct reaper *r, struct restart_writer *rw)
{
	jw_array(&rw->w, "victims");
	reaper_foreach(r, save_victim, rw);
	jw_end(&rw->w);
}

int reaper_restore(struct reaper *r, struct restart_reader *rd, struct json_object *ours)
{
	struct json_object *victims;
	int64_t pid;
	int fd, rc;

	if (!(victims = restart_member(rd, ours, "lockwarden", "victims", json_type_array)))
		return -EINVAL;
	for (size_t i = 0; i < json_object_array_length(victims); i++) {
		struct json_object *o = json_object_array_get_idx(victims, i);
		bool sent_kill;

		if (restart_get_fd(rd, o, "lockwarden.victims", "pidfd", &fd) < 0 ||
		    restart_get_int(rd, o, "lockwarden.victims", "pid", 1, INT32_MAX, &pid) < 0 ||
		    restart_get_bool(rd, o, "lockwarden.victims", "sent_kill", &sent_kill) < 0)
			return -EINVAL;
		if ((rc = reaper_adopt(r, fd, pid, sent_kill)) < 0)
			return restart_bad(rd, "lockwarden.victims", "pid %lld: %s", (long long)pid,
					   strerror(-rc));
	}
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "util.h"

#define MAX_EVENTS 64

struct loop {
	int epfd;
	struct loop_timer *timers;	/* sorted by deadline */
	void (*after_batch)(void *data);
	void *after_data;
	bool quit;
	int code;
};

int loop_new(struct loop **out)
{
	struct loop *l = xcalloc(1, sizeof(*l));

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int err = -errno;

		free(l);
		return err;
	}
	*out = l;
	return 0;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	safe_close(l->epfd);
	free(l);
}

int loop_add(struct loop *l, struct loop_source *src, int fd, uint32_t events, loop_fd_fn fn)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	src->fd = fd;
	src->events = events;
	src->fn = fn;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int loop_mod(struct loop *l, struct loop_source *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	if (src->events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, src->fd, &ev) < 0)
		return -errno;
	src->events = events;
	return 0;
}

void loop_del(struct loop *l, struct loop_source *src)
{
	if (src->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, src->fd, NULL);
	/* Events already fetched in this batch are skipped by the NULL fn. */
	src->fn = NULL;
}

void loop_timer_disarm(struct loop *l, struct loop_timer *t)
{
	struct loop_timer **pp;

	if (!t->armed)
		return;
	for (pp = &l->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->armed = false;
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t after_ms, loop_timer_fn fn)
{
	struct loop_timer **pp;

	loop_timer_disarm(l, t);
	t->deadline = now_mono_ns() + after_ms * 1000000ull;
	t->fn = fn;
	for (pp = &l->timers; *pp && (*pp)->deadline <= t->deadline; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	t->armed = true;
}

void loop_set_after_batch(struct loop *l, void (*fn)(void *data), void *data)
{
	l->after_batch = fn;
	l->after_data = data;
}

void loop_quit(struct loop *l, int code)
{
	l->quit = true;
	l->code = code;
}

bool loop_running(const struct loop *l)
{
	return !l->quit;
}

static int next_timeout_ms(struct loop *l)
{
	uint64_t now;

	if (!l->timers)
		return -1;
	now = now_mono_ns();
	if (l->timers->deadline <= now)
		return 0;
	/* round up so a timer never fires early */
	return (l->timers->deadline - now + 999999) / 1000000;
}

static void run_timers(struct loop *l)
{
	uint64_t now = now_mono_ns();

	while (l->timers && l->timers->deadline <= now) {
		struct loop_timer *t = l->timers;

		l->timers = t->next;
		t->armed = false;
		t->fn(t);
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event ev[MAX_EVENTS];

	l->quit = false;
	while (!l->quit) {
		int n = epoll_wait(l->epfd, ev, MAX_EVENTS, next_timeout_ms(l));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait failed: %m");
			return -errno;
		}
		/* Once asked to quit, leave the rest of the batch: level-triggered
		 * events stay pending for whoever runs next (a re-exec'd image). */
		for (int i = 0; i < n && !l->quit; i++) {
			struct loop_source *src = ev[i].data.ptr;

			if (src->fn)
				src->fn(src, ev[i].events);
		}
		run_timers(l);
		if (l->after_batch)
			l->after_batch(l->after_data);
	}
	return l->code;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's single-threaded event loop: epoll for fds, a sorted list of
 * timers, and a hook run after each batch of events (where closed clients
 * are freed, so no callback in a batch sees a freed object).
 */
#ifndef LW_LOOP_H
#define LW_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_source;
struct loop_timer;

typedef void (*loop_fd_fn)(struct loop_source *src, uint32_t events);
typedef void (*loop_timer_fn)(struct loop_timer *t);

/* Embedded in its owner; find the owner with container_of. */
struct loop_source {
	int fd;
	uint32_t events;
	loop_fd_fn fn;
};

struct loop_timer {
	uint64_t deadline;	/* CLOCK_MONOTONIC ns */
	loop_timer_fn fn;
	struct loop_timer *next;
	bool armed;
};

int loop_new(struct loop **out);
void loop_free(struct loop *l);

int loop_add(struct loop *l, struct loop_source *src, int fd, uint32_t events, loop_fd_fn fn);
int loop_mod(struct loop *l, struct loop_source *src, uint32_t events);
void loop_del(struct loop *l, struct loop_source *src);

void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t after_ms, loop_timer_fn fn);
void loop_timer_disarm(struct loop *l, struct loop_timer *t);

void loop_set_after_batch(struct loop *l, void (*fn)(void *data), void *data);

/* Run until loop_quit; returns the code given to loop_quit. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l, int code);
bool loop_running(const struct loop *l);

#endif

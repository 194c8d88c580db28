/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Alerts: what an operator must hear about now. Each critical event goes
 * to syslog (the journal) at LOG_ALERT at once, and, when a hook command
 * is configured, to that command as one JSON line on its stdin.
 *
 * The hook never holds up the daemon: it is spawned (its own session, so
 * its whole process group can be killed), handed the alert through a pipe
 * in one non-blocking write, and watched through a pidfd in the event
 * loop. One that runs past its timeout is killed. Runs are rate-limited
 * (a token bucket) and bounded in number; what is refused, and every hook
 * that fails, is counted.
 */
#ifndef LW_ALERT_H
#define LW_ALERT_H

#include <json-c/json.h>
#include <stdint.h>

#include "loop.h"

struct alert_config {
	const char *hook;		/* NULL: none */
	unsigned int timeout_s;
	unsigned int max_per_minute;	/* 0: no limit */
};

struct alerts;

int alerts_new(const struct alert_config *cfg, struct loop *loop, struct alerts **out);
/* Kills hooks still running. NULL is fine. */
void alerts_free(struct alerts *al);

/* rec: an audit record (not consumed). */
void alert_raise(struct alerts *al, struct json_object *rec);

/* The hook and its counts, for the daemon's status. */
struct json_object *alerts_status(const struct alerts *al);

#endif

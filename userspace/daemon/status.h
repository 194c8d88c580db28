/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's state in one JSON object: version, uptime, sockets,
 * clients, locks, the audit log, alerts, and the guard's monitors, policy
 * and counters. `lockwardenctl status` prints it; the metrics file is
 * rendered from it; so the two always agree.
 */
#ifndef LW_STATUS_H
#define LW_STATUS_H

#include <json-c/json.h>

struct daemon;

struct json_object *daemon_status(struct daemon *d);

#endif

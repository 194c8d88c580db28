/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Prometheus metrics file, in node_exporter's textfile collector
 * format: rendered from the daemon's status object (daemon_status()) every
 * metrics_interval seconds, written to a temporary file and renamed into
 * place, so a scrape never sees half a file.
 */
#ifndef LW_METRICS_H
#define LW_METRICS_H

#include <json-c/json.h>

#include "loop.h"

struct metrics;

typedef struct json_object *(*metrics_collect_fn)(void *data);

/* Writes once now, then every interval_s. */
int metrics_new(const char *path, unsigned int interval_s, struct loop *loop,
		metrics_collect_fn collect, void *data, struct metrics **out);
/* Writes a last time (the final counters). NULL is fine. */
void metrics_free(struct metrics *m);

/* The text for a status object (for the file, and the tests). */
char *metrics_render(struct json_object *status);

#endif

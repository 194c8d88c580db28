/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Repeated guard records from one opener, folded: of the records with the
 * same opener (pid, uid, executable), event, op (open, truncate), severity
 * and resource within a window, the first is written, the rest are
 * counted, and at the window's end one
 * "repeated" record gives their number. So a process opening a guarded
 * image in a loop costs the log two records per window, and cannot push
 * older evidence out through rotation and retention, nor fill the queue.
 * The counters (metrics, status) still count every open. At most
 * REPEATS_MAX openers are followed at once; past that, records are
 * written as they come (bounded memory, nothing lost).
 */
#ifndef LW_REPEATS_H
#define LW_REPEATS_H

#include <json-c/json.h>
#include <stdbool.h>

#include "loop.h"

struct repeats;

/* Where the "repeated" records go; the callee takes ownership. */
typedef void (*repeats_report_fn)(void *data, struct json_object *rec);

/* window_ms 0: every record is written, none folded. */
struct repeats *repeats_new(struct loop *loop, unsigned int window_ms, repeats_report_fn report,
			    void *data);
/* Reports what is counted (repeats_flush), then frees. NULL is fine. */
void repeats_free(struct repeats *r);

/* Is rec to be written? false: it was counted (rec is not taken either way). */
bool repeats_admit(struct repeats *r, struct json_object *rec);
/* Report every count now (before an exec, at the end). */
void repeats_flush(struct repeats *r);

#endif

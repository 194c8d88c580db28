/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Audit records for people: the table both tools print (lockwarden-audit
 * for the log, lockwardenctl violations for the daemon's latest), and the
 * severity scale's order for filters.
 */
#ifndef LW_RECORDFMT_H
#define LW_RECORDFMT_H

#include <json-c/json.h>
#include <stdio.h>

void record_table_header(FILE *f);
void record_table_row(FILE *f, struct json_object *rec);

/* A record's string field, "" when absent. */
const char *record_str(struct json_object *rec, const char *key);

#endif

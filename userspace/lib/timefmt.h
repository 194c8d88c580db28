/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Times as the audit log writes them (RFC 3339, UTC, nanoseconds) and as
 * operators type them on the command line.
 */
#ifndef LW_TIMEFMT_H
#define LW_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIME_RFC3339_LEN 64

/* "2024-05-01T12:00:00.123456789Z" for ns since the epoch. */
void time_format(uint64_t ns, char buf[TIME_RFC3339_LEN]);

/*
 * Parse an operator's time into ns since the epoch: RFC 3339 (with Z or
 * an offset), "YYYY-MM-DD[ HH:MM[:SS]]" (UTC), "@SECONDS", or a duration
 * back from now: "90s", "15m", "2h", "7d". -EINVAL when it is none of these.
 */
int time_parse(const char *s, uint64_t now_ns, uint64_t *ns);

#endif

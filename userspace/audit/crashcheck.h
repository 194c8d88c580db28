/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon before this one was killed (SIGKILL, the OOM killer, a
 * crash: it left its pid file behind), and the kernel dropped every lock
 * it held. Which? Its audit records say: unless its last record is a clean
 * "daemon_stop" or "reexec" after all, its lock records since its lifetime
 * began (across its re-execs) are replayed, and one critical
 * "daemon_crashed" record names when it was last heard of and every lease
 * it held then.
 */
#ifndef LW_CRASHCHECK_H
#define LW_CRASHCHECK_H

struct json_object;

/* The "daemon_crashed" record for the audit log at audit_log, for the
 * caller to report; NULL when the previous daemon ended cleanly (or the
 * log is empty or unreadable). */
struct json_object *crashcheck_previous(const char *audit_log);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Did the daemon before this one end cleanly? Its last audit record says:
 * "daemon_stop", or "reexec" (its next image carried on). Anything else
 * means it was killed (SIGKILL, the OOM killer, a crash) and the kernel
 * dropped every lock it held. Then one critical "daemon_crashed" record
 * names the previous daemon, when it was last heard of, and every lease it
 * held then, replayed from its lock records since its lifetime began.
 */
#ifndef LW_CRASHCHECK_H
#define LW_CRASHCHECK_H

struct daemon;

void crashcheck_previous(struct daemon *d);

#endif

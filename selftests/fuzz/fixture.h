/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A real daemon for the fuzz targets: daemon_init() with its audit log,
 * sockets, pid file and state file in the sandbox's scratch directory
 * (the working directory: the paths are relative, "virtlockd-sock",
 * "virtlockd.pid") and no monitors, so that a target drives exactly what
 * lockwardend runs.
 */
#ifndef LW_FUZZ_FIXTURE_H
#define LW_FUZZ_FIXTURE_H

#include "daemon.h"

/* A fresh daemon, as if just started; aborts when it cannot be. */
void fixture_start(struct daemon *d);
/* One turn of its event loop, without blocking. */
void fixture_step(struct daemon *d);
/* Stop it and remove every file it made. */
void fixture_stop(struct daemon *d);

#endif

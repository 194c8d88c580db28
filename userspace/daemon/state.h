/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live upgrade. On SIGUSR1 the daemon writes its whole state (listening
 * sockets, clients with their owner, lockspaces and resources with their
 * fds) to the restart state file and re-execs argv[0] keeping those fds;
 * the new image verifies every inherited fd against the file and serves
 * on, so no lock and no connection is lost.
 *
 * The file is virtlockd 9.0's format (daemon.servers.{virtlockd,admin},
 * defaultLockspace, lockspaces, magic = the pid), with lockwarden's extra
 * facts under "lockwarden" keys that virtlockd ignores. So one loader
 * takes over a running virtlockd (its SIGUSR1 execs us, once installed in
 * its place) as well as our own re-exec; the older layouts with a single
 * "server" object are read too.
 */
#ifndef LW_STATE_H
#define LW_STATE_H

#include <json-c/json.h>

struct daemon;

/* Note the fds this image was started with; call first thing in main. */
void state_note_inherited(struct daemon *d);
/* Count one fd as handed over (what state_note_inherited does for each). */
void state_note_inherited_fd(struct daemon *d, int fd);

/*
 * Is this image the target of a re-exec? Returns 0 (no: start fresh),
 * 1 with *state set (yes: call state_apply), or -errno when it is but the
 * state cannot be used: the caller must exit non-zero, never start empty
 * while inherited fds still hold locks. Removes the state file.
 */
int state_probe(struct daemon *d, struct json_object **state);

/* Rebuild sockets, clients, lockspaces and resources from the state,
 * verifying each inherited fd. Any mismatch is fatal (-errno, logged). */
int state_apply(struct daemon *d, struct json_object *state);

/*
 * Save and exec. Returns only on failure, with everything as it was: the
 * daemon serves on and the error is logged.
 */
int state_reexec(struct daemon *d);

#endif

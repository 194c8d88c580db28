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
 *
 * Each object saves and restores its own part (listeners, clients,
 * lockspaces, held fds, victims, pid file, guard; see restart.h and the
 * README's Architecture); this file only assembles the document in
 * virtlockd's order and shape, and checks every inherited fd: one the
 * state does not name is closed, or kept as an orphan if it holds a lock.
 */
#ifndef LW_STATE_H
#define LW_STATE_H

#include <stdbool.h>

#include <json-c/json.h>

struct daemon;

/* Note the fds this image was started with; call first thing in main. */
void state_note_inherited(struct daemon *d);
/* Count one fd as handed over (what state_note_inherited does for each). */
void state_note_inherited_fd(struct daemon *d, int fd);

/* Was this image handed locks or sockets (a re-exec, or a virtlockd's)?
 * Then it must not exit before they are served. */
bool state_handed_over(struct daemon *d);

/*
 * Is this image the target of a re-exec? Returns 0 (no: start fresh) or
 * 1 (yes: call state_apply) with *state set, or NULL when the state cannot
 * be used: then every inherited lock is kept as an orphan, as the daemon
 * never starts empty while inherited fds hold locks. Removes the state
 * file (sets a bad one aside).
 */
int state_probe(struct daemon *d, struct json_object **state);

/*
 * Rebuild sockets, clients, lockspaces and resources from the state
 * (NULL: none usable), verifying each inherited fd. Never drops a lock:
 * an inherited lock that cannot be restored is kept as an orphan (see
 * heldfds.h), each problem logged. -EUCLEAN when anything was not
 * restored; the daemon serves on either way.
 */
int state_apply(struct daemon *d, struct json_object *state);

/*
 * Save and exec. Returns only on failure, with everything as it was: the
 * daemon serves on and the error is logged.
 */
int state_reexec(struct daemon *d);

#endif

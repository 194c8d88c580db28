/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's listening UNIX sockets (lock and admin): created mode 0700,
 * taken from systemd socket activation (LISTEN_FDS), or inherited across
 * re-exec. Accepting stops while the client limit is reached.
 */
#ifndef LW_SOCKETS_H
#define LW_SOCKETS_H

#include <stdbool.h>

#include "loop.h"
#include "restart.h"

struct listener;

/* A connection accepted on l: fd (non-blocking, close-on-exec) is the
 * callee's from then on. */
typedef void (*listener_accept_fn)(void *data, struct listener *l, int fd);

struct listener {
	struct loop_source src;
	struct loop *loop;
	listener_accept_fn accepted;
	void *data;
	int kind;			/* enum client_kind */
	char *path;
	bool paused;
};

/*
 * Bind path (refusing when a live daemon answers on it), or adopt fd >= 0
 * (activation, re-exec) after checking it is a listening UNIX socket.
 */
int listener_open(struct listener *l, struct loop *loop, int kind, const char *path, int fd,
		  listener_accept_fn accepted, void *data);
void listener_close(struct listener *l, bool unlink_path);
/* Accept only while below the kind's client limit. */
void listener_update(struct listener *l, bool below_limit);

/* Live upgrade: l's socket entry as virtlockd saves its service's one
 * socket, and the inherited fd it names, claimed (see restart.h). */
void listener_save(const struct listener *l, struct restart_writer *rw);
int listener_restore_fd(struct restart_reader *r, struct json_object *sock, const char *where,
			int *fd);

/* How many fds systemd passed this process (LISTEN_PID is ours), from fd 3. */
int sockets_systemd_count(void);
/* Sockets passed by systemd: fds[kind] or -1. Clears LISTEN_* from env. */
int sockets_from_systemd(const char *const paths[], int nkinds, int *fds);

/* virtlockd's run directory and socket paths: /run/libvirt for root, else
 * $XDG_RUNTIME_DIR/libvirt or ~/.cache/libvirt. Allocated. */
char *sockets_default_rundir(bool privileged);
char *sockets_default_path(bool privileged, int kind);

#endif

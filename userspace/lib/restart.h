/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live upgrade, the part every object shares. Each object saves itself
 * into a restart_writer (its keys, and the fds the new image must keep)
 * and restores itself from its own part of the document through a
 * restart_reader, as libvirt's objects do with their PreExecRestart and
 * NewPostExecRestart; the daemon's state.c only assembles the document.
 *
 * A reader keeps the first problem found, with where it was; the object
 * that meets it decides what to give up: one entry (restart_skip), or one
 * lock kept held unrestored (restart_orphan). Every fd the document names
 * must have been inherited and is claimed once (restart_get_fd).
 */
#ifndef LW_RESTART_H
#define LW_RESTART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "jsonw.h"
#include "xdr.h"

/* ---- writing: streamed (see jsonw.h) ---- */

struct restart_writer {
	struct jsonw w;
	int *keep;		/* fds the new image inherits */
	size_t nkeep;
};

/* fd is named in the document: it must survive the exec. */
void restart_keep(struct restart_writer *rw, int fd);
/* Clear (on false) or set close-on-exec on every kept fd. */
void restart_keep_cloexec(const struct restart_writer *rw, bool on);
/* Bytes as base64 under key (unsent and unparsed bytes of a connection). */
void restart_put_b64(struct restart_writer *rw, const char *key, const struct buf *b);
/* A socket as libvirt's virNetSocket saves it (its fd kept); pid is the
 * peer's for a connection (client true), none for a listening socket. */
void restart_put_sock(struct restart_writer *rw, const char *key, int fd, bool client,
		      pid_t pid);

/* ---- the fds this image inherited ---- */

enum {
	RESTART_FD_INHERITED	= 1 << 0,
	RESTART_FD_CLAIMED	= 1 << 1,	/* named by the document, taken */
	RESTART_FD_USED		= 1 << 2,	/* scratch, for the daemon's check */
};

/* A map indexed by fd: a re-exec hands over one per lock and connection,
 * tens of thousands of them. */
struct restart_fds {
	uint8_t *map;
	size_t size;
	bool trusted;		/* our own re-exec: every fd named was kept */
};

void restart_fds_mark(struct restart_fds *f, int fd, uint8_t bit);
uint8_t restart_fds_bits(const struct restart_fds *f, int fd);
/* Our own re-exec kept only the fds it named: every claimed one is
 * close-on-exec again, all at once. */
void restart_fds_cloexec_claimed(struct restart_fds *f);
void restart_fds_free(struct restart_fds *f);

/* ---- reading ---- */

struct restart_reader {
	const char *path;		/* the state file, for messages */
	struct restart_fds *fds;
	/* Keep fd, whose lock no object restores, held (see heldfds.h);
	 * restored: the image before kept it so already, for why. */
	void (*orphan)(void *data, int fd, const char *path, const char *why, bool restored);
	void *data;
	char *why;			/* the first problem, with where */
	size_t problems;		/* parts not restored */
};

/* Note a problem at where, unless one is noted already; -EINVAL. */
__attribute__((format(printf, 3, 4)))
int restart_bad(struct restart_reader *r, const char *where, const char *fmt, ...);
/* One part (what) cannot be restored: say so and why, go on with the rest
 * (its fds, if it named any, are the daemon's to settle). */
void restart_skip(struct restart_reader *r, const char *what);
/* A lock the document names that cannot be restored: kept, loudly. */
void restart_orphan(struct restart_reader *r, int fd, const char *path);

/* Member key of o of type, else NULL and a problem. */
struct json_object *restart_member(struct restart_reader *r, struct json_object *o,
				   const char *where, const char *key, json_type type);
int restart_get_int(struct restart_reader *r, struct json_object *o, const char *where,
		    const char *key, int64_t lo, int64_t hi, int64_t *out);
/* A key virtlockd writes but nothing needs: 0 when absent, 1 when read,
 * -EINVAL when malformed. */
int restart_get_opt_int(struct restart_reader *r, struct json_object *o, const char *where,
			const char *key, int64_t lo, int64_t hi, int64_t *out);
const char *restart_get_str(struct restart_reader *r, struct json_object *o, const char *where,
			    const char *key);
int restart_get_bool(struct restart_reader *r, struct json_object *o, const char *where,
		     const char *key, bool *out);
/* An fd the document names: it must have been inherited, and is claimed
 * here, once (close-on-exec again from then on). */
int restart_get_fd(struct restart_reader *r, struct json_object *o, const char *where,
		   const char *key, int *fd);
/* Strict base64, as restart_put_b64 writes it, appended to out; -EINVAL. */
int restart_b64_decode(const char *s, struct buf *out);

#endif

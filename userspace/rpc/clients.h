/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client table: every accepted connection on the lock and admin
 * sockets, its peer credentials, the lock owner it registered, and its
 * message framing. Reading is non-blocking and bounded per client, so a
 * slow or hostile client never stalls the others: complete frames are
 * handed to the table's frame handler one at a time, replies queue in
 * the client's tx buffer, and a client that does not read its replies is
 * not read from until it does.
 */
#ifndef LW_CLIENTS_H
#define LW_CLIENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lock_protocol.h"
#include "hashmap.h"
#include "loop.h"
#include "ownerid.h"
#include "restart.h"
#include "xdr.h"

/* The largest frame accepted: libvirt's legacy payload limit. The lock
 * program's largest call (two 64 KiB strings) fits with room to spare. */
#define CLIENT_FRAME_MAX	262144
/* Stop reading a client whose unsent replies exceed this: with the read
 * held back (one scratch buffer), a client that never reads costs the
 * daemon at most about 128 KiB plus one reply, so max_clients of them stay
 * bounded. A lock client waits for each reply, far below it. */
#define CLIENT_TX_HIGH		(64u << 10)

enum client_kind {
	CLIENT_LOCK,
	CLIENT_ADMIN,
	CLIENT_KINDS,
};

/* The socket's name in records and tools ("lock", "admin"), and the
 * server's in libvirt's admin protocol and state file ("virtlockd", "admin"). */
extern const char *const client_kind_name[CLIENT_KINDS];
extern const char *const client_server_name[CLIENT_KINDS];

struct client {
	struct loop_source src;
	struct client_table *table;
	uint64_t id;
	enum client_kind kind;
	pid_t pid;			/* peer credentials at connect */
	uid_t uid;
	gid_t gid;
	uint64_t connect_time;		/* CLOCK_REALTIME ns */

	/* The lock owner this connection registered (virLockDaemonClient). */
	bool restricted;
	pid_t owner_pid;
	unsigned int owner_id;
	char *owner_name;
	uint8_t owner_uuid[LOCK_UUID_LEN];
	struct ownerid ident;		/* owner_pid's process, taken at REGISTER */

	char owner_key[16];		/* in the owner index, when indexed */

	struct buf rx;			/* a partial frame, or frames held back */
	struct buf tx;			/* replies not yet written */
	bool closing;
	struct client *prev, *next;
};

struct client_ops {
	/* One complete frame; append any reply to c->tx. A negative return
	 * closes the client. */
	int (*frame)(void *data, struct client *c, const uint8_t *frame, size_t len);
	/* The connection is gone (EOF, error, or closed by us): release what
	 * it holds. Runs once, before the client is freed. */
	void (*closed)(void *data, struct client *c);
	void *data;
};

struct client_table {
	struct loop *loop;
	struct client *head;
	struct client *dead;		/* closed, freed after the event batch */
	size_t count[CLIENT_KINDS];
	uint64_t next_id;
	struct client_ops ops;
	struct hashmap owners;		/* owner pid -> a client registered for it */
	uint8_t scratch[65536];
};

void clients_init(struct client_table *t, struct loop *l, const struct client_ops *ops);
/* Close every connection without running ops.closed (shutdown, re-exec). */
void clients_fini(struct client_table *t);

/* Take over a connected socket; reads peer credentials. */
int clients_add(struct client_table *t, int fd, enum client_kind kind, struct client **out);
/* Close: runs ops.closed now, frees after the current event batch. */
void client_close(struct client *c, const char *why);
/* Free closed clients; the daemon calls this after each event batch. */
void clients_reap(struct client_table *t);
/* Close every client whose process is gone (before a re-exec). */
void clients_close_orphans(struct client_table *t);

/* Write what is queued; arranges EPOLLOUT when the socket is full. */
void client_flush(struct client *c);
/* Handle frames already buffered (after a pause for tx backpressure). */
void client_resume(struct client *c);

struct client *clients_find(struct client_table *t, uint64_t id);

/* After REGISTER set c's owner fields: index it by owner pid. */
void client_index_owner(struct client *c);
/* A live client registered for owner pid (its VM name and uuid), or NULL. */
struct client *clients_owner(struct client_table *t, pid_t pid);
/* The identity of owner pid some live client holds, by the index alone
 * (no scan: this is on every REGISTER), or NULL. */
const struct ownerid *clients_owner_ident(struct client_table *t, pid_t pid);
size_t clients_count(const struct client_table *t, enum client_kind kind);

/*
 * Live upgrade. The clients of kind as their server's "clients", each as
 * virtlockd saves a virNetServerClient (its lock owner in privateData),
 * plus under "lockwarden" its unsent and unparsed bytes and its owner's
 * identity as taken at REGISTER, whose pidfd the new image keeps.
 */
void clients_save(const struct client_table *t, enum client_kind kind,
		  struct restart_writer *rw);
/*
 * Take over the client entry o of kind, its socket inherited, into *out.
 * -EINVAL and the problem noted in r when it cannot be restored in full;
 * a connection taken over before the problem stays open, not resumed.
 */
int client_restore(struct client_table *t, struct restart_reader *r, enum client_kind kind,
		   struct json_object *o, const char *where, struct client **out);
/* The table's next client id, as a server's "next_client_id". */
void clients_save_next_id(const struct client_table *t, struct restart_writer *rw);
int clients_restore_next_id(struct client_table *t, struct restart_reader *r,
			    struct json_object *server, const char *where);

/* Visit every fd the table holds: connections and their owners' pidfds. */
void clients_foreach_fd(const struct client_table *t, void (*fn)(int fd, void *arg), void *arg);

#define clients_foreach(t, c) \
	for ((c) = (t)->head; (c); (c) = (c)->next) if (!(c)->closing)

#endif

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <unistd.h>

#include "clients.h"
#include "log.h"
#include "rpc.h"
#include "util.h"

const char *const client_kind_name[CLIENT_KINDS] = { "lock", "admin" };
const char *const client_server_name[CLIENT_KINDS] = { "virtlockd", "admin" };

void clients_init(struct client_table *t, struct loop *l, const struct client_ops *ops)
{
	memset(t, 0, sizeof(*t));
	t->loop = l;
	t->ops = *ops;
	t->next_id = 1;
	hashmap_init(&t->owners);
}

static void client_free(struct client *c)
{
	safe_close(c->src.fd);
	buf_free(&c->rx);
	buf_free(&c->tx);
	ownerid_clear(&c->ident);
	free(c->owner_name);
	free(c);
}

static void unindex_owner(struct client *c)
{
	if (c->owner_key[0] && hashmap_get(&c->table->owners, c->owner_key) == c)
		hashmap_remove(&c->table->owners, c->owner_key);
	c->owner_key[0] = '\0';
}

static void unlink_client(struct client_table *t, struct client *c)
{
	unindex_owner(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		t->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

void clients_fini(struct client_table *t)
{
	struct client *c;

	clients_reap(t);
	while ((c = t->head)) {
		unlink_client(t, c);
		loop_del(t->loop, &c->src);
		client_free(c);
	}
	t->count[CLIENT_LOCK] = t->count[CLIENT_ADMIN] = 0;
	hashmap_free(&t->owners);
}

void clients_reap(struct client_table *t)
{
	struct client *c;

	while ((c = t->dead)) {
		t->dead = c->next;
		client_free(c);
	}
}

void client_close(struct client *c, const char *why)
{
	struct client_table *t = c->table;

	if (c->closing)
		return;
	log_debug("client %llu (pid %d): closing: %s", (unsigned long long)c->id, c->pid, why);
	c->closing = true;
	loop_del(t->loop, &c->src);
	unlink_client(t, c);
	t->count[c->kind]--;
	if (t->ops.closed)
		t->ops.closed(t->ops.data, c);
	c->next = t->dead;
	t->dead = c;
}

/*
 * Its end, unread yet or near: the process has exited, or only a child it
 * forked holds the connection. virtlockd, when it is the image a re-exec
 * starts (the package's removal), looks each client's process up and exits
 * with every lock when one is missing; so such a client ends now, as its
 * hangup would end it.
 */
void clients_close_orphans(struct client_table *t)
{
	struct client *c, *next;

	for (c = t->head; c; c = next) {
		next = c->next;
		if (!c->closing && c->pid > 0 && kill(c->pid, 0) < 0 && errno == ESRCH)
			client_close(c, "its process is gone");
	}
}

/* A whole frame (or a bad length, which handle_frames closes for) in rx:
 * it waits for tx to drain, and nothing more is read meanwhile. */
static bool rx_has_frame(const struct client *c)
{
	uint32_t total;

	if (c->rx.len < RPC_LEN_SIZE)
		return false;
	return rpc_frame_len(c->rx.data, CLIENT_FRAME_MAX, &total) < 0 || c->rx.len >= total;
}

/* Read only what can be served: a client that does not read its replies
 * holds at most CLIENT_TX_HIGH of them and one read of requests. */
static bool may_read(const struct client *c)
{
	return c->tx.len < CLIENT_TX_HIGH && !rx_has_frame(c);
}

static void update_events(struct client *c)
{
	uint32_t ev = 0;

	if (may_read(c))
		ev |= EPOLLIN;
	if (c->tx.len)
		ev |= EPOLLOUT;
	if (loop_mod(c->table->loop, &c->src, ev) < 0)
		client_close(c, "cannot update its events");
}

/* Write what the socket takes; 0, or -EPIPE when the client was closed. */
static int send_queued(struct client *c)
{
	size_t done = 0;

	while (done < c->tx.len) {
		ssize_t n = send(c->src.fd, c->tx.data + done, c->tx.len - done,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			buf_consume(&c->tx, done);
			client_close(c, "write failed");
			return -EPIPE;
		}
		done += n;
	}
	buf_consume(&c->tx, done);
	return 0;
}

void client_flush(struct client *c)
{
	if (send_queued(c) == 0)
		update_events(c);
}

/*
 * Hand every complete frame in p[0..len) to the frame handler; returns
 * how many bytes were used. Stops early when the client closes or has
 * too many unsent replies.
 */
static size_t handle_frames(struct client *c, const uint8_t *p, size_t len)
{
	struct client_table *t = c->table;
	size_t used = 0;

	while (!c->closing && len - used >= RPC_LEN_SIZE && c->tx.len < CLIENT_TX_HIGH) {
		uint32_t total;
		int rc = rpc_frame_len(p + used, CLIENT_FRAME_MAX, &total);

		if (rc < 0) {
			log_warn("client %llu (pid %d): %s frame length; closing the connection",
				 (unsigned long long)c->id, c->pid,
				 rc == -EMSGSIZE ? "oversized" : "invalid");
			client_close(c, "bad frame length");
			break;
		}
		if (len - used < total)
			break;
		if (t->ops.frame(t->ops.data, c, p + used, total) < 0) {
			client_close(c, "bad frame");
			break;
		}
		used += total;
	}
	return used;
}

/* Keep what handle_frames left for later. */
static void keep_rest(struct client *c, const uint8_t *p, size_t len)
{
	buf_reserve(&c->rx, len);
	memmove(c->rx.data, p, len);
	c->rx.len = len;
}

void client_resume(struct client *c)
{
	/* Serve the frames rx holds for as long as the socket takes the replies. */
	do {
		size_t used = handle_frames(c, c->rx.data, c->rx.len);

		if (c->closing)
			return;
		buf_consume(&c->rx, used);
		if (send_queued(c) < 0)
			return;
	} while (c->tx.len < CLIENT_TX_HIGH && rx_has_frame(c));
	update_events(c);
}

static void client_read(struct client *c)
{
	struct client_table *t = c->table;
	size_t used;
	ssize_t n;

	n = recv(c->src.fd, t->scratch, sizeof(t->scratch), MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_close(c, "read failed");
		return;
	}
	if (n == 0) {
		client_close(c, "end of file");
		return;
	}
	if (c->rx.len == 0) {
		/* The common case: whole frames, straight from the scratch buffer. */
		used = handle_frames(c, t->scratch, n);
		if (!c->closing && used < (size_t)n)
			keep_rest(c, t->scratch + used, n - used);
	} else {
		buf_reserve(&c->rx, n);
		memcpy(c->rx.data + c->rx.len, t->scratch, n);
		c->rx.len += n;
		used = handle_frames(c, c->rx.data, c->rx.len);
		if (!c->closing)
			buf_consume(&c->rx, used);
	}
	if (!c->closing)
		client_resume(c);
}

static void client_event(struct loop_source *src, uint32_t events)
{
	struct client *c = container_of(src, struct client, src);

	if (events & EPOLLOUT)
		client_resume(c);
	if (c->closing || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	/* EPOLLIN may come with an EPOLLOUT whose resume filled tx again. */
	if (may_read(c))
		client_read(c);
	else if (events & (EPOLLHUP | EPOLLERR))
		client_close(c, "hung up with replies unsent");
}

int clients_add(struct client_table *t, int fd, enum client_kind kind, struct client **out)
{
	struct client *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int rc;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	c = xcalloc(1, sizeof(*c));
	c->table = t;
	c->id = t->next_id++;
	c->kind = kind;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->connect_time = now_real_ns();
	c->ident = OWNERID_NONE;
	c->src.fd = fd;
	if ((rc = loop_add(t->loop, &c->src, fd, EPOLLIN, client_event)) < 0) {
		c->src.fd = -1;		/* the caller still owns fd */
		client_free(c);
		return rc;
	}
	c->next = t->head;
	if (t->head)
		t->head->prev = c;
	t->head = c;
	t->count[kind]++;
	*out = c;
	return 0;
}

/*
 * The guard names the VM of every lock owner on every acquire; with a
 * thousand clients a scan of the table each time would cost more than
 * the lock. Several clients may register one owner pid (a VM's own
 * connection, libvirtd's on its behalf): any of them names the VM.
 */
void client_index_owner(struct client *c)
{
	unindex_owner(c);
	if (!c->owner_id || !c->owner_name)
		return;
	snprintf(c->owner_key, sizeof(c->owner_key), "%d", c->owner_pid);
	if (!hashmap_get(&c->table->owners, c->owner_key))
		hashmap_put(&c->table->owners, c->owner_key, c);
}

static struct client *indexed_owner(struct client_table *t, pid_t pid)
{
	char key[16];

	snprintf(key, sizeof(key), "%d", pid);
	return hashmap_get(&t->owners, key);
}

const struct ownerid *clients_owner_ident(struct client_table *t, pid_t pid)
{
	struct client *c = indexed_owner(t, pid);

	return c ? &c->ident : NULL;
}

struct client *clients_owner(struct client_table *t, pid_t pid)
{
	struct client *c;

	if ((c = indexed_owner(t, pid)))
		return c;
	/* Its indexed client went; another may have registered it too. */
	clients_foreach(t, c) {
		if (c->owner_id && c->owner_pid == pid && c->owner_name) {
			client_index_owner(c);
			return c;
		}
	}
	return NULL;
}

struct client *clients_find(struct client_table *t, uint64_t id)
{
	struct client *c;

	clients_foreach(t, c)
		if (c->id == id)
			return c;
	return NULL;
}

size_t clients_count(const struct client_table *t, enum client_kind kind)
{
	return t->count[kind];
}

/* ---- live upgrade ---- */

static void client_save(const struct client *c, struct restart_writer *rw)
{
	struct jsonw *w = &rw->w;
	char uuid[UUID_STR_LEN];

	jw_object(w, NULL);
	jw_int(w, "id", c->id);
	jw_int(w, "auth", 0);
	jw_bool(w, "auth_pending", false);
	jw_bool(w, "readonly", false);
	jw_int(w, "nrequests_max", 1);
	jw_int(w, "conn_time", c->connect_time / 1000000000ull);
	restart_put_sock(rw, "sock", c->src.fd, true, c->pid);
	jw_object(w, "privateData");
	if (c->kind == CLIENT_LOCK) {
		uuid_format(c->owner_uuid, uuid);
		jw_bool(w, "restricted", c->restricted);
		jw_int(w, "ownerPid", (uint32_t)c->owner_pid);
		jw_int(w, "ownerId", c->owner_id);
		jw_str(w, "ownerName", c->owner_name ? c->owner_name : "");
		jw_str(w, "ownerUUID", uuid);
	}
	jw_end(w);
	jw_object(w, "lockwarden");
	restart_put_b64(rw, "rx", &c->rx);
	restart_put_b64(rw, "tx", &c->tx);
	jw_int(w, "connect_time_ns", c->connect_time);
	if (c->kind == CLIENT_LOCK && c->owner_id) {
		/* Its owner's identity: what it was at REGISTER, not what
		 * the pid names after the exec. */
		jw_object(w, "owner");
		jw_int(w, "start", c->ident.start == OWNERID_GONE ? -1 : (int64_t)c->ident.start);
		jw_int(w, "pidfd", c->ident.pidfd);
		jw_end(w);
		if (c->ident.pidfd >= 0)
			restart_keep(rw, c->ident.pidfd);
	}
	jw_end(w);
	jw_end(w);
}

void clients_save(const struct client_table *t, enum client_kind kind,
		  struct restart_writer *rw)
{
	struct client *c;

	jw_array(&rw->w, "clients");
	clients_foreach(t, c)
		if (c->kind == kind)
			client_save(c, rw);
	jw_end(&rw->w);
}

void clients_save_next_id(const struct client_table *t, struct restart_writer *rw)
{
	jw_int(&rw->w, "next_client_id", t->next_id);
}

int clients_restore_next_id(struct client_table *t, struct restart_reader *r,
			    struct json_object *server, const char *where)
{
	int64_t next;
	int rc;

	if ((rc = restart_get_opt_int(r, server, where, "next_client_id", 0, INT64_MAX, &next)) < 0)
		return rc;
	if (rc && (uint64_t)next > t->next_id)
		t->next_id = next;
	return 0;
}

static int parse_uuid(const char *s, uint8_t *u)
{
	for (int i = 0; i < LOCK_UUID_LEN; i++) {
		unsigned int byte;

		if (*s == '-')
			s++;
		if (sscanf(s, "%2x", &byte) != 1)
			return -EINVAL;
		u[i] = byte;
		s += 2;
	}
	return *s ? -EINVAL : 0;
}

static int check_connected(int fd)
{
	int type = 0, domain = 0;
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return -errno;
	if (type != SOCK_STREAM || domain != AF_UNIX || fd_is_listener(fd))
		return -ENOTCONN;
	return fd_set_nonblock(fd);
}

static int restore_private(struct restart_reader *r, struct client *c, struct json_object *priv,
			   const char *where)
{
	const char *name, *uuid;
	int64_t pid, id;

	if (restart_get_bool(r, priv, where, "restricted", &c->restricted) < 0 ||
	    restart_get_int(r, priv, where, "ownerPid", 0, UINT32_MAX, &pid) < 0 ||
	    restart_get_int(r, priv, where, "ownerId", 0, UINT32_MAX, &id) < 0)
		return -EINVAL;
	c->owner_pid = (pid_t)pid;
	c->owner_id = id;
	if (!id)
		return 0;	/* never registered: name and uuid are meaningless */
	if (!(name = restart_get_str(r, priv, where, "ownerName")) ||
	    !(uuid = restart_get_str(r, priv, where, "ownerUUID")))
		return -EINVAL;
	if (parse_uuid(uuid, c->owner_uuid) < 0)
		return restart_bad(r, where, "malformed ownerUUID '%s'", uuid);
	c->owner_name = xstrdup(name);
	client_index_owner(c);
	return 0;
}

/*
 * The owner's identity as the old image took it at REGISTER; a state
 * without one (virtlockd's) gets it taken now, from the process that has
 * the pid now: the best there is.
 */
static int restore_ident(struct restart_reader *r, struct client *c, struct json_object *ext,
			 const char *where)
{
	struct json_object *own;
	int64_t start, fd;
	int pidfd = -1;

	if (!ext || !json_object_object_get_ex(ext, "owner", &own)) {
		ownerid_take(&c->ident, c->src.fd, c->pid, c->owner_pid, NULL);
		return 0;
	}
	if (!json_object_is_type(own, json_type_object) ||
	    restart_get_int(r, own, where, "start", -1, INT64_MAX, &start) < 0 ||
	    restart_get_int(r, own, where, "pidfd", -1, 1 << 20, &fd) < 0 ||
	    (fd >= 0 && restart_get_fd(r, own, where, "pidfd", &pidfd) < 0))
		return restart_bad(r, where, "malformed owner identity");
	c->ident.pid = c->owner_pid;
	c->ident.start = start < 0 ? OWNERID_GONE : (uint64_t)start;
	c->ident.pidfd = pidfd;
	return 0;
}

int client_restore(struct client_table *t, struct restart_reader *r, enum client_kind kind,
		   struct json_object *o, const char *where, struct client **out)
{
	struct json_object *sock, *priv, *ext = NULL;
	struct client *c;
	int64_t id, tm;
	int fd, rc;

	if (restart_get_int(r, o, where, "id", 0, INT64_MAX, &id) < 0 ||
	    !(sock = restart_member(r, o, where, "sock", json_type_object)) ||
	    restart_get_fd(r, sock, where, "fd", &fd) < 0)
		return -EINVAL;
	if ((rc = check_connected(fd)) < 0)
		return restart_bad(r, where, "inherited fd %d is not a connected UNIX socket: %s",
				   fd, strerror(-rc));
	if ((rc = clients_add(t, fd, kind, &c)) < 0)
		return restart_bad(r, where, "cannot take over the connection on fd %d: %s",
				   fd, strerror(-rc));
	c->id = id;
	if ((rc = restart_get_opt_int(r, o, where, "conn_time", 0, INT64_MAX / 1000000000, &tm)) < 0)
		return rc;
	if (rc)
		c->connect_time = tm * 1000000000ull;
	if (kind == CLIENT_LOCK) {
		if (!(priv = restart_member(r, o, where, "privateData", json_type_object)) ||
		    restore_private(r, c, priv, where) < 0)
			return -EINVAL;
	}
	if (json_object_object_get_ex(o, "lockwarden", &ext)) {
		const char *rx = restart_get_str(r, ext, where, "rx");
		const char *tx = restart_get_str(r, ext, where, "tx");

		if (!rx || !tx || restart_b64_decode(rx, &c->rx) < 0 ||
		    restart_b64_decode(tx, &c->tx) < 0)
			return restart_bad(r, where, "malformed buffered data");
		if (restart_get_int(r, ext, where, "connect_time_ns", 0, INT64_MAX, &tm) < 0)
			return -EINVAL;
		c->connect_time = tm;
	}
	if (kind == CLIENT_LOCK && c->owner_id && restore_ident(r, c, ext, where) < 0)
		return -EINVAL;
	*out = c;
	return 0;
}

void clients_foreach_fd(const struct client_table *t, void (*fn)(int fd, void *arg), void *arg)
{
	for (struct client *c = t->head; c; c = c->next) {
		fn(c->src.fd, arg);
		if (c->ident.pidfd >= 0)
			fn(c->ident.pidfd, arg);
	}
}

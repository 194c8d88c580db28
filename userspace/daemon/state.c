// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <linux/close_range.h>
#include <unistd.h>
#include <nettle/base64.h>

#include "daemon.h"
#include "events.h"
#include "jsonw.h"
#include "log.h"
#include "pidfile.h"
#include "state.h"
#include "util.h"

/* Set by an image that re-execs itself: the new image must find its state. */
#define REEXEC_ENV	"LOCKWARDEN_REEXEC"
#define STATE_MAX	(256u << 20)
#define STATE_VERSION	1


/* ---- fds ---- */

struct fdlist {
	int *fd;
	size_t n;
};

static void fdlist_add(struct fdlist *l, int fd)
{
	l->fd = xrealloc(l->fd, (l->n + 1) * sizeof(int));
	l->fd[l->n++] = fd;
}

enum { INHERITED = 1, CLAIMED = 2, USED = 4 };

static void mark(struct daemon *d, int fd, uint8_t bit)
{
	if ((size_t)fd >= d->inherited.size) {
		size_t n = d->inherited.size ? d->inherited.size : 64;

		while (n <= (size_t)fd)
			n *= 2;
		d->inherited.map = xrealloc(d->inherited.map, n);
		memset(d->inherited.map + d->inherited.size, 0, n - d->inherited.size);
		d->inherited.size = n;
	}
	d->inherited.map[fd] |= bit;
}

/*
 * The fds this image was started with, as a map indexed by fd: a re-exec
 * hands over one per lock and connection, tens of thousands of them. Our
 * own re-exec keeps exactly the fds its state names (all others are
 * close-on-exec), so then the costly /proc scan is skipped.
 */
void state_note_inherited(struct daemon *d)
{
	struct dirent *e;
	DIR *dir;

	if (getenv(REEXEC_ENV)) {
		d->inherited.trusted = true;
		return;
	}
	if (!(dir = opendir("/proc/self/fd")))
		return;
	while ((e = readdir(dir))) {
		int fd = atoi(e->d_name);

		if (fd > 2 && fd != dirfd(dir))
			state_note_inherited_fd(d, fd);
	}
	closedir(dir);
}

void state_note_inherited_fd(struct daemon *d, int fd)
{
	mark(d, fd, INHERITED);
}

static uint8_t fd_bits(const struct daemon *d, int fd)
{
	return fd >= 0 && (size_t)fd < d->inherited.size ? d->inherited.map[fd] : 0;
}

/*
 * Account for an fd the state names; each may be named once. A claimed fd
 * is ours again: close-on-exec until the next re-exec clears it (in our
 * own re-exec, state_apply sets that on all fds at once). Whether it is
 * open and what it should be, each one's own check finds out.
 */
static bool claim_fd(struct daemon *d, int fd)
{
	if (fd <= 2 || (fd_bits(d, fd) & CLAIMED))
		return false;
	if (!d->inherited.trusted &&
	    (!(fd_bits(d, fd) & INHERITED) || fd_set_cloexec(fd, true) < 0))
		return false;
	mark(d, fd, CLAIMED);
	return true;
}

/*
 * Our own re-exec kept exactly the fds its state names: all of them are
 * close-on-exec again, in one call instead of thousands (one by one where
 * close_range cannot, before Linux 5.11).
 */
static void cloexec_claimed(struct daemon *d)
{
	if (!d->inherited.trusted || close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (size_t fd = 0; fd < d->inherited.size; fd++)
		if (fd_bits(d, fd) & CLAIMED)
			fd_set_cloexec(fd, true);
}

/* Does fd carry a lock of ours? /proc/self/fdinfo lists the locks held
 * through it (OFD) or by this process on its file (POSIX). */
static bool fd_has_lock(int fd)
{
	char path[64], *text;
	bool locked;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_file(path, 1 << 20, &text, NULL) < 0)
		return false;
	locked = strstr(text, "\nlock:") != NULL;
	free(text);
	return locked;
}

static bool fd_is_listener(int fd)
{
	int val = 0;
	socklen_t len = sizeof(val);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) == 0 && val;
}

/* The sockets systemd passes for socket activation: fds 3.. */
static bool from_systemd(int fd)
{
	return fd >= 3 && fd < 3 + sockets_systemd_count();
}

/* Were we handed what only an exec'ing lock daemon hands on: listening
 * sockets (other than systemd's) or locks? Then starting with an empty
 * table would drop them. */
static size_t inherited_holdings(struct daemon *d)
{
	size_t n = 0;

	for (size_t fd = 0; fd < d->inherited.size; fd++)
		n += fd_bits(d, fd) == INHERITED && !from_systemd(fd) &&
		     (fd_is_listener(fd) || fd_has_lock(fd));
	return n;
}

/* Our own re-exec noted no fds (it knew them all); when its state fails
 * us after all, every fd not claimed yet is one it handed over. */
static void note_unclaimed(struct daemon *d)
{
	struct dirent *e;
	DIR *dir;

	if (!(dir = opendir("/proc/self/fd")))
		return;
	while ((e = readdir(dir))) {
		int fd = atoi(e->d_name);

		if (fd > 2 && fd != dirfd(dir) && !(fd_bits(d, fd) & CLAIMED))
			state_note_inherited_fd(d, fd);
	}
	closedir(dir);
}

static void mark_used(struct daemon *d, int fd)
{
	if (fd >= 0 && (fd_bits(d, fd) & CLAIMED))
		mark(d, fd, USED);
}

static int resource_used(struct lockspace *ls, struct resource *res, void *arg)
{
	mark_used(arg, res->fd);
	return 0;
}

static void victim_used(int pidfd, pid_t pid, bool sent_kill, void *arg)
{
	mark_used(arg, pidfd);
}

/*
 * After a problem: an fd the state named but nothing took over (a lock's
 * fd named as a client's socket, say) is unclaimed again, so that
 * settle_unclaimed keeps its lock, if it has one. Only then: it reads
 * every claimed fd's neighbours.
 */
static void unclaim_unused(struct daemon *d)
{
	struct client *c;

	lockspaces_foreach_resource(&d->spaces, resource_used, d);
	for (size_t i = 0; i < d->spaces.held.n; i++)
		mark_used(d, d->spaces.held.v[i].fd);
	for (int k = 0; k < CLIENT_KINDS; k++)
		if (d->listeners[k].path)
			mark_used(d, d->listeners[k].src.fd);
	clients_foreach(&d->clients, c)
		mark_used(d, c->src.fd);
	reaper_foreach(&d->reaper, victim_used, d);
	mark_used(d, d->pid_fd);
	for (size_t fd = 0; fd < d->inherited.size; fd++)
		if ((d->inherited.map[fd] & (CLAIMED | USED)) == CLAIMED)
			d->inherited.map[fd] = INHERITED;
		else
			d->inherited.map[fd] &= ~USED;
}

static bool same_file(const struct stat *st, const char *path)
{
	struct stat pst;

	return stat(path, &pst) == 0 && pst.st_dev == st->st_dev && pst.st_ino == st->st_ino;
}

bool state_handed_over(struct daemon *d)
{
	return getenv(REEXEC_ENV) || inherited_holdings(d);
}

/*
 * What was inherited but not named by the state is closed at the next
 * exec (made close-on-exec), except a lock. An fd of a file whose adopted
 * POSIX lock a resource holds is parked (closing any fd of that file would
 * drop the lock); any other fd holding a lock is kept as an orphan, why
 * says why no state entry restored it. Our old pid file lock goes: the pid
 * file is taken again; and so does a listening socket, bound again.
 */
static void settle_unclaimed(struct daemon *d, const char *why)
{
	for (int fd = 0; (size_t)fd < d->inherited.size; fd++) {
		struct stat st;

		if (fd_bits(d, fd) != INHERITED || from_systemd(fd))
			continue;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    lockspaces_posix_held(&d->spaces, st.st_dev, st.st_ino) &&
		    held_fds_add(&d->spaces.held, fd, NULL, NULL) == 0) {
			log_warn("inherited fd %d refers to a file locked by an adopted POSIX lock; "
				 "keeping it open", fd);
			continue;
		}
		if (fd_is_listener(fd)) {
			/* else connections queue on it unanswered: its path is bound afresh */
			log_warn("inherited listening socket fd %d is not in the state; closing it", fd);
			close(fd);
			continue;
		}
		if (same_file(&st, d->paths.pidfile)) {
			close(fd);
			continue;
		}
		if (fd_has_lock(fd)) {
			daemon_hold_orphan(d, fd, NULL, why, false);
			continue;
		}
		log_debug("inherited fd %d is not in the state; closing it at the next exec", fd);
		fd_set_cloexec(fd, true);
	}
	free(d->inherited.map);
	memset(&d->inherited, 0, sizeof(d->inherited));
}

/* ---- base64, for unsent and unparsed bytes of a connection ---- */

static char *b64_encode(const uint8_t *p, size_t n)
{
	char *out = xmalloc(BASE64_ENCODE_RAW_LENGTH(n) + 1);

	base64_encode_raw(out, n, p);
	out[BASE64_ENCODE_RAW_LENGTH(n)] = '\0';
	return out;
}

/* Strict, as the format is written: padded, no line breaks or spaces
 * (nettle's decoder would skip those). */
static int b64_decode(const char *s, struct buf *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
	struct base64_decode_ctx ctx;
	size_t n = strlen(s), got;

	if (n % 4 || strspn(s, alphabet) != n)
		return -EINVAL;
	if (!n)
		return 0;
	buf_reserve(out, BASE64_DECODE_LENGTH(n));
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &got, out->data + out->len, n, s) ||
	    !base64_decode_final(&ctx))
		return -EINVAL;
	out->len += got;
	return 0;
}

/* ---- saving: streamed, no object tree (see jsonw.h) ---- */

struct saver {
	struct jsonw w;
	struct fdlist keep;		/* fds the new image inherits */
	struct json_object *guard;	/* the monitors' own hand-over */
};

static void save_b64(struct saver *sv, const char *key, const struct buf *b)
{
	char *s = b64_encode(b->data, b->len);

	jw_str(&sv->w, key, s);
	free(s);
}

static void save_sock(struct saver *sv, int fd, bool client, pid_t pid)
{
	jw_object(&sv->w, "sock");
	jw_int(&sv->w, "fd", fd);
	jw_int(&sv->w, "errfd", -1);
	jw_int(&sv->w, "pid", client ? pid : 0);
	jw_bool(&sv->w, "isClient", client);
	jw_bool(&sv->w, "unlinkUNIX", !client);
	jw_end(&sv->w);
	fdlist_add(&sv->keep, fd);
}

static void save_client(struct saver *sv, struct client *c)
{
	struct jsonw *w = &sv->w;
	char uuid[UUID_STR_LEN];

	jw_object(w, NULL);
	jw_int(w, "id", c->id);
	jw_int(w, "auth", 0);
	jw_bool(w, "auth_pending", false);
	jw_bool(w, "readonly", false);
	jw_int(w, "nrequests_max", 1);
	jw_int(w, "conn_time", c->connect_time / 1000000000ull);
	save_sock(sv, c->src.fd, true, c->pid);
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
	save_b64(sv, "rx", &c->rx);
	save_b64(sv, "tx", &c->tx);
	jw_int(w, "connect_time_ns", c->connect_time);
	if (c->kind == CLIENT_LOCK && c->owner_id) {
		/* Its owner's identity: what it was at REGISTER, not what
		 * the pid names after the exec. */
		jw_object(w, "owner");
		jw_int(w, "start", c->ident.start == OWNERID_GONE ? -1 : (int64_t)c->ident.start);
		jw_int(w, "pidfd", c->ident.pidfd);
		jw_end(w);
		if (c->ident.pidfd >= 0)
			fdlist_add(&sv->keep, c->ident.pidfd);
	}
	jw_end(w);
	jw_end(w);
}

static void save_server(struct saver *sv, struct daemon *d, enum client_kind k)
{
	unsigned int max = k == CLIENT_LOCK ? d->cfg.max_clients : d->cfg.admin_max_clients;
	struct jsonw *w = &sv->w;
	struct client *c;

	jw_object(w, client_server_name[k]);
	jw_int(w, "min_workers", 0);
	jw_int(w, "max_workers", 0);
	jw_int(w, "priority_workers", 0);
	jw_int(w, "max_clients", max);
	jw_int(w, "max_anonymous_clients", max);
	jw_int(w, "keepaliveInterval", 4294967295u);	/* virtlockd's -1: no keepalive */
	jw_int(w, "keepaliveCount", 0);
	jw_int(w, "next_client_id", d->clients.next_id);
	jw_array(w, "services");
	jw_object(w, NULL);
	jw_int(w, "auth", 0);
	jw_bool(w, "readonly", false);
	jw_int(w, "nrequests_client_max", 1);
	jw_array(w, "socks");
	jw_object(w, NULL);
	jw_int(w, "fd", d->listeners[k].src.fd);
	jw_int(w, "errfd", -1);
	jw_int(w, "pid", 0);
	jw_bool(w, "isClient", false);
	jw_bool(w, "unlinkUNIX", true);
	jw_end(w);
	fdlist_add(&sv->keep, d->listeners[k].src.fd);
	jw_end(w);
	jw_end(w);
	jw_end(w);
	jw_array(w, "clients");
	clients_foreach(&d->clients, c)
		if (c->kind == k)
			save_client(sv, c);
	jw_end(w);
	jw_end(w);
}

static int save_resource(struct lockspace *ls, struct resource *res, void *arg)
{
	struct saver *sv = arg;
	struct jsonw *w = &sv->w;

	jw_object(w, NULL);
	jw_str(w, "name", res->name);
	jw_str(w, "path", res->path);
	jw_int(w, "fd", res->fd);
	jw_bool(w, "lockHeld", true);
	jw_int(w, "flags", res->flags);
	jw_array(w, "owners");
	for (size_t i = 0; i < res->nowners; i++)
		jw_int(w, NULL, res->owners[i]);
	jw_end(w);
	/* [posix, dev, ino, id]: an array, as json-c reads ten thousand of
	 * them several times faster than objects. */
	jw_array(w, "lockwarden");
	jw_bool(w, NULL, res->posix);
	jw_int(w, NULL, res->dev);
	jw_int(w, NULL, res->ino);
	jw_int(w, NULL, res->id);
	jw_end(w);
	jw_end(w);
	fdlist_add(&sv->keep, res->fd);
	return 0;
}

static void save_lockspace(struct saver *sv, const char *key, struct lockspace *ls)
{
	jw_object(&sv->w, key);
	if (lockspace_dir(ls))
		jw_str(&sv->w, "directory", lockspace_dir(ls));
	jw_array(&sv->w, "resources");
	lockspace_foreach(ls, save_resource, sv);
	jw_end(&sv->w);
	jw_end(&sv->w);
}

static int save_indirect(struct lockspace *ls, void *arg)
{
	if (lockspace_dir(ls))
		save_lockspace(arg, NULL, ls);
	return 0;
}

static void save_victim(int pidfd, pid_t pid, bool sent_kill, void *arg)
{
	struct saver *sv = arg;

	jw_object(&sv->w, NULL);
	jw_int(&sv->w, "pidfd", pidfd);
	jw_int(&sv->w, "pid", pid);
	jw_bool(&sv->w, "sent_kill", sent_kill);
	jw_end(&sv->w);
	fdlist_add(&sv->keep, pidfd);
}

static void save_held(struct saver *sv, const struct held_fds *h)
{
	jw_array(&sv->w, "held");
	for (size_t i = 0; i < h->n; i++) {
		jw_object(&sv->w, NULL);
		jw_int(&sv->w, "fd", h->v[i].fd);
		jw_str(&sv->w, "path", h->v[i].path);
		if (h->v[i].why)
			jw_str(&sv->w, "unrestored", h->v[i].why);
		jw_end(&sv->w);
		fdlist_add(&sv->keep, h->v[i].fd);
	}
	jw_end(&sv->w);
}

static void save_state(struct saver *sv, struct daemon *d)
{
	struct jsonw *w = &sv->w;
	char magic[32];

	jw_object(w, NULL);
	jw_object(w, "daemon");
	jw_object(w, "servers");
	for (int k = 0; k < CLIENT_KINDS; k++)
		save_server(sv, d, k);
	jw_end(w);
	jw_end(w);
	save_lockspace(sv, "defaultLockspace", d->spaces.dflt);
	jw_array(w, "lockspaces");
	lockspaces_foreach(&d->spaces, save_indirect, sv);
	jw_end(w);
	snprintf(magic, sizeof(magic), "%d", getpid());
	jw_str(w, "magic", magic);

	jw_object(w, "lockwarden");
	jw_int(w, "version", STATE_VERSION);
	jw_int(w, "next_resource_id", d->spaces.next_id);
	/* none when a restored daemon could not take it (see main) */
	if (d->pid_fd >= 0) {
		jw_object(w, "pidfile");
		jw_str(w, "path", d->paths.pidfile);
		jw_int(w, "fd", d->pid_fd);
		jw_end(w);
		fdlist_add(&sv->keep, d->pid_fd);
	}
	jw_array(w, "victims");
	reaper_foreach(&d->reaper, save_victim, sv);
	jw_end(w);
	save_held(sv, &d->spaces.held);
	if (sv->guard)
		jw_raw(w, "guard", json_object_to_json_string_ext(sv->guard, JSON_C_TO_STRING_PLAIN));
	if (d->leasecheck) {
		struct json_object *lease = json_object_new_object();

		leasecheck_state_save(d->leasecheck, lease);
		if (json_object_object_length(lease))
			jw_raw(w, "leasecheck",
			       json_object_to_json_string_ext(lease, JSON_C_TO_STRING_PLAIN));
		json_object_put(lease);
	}
	jw_end(w);
	jw_end(w);
	buf_reserve(w->out, 1);
	w->out->data[w->out->len] = '\0';
}

/* temp file, fsync, rename, fsync the directory: all or nothing */
static int write_atomic(const char *path, const char *text)
{
	char *tmp = xasprintf("%s.XXXXXX", path), *dir = xstrdup(path);
	int fd, dfd, rc = 0;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = write_all(fd, text, strlen(text))) < 0 || (fsync(fd) < 0 && (rc = -errno))) {
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		rc = -errno;
		unlink(tmp);
		goto out;
	}
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	free(tmp);
	free(dir);
	return rc;
}

static void set_cloexec_all(const struct fdlist *l, bool on)
{
	for (size_t i = 0; i < l->n; i++)
		fd_set_cloexec(l->fd[i], on);
}

int state_reexec(struct daemon *d)
{
	struct buf text = { 0 };
	struct client *c;
	struct saver sv = { 0 };
	char magic[32];
	int rc;

	clients_close_orphans(&d->clients);
	/* Replies in hand go out now if the sockets take them; the rest,
	 * and any frame read but not yet handled, travel in the state. */
	clients_foreach(&d->clients, c)
		if (c->tx.len)
			client_flush(c);
	clients_reap(&d->clients);

	/* The monitors answer what is pending and pin what must outlive us;
	 * their fds, kept by guard_state_save itself, are not in sv.keep. */
	sv.guard = json_object_new_object();
	if (d->guard && (rc = guard_state_save(d->guard, sv.guard)) < 0) {
		log_error("re-exec aborted: the monitors cannot be handed over; serving on");
		daemon_event(d, "reexec_failed", "the monitors cannot be handed over");
		goto out;
	}
	jw_init(&sv.w, &text);
	save_state(&sv, d);
	rc = write_atomic(d->paths.state, (const char *)text.data);
	buf_free(&text);
	if (rc < 0) {
		log_error("re-exec aborted: cannot write the state file %s: %s; serving on",
			  d->paths.state, strerror(-rc));
		daemon_event(d, "reexec_failed", "cannot write the state file");
		goto out;
	}
	set_cloexec_all(&sv.keep, false);
	snprintf(magic, sizeof(magic), "%d", getpid());
	setenv(REEXEC_ENV, magic, 1);
	log_info("re-executing %s with %zu fds kept", d->reexec_path, sv.keep.n);
	/* What daemon_request_reexec checked: never a shell's guess at it. */
	execv(d->reexec_path, d->argv);

	rc = -errno;
	unsetenv(REEXEC_ENV);
	set_cloexec_all(&sv.keep, true);
	unlink(d->paths.state);
	log_error("re-exec aborted: cannot execute %s: %s; serving on with every lock held",
		  d->reexec_path, strerror(-rc));
	daemon_event(d, "reexec_failed", strerror(-rc));
out:
	json_object_put(sv.guard);
	free(sv.keep.fd);
	return rc;
}

/* ---- loading ---- */

/* The first problem found while reading the state, with where it was. */
struct reader {
	struct daemon *d;
	char *why;
	bool ours;		/* written by lockwarden, not virtlockd */
	size_t problems;	/* parts not restored */
};

__attribute__((format(printf, 3, 4)))
static int bad(struct reader *r, const char *where, const char *fmt, ...)
{
	va_list ap;
	char *what;

	if (r->why)
		return -EINVAL;
	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	r->why = xasprintf("%s: %s", where, what);
	free(what);
	return -EINVAL;
}

/* One part of the state cannot be restored: say what and why, go on with
 * the rest (its fds, if it named any, are dealt with by settle_unclaimed). */
static void skip(struct reader *r, const char *what)
{
	log_error("cannot restore %s from %s: %s", what, r->d->paths.state,
		  r->why ? r->why : "malformed");
	r->problems++;
	free(r->why);
	r->why = NULL;
}

/* A lock the state names but that cannot be restored: kept, loudly. */
static void orphan(struct reader *r, int fd, const char *path)
{
	daemon_hold_orphan(r->d, fd, path, r->why ? r->why : "malformed state entry", false);
	r->problems++;
	free(r->why);
	r->why = NULL;
}

static struct json_object *member(struct reader *r, struct json_object *o, const char *where,
				  const char *key, json_type type)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type)) {
		bad(r, where, "%s '%s'", v ? "malformed" : "missing", key);
		return NULL;
	}
	return v;
}

static int get_int(struct reader *r, struct json_object *o, const char *where, const char *key,
		   int64_t lo, int64_t hi, int64_t *out)
{
	struct json_object *v = member(r, o, where, key, json_type_int);

	if (!v)
		return -EINVAL;
	*out = json_object_get_int64(v);
	if (*out < lo || *out > hi)
		return bad(r, where, "'%s' is %lld, out of range", key, (long long)*out);
	return 0;
}

/* A key virtlockd writes but nothing needs: absent is fine, malformed is not. */
static int get_opt_int(struct reader *r, struct json_object *o, const char *where,
		       const char *key, int64_t lo, int64_t hi, int64_t *out)
{
	if (!json_object_object_get_ex(o, key, NULL))
		return 0;
	return get_int(r, o, where, key, lo, hi, out) < 0 ? -EINVAL : 1;
}

static const char *get_str(struct reader *r, struct json_object *o, const char *where,
			   const char *key)
{
	struct json_object *v = member(r, o, where, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

static int get_bool(struct reader *r, struct json_object *o, const char *where,
		    const char *key, bool *out)
{
	struct json_object *v = member(r, o, where, key, json_type_boolean);

	if (!v)
		return -EINVAL;
	*out = json_object_get_boolean(v);
	return 0;
}

/* An fd the state names must have been inherited, and only once. */
static int get_fd(struct reader *r, struct json_object *o, const char *where, const char *key,
		  int *fd)
{
	int64_t v;

	if (get_int(r, o, where, key, 3, 1 << 20, &v) < 0)
		return -EINVAL;
	if (!claim_fd(r->d, v))
		return bad(r, where, "fd %lld was not inherited (or is named twice)", (long long)v);
	*fd = v;
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

static int load_private(struct reader *r, struct client *c, struct json_object *priv,
			const char *where)
{
	const char *name, *uuid;
	int64_t pid, id;

	if (get_bool(r, priv, where, "restricted", &c->restricted) < 0 ||
	    get_int(r, priv, where, "ownerPid", 0, UINT32_MAX, &pid) < 0 ||
	    get_int(r, priv, where, "ownerId", 0, UINT32_MAX, &id) < 0)
		return -EINVAL;
	c->owner_pid = (pid_t)pid;
	c->owner_id = id;
	if (!id)
		return 0;	/* never registered: name and uuid are meaningless */
	if (!(name = get_str(r, priv, where, "ownerName")) ||
	    !(uuid = get_str(r, priv, where, "ownerUUID")))
		return -EINVAL;
	if (parse_uuid(uuid, c->owner_uuid) < 0)
		return bad(r, where, "malformed ownerUUID '%s'", uuid);
	c->owner_name = xstrdup(name);
	client_index_owner(c);
	return 0;
}

/*
 * The owner's identity as the old image took it at REGISTER; a state
 * without one (virtlockd's) gets it taken now, from the process that has
 * the pid now: the best there is.
 */
static int load_ident(struct reader *r, struct client *c, struct json_object *ext,
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
	    get_int(r, own, where, "start", -1, INT64_MAX, &start) < 0 ||
	    get_int(r, own, where, "pidfd", -1, 1 << 20, &fd) < 0 ||
	    (fd >= 0 && get_fd(r, own, where, "pidfd", &pidfd) < 0))
		return bad(r, where, "malformed owner identity");
	c->ident.pid = c->owner_pid;
	c->ident.start = start < 0 ? OWNERID_GONE : (uint64_t)start;
	c->ident.pidfd = pidfd;
	return 0;
}

static int load_client(struct reader *r, enum client_kind k, struct json_object *o,
		       const char *where, struct client **out)
{
	struct json_object *sock, *priv, *ext = NULL;
	struct client *c;
	int64_t id, t;
	int fd, rc;

	if (get_int(r, o, where, "id", 0, INT64_MAX, &id) < 0 ||
	    !(sock = member(r, o, where, "sock", json_type_object)) ||
	    get_fd(r, sock, where, "fd", &fd) < 0)
		return -EINVAL;
	if ((rc = check_connected(fd)) < 0)
		return bad(r, where, "inherited fd %d is not a connected UNIX socket: %s",
			   fd, strerror(-rc));
	if ((rc = clients_add(&r->d->clients, fd, k, &c)) < 0)
		return bad(r, where, "cannot take over the connection on fd %d: %s", fd, strerror(-rc));
	c->id = id;
	if ((rc = get_opt_int(r, o, where, "conn_time", 0, INT64_MAX / 1000000000, &t)) < 0)
		return rc;
	if (rc)
		c->connect_time = t * 1000000000ull;
	if (k == CLIENT_LOCK) {
		if (!(priv = member(r, o, where, "privateData", json_type_object)) ||
		    load_private(r, c, priv, where) < 0)
			return -EINVAL;
	}
	if (json_object_object_get_ex(o, "lockwarden", &ext)) {
		const char *rx = get_str(r, ext, where, "rx"), *tx = get_str(r, ext, where, "tx");

		if (!rx || !tx || b64_decode(rx, &c->rx) < 0 || b64_decode(tx, &c->tx) < 0)
			return bad(r, where, "malformed buffered data");
		if (get_int(r, ext, where, "connect_time_ns", 0, INT64_MAX, &t) < 0)
			return -EINVAL;
		c->connect_time = t;
	}
	if (k == CLIENT_LOCK && c->owner_id) {
		if (load_ident(r, c, ext, where) < 0)
			return -EINVAL;
		if (r->d->guard)
			guard_client_owner(r->d->guard, c, true);
	}
	*out = c;
	return 0;
}

static int load_server(struct reader *r, const char *name, struct json_object *o, struct fdlist *ready)
{
	struct json_object *svcs, *socks, *clients;
	struct daemon *d = r->d;
	char where[96];
	int k, fd, rc;
	int64_t next;

	for (k = 0; k < CLIENT_KINDS && strcmp(name, client_server_name[k]); k++)
		;
	if (k == CLIENT_KINDS)
		return bad(r, "daemon.servers", "unexpected server name '%s'", name);
	snprintf(where, sizeof(where), "server %s", name);
	if (!(svcs = member(r, o, where, "services", json_type_array)) ||
	    !(clients = member(r, o, where, "clients", json_type_array)))
		return -EINVAL;
	if (json_object_array_length(svcs) != 1 ||
	    !(socks = member(r, json_object_array_get_idx(svcs, 0), where, "socks", json_type_array)) ||
	    json_object_array_length(socks) != 1)
		return bad(r, where, "expected one service with one socket");
	if (get_fd(r, json_object_array_get_idx(socks, 0), where, "fd", &fd) < 0)
		return -EINVAL;
	if (d->listeners[k].path)
		return bad(r, where, "appears twice");
	if ((rc = daemon_open_listener(d, k, fd)) < 0)
		return bad(r, where, "inherited fd %d is not the listening socket %s: %s",
			   fd, d->paths.sock[k], strerror(-rc));
	for (size_t i = 0; i < json_object_array_length(clients); i++) {
		struct client *c = NULL;

		snprintf(where, sizeof(where), "server %s client %zu", name, i);
		if (load_client(r, k, json_object_array_get_idx(clients, i), where, &c) < 0) {
			skip(r, where);		/* its connection only: the others go on */
			continue;
		}
		fdlist_add(ready, c->src.fd);
	}
	snprintf(where, sizeof(where), "server %s", name);
	if ((rc = get_opt_int(r, o, where, "next_client_id", 0, INT64_MAX, &next)) < 0)
		return rc;
	if (rc && (uint64_t)next > d->clients.next_id)
		d->clients.next_id = next;
	return 0;
}

/* daemon.servers as an object by name or an array in name order; older
 * states have the one server as "daemon" itself or as top-level "server". */
static int load_servers(struct reader *r, struct json_object *st, struct fdlist *ready)
{
	struct json_object *dmn, *servers;

	if (json_object_object_get_ex(st, "daemon", &dmn)) {
		if (!json_object_is_type(dmn, json_type_object))
			return bad(r, "daemon", "malformed");
		if (!json_object_object_get_ex(dmn, "servers", &servers))
			return load_server(r, client_server_name[CLIENT_LOCK], dmn, ready);
		if (json_object_is_type(servers, json_type_array)) {
			size_t n = json_object_array_length(servers);

			if (n > CLIENT_KINDS)
				return bad(r, "daemon.servers", "%zu servers, at most %d known", n, CLIENT_KINDS);
			for (size_t i = 0; i < n; i++)
				if (load_server(r, client_server_name[i], json_object_array_get_idx(servers, i), ready) < 0)
					return -EINVAL;
			return 0;
		}
		if (!json_object_is_type(servers, json_type_object))
			return bad(r, "daemon.servers", "malformed");
		json_object_object_foreach(servers, name, srv)
			if (!json_object_is_type(srv, json_type_object) || load_server(r, name, srv, ready) < 0)
				return bad(r, "daemon.servers", "malformed server %s", name);
		return 0;
	}
	if (!(dmn = member(r, st, "state", "server", json_type_object)))
		return -EINVAL;
	return load_server(r, client_server_name[CLIENT_LOCK], dmn, ready);
}

/* What lockwarden adds to a resource: [posix, dev, ino, id]. */
static int load_resource_ext(struct reader *r, struct resource *res, struct json_object *ext,
			     const char *where)
{
	struct json_object *v[4];

	if (!json_object_is_type(ext, json_type_array) || json_object_array_length(ext) < 4)
		return bad(r, where, "malformed 'lockwarden'");
	for (int i = 0; i < 4; i++)
		v[i] = json_object_array_get_idx(ext, i);
	if (!json_object_is_type(v[0], json_type_boolean) ||
	    !json_object_is_type(v[1], json_type_int) || json_object_get_int64(v[1]) < 0 ||
	    !json_object_is_type(v[2], json_type_int) || json_object_get_int64(v[2]) <= 0 ||
	    !json_object_is_type(v[3], json_type_int) || json_object_get_int64(v[3]) < 0 ||
	    json_object_get_int64(v[3]) > UINT32_MAX)
		return bad(r, where, "malformed 'lockwarden'");
	res->posix = json_object_get_boolean(v[0]);
	res->dev = json_object_get_int64(v[1]);
	res->ino = json_object_get_int64(v[2]);
	res->id = json_object_get_int64(v[3]);
	return 0;
}

static int load_resource(struct reader *r, struct lockspace *ls, struct json_object *o,
			 const char *where)
{
	struct json_object *owners, *ext;
	struct resource *res = xcalloc(1, sizeof(*res));
	struct lw_err err = { 0 };
	const char *name, *path;
	int64_t flags;
	bool held;
	int rc = -EINVAL;

	res->fd = -1;
	res->posix = true;		/* virtlockd's locks are process-owned */
	if (!(name = get_str(r, o, where, "name")) || !(path = get_str(r, o, where, "path")) ||
	    get_fd(r, o, where, "fd", &res->fd) < 0 || get_bool(r, o, where, "lockHeld", &held) < 0 ||
	    get_int(r, o, where, "flags", 0, LS_SHARED | LS_AUTOCREATE, &flags) < 0 ||
	    !(owners = member(r, o, where, "owners", json_type_array)))
		goto fail;
	if (!held) {
		bad(r, where, "resource %s is recorded as not locked", path);
		goto fail;
	}
	res->name = xstrdup(name);
	res->path = xstrdup(path);
	res->flags = flags;
	res->nowners = json_object_array_length(owners);
	res->owners = xcalloc(res->nowners, sizeof(pid_t));
	for (size_t i = 0; i < res->nowners; i++) {
		struct json_object *p = json_object_array_get_idx(owners, i);

		if (!json_object_is_type(p, json_type_int) || json_object_get_int64(p) <= 0 ||
		    json_object_get_int64(p) > INT32_MAX) {
			bad(r, where, "malformed owner pid");
			goto fail;
		}
		res->owners[i] = json_object_get_int64(p);
	}
	if (!res->nowners) {
		bad(r, where, "resource %s has no owner", path);
		goto fail;
	}
	if (json_object_object_get_ex(o, "lockwarden", &ext) && load_resource_ext(r, res, ext, where) < 0)
		goto fail;
	if ((rc = lockspace_adopt(ls, res, &err)) < 0) {
		bad(r, where, "%s", err.message ? err.message : strerror(-rc));
		lw_err_clear(&err);
		goto fail;
	}
	return 0;
fail:
	if (res->fd >= 0)
		orphan(r, res->fd, res->path ? res->path : where);
	else
		skip(r, where);
	res->fd = -1;
	lockspace_resource_free(res);
	return rc < 0 ? rc : -EINVAL;
}

/* A lockspace that cannot be had: each lock it names is kept as an orphan. */
static void orphan_resources(struct reader *r, struct json_object *resources, const char *where)
{
	char *why = r->why;

	r->why = NULL;
	for (size_t i = 0; i < json_object_array_length(resources); i++) {
		struct json_object *o = json_object_array_get_idx(resources, i), *p;
		int fd;

		if (json_object_is_type(o, json_type_object) && get_fd(r, o, where, "fd", &fd) == 0) {
			free(r->why);
			r->why = xstrdup(why);
			orphan(r, fd, json_object_object_get_ex(o, "path", &p) ?
				      json_object_get_string(p) : where);
		}
		free(r->why);
		r->why = NULL;
	}
	r->why = why;
	skip(r, where);
}

static int load_lockspace(struct reader *r, struct json_object *o, const char *where,
			  struct lockspace **lsp)
{
	struct json_object *resources;
	struct lw_err err = { 0 };
	char rwhere[160];

	if (!(resources = member(r, o, where, "resources", json_type_array))) {
		skip(r, where);
		return -EINVAL;
	}
	if (!*lsp) {
		const char *dir = get_str(r, o, where, "directory");

		if (!dir) {
			orphan_resources(r, resources, where);
			return -EINVAL;
		}
		if (lockspaces_find(&r->d->spaces, dir)) {
			bad(r, where, "lockspace %s appears twice", dir);
			orphan_resources(r, resources, where);
			return -EINVAL;
		}
		if (lockspaces_add(&r->d->spaces, dir, lsp, &err) < 0) {
			bad(r, where, "%s", err.message);
			lw_err_clear(&err);
			orphan_resources(r, resources, where);
			return -EINVAL;
		}
	}
	lockspace_reserve(*lsp, lockspace_count(*lsp) + json_object_array_length(resources));
	for (size_t i = 0; i < json_object_array_length(resources); i++) {
		snprintf(rwhere, sizeof(rwhere), "%s resource %zu", where, i);
		load_resource(r, *lsp, json_object_array_get_idx(resources, i), rwhere);
	}
	return 0;
}

/* Whatever cannot be restored is skipped, its locks kept as orphans. */
static void load_lockspaces(struct reader *r, struct json_object *st)
{
	struct json_object *dflt, *spaces;
	char where[64];

	if (!(dflt = member(r, st, "state", "defaultLockspace", json_type_object)))
		skip(r, "the default lockspace");
	else
		load_lockspace(r, dflt, "defaultLockspace", &r->d->spaces.dflt);
	if (!(spaces = member(r, st, "state", "lockspaces", json_type_array))) {
		skip(r, "the lockspaces");
		return;
	}
	for (size_t i = 0; i < json_object_array_length(spaces); i++) {
		struct json_object *o = json_object_array_get_idx(spaces, i);
		struct lockspace *ls = NULL;

		snprintf(where, sizeof(where), "lockspaces[%zu]", i);
		if (!json_object_is_type(o, json_type_object))
			skip(r, where);
		else
			load_lockspace(r, o, where, &ls);
	}
}

/* What only lockwarden writes: its pid file fd, ids, victims being killed. */
static int load_ours(struct reader *r, struct json_object *ext)
{
	struct json_object *pid, *victims, *guard;
	struct daemon *d = r->d;
	const char *path;
	int64_t v;
	int fd, rc;

	if (get_int(r, ext, "lockwarden", "next_resource_id", 0, UINT32_MAX, &v) < 0)
		return -EINVAL;
	lockspaces_restore_next_id(&d->spaces, v);
	if (!json_object_object_get_ex(ext, "pidfile", NULL)) {
		/* not held: main takes it */
	} else if (!(pid = member(r, ext, "lockwarden", "pidfile", json_type_object)) ||
		   !(path = get_str(r, pid, "lockwarden.pidfile", "path")) ||
		   get_fd(r, pid, "lockwarden.pidfile", "fd", &fd) < 0) {
		return -EINVAL;
	} else if (strcmp(path, d->paths.pidfile)) {
		close(fd);		/* our lock on the old pid file goes with it */
	} else if ((rc = pidfile_check(path, fd)) < 0) {
		return bad(r, "lockwarden.pidfile", "inherited fd %d does not hold the pid file %s: %s",
			   fd, path, strerror(-rc));
	} else {
		d->pid_fd = fd;
	}
	if (json_object_object_get_ex(ext, "guard", &guard) && d->guard &&
	    guard_state_restore(d->guard, guard) < 0)
		return bad(r, "lockwarden.guard", "the monitors cannot be taken over");
	if (!(victims = member(r, ext, "lockwarden", "victims", json_type_array)))
		return -EINVAL;
	for (size_t i = 0; i < json_object_array_length(victims); i++) {
		struct json_object *o = json_object_array_get_idx(victims, i);
		bool sent_kill;

		if (get_fd(r, o, "lockwarden.victims", "pidfd", &fd) < 0 ||
		    get_int(r, o, "lockwarden.victims", "pid", 1, INT32_MAX, &v) < 0 ||
		    get_bool(r, o, "lockwarden.victims", "sent_kill", &sent_kill) < 0)
			return -EINVAL;
		if ((rc = reaper_adopt(&d->reaper, fd, v, sent_kill)) < 0)
			return bad(r, "lockwarden.victims", "pid %lld: %s", (long long)v, strerror(-rc));
	}
	return 0;
}

/* The orphans and parked fds of the image before (absent before they were). */
static void load_held(struct reader *r, struct json_object *ext)
{
	struct json_object *held;

	if (!json_object_object_get_ex(ext, "held", &held))
		return;
	if (!json_object_is_type(held, json_type_array)) {
		bad(r, "lockwarden.held", "malformed");
		skip(r, "the held fds");
		return;
	}
	for (size_t i = 0; i < json_object_array_length(held); i++) {
		struct json_object *o = json_object_array_get_idx(held, i), *why;
		const char *path;
		int fd;

		if (!json_object_is_type(o, json_type_object) ||
		    get_fd(r, o, "lockwarden.held", "fd", &fd) < 0 ||
		    !(path = get_str(r, o, "lockwarden.held", "path"))) {
			skip(r, "a held fd");
			continue;
		}
		if (json_object_object_get_ex(o, "unrestored", &why))
			daemon_hold_orphan(r->d, fd, path, json_object_get_string(why), true);
		else if (held_fds_add(&r->d->spaces.held, fd, path, NULL) < 0)
			log_error("parked fd %d of %s is gone", fd, path);
	}
}

/*
 * The old image's children (alert hooks still running) are ours now but
 * unknown to this image's alert code: reap each when it exits, so none
 * lingers as a zombie.
 */
static void adopt_children(struct daemon *d)
{
	char path[64], *text, *tok, *save = NULL;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", getpid());
	if (read_file(path, 1 << 20, &text, NULL) < 0)
		return;
	for (tok = strtok_r(text, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (reaper_adopt_child(&d->reaper, atoi(tok)) == 0)
			log_info("child %s of the previous image will be reaped when it exits", tok);
	free(text);
}

int state_apply(struct daemon *d, struct json_object *st)
{
	struct reader r = { .d = d };
	struct fdlist ready = { 0 };
	struct json_object *ext = NULL, *lease;

	if (!st)
		goto settle;
	r.ours = json_object_object_get_ex(st, "lockwarden", &ext) &&
		 json_object_is_type(ext, json_type_object);
	/* Before the resources, which each take their mark as they come back. */
	if (r.ours && json_object_object_get_ex(ext, "leasecheck", &lease) &&
	    leasecheck_state_restore(d->leasecheck, lease) < 0)
		skip(&r, "the locks found lost (lockwarden.leasecheck)");

	/* Clients first, so the guard names each restored lock's VM; their
	 * waiting frames are handled only once everything is restored. */
	if (load_servers(&r, st, &ready) < 0)
		skip(&r, "the servers and clients");
	load_lockspaces(&r, st);
	if (r.ours) {
		if (load_ours(&r, ext) < 0)
			skip(&r, "lockwarden's own part");
		load_held(&r, ext);
	}
	cloexec_claimed(d);
	if (r.problems)
		unclaim_unused(d);
settle:
	if (d->inherited.trusted && (!st || r.problems))
		note_unclaimed(d);
	settle_unclaimed(d, st ? "no usable entry of the restart state names it" :
			 "the restart state is unusable");
	adopt_children(d);
	/* Credentials are checked again, as at accept; then pending work resumes. */
	for (size_t i = 0; i < ready.n; i++) {
		struct client *c;

		clients_foreach(&d->clients, c) {
			if (c->src.fd != ready.fd[i])
				continue;
			daemon_client_accepted(d, c, true);
			if (!c->closing)
				client_resume(c);
			break;
		}
	}
	if (st)
		log_info("restored %s state: %zu resources (%zu adopted POSIX locks), %zu lock clients",
			 r.ours ? "lockwarden" : "virtlockd", d->spaces.nresources, d->spaces.nposix,
			 clients_count(&d->clients, CLIENT_LOCK));
	if (r.problems || d->spaces.held.norphans)
		log_error("the restart state %s was not fully restored: %zu problems; %zu inherited "
			  "locks are held but not restored (see lockwardenctl status)",
			  d->paths.state, r.problems, d->spaces.held.norphans);
	free(ready.fd);
	return r.problems || d->spaces.held.norphans ? -EUCLEAN : 0;
}

/* ---- deciding whether this is a re-exec ---- */

static void set_aside(const char *path, const char *suffix)
{
	char *to = xasprintf("%s.%s", path, suffix);

	if (rename(path, to) == 0)
		log_warn("state file moved to %s", to);
	free(to);
}

static struct json_object *parse_state(const char *text, size_t len, char **why)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj = json_tokener_parse_ex(tok, text, len);
	enum json_tokener_error err = json_tokener_get_error(tok);

	if (!obj || err != json_tokener_success) {
		*why = xasprintf("not valid JSON: %s", err == json_tokener_continue ?
				 "truncated" : json_tokener_error_desc(err));
		json_object_put(obj);
		obj = NULL;
	} else if (json_tokener_get_parse_end(tok) < len &&
		   strspn(text + json_tokener_get_parse_end(tok), " \t\r\n") !=
		   len - json_tokener_get_parse_end(tok)) {
		*why = xstrdup("trailing data after the JSON document");
		json_object_put(obj);
		obj = NULL;
	} else if (!json_object_is_type(obj, json_type_object)) {
		*why = xstrdup("not a JSON object");
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

int state_probe(struct daemon *d, struct json_object **state)
{
	const char *path = d->paths.state, *env = getenv(REEXEC_ENV), *magic;
	struct json_object *st = NULL, *m;
	char *text = NULL, *why = NULL, mine[32];
	bool reexec = env != NULL;
	size_t len, holdings;
	int rc;

	unsetenv(REEXEC_ENV);
	snprintf(mine, sizeof(mine), "%d", getpid());
	rc = read_file(path, STATE_MAX, &text, &len);
	if (rc == -ENOENT) {
		why = xstrdup("there is no state file");
	} else if (rc < 0) {
		why = xasprintf("cannot read it: %s", strerror(-rc));
	} else if (strlen(text) != len) {
		why = xstrdup("it contains NUL bytes");
	} else if ((st = parse_state(text, len, &why))) {
		if (!json_object_object_get_ex(st, "magic", &m) || !json_object_is_type(m, json_type_string))
			why = xstrdup("it has no magic");
		else if (strcmp((magic = json_object_get_string(m)), mine))
			why = xasprintf("its magic %s is not this process (%s): written by another daemon",
					magic, mine);
	}
	free(text);
	if (!why) {
		unlink(path);
		*state = st;
		return 1;
	}
	json_object_put(st);

	holdings = inherited_holdings(d);
	if (!reexec && !holdings) {
		if (rc != -ENOENT) {
			log_warn("ignoring the restart state file %s: %s", path, why);
			set_aside(path, "stale");
		}
		free(why);
		return 0;
	}
	log_error("this daemon was %s, but its restart state %s is unusable: %s; keeping every "
		  "inherited lock, unrestored", reexec ? "re-executed" :
		  "handed inherited sockets or locks", path, why);
	if (rc != -ENOENT)
		set_aside(path, "failed");
	free(why);
	*state = NULL;
	return 1;
}

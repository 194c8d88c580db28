// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "events.h"
#include "jsonw.h"
#include "log.h"
#include "pidfile.h"
#include "restart.h"
#include "state.h"
#include "util.h"

/* Set by an image that re-execs itself: the new image must find its state. */
#define REEXEC_ENV	"LOCKWARDEN_REEXEC"
#define STATE_MAX	(256u << 20)
#define STATE_VERSION	1

/* ---- the inherited fds ---- */

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
	restart_fds_mark(&d->inherited, fd, RESTART_FD_INHERITED);
}

static uint8_t fd_bits(const struct daemon *d, int fd)
{
	return restart_fds_bits(&d->inherited, fd);
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
		n += fd_bits(d, fd) == RESTART_FD_INHERITED && !from_systemd(fd) &&
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

		if (fd > 2 && fd != dirfd(dir) && !(fd_bits(d, fd) & RESTART_FD_CLAIMED))
			state_note_inherited_fd(d, fd);
	}
	closedir(dir);
}

static void mark_used(int fd, void *arg)
{
	struct daemon *d = arg;

	if (fd >= 0 && (fd_bits(d, fd) & RESTART_FD_CLAIMED))
		restart_fds_mark(&d->inherited, fd, RESTART_FD_USED);
}

static void victim_used(int pidfd, pid_t pid, bool sent_kill, void *arg)
{
	mark_used(pidfd, arg);
}

/*
 * After a problem: an fd the state named but nothing took over (a lock's
 * fd named as a client's socket, say) is unclaimed again, so that
 * settle_unclaimed keeps its lock, if it has one. Only then: it reads
 * every claimed fd's neighbours.
 */
static void unclaim_unused(struct daemon *d)
{
	lockspaces_foreach_fd(&d->spaces, mark_used, d);
	clients_foreach_fd(&d->clients, mark_used, d);
	for (int k = 0; k < CLIENT_KINDS; k++)
		if (d->listeners[k].path)
			mark_used(d->listeners[k].src.fd, d);
	reaper_foreach(&d->reaper, victim_used, d);
	mark_used(d->pid_fd, d);
	for (size_t fd = 0; fd < d->inherited.size; fd++)
		if ((d->inherited.map[fd] & (RESTART_FD_CLAIMED | RESTART_FD_USED)) ==
		    RESTART_FD_CLAIMED)
			d->inherited.map[fd] = RESTART_FD_INHERITED;
		else
			d->inherited.map[fd] &= ~RESTART_FD_USED;
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

		if (fd_bits(d, fd) != RESTART_FD_INHERITED || from_systemd(fd))
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
	restart_fds_free(&d->inherited);
}

/* ---- saving: streamed, no object tree (see jsonw.h) ---- */

/* A server as virtlockd saves a virNetServer: one service with one socket. */
static void save_server(struct restart_writer *rw, struct daemon *d, enum client_kind k)
{
	unsigned int max = k == CLIENT_LOCK ? d->cfg.max_clients : d->cfg.admin_max_clients;
	struct jsonw *w = &rw->w;

	jw_object(w, client_server_name[k]);
	jw_int(w, "min_workers", 0);
	jw_int(w, "max_workers", 0);
	jw_int(w, "priority_workers", 0);
	jw_int(w, "max_clients", max);
	jw_int(w, "max_anonymous_clients", max);
	jw_int(w, "keepaliveInterval", 4294967295u);	/* virtlockd's -1: no keepalive */
	jw_int(w, "keepaliveCount", 0);
	clients_save_next_id(&d->clients, rw);
	jw_array(w, "services");
	jw_object(w, NULL);
	jw_int(w, "auth", 0);
	jw_bool(w, "readonly", false);
	jw_int(w, "nrequests_client_max", 1);
	jw_array(w, "socks");
	listener_save(&d->listeners[k], rw);
	jw_end(w);
	jw_end(w);
	jw_end(w);
	clients_save(&d->clients, k, rw);
	jw_end(w);
}

static void save_state(struct restart_writer *rw, struct daemon *d, struct json_object *guard)
{
	struct jsonw *w = &rw->w;
	char magic[32];

	jw_object(w, NULL);
	jw_object(w, "daemon");
	jw_object(w, "servers");
	for (int k = 0; k < CLIENT_KINDS; k++)
		save_server(rw, d, k);
	jw_end(w);
	jw_end(w);
	lockspaces_save(&d->spaces, rw);
	snprintf(magic, sizeof(magic), "%d", getpid());
	jw_str(w, "magic", magic);

	jw_object(w, "lockwarden");
	jw_int(w, "version", STATE_VERSION);
	lockspaces_save_next_id(&d->spaces, rw);
	/* none when a restored daemon could not take it (see main) */
	pidfile_save(rw, d->paths.pidfile, d->pid_fd);
	reaper_save(&d->reaper, rw);
	held_fds_save(&d->spaces.held, rw);
	if (guard)
		jw_raw(w, "guard", json_object_to_json_string_ext(guard, JSON_C_TO_STRING_PLAIN));
	leasecheck_save(d->leasecheck, rw);
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

int state_reexec(struct daemon *d)
{
	struct buf text = { 0 };
	struct client *c;
	struct restart_writer rw = { 0 };
	struct json_object *guard;
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
	 * their fds, kept by guard_state_save itself, are not in rw.keep. */
	guard = json_object_new_object();
	if (d->guard && (rc = guard_state_save(d->guard, guard)) < 0) {
		log_error("re-exec aborted: the monitors cannot be handed over; serving on");
		daemon_event(d, "reexec_failed", "the monitors cannot be handed over");
		goto out;
	}
	jw_init(&rw.w, &text);
	save_state(&rw, d, guard);
	rc = write_atomic(d->paths.state, (const char *)text.data);
	buf_free(&text);
	if (rc < 0) {
		log_error("re-exec aborted: cannot write the state file %s: %s; serving on",
			  d->paths.state, strerror(-rc));
		daemon_event(d, "reexec_failed", "cannot write the state file");
		goto out;
	}
	restart_keep_cloexec(&rw, false);
	snprintf(magic, sizeof(magic), "%d", getpid());
	setenv(REEXEC_ENV, magic, 1);
	log_info("re-executing %s with %zu fds kept", d->reexec_path, rw.nkeep);
	/* What daemon_request_reexec checked: never a shell's guess at it. */
	execv(d->reexec_path, d->argv);

	rc = -errno;
	unsetenv(REEXEC_ENV);
	restart_keep_cloexec(&rw, true);
	unlink(d->paths.state);
	log_error("re-exec aborted: cannot execute %s: %s; serving on with every lock held",
		  d->reexec_path, strerror(-rc));
	daemon_event(d, "reexec_failed", strerror(-rc));
out:
	json_object_put(guard);
	free(rw.keep);
	return rc;
}

/* ---- loading ---- */

/* The reader's orphan callback: the daemon keeps the lock held. */
static void hold_orphan(void *data, int fd, const char *path, const char *why, bool restored)
{
	daemon_hold_orphan(data, fd, path, why, restored);
}

/* Restored connections, resumed once everything is restored. */
struct ready {
	int *fd;
	size_t n;
};

static int load_server(struct restart_reader *r, struct daemon *d, const char *name,
		       struct json_object *o, struct ready *ready)
{
	struct json_object *svcs, *socks, *clients;
	char where[96];
	int k, fd, rc;

	for (k = 0; k < CLIENT_KINDS && strcmp(name, client_server_name[k]); k++)
		;
	if (k == CLIENT_KINDS)
		return restart_bad(r, "daemon.servers", "unexpected server name '%s'", name);
	snprintf(where, sizeof(where), "server %s", name);
	if (!(svcs = restart_member(r, o, where, "services", json_type_array)) ||
	    !(clients = restart_member(r, o, where, "clients", json_type_array)))
		return -EINVAL;
	if (json_object_array_length(svcs) != 1 ||
	    !(socks = restart_member(r, json_object_array_get_idx(svcs, 0), where, "socks",
				     json_type_array)) ||
	    json_object_array_length(socks) != 1)
		return restart_bad(r, where, "expected one service with one socket");
	if (listener_restore_fd(r, json_object_array_get_idx(socks, 0), where, &fd) < 0)
		return -EINVAL;
	if (d->listeners[k].path)
		return restart_bad(r, where, "appears twice");
	if ((rc = daemon_open_listener(d, k, fd)) < 0)
		return restart_bad(r, where, "inherited fd %d is not the listening socket %s: %s",
				   fd, d->paths.sock[k], strerror(-rc));
	for (size_t i = 0; i < json_object_array_length(clients); i++) {
		struct client *c = NULL;

		snprintf(where, sizeof(where), "server %s client %zu", name, i);
		if (client_restore(&d->clients, r, k, json_object_array_get_idx(clients, i), where,
				   &c) < 0) {
			restart_skip(r, where);	/* its connection only: the others go on */
			continue;
		}
		/* so the guard names each restored lock's VM */
		if (d->guard)
			guard_client_owner(d->guard, c, true);
		ready->fd = xrealloc(ready->fd, (ready->n + 1) * sizeof(int));
		ready->fd[ready->n++] = c->src.fd;
	}
	snprintf(where, sizeof(where), "server %s", name);
	return clients_restore_next_id(&d->clients, r, o, where);
}

/* daemon.servers as an object by name or an array in name order; older
 * states have the one server as "daemon" itself or as top-level "server". */
static int load_servers(struct restart_reader *r, struct daemon *d, struct json_object *st,
			struct ready *ready)
{
	struct json_object *dmn, *servers;

	if (json_object_object_get_ex(st, "daemon", &dmn)) {
		if (!json_object_is_type(dmn, json_type_object))
			return restart_bad(r, "daemon", "malformed");
		if (!json_object_object_get_ex(dmn, "servers", &servers))
			return load_server(r, d, client_server_name[CLIENT_LOCK], dmn, ready);
		if (json_object_is_type(servers, json_type_array)) {
			size_t n = json_object_array_length(servers);

			if (n > CLIENT_KINDS)
				return restart_bad(r, "daemon.servers", "%zu servers, at most %d known",
						   n, CLIENT_KINDS);
			for (size_t i = 0; i < n; i++)
				if (load_server(r, d, client_server_name[i],
						json_object_array_get_idx(servers, i), ready) < 0)
					return -EINVAL;
			return 0;
		}
		if (!json_object_is_type(servers, json_type_object))
			return restart_bad(r, "daemon.servers", "malformed");
		json_object_object_foreach(servers, name, srv)
			if (!json_object_is_type(srv, json_type_object) ||
			    load_server(r, d, name, srv, ready) < 0)
				return restart_bad(r, "daemon.servers", "malformed server %s", name);
		return 0;
	}
	if (!(dmn = restart_member(r, st, "state", "server", json_type_object)))
		return -EINVAL;
	return load_server(r, d, client_server_name[CLIENT_LOCK], dmn, ready);
}

/* What only lockwarden writes: ids, its pid file fd, the monitors, victims
 * being killed. */
static int load_ours(struct restart_reader *r, struct daemon *d, struct json_object *ext)
{
	struct json_object *guard;

	if (lockspaces_restore_next_id(&d->spaces, r, ext) < 0 ||
	    pidfile_restore(r, ext, d->paths.pidfile, &d->pid_fd) < 0)
		return -EINVAL;
	if (json_object_object_get_ex(ext, "guard", &guard) && d->guard &&
	    guard_state_restore(d->guard, guard) < 0)
		return restart_bad(r, "lockwarden.guard", "the monitors cannot be taken over");
	return reaper_restore(&d->reaper, r, ext);
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
	struct restart_reader r = {
		.path = d->paths.state, .fds = &d->inherited, .orphan = hold_orphan, .data = d,
	};
	struct ready ready = { 0 };
	struct json_object *ext = NULL;
	bool ours = false;	/* written by lockwarden, not virtlockd */

	if (!st)
		goto settle;
	ours = json_object_object_get_ex(st, "lockwarden", &ext) &&
	       json_object_is_type(ext, json_type_object);
	/* Before the resources, which each take their mark as they come back. */
	if (ours && leasecheck_restore(d->leasecheck, &r, ext) < 0)
		restart_skip(&r, "the locks found lost (lockwarden.leasecheck)");

	/* Clients first, so the guard names each restored lock's VM; their
	 * waiting frames are handled only once everything is restored. */
	if (load_servers(&r, d, st, &ready) < 0)
		restart_skip(&r, "the servers and clients");
	lockspaces_restore(&d->spaces, &r, st);
	if (ours) {
		if (load_ours(&r, d, ext) < 0)
			restart_skip(&r, "lockwarden's own part");
		held_fds_restore(&d->spaces.held, &r, ext);
	}
	restart_fds_cloexec_claimed(&d->inherited);
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
			 ours ? "lockwarden" : "virtlockd", d->spaces.nresources, d->spaces.nposix,
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

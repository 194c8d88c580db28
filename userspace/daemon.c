// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "rpcserver.h"
#include "util.h"

static const char *client_kind_name[CLIENT_KINDS] = { "lock", "admin" };

int daemon_default_paths(struct daemon *d)
{
	struct daemon_paths *p = &d->paths;
	const char *xdg;

	if (d->privileged) {
		p->rundir = xstrdup("/run/libvirt");
		p->sock[CLIENT_LOCK] = xstrdup("/run/libvirt/virtlockd-sock");
		p->sock[CLIENT_ADMIN] = xstrdup("/run/libvirt/virtlockd-admin-sock");
		if (!p->pidfile)
			p->pidfile = xstrdup("/run/virtlockd.pid");
		p->state = xstrdup("/run/virtlockd-restart-exec.json");
		return 0;
	}
	if ((xdg = getenv("XDG_RUNTIME_DIR")) && *xdg)
		p->rundir = xasprintf("%s/libvirt", xdg);
	else
		p->rundir = xasprintf("%s/.cache/libvirt", getenv("HOME") ? getenv("HOME") : "/");
	p->sock[CLIENT_LOCK] = xasprintf("%s/virtlockd-sock", p->rundir);
	p->sock[CLIENT_ADMIN] = xasprintf("%s/virtlockd-admin-sock", p->rundir);
	if (!p->pidfile)
		p->pidfile = xasprintf("%s/virtlockd.pid", p->rundir);
	p->state = xasprintf("%s/virtlockd-restart-exec.json", p->rundir);
	return 0;
}

/* ---- lockspaces ---- */

static void resource_changed(void *data, struct lockspace *ls, struct resource *res,
			     enum lockspace_event ev)
{
	struct daemon *d = data;

	if (ev == LS_ADDED) {
		d->nresources++;
		d->nposix += res->posix;
	} else if (ev == LS_REMOVED) {
		d->nresources--;
		d->nposix -= res->posix;
	}
	guard_resource(d->guard, ls, res, ev);
	if (ev != LS_OWNERS)
		daemon_update_idle(d);
}

static bool posix_any(void *data)
{
	struct daemon *d = data;

	return d->nposix > 0;
}

static int find_posix(struct lockspace *ls, struct resource *res, void *arg)
{
	const struct resource *want = arg;

	return res->posix && res->dev == want->dev && res->ino == want->ino;
}

static bool posix_held(void *data, dev_t dev, ino_t ino)
{
	struct daemon *d = data;
	struct resource want = { .dev = dev, .ino = ino };

	if (lockspace_foreach(d->default_ls, find_posix, &want))
		return true;
	for (size_t i = 0; i < d->nspaces; i++)
		if (lockspace_foreach(d->spaces[i], find_posix, &want))
			return true;
	return false;
}

static unsigned int next_id(void *data)
{
	struct daemon *d = data;

	return ++d->next_resource_id;
}

const struct lockspace_hooks *daemon_lockspace_hooks(struct daemon *d)
{
	static struct lockspace_hooks hooks = {
		.changed = resource_changed,
		.posix_any = posix_any,
		.posix_held = posix_held,
		.next_id = next_id,
	};

	hooks.data = d;
	return &hooks;
}

struct lockspace *daemon_find_lockspace(struct daemon *d, const char *path)
{
	if (!path || !*path)
		return d->default_ls;
	for (size_t i = 0; i < d->nspaces; i++)
		if (!strcmp(lockspace_dir(d->spaces[i]), path))
			return d->spaces[i];
	return NULL;
}

int daemon_add_lockspace(struct daemon *d, const char *path, struct lw_err *err)
{
	struct lockspace *ls;
	int rc;

	if ((rc = lockspace_new(path, daemon_lockspace_hooks(d), &ls, err)) < 0) {
		log_error("cannot create lockspace %s: %s", path, err->message);
		return rc;
	}
	d->spaces = xrealloc(d->spaces, (d->nspaces + 1) * sizeof(*d->spaces));
	d->spaces[d->nspaces++] = ls;
	log_info("lockspace %s created", path);
	return 0;
}

/* ---- clients ---- */

void daemon_client_accepted(struct daemon *d, struct client *c)
{
	uid_t want = d->privileged ? 0 : geteuid();

	/* virtlockd's rule: root only on the system socket, the daemon's
	 * own user on a session socket. */
	if (c->uid != want) {
		log_error("Disallowing client %d with uid %u on the %s socket",
			  c->pid, (unsigned int)c->uid, client_kind_name[c->kind]);
		client_close(c, "credentials");
		return;
	}
	log_debug("new %s client %llu: pid %d uid %u", client_kind_name[c->kind],
		  (unsigned long long)c->id, c->pid, (unsigned int)c->uid);
	listener_update(&d->listeners[c->kind],
			clients_count(&d->clients, c->kind) <
			(c->kind == CLIENT_LOCK ? d->cfg.max_clients : d->cfg.admin_max_clients));
	daemon_update_idle(d);
}

/* Release every lease of an owner whose own connection closed; an owner
 * that still had some is killed, as virtlockd does. */
static void client_closed(void *data, struct client *c)
{
	struct daemon *d = data;
	int held = 0;

	if (c->kind == CLIENT_LOCK && c->owner_pid && c->pid == c->owner_pid) {
		held = lockspace_release_owner(d->default_ls, c->owner_pid);
		for (size_t i = 0; i < d->nspaces; i++)
			held += lockspace_release_owner(d->spaces[i], c->owner_pid);
		if (held > 0)
			reaper_kill(&d->reaper, c->src.fd, c->pid);
	}
	listener_update(&d->listeners[c->kind], true);
	daemon_update_idle(d);
}

void daemon_report(struct daemon *d, struct json_object *rec)
{
	if (!d->audit) {
		json_object_put(rec);
		return;
	}
	audit_write(d->audit, rec);
}

/* ---- idle timeout, signals ---- */

static void idle_expired(struct loop_timer *t)
{
	struct daemon *d = container_of(t, struct daemon, idle);

	log_info("no client and no lock for %u seconds; exiting", d->timeout);
	loop_quit(d->loop, 0);
}

void daemon_update_idle(struct daemon *d)
{
	bool idle;

	if (!d->timeout)
		return;
	idle = !clients_count(&d->clients, CLIENT_LOCK) &&
	       !clients_count(&d->clients, CLIENT_ADMIN) && !d->nresources;
	if (!idle)
		loop_timer_disarm(d->loop, &d->idle);
	else if (!d->idle.armed)
		loop_timer_arm(d->loop, &d->idle, d->timeout * 1000ull, idle_expired);
}

static void on_signal(struct loop_source *src, uint32_t events)
{
	struct daemon *d = container_of(src, struct daemon, signals);
	struct signalfd_siginfo si;

	while (read(src->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGUSR1:
			log_info("SIGUSR1: re-executing");
			d->reexec = true;
			loop_quit(d->loop, 0);
			break;
		case SIGHUP:
			log_info("SIGHUP: nothing to reload");
			break;
		default:
			log_info("signal %d: shutting down", si.ssi_signo);
			loop_quit(d->loop, 0);
			break;
		}
	}
}

static int setup_signals(struct daemon *d)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	return loop_add(d->loop, &d->signals, fd, EPOLLIN, on_signal);
}

static void after_batch(void *data)
{
	struct daemon *d = data;

	clients_reap(&d->clients);
}

/* ---- life ---- */

int daemon_init(struct daemon *d)
{
	static const struct client_ops ops = {
		.frame = rpc_handle_frame,
		.closed = client_closed,
	};
	struct client_ops cops = ops;
	struct lw_err err = { 0 };
	int rc;

	d->start_time = now_real_ns();
	d->signals.fd = -1;
	if ((rc = loop_new(&d->loop)) < 0) {
		log_error("cannot create the event loop: %s", strerror(-rc));
		return rc;
	}
	cops.data = d;
	clients_init(&d->clients, d->loop, &cops);
	reaper_init(&d->reaper, d->loop);
	loop_set_after_batch(d->loop, after_batch, d);
	if ((rc = setup_signals(d)) < 0) {
		log_error("cannot set up signal handling: %s", strerror(-rc));
		return rc;
	}
	if ((rc = lockspace_new(NULL, daemon_lockspace_hooks(d), &d->default_ls, &err)) < 0) {
		log_error("cannot create the default lockspace: %s", err.message);
		lw_err_clear(&err);
		return rc;
	}
	/* Without its audit log the daemon still serves locks: say so once. */
	if (audit_open(d->cfg.audit_log, &d->audit) < 0)
		log_warn("auditing is off: the audit log %s cannot be opened", d->cfg.audit_log);
	if ((rc = guard_new(d, &d->guard)) < 0)
		return rc;
	daemon_update_idle(d);
	return 0;
}

int daemon_listen(struct daemon *d)
{
	int rc, fds[CLIENT_KINDS];

	if ((rc = sockets_from_systemd((const char *const *)d->paths.sock, CLIENT_KINDS, fds)) < 0)
		return rc;
	for (int k = 0; k < CLIENT_KINDS; k++) {
		if (d->listeners[k].path)
			continue;	/* restored across re-exec */
		if ((rc = listener_open(&d->listeners[k], d, k, d->paths.sock[k], fds[k])) < 0)
			return rc;
	}
	return 0;
}

int daemon_run(struct daemon *d)
{
	log_info("lockwardend %s serving %s and %s", LW_VERSION,
		 d->paths.sock[CLIENT_LOCK], d->paths.sock[CLIENT_ADMIN]);
	return loop_run(d->loop);
}

void daemon_fini(struct daemon *d)
{
	/* First, while the audit log is open for the last records. */
	guard_free(d->guard);
	clients_fini(&d->clients);
	reaper_fini(&d->reaper);
	for (int k = 0; k < CLIENT_KINDS; k++)
		listener_close(&d->listeners[k], true);
	for (size_t i = 0; i < d->nspaces; i++)
		lockspace_free(d->spaces[i]);
	free(d->spaces);
	lockspace_free(d->default_ls);
	if (d->signals.fd >= 0) {
		loop_del(d->loop, &d->signals);
		safe_close(d->signals.fd);
	}
	loop_free(d->loop);
	audit_close(d->audit);
	config_free(&d->cfg);
}

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "daemon.h"
#include "events.h"
#include "log.h"
#include "rpcserver.h"
#include "status.h"
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

void daemon_paths_free(struct daemon_paths *p)
{
	free(p->config);
	for (int k = 0; k < CLIENT_KINDS; k++)
		free(p->sock[k]);
	free(p->pidfile);
	free(p->state);
	free(p->rundir);
	memset(p, 0, sizeof(*p));
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
	leasecheck_resource(d->leasecheck, ls, res, ev);
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

/* virtlockd's rule: root only on the system socket, the daemon's own
 * user on a session socket. */
static bool client_allowed(struct daemon *d, const struct client *c)
{
	return c->uid == (d->privileged ? 0 : geteuid());
}

void daemon_client_accepted(struct daemon *d, struct client *c, bool restored)
{
	if (!client_allowed(d, c)) {
		log_error("Disallowing client %d with uid %u on the %s socket",
			  c->pid, (unsigned int)c->uid, client_kind_name[c->kind]);
		events_client(d, c, CLIENT_EV_REFUSED, 0);
		client_close(c, "credentials");
		return;
	}
	log_debug("%s %s client %llu: pid %d uid %u", restored ? "restored" : "new",
		  client_kind_name[c->kind], (unsigned long long)c->id, c->pid, (unsigned int)c->uid);
	/* A client carried over a re-exec did not connect: the re-exec record says it. */
	if (!restored)
		events_client(d, c, CLIENT_EV_CONNECT, 0);
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
		events_owner_gone(d, c);
		held = lockspace_release_owner(d->default_ls, c->owner_pid);
		for (size_t i = 0; i < d->nspaces; i++)
			held += lockspace_release_owner(d->spaces[i], c->owner_pid);
		if (held > 0)
			reaper_kill(&d->reaper, c->src.fd, c->pid);
	}
	if (client_allowed(d, c))
		events_client(d, c, CLIENT_EV_DISCONNECT, held);
	listener_update(&d->listeners[c->kind], true);
	daemon_update_idle(d);
}

static bool is_critical(struct json_object *rec)
{
	struct json_object *sev;

	return json_object_object_get_ex(rec, "severity", &sev) &&
	       json_object_is_type(sev, json_type_string) &&
	       !strcmp(json_object_get_string(sev), "critical");
}

void daemon_report(struct daemon *d, struct json_object *rec)
{
	bool critical = is_critical(rec);

	recent_add(&d->recent, rec);
	if (critical)
		alert_raise(d->alerts, rec);
	audit_write(d->audit, rec, critical);
}

void daemon_report_text(struct daemon *d, const char *json, size_t len)
{
	audit_write_text(d->audit, json, len, false);
}

/* What the audit writer found about the log itself: the daemon's log says
 * it too, as it may be the only place left to say it. */
static void audit_note(void *data, struct json_object *rec)
{
	struct daemon *d = data;
	struct json_object *msg;

	if (json_object_object_get_ex(rec, "message", &msg))
		log_msg(is_critical(rec) ? LOG_LVL_ERROR : LOG_LVL_WARN, __FILE__, "audit log %s: %s",
			d->cfg.audit_log, json_object_get_string(msg));
	daemon_report(data, rec);
}

static struct json_object *collect_status(void *data)
{
	return daemon_status(data);
}

void daemon_request_reexec(struct daemon *d, const char *why)
{
	log_info("%s: re-executing", why);
	d->reexec = true;
	loop_quit(d->loop, 0);
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
			daemon_request_reexec(d, "SIGUSR1");
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
	audit_flush(d->audit);
}

/* ---- life ---- */

/* The audit log and the alerts: up before anything can happen. */
static int open_reporting(struct daemon *d)
{
	struct audit_config ac = {
		.path = d->cfg.audit_log,
		.rotate_size = d->cfg.audit_rotate_size,
		.keep = d->cfg.audit_rotate_keep,
		.queue_max = d->cfg.audit_queue_size,
	};
	struct alert_config al = {
		.hook = d->cfg.alert_hook,
		.timeout_s = d->cfg.alert_hook_timeout,
		.max_per_minute = d->cfg.alert_hook_max_per_minute,
	};
	int rc;

	audit_fsync_parse(d->cfg.audit_fsync, &ac.fsync);	/* checked at load */
	if ((rc = audit_open(&ac, d->loop, audit_note, d, &d->audit)) < 0)
		return rc;
	return alerts_new(&al, d->loop, &d->alerts);
}

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
	if ((rc = open_reporting(d)) < 0 || (rc = guard_new(d, &d->guard)) < 0 ||
	    (rc = leasecheck_new(d, &d->leasecheck)) < 0)
		return rc;
	if (d->cfg.metrics_file &&
	    (rc = metrics_new(d->cfg.metrics_file, d->cfg.metrics_interval, d->loop,
			      collect_status, d, &d->metrics)) < 0)
		return rc;
	daemon_update_idle(d);
	return 0;
}

/* Also where the daemon starts to serve: the "daemon_start" record, with
 * what a re-exec or takeover brought along. */
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
	events_daemon(d, "daemon_start");
	return 0;
}

int daemon_run(struct daemon *d)
{
	int rc;

	log_info("lockwardend %s serving %s and %s", LW_VERSION,
		 d->paths.sock[CLIENT_LOCK], d->paths.sock[CLIENT_ADMIN]);
	rc = loop_run(d->loop);
	if (d->reexec) {
		/* The next image continues the chain from what is on disk. */
		events_daemon(d, "reexec");
		if (audit_sync(d->audit, 2000) < 0)
			log_warn("re-exec: the audit log could not be written out first");
	}
	return rc;
}

void daemon_fini(struct daemon *d)
{
	/* The last metrics, while everything they count exists. */
	metrics_free(d->metrics);
	/* First, while the audit log is open for the last records. */
	guard_free(d->guard);
	leasecheck_free(d->leasecheck);
	events_daemon(d, "daemon_stop");
	/* While alerts and everything a note may touch still exist. */
	audit_sync(d->audit, 3000);
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
	alerts_free(d->alerts);
	audit_close(d->audit);
	loop_free(d->loop);
	recent_free(&d->recent);
	config_free(&d->cfg);
}

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
#include "execcheck.h"
#include "log.h"
#include "rpcserver.h"
#include "timefmt.h"
#include "util.h"

int daemon_default_paths(struct daemon *d)
{
	struct daemon_paths *p = &d->paths;

	p->rundir = sockets_default_rundir(d->privileged);
	for (int k = 0; k < CLIENT_KINDS; k++)
		p->sock[k] = sockets_default_path(d->privileged, k);
	if (d->privileged) {
		if (!p->pidfile)
			p->pidfile = xstrdup("/run/virtlockd.pid");
		p->state = xstrdup("/run/virtlockd-restart-exec.json");
		return 0;
	}
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

	guard_resource(d->guard, ls, res, ev);
	leasecheck_resource(d->leasecheck, ls, res, ev);
	if (ev != LS_OWNERS)
		daemon_update_idle(d);
}

static bool resource_lost(void *data, unsigned int id)
{
	struct daemon *d = data;

	return leasecheck_marked_lost(d->leasecheck, id);
}

void daemon_hold_orphan(struct daemon *d, int fd, const char *path, const char *why,
			bool restored)
{
	const struct held_fd *h;
	int rc = held_fds_add(&d->spaces.held, fd, path, why);

	if (rc < 0) {
		log_error("inherited fd %d (%s) cannot be kept: %s", fd, path ? path : "?",
			  strerror(-rc));
		return;
	}
	h = &d->spaces.held.v[d->spaces.held.n - 1];
	daemon_update_idle(d);
	if (restored) {
		log_warn("lock on %s (fd %d) still held but not restored: %s", h->path, fd, why);
		return;
	}
	log_error("lock on %s (fd %d, inode %lu) kept but NOT restored: %s; it stays held "
		  "until the daemon stops (lockwardenctl status lists it)", h->path, fd,
		  (unsigned long)h->ino, why);
	daemon_report(d, events_unrestored(h->path, h->fd, h->ino, h->why));
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
		events_client(d->audit, c, CLIENT_EV_REFUSED, 0);
		client_close(c, "credentials");
		return;
	}
	log_debug("%s %s client %llu: pid %d uid %u", restored ? "restored" : "new",
		  client_kind_name[c->kind], (unsigned long long)c->id, c->pid, (unsigned int)c->uid);
	/* A client carried over a re-exec did not connect: the re-exec record says it. */
	if (!restored)
		events_client(d->audit, c, CLIENT_EV_CONNECT, 0);
	listener_update(&d->listeners[c->kind],
			clients_count(&d->clients, c->kind) <
			(c->kind == CLIENT_LOCK ? d->cfg.max_clients : d->cfg.admin_max_clients));
	daemon_update_idle(d);
}

struct gone {
	struct audit *a;
	const struct client *c;
};

static int record_dropped(struct lockspace *ls, struct resource *res, void *arg)
{
	struct gone *g = arg;

	for (size_t i = 0; i < res->nowners; i++)
		if (res->owners[i] == g->c->owner_pid)
			events_lock(g->a, g->c, lockspace_dir(ls), res->name, LOCK_EV_DROPPED,
				    res->flags & LS_SHARED);
	return 0;
}

/* Release every lease of an owner whose own connection closed; an owner
 * that still had some is killed, as virtlockd does. */
static void client_closed(void *data, struct client *c)
{
	struct daemon *d = data;
	int held = 0;

	if (c->kind == CLIENT_LOCK && d->guard)
		guard_client_owner(d->guard, c, false);
	if (c->kind == CLIENT_LOCK && c->owner_pid && c->pid == c->owner_pid) {
		struct gone g = { d->audit, c };

		lockspaces_foreach_resource(&d->spaces, record_dropped, &g);
		held = lockspaces_release_owner(&d->spaces, c->owner_pid);
		if (held > 0)
			reaper_kill(&d->reaper, ownerid_steal_pidfd(&c->ident), c->pid);
	}
	if (client_allowed(d, c))
		events_client(d->audit, c, CLIENT_EV_DISCONNECT, held);
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

void daemon_event(struct daemon *d, const char *event, const char *why)
{
	struct daemon_counts n = {
		.locks = d->spaces.nresources,
		.unrestored = d->spaces.held.norphans,
		.clients = clients_count(&d->clients, CLIENT_LOCK),
	};

	events_daemon(d->audit, event, &n, why);
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

/* ---- status ---- */

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

struct json_object *daemon_status(struct daemon *d)
{
	struct json_object *st = json_object_new_object(), *o;
	uint64_t now = now_real_ns();
	char started[TIME_RFC3339_LEN];

	time_format(d->start_time, started);
	json_object_object_add(st, "version", json_object_new_string(LW_VERSION));
	json_object_object_add(st, "pid", json_object_new_int(getpid()));
	json_object_object_add(st, "started", json_object_new_string(started));
	add_u64(st, "start_time_seconds", d->start_time / 1000000000ull);
	add_u64(st, "uptime_seconds", (now - d->start_time) / 1000000000ull);

	o = json_object_new_object();
	json_object_object_add(o, "lock", json_object_new_string(d->paths.sock[CLIENT_LOCK]));
	json_object_object_add(o, "admin", json_object_new_string(d->paths.sock[CLIENT_ADMIN]));
	json_object_object_add(st, "sockets", o);

	o = json_object_new_object();
	add_u64(o, "lock", clients_count(&d->clients, CLIENT_LOCK));
	add_u64(o, "admin", clients_count(&d->clients, CLIENT_ADMIN));
	json_object_object_add(st, "clients", o);

	o = json_object_new_object();
	add_u64(o, "held", d->spaces.nresources);
	add_u64(o, "lockspaces", lockspaces_count(&d->spaces));
	add_u64(o, "unrestored", d->spaces.held.norphans);
	json_object_object_add(st, "locks", o);
	if (d->spaces.held.norphans)
		json_object_object_add(st, "unrestored_locks", held_fds_status(&d->spaces.held));
	if ((o = leasecheck_lost(d->leasecheck)))
		json_object_object_add(st, "lost_locks", o);
	if (d->config_error)
		json_object_object_add(st, "config_error", json_object_new_string(d->config_error));

	json_object_object_add(st, "audit", audit_status(d->audit));
	json_object_object_add(st, "alerts", alerts_status(d->alerts));
	json_object_object_add(st, "guard", guard_status(d->guard));
	return st;
}

static struct json_object *collect_status(void *data)
{
	return daemon_status(data);
}

/* The guard's and the lease check's report callback. */
static void report(void *data, struct json_object *rec)
{
	daemon_report(data, rec);
}

static int open_guard(struct daemon *d)
{
	struct guard_params p = {
		.loop = d->loop,
		.settings = &d->cfg.guard,
		.rundir = d->paths.rundir,
		.pidfile = d->paths.pidfile,
		.clients = &d->clients,
		.spaces = &d->spaces,
		.audit = d->audit,
		.report = report,
		.arg = d,
	};

	return guard_new(&p, &d->guard);
}

int daemon_request_reexec(struct daemon *d, const char *why, struct lw_err *err)
{
	char *path = NULL, *bad = NULL;
	int rc;

	if ((rc = exec_check(d->argv, d->paths.config, &path, &bad)) < 0) {
		log_error("%s: re-exec refused: %s; serving on with every lock held", why, bad);
		daemon_event(d, "reexec_failed", bad);
		lw_err_set(err, ERR_FROM_ADMIN, ERR_OPERATION_INVALID, "re-exec refused: %s", bad);
		free(bad);
		return rc;
	}
	log_info("%s: re-executing %s", why, path);
	free(d->reexec_path);
	d->reexec_path = path;
	d->reexec = true;
	loop_quit(d->loop, 0);
	return 0;
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
	/* An orphaned lock is a lock too: only a stop lets it go. */
	idle = !clients_count(&d->clients, CLIENT_LOCK) &&
	       !clients_count(&d->clients, CLIENT_ADMIN) && !d->spaces.nresources &&
	       !d->spaces.held.n;
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
		case SIGUSR1: {
			struct lw_err err = { 0 };

			daemon_request_reexec(d, "SIGUSR1", &err);
			lw_err_clear(&err);
			break;
		}
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
		.key_path = d->cfg.audit_key,
		.tip_every = d->cfg.audit_tip_every,
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

static int open_leasecheck(struct daemon *d)
{
	struct leasecheck_params p = {
		.loop = d->loop,
		.interval_s = d->cfg.lease_check_interval,
		.filesystems = d->cfg.lease_check_filesystems.v,
		.nfilesystems = d->cfg.lease_check_filesystems.n,
		.action = d->cfg.lease_lost_action,
		.clients = &d->clients,
		.report = report,
		.data = d,
	};

	return leasecheck_new(&p, &d->leasecheck);
}

int daemon_init(struct daemon *d)
{
	static const struct client_ops ops = {
		.frame = rpc_handle_frame,
		.closed = client_closed,
	};
	struct client_ops cops = ops;
	struct lockspaces_ops lsops = {
		.changed = resource_changed, .lost = resource_lost, .data = d,
	};
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
	if ((rc = lockspaces_init(&d->spaces, &lsops, &err)) < 0) {
		log_error("cannot create the default lockspace: %s", err.message);
		lw_err_clear(&err);
		return rc;
	}
	if ((rc = open_reporting(d)) < 0 || (rc = open_guard(d)) < 0 ||
	    (rc = open_leasecheck(d)) < 0)
		return rc;
	if (d->cfg.metrics_file &&
	    (rc = metrics_new(d->cfg.metrics_file, d->cfg.metrics_interval, d->loop,
			      collect_status, d, &d->metrics)) < 0)
		return rc;
	daemon_update_idle(d);
	return 0;
}

static void accept_client(void *data, struct listener *l, int fd)
{
	struct daemon *d = data;
	struct client *c;
	int rc;

	if ((rc = clients_add(&d->clients, fd, l->kind, &c)) < 0) {
		log_warn("cannot take a client on %s: %s", l->path, strerror(-rc));
		close(fd);
		return;
	}
	daemon_client_accepted(d, c, false);
}

int daemon_open_listener(struct daemon *d, int kind, int fd)
{
	return listener_open(&d->listeners[kind], d->loop, kind, d->paths.sock[kind], fd,
			     accept_client, d);
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
		if ((rc = daemon_open_listener(d, k, fds[k])) < 0)
			return rc;
	}
	daemon_event(d, "daemon_start", d->config_error);
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
		daemon_event(d, "reexec", NULL);
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
	daemon_event(d, "daemon_stop", NULL);
	/* While alerts and everything a note may touch still exist. */
	audit_sync(d->audit, 3000);
	clients_fini(&d->clients);
	reaper_fini(&d->reaper);
	for (int k = 0; k < CLIENT_KINDS; k++)
		listener_close(&d->listeners[k], true);
	lockspaces_fini(&d->spaces);
	if (d->signals.fd >= 0) {
		loop_del(d->loop, &d->signals);
		safe_close(d->signals.fd);
	}
	alerts_free(d->alerts);
	audit_close(d->audit);
	loop_free(d->loop);
	recent_free(&d->recent);
	config_free(&d->cfg);
	free(d->reexec_path);
	free(d->config_error);
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libvirt's admin program (0x06900690 v1) on the admin socket, as
 * `virt-admin -c virtlockd:///system` speaks it (libvirt 9.0's
 * admin_protocol.x). Two servers, as in virtlockd: "virtlockd" (the lock
 * socket's clients) and "admin" (this socket's). There is no thread pool:
 * one event loop serves everything, which virtlockd reports as zero
 * workers, and so do we. Messages are virtlockd's, so scripts that parse
 * virt-admin's output see no difference.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "rpcserver.h"
#include "util.h"

enum admin_proc {
	ADMIN_PROC_CONNECT_OPEN				= 1,
	ADMIN_PROC_CONNECT_CLOSE			= 2,
	ADMIN_PROC_CONNECT_GET_LIB_VERSION		= 3,
	ADMIN_PROC_CONNECT_LIST_SERVERS			= 4,
	ADMIN_PROC_CONNECT_LOOKUP_SERVER		= 5,
	ADMIN_PROC_SERVER_GET_THREADPOOL_PARAMETERS	= 6,
	ADMIN_PROC_SERVER_SET_THREADPOOL_PARAMETERS	= 7,
	ADMIN_PROC_SERVER_LIST_CLIENTS			= 8,
	ADMIN_PROC_SERVER_LOOKUP_CLIENT			= 9,
	ADMIN_PROC_CLIENT_GET_INFO			= 10,
	ADMIN_PROC_CLIENT_CLOSE				= 11,
	ADMIN_PROC_SERVER_GET_CLIENT_LIMITS		= 12,
	ADMIN_PROC_SERVER_SET_CLIENT_LIMITS		= 13,
	ADMIN_PROC_CONNECT_GET_LOGGING_OUTPUTS		= 14,
	ADMIN_PROC_CONNECT_GET_LOGGING_FILTERS		= 15,
	ADMIN_PROC_CONNECT_SET_LOGGING_OUTPUTS		= 16,
	ADMIN_PROC_CONNECT_SET_LOGGING_FILTERS		= 17,
	ADMIN_PROC_SERVER_UPDATE_TLS_FILES		= 18,
	ADMIN_PROC_CONNECT_SET_DAEMON_TIMEOUT		= 19,
};

/* virTypedParameterType */
enum tp_type {
	TP_INT = 1, TP_UINT = 2, TP_LLONG = 3, TP_ULLONG = 4,
	TP_DOUBLE = 5, TP_BOOLEAN = 6, TP_STRING = 7,
};

#define ADMIN_STRING_MAX		4194304
#define ADMIN_PARAMS_MAX		64
#define LIBVIRT_VERSION_NUMBER		9000000		/* the virtlockd we replace */
#define CLIENT_TRANSPORT_UNIX		0

/* The servers, by client kind. */

static int get_str(struct xdr_in *in, char **s)
{
	return xdr_get_string(in, ADMIN_STRING_MAX, s);
}

static int check_flags(struct lw_err *err, const char *func, uint32_t flags)
{
	if (flags) {
		lw_err_flags(err, ERR_FROM_ADMIN, func, flags);
		return -EINVAL;
	}
	return 0;
}

/* The flags every procedure ends with; none is known. */
static int get_flags(struct xdr_in *in, const char *func, struct lw_err *err)
{
	uint32_t flags;

	if (xdr_get_u32(in, &flags))
		return -EBADMSG;
	return check_flags(err, func, flags);
}

/* admin_nonnull_server: its name, looked up as virNetDaemonGetServer does. */
static int get_server(struct xdr_in *in, int *kind, struct lw_err *err)
{
	char *name;

	if (get_str(in, &name))
		return -EBADMSG;
	for (*kind = 0; *kind < CLIENT_KINDS; (*kind)++) {
		if (!strcmp(name, client_server_name[*kind])) {
			free(name);
			return 0;
		}
	}
	lw_err_set(err, ERR_FROM_RPC, ERR_NO_SERVER, "No server named '%s'", name);
	free(name);
	return -ENOENT;
}

/* admin_nonnull_client: server, id, timestamp, transport; the id decides. */
static int get_client(struct daemon *d, struct xdr_in *in, struct client **out,
		      struct lw_err *err)
{
	uint64_t id, ts;
	uint32_t transport;
	int kind, rc;

	if ((rc = get_server(in, &kind, err)))
		return rc;
	if (xdr_get_u64(in, &id) || xdr_get_u64(in, &ts) || xdr_get_u32(in, &transport))
		return -EBADMSG;
	*out = clients_find(&d->clients, id);
	if (!*out || (*out)->kind != (enum client_kind)kind) {
		lw_err_set(err, ERR_FROM_RPC, ERR_NO_CLIENT, "No client with matching ID '%llu'",
			   (unsigned long long)id);
		return -ENOENT;
	}
	return 0;
}

static void put_client(struct buf *out, const struct client *c)
{
	xdr_put_string(out, client_server_name[c->kind]);
	xdr_put_u64(out, c->id);
	xdr_put_u64(out, c->connect_time / 1000000000ull);
	xdr_put_u32(out, CLIENT_TRANSPORT_UNIX);
}

static void put_param_head(struct buf *out, const char *field, enum tp_type type)
{
	xdr_put_string(out, field);
	xdr_put_u32(out, type);
}

static void put_uint(struct buf *out, const char *field, uint32_t v)
{
	put_param_head(out, field, TP_UINT);
	xdr_put_u32(out, v);
}

static void put_int(struct buf *out, const char *field, int32_t v)
{
	put_param_head(out, field, TP_INT);
	xdr_put_u32(out, (uint32_t)v);
}

static void put_string_param(struct buf *out, const char *field, const char *v)
{
	put_param_head(out, field, TP_STRING);
	xdr_put_string(out, v);
}

/* Skip a typed parameter list, keeping the UINT values of the names asked for. */
struct want_uint {
	const char *field;
	bool set;
	uint32_t v;
};

static int get_uint_params(struct xdr_in *in, struct want_uint *want, size_t nwant,
			   struct lw_err *err)
{
	uint32_t n, type, u32;
	uint64_t u64;
	char *field, *s;
	int rc = 0;

	if (xdr_get_u32(in, &n))
		return -EBADMSG;
	if (n > ADMIN_PARAMS_MAX) {
		lw_err_set(err, ERR_FROM_RPC, ERR_RPC, "too many parameters: %u", n);
		return -E2BIG;
	}
	for (uint32_t i = 0; i < n; i++) {
		size_t w;

		if (get_str(in, &field))
			return -EBADMSG;	/* nothing was allocated */
		if (xdr_get_u32(in, &type)) {
			free(field);
			return -EBADMSG;
		}
		for (w = 0; w < nwant && strcmp(want[w].field, field); w++)
			;
		switch (type) {
		case TP_INT: case TP_UINT: case TP_BOOLEAN:
			rc = xdr_get_u32(in, &u32);
			break;
		case TP_LLONG: case TP_ULLONG: case TP_DOUBLE:
			rc = xdr_get_u64(in, &u64);
			break;
		case TP_STRING:
			rc = get_str(in, &s);
			if (!rc)
				free(s);
			break;
		default:
			rc = -EBADMSG;
		}
		if (!rc && (w == nwant || type != TP_UINT)) {
			/* virTypedParamsValidate's complaint */
			lw_err_set(err, ERR_FROM_RPC, ERR_INVALID_ARG,
				   w == nwant ? "parameter '%s' not supported" :
				   "invalid type for parameter '%s'", field);
			rc = -EINVAL;
		}
		free(field);
		if (rc)
			return rc;
		want[w].set = true;
		want[w].v = u32;
	}
	return 0;
}

/* ---- procedures ---- */

static int proc_open(struct daemon *d, struct client *c, struct xdr_in *in,
		     struct buf *out, struct lw_err *err)
{
	return get_flags(in, "adminDispatchConnectOpen", err);
}

/* The client closes its end after the reply; the connection goes with it. */
static int proc_close(struct daemon *d, struct client *c, struct xdr_in *in,
		      struct buf *out, struct lw_err *err)
{
	return 0;
}

static int proc_lib_version(struct daemon *d, struct client *c, struct xdr_in *in,
			    struct buf *out, struct lw_err *err)
{
	xdr_put_u64(out, LIBVIRT_VERSION_NUMBER);
	return 0;
}

static int proc_list_servers(struct daemon *d, struct client *c, struct xdr_in *in,
			     struct buf *out, struct lw_err *err)
{
	uint32_t need, n;
	int rc;

	if (xdr_get_u32(in, &need))
		return -EBADMSG;
	if ((rc = get_flags(in, "adminConnectListServers", err)))
		return rc;
	/* need_results is a yes/no (libvirt's gendispatch), not a count */
	n = need ? CLIENT_KINDS : 0;
	xdr_put_u32(out, n);
	for (uint32_t i = 0; i < n; i++)
		xdr_put_string(out, client_server_name[i]);
	xdr_put_u32(out, CLIENT_KINDS);
	return 0;
}

static int proc_lookup_server(struct daemon *d, struct client *c, struct xdr_in *in,
			      struct buf *out, struct lw_err *err)
{
	int kind, rc;

	if ((rc = get_server(in, &kind, err)) ||
	    (rc = get_flags(in, "adminConnectLookupServer", err)))
		return rc;
	xdr_put_string(out, client_server_name[kind]);
	return 0;
}

static int proc_get_threadpool(struct daemon *d, struct client *c, struct xdr_in *in,
			       struct buf *out, struct lw_err *err)
{
	static const char *const names[] = {
		"minWorkers", "maxWorkers", "nWorkers", "freeWorkers", "prioWorkers",
		"jobQueueDepth",
	};
	int kind, rc;

	if ((rc = get_server(in, &kind, err)) ||
	    (rc = get_flags(in, "adminServerGetThreadPoolParameters", err)))
		return rc;
	xdr_put_u32(out, ARRAY_SIZE(names));
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		put_uint(out, names[i], 0);
	return 0;
}

static int proc_set_threadpool(struct daemon *d, struct client *c, struct xdr_in *in,
			       struct buf *out, struct lw_err *err)
{
	struct want_uint want[] = { { "minWorkers" }, { "maxWorkers" }, { "prioWorkers" } };
	int kind, rc;

	if ((rc = get_server(in, &kind, err)) || (rc = get_uint_params(in, want, 3, err)))
		return rc;
	if ((rc = get_flags(in, "adminServerSetThreadPoolParameters", err)))
		return rc;
	/* virThreadPoolSetParameters' rule, with no workers to start from. */
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		if (want[i].set && want[i].v) {
			lw_err_set(err, ERR_FROM_RPC, ERR_INVALID_ARG, "%s",
				   "maxWorkers must not be switched from zero to non-zero and vice versa");
			return -EINVAL;
		}
	}
	return 0;
}

static int proc_list_clients(struct daemon *d, struct client *c, struct xdr_in *in,
			     struct buf *out, struct lw_err *err)
{
	uint32_t need, n = 0;
	struct client *it;
	size_t count_at;
	int kind, rc;

	if ((rc = get_server(in, &kind, err)))
		return rc;
	if (xdr_get_u32(in, &need))
		return -EBADMSG;
	if ((rc = get_flags(in, "adminServerListClients", err)))
		return rc;
	count_at = out->len;
	xdr_put_u32(out, 0);
	clients_foreach(&d->clients, it) {
		if (it->kind != (enum client_kind)kind || !need)
			continue;
		put_client(out, it);
		n++;
	}
	xdr_patch_u32(out, count_at, n);
	xdr_put_u32(out, clients_count(&d->clients, kind));
	return 0;
}

static int proc_lookup_client(struct daemon *d, struct client *c, struct xdr_in *in,
			      struct buf *out, struct lw_err *err)
{
	struct client *target;
	uint64_t id;
	int kind, rc;

	if ((rc = get_server(in, &kind, err)))
		return rc;
	if (xdr_get_u64(in, &id))
		return -EBADMSG;
	if ((rc = get_flags(in, "adminServerLookupClient", err)))
		return rc;
	target = clients_find(&d->clients, id);
	if (!target || target->kind != (enum client_kind)kind) {
		lw_err_set(err, ERR_FROM_RPC, ERR_NO_CLIENT, "No client with matching ID '%llu'",
			   (unsigned long long)id);
		return -ENOENT;
	}
	put_client(out, target);
	return 0;
}

/* Where virtlockd has no identity to give, we give the peer credentials. */
static int proc_client_info(struct daemon *d, struct client *c, struct xdr_in *in,
			    struct buf *out, struct lw_err *err)
{
	struct client *target;
	struct passwd *pw;
	struct group *gr;
	uint32_t n = 4;
	size_t count_at;
	int rc;

	if ((rc = get_client(d, in, &target, err)))
		return rc;
	if ((rc = get_flags(in, "adminClientGetInfo", err)))
		return rc;
	pw = getpwuid(target->uid);
	gr = getgrgid(target->gid);
	count_at = out->len;
	xdr_put_u32(out, 0);
	put_param_head(out, "readonly", TP_BOOLEAN);
	xdr_put_u32(out, 0);
	put_int(out, "unix_user_id", target->uid);
	if (pw) {
		put_string_param(out, "unix_user_name", pw->pw_name);
		n++;
	}
	put_int(out, "unix_group_id", target->gid);
	if (gr) {
		put_string_param(out, "unix_group_name", gr->gr_name);
		n++;
	}
	put_int(out, "unix_process_id", target->pid);
	xdr_patch_u32(out, count_at, n);
	return 0;
}

static int proc_client_close(struct daemon *d, struct client *c, struct xdr_in *in,
			     struct buf *out, struct lw_err *err)
{
	struct client *target;
	int rc;

	if ((rc = get_client(d, in, &target, err)))
		return rc;
	if ((rc = get_flags(in, "adminClientClose", err)))
		return rc;
	if (target == c) {
		/* Closing now would lose the reply; the caller hangs up anyway. */
		return 0;
	}
	log_info("admin client %llu (pid %d) disconnects client %llu (pid %d)",
		 (unsigned long long)c->id, c->pid, (unsigned long long)target->id, target->pid);
	client_close(target, "disconnected by an admin client");
	return 0;
}

static unsigned int *max_clients(struct daemon *d, int kind)
{
	return kind == CLIENT_LOCK ? &d->cfg.max_clients : &d->cfg.admin_max_clients;
}

/* No client waits for authentication here: the unauthenticated limit is
 * reported equal to the limit, as virtlockd's default config has it. */
static int proc_get_client_limits(struct daemon *d, struct client *c, struct xdr_in *in,
				  struct buf *out, struct lw_err *err)
{
	int kind, rc;

	if ((rc = get_server(in, &kind, err)) ||
	    (rc = get_flags(in, "adminServerGetClientLimits", err)))
		return rc;
	xdr_put_u32(out, 4);
	put_uint(out, "nclients_max", *max_clients(d, kind));
	put_uint(out, "nclients", clients_count(&d->clients, kind));
	put_uint(out, "nclients_unauth_max", *max_clients(d, kind));
	put_uint(out, "nclients_unauth", 0);
	return 0;
}

static int proc_set_client_limits(struct daemon *d, struct client *c, struct xdr_in *in,
				  struct buf *out, struct lw_err *err)
{
	struct want_uint want[] = { { "nclients_max" }, { "nclients_unauth_max" } };
	uint32_t max;
	int kind, rc;

	if ((rc = get_server(in, &kind, err)) || (rc = get_uint_params(in, want, 2, err)))
		return rc;
	if ((rc = get_flags(in, "adminServerSetClientLimits", err)))
		return rc;
	max = want[0].set ? want[0].v : *max_clients(d, kind);
	if (!max || (want[1].set && want[1].v > max)) {
		lw_err_set(err, ERR_FROM_RPC, ERR_INVALID_ARG, "%s", !max ?
			   "The overall maximum number of clients must be greater than zero" :
			   "The overall maximum number of clients waiting for authentication must"
			   " not be less than the overall maximum number of clients");
		return -EINVAL;
	}
	*max_clients(d, kind) = max;
	listener_update(&d->listeners[kind], clients_count(&d->clients, kind) < max);
	return 0;
}

/* Entries of a log filters/outputs string. */
static uint32_t count_words(const char *s)
{
	uint32_t n = 0;

	for (const char *p = s; *p; p++)
		n += (p == s || p[-1] == ' ' || p[-1] == '\t') && *p != ' ' && *p != '\t';
	return n;
}

static int proc_get_log_outputs(struct daemon *d, struct client *c, struct xdr_in *in,
				struct buf *out, struct lw_err *err)
{
	int rc;

	if ((rc = get_flags(in, "adminConnectGetLoggingOutputs", err)))
		return rc;
	xdr_put_string(out, log_get_outputs());
	xdr_put_u32(out, count_words(log_get_outputs()));
	return 0;
}

static int proc_get_log_filters(struct daemon *d, struct client *c, struct xdr_in *in,
				struct buf *out, struct lw_err *err)
{
	uint32_t n = count_words(log_get_filters());
	int rc;

	if ((rc = get_flags(in, "adminConnectGetLoggingFilters", err)))
		return rc;
	xdr_put_opt_string(out, n ? log_get_filters() : NULL);
	xdr_put_u32(out, n);
	return 0;
}

/* Set outputs (which) or filters from an optional string; NULL or "": the default. */
static int set_logging(struct daemon *d, struct xdr_in *in, bool outputs, struct lw_err *err)
{
	char *value = NULL, *filters, *outs;
	const char *why;
	uint32_t flags;
	int rc;

	if (xdr_get_opt_string(in, ADMIN_STRING_MAX, &value) || xdr_get_u32(in, &flags)) {
		free(value);
		return -EBADMSG;
	}
	if ((rc = check_flags(err, outputs ? "adminConnectSetLoggingOutputs" :
			      "adminConnectSetLoggingFilters", flags)))
		goto out;
	if (value && *value && (outputs ? log_check_outputs(value, &why) :
				log_check_filters(value, &why)) < 0) {
		lw_err_set(err, ERR_FROM_RPC, ERR_INVALID_ARG, "%s: %s", value, why);
		rc = -EINVAL;
		goto out;
	}
	filters = xstrdup(outputs ? log_get_filters() : value && *value ? value : NULL);
	outs = xstrdup(outputs ? (value && *value ? value : NULL) : log_get_outputs());
	rc = log_setup(log_get_level(), filters && *filters ? filters : NULL, outs,
		       d->godaemon, d->verbose);
	if (rc < 0)
		lw_err_sys(err, ERR_FROM_RPC, -rc, "cannot apply the logging %s",
			   outputs ? "outputs" : "filters");
	free(filters);
	free(outs);
out:
	free(value);
	return rc;
}

static int proc_set_log_outputs(struct daemon *d, struct client *c, struct xdr_in *in,
				struct buf *out, struct lw_err *err)
{
	return set_logging(d, in, true, err);
}

static int proc_set_log_filters(struct daemon *d, struct client *c, struct xdr_in *in,
				struct buf *out, struct lw_err *err)
{
	return set_logging(d, in, false, err);
}

static int proc_update_tls(struct daemon *d, struct client *c, struct xdr_in *in,
			   struct buf *out, struct lw_err *err)
{
	int kind, rc;

	if ((rc = get_server(in, &kind, err)) ||
	    (rc = get_flags(in, "adminServerUpdateTlsFiles", err)))
		return rc;
	lw_err_set(err, ERR_FROM_RPC, ERR_INTERNAL_ERROR, "%s",
		   "no tls service found, unable to update tls files");
	return -ENOTSUP;
}

static int proc_set_timeout(struct daemon *d, struct client *c, struct xdr_in *in,
			    struct buf *out, struct lw_err *err)
{
	uint32_t timeout;
	int rc;

	if (xdr_get_u32(in, &timeout))
		return -EBADMSG;
	if ((rc = get_flags(in, "adminConnectSetDaemonTimeout", err)))
		return rc;
	d->timeout = timeout;
	daemon_update_idle(d);
	return 0;
}

static const rpc_proc_fn admin_procs[] = {
	[ADMIN_PROC_CONNECT_OPEN]			= proc_open,
	[ADMIN_PROC_CONNECT_CLOSE]			= proc_close,
	[ADMIN_PROC_CONNECT_GET_LIB_VERSION]		= proc_lib_version,
	[ADMIN_PROC_CONNECT_LIST_SERVERS]		= proc_list_servers,
	[ADMIN_PROC_CONNECT_LOOKUP_SERVER]		= proc_lookup_server,
	[ADMIN_PROC_SERVER_GET_THREADPOOL_PARAMETERS]	= proc_get_threadpool,
	[ADMIN_PROC_SERVER_SET_THREADPOOL_PARAMETERS]	= proc_set_threadpool,
	[ADMIN_PROC_SERVER_LIST_CLIENTS]		= proc_list_clients,
	[ADMIN_PROC_SERVER_LOOKUP_CLIENT]		= proc_lookup_client,
	[ADMIN_PROC_CLIENT_GET_INFO]			= proc_client_info,
	[ADMIN_PROC_CLIENT_CLOSE]			= proc_client_close,
	[ADMIN_PROC_SERVER_GET_CLIENT_LIMITS]		= proc_get_client_limits,
	[ADMIN_PROC_SERVER_SET_CLIENT_LIMITS]		= proc_set_client_limits,
	[ADMIN_PROC_CONNECT_GET_LOGGING_OUTPUTS]	= proc_get_log_outputs,
	[ADMIN_PROC_CONNECT_GET_LOGGING_FILTERS]	= proc_get_log_filters,
	[ADMIN_PROC_CONNECT_SET_LOGGING_OUTPUTS]	= proc_set_log_outputs,
	[ADMIN_PROC_CONNECT_SET_LOGGING_FILTERS]	= proc_set_log_filters,
	[ADMIN_PROC_SERVER_UPDATE_TLS_FILES]		= proc_update_tls,
	[ADMIN_PROC_CONNECT_SET_DAEMON_TIMEOUT]		= proc_set_timeout,
};

const struct rpc_program admin_program = {
	.prog = ADMIN_PROGRAM,
	.vers = ADMIN_PROGRAM_VERSION,
	.kind = CLIENT_ADMIN,
	.procs = admin_procs,
	.nprocs = ARRAY_SIZE(admin_procs),
};

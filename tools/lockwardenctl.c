// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * lockwardenctl: ask a running lockwardend what it holds and how it is
 * doing, over its admin socket (libvirt's framing, lockwarden's own admin
 * program, lwadmin_protocol.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clients.h"
#include "lock_protocol.h"
#include "lwadmin_protocol.h"
#include "recordfmt.h"
#include "rpcclient.h"
#include "sockets.h"
#include "timefmt.h"
#include "util.h"

struct ctl {
	struct rpc_client rpc;
	const char *socket;
	bool json;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: lockwardenctl [OPTIONS] COMMAND\n"
		"\n"
		"Commands:\n"
		"  status                     version, uptime, sockets, monitors, policy, counters\n"
		"  locks                      every lock: resource, lockspace, mode, owners, VM\n"
		"  clients                    every connection on both sockets\n"
		"  violations [--since TIME] [--limit N]\n"
		"                             the latest violations and denials the daemon keeps\n"
		"  reexec                     re-execute the daemon in place (as SIGUSR1)\n"
		"  test-alert                 raise a critical test event: syslog, hook, audit log\n"
		"\n"
		"Options:\n"
		"  -s, --socket PATH   the admin socket (default /run/libvirt/virtlockd-admin-sock,\n"
		"                      $XDG_RUNTIME_DIR/libvirt/virtlockd-admin-sock if not root)\n"
		"  -j, --json          the daemon's answer as JSON\n"
		"  -h, --help\n"
		"\n"
		"TIME: 2024-05-01T12:00:00Z, \"2024-05-01 12:00\" (UTC), @EPOCH, or 90s, 15m, 2h, 7d ago.\n");
}

/* Call proc; the JSON document it answers, or NULL (said why). */
static struct json_object *call(struct ctl *ctl, int proc, const struct buf *args, bool want_doc)
{
	struct lw_err err = { 0 };
	struct buf reply = { 0 };
	struct json_object *doc = NULL;
	struct xdr_in in;
	char *text = NULL;
	int rc;

	rc = rpc_client_call(&ctl->rpc, proc, args, &reply, &err);
	if (rc == -EREMOTEIO) {
		fprintf(stderr, "lockwardenctl: %s\n", err.message ? err.message : "error");
		goto out;
	}
	if (rc < 0) {
		fprintf(stderr, "lockwardenctl: %s: %s\n", ctl->socket,
			rc == -EBADMSG ? "not a lockwardend reply" : strerror(-rc));
		goto out;
	}
	if (!want_doc) {
		doc = json_object_new_object();
		goto out;
	}
	xdr_in_init(&in, reply.data, reply.len);
	if (xdr_get_string(&in, RPC_STRING_MAX, &text) ||
	    !(doc = json_tokener_parse(text)))
		fprintf(stderr, "lockwardenctl: the daemon's answer is not a JSON document\n");
out:
	free(text);
	buf_free(&reply);
	lw_err_clear(&err);
	return doc;
}

/* The status object as indented "key: value" lines. */
static void print_tree(struct json_object *o, int depth)
{
	json_object_object_foreach(o, key, v) {
		printf("%*s%s:", depth * 2, "", key);
		switch (json_object_get_type(v)) {
		case json_type_object:
			putchar('\n');
			print_tree(v, depth + 1);
			break;
		case json_type_array:
			for (size_t i = 0; i < json_object_array_length(v); i++)
				printf("%s %s", i ? "," : "",
				       json_object_get_string(json_object_array_get_idx(v, i)));
			putchar('\n');
			break;
		case json_type_null:
			printf(" -\n");
			break;
		default:
			printf(" %s\n", json_object_get_string(v));
		}
	}
}

static void print_locks(struct json_object *list)
{
	printf("%-40s %-20s %-9s %s\n", "RESOURCE", "LOCKSPACE", "MODE", "OWNERS (PID VM)");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *l = json_object_array_get_idx(list, i), *owners;

		printf("%-40s %-20s %-9s", record_str(l, "resource"),
		       *record_str(l, "lockspace") ? record_str(l, "lockspace") : "-",
		       record_str(l, "mode"));
		if (json_object_object_get_ex(l, "owners", &owners))
			for (size_t j = 0; j < json_object_array_length(owners); j++) {
				struct json_object *ow = json_object_array_get_idx(owners, j);

				printf(" %s %s", record_str(ow, "pid"),
				       *record_str(ow, "vm_name") ? record_str(ow, "vm_name") : "-");
			}
		putchar('\n');
	}
}

static void print_clients(struct json_object *list)
{
	printf("%6s %-6s %7s %6s %-20s %s\n", "ID", "SOCKET", "PID", "UID", "CONNECTED (UTC)",
	       "OWNER (PID VM)");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *c = json_object_array_get_idx(list, i);
		const char *t = record_str(c, "connected");

		printf("%6s %-6s %7s %6s %.10s %-9.8s", record_str(c, "id"), record_str(c, "socket"),
		       record_str(c, "pid"), record_str(c, "uid"), t, strlen(t) > 11 ? t + 11 : "");
		if (*record_str(c, "owner_pid"))
			printf(" %s %s%s", record_str(c, "owner_pid"), record_str(c, "vm_name"),
			       !strcmp(record_str(c, "restricted"), "true") ? " (restricted)" : "");
		putchar('\n');
	}
}

static void print_violations(struct json_object *list)
{
	record_table_header(stdout);
	for (size_t i = 0; i < json_object_array_length(list); i++)
		record_table_row(stdout, json_object_array_get_idx(list, i));
}

static int cmd_violations(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "since", required_argument, NULL, 'S' },
		{ "limit", required_argument, NULL, 'n' },
		{ 0 },
	};
	struct json_object *doc;
	struct buf args = { 0 };
	uint64_t since = 0;
	unsigned long limit = 0;
	char *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "S:n:", lopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			if (time_parse(optarg, now_real_ns(), &since) < 0) {
				fprintf(stderr, "lockwardenctl: invalid time '%s' (see --help)\n", optarg);
				return 2;
			}
			break;
		case 'n':
			errno = 0;
			limit = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || limit > UINT32_MAX) {
				fprintf(stderr, "lockwardenctl: invalid limit '%s'\n", optarg);
				return 2;
			}
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	xdr_put_u64(&args, since);
	xdr_put_u32(&args, limit);
	doc = call(ctl, LWADMIN_PROC_VIOLATIONS, &args, true);
	buf_free(&args);
	if (!doc)
		return 1;
	if (ctl->json)
		puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_violations(doc);
	json_object_put(doc);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const struct {
		const char *name;
		int proc;
		void (*print)(struct json_object *doc);
	} cmds[] = {
		{ "status", LWADMIN_PROC_STATUS, NULL },
		{ "locks", LWADMIN_PROC_LOCKS, print_locks },
		{ "clients", LWADMIN_PROC_CLIENTS, print_clients },
		{ "reexec", LWADMIN_PROC_REEXEC, NULL },
		{ "test-alert", LWADMIN_PROC_TEST_ALERT, NULL },
	};
	struct ctl ctl = { 0 };
	struct json_object *doc;
	char *sock = NULL;
	const char *cmd;
	int c, rc = 1;
	size_t i;

	/* Options before the command; the command's own come after it. */
	while ((c = getopt_long(argc, argv, "+s:jh", lopts, NULL)) != -1) {
		switch (c) {
		case 's': ctl.socket = optarg; break;
		case 'j': ctl.json = true; break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	for (i = 0; i < ARRAY_SIZE(cmds) && strcmp(cmds[i].name, cmd); i++)
		;
	if (i == ARRAY_SIZE(cmds) && strcmp(cmd, "violations")) {
		fprintf(stderr, "lockwardenctl: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	if (i < ARRAY_SIZE(cmds) && optind + 1 < argc) {
		fprintf(stderr, "lockwardenctl: %s takes no arguments\n", cmd);
		return 2;
	}
	if (!ctl.socket)
		ctl.socket = sock = sockets_default_path(geteuid() == 0, CLIENT_ADMIN);
	if ((rc = rpc_client_connect(&ctl.rpc, ctl.socket, LWADMIN_PROGRAM,
				     LWADMIN_PROGRAM_VERSION)) < 0) {
		fprintf(stderr, "lockwardenctl: cannot connect to %s: %s (is lockwardend running?)\n",
			ctl.socket, strerror(-rc));
		free(sock);
		return 1;
	}
	if (i == ARRAY_SIZE(cmds)) {
		rc = cmd_violations(&ctl, argc - optind, argv + optind);
		goto out;
	}
	bool has_doc = cmds[i].proc <= LWADMIN_PROC_CLIENTS;

	rc = 1;
	if (!(doc = call(&ctl, cmds[i].proc, NULL, has_doc)))
		goto out;
	rc = 0;
	if (!has_doc)
		printf("%s: done\n", cmd);
	else if (ctl.json)
		puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (cmds[i].print)
		cmds[i].print(doc);
	else
		print_tree(doc, 0);
	json_object_put(doc);
out:
	rpc_client_close(&ctl.rpc);
	free(sock);
	return rc;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's configuration: virtlockd.conf's keys, read with libvirt's
 * config syntax (key = value; integers, "strings", [ lists ]; # comments),
 * plus lockwarden's own keys. An unknown key is a warning naming file and
 * line; a malformed file or value is an error naming file and line.
 */
#ifndef LW_CONFIG_H
#define LW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct strlist {
	char **v;
	size_t n;
};

struct config {
	/* virtlockd's keys */
	unsigned int log_level;
	char *log_filters;
	char *log_outputs;
	unsigned int max_clients;
	unsigned int admin_max_clients;

	/* lockwarden's keys */
	char *audit_log;		/* the audit log (JSON lines) */
	unsigned int audit_rotate_size;	/* bytes; 0: never rotate */
	unsigned int audit_rotate_keep;	/* rotated segments kept; 0: all */
	char *audit_fsync;		/* "always", "critical", "never" */
	char *audit_key;		/* the audit log's HMAC key file */
	unsigned int audit_tip_every;	/* records between tips in the daemon's log; 0 never */
	unsigned int guard_repeat_window; /* s: one opener's repeated records folded; 0 never */
	unsigned int audit_queue_size;	/* bytes of records waiting for the disk */
	char *alert_hook;		/* run with each alert as JSON on stdin */
	unsigned int alert_hook_timeout;	/* seconds before a hook is killed */
	unsigned int alert_hook_max_per_minute;	/* hook runs; 0: no limit */
	char *metrics_file;		/* Prometheus textfile; NULL: none */
	unsigned int metrics_interval;	/* seconds between rewrites */
	/* The guard: what it does about non-owners opening locked images. */
	char *guard_policy;		/* off, audit, deny-write, deny-all */
	struct strlist guard_policy_paths;	/* "POLICY:/prefix" overrides */
	struct strlist guard_monitors;	/* "bpf", "fanotify" */
	char *guard_readonly_opens;	/* "violation" or "warn" */
	struct strlist guard_allow_uids;	/* management helpers: uids or names */
	struct strlist guard_allow_exes;	/* executables (libvirt's daemons) */
	struct strlist guard_allow_cgroups;	/* cgroup v2 paths, with what is below */
	struct strlist guard_image_dirs;	/* where indirect lock files' images are */
	unsigned int guard_answer_timeout_ms;	/* bound on a permission answer */
	char *guard_timeout_answer;	/* "allow" or "deny" past it */
	/* Locks on shared storage: probed for loss, and what a loss does. */
	unsigned int lease_check_interval;	/* seconds; 0: never probe */
	struct strlist lease_check_filesystems;	/* "nfs", "ceph", ... */
	char *lease_lost_action;	/* "kill", "pause", "alert" */
};

void config_defaults(struct config *cfg);
void config_free(struct config *cfg);

/*
 * Read path into cfg. A missing file is fine when allow_missing (the
 * default path); anything else wrong is -errno with the reason printed
 * to *why (allocated; file:line: what).
 */
int config_load(struct config *cfg, const char *path, bool allow_missing, char **why);

/* Parse text as if read from file `name`; for config_load and the tests. */
int config_parse(struct config *cfg, const char *name, const char *text, char **why);

bool strlist_contains(const struct strlist *l, const char *s);
void strlist_free(struct strlist *l);

#endif

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

#include "guardconf.h"
#include "strlist.h"

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
	unsigned int audit_queue_size;	/* bytes of records waiting for the disk */
	char *alert_hook;		/* run with each alert as JSON on stdin */
	unsigned int alert_hook_timeout;	/* seconds before a hook is killed */
	unsigned int alert_hook_max_per_minute;	/* hook runs; 0: no limit */
	char *metrics_file;		/* Prometheus textfile; NULL: none */
	unsigned int metrics_interval;	/* seconds between rewrites */
	/* The guard: what it does about non-owners opening locked images. */
	struct guard_settings guard;	/* the guard_* keys */
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

#endif

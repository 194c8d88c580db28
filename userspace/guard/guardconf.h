/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guard's settings: the config's guard_* keys, each field named as
 * its key without the prefix. The daemon's config (config.h) holds them,
 * reads, checks (guardpolicy.h) and defaults them; the guard only reads
 * them, once, when it is made.
 */
#ifndef LW_GUARDCONF_H
#define LW_GUARDCONF_H

#include "strlist.h"

struct guard_settings {
	char *policy;			/* off, audit, deny-write, deny-all */
	struct strlist policy_paths;	/* "POLICY:/prefix" overrides */
	struct strlist monitors;	/* "bpf", "fanotify" */
	char *readonly_opens;		/* "violation" or "warn" */
	struct strlist allow_uids;	/* management helpers: uids or names */
	struct strlist allow_exes;	/* executables (libvirt's daemons) */
	struct strlist allow_cgroups;	/* cgroup v2 paths, with what is below */
	struct strlist image_dirs;	/* where indirect lock files' images are */
	unsigned int answer_timeout_ms;	/* bound on a permission answer */
	char *timeout_answer;		/* "allow" or "deny" past it */
	unsigned int repeat_window;	/* s: one opener's repeated records folded; 0 never */
};

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the guard does about an open of a locked image by a process that
 * is not its owner: the policy (off, audit, deny-write, deny-all; global
 * and per path prefix), the allowlist of management helpers (uids,
 * executables, cgroups: libvirt's own daemons by default), and the
 * severity of what is left. Pure decisions on facts others gathered; the
 * config keys are checked here too, so a bad value fails at load time.
 */
#ifndef LW_GUARDPOLICY_H
#define LW_GUARDPOLICY_H

#include <stdbool.h>
#include <sys/types.h>

#include "guardconf.h"
#include "severity.h"
#include "strlist.h"

/* Ordered: a larger value is stricter. */
enum guard_policy {
	GUARD_OFF,
	GUARD_AUDIT,
	GUARD_DENY_WRITE,
	GUARD_DENY_ALL,
};

enum guard_access {
	ACCESS_READ,
	ACCESS_WRITE,		/* O_WRONLY, O_RDWR or O_TRUNC */
	ACCESS_UNKNOWN,		/* the open's flags could not be read */
};

/* Ordered by rank. */

/* What an open is, once the owner and the daemon itself are ruled out. */
enum guard_class {
	CLASS_VIOLATION,
	CLASS_WARNING,		/* a read-only open, with guard_readonly_opens = "warn" */
	CLASS_MANAGEMENT,	/* an allowlisted helper */
	CLASS_COUNT,
};

/* The opener, as the monitors found it; NULL / 0 for what is unknown. */
struct guard_opener {
	uid_t uid;
	const char *cgroup;	/* cgroup v2 path, "/system.slice/x.service" */
	dev_t exe_dev;		/* the inode of its executable */
	ino_t exe_ino;
	bool exe_known;
};

struct guard_rules {
	enum guard_policy policy;
	struct guard_prefix {
		char *prefix;
		enum guard_policy policy;
	} *prefixes;
	size_t nprefixes;
	uid_t *uids;
	size_t nuids;
	char **exes;
	size_t nexes;
	char **cgroups;
	size_t ncgroups;
	bool readonly_warn;
	unsigned int answer_timeout_ms;
	bool timeout_allow;	/* the answer when the deadline passes */
};

/* Config checks (see config.c): NULL, or why the value is wrong. */
const char *guard_policy_check(const char *name);
const char *guard_prefixes_check(const struct strlist *l);
const char *guard_uids_check(const struct strlist *l);
const char *guard_monitors_check(const struct strlist *l);

/* Compile the (checked) settings; cannot fail. */
void guard_rules_init(struct guard_rules *r, const struct guard_settings *s);
void guard_rules_fini(struct guard_rules *r);

const char *guard_policy_name(enum guard_policy p);
const char *guard_class_event(enum guard_class c);

/* The policy for a file: the longest matching prefix, else the global one. */
enum guard_policy guard_rules_policy(const struct guard_rules *r, const char *path);
/*
 * Is the opener an allowlisted helper? Each of uids, executables and
 * cgroups that is configured must match (uids unconfigured: uid 0), and
 * one of them at least must be configured.
 */
bool guard_rules_allowed(const struct guard_rules *r, const struct guard_opener *o);
/* Refuse this open (only fanotify permission events can)? */
bool guard_policy_denies(enum guard_policy p, enum guard_access a);
enum guard_access guard_access_of(int flags, bool known);
enum severity guard_severity_of(enum guard_access a, bool exclusive);
enum guard_class guard_class_of(const struct guard_rules *r, bool allowed, enum guard_access a);

#endif

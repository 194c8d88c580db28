// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "guardpolicy.h"
#include "util.h"

static const char *const policy_names[] = {
	[GUARD_OFF] = "off",
	[GUARD_AUDIT] = "audit",
	[GUARD_DENY_WRITE] = "deny-write",
	[GUARD_DENY_ALL] = "deny-all",
};

static const char *const class_events[CLASS_COUNT] = {
	[CLASS_VIOLATION] = "violation",
	[CLASS_WARNING] = "warning",
	[CLASS_MANAGEMENT] = "management",
};

const char *guard_policy_name(enum guard_policy p)
{
	return policy_names[p];
}

const char *guard_class_event(enum guard_class c)
{
	return class_events[c];
}

static int policy_parse(const char *name, size_t len, enum guard_policy *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(policy_names); i++) {
		if (strlen(policy_names[i]) == len && !strncmp(policy_names[i], name, len)) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *guard_policy_check(const char *name)
{
	enum guard_policy p;

	return policy_parse(name, strlen(name), &p) < 0 ?
	       "must be \"off\", \"audit\", \"deny-write\" or \"deny-all\"" : NULL;
}

/* "POLICY:/path/prefix" */
static int prefix_parse(const char *s, struct guard_prefix *out)
{
	const char *colon = strchr(s, ':');

	if (!colon || colon[1] != '/' || policy_parse(s, colon - s, &out->policy) < 0)
		return -EINVAL;
	out->prefix = (char *)colon + 1;
	return 0;
}

const char *guard_prefixes_check(const struct strlist *l)
{
	struct guard_prefix p;

	for (size_t i = 0; i < l->n; i++)
		if (prefix_parse(l->v[i], &p) < 0)
			return "entries must be \"POLICY:/path/prefix\" (POLICY off, audit, "
			       "deny-write or deny-all)";
	return NULL;
}

static int uid_parse(const char *s, uid_t *uid)
{
	struct passwd *pw;
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s && !*end && !errno && v < (uid_t)-1) {
		*uid = v;
		return 0;
	}
	if (!(pw = getpwnam(s)))
		return -ENOENT;
	*uid = pw->pw_uid;
	return 0;
}

const char *guard_uids_check(const struct strlist *l)
{
	uid_t uid;

	for (size_t i = 0; i < l->n; i++)
		if (uid_parse(l->v[i], &uid) < 0)
			return "entries must be uids or user names known here";
	return NULL;
}

const char *guard_monitors_check(const struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], "bpf") && strcmp(l->v[i], "fanotify"))
			return "entries must be \"bpf\" or \"fanotify\"";
	return NULL;
}

static char **strv_copy(const struct strlist *l)
{
	char **v = xcalloc(l->n + 1, sizeof(*v));

	for (size_t i = 0; i < l->n; i++)
		v[i] = xstrdup(l->v[i]);
	return v;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void guard_rules_init(struct guard_rules *r, const struct guard_settings *s)
{
	memset(r, 0, sizeof(*r));
	policy_parse(s->policy, strlen(s->policy), &r->policy);
	r->prefixes = xcalloc(s->policy_paths.n + 1, sizeof(*r->prefixes));
	for (size_t i = 0; i < s->policy_paths.n; i++) {
		prefix_parse(s->policy_paths.v[i], &r->prefixes[i]);
		r->prefixes[i].prefix = xstrdup(r->prefixes[i].prefix);
	}
	r->nprefixes = s->policy_paths.n;
	r->uids = xcalloc(s->allow_uids.n + 1, sizeof(*r->uids));
	for (size_t i = 0; i < s->allow_uids.n; i++)
		uid_parse(s->allow_uids.v[i], &r->uids[i]);
	r->nuids = s->allow_uids.n;
	r->exes = strv_copy(&s->allow_exes);
	r->nexes = s->allow_exes.n;
	r->cgroups = strv_copy(&s->allow_cgroups);
	r->ncgroups = s->allow_cgroups.n;
	r->readonly_warn = !strcmp(s->readonly_opens, "warn");
	r->answer_timeout_ms = s->answer_timeout_ms;
	r->timeout_allow = !strcmp(s->timeout_answer, "allow");
}

void guard_rules_fini(struct guard_rules *r)
{
	for (size_t i = 0; i < r->nprefixes; i++)
		free(r->prefixes[i].prefix);
	free(r->prefixes);
	free(r->uids);
	strv_free(r->exes, r->nexes);
	strv_free(r->cgroups, r->ncgroups);
	memset(r, 0, sizeof(*r));
}

/* path is under prefix: equal, or prefix names a directory of it. */
static bool under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n))
		return false;
	return !path[n] || path[n] == '/' || (n && prefix[n - 1] == '/');
}

enum guard_policy guard_rules_policy(const struct guard_rules *r, const char *path)
{
	enum guard_policy p = r->policy;
	size_t best = 0;

	for (size_t i = 0; i < r->nprefixes; i++) {
		size_t n = strlen(r->prefixes[i].prefix);

		if (n > best && under(path, r->prefixes[i].prefix)) {
			best = n;
			p = r->prefixes[i].policy;
		}
	}
	return p;
}

/*
 * Executables match by inode, looked up now: a process cannot fake the
 * inode of its executable, a path can be bind-mounted over in another
 * mount namespace, and an upgraded helper matches again at once.
 */
static bool exe_allowed(const struct guard_rules *r, const struct guard_opener *o)
{
	struct stat st;

	if (!o->exe_known)
		return false;
	for (size_t i = 0; i < r->nexes; i++)
		if (stat(r->exes[i], &st) == 0 && st.st_dev == o->exe_dev && st.st_ino == o->exe_ino)
			return true;
	return false;
}

static bool uid_allowed(const struct guard_rules *r, uid_t uid)
{
	for (size_t i = 0; i < r->nuids; i++)
		if (r->uids[i] == uid)
			return true;
	/* No uid configured: the helpers named run as root. */
	return !r->nuids && uid == 0;
}

static bool cgroup_allowed(const struct guard_rules *r, const char *cgroup)
{
	for (size_t i = 0; cgroup && i < r->ncgroups; i++)
		if (under(cgroup, r->cgroups[i]))
			return true;
	return !r->ncgroups;
}

/*
 * Every condition configured must hold, and one at least must be: an
 * executable alone would let any user run it with LD_PRELOAD, a debugger
 * or a crafted argv and be let in. In-kernel enforcement applies this
 * rule too, so both monitors judge an opener alike.
 */
bool guard_rules_allowed(const struct guard_rules *r, const struct guard_opener *o)
{
	if (!r->nuids && !r->nexes && !r->ncgroups)
		return false;
	return uid_allowed(r, o->uid) && (!r->nexes || exe_allowed(r, o)) &&
	       cgroup_allowed(r, o->cgroup);
}

bool guard_policy_denies(enum guard_policy p, enum guard_access a)
{
	/* An open whose flags are unknown may be a write: refuse it too. */
	return p == GUARD_DENY_ALL || (p == GUARD_DENY_WRITE && a != ACCESS_READ);
}

enum guard_access guard_access_of(int flags, bool known)
{
	if (!known)
		return ACCESS_UNKNOWN;
	/* O_RDONLY|O_TRUNC truncates too. */
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) ? ACCESS_WRITE : ACCESS_READ;
}

enum severity guard_severity_of(enum guard_access a, bool exclusive)
{
	switch (a) {
	case ACCESS_WRITE:
		return exclusive ? SEV_CRITICAL : SEV_HIGH;
	case ACCESS_UNKNOWN:
		return SEV_HIGH;
	default:
		return exclusive ? SEV_MEDIUM : SEV_LOW;
	}
}

enum guard_class guard_class_of(const struct guard_rules *r, bool allowed, enum guard_access a)
{
	if (allowed)
		return CLASS_MANAGEMENT;
	return a == ACCESS_READ && r->readonly_warn ? CLASS_WARNING : CLASS_VIOLATION;
}

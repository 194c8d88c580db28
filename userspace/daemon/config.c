// SPDX-License-Identifier: LGPL-2.1-or-later
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "config.h"
#include "guardpolicy.h"
#include "leasecheck.h"
#include "log.h"
#include "util.h"

#define CONFIG_FILE_MAX (1 << 20)

enum conf_type {
	CONF_UINT,
	CONF_BOOL,
	CONF_STRING,
	CONF_STRLIST,
};

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t offset;
	/* Extra validation; returns a reason or NULL. */
	const char *(*check)(const void *value);
};

static const char *check_log_level(const void *v)
{
	unsigned int level = *(const unsigned int *)v;

	return level >= 1 && level <= 4 ? NULL : "must be 1 (debug) to 4 (error)";
}

static const char *check_log_filters(const void *v)
{
	const char *why;

	return log_check_filters(*(char *const *)v, &why) < 0 ? why : NULL;
}

static const char *check_log_outputs(const void *v)
{
	const char *why;

	return log_check_outputs(*(char *const *)v, &why) < 0 ? why : NULL;
}

static const char *check_positive(const void *v)
{
	return *(const unsigned int *)v ? NULL : "must be at least 1";
}

static const char *check_abs_path(const void *v)
{
	return **(char *const *)v == '/' ? NULL : "must be an absolute path";
}

static const char *check_fsync(const void *v)
{
	enum audit_fsync f;

	return audit_fsync_parse(*(char *const *)v, &f) < 0 ?
	       "must be \"always\", \"critical\" or \"never\"" : NULL;
}

static const char *check_rotate_size(const void *v)
{
	unsigned int n = *(const unsigned int *)v;

	return !n || n >= 4096 ? NULL : "must be 0 (never rotate) or at least 4096 (bytes)";
}

static const char *check_queue_size(const void *v)
{
	return *(const unsigned int *)v >= 65536 ? NULL : "must be at least 65536 (bytes)";
}

static const char *check_guard_policy(const void *v)
{
	return guard_policy_check(*(char *const *)v);
}

static const char *check_guard_policy_paths(const void *v)
{
	return guard_prefixes_check(v);
}

static const char *check_guard_monitors(const void *v)
{
	return guard_monitors_check(v);
}

static const char *check_guard_uids(const void *v)
{
	return guard_uids_check(v);
}

static const char *check_abs_paths(const void *v)
{
	const struct strlist *l = v;

	for (size_t i = 0; i < l->n; i++)
		if (l->v[i][0] != '/')
			return "entries must be absolute paths";
	return NULL;
}

static const char *check_readonly_opens(const void *v)
{
	const char *s = *(char *const *)v;

	return !strcmp(s, "violation") || !strcmp(s, "warn") ? NULL :
	       "must be \"violation\" or \"warn\"";
}

static const char *check_allow_deny(const void *v)
{
	const char *s = *(char *const *)v;

	return !strcmp(s, "allow") || !strcmp(s, "deny") ? NULL : "must be \"allow\" or \"deny\"";
}

static const char *check_lease_action(const void *v)
{
	return leasecheck_action_check(*(char *const *)v);
}

static const char *check_lease_fs(const void *v)
{
	const struct strlist *l = v;

	return leasecheck_fs_check(l->v, l->n);
}

#define KEY(n, t, chk) { #n, t, offsetof(struct config, n), chk }
/* A guard_* key: its field in the guard's settings (guardconf.h). */
#define GUARD_KEY(n, t, chk) { "guard_" #n, t, offsetof(struct config, guard.n), chk }

static const struct conf_key keys[] = {
	KEY(log_level,		CONF_UINT,	check_log_level),
	KEY(log_filters,	CONF_STRING,	check_log_filters),
	KEY(log_outputs,	CONF_STRING,	check_log_outputs),
	KEY(max_clients,	CONF_UINT,	check_positive),
	KEY(admin_max_clients,	CONF_UINT,	check_positive),
	KEY(audit_log,		CONF_STRING,	check_abs_path),
	KEY(audit_rotate_size,	CONF_UINT,	check_rotate_size),
	KEY(audit_rotate_keep,	CONF_UINT,	NULL),
	KEY(audit_fsync,	CONF_STRING,	check_fsync),
	KEY(audit_queue_size,	CONF_UINT,	check_queue_size),
	KEY(audit_key,		CONF_STRING,	check_abs_path),
	KEY(audit_tip_every,	CONF_UINT,	NULL),
	KEY(alert_hook,		CONF_STRING,	check_abs_path),
	KEY(alert_hook_timeout,	CONF_UINT,	check_positive),
	KEY(alert_hook_max_per_minute, CONF_UINT, NULL),
	KEY(metrics_file,	CONF_STRING,	check_abs_path),
	KEY(metrics_interval,	CONF_UINT,	check_positive),
	GUARD_KEY(policy,	CONF_STRING,	check_guard_policy),
	GUARD_KEY(policy_paths,	CONF_STRLIST,	check_guard_policy_paths),
	GUARD_KEY(monitors,	CONF_STRLIST,	check_guard_monitors),
	GUARD_KEY(readonly_opens,	CONF_STRING,	check_readonly_opens),
	GUARD_KEY(allow_uids,	CONF_STRLIST,	check_guard_uids),
	GUARD_KEY(allow_exes,	CONF_STRLIST,	check_abs_paths),
	GUARD_KEY(allow_cgroups,	CONF_STRLIST,	check_abs_paths),
	GUARD_KEY(image_dirs,	CONF_STRLIST,	check_abs_paths),
	GUARD_KEY(answer_timeout_ms,	CONF_UINT,	check_positive),
	GUARD_KEY(timeout_answer,	CONF_STRING,	check_allow_deny),
	GUARD_KEY(repeat_window,	CONF_UINT,	NULL),
	KEY(lease_check_interval, CONF_UINT,	NULL),
	KEY(lease_check_filesystems, CONF_STRLIST, check_lease_fs),
	KEY(lease_lost_action,	CONF_STRING,	check_lease_action),
};

/* Set a default list; a value in the file replaces it. */
static void strlist_set(struct strlist *l, const char *const *v)
{
	strlist_free(l);
	for (; *v; v++) {
		l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
		l->v[l->n++] = xstrdup(*v);
	}
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_clients = 1024;
	cfg->admin_max_clients = 5000;
	cfg->audit_log = xstrdup("/var/log/lockwarden/audit.jsonl");
	cfg->audit_rotate_size = 10 << 20;
	cfg->audit_rotate_keep = 10;
	cfg->audit_fsync = xstrdup("critical");
	cfg->audit_queue_size = 4 << 20;
	/* Outside the log's directory: whoever may write the log must not
	 * read the key. */
	cfg->audit_key = xstrdup("/var/lib/lockwarden/audit.key");
	cfg->audit_tip_every = 1000;
	cfg->alert_hook_timeout = 10;
	cfg->alert_hook_max_per_minute = 10;
	cfg->metrics_interval = 15;
	cfg->guard.policy = xstrdup("audit");
	strlist_set(&cfg->guard.monitors, (const char *[]){ "bpf", "fanotify", NULL });
	cfg->guard.readonly_opens = xstrdup("violation");
	/* libvirt's own daemons and helpers open disks to label them and for
	 * block jobs: management access, not violations. */
	strlist_set(&cfg->guard.allow_exes, (const char *[]){
		"/usr/sbin/libvirtd", "/usr/sbin/virtqemud", "/usr/sbin/virtstoraged",
		"/usr/sbin/virtproxyd", "/usr/sbin/virtlxcd", "/usr/sbin/virtxend",
		"/usr/sbin/virtchd", "/usr/lib/libvirt/libvirt_iohelper",
		"/usr/libexec/libvirt_iohelper", NULL });
	/* libvirt's default storage pool: indirect lock files map back there */
	strlist_set(&cfg->guard.image_dirs, (const char *[]){ "/var/lib/libvirt/images", NULL });
	cfg->guard.answer_timeout_ms = 1000;
	cfg->guard.timeout_answer = xstrdup("allow");
	cfg->guard.repeat_window = 10;
	/* An NFSv4 lease is 90 s by default: a loss is seen well within
	 * one lease of the client being back (see leasecheck.h). */
	cfg->lease_check_interval = 5;
	strlist_set(&cfg->lease_check_filesystems, (const char *[]){
		"nfs", "cifs", "smb2", "gfs2", "ocfs2", "ceph", NULL });
	cfg->lease_lost_action = xstrdup("kill");
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		void *field = (char *)cfg + keys[i].offset;

		if (keys[i].type == CONF_STRING) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else if (keys[i].type == CONF_STRLIST) {
			strlist_free(field);
		}
	}
}

/* A small recursive-descent reader of libvirt's config syntax. */
struct parser {
	const char *name;	/* file name, for messages */
	const char *p;
	int line;
	char *why;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;
	char *what;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	free(ps->why);
	ps->why = xasprintf("%s:%d: %s", ps->name, ps->line, what);
	free(what);
	return -EINVAL;
}

/* Skip blanks and comments; newlines too when `newlines`. */
static void skip(struct parser *ps, bool newlines)
{
	for (;;) {
		if (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r') {
			ps->p++;
		} else if (*ps->p == '#') {
			while (*ps->p && *ps->p != '\n')
				ps->p++;
		} else if (newlines && *ps->p == '\n') {
			ps->line++;
			ps->p++;
		} else {
			return;
		}
	}
}

struct value {
	enum { V_INT, V_STRING, V_LIST } kind;
	long long num;
	char *str;
	struct strlist list;	/* of strings */
};

static void value_free(struct value *v)
{
	free(v->str);
	strlist_free(&v->list);
}

static int parse_string(struct parser *ps, char **out)
{
	char quote = *ps->p;
	bool triple = !strncmp(ps->p, "\"\"\"", 3);
	const char *start, *end;

	ps->p += triple ? 3 : 1;
	start = ps->p;
	end = triple ? strstr(start, "\"\"\"") : strchr(start, quote);
	if (!end || (!triple && memchr(start, '\n', end - start)))
		return fail(ps, "unterminated string");
	for (const char *q = start; q < end; q++)
		ps->line += *q == '\n';
	*out = xstrndup(start, end - start);
	ps->p = end + (triple ? 3 : 1);
	return 0;
}

static int parse_scalar(struct parser *ps, struct value *v)
{
	if (*ps->p == '"' || *ps->p == '\'') {
		v->kind = V_STRING;
		return parse_string(ps, &v->str);
	}
	if (isdigit((unsigned char)*ps->p) || *ps->p == '-' || *ps->p == '+') {
		char *end;

		errno = 0;
		v->num = strtoll(ps->p, &end, 10);
		if (end == ps->p || errno || isalpha((unsigned char)*end) || *end == '.')
			return fail(ps, "malformed number");
		v->kind = V_INT;
		ps->p = end;
		return 0;
	}
	return fail(ps, "expected a number, a \"string\" or a [ list ]");
}

static int parse_list(struct parser *ps, struct value *v)
{
	struct value item = { 0 };
	int rc;

	v->kind = V_LIST;
	ps->p++;			/* [ */
	for (;;) {
		skip(ps, true);
		if (*ps->p == ']')
			break;
		memset(&item, 0, sizeof(item));
		if ((rc = parse_scalar(ps, &item)) < 0)
			return rc;
		if (item.kind != V_STRING)
			return fail(ps, "list elements must be strings");
		v->list.v = xrealloc(v->list.v, (v->list.n + 1) * sizeof(char *));
		v->list.v[v->list.n++] = item.str;
		skip(ps, true);
		if (*ps->p == ',')
			ps->p++;
		else if (*ps->p != ']')
			return fail(ps, "expected ',' or ']' in list");
	}
	ps->p++;			/* ] */
	return 0;
}

static int store(struct parser *ps, struct config *cfg, const struct conf_key *k,
		 struct value *v)
{
	void *field = (char *)cfg + k->offset;
	const char *why;

	switch (k->type) {
	case CONF_UINT:
	case CONF_BOOL:
		if (v->kind != V_INT || v->num < 0 || v->num > UINT_MAX ||
		    (k->type == CONF_BOOL && v->num > 1))
			return fail(ps, "%s must be %s", k->name,
				    k->type == CONF_BOOL ? "0 or 1" : "an unsigned integer");
		if (k->type == CONF_BOOL)
			*(bool *)field = v->num;
		else
			*(unsigned int *)field = v->num;
		break;
	case CONF_STRING:
		if (v->kind != V_STRING)
			return fail(ps, "%s must be a \"string\"", k->name);
		free(*(char **)field);
		*(char **)field = v->str;
		v->str = NULL;
		break;
	case CONF_STRLIST:
		if (v->kind != V_LIST)
			return fail(ps, "%s must be a [ \"list\", \"of strings\" ]", k->name);
		strlist_free(field);
		*(struct strlist *)field = v->list;
		memset(&v->list, 0, sizeof(v->list));
		break;
	}
	if (k->check && (why = k->check(field)))
		return fail(ps, "%s %s", k->name, why);
	return 0;
}

static const struct conf_key *find_key(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strlen(keys[i].name) == len && !strncmp(keys[i].name, name, len))
			return &keys[i];
	return NULL;
}

static int parse_entry(struct parser *ps, struct config *cfg)
{
	const char *name = ps->p;
	const struct conf_key *k;
	struct value v = { 0 };
	size_t len;
	int rc, line;

	while (isalnum((unsigned char)*ps->p) || *ps->p == '_' || *ps->p == '.')
		ps->p++;
	len = ps->p - name;
	if (!len)
		return fail(ps, "expected a key name");
	line = ps->line;
	skip(ps, false);
	if (*ps->p != '=')
		return fail(ps, "expected '=' after %.*s", (int)len, name);
	ps->p++;
	skip(ps, false);
	rc = *ps->p == '[' ? parse_list(ps, &v) : parse_scalar(ps, &v);
	if (rc < 0)
		goto out;
	skip(ps, false);
	if (*ps->p == ';')
		ps->p++;
	skip(ps, false);
	if (*ps->p && *ps->p != '\n') {
		rc = fail(ps, "unexpected text after the value of %.*s", (int)len, name);
		goto out;
	}
	k = find_key(name, len);
	if (!k) {
		log_warn("%s:%d: unknown key '%.*s' ignored", ps->name, line, (int)len, name);
		goto out;
	}
	rc = store(ps, cfg, k, &v);
out:
	value_free(&v);
	return rc;
}

int config_parse(struct config *cfg, const char *name, const char *text, char **why)
{
	struct parser ps = { .name = name, .p = text, .line = 1 };
	int rc = 0;

	for (;;) {
		skip(&ps, true);
		if (!*ps.p)
			break;
		if ((rc = parse_entry(&ps, cfg)) < 0)
			break;
	}
	*why = ps.why;
	return rc;
}

int config_load(struct config *cfg, const char *path, bool allow_missing, char **why)
{
	char *text;
	size_t len;
	int rc;

	*why = NULL;
	rc = read_file(path, CONFIG_FILE_MAX, &text, &len);
	if (rc == -ENOENT && allow_missing)
		return 0;
	if (rc < 0) {
		*why = xasprintf("%s: cannot read: %s", path,
				 rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
		return rc;
	}
	if (strlen(text) != len) {
		*why = xasprintf("%s: contains a NUL byte: not a configuration file", path);
		rc = -EINVAL;
	} else {
		rc = config_parse(cfg, path, text, why);
	}
	free(text);
	return rc;
}

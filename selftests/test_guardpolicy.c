// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The guard's decisions (guardpolicy.c) on their own: policy by path
 * prefix, what is refused, access, severity, class, the allowlist, and
 * the config checks. Prints PASS/FAIL per check.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "guardpolicy.h"

static int failed;

static void check(const char *name, int ok)
{
	printf("%s guardpolicy/%s\n", ok ? "PASS" : "FAIL", name);
	failed |= !ok;
}

static void load(struct config *cfg, const char *text)
{
	char *why = NULL;

	config_defaults(cfg);
	if (config_parse(cfg, "test.conf", text, &why) < 0) {
		printf("FAIL guardpolicy/config: %s\n", why);
		exit(1);
	}
}

static int rejected(const char *text)
{
	struct config cfg;
	char *why = NULL;
	int rc;

	config_defaults(&cfg);
	rc = config_parse(&cfg, "test.conf", text, &why);
	free(why);
	config_free(&cfg);
	return rc < 0;
}

#define EXE_ONLY	"guard_allow_exes = [ \"/proc/self/exe\" ]\n"
#define UID_ONLY	"guard_allow_uids = [ \"107\" ]\nguard_allow_exes = [ ]\n"
#define CGROUP_ONLY	"guard_allow_cgroups = [ \"/system.slice/backup.service\" ]\n" \
			"guard_allow_exes = [ ]\n"

/* Is o a helper under the allowlist this config text sets? */
static bool allowed_by(const char *text, const struct guard_opener *o)
{
	struct guard_rules r;
	struct config cfg;
	bool allowed;

	load(&cfg, text);
	guard_rules_init(&r, &cfg.guard);
	allowed = guard_rules_allowed(&r, o);
	guard_rules_fini(&r);
	config_free(&cfg);
	return allowed;
}

int main(void)
{
	struct guard_rules r;
	struct config cfg;
	struct stat self;
	struct guard_opener o = { .uid = 1000 };

	load(&cfg, "guard_policy = \"audit\"\n"
		   "guard_policy_paths = [ \"deny-all:/srv/prod\", \"off:/srv/prod/scratch/\", "
		   "\"deny-write:/srv\" ]\n"
		   "guard_allow_uids = [ \"107\" ]\n"
		   "guard_allow_exes = [ \"/proc/self/exe\" ]\n"
		   "guard_allow_cgroups = [ \"/system.slice/backup.service\" ]\n"
		   "guard_readonly_opens = \"warn\"\n");
	guard_rules_init(&r, &cfg.guard);

	check("policy-global", guard_rules_policy(&r, "/var/img/a") == GUARD_AUDIT);
	check("policy-prefix", guard_rules_policy(&r, "/srv/img/a") == GUARD_DENY_WRITE);
	check("policy-longest-wins", guard_rules_policy(&r, "/srv/prod/a") == GUARD_DENY_ALL);
	check("policy-dir-boundary", guard_rules_policy(&r, "/srv/production/a") == GUARD_DENY_WRITE);
	check("policy-exact", guard_rules_policy(&r, "/srv/prod") == GUARD_DENY_ALL);
	check("policy-off-below", guard_rules_policy(&r, "/srv/prod/scratch/x") == GUARD_OFF);

	check("access-read", guard_access_of(O_RDONLY, true) == ACCESS_READ);
	check("access-trunc-is-write", guard_access_of(O_RDONLY | O_TRUNC, true) == ACCESS_WRITE);
	check("access-rdwr", guard_access_of(O_RDWR | O_DIRECT, true) == ACCESS_WRITE);
	check("access-unknown", guard_access_of(0, false) == ACCESS_UNKNOWN);

	check("deny-write-refuses-write", guard_policy_denies(GUARD_DENY_WRITE, ACCESS_WRITE));
	check("deny-write-passes-read", !guard_policy_denies(GUARD_DENY_WRITE, ACCESS_READ));
	check("deny-write-refuses-unknown", guard_policy_denies(GUARD_DENY_WRITE, ACCESS_UNKNOWN));
	check("deny-all-refuses-read", guard_policy_denies(GUARD_DENY_ALL, ACCESS_READ));
	check("audit-refuses-nothing", !guard_policy_denies(GUARD_AUDIT, ACCESS_WRITE));

	check("severity-write-exclusive", guard_severity_of(ACCESS_WRITE, true) == SEV_CRITICAL);
	check("severity-write-shared", guard_severity_of(ACCESS_WRITE, false) == SEV_HIGH);
	check("severity-read-exclusive", guard_severity_of(ACCESS_READ, true) == SEV_MEDIUM);
	check("severity-read-shared", guard_severity_of(ACCESS_READ, false) == SEV_LOW);

	check("class-readonly-warn", guard_class_of(&r, false, ACCESS_READ) == CLASS_WARNING);
	check("class-write-violation", guard_class_of(&r, false, ACCESS_WRITE) == CLASS_VIOLATION);
	check("class-allowed", guard_class_of(&r, true, ACCESS_WRITE) == CLASS_MANAGEMENT);

	/* Every configured condition must hold (uid, exe and cgroup here). */
	stat("/proc/self/exe", &self);
	o.uid = 107;
	o.cgroup = "/system.slice/backup.service/sub";
	o.exe_dev = self.st_dev;
	o.exe_ino = self.st_ino;
	o.exe_known = true;
	check("allow-all-match", guard_rules_allowed(&r, &o));
	o.uid = 1000;
	check("allow-uid-mismatch", !guard_rules_allowed(&r, &o));
	o.uid = 0;
	check("allow-root-not-listed", !guard_rules_allowed(&r, &o));
	o.uid = 107;
	o.cgroup = "/system.slice/backup.services";
	check("allow-cgroup-boundary", !guard_rules_allowed(&r, &o));
	o.cgroup = NULL;
	check("allow-cgroup-unknown", !guard_rules_allowed(&r, &o));
	o.cgroup = "/system.slice/backup.service";
	o.exe_ino++;
	check("allow-exe-other-inode", !guard_rules_allowed(&r, &o));
	o.exe_ino--;
	o.exe_known = false;
	check("allow-exe-unknown", !guard_rules_allowed(&r, &o));
	guard_rules_fini(&r);
	config_free(&cfg);

	/* Only executables configured: uid 0 as well, never the exe alone
	 * (LD_PRELOAD=evil.so /usr/sbin/libvirtd as nobody). */
	o = (struct guard_opener){ .uid = 65534, .exe_dev = self.st_dev, .exe_ino = self.st_ino,
				   .exe_known = true };
	check("allow-exe-alone-refused", !allowed_by(EXE_ONLY, &o));
	o.uid = 0;
	check("allow-exe-as-root", allowed_by(EXE_ONLY, &o));
	o.exe_ino++;
	check("allow-root-other-exe", !allowed_by(EXE_ONLY, &o));

	/* Only uids configured: any executable of that user. */
	o.uid = 107;
	check("allow-uid-only", allowed_by(UID_ONLY, &o));
	o.uid = 0;
	check("allow-uid-only-not-root", !allowed_by(UID_ONLY, &o));

	/* Only a cgroup: root in it, nobody in it is not. */
	o.cgroup = "/system.slice/backup.service";
	check("allow-cgroup-as-root", allowed_by(CGROUP_ONLY, &o));
	o.uid = 65534;
	check("allow-cgroup-not-nobody", !allowed_by(CGROUP_ONLY, &o));

	/* Nothing configured: nobody is a helper, root neither. */
	o.uid = 0;
	check("allow-nothing-configured", !allowed_by("guard_allow_exes = [ ]\n", &o));

	/* The defaults: libvirt's daemons, as root only. */
	if (stat("/usr/sbin/libvirtd", &self) == 0) {
		o = (struct guard_opener){ .uid = 65534, .exe_dev = self.st_dev,
					   .exe_ino = self.st_ino, .exe_known = true };
		check("default-libvirtd-as-nobody", !allowed_by("", &o));
		o.uid = 0;
		check("default-libvirtd-as-root", allowed_by("", &o));
	} else {
		printf("SKIP guardpolicy/default-libvirtd: no /usr/sbin/libvirtd here\n");
	}

	load(&cfg, "");
	guard_rules_init(&r, &cfg.guard);
	check("default-audit", r.policy == GUARD_AUDIT && !r.readonly_warn && r.timeout_allow);
	check("default-libvirt-allowed", strlist_contains(&cfg.guard.allow_exes, "/usr/sbin/virtqemud"));
	guard_rules_fini(&r);
	config_free(&cfg);

	check("config-bad-policy", rejected("guard_policy = \"enforce\"\n"));
	check("config-bad-prefix", rejected("guard_policy_paths = [ \"deny-all\" ]\n"));
	check("config-relative-prefix", rejected("guard_policy_paths = [ \"audit:srv\" ]\n"));
	check("config-bad-monitor", rejected("guard_monitors = [ \"kprobe\" ]\n"));
	check("config-bad-uid", rejected("guard_allow_uids = [ \"no-such-user-here\" ]\n"));
	check("config-relative-exe", rejected("guard_allow_exes = [ \"qemu-img\" ]\n"));
	check("config-zero-timeout", rejected("guard_answer_timeout_ms = 0\n"));
	check("config-bad-answer", rejected("guard_timeout_answer = \"maybe\"\n"));
	return failed;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/landlock.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

/* Access rights of later Landlock ABIs than the installed header knows. */
#define FS_TRUNCATE	(1ULL << 14)	/* ABI 3 */
#define FS_IOCTL_DEV	(1ULL << 15)	/* ABI 5 */

/* tmpfs: the daemon files of every input come and go there */
static char scratch[] = "/dev/shm/lw-fuzz-XXXXXX";

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("sandbox: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static uint64_t handled_access(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	uint64_t fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;

	if (abi < 1)
		die("Landlock is not available (%s): refusing to fuzz unconfined", strerror(errno));
	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= FS_TRUNCATE;
	if (abi >= 5)
		fs |= FS_IOCTL_DEV;
	return fs;
}

static void allow(int ruleset, const char *path, uint64_t access)
{
	struct landlock_path_beneath_attr rule = { .allowed_access = access };

	rule.parent_fd = open(path, O_PATH | O_CLOEXEC);
	if (rule.parent_fd < 0)
		die("cannot open %s: %s", path, strerror(errno));
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0)
		die("cannot add a rule for %s: %s", path, strerror(errno));
	close(rule.parent_fd);
}

static char *absolute(const char *cwd, const char *path)
{
	char *abs;

	if (path[0] == '/')
		return strdup(path);
	if (asprintf(&abs, "%s/%s", cwd, path) < 0)
		die("out of memory");
	return abs;
}

/*
 * The target runs in the scratch directory, but libFuzzer parses its
 * arguments after LLVMFuzzerInitialize: make the paths in them absolute,
 * and send artifacts where they would have gone, the starting directory.
 */
static void absolute_args(const char *cwd, int *argc, char ***argv)
{
	static const char *const path_flags[] = {
		"-artifact_prefix=", "-exact_artifact_path=", "-dict=",
	};
	char **args = calloc(*argc + 2, sizeof(*args));
	bool prefix = false;
	int n = 0;

	if (!args)
		die("out of memory");
	for (int i = 0; i < *argc; i++) {
		const char *a = (*argv)[i];
		size_t k;

		for (k = 0; k < sizeof(path_flags) / sizeof(path_flags[0]); k++)
			if (!strncmp(a, path_flags[k], strlen(path_flags[k])))
				break;
		if (i == 0 || (a[0] == '-' && k == sizeof(path_flags) / sizeof(path_flags[0]))) {
			args[n++] = (*argv)[i];
		} else if (a[0] != '-') {
			args[n++] = absolute(cwd, a);
		} else {
			size_t flag = strlen(path_flags[k]);
			char *abs = absolute(cwd, a + flag);

			if (asprintf(&args[n++], "%.*s%s", (int)flag, a, abs) < 0)
				die("out of memory");
			free(abs);
			prefix |= k == 0;
		}
	}
	if (!prefix && asprintf(&args[n++], "-artifact_prefix=%s/", cwd) < 0)
		die("out of memory");
	*argc = n;
	*argv = args;
}

/*
 * Reading and executing stay allowed everywhere (the sanitizers read
 * /proc and run the symbolizer); writing only in the scratch directory,
 * in LW_FUZZ_WRITABLE (colon-separated: libFuzzer's corpus and artifact
 * directories) or, without it, in the directory the target started in.
 */
void sandbox_enter(int *argc, char ***argv)
{
	struct landlock_ruleset_attr attr = { .handled_access_fs = handled_access() };
	const char *writable = getenv("LW_FUZZ_WRITABLE");
	char *dirs, *dir, *save = NULL, *cwd = getcwd(NULL, 0);
	int ruleset;

	if (!cwd)
		die("cannot get the working directory: %s", strerror(errno));
	absolute_args(cwd, argc, argv);

	sandbox_quiet(true);
	if (!mkdtemp(scratch))
		die("cannot create %s: %s", scratch, strerror(errno));
	ruleset = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0)
		die("cannot create a Landlock ruleset: %s", strerror(errno));
	allow(ruleset, "/", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
			    LANDLOCK_ACCESS_FS_EXECUTE);
	allow(ruleset, scratch, attr.handled_access_fs);
	allow(ruleset, "/dev/null", LANDLOCK_ACCESS_FS_WRITE_FILE);
	dirs = strdup(writable && *writable ? writable : cwd);
	for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
		allow(ruleset, dir, attr.handled_access_fs);
	free(dirs);
	free(cwd);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		die("cannot enter the Landlock domain: %s", strerror(errno));
	close(ruleset);
	/* Relative names in requests resolve in the scratch directory. */
	if (chdir(scratch) < 0)
		die("cannot enter %s: %s", scratch, strerror(errno));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (ftw->level > 0 && remove(path) < 0)
		die("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

void sandbox_quiet(bool quiet)
{
	if (log_setup(quiet ? LOG_LVL_DEBUG : LOG_LVL_WARN, NULL,
		      quiet ? "1:file:/dev/null" : "3:stderr", false, false) < 0)
		die("cannot set up the log");
}

const char *sandbox_dir(void)
{
	return scratch;
}

void sandbox_wipe(void)
{
	if (nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		die("cannot wipe %s: %s", scratch, strerror(errno));
}

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "execcheck.h"
#include "util.h"

#define CHECK_TIMEOUT_MS	10000
#define CHECK_OUTPUT_MAX	1024

extern char **environ;

/* The file execvp would run for name. */
static char *resolve(const char *name)
{
	const char *dirs = getenv("PATH"), *p, *end;

	if (strchr(name, '/'))
		return xstrdup(name);
	if (!dirs || !*dirs)
		dirs = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (p = dirs; ; p = end + 1) {
		char *path;

		end = strchrnul(p, ':');
		path = xasprintf("%.*s/%s", (int)(end - p), end == p ? "." : p, name);
		if (access(path, X_OK) == 0)
			return path;
		free(path);
		if (!*end)
			return NULL;
	}
}

static int read_header(const char *path, Elf64_Ehdr *h)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	memset(h, 0, sizeof(*h));
	n = read(fd, h, sizeof(*h));
	close(fd);
	return n < 0 ? -errno : (int)n;
}

/* An ELF of this machine (class, byte order and machine as our own), or a
 * #! script, which the self-check then runs. */
static int check_file(const char *path, char **why)
{
	Elf64_Ehdr h, self;
	struct stat st;
	int n;

	if (stat(path, &st) < 0) {
		n = -errno;
		*why = xasprintf("%s: %s", path, strerror(-n));
		return n;
	}
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0) {
		*why = xasprintf("%s: not an executable file", path);
		return -EACCES;
	}
	if ((n = read_header(path, &h)) < 0) {
		*why = xasprintf("%s: cannot read it: %s", path, strerror(-n));
		return n;
	}
	if (n >= 2 && !memcmp(&h, "#!", 2))
		return 0;
	if (n < (int)sizeof(Elf32_Ehdr) || memcmp(h.e_ident, ELFMAG, SELFMAG) ||
	    read_header("/proc/self/exe", &self) < (int)sizeof(Elf32_Ehdr) ||
	    h.e_ident[EI_CLASS] != self.e_ident[EI_CLASS] ||
	    h.e_ident[EI_DATA] != self.e_ident[EI_DATA] || h.e_machine != self.e_machine) {
		*why = xasprintf("%s: not an ELF executable for this machine", path);
		return -ENOEXEC;
	}
	return 0;
}

/* Up to CHECK_OUTPUT_MAX bytes of what fd says before EOF or the deadline;
 * -ETIMEDOUT when it did not finish in time. */
static int gather(int fd, char *out, size_t max)
{
	uint64_t deadline = now_mono_ns() + CHECK_TIMEOUT_MS * 1000000ull;
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = now_mono_ns();
		char sink[256];
		ssize_t n;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&p, 1, (deadline - now) / 1000000 + 1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (len < max - 1)
			n = read(fd, out + len, max - 1 - len);
		else
			n = read(fd, sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < max - 1)
			len += n;
	}
	out[len] = '\0';
	return 0;
}

/* The last line of what a check printed: its verdict, after any warnings. */
static const char *last_line(char *out)
{
	char *nl;

	while ((nl = strrchr(out, '\n')) && !nl[1])
		*nl = '\0';
	return (nl = strrchr(out, '\n')) ? nl + 1 : out;
}

/* Run path with args (args[0] is replaced by path) for at most
 * CHECK_TIMEOUT_MS; what it printed goes to out, how it ended to *status. */
static int run(const char *path, char **args, char *out, size_t max, int *status)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int pipefd[2], rc;
	sigset_t none;
	pid_t pid;

	args[0] = (char *)path;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	sigemptyset(&none);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	rc = -posix_spawn(&pid, path, &fa, &attr, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (rc < 0) {
		close(pipefd[0]);
		return rc;
	}
	rc = gather(pipefd[0], out, max);
	close(pipefd[0]);
	if (rc == -ETIMEDOUT)
		kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return rc;
}

/* Run path with argv[1..] and --check-config; its last line says why it failed. */
static int self_check(const char *path, char *const *argv, char **why)
{
	char out[CHECK_OUTPUT_MAX] = "", **args;
	int rc, status, n = 0;

	while (argv[n])
		n++;
	args = xcalloc(n + 2, sizeof(*args));
	memcpy(args, argv, n * sizeof(*args));
	args[n] = "--check-config";
	rc = run(path, args, out, sizeof(out), &status);
	free(args);
	if (rc == -ETIMEDOUT) {
		*why = xasprintf("%s --check-config did not answer in %d s", path,
				 CHECK_TIMEOUT_MS / 1000);
		return rc;
	}
	if (rc < 0) {
		*why = xasprintf("%s --check-config: cannot run it: %s", path, strerror(-rc));
		return rc;
	}
	/* Exit 0 alone could be any program: ours says so. */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		const char *verdict = last_line(out);
		size_t len = strlen(verdict);

		if (len >= 4 && !strcmp(verdict + len - 4, ": OK"))
			return 0;
		*why = xasprintf("%s --check-config exited 0 but did not say the configuration "
				 "is OK: not a lockwardend", path);
		return -ENOEXEC;
	}
	if (WIFEXITED(status))
		*why = xasprintf("%s --check-config exited with status %d: %s", path,
				 WEXITSTATUS(status), *out ? last_line(out) : "(no output)");
	else
		*why = xasprintf("%s --check-config was killed by signal %d", path,
				 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -EINVAL;
}

/* libvirt's own virtlockd (the package's removal hands the locks back to
 * it): "PATH (libvirt) VERSION" on -V. */
static bool is_virtlockd(const char *path)
{
	char out[CHECK_OUTPUT_MAX] = "", *args[3] = { NULL, "-V", NULL };
	int status;

	return run(path, args, out, sizeof(out), &status) == 0 && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0 && strstr(out, " (libvirt) ");
}

/* The configuration a virtlockd started with argv reads: -f FILE, else
 * default (which may be missing). */
static int virtlockd_config(char *const *argv, const char *dflt, char **why)
{
	const char *file = NULL;
	struct config cfg;
	char *bad = NULL;
	int rc;

	for (int i = 1; argv[i]; i++) {
		if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--config")) && argv[i + 1])
			file = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			file = argv[i] + 9;
	}
	/* Our parser takes every key virtlockd knows, with libvirt's syntax. */
	config_defaults(&cfg);
	rc = config_load(&cfg, file ? file : dflt, !file, &bad);
	config_free(&cfg);
	if (rc < 0) {
		*why = xasprintf("virtlockd would not start: %s", bad);
		free(bad);
	}
	return rc;
}

int exec_check(char *const *argv, const char *config, char **path, char **why)
{
	char *p = resolve(argv[0]);
	int rc;

	if (!p) {
		*why = xasprintf("%s: not found in PATH", argv[0]);
		return -ENOENT;
	}
	if ((rc = check_file(p, why)) == 0 && (rc = self_check(p, argv, why)) < 0 &&
	    is_virtlockd(p)) {
		free(*why);
		*why = NULL;
		rc = virtlockd_config(argv, config, why);
	}
	if (rc < 0) {
		free(p);
		return rc;
	}
	*path = p;
	return 0;
}

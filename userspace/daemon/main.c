// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * lockwardend: a drop-in replacement for libvirt's virtlockd. Same command
 * line, sockets, pid file and configuration file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crashcheck.h"
#include "daemon.h"
#include "log.h"
#include "pidfile.h"
#include "state.h"
#include "util.h"

static void usage(FILE *f, const char *argv0, bool privileged)
{
	fprintf(f,
		"\n"
		"Usage:\n"
		"  %s [options]\n"
		"\n"
		"Options:\n"
		"  -h | --help            Display program help:\n"
		"  -v | --verbose         Verbose messages.\n"
		"  -d | --daemon          Run as a daemon & write PID file.\n"
		"  -t | --timeout <secs>  Exit after timeout period.\n"
		"  -f | --config <file>   Configuration file.\n"
		"  -V | --version         Display version information.\n"
		"  -p | --pid-file <file> Change name of PID file.\n"
		"       --check-config    Load the configuration file, report and exit\n"
		"                         (status 0: it is valid).\n"
		"\n"
		"lockwarden lock management daemon (virtlockd compatible):\n"
		"\n"
		"  Default paths:\n"
		"\n"
		"    Configuration file (unless overridden by -f):\n"
		"      %s\n"
		"\n"
		"    Sockets:\n"
		"      %s\n"
		"\n"
		"    PID file (unless overridden by -p):\n"
		"      %s\n"
		"\n", argv0,
		privileged ? "/etc/libvirt/virtlockd.conf" : "$XDG_CONFIG_HOME/libvirt/virtlockd.conf",
		privileged ? "/run/libvirt/virtlockd-sock" : "$XDG_RUNTIME_DIR/libvirt/virtlockd-sock",
		privileged ? "/run/virtlockd.pid" : "$XDG_RUNTIME_DIR/libvirt/virtlockd.pid");
}

static char *default_config_path(bool privileged)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");

	if (privileged)
		return xstrdup("/etc/libvirt/virtlockd.conf");
	if (xdg && *xdg)
		return xasprintf("%s/libvirt/virtlockd.conf", xdg);
	return xasprintf("%s/.config/libvirt/virtlockd.conf", getenv("HOME") ? getenv("HOME") : "/");
}

/*
 * Fork into the background. The parent waits until the daemon reports
 * that it is serving (a 0 byte on the pipe) or failed (anything else, or
 * EOF), so `lockwardend -d` fails visibly when the daemon cannot start.
 * Returns the pipe's write end in the daemon, never returns in the parent.
 */
static int daemonize(const char *argv0)
{
	int pipefd[2], status;
	pid_t pid;
	char c;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(pipefd[1]);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
			_exit(1);
		if (read(pipefd[0], &c, 1) == 1 && c == 0)
			_exit(0);
		fprintf(stderr, "%s: error: the daemon failed to start; see its log\n", argv0);
		_exit(1);
	}
	close(pipefd[0]);
	if (setsid() < 0)
		_exit(1);
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	int null = open("/dev/null", O_RDWR);

	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		_exit(1);
	if (null > 2)
		close(null);
	return pipefd[1];
}

static void report_ready(int *fd, char status)
{
	if (*fd < 0)
		return;
	write_all(*fd, &status, 1);
	*fd = safe_close(*fd);
}

static int parse_timeout(const char *s, unsigned int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX / 1000)
		return -EINVAL;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose",	no_argument,		NULL, 'v' },
		{ "daemon",	no_argument,		NULL, 'd' },
		{ "config",	required_argument,	NULL, 'f' },
		{ "timeout",	required_argument,	NULL, 't' },
		{ "pid-file",	required_argument,	NULL, 'p' },
		{ "version",	no_argument,		NULL, 'V' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "check-config", no_argument,		NULL, 'C' },
		{ 0 },
	};
	struct daemon d = { .argv = argv, .pid_fd = -1 };
	char *config_path = NULL, *why = NULL;
	int c, rc, status_fd = -1, ret = 1;
	struct json_object *state = NULL, *crash;
	bool implicit, killed, restored, check_config = false;

	/* Before anything here opens a file: what a re-exec handed over. */
	state_note_inherited(&d);
	d.privileged = geteuid() == 0;
	while ((c = getopt_long(argc, argv, "df:p:t:vVh", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			d.verbose = true;
			break;
		case 'd':
			d.godaemon = true;
			break;
		case 't':
			if (parse_timeout(optarg, &d.timeout) < 0) {
				fprintf(stderr, "%s: Invalid value for timeout: '%s'\n", argv[0], optarg);
				goto out;
			}
			break;
		case 'p':
			free(d.paths.pidfile);
			d.paths.pidfile = xstrdup(optarg);
			break;
		case 'f':
			free(config_path);
			config_path = xstrdup(optarg);
			break;
		case 'V':
			printf("%s (lockwarden) %s\n", argv[0], LW_VERSION);
			ret = 0;
			goto out;
		case 'h':
			usage(stderr, argv[0], d.privileged);
			ret = 0;
			goto out;
		case 'C':
			check_config = true;
			break;
		default:
			usage(stderr, argv[0], d.privileged);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		usage(stderr, argv[0], d.privileged);
		goto out;
	}

	config_defaults(&d.cfg);
	implicit = !config_path;
	if (implicit)
		config_path = default_config_path(d.privileged);
	if (config_load(&d.cfg, config_path, implicit, &why) < 0) {
		fprintf(stderr, "%s: Can't load config file: %s\n", argv[0], why);
		if (check_config || !state_handed_over(&d))
			goto out;
		/* Never exit holding inherited locks: serve them with the defaults. */
		config_free(&d.cfg);
		config_defaults(&d.cfg);
		d.config_error = why;
		why = NULL;
	}
	if (check_config) {
		printf("%s: configuration %s: OK\n", argv[0], config_path);
		ret = 0;
		goto out;
	}
	d.paths.config = config_path;
	config_path = NULL;
	if ((rc = log_setup(d.cfg.log_level, d.cfg.log_filters, d.cfg.log_outputs,
			    d.godaemon, d.verbose)) < 0) {
		fprintf(stderr, "%s: cannot set up logging: %s\n", argv[0], strerror(-rc));
		goto out;
	}
	daemon_default_paths(&d);
	if (d.config_error)
		log_error("Can't load config file: %s; serving the inherited locks with the "
			  "default configuration", d.config_error);

	mode_t old = umask(d.privileged ? 022 : 077);

	rc = mkdir_p(d.paths.rundir, 0777);
	umask(old);
	if (rc < 0) {
		log_error("unable to create rundir %s: %s", d.paths.rundir, strerror(-rc));
		goto out;
	}

	/* Restored from a re-exec (ours, or virtlockd's when we replace it),
	 * or started fresh; never fresh while holding inherited locks. */
	restored = state_probe(&d, &state) > 0;
	if (!restored && d.godaemon) {
		if (chdir("/") < 0) {
			log_error("cannot change to root directory: %m");
			goto out;
		}
		if ((status_fd = daemonize(argv[0])) < 0) {
			log_error("Failed to fork as daemon: %s", strerror(-status_fd));
			goto out;
		}
	}
	if (daemon_init(&d) < 0)
		goto out;
	if (restored)
		state_apply(&d, state);
	/* A pid file left behind: its daemon was killed, not stopped. */
	killed = !restored && access(d.paths.pidfile, F_OK) == 0;
	if (d.pid_fd < 0 && (d.pid_fd = pidfile_acquire(d.paths.pidfile, getpid())) < 0) {
		log_error("Failed to acquire pid file '%s': %s%s", d.paths.pidfile,
			  d.pid_fd == -EAGAIN ? "another daemon is running" : strerror(-d.pid_fd),
			  restored ? "; serving on without it, as inherited locks are held" : "");
		if (!restored)
			goto out;
		d.pid_fd = -1;
	}
	if (killed && (crash = crashcheck_previous(d.cfg.audit_log)))
		daemon_report(&d, crash);
	if (daemon_listen(&d) < 0 && !restored)
		goto out;
	report_ready(&status_fd, 0);
	for (;;) {
		ret = daemon_run(&d) < 0 ? 1 : 0;
		if (!d.reexec)
			break;
		/* Returns only when the exec failed; everything is still held. */
		state_reexec(&d);
		d.reexec = false;
	}
out:
	report_ready(&status_fd, 1);
	if (d.loop)
		daemon_fini(&d);
	else
		config_free(&d.cfg);
	if (d.pid_fd >= 0)
		pidfile_release(d.paths.pidfile, d.pid_fd);
	daemon_paths_free(&d.paths);
	/* What state_note_inherited noted, when no state consumed it. */
	free(d.inherited.map);
	json_object_put(state);
	log_close();
	free(why);
	free(config_path);
	return ret;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "alert.h"
#include "log.h"
#include "util.h"

/* Hooks running at once; past this, an alert that would start another is
 * dropped (counted): a hook that hangs must not pile up processes. */
#define HOOKS_MAX	4

extern char **environ;

struct hook {
	struct alerts *al;
	pid_t pid;
	struct loop_source src;		/* its pidfd */
	struct loop_timer timeout;
	bool timed_out;
	struct hook *next;
};

struct alert_stats {
	uint64_t raised;
	uint64_t hook_runs;
	uint64_t hook_failures;		/* could not start, exited non-zero, killed */
	uint64_t hook_timeouts;		/* of those, killed for running too long */
	uint64_t hook_dropped;		/* not run: over the rate or too many running */
	unsigned int hooks_running;
};

struct alerts {
	char *hook;
	unsigned int timeout_s, per_minute;
	struct loop *loop;
	double tokens;			/* the rate limit's bucket */
	uint64_t refilled;		/* CLOCK_MONOTONIC ns */
	bool dropping;			/* said so in the log already */
	struct hook *running;
	struct alert_stats st;
};

int alerts_new(const struct alert_config *cfg, struct loop *loop, struct alerts **out)
{
	struct alerts *al = xcalloc(1, sizeof(*al));

	al->hook = xstrdup(cfg->hook);
	al->timeout_s = cfg->timeout_s;
	al->per_minute = cfg->max_per_minute;
	al->loop = loop;
	al->tokens = cfg->max_per_minute;
	al->refilled = now_mono_ns();
	*out = al;
	return 0;
}

static void hook_free(struct hook *h)
{
	struct alerts *al = h->al;
	struct hook **pp;

	for (pp = &al->running; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	al->st.hooks_running--;
	loop_del(al->loop, &h->src);
	loop_timer_disarm(al->loop, &h->timeout);
	safe_close(h->src.fd);
	free(h);
}

void alerts_free(struct alerts *al)
{
	if (!al)
		return;
	while (al->running) {
		struct hook *h = al->running;

		kill(-h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		hook_free(h);
	}
	free(al->hook);
	free(al);
}

static void hook_exited(struct loop_source *src, uint32_t events)
{
	struct hook *h = container_of(src, struct hook, src);
	struct alerts *al = h->al;
	int status;

	if (waitpid(h->pid, &status, WNOHANG) <= 0)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		hook_free(h);
		return;
	}
	al->st.hook_failures++;
	if (h->timed_out)
		log_warn("alert hook %s (pid %d) killed after running for %u s", al->hook, h->pid,
			 al->timeout_s);
	else if (WIFEXITED(status))
		log_warn("alert hook %s (pid %d) failed with exit status %d", al->hook, h->pid,
			 WEXITSTATUS(status));
	else
		log_warn("alert hook %s (pid %d) killed by signal %d", al->hook, h->pid,
			 WTERMSIG(status));
	hook_free(h);
}

static void hook_timeout(struct loop_timer *t)
{
	struct hook *h = container_of(t, struct hook, timeout);

	h->timed_out = true;
	h->al->st.hook_timeouts++;
	/* The whole session: a script's children go too. */
	kill(-h->pid, SIGKILL);
}

/* May a hook run now? Refills one token per 60/per_minute seconds. */
static bool take_token(struct alerts *al)
{
	uint64_t now = now_mono_ns();

	if (!al->per_minute)
		return true;
	al->tokens += (double)(now - al->refilled) * al->per_minute / 60e9;
	if (al->tokens > al->per_minute)
		al->tokens = al->per_minute;
	al->refilled = now;
	if (al->tokens < 1)
		return false;
	al->tokens -= 1;
	return true;
}

static int spawn(struct alerts *al, const char *text, size_t len, pid_t *pid)
{
	char *argv[] = { al->hook, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], STDIN_FILENO);
	posix_spawnattr_init(&attr);
	/* The daemon blocks its signals (signalfd) and ignores SIGPIPE: the
	 * hook starts with neither. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				 POSIX_SPAWN_SETSID);
	rc = -posix_spawn(pid, al->hook, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(p[0]);
	/* An alert is far smaller than a pipe's buffer: one write, never a
	 * wait, whether or not the hook reads. */
	if (rc == 0 && (fd_set_nonblock(p[1]) < 0 || write(p[1], text, len) != (ssize_t)len))
		log_warn("alert hook %s (pid %d): could not hand over the whole alert", al->hook,
			 *pid);
	close(p[1]);
	return rc;
}

static void run_hook(struct alerts *al, struct json_object *rec)
{
	const char *json = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE);
	char *text = xasprintf("%s\n", json);
	struct hook *h;
	pid_t pid;
	int rc, pidfd;

	if (al->st.hooks_running >= HOOKS_MAX || !take_token(al)) {
		al->st.hook_dropped++;
		if (!al->dropping)
			log_warn("alert hook %s not run: %s (counted; said once)", al->hook,
				 al->st.hooks_running >= HOOKS_MAX ? "too many still running" :
				 "over alert_hook_max_per_minute");
		al->dropping = true;
		goto out;
	}
	al->dropping = false;
	if ((rc = spawn(al, text, strlen(text), &pid)) < 0) {
		al->st.hook_failures++;
		log_error("cannot run alert hook %s: %s", al->hook, strerror(-rc));
		goto out;
	}
	al->st.hook_runs++;
	h = xcalloc(1, sizeof(*h));
	h->al = al;
	h->pid = pid;
	h->next = al->running;
	al->running = h;
	al->st.hooks_running++;
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0 || loop_add(al->loop, &h->src, pidfd, EPOLLIN, hook_exited) < 0) {
		/* Cannot watch it: do not let it outlive us unwatched. */
		log_error("alert hook %s (pid %d): cannot watch it: %m; killing it", al->hook, pid);
		h->src.fd = pidfd;
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		al->st.hook_failures++;
		hook_free(h);
		goto out;
	}
	loop_timer_arm(al->loop, &h->timeout, al->timeout_s * 1000ull, hook_timeout);
out:
	free(text);
}

void alert_raise(struct alerts *al, struct json_object *rec)
{
	struct json_object *ev, *msg;

	al->st.raised++;
	if (!json_object_object_get_ex(rec, "event", &ev) || !json_object_is_type(ev, json_type_string))
		ev = NULL;
	syslog(LOG_ALERT | LOG_DAEMON, "lockwarden alert: %s: %s",
	       ev ? json_object_get_string(ev) : "?",
	       json_object_object_get_ex(rec, "message", &msg) &&
	       json_object_is_type(msg, json_type_string) ? json_object_get_string(msg) :
	       json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE));
	if (al->hook)
		run_hook(al, rec);
}

struct json_object *alerts_status(const struct alerts *al)
{
	struct json_object *o = json_object_new_object();
	const struct alert_stats *st = &al->st;

	json_object_object_add(o, "hook", al->hook ? json_object_new_string(al->hook) : NULL);
	json_object_object_add(o, "raised", json_object_new_uint64(st->raised));
	json_object_object_add(o, "hook_runs", json_object_new_uint64(st->hook_runs));
	json_object_object_add(o, "hook_failures", json_object_new_uint64(st->hook_failures));
	json_object_object_add(o, "hook_timeouts", json_object_new_uint64(st->hook_timeouts));
	json_object_object_add(o, "hook_dropped", json_object_new_uint64(st->hook_dropped));
	json_object_object_add(o, "hooks_running", json_object_new_uint64(st->hooks_running));
	return o;
}

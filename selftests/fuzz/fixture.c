// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "sandbox.h"
#include "util.h"

void fixture_start(struct daemon *d)
{
	static const char *const argv[] = { "lockwardend-fuzz-no-such-program", NULL };
	const char *dir = sandbox_dir();
	char *text, *why = NULL;

	memset(d, 0, sizeof(*d));
	d->pid_fd = -1;
	d->privileged = true;
	config_defaults(&d->cfg);
	text = xasprintf("audit_log = \"%s/audit/audit.jsonl\"\naudit_fsync = \"never\"\n"
			 "guard_monitors = [ ]\n", dir);
	if (config_parse(&d->cfg, "fixture", text, &why) < 0) {
		fprintf(stderr, "fixture: %s\n", why);
		abort();
	}
	free(text);
	/* Relative to the scratch directory, so that inputs can name them. */
	d->paths.rundir = xstrdup(".");
	d->paths.sock[CLIENT_LOCK] = xstrdup("virtlockd-sock");
	d->paths.sock[CLIENT_ADMIN] = xstrdup("virtlockd-admin-sock");
	d->paths.pidfile = xstrdup("virtlockd.pid");
	d->paths.state = xstrdup("virtlockd-restart-exec.json");
	/* What a re-exec would run: no such program, so every request (an
	 * admin call can make one) is refused by the check, never executed. */
	d->argv = (char **)argv;
	if (daemon_init(d) < 0)
		abort();
}

static struct loop_timer tick;
static struct loop *ticking;

static void quit(struct loop_timer *t)
{
	loop_quit(ticking, 0);
}

void fixture_step(struct daemon *d)
{
	ticking = d->loop;
	loop_timer_arm(d->loop, &tick, 0, quit);
	loop_run(d->loop);
}

void fixture_stop(struct daemon *d)
{
	loop_timer_disarm(d->loop, &tick);
	daemon_fini(d);
	safe_close(d->pid_fd);
	daemon_paths_free(&d->paths);
	free(d->inherited.map);
	sandbox_wipe();
}

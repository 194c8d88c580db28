// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sockact: systemd's part in socket activation, for tests. Binds and
 * listens on each SOCKET (mode 0600), passes them as fds 3.. with
 * LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES, waits DELAY ms (clients may
 * connect meanwhile, as before a socket-activated start), then execs.
 *
 *   sockact [-w DELAY_MS] SOCKET... -- COMMAND [ARGS...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

int main(int argc, char **argv)
{
	char names[512] = "", num[16];
	int i = 1, n = 0, delay = 0;

	if (argc > 2 && !strcmp(argv[1], "-w")) {
		delay = atoi(argv[2]);
		i = 3;
	}
	for (; i < argc && strcmp(argv[i], "--"); i++, n++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[i]);
		unlink(argv[i]);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    chmod(argv[i], 0600) < 0 || listen(fd, 64) < 0 || dup2(fd, 3 + n) < 0) {
			perror(argv[i]);
			return 1;
		}
		if (fd != 3 + n)
			close(fd);
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%ssocket%d",
			 n ? ":" : "", n);
	}
	if (i >= argc - 1) {
		fprintf(stderr, "usage: sockact [-w DELAY_MS] SOCKET... -- COMMAND [ARGS...]\n");
		return 2;
	}
	snprintf(num, sizeof(num), "%d", getpid());
	setenv("LISTEN_PID", num, 1);
	snprintf(num, sizeof(num), "%d", n);
	setenv("LISTEN_FDS", num, 1);
	setenv("LISTEN_FDNAMES", names, 1);
	usleep(delay * 1000);
	execvp(argv[i + 1], argv + i + 1);
	perror(argv[i + 1]);
	return 1;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * lockyank PID PATH: take from process PID the lock it holds on PATH, as a
 * server that expired its state does, and hold it here, as the host that
 * took the disk over does. The OFD lock is released through PID's own open
 * file (pidfd_getfd gives this process that same file), then taken on a
 * file of our own. Prints "yanked" and holds the lock until killed.
 * Nothing is written to PATH.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int byte0(int fd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };

	return fcntl(fd, F_OFD_SETLK, &fl);
}

/* The fd number of PATH in PID, or -1. */
static int find_fd(pid_t pid, const char *path)
{
	char dir[64], link[PATH_MAX + 64], target[PATH_MAX];
	struct dirent *de;
	int found = -1;
	ssize_t n;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	if (!(d = opendir(dir)))
		return -1;
	while (found < 0 && (de = readdir(d))) {
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = 0;
		if (!strcmp(target, path))
			found = atoi(de->d_name);
	}
	closedir(d);
	return found;
}

int main(int argc, char **argv)
{
	int pidfd, theirs, mine, fd;
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PID PATH\n", argv[0]);
		return 2;
	}
	pid = atoi(argv[1]);
	if ((fd = find_fd(pid, argv[2])) < 0) {
		fprintf(stderr, "lockyank: pid %d has no fd of %s\n", pid, argv[2]);
		return 1;
	}
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	theirs = pidfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	if (theirs < 0) {
		fprintf(stderr, "lockyank: cannot get fd %d of pid %d: %m\n", fd, pid);
		return 1;
	}
	if (byte0(theirs, F_UNLCK) < 0) {
		fprintf(stderr, "lockyank: cannot unlock %s: %m\n", argv[2]);
		return 1;
	}
	close(theirs);
	if ((mine = open(argv[2], O_RDWR | O_CLOEXEC)) < 0 || byte0(mine, F_WRLCK) < 0) {
		fprintf(stderr, "lockyank: cannot lock %s: %m\n", argv[2]);
		return 1;
	}
	printf("yanked\n");
	fflush(stdout);
	pause();
	return 0;
}

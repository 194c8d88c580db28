// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ownerid.h"
#include "procinfo.h"
#include "util.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* SO_PEERPIDFD names exactly the process that connected (Linux 6.5);
 * before that, pidfd_open() of the pid while it is still its owner's. */
static int pidfd_of(int sockfd, pid_t peer_pid, pid_t pid)
{
	socklen_t len = sizeof(int);
	int fd;

	if (pid == peer_pid && getsockopt(sockfd, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0)
		return fd;
	if (pid == peer_pid && errno == ESRCH)
		return -ESRCH;
	fd = syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : fd;
}

static bool exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* known, with a pidfd, names the process pid names now while it runs. */
static bool still(const struct ownerid *known, pid_t pid)
{
	return known && known->pid == pid && known->pidfd >= 0 && known->start &&
	       known->start != OWNERID_GONE && !exited(known->pidfd);
}

int ownerid_take(struct ownerid *id, int sockfd, pid_t peer_pid, pid_t pid,
		 const struct ownerid *known)
{
	uint64_t start;
	int fd, rc;

	ownerid_clear(id);
	id->pid = pid;
	id->start = OWNERID_GONE;
	if (pid <= 0)
		return -ESRCH;
	/* libvirtd's connections on a running VM's behalf: one poll. */
	if (pid != peer_pid && still(known, pid)) {
		id->start = known->start;
		return 0;
	}
	if ((fd = pidfd_of(sockfd, peer_pid, pid)) < 0)
		return fd;
	/* Read while the pidfd's process still runs: then the pid was its. */
	rc = procinfo_start(pid, &start);
	if (rc == -ENOENT || (rc == 0 && exited(fd)))
		rc = -ESRCH;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	id->start = start;
	/* Only the owner's own connection gets it killed (reaper.h). */
	if (pid == peer_pid)
		id->pidfd = fd;
	else
		close(fd);
	return 0;
}

void ownerid_clear(struct ownerid *id)
{
	safe_close(id->pidfd);
	*id = OWNERID_NONE;
}

int ownerid_steal_pidfd(struct ownerid *id)
{
	int fd = id->pidfd;

	id->pidfd = -1;
	return fd;
}

bool ownerid_match(pid_t owner_pid, uint64_t owner_start, pid_t pid, uint64_t start)
{
	return owner_pid == pid && (!owner_start || owner_start == start);
}

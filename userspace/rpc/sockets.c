// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clients.h"
#include "log.h"
#include "sockets.h"
#include "util.h"

#define LISTEN_BACKLOG	128
#define SD_LISTEN_FDS_START 3

/* Does a daemon answer on path? Only then is the socket file not stale. */
static bool socket_in_use(const char *path)
{
	struct sockaddr_un sa;
	bool used;
	int fd;

	if (unix_addr(&sa, path) < 0)
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	used = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return used;
}

static int bind_unix(const char *path)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, rc;

	if ((rc = unix_addr(&sa, path)) < 0)
		return rc;
	if (socket_in_use(path))
		return -EADDRINUSE;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	/* Created 0700 from the start: no window where others may connect. */
	old = umask(077);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* An inherited fd must be a listening UNIX stream socket, and for path. */
static int check_listening(int fd, const char *path)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int val, rc;

	len = sizeof(val);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) < 0)
		return -errno;
	if (!val)
		return -ENOTSOCK;
	len = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	if (sa.sun_family != AF_UNIX)
		return -EAFNOSUPPORT;
	if (path && strncmp(sa.sun_path, path, sizeof(sa.sun_path)))
		return -EADDRNOTAVAIL;
	if ((rc = fd_set_nonblock(fd)) < 0 || (rc = fd_set_cloexec(fd, true)) < 0)
		return rc;
	return 0;
}

static void listener_accept(struct loop_source *src, uint32_t events)
{
	struct listener *l = container_of(src, struct listener, src);

	/* The callee may pause l (its client limit reached). */
	for (int i = 0; i < 64 && !l->paused; i++) {
		int fd = accept4(src->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept on %s failed: %m", l->path);
			return;
		}
		l->accepted(l->data, l, fd);
	}
}

int listener_open(struct listener *l, struct loop *loop, int kind, const char *path, int fd,
		  listener_accept_fn accepted, void *data)
{
	int rc;

	memset(l, 0, sizeof(*l));
	l->loop = loop;
	l->accepted = accepted;
	l->data = data;
	l->kind = kind;
	l->src.fd = -1;
	if (fd >= 0) {
		if ((rc = check_listening(fd, path)) < 0) {
			log_error("inherited fd %d is not the listening socket %s: %s",
				  fd, path, strerror(-rc));
			return rc;
		}
	} else if ((fd = bind_unix(path)) < 0) {
		if (fd == -EADDRINUSE)
			log_error("socket %s is in use: another daemon is serving it", path);
		else
			log_error("cannot listen on %s: %s", path, strerror(-fd));
		return fd;
	}
	if ((rc = loop_add(loop, &l->src, fd, EPOLLIN, listener_accept)) < 0) {
		close(fd);
		return rc;
	}
	l->path = xstrdup(path);	/* only now: open (see daemon_listen) */
	return 0;
}

void listener_close(struct listener *l, bool unlink_path)
{
	if (!l->path)
		return;		/* never opened */
	if (l->src.fd >= 0) {
		loop_del(l->loop, &l->src);
		l->src.fd = safe_close(l->src.fd);
		if (unlink_path)
			unlink(l->path);
	}
	free(l->path);
	l->path = NULL;
}

void listener_update(struct listener *l, bool below_limit)
{
	if (l->src.fd < 0 || l->paused == !below_limit)
		return;
	l->paused = !below_limit;
	loop_mod(l->loop, &l->src, below_limit ? EPOLLIN : 0);
	if (l->paused)
		log_warn("client limit reached on %s; new connections wait", l->path);
}

void listener_save(const struct listener *l, struct restart_writer *rw)
{
	restart_put_sock(rw, NULL, l->src.fd, false, 0);
}

int listener_restore_fd(struct restart_reader *r, struct json_object *sock, const char *where,
			int *fd)
{
	return restart_get_fd(r, sock, where, "fd", fd);
}

int sockets_systemd_count(void)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");

	if (!pid || !nfds || atoi(pid) != getpid())
		return 0;
	return atoi(nfds);
}

int sockets_from_systemd(const char *const paths[], int nkinds, int *fds)
{
	int n = sockets_systemd_count();

	for (int k = 0; k < nkinds; k++)
		fds[k] = -1;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		struct sockaddr_un sa;
		socklen_t len = sizeof(sa);

		if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX) {
			log_error("systemd passed fd %d, which is not a UNIX socket", fd);
			return -ENOTSOCK;
		}
		/* Match by address: unit names differ between installs. */
		int k;

		for (k = 0; k < nkinds; k++)
			if (!strncmp(sa.sun_path, paths[k], sizeof(sa.sun_path)))
				break;
		if (k == nkinds) {
			log_error("systemd passed a socket for %s, which is none of ours", sa.sun_path);
			return -EADDRNOTAVAIL;
		}
		fds[k] = fd;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return n;
}

char *sockets_default_rundir(bool privileged)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");

	if (privileged)
		return xstrdup("/run/libvirt");
	if (xdg && *xdg)
		return xasprintf("%s/libvirt", xdg);
	return xasprintf("%s/.cache/libvirt", home ? home : "/");
}

char *sockets_default_path(bool privileged, int kind)
{
	char *dir = sockets_default_rundir(privileged);
	char *path = xasprintf("%s/%s", dir, kind == CLIENT_LOCK ? "virtlockd-sock" :
			       "virtlockd-admin-sock");

	free(dir);
	return path;
}

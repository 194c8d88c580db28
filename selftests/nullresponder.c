// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * nullresponder: the benchmark's ceiling. Listens where a lock daemon
 * would and answers every call "OK" at once, locking nothing, so a client
 * measured against it is limited by itself alone.
 *
 *   nullresponder [SOCKET]    (default /run/libvirt/virtlockd-sock)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc.h"
#include "util.h"

struct peer {
	int fd;
	struct buf in;
};

/* Answer each complete call in p->in with an empty OK reply. */
static int serve(struct peer *p)
{
	struct buf out = { 0 };
	uint32_t len;
	int rc = 0;

	while (p->in.len >= 4 && rpc_frame_len(p->in.data, RPC_MESSAGE_MAX, &len) == 0 &&
	       p->in.len >= len) {
		struct xdr_in x;
		struct rpc_hdr h;

		xdr_in_init(&x, p->in.data + 4, len - 4);
		rpc_hdr_decode(&x, &h);
		h.type = RPC_REPLY;
		h.status = RPC_OK;
		rpc_msg_end(&out, rpc_msg_begin(&out, &h));
		buf_consume(&p->in, len);
	}
	if (out.len)
		rc = write_all(p->fd, out.data, out.len);
	buf_free(&out);
	return rc;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN }, evs[64];
	int lfd, ep;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
		 argc > 1 ? argv[1] : "/run/libvirt/virtlockd-sock");
	mkdir_p("/run/libvirt", 0755);
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 128) < 0) {
		perror("nullresponder");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < n; i++) {
			struct peer *p = evs[i].data.ptr;
			ssize_t r;

			if (!p) {
				p = xcalloc(1, sizeof(*p));
				p->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
				ev.data.ptr = p;
				if (p->fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, p->fd, &ev) < 0) {
					safe_close(p->fd);
					free(p);
				}
				continue;
			}
			buf_reserve(&p->in, 4096);
			r = read(p->fd, p->in.data + p->in.len, 4096);
			if (r > 0) {
				p->in.len += r;
				if (serve(p) == 0)
					continue;
			}
			close(p->fd);
			buf_free(&p->in);
			free(p);
		}
	}
}

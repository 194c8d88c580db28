// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * rpcprobe: speak libvirt RPC to a daemon by hand, well-formed or not, and
 * print what comes back in a form that can be compared between daemons.
 * Reads commands, one per line, from stdin:
 *
 *   connect [PATH]           (default /run/libvirt/virtlockd-sock) as connection "0"
 *   use N                    switch to connection N (connect opens the next)
 *   call PROC ARG...         a lock-program call; ARG: u:NUM s:TEXT S:LEN (LEN x 'a')
 *                            uuid:HEX32 raw:HEX; then reads and prints the reply
 *   frame K=V... ARG...      a frame with header fields prog= vers= proc= type= serial=
 *                            status=, and len= (override), cut= (send only N bytes);
 *                            does not read a reply
 *   rest                     send what the last cut= held back
 *   flood N PROC ARG...      N calls in one write, then read N replies; prints a summary
 *   reply                    read one message and print it
 *   closed                   expect the daemon to close: prints "closed" or what came
 *   silence MS               expect nothing to arrive for MS milliseconds
 *   upgrade PID PROC ARG...  SIGUSR1 to PID, then (1 ms on, once the old image has
 *                            stopped serving) the call; prints "pause_ms=M", the
 *                            time from the signal until its reply
 *   close                    close the current connection
 *   handoff                  fork: the parent exits, the child carries on with every
 *                            connection; prints "handoff PID" (the child's). The
 *                            process that registered is gone, its connection is not
 *
 * Output lines: "reply serial=S OK", "reply serial=S ERROR code=C domain=D
 * message=M", "message prog=P proc=X", "closed", "timeout".
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc.h"
#include "util.h"

#define MAX_CONN 64

static int conns[MAX_CONN];
static int nconn, cur = -1;
static uint32_t serial;
static int read_timeout_ms = 5000;
static struct buf held_back;		/* what frame cut= did not send */	/* a re-exec of a big state may take longer */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int put_hex(struct buf *b, const char *hex, bool xdr_pad)
{
	size_t n = strlen(hex) / 2;
	uint8_t *tmp = xmalloc(n);

	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(tmp);
			return -1;
		}
		tmp[i] = hi << 4 | lo;
	}
	if (xdr_pad) {
		xdr_put_fixed(b, tmp, n);
	} else {
		buf_reserve(b, n);
		memcpy(b->data + b->len, tmp, n);
		b->len += n;
	}
	free(tmp);
	return 0;
}

/* Encode one ARG; -1 on a malformed one. */
static int put_arg(struct buf *b, const char *arg)
{
	if (!strncmp(arg, "u:", 2)) {
		xdr_put_u32(b, strtoul(arg + 2, NULL, 0));
	} else if (!strncmp(arg, "s:", 2)) {
		xdr_put_string(b, arg + 2);
	} else if (!strncmp(arg, "S:", 2)) {
		size_t n = strtoul(arg + 2, NULL, 0);
		char *s = xmalloc(n + 1);

		memset(s, 'a', n);
		s[n] = '\0';
		xdr_put_string(b, s);
		free(s);
	} else if (!strncmp(arg, "uuid:", 5)) {
		return strlen(arg + 5) == 32 ? put_hex(b, arg + 5, true) : -1;
	} else if (!strncmp(arg, "raw:", 4)) {
		return put_hex(b, arg + 4, false);
	} else {
		return -1;
	}
	return 0;
}

static int send_all(const struct buf *b, size_t n)
{
	if (cur < 0) {
		printf("error: not connected\n");
		return -1;
	}
	if (write_all(conns[cur], b->data, n) < 0) {
		printf("send failed: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int read_exact(int fd, uint8_t *p, size_t n)
{
	while (n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, read_timeout_ms) == 0)
			return -ETIMEDOUT;
		r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? -EPIPE : -errno;
		p += r;
		n -= r;
	}
	return 0;
}

/* Read one message and print it; returns 0, or -EPIPE/-ETIMEDOUT. */
static int read_message(bool quiet_ok)
{
	uint8_t lenbuf[4], *body;
	struct xdr_in in;
	struct rpc_hdr h;
	uint32_t len;
	int rc;

	if ((rc = read_exact(conns[cur], lenbuf, 4)) < 0) {
		printf("%s\n", rc == -ETIMEDOUT ? "timeout" : "closed");
		return rc;
	}
	if (rpc_frame_len(lenbuf, RPC_MESSAGE_MAX, &len) < 0) {
		printf("bad length from daemon\n");
		return -EBADMSG;
	}
	body = xmalloc(len);
	if ((rc = read_exact(conns[cur], body, len - 4)) < 0) {
		printf("%s\n", rc == -ETIMEDOUT ? "timeout" : "closed");
		free(body);
		return rc;
	}
	xdr_in_init(&in, body, len - 4);
	rpc_hdr_decode(&in, &h);
	if (h.type == RPC_MESSAGE) {
		printf("message prog=%#x proc=%d\n", h.prog, h.proc);
	} else if (h.status == RPC_OK) {
		if (!quiet_ok)
			printf("reply serial=%u proc=%d OK\n", h.serial, h.proc);
	} else {
		struct lw_err e = { 0 };

		if (rpc_get_error(&in, &e) < 0)
			printf("reply serial=%u ERROR undecodable\n", h.serial);
		else
			printf("reply serial=%u proc=%d ERROR code=%d domain=%d message=%.200s "
			       "str1=%.200s str2=%.200s int1=%d int2=%d\n", h.serial, h.proc, e.code,
			       e.domain, e.message ? e.message : "(null)", e.str1 ? e.str1 : "(null)",
			       e.str2 ? e.str2 : "(null)", e.int1, e.int2);
		lw_err_clear(&e);
	}
	free(body);
	return 0;
}

static int build_call(struct buf *b, struct rpc_hdr *h, char **args, int nargs,
		      long len_override)
{
	size_t start = rpc_msg_begin(b, h);

	for (int i = 0; i < nargs; i++) {
		if (put_arg(b, args[i]) < 0) {
			printf("error: bad argument '%s'\n", args[i]);
			return -1;
		}
	}
	rpc_msg_end(b, start);
	if (len_override >= 0)
		xdr_patch_u32(b, start, (uint32_t)len_override);
	return 0;
}

static struct rpc_hdr lock_call(int proc)
{
	struct rpc_hdr h = {
		.prog = LOCK_PROGRAM, .vers = LOCK_PROGRAM_VERSION, .proc = proc,
		.type = RPC_CALL, .serial = serial++, .status = RPC_OK,
	};
	return h;
}

static void cmd_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (nconn == MAX_CONN) {
		printf("error: too many connections\n");
		return;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path ? path : "/run/libvirt/virtlockd-sock");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		printf("connect failed: %s\n", strerror(errno));
		safe_close(fd);
		return;
	}
	conns[nconn] = fd;
	cur = nconn++;
}

static void cmd_frame(char **tok, int n)
{
	struct rpc_hdr h = lock_call(0);
	long len = -1, cut = -1;
	struct buf b = { 0 };
	int i;

	for (i = 0; i < n && strchr(tok[i], '=') && strncmp(tok[i], "s:", 2); i++) {
		char *eq = strchr(tok[i], '=');
		unsigned long v = strtoul(eq + 1, NULL, 0);

		*eq = '\0';
		if (!strcmp(tok[i], "prog")) h.prog = v;
		else if (!strcmp(tok[i], "vers")) h.vers = v;
		else if (!strcmp(tok[i], "proc")) h.proc = v;
		else if (!strcmp(tok[i], "type")) h.type = v;
		else if (!strcmp(tok[i], "serial")) h.serial = v;
		else if (!strcmp(tok[i], "status")) h.status = v;
		else if (!strcmp(tok[i], "len")) len = v;
		else if (!strcmp(tok[i], "cut")) cut = v;
		else printf("error: unknown field %s\n", tok[i]);
	}
	if (build_call(&b, &h, tok + i, n - i, len) == 0) {
		size_t sent = cut >= 0 && (size_t)cut < b.len ? (size_t)cut : b.len;

		if (send_all(&b, sent) == 0) {
			buf_consume(&b, sent);
			buf_free(&held_back);
			held_back = b;
			return;
		}
	}
	buf_free(&b);
}

/* Parse and count the replies in r; returns bytes used. */
static size_t count_replies(const struct buf *r, int *ok, int *err)
{
	size_t used = 0;

	while (r->len - used >= 4) {
		struct xdr_in in;
		struct rpc_hdr h;
		uint32_t len;

		if (rpc_frame_len(r->data + used, RPC_MESSAGE_MAX, &len) < 0 || r->len - used < len)
			break;
		xdr_in_init(&in, r->data + used + 4, len - 4);
		rpc_hdr_decode(&in, &h);
		h.status == RPC_OK ? (*ok)++ : (*err)++;
		used += len;
	}
	return used;
}

/* N calls written while their replies are read: a daemon that stops
 * reading when its replies are not read must not deadlock the probe. */
static void cmd_flood(char **tok, int n)
{
	long count = strtol(tok[0], NULL, 0);
	int proc = atoi(tok[1]), ok = 0, err = 0, fd = conns[cur];
	struct buf b = { 0 }, r = { 0 };
	size_t sent = 0;

	for (long i = 0; i < count; i++) {
		struct rpc_hdr h = lock_call(proc);

		if (build_call(&b, &h, tok + 2, n - 2, -1) < 0)
			goto out;
	}
	while (ok + err < count) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN | (sent < b.len ? POLLOUT : 0) };
		ssize_t k;

		if (poll(&pfd, 1, read_timeout_ms) <= 0)
			break;
		if (pfd.revents & POLLOUT) {
			k = send(fd, b.data + sent, b.len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (k > 0)
				sent += k;
		}
		if (pfd.revents & (POLLIN | POLLHUP)) {
			buf_reserve(&r, 65536);
			k = recv(fd, r.data + r.len, 65536, MSG_DONTWAIT);
			if (k == 0)
				break;
			if (k > 0) {
				r.len += k;
				buf_consume(&r, count_replies(&r, &ok, &err));
			}
		}
	}
	printf("flood %ld: %d ok, %d errors, %ld missing\n", count, ok, err, count - ok - err);
out:
	buf_free(&b);
	buf_free(&r);
}

static void cmd_upgrade(char **tok, int n)
{
	struct rpc_hdr h = lock_call(atoi(tok[1]));
	uint64_t t0 = now_mono_ns();
	struct buf b = { 0 };

	if (build_call(&b, &h, tok + 2, n - 2, -1) < 0)
		return;
	if (kill(atoi(tok[0]), SIGUSR1) < 0) {
		printf("kill: %s\n", strerror(errno));
	} else {
		usleep(1000);
		read_timeout_ms = 120000;
		if (send_all(&b, b.len) == 0 && read_message(true) == 0)
			printf("pause_ms=%.2f\n", (now_mono_ns() - t0) / 1e6);
		read_timeout_ms = 5000;
	}
	buf_free(&b);
}

static void cmd_silence(int ms)
{
	struct pollfd pfd = { .fd = conns[cur], .events = POLLIN };

	if (poll(&pfd, 1, ms) == 0)
		printf("silence\n");
	else
		read_message(false);
}

int main(void)
{
	char line[1 << 16];

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		char *tok[64], *save = NULL, *t;
		int n = 0;

		for (t = strtok_r(line, " \t\n", &save); t && n < 64; t = strtok_r(NULL, " \t\n", &save))
			tok[n++] = t;
		if (!n || tok[0][0] == '#')
			continue;
		if (!strcmp(tok[0], "connect")) {
			cmd_connect(n > 1 ? tok[1] : NULL);
		} else if (!strcmp(tok[0], "use") && n > 1 && atoi(tok[1]) < nconn) {
			cur = atoi(tok[1]);
		} else if (!strcmp(tok[0], "call") && n > 1) {
			struct rpc_hdr h = lock_call(atoi(tok[1]));
			struct buf b = { 0 };

			if (build_call(&b, &h, tok + 2, n - 2, -1) == 0 && send_all(&b, b.len) == 0)
				read_message(false);
			buf_free(&b);
		} else if (!strcmp(tok[0], "frame")) {
			cmd_frame(tok + 1, n - 1);
		} else if (!strcmp(tok[0], "flood") && n > 2) {
			cmd_flood(tok + 1, n - 1);
		} else if (!strcmp(tok[0], "reply")) {
			read_message(false);
		} else if (!strcmp(tok[0], "closed")) {
			int rc;

			while ((rc = read_message(true)) == 0)
				;
			if (rc == -ETIMEDOUT)
				printf("still open\n");
		} else if (!strcmp(tok[0], "rest")) {
			send_all(&held_back, held_back.len);
			buf_free(&held_back);
		} else if (!strcmp(tok[0], "upgrade") && n > 2) {
			cmd_upgrade(tok + 1, n - 1);
		} else if (!strcmp(tok[0], "silence") && n > 1) {
			cmd_silence(atoi(tok[1]));
		} else if (!strcmp(tok[0], "close") && cur >= 0) {
			conns[cur] = safe_close(conns[cur]);
		} else if (!strcmp(tok[0], "handoff")) {
			pid_t child = fork();

			if (child < 0) {
				printf("error: fork: %s\n", strerror(errno));
				return 2;
			}
			if (child > 0)
				_exit(0);
			printf("handoff %d\n", (int)getpid());
		} else {
			printf("error: bad command '%s'\n", tok[0]);
			return 2;
		}
	}
	return 0;
}

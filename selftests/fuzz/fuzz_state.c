// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The re-exec state loader, state_apply(), on any JSON: lockwarden's own
 * state and virtlockd 9.0's (what it writes before it execs us), with a
 * fresh daemon and a fresh set of "inherited" fds for every input, at the
 * fixed numbers the seeds name:
 *
 *   200, 201  listening sockets on virtlockd-sock, virtlockd-admin-sock
 *   202, 203  connected client sockets
 *   204       ls/res, OFD write lock held       (lockspace "ls")
 *   205       disk.img, OFD read lock held      (the default lockspace)
 *   206       posix.img, POSIX write lock of this process (as virtlockd's)
 *   207       the pid file, locked
 *   208       plain, no lock
 *
 * All paths are relative to the sandbox's scratch directory. Only these
 * fds count as inherited: whatever else the input names must be refused.
 * The numbers 4000000000 and 40000002NN in the input become the device
 * and the inode of the fixture's fd 2NN (lockwarden's state records them,
 * and they differ with every input).
 * The loader may fail to restore; it must never crash, leak, take an fd
 * it was not handed, or let go of a lock it was.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fixture.h"
#include "pidfile.h"
#include "sandbox.h"
#include "state.h"
#include "util.h"

#define FD_BASE		200
#define NFDS		9

static struct daemon d;
static int peers[2] = { -1, -1 };	/* the other ends of 202 and 203 */

/* The smallest state that must apply in full, every lock named (one not
 * named is kept unrestored): proof that the fixture still matches what
 * state.c expects (else every input would fail early). */
static const char *const valid_state =
	"{\"magic\":\"1\",\"daemon\":{\"servers\":{\"virtlockd\":{\"services\":[{\"socks\":"
	"[{\"fd\":200}]}],\"next_client_id\":2,\"clients\":[{\"id\":1,\"conn_time\":1,"
	"\"sock\":{\"fd\":202},\"privateData\":"
	"{\"restricted\":false,\"ownerPid\":4242,\"ownerId\":1,\"ownerName\":\"vm1\","
	"\"ownerUUID\":\"00112233-4455-6677-8899-aabbccddeeff\"}}]}}},"
	"\"defaultLockspace\":{\"resources\":[{\"name\":\"disk.img\",\"path\":\"disk.img\","
	"\"fd\":205,\"lockHeld\":true,\"flags\":1,\"owners\":[4242],"
	"\"lockwarden\":[false,4000000000,4000000205,2]},{\"name\":\"posix.img\","
	"\"path\":\"posix.img\",\"fd\":206,\"lockHeld\":true,\"flags\":0,\"owners\":[4242],"
	"\"lockwarden\":[true,4000000000,4000000206,3]}]},\"lockspaces\":[{\"directory\":\"ls\","
	"\"resources\":[{\"name\":\"res\",\"path\":\"ls/res\",\"fd\":204,\"lockHeld\":true,"
	"\"flags\":0,\"owners\":[4242],\"lockwarden\":[false,4000000000,4000000204,1]}]}],"
	"\"lockwarden\":{\"next_resource_id\":5,\"pidfile\":"
	"{\"path\":\"virtlockd.pid\",\"fd\":207},\"victims\":[]}}";

static void place(int fd, int at)
{
	if (fd < 0 || dup2(fd, at) != at)
		abort();
	close(fd);
}

static int listening(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0)
		abort();
	return fd;
}

static int locked(const char *path, int cmd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0 || (type != F_UNLCK && fcntl(fd, cmd, &fl) < 0))
		abort();
	return fd;
}

/* The fds a re-exec would have handed over, marked as inherited. */
static void fixture_fds(void)
{
	int sv[2][2];

	if (mkdir("ls", 0700) < 0)
		abort();
	place(listening(d.paths.sock[CLIENT_LOCK]), FD_BASE);
	place(listening(d.paths.sock[CLIENT_ADMIN]), FD_BASE + 1);
	for (int i = 0; i < 2; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]) < 0)
			abort();
		place(sv[i][0], FD_BASE + 2 + i);
		peers[i] = sv[i][1];
	}
	place(locked("ls/res", F_OFD_SETLK, F_WRLCK), FD_BASE + 4);
	place(locked("disk.img", F_OFD_SETLK, F_RDLCK), FD_BASE + 5);
	place(locked("posix.img", F_SETLK, F_WRLCK), FD_BASE + 6);
	place(pidfile_acquire(d.paths.pidfile, getpid()), FD_BASE + 7);
	place(locked("plain", 0, F_UNLCK), FD_BASE + 8);
	for (int fd = FD_BASE; fd < FD_BASE + NFDS; fd++)
		state_note_inherited_fd(&d, fd);
}

/* What the daemon did not take over is still ours to close. */
static void close_leftovers(void)
{
	for (int fd = FD_BASE; fd < FD_BASE + NFDS; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			close(fd);
	for (int i = 0; i < 2; i++)
		peers[i] = safe_close(peers[i]);
}

/* text with the placeholders for device and inodes filled in. */
static char *fill_in(const char *text, size_t len)
{
	struct buf out = { 0 };
	struct stat st;

	for (size_t i = 0; i < len; ) {
		char num[24];
		int n = 0;

		if (len - i >= 10 && !memcmp(text + i, "4000000", 7)) {
			int fd = atoi((char[4]){ text[i + 7], text[i + 8], text[i + 9], 0 });

			if (!memcmp(text + i + 7, "000", 3) && fstat(FD_BASE + 4, &st) == 0)
				n = snprintf(num, sizeof(num), "%llu", (unsigned long long)st.st_dev);
			else if (fd >= FD_BASE && fd < FD_BASE + NFDS && fstat(fd, &st) == 0)
				n = snprintf(num, sizeof(num), "%llu", (unsigned long long)st.st_ino);
		}
		if (n) {
			buf_reserve(&out, n);
			memcpy(out.data + out.len, num, n);
			out.len += n;
			i += 10;
		} else {
			buf_reserve(&out, 1);
			out.data[out.len++] = text[i++];
		}
	}
	buf_reserve(&out, 1);
	out.data[out.len] = '\0';
	return (char *)out.data;
}

/* Apply text as the state of a fresh daemon; returns state_apply's result. */
static int apply(const char *input, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *st;
	char *text;
	int rc = 0;

	fixture_start(&d);
	fixture_fds();
	text = fill_in(input, len);
	st = json_tokener_parse_ex(tok, text, strlen(text));
	if (st && json_object_is_type(st, json_type_object))
		rc = state_apply(&d, st);
	json_object_put(st);
	json_tokener_free(tok);
	free(text);
	fixture_stop(&d);
	close_leftovers();
	return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int rc;

	sandbox_enter(argc, argv);
	sandbox_quiet(false);
	rc = apply(valid_state, strlen(valid_state));
	sandbox_quiet(true);
	if (rc < 0) {
		fprintf(stderr, "fuzz_state: the fixture's own state does not apply (see above): "
			"update fuzz_state.c to what state.c expects\n");
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	apply((const char *)data, size);
	return 0;
}

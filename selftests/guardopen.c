// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * guardopen: open a file the ways a process can, for the guard's tests.
 *
 *   guardopen MODE PATH [rw]       one open; prints "ok" or "error: ENAME"
 *   guardopen burst PATH N P [rw]  N opens spread over P processes at once;
 *                                  prints "ok K denied D failed F"
 *
 * MODE: open, openat, openat2, creat (truncates!), handle (open_by_handle_at),
 * uring (io_uring IORING_OP_OPENAT, which no syscall hook sees),
 * truncate (truncate(2) to 0 bytes, no open), ftruncate (an O_WRONLY open,
 * then ftruncate(2) to 0 bytes).
 * The fd stays open until exit; exit status 0 when the open succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int open_handle(const char *path, int flags)
{
	struct file_handle *fh = calloc(1, sizeof(*fh) + MAX_HANDLE_SZ);
	int mount_id, mfd, fd;
	char *dir;

	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, path, fh, &mount_id, 0) < 0) {
		free(fh);
		return -errno;
	}
	/*
	 * Any fd on the file's mount will do: its directory's, which is not
	 * guarded (an O_PATH fd gets EBADF here on older kernels, Debian 12's 6.1).
	 */
	dir = strdup(path);
	mfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	fd = open_by_handle_at(mfd, fh, flags);
	fd = fd < 0 ? -errno : fd;
	close(mfd);
	free(fh);
	return fd;
}

static int open_uring(const char *path, int flags)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	int rc;

	if ((rc = io_uring_queue_init(4, &ring, 0)) < 0)
		return rc;
	io_uring_prep_openat(io_uring_get_sqe(&ring), AT_FDCWD, path, flags, 0);
	io_uring_submit(&ring);
	rc = io_uring_wait_cqe(&ring, &cqe);
	if (rc == 0) {
		rc = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	return rc;
}

/* Returns the fd or -errno. */
static int do_open(const char *mode, const char *path, int flags)
{
	struct open_how how = { .flags = flags };
	int fd;

	if (!strcmp(mode, "open"))
		fd = syscall(SYS_open, path, flags);
	else if (!strcmp(mode, "openat"))
		fd = openat(AT_FDCWD, path, flags);
	else if (!strcmp(mode, "openat2"))
		fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	else if (!strcmp(mode, "creat"))
		fd = creat(path, 0644);
	else if (!strcmp(mode, "handle"))
		return open_handle(path, flags);
	else if (!strcmp(mode, "uring"))
		return open_uring(path, flags);
	else if (!strcmp(mode, "truncate"))
		return truncate(path, 0) < 0 ? -errno : 0;
	else if (!strcmp(mode, "ftruncate") && (fd = open(path, O_WRONLY)) >= 0)
		return ftruncate(fd, 0) < 0 ? -errno : fd;
	else
		return -EINVAL;
	return fd < 0 ? -errno : fd;
}

static int burst(const char *path, int n, int procs, int flags)
{
	int pipefd[2], ok = 0, denied = 0, failed = 0;

	if (pipe(pipefd) < 0)
		return 1;
	for (int p = 0; p < procs; p++) {
		if (fork() == 0) {
			close(pipefd[0]);
			for (int i = p; i < n; i += procs) {
				int fd = openat(AT_FDCWD, path, flags);
				char c = fd >= 0 ? 'o' : errno == EPERM ? 'd' : 'f';

				if (fd >= 0)
					close(fd);
				if (write(pipefd[1], &c, 1) != 1)
					_exit(1);
			}
			_exit(0);
		}
	}
	close(pipefd[1]);
	for (char c; read(pipefd[0], &c, 1) == 1;)
		c == 'o' ? ok++ : c == 'd' ? denied++ : failed++;
	while (wait(NULL) > 0)
		;
	printf("ok %d denied %d failed %d\n", ok, denied, failed);
	return ok + denied + failed == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	int flags, fd;

	if (argc >= 5 && !strcmp(argv[1], "burst")) {
		flags = argc > 5 && !strcmp(argv[5], "rw") ? O_RDWR : O_RDONLY;
		return burst(argv[2], atoi(argv[3]), atoi(argv[4]), flags);
	}
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s MODE PATH [rw] | burst PATH N PROCS [rw]\n", argv[0]);
		return 2;
	}
	flags = argc > 3 && !strcmp(argv[3], "rw") ? O_RDWR : O_RDONLY;
	fd = do_open(argv[1], argv[2], flags);
	if (fd < 0) {
		printf("error: %s\n", strerrorname_np(-fd) ? strerrorname_np(-fd) : strerror(-fd));
		return 1;
	}
	printf("ok\n");
	return 0;
}

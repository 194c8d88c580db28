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
 * then ftruncate(2) to 0 bytes), and three that attack the guard's
 * judgement of an openat2 asking for O_RDWR:
 *   flip     a second thread sets its struct open_how to O_RDONLY once the
 *            kernel has copied it; on success writes "PWNED" at offset 0
 *   uringtw  io_uring opens PATH O_RDWR as task work on the way out of this
 *            thread's openat(FIFO, O_RDONLY), whose registers then tell
 *            O_RDONLY; on success writes "PWNED" at offset 0
 *   mapped   PATH is fuseblock's /how: the open_how and the path come from
 *            a page of that file, dropped once the kernel copied them, so
 *            whoever reads them from this process waits on the FUSE server;
 *            prints "evicted" (or "resident") first
 * The fd stays open until exit; exit status 0 when the open succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

static int openat2_at(const char *path, struct open_how *how)
{
	int fd = syscall(SYS_openat2, AT_FDCWD, path, how, sizeof(*how));

	return fd < 0 ? -errno : fd;
}

static void *fifo_writer(void *fifo)
{
	usleep(500 * 1000);
	close(open(fifo, O_WRONLY | O_CLOEXEC));
	return NULL;
}

/*
 * A timeout hard-linked to the open: when it fires, io_uring queues the
 * open as task work of this thread, which runs it inline as the thread
 * leaves the openat of a FIFO that nobody writes to yet.
 */
static int open_uring_tw(const char *path)
{
	struct __kernel_timespec ts = { .tv_nsec = 100 * 1000 * 1000 };
	char dir[] = "/tmp/guardopen.XXXXXX", fifo[sizeof(dir) + 8];
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	pthread_t t;
	int rc, fd = -ECANCELED;

	if (!mkdtemp(dir))
		return -errno;
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	if (mkfifo(fifo, 0600) < 0 || (rc = io_uring_queue_init(4, &ring, 0)) < 0)
		return -errno;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_timeout(sqe, &ts, 0, 0);
	sqe->flags |= IOSQE_IO_HARDLINK;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_openat(sqe, AT_FDCWD, path, O_RDWR, 0);
	sqe->user_data = 1;
	io_uring_submit(&ring);
	pthread_create(&t, NULL, fifo_writer, fifo);
	close(open(fifo, O_RDONLY | O_CLOEXEC));
	pthread_join(t, NULL);
	for (int i = 0; i < 2 && io_uring_wait_cqe(&ring, &cqe) == 0; i++) {
		if (cqe->user_data == 1)
			fd = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	unlink(fifo);
	rmdir(dir);
	if (fd >= 0 && pwrite(fd, "PWNED", 5, 0) != 5)
		perror("pwrite");
	return fd;
}

struct flip {
	int uffd;
	char *page;		/* where the path goes, missing until asked for */
	const char *path;
	struct open_how how;
};

/*
 * openat2 copies its struct open_how, then the path: the path's page
 * faults here, after the kernel has its O_RDWR copy, and before the open
 * reaches the guard. Flip the flags, then let the path in.
 */
static void *flip_fault(void *arg)
{
	static char src[4096] __attribute__((aligned(4096)));
	struct flip *f = arg;
	struct uffd_msg msg;
	struct uffdio_copy copy = {
		.dst = (uintptr_t)f->page, .src = (uintptr_t)src, .len = sizeof(src),
	};

	if (read(f->uffd, &msg, sizeof(msg)) != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
		return NULL;
	f->how.flags = O_RDONLY;
	snprintf(src, sizeof(src), "%s", f->path);
	if (ioctl(f->uffd, UFFDIO_COPY, &copy) < 0)
		perror("UFFDIO_COPY");
	return NULL;
}

static int open_flip(const char *path)
{
	struct flip f = { .path = path, .how.flags = O_RDWR };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	pthread_t t;
	int fd;

	f.uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	f.page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg.range.start = (uintptr_t)f.page;
	reg.range.len = 4096;
	if (f.uffd < 0 || f.page == MAP_FAILED || ioctl(f.uffd, UFFDIO_API, &api) < 0 ||
	    ioctl(f.uffd, UFFDIO_REGISTER, &reg) < 0 ||
	    pthread_create(&t, NULL, flip_fault, &f))
		return -errno;
	fd = openat2_at(f.page, &f.how);
	pthread_join(t, NULL);
	if (fd >= 0 && pwrite(fd, "PWNED", 5, 0) != 5)
		perror("pwrite");
	return fd;
}

struct mapped {
	int fd;
	char *map;
};

/* While the open waits on fuseblock's slow lookup: drop the page the
 * kernel copied the open's arguments from. */
static void *evict(void *arg)
{
	struct mapped *m = arg;
	unsigned char resident;

	usleep(200 * 1000);
	madvise(m->map, 4096, MADV_DONTNEED);
	posix_fadvise(m->fd, 0, 0, POSIX_FADV_DONTNEED);
	resident = 1;
	mincore(m->map, 4096, &resident);
	printf("%s\n", resident & 1 ? "resident" : "evicted");
	fflush(stdout);
	return NULL;
}

static int open_mapped(const char *path)
{
	struct mapped m = { .fd = open(path, O_RDONLY | O_CLOEXEC) };
	pthread_t t;
	int fd;

	if (m.fd < 0)
		return -errno;
	m.map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, m.fd, 0);
	if (m.map == MAP_FAILED || pthread_create(&t, NULL, evict, &m))
		return -errno;
	/* fuseblock's layout: struct open_how at 0, the path at 64. */
	fd = openat2_at(m.map + 64, (struct open_how *)m.map);
	pthread_join(t, NULL);
	return fd;
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
		return openat2_at(path, &how);
	else if (!strcmp(mode, "creat"))
		fd = creat(path, 0644);
	else if (!strcmp(mode, "handle"))
		return open_handle(path, flags);
	else if (!strcmp(mode, "uring"))
		return open_uring(path, flags);
	else if (!strcmp(mode, "uringtw"))
		return open_uring_tw(path);
	else if (!strcmp(mode, "flip"))
		return open_flip(path);
	else if (!strcmp(mode, "mapped"))
		return open_mapped(path);
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

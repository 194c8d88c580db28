// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidfile.h"
#include "util.h"

/*
 * A POSIX lock, as virtlockd takes: it belongs to the process, so it stays
 * held across an exec through the kept fd, and a virtlockd image exec'd in
 * our place (the package's removal) locks the file again as its own. An OFD
 * lock would be another holder to it, and virtlockd would exit.
 */
static int lock_byte0(int fd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };

	return fcntl(fd, F_SETLK, &fl) < 0 ? -errno : 0;
}

/* Is fd the file now at path? */
static int same_file(const char *path, int fd)
{
	struct stat a, b;

	if (fstat(fd, &b) < 0)
		return -errno;
	if (stat(path, &a) < 0)
		return -errno;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino ? 0 : -ESTALE;
}

int pidfile_acquire(const char *path, pid_t pid)
{
	char buf[32];
	int fd, rc;

	for (;;) {
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		if ((rc = lock_byte0(fd, F_WRLCK)) < 0)
			goto fail;
		/* The holder before us may have unlinked it meanwhile. */
		rc = same_file(path, fd);
		if (rc == 0)
			break;
		close(fd);
		if (rc != -ENOENT && rc != -ESTALE)
			return rc;
	}
	snprintf(buf, sizeof(buf), "%lld", (long long)pid);
	if (ftruncate(fd, 0) < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = write_all(fd, buf, strlen(buf))) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return rc;
}

int pidfile_check(const char *path, int fd)
{
	int rc = same_file(path, fd);

	if (rc < 0)
		return rc;
	/* Taking our own lock again succeeds; another process's fails. */
	return lock_byte0(fd, F_WRLCK);
}

void pidfile_release(const char *path, int fd)
{
	if (fd < 0)
		return;
	if (same_file(path, fd) == 0)
		unlink(path);
	close(fd);
}

void pidfile_save(struct restart_writer *rw, const char *path, int fd)
{
	if (fd < 0)
		return;
	jw_object(&rw->w, "pidfile");
	jw_str(&rw->w, "path", path);
	jw_int(&rw->w, "fd", fd);
	jw_end(&rw->w);
	restart_keep(rw, fd);
}

int pidfile_restore(struct restart_reader *r, struct json_object *ours, const char *path,
		    int *fd)
{
	struct json_object *o;
	const char *saved;
	int rc, got;

	if (!json_object_object_get_ex(ours, "pidfile", NULL))
		return 0;
	if (!(o = restart_member(r, ours, "lockwarden", "pidfile", json_type_object)) ||
	    !(saved = restart_get_str(r, o, "lockwarden.pidfile", "path")) ||
	    restart_get_fd(r, o, "lockwarden.pidfile", "fd", &got) < 0)
		return -EINVAL;
	if (strcmp(saved, path)) {
		close(got);		/* our lock on the old pid file goes with it */
		return 0;
	}
	if ((rc = pidfile_check(path, got)) < 0)
		return restart_bad(r, "lockwarden.pidfile",
				   "inherited fd %d does not hold the pid file %s: %s",
				   got, path, strerror(-rc));
	*fd = got;
	return 0;
}

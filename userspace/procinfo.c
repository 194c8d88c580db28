// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procinfo.h"
#include "util.h"

#define PROC_FILE_MAX 65536
#define RUNNING_RETRIES 200
#define RUNNING_PAUSE_US 50

static int proc_read(pid_t pid, const char *name, char **text)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	return read_file(path, PROC_FILE_MAX, text, NULL);
}

/* Start time (field 22) and ppid (field 4) from /proc/tid/stat; the
 * command in parentheses may hold anything, so fields count from its end. */
static int read_stat(pid_t tid, uint64_t *start, pid_t *ppid)
{
	unsigned long long st;
	char *text, *p;
	int pp, rc;

	if ((rc = proc_read(tid, "stat", &text)) < 0)
		return rc;
	p = strrchr(text, ')');
	rc = p && sscanf(p + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			 "%*d %*d %*d %*d %llu", &pp, &st) == 2 ? 0 : -EINVAL;
	free(text);
	if (rc == 0) {
		*start = st;
		if (ppid)
			*ppid = pp;
	}
	return rc;
}

static const char *status_field(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? p + strlen(key) : NULL;
}

int procinfo_read(pid_t tid, struct procinfo *pi)
{
	const char *tg, *uid, *gid;
	char *text;
	size_t n;
	int rc;

	memset(pi, 0, sizeof(*pi));
	pi->tid = tid;
	if ((rc = read_stat(tid, &pi->start, &pi->ppid)) < 0 ||
	    (rc = proc_read(tid, "status", &text)) < 0)
		return rc;
	tg = status_field(text, "\nTgid:");
	uid = status_field(text, "\nUid:");
	gid = status_field(text, "\nGid:");
	rc = tg && uid && gid ? 0 : -EINVAL;
	if (rc == 0) {
		pi->tgid = strtol(tg, NULL, 10);
		pi->uid = strtoul(uid, NULL, 10);
		pi->gid = strtoul(gid, NULL, 10);
	}
	free(text);
	if (rc < 0 || proc_read(pi->tgid, "comm", &text) < 0)
		return rc;
	snprintf(pi->comm, sizeof(pi->comm), "%s", text);
	n = strlen(pi->comm);
	if (n && pi->comm[n - 1] == '\n')
		pi->comm[n - 1] = '\0';
	free(text);
	return 0;
}

int procinfo_start(pid_t pid, uint64_t *start)
{
	return read_stat(pid, start, NULL);
}

bool procinfo_same(const struct procinfo *pi)
{
	uint64_t start;

	return read_stat(pi->tid, &start, NULL) == 0 && start == pi->start;
}

int procinfo_exe(pid_t tgid, char **path, dev_t *dev, ino_t *ino)
{
	char link[64], buf[PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", tgid);
	if ((n = readlink(link, buf, sizeof(buf) - 1)) < 0 || stat(link, &st) < 0)
		return -errno;
	buf[n] = '\0';
	*path = xstrdup(buf);
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

int procinfo_cgroup(pid_t tgid, char **path)
{
	char *text, *p, *end;
	int rc;

	if ((rc = proc_read(tgid, "cgroup", &text)) < 0)
		return rc;
	/* The unified hierarchy's line is "0::/path". */
	if (!strncmp(text, "0::", 3))
		p = text + 3;
	else if ((p = strstr(text, "\n0::")))
		p += 4;
	rc = p ? 0 : -ENOENT;
	if (p) {
		end = strchrnul(p, '\n');
		*path = xstrndup(p, end - p);
	}
	free(text);
	return rc;
}

/* A NUL-terminated string at addr in tid's memory. */
static char *read_user_string(pid_t tid, unsigned long addr)
{
	char path[64], buf[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	/* Page by page: the string may end just before an unmapped page. */
	for (size_t got = 0; got < sizeof(buf) - 1; got += n) {
		size_t page = 4096 - ((addr + got) & 4095), want = sizeof(buf) - 1 - got;

		n = pread(fd, buf + got, want < page ? want : page, addr + got);
		if (n <= 0)
			break;
		if (memchr(buf + got, '\0', n)) {
			close(fd);
			return xstrdup(buf);
		}
	}
	close(fd);
	return NULL;
}

static int read_user_u64(pid_t tid, unsigned long addr, uint64_t *v)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = pread(fd, v, sizeof(*v), addr);
	close(fd);
	return n == sizeof(*v) ? 0 : -EIO;
}

int procinfo_open_args(pid_t tid, int *flags, char **path)
{
	unsigned long a[6];
	uint64_t how_flags;
	unsigned long path_arg = 0;
	char *text;
	long nr;
	int rc;

	/*
	 * "NR ARG1 ... ARG6 SP PC", "-1 SP PC" outside a syscall, or
	 * "running". A waiter on fanotify's answer runs for a moment
	 * whenever any answer is given (they share a wait queue), longer on
	 * a busy machine: give it a moment to sleep again, 10 ms at most.
	 */
	for (int i = 0;; i++) {
		if ((rc = proc_read(tid, "syscall", &text)) < 0)
			return rc;
		if (strncmp(text, "running", 7) || i == RUNNING_RETRIES)
			break;
		free(text);
		usleep(RUNNING_PAUSE_US);
	}
	rc = sscanf(text, "%ld %lx %lx %lx %lx %lx %lx", &nr, &a[0], &a[1], &a[2], &a[3],
		    &a[4], &a[5]) == 7 ? 0 : -ENOENT;
	free(text);
	if (rc < 0)
		return rc;
	switch (nr) {
	case SYS_openat:
		path_arg = a[1];
		*flags = a[2];
		break;
#ifdef SYS_open
	case SYS_open:
		path_arg = a[0];
		*flags = a[1];
		break;
#endif
#ifdef SYS_creat
	case SYS_creat:
		path_arg = a[0];
		*flags = O_CREAT | O_WRONLY | O_TRUNC;
		break;
#endif
	case SYS_openat2:
		path_arg = a[1];
		/* struct open_how starts with its u64 flags */
		if ((rc = read_user_u64(tid, a[2], &how_flags)) < 0)
			return rc;
		*flags = how_flags;
		break;
	case SYS_open_by_handle_at:
		*flags = a[2];
		break;
	default:
		return -ENOENT;
	}
	*path = path_arg ? read_user_string(tid, path_arg) : NULL;
	return 0;
}

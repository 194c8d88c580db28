// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * leaseprobe FILE SECONDS: hold an OFD write lock on byte 0 of FILE, as a
 * lock daemon does, and for SECONDS watch it with three probes at once,
 * each in a thread of its own (one may block on an unreachable server):
 *   read  - a 1-byte O_DIRECT pread through the lock's fd
 *   getlk - F_OFD_GETLK for a write lock on byte 0: another holder?
 *   fstat - fstat of the fd (a GETATTR)
 * Every change of a probe's answer is printed as "PROBE MS ANSWER", MS the
 * CLOCK_REALTIME milliseconds, so a test can tell which probe learns of a
 * lost lock first. Nothing is written to FILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fd;
static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static const char *probe_read(char *buf, size_t len)
{
	char byte;

	if (pread(fd, &byte, 1, 0) < 0)
		snprintf(buf, len, "error %s", strerror(errno));
	else
		snprintf(buf, len, "ok");
	return buf;
}

static const char *probe_getlk(char *buf, size_t len)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		snprintf(buf, len, "error %s", strerror(errno));
	else if (fl.l_type != F_UNLCK)
		snprintf(buf, len, "held elsewhere");
	else
		snprintf(buf, len, "ok");
	return buf;
}

static const char *probe_fstat(char *buf, size_t len)
{
	struct stat st;

	snprintf(buf, len, fstat(fd, &st) < 0 ? "error %s" : "ok", strerror(errno));
	return buf;
}

struct probe {
	const char *name;
	const char *(*fn)(char *buf, size_t len);
};

static void *watch(void *arg)
{
	const struct probe *p = arg;
	char last[128] = "", now[128];

	for (;;) {
		p->fn(now, sizeof(now));
		if (strcmp(now, last)) {
			pthread_mutex_lock(&out);
			printf("%s %lld %s\n", p->name, now_ms(), now);
			fflush(stdout);
			pthread_mutex_unlock(&out);
			strcpy(last, now);
		}
		usleep(200 * 1000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct probe probes[] = {
		{ "read", probe_read }, { "getlk", probe_getlk }, { "fstat", probe_fstat },
	};
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	pthread_t t;

	if (argc != 3) {
		fprintf(stderr, "usage: %s FILE SECONDS\n", argv[0]);
		return 2;
	}
	if ((fd = open(argv[1], O_RDWR | O_CLOEXEC)) < 0 || fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		fprintf(stderr, "leaseprobe: cannot lock %s: %m\n", argv[1]);
		return 1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT) < 0)
		fprintf(stderr, "leaseprobe: no O_DIRECT on %s: %m\n", argv[1]);
	printf("locked %lld\n", now_ms());
	fflush(stdout);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		if (pthread_create(&t, NULL, watch, (void *)&probes[i])) {
			fprintf(stderr, "leaseprobe: no thread\n");
			return 1;
		}
	sleep(atoi(argv[2]));
	/* Threads may be blocked in the kernel: leave without joining. */
	_exit(0);
}

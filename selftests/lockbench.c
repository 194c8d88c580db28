// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * lockbench: full VM lock cycles through libvirt's own lockd.so, as fast
 * as the client allows: acquire 2 disks (connect, register, acquire,
 * acquire, close) then release them (connect, register, release, release,
 * close), for a fixed time, in J parallel workers.
 *
 *   lockbench [-t SECONDS] [-j WORKERS] [-P DAEMON_PID] [-D DIR]
 *
 * Prints cycles, cycles per second and, with -P, the daemon's CPU time
 * per cycle (from /proc/PID/task/ * /schedstat: every thread, ns).
 * The owner pid given to the plugin is not the worker's, as when libvirtd
 * hot-plugs a disk, so closing a connection releases nothing by itself.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "lockd_plugin.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of every thread of pid, in ns. */
static unsigned long long cpu_ns(pid_t pid)
{
	unsigned long long total = 0;
	char path[64];
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	if (!(dir = opendir(path)))
		return 0;
	while ((e = readdir(dir))) {
		unsigned long long ns;
		char stat[320];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(stat, sizeof(stat), "/proc/%d/task/%s/schedstat", pid, e->d_name);
		if ((f = fopen(stat, "r"))) {
			if (fscanf(f, "%llu", &ns) == 1)
				total += ns;
			fclose(f);
		}
	}
	closedir(dir);
	return total;
}

static int touch(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* One VM's cycle; -1 with the plugin's message on stderr. */
static int cycle(struct lock_driver *drv, int worker, char disks[2][256])
{
	struct lock_manager man;
	int rc;

	if (lockd_vm_new(drv, &man, "bench", worker + 1, 4000000 + worker, 0) < 0)
		return -1;
	rc = drv->add_resource(&man, RESOURCE_TYPE_DISK, disks[0], 0, NULL, 0);
	if (!rc)
		rc = drv->add_resource(&man, RESOURCE_TYPE_DISK, disks[1], 0, NULL, 0);
	if (!rc)
		rc = drv->acquire(&man, NULL, 0, 0, NULL);
	if (!rc)
		rc = drv->release(&man, NULL, 0);
	drv->free(&man);
	return rc;
}

static int worker(int id, const char *dir, double end, unsigned long *count)
{
	struct lock_driver *drv;
	char err[256], disks[2][256];

	if (lockd_plugin_load(&drv, err, sizeof(err)) < 0) {
		fprintf(stderr, "lockbench: %s\n", err);
		return 1;
	}
	for (int k = 0; k < 2; k++) {
		snprintf(disks[k], sizeof(disks[k]), "%s/%d-%c.img", dir, id, 'a' + k);
		if (touch(disks[k]) < 0) {
			fprintf(stderr, "lockbench: %s: %m\n", disks[k]);
			return 1;
		}
	}
	if (drv->init(LOCK_DRIVER_VERSION, "/dev/null", 0) < 0)
		goto fail;
	while (now_s() < end) {
		if (cycle(drv, id, disks) < 0)
			goto fail;
		__atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
	}
	return 0;
fail:
	fprintf(stderr, "lockbench: worker %d: %s\n", id, virGetLastErrorMessage());
	return 1;
}

int main(int argc, char **argv)
{
	int opt, jobs = 1, seconds = 5, failed = 0;
	const char *dir = "/srv/bench";
	unsigned long long cpu0 = 0, cpu1;
	unsigned long *count;
	pid_t daemon = 0;
	double t0, t1;

	while ((opt = getopt(argc, argv, "t:j:P:D:")) != -1) {
		switch (opt) {
		case 't': seconds = atoi(optarg); break;
		case 'j': jobs = atoi(optarg); break;
		case 'P': daemon = atoi(optarg); break;
		case 'D': dir = optarg; break;
		default:
			fprintf(stderr, "usage: lockbench [-t SECONDS] [-j WORKERS] [-P PID] [-D DIR]\n");
			return 2;
		}
	}
	mkdir(dir, 0755);
	count = mmap(NULL, sizeof(*count), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (count == MAP_FAILED)
		return 2;
	*count = 0;
	if (daemon)
		cpu0 = cpu_ns(daemon);
	t0 = now_s();
	for (int j = 0; j < jobs; j++) {
		pid_t pid = fork();

		if (pid < 0)
			return 2;
		if (pid == 0)
			_exit(worker(j, dir, t0 + seconds, count));
	}
	for (int j = 0; j < jobs; j++) {
		int status;

		wait(&status);
		failed += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	t1 = now_s();
	cpu1 = daemon ? cpu_ns(daemon) : 0;
	printf("workers=%d cycles=%lu seconds=%.2f cycles_per_s=%.1f", jobs, *count, t1 - t0,
	       *count / (t1 - t0));
	if (daemon)
		printf(" daemon_cpu_us_per_cycle=%.2f", *count ? (cpu1 - cpu0) / 1e3 / *count : 0);
	printf("\n");
	return failed ? 1 : 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hashbench: lease-name hashing on its own. lockd.so names an indirect
 * lock file by the SHA-256 of the disk's path, and the guard hashes every
 * image path it maps the same way (imagemap.c): this is that call in a loop.
 *
 *   hashbench SECONDS
 *       prints names_per_s and ns_per_name for disk paths of typical length,
 *       per second of this process's CPU (a busy machine shares the wall)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sha256.h"
#include "util.h"

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	double seconds = argc == 2 ? atof(argv[1]) : 0;
	char path[64], hash[SHA256_HEX_LEN + 1];
	uint64_t n = 0, t0, t;
	unsigned int sink = 0;

	if (seconds <= 0) {
		fprintf(stderr, "usage: hashbench SECONDS\n");
		return 2;
	}
	t0 = cpu_ns();
	do {
		for (int i = 0; i < 1024; i++, n++) {
			int len = snprintf(path, sizeof(path), "/var/lib/libvirt/images/vm-%06u.qcow2",
					   (unsigned int)(n % 1000000));

			sha256_hex(path, len, hash);
			sink += hash[0];
		}
		t = cpu_ns();
	} while (t - t0 < seconds * 1e9);
	printf("names_per_s=%.0f ns_per_name=%.1f sink=%u\n", n / ((t - t0) / 1e9),
	       (double)(t - t0) / n, sink);
	return 0;
}

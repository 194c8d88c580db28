// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * auditbench: the audit log writer (userspace/audit/audit.c) on its own, fed as
 * the daemon feeds it: records queued by the loop thread, handed over
 * once per loop batch.
 *
 *   auditbench sustained DIR SECONDS FSYNC
 *       violation records (critical) as fast as the writer takes them
 *       without losing any: prints records_per_s
 *   auditbench offered DIR SECONDS FSYNC RATE
 *       RATE violation records per second, in loop batches of at most 64:
 *       prints offered (what the producer managed), written, lost, loss_pct
 *   auditbench cost DIR COUNT
 *       COUNT lock-acquire records built and written as events.c does:
 *       prints cpu_us_per_record (every thread of this process)
 *
 * Each run starts with an empty DIR/audit.jsonl, and a new key in
 * DIR/key, as the daemon's first start makes one: every record gets its
 * MAC. FSYNC is always, critical or never.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "loop.h"
#include "util.h"

/* A violation as the guard reports one; built once per run and queued
 * again and again (audit_write serializes it each time), so that the
 * writer, not the building of test records, is what gets measured. */
static struct json_object *violation(void)
{
	struct json_object *r = audit_record("violation"), *owners = json_object_new_array();

	json_object_object_add(r, "severity", json_object_new_string("critical"));
	json_object_object_add(r, "source", json_object_new_string("bpf"));
	json_object_object_add(r, "pid", json_object_new_int64(100000));
	json_object_object_add(r, "tid", json_object_new_int64(100000));
	json_object_object_add(r, "uid", json_object_new_int(0));
	json_object_object_add(r, "gid", json_object_new_int(0));
	json_object_object_add(r, "comm", json_object_new_string("dd"));
	json_object_object_add(r, "exe", json_object_new_string("/usr/bin/dd"));
	json_object_object_add(r, "path", json_object_new_string("/srv/img/vm-disk-0001.qcow2"));
	json_object_object_add(r, "flags", json_object_new_string("O_RDWR"));
	json_object_object_add(r, "dev", json_object_new_string("0:42"));
	json_object_object_add(r, "ino", json_object_new_int64(123456));
	json_object_object_add(r, "resource", json_object_new_string("/srv/img/vm-disk-0001.qcow2"));
	json_object_array_add(owners, json_object_new_int(4242));
	json_object_object_add(r, "owner_pids", owners);
	json_object_object_add(r, "vm_name", json_object_new_string("vm-0001"));
	json_object_object_add(r, "vm_uuid",
			       json_object_new_string("6c6f636b-7761-7264-656e-2d766d000001"));
	json_object_object_add(r, "mode", json_object_new_string("exclusive"));
	return r;
}

/* The shape of events_lock()'s lock_acquire. */
static struct json_object *lock_record(uint64_t n)
{
	struct json_object *r = audit_record("lock_acquire");

	json_object_object_add(r, "severity", json_object_new_string("info"));
	json_object_object_add(r, "resource", json_object_new_string("/srv/img/vm-disk-0001.qcow2"));
	json_object_object_add(r, "lockspace", json_object_new_string(""));
	json_object_object_add(r, "path", json_object_new_string("/srv/img/vm-disk-0001.qcow2"));
	json_object_object_add(r, "mode", json_object_new_string("exclusive"));
	json_object_object_add(r, "client", json_object_new_int64(n));
	json_object_object_add(r, "pid", json_object_new_int64(4242));
	json_object_object_add(r, "vm_name", json_object_new_string("vm-0001"));
	json_object_object_add(r, "vm_uuid",
			       json_object_new_string("6c6f636b-7761-7264-656e-2d766d000001"));
	return r;
}

static void ignore_note(void *data, struct json_object *rec)
{
	json_object_put(rec);
}

static double now_s(void)
{
	return now_mono_ns() / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static struct audit *start(struct loop *l, const char *dir, const char *fsync)
{
	char *path = xasprintf("%s/audit.jsonl", dir);
	char *key = xasprintf("%s/key/audit.key", dir);
	char *cmd = xasprintf("rm -rf '%s' && mkdir -p '%s'", dir, dir);
	struct audit_config cfg = {
		.path = path, .key_path = key, .rotate_size = 10 << 20, .keep = 0,
		.queue_max = 4 << 20,
	};
	struct audit *a;

	if (system(cmd) != 0 || audit_fsync_parse(fsync, &cfg.fsync) < 0 ||
	    audit_open(&cfg, l, ignore_note, NULL, &a) < 0) {
		fprintf(stderr, "auditbench: cannot start the writer in %s\n", dir);
		exit(1);
	}
	free(cmd);
	free(path);
	free(key);
	return a;
}

static void sustained(struct audit *a, double seconds)
{
	struct json_object *rec = violation();
	struct audit_stats st;
	uint64_t n = 0;
	double t0 = now_s(), t;

	while ((t = now_s()) - t0 < seconds) {
		/* A loop batch of up to 64 events, as epoll hands them over. */
		for (int i = 0; i < 64; i++) {
			if (audit_write(a, json_object_get(rec), true) < 0) {
				audit_flush(a);
				usleep(200);	/* the writer is behind: wait, lose nothing */
				i--;
				continue;
			}
			n++;
		}
		audit_flush(a);
	}
	json_object_put(rec);
	audit_get_stats(a, &st);
	/* Records lost to -ENOBUFS were retried: only the written ones count. */
	printf("records_per_s=%.0f written=%llu\n", st.written / (now_s() - t0),
	       (unsigned long long)st.written);
}

static void offered(struct audit *a, double seconds, double rate)
{
	struct json_object *rec = violation();
	uint64_t n = 0, want;
	struct audit_stats st;
	double t0 = now_s(), t;

	while ((t = now_s()) - t0 < seconds) {
		want = (uint64_t)((t - t0) * rate);
		if (n >= want) {
			usleep(1000);
			continue;
		}
		/* Behind: batches of 64 back to back, as a loop flooded with events. */
		for (int i = 0; i < 64 && n < want; i++, n++)
			audit_write(a, json_object_get(rec), true);
		audit_flush(a);
	}
	json_object_put(rec);
	audit_sync(a, 10000);
	audit_get_stats(a, &st);
	printf("offered=%llu written=%llu lost=%llu loss_pct=%.1f\n", (unsigned long long)n,
	       (unsigned long long)st.written, (unsigned long long)st.lost,
	       n ? 100.0 * st.lost / n : 0);
}

static void cost(struct audit *a, uint64_t count)
{
	double c0 = cpu_s();

	for (uint64_t n = 0; n < count; n++) {
		audit_write(a, lock_record(n), false);
		if (n % 8 == 7)		/* one lock cycle per loop batch */
			audit_flush(a);
	}
	audit_sync(a, 30000);
	printf("cpu_us_per_record=%.2f\n", (cpu_s() - c0) * 1e6 / count);
}

int main(int argc, char **argv)
{
	struct loop *l;
	struct audit *a;

	if (argc < 4 || loop_new(&l) < 0) {
		fprintf(stderr, "usage: see the comment at the top of auditbench.c\n");
		return 2;
	}
	if (!strcmp(argv[1], "sustained") && argc == 5) {
		a = start(l, argv[2], argv[4]);
		sustained(a, atof(argv[3]));
	} else if (!strcmp(argv[1], "offered") && argc == 6) {
		a = start(l, argv[2], argv[4]);
		offered(a, atof(argv[3]), atof(argv[5]));
	} else if (!strcmp(argv[1], "cost") && argc == 4) {
		a = start(l, argv[2], "critical");
		cost(a, strtoull(argv[3], NULL, 10));
	} else {
		fprintf(stderr, "usage: see the comment at the top of auditbench.c\n");
		return 2;
	}
	audit_close(a);
	loop_free(l);
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The processes lock clients registered as VMs, for as long as such a
 * connection is open: the guard's prospective owners. libvirt starts a
 * VM's QEMU paused and only registers it (REGISTER_ONLY); QEMU opens its
 * disks before any lease is held, the leases come when its CPUs start,
 * and `virsh suspend` releases them while QEMU keeps its disks open. So a
 * process is known as a VM's QEMU by its registration, not by a lease.
 * Keyed by process identity (pid and start time, ownerid.h): a later
 * process given the pid is not the VM. The guard's lock protects it.
 */
#ifndef LW_GUARDVMS_H
#define LW_GUARDVMS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hashmap.h"
#include "lock_protocol.h"

struct guard_vm {
	char key[40];			/* "pid:start" */
	pid_t pid;
	uint64_t start;
	char *name;
	uint8_t uuid[LOCK_UUID_LEN];
	unsigned int refs;		/* connections registered as it */
};

struct guard_vms {
	struct hashmap procs;
};

void guard_vms_init(struct guard_vms *v);
void guard_vms_fini(struct guard_vms *v);
/* A connection registered process pid (started at start) as VM name;
 * true when the process was not one yet. */
bool guard_vms_add(struct guard_vms *v, pid_t pid, uint64_t start, const char *name,
		   const uint8_t *uuid);
/* One such connection closed (or registered again, as something else);
 * true when that was the process's last. */
bool guard_vms_del(struct guard_vms *v, pid_t pid, uint64_t start);
/* Visit every process registered as a VM. */
void guard_vms_foreach(const struct guard_vms *v,
		       void (*fn)(pid_t pid, uint64_t start, void *arg), void *arg);
bool guard_vms_empty(const struct guard_vms *v);
/* The VM process pid, started at start, is registered as; NULL if none. */
const struct guard_vm *guard_vms_find(const struct guard_vms *v, pid_t pid, uint64_t start);

#endif

// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardvms.h"
#include "util.h"

static void vm_key(char key[40], pid_t pid, uint64_t start)
{
	snprintf(key, 40, "%d:%llu", (int)pid, (unsigned long long)start);
}

void guard_vms_init(struct guard_vms *v)
{
	hashmap_init(&v->procs);
}

void guard_vms_fini(struct guard_vms *v)
{
	struct hashmap_entry *he, *nx;
	size_t i;

	hashmap_foreach(&v->procs, he, nx, i) {
		struct guard_vm *vm = he->value;

		free(vm->name);
		free(vm);
	}
	hashmap_free(&v->procs);
}

bool guard_vms_add(struct guard_vms *v, pid_t pid, uint64_t start, const char *name,
		   const uint8_t *uuid)
{
	struct guard_vm *vm;
	char key[40];

	vm_key(key, pid, start);
	if (!(vm = hashmap_get(&v->procs, key))) {
		vm = xcalloc(1, sizeof(*vm));
		memcpy(vm->key, key, sizeof(key));
		vm->pid = pid;
		vm->start = start;
		hashmap_put(&v->procs, vm->key, vm);
	}
	/* The latest registration names it (lockd.so's all agree). */
	free(vm->name);
	vm->name = xstrdup(name);
	memcpy(vm->uuid, uuid, LOCK_UUID_LEN);
	return vm->refs++ == 0;
}

bool guard_vms_del(struct guard_vms *v, pid_t pid, uint64_t start)
{
	struct guard_vm *vm;
	char key[40];

	vm_key(key, pid, start);
	if (!(vm = hashmap_get(&v->procs, key)) || --vm->refs)
		return false;
	hashmap_remove(&v->procs, key);
	free(vm->name);
	free(vm);
	return true;
}

void guard_vms_foreach(const struct guard_vms *v,
		       void (*fn)(pid_t pid, uint64_t start, void *arg), void *arg)
{
	struct hashmap_entry *e, *nx;
	size_t i;

	hashmap_foreach(&v->procs, e, nx, i) {
		const struct guard_vm *vm = e->value;

		fn(vm->pid, vm->start, arg);
	}
}

bool guard_vms_empty(const struct guard_vms *v)
{
	return !v->procs.count;
}

const struct guard_vm *guard_vms_find(const struct guard_vms *v, pid_t pid, uint64_t start)
{
	char key[40];

	if (guard_vms_empty(v))
		return NULL;
	vm_key(key, pid, start);
	return hashmap_get(&v->procs, key);
}

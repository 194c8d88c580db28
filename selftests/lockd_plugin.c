// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "lockd_plugin.h"

#define DEFAULT_PLUGIN	"/usr/lib/x86_64-linux-gnu/libvirt/lock-driver/lockd.so"

static void quiet_errors(void *data, virErrorPtr err)
{
}

int lockd_plugin_load(struct lock_driver **drv, char *err, size_t errlen)
{
	const char *path = getenv("LOCKD_PLUGIN") ?: DEFAULT_PLUGIN;
	void *dl;

	if (virInitialize() < 0) {
		snprintf(err, errlen, "virInitialize failed");
		return -1;
	}
	virSetErrorFunc(NULL, quiet_errors);
	dl = dlopen(path, RTLD_NOW);
	if (!dl || !(*drv = dlsym(dl, "virLockDriverImpl"))) {
		snprintf(err, errlen, "%s", dlerror());
		return -1;
	}
	return 0;
}

int lockd_vm_new(struct lock_driver *drv, struct lock_manager *man, const char *name, int id,
		 pid_t owner, unsigned int flags)
{
	struct lock_param params[] = {
		{ .type = PARAM_UUID, .key = "uuid" },
		{ .type = PARAM_STRING, .key = "name", .value.cstr = name },
		{ .type = PARAM_UINT, .key = "id", .value.iv = id },
		{ .type = PARAM_UINT, .key = "pid", .value.iv = owner },
		{ .type = PARAM_CSTRING, .key = "uri", .value.cstr = "qemu:///system" },
	};

	/* Any uuid works if its bytes are not all equal; derive it from the id. */
	memcpy(params[0].value.uuid, "lockwarden-vm", 13);
	params[0].value.uuid[15] = (unsigned char)id;
	params[0].value.uuid[14] = (unsigned char)(id >> 8);
	man->driver = drv;
	return drv->new(man, OBJECT_TYPE_DOMAIN, sizeof(params) / sizeof(params[0]), params, flags);
}

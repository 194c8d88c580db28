/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt's lock plugin (lockd.so) as libvirt drives it: the plugin ABI of
 * src/locking/lock_driver.h, loading it, and describing a VM to it. Shared
 * by the harness and the benchmark.
 */
#ifndef LW_LOCKD_PLUGIN_H
#define LW_LOCKD_PLUGIN_H

#include <stddef.h>
#include <sys/types.h>

/* The plugin ABI, as libvirt's src/locking/lock_driver.h defines it. */
#define LOCK_DRIVER_VERSION	1000000
#define OBJECT_TYPE_DOMAIN	0
#define RESOURCE_TYPE_DISK	0
#define RESOURCE_READONLY	(1 << 0)
#define RESOURCE_SHARED		(1 << 1)
#define ACQUIRE_REGISTER_ONLY	(1 << 0)
#define ACQUIRE_RESTRICT	(1 << 1)
#define NEW_STARTED		(1 << 0)

enum lock_param_type {
	PARAM_STRING, PARAM_CSTRING, PARAM_INT, PARAM_LONG,
	PARAM_UINT, PARAM_ULONG, PARAM_DOUBLE, PARAM_UUID,
};

struct lock_param {
	int type;
	const char *key;
	union {
		int iv;
		long long l;
		unsigned int ui;
		unsigned long long ul;
		double d;
		char *str;
		const char *cstr;
		unsigned char uuid[16];
	} value;
};

struct lock_manager {
	struct lock_driver *driver;
	void *priv;
};

struct lock_driver {
	unsigned int version;
	unsigned int flags;
	int (*init)(unsigned int version, const char *config, unsigned int flags);
	int (*deinit)(void);
	int (*new)(struct lock_manager *man, unsigned int type, size_t nparams,
		   struct lock_param *params, unsigned int flags);
	void (*free)(struct lock_manager *man);
	int (*add_resource)(struct lock_manager *man, unsigned int type,
			    const char *name, size_t nparams,
			    struct lock_param *params, unsigned int flags);
	int (*acquire)(struct lock_manager *man, const char *state,
		       unsigned int flags, int action, int *fd);
	int (*release)(struct lock_manager *man, char **state, unsigned int flags);
	int (*inquire)(struct lock_manager *man, char **state, unsigned int flags);
};

/* virInitialize(), errors kept quiet (callers read virGetLastErrorMessage),
 * then lockd.so ($LOCKD_PLUGIN overrides its path). -1 with err set. */
int lockd_plugin_load(struct lock_driver **drv, char *err, size_t errlen);

/* drvNew for a VM: name, id, owner pid, and a uuid derived from id. */
int lockd_vm_new(struct lock_driver *drv, struct lock_manager *man, const char *name, int id,
		 pid_t owner, unsigned int flags);

#endif

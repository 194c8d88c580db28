/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The audit log's HMAC key: 32 random bytes kept as 64 hex digits and a
 * newline in a file of its own, outside the log's directory (default
 * /var/lib/lockwarden/audit.key), mode 0600. The daemon makes it at its
 * first start and reads the same file at every start and re-exec after;
 * it never goes into the log. Whoever can write the log but not read this
 * file cannot make records that verify --key accepts.
 */
#ifndef LW_AUDITKEY_H
#define LW_AUDITKEY_H

#include <stdint.h>

#define AUDIT_KEY_LEN	32

enum audit_key_flags {
	AUDIT_KEY_CREATE	= 1 << 0,	/* make one when there is none */
	AUDIT_KEY_PRIVATE	= 1 << 1,	/* refuse a file group or others may read */
};

/*
 * Read the key at path (never through a symlink). 0, or 1 when it was
 * just created; -errno with *why (allocated, naming the file and the
 * remedy) when there is no usable key.
 */
int audit_key_load(const char *path, unsigned int flags, uint8_t key[AUDIT_KEY_LEN], char **why);

#endif

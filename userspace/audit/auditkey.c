// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nettle/base16.h>

#include "auditkey.h"
#include "util.h"

#define KEY_HEX_LEN	(2 * AUDIT_KEY_LEN)

static int parse(const char *text, size_t len, uint8_t key[AUDIT_KEY_LEN])
{
	struct base16_decode_ctx ctx;
	size_t got = AUDIT_KEY_LEN;

	if (len == KEY_HEX_LEN + 1 && text[KEY_HEX_LEN] == '\n')
		len--;
	if (len != KEY_HEX_LEN || strspn(text, "0123456789abcdefABCDEF") < KEY_HEX_LEN)
		return -EBADMSG;
	base16_decode_init(&ctx);
	if (!base16_decode_update(&ctx, &got, key, KEY_HEX_LEN, text) || got != AUDIT_KEY_LEN ||
	    !base16_decode_final(&ctx))
		return -EBADMSG;
	return 0;
}

static int read_key(int dfd, const char *base, const char *path, unsigned int flags,
		    uint8_t key[AUDIT_KEY_LEN], char **why)
{
	char text[KEY_HEX_LEN + 2];
	struct stat st;
	ssize_t n;
	int fd, rc;

	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ELOOP)
			*why = xasprintf("audit key %s is a symbolic link: not followed", path);
		else if (rc != -ENOENT || !(flags & AUDIT_KEY_CREATE))
			*why = xasprintf("cannot open the audit key %s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		*why = xasprintf("cannot stat the audit key %s: %m", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EBADMSG;
		*why = xasprintf("audit key %s is not a regular file", path);
		goto out;
	}
	if ((flags & AUDIT_KEY_PRIVATE) && (st.st_mode & 077)) {
		rc = -EPERM;
		*why = xasprintf("audit key %s has mode %04o: others may have read it, so it is not"
				 " used (chmod 0600, or remove it to have a new one made)",
				 path, st.st_mode & 07777);
		goto out;
	}
	n = read(fd, text, sizeof(text));
	if (n < 0) {
		rc = -errno;
		*why = xasprintf("cannot read the audit key %s: %m", path);
		goto out;
	}
	rc = parse(text, n, key);
	if (rc < 0)
		*why = xasprintf("audit key %s is damaged: it does not hold %d hex digits", path,
				 KEY_HEX_LEN);
out:
	close(fd);
	return rc;
}

/* A new key, written whole under a temporary name and linked into place:
 * never a half-written key, never one replaced. */
static int create_key(int dfd, const char *base, const char *path, uint8_t key[AUDIT_KEY_LEN],
		      char **why)
{
	char *tmp = xasprintf("%s.tmp", base);
	char text[KEY_HEX_LEN + 1];
	int fd = -1, rc = 0;

	if (getrandom(key, AUDIT_KEY_LEN, 0) != AUDIT_KEY_LEN) {
		rc = -errno;
		*why = xasprintf("cannot make an audit key: getrandom: %m");
		goto out;
	}
	base16_encode_update(text, AUDIT_KEY_LEN, key);
	text[KEY_HEX_LEN] = '\n';
	fd = create_tmp(dfd, tmp, 0600);
	if (fd < 0 || (rc = write_all(fd, text, sizeof(text))) < 0 || fsync(fd) < 0 ||
	    linkat(dfd, tmp, dfd, base, 0) < 0) {
		rc = fd < 0 ? fd : rc ? rc : -errno;
		*why = xasprintf("cannot create the audit key %s: %s", path, strerror(-rc));
		goto out;
	}
	fsync(dfd);
	rc = 1;
out:
	safe_close(fd);
	if (fd >= 0)
		unlinkat(dfd, tmp, 0);
	free(tmp);
	return rc;
}

int audit_key_load(const char *path, unsigned int flags, uint8_t key[AUDIT_KEY_LEN], char **why)
{
	const char *base;
	int dfd, rc;

	*why = NULL;
	if (flags & AUDIT_KEY_CREATE) {
		char *dir = xstrndup(path, strrchr(path, '/') ? strrchr(path, '/') - path : 0);

		if (*dir)
			mkdir_p(dir, 0700);
		free(dir);
	}
	dfd = open_dir_of(path, &base);
	if (dfd < 0) {
		*why = xasprintf("cannot open the directory of the audit key %s: %s", path,
				 strerror(-dfd));
		return dfd;
	}
	rc = read_key(dfd, base, path, flags, key, why);
	if (rc == -ENOENT && (flags & AUDIT_KEY_CREATE)) {
		rc = create_key(dfd, base, path, key, why);
		/* Made by someone else meanwhile: that one is the key. */
		if (rc == -EEXIST) {
			free(*why);
			*why = NULL;
			rc = read_key(dfd, base, path, flags, key, why);
		}
	}
	close(dfd);
	return rc;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuseblock: a FUSE filesystem that stops answering, for the guard's tests
 * (guardopen mapped): whoever pages its file in a second time waits until
 * the filesystem dies.
 *
 *   fuseblock MOUNTPOINT TARGET      (in the foreground; kill -9 to end)
 *
 * /how   4096 bytes: a struct open_how asking for O_RDWR, and at offset 64
 *        the path "MOUNTPOINT/slow". The first read through each open of
 *        it is served; every later one blocks for good.
 * /slow  a symlink to TARGET whose lookup takes a second: time for the
 *        opener to drop the page of /how the kernel copied its arguments
 *        from, before its open reaches TARGET.
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HOW_SIZE	4096
#define PATH_OFFSET	64
#define SLOW_LOOKUP_US	(1000 * 1000)

#define MAX_OPENS	64

static char how[HOW_SIZE];
static const char *target;
static atomic_int opens;
static atomic_int reads[MAX_OPENS];	/* by open */

static void *fb_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Every lookup and stat asks us: the slow one must be slow. */
	cfg->entry_timeout = cfg->attr_timeout = cfg->negative_timeout = 0;
	return NULL;
}

static int fb_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (!strcmp(path, "/how")) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = HOW_SIZE;
	} else if (!strcmp(path, "/slow")) {
		usleep(SLOW_LOOKUP_US);
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = strlen(target);
	} else {
		return -ENOENT;
	}
	return 0;
}

static int fb_readlink(const char *path, char *buf, size_t size)
{
	if (strcmp(path, "/slow"))
		return -EINVAL;
	snprintf(buf, size, "%s", target);
	return 0;
}

static int fb_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/how"))
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	fi->fh = atomic_fetch_add(&opens, 1);
	return fi->fh < MAX_OPENS ? 0 : -EMFILE;
}

static int fb_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	if (atomic_fetch_add(&reads[fi->fh], 1) > 0)
		for (;;)
			pause();
	if (off >= HOW_SIZE)
		return 0;
	if (size > HOW_SIZE - (size_t)off)
		size = HOW_SIZE - off;
	memcpy(buf, how + off, size);
	return size;
}

static const struct fuse_operations ops = {
	.init = fb_init,
	.getattr = fb_getattr,
	.readlink = fb_readlink,
	.open = fb_open,
	.read = fb_read,
};

int main(int argc, char **argv)
{
	struct open_how h = { .flags = O_RDWR };
	char *args[] = { argv[0], "-f", "-o", "default_permissions", argv[1], NULL };

	if (argc != 3 || argv[1][0] != '/' || argv[2][0] != '/') {
		fprintf(stderr, "usage: %s MOUNTPOINT TARGET (absolute paths)\n", argv[0]);
		return 2;
	}
	target = argv[2];
	memcpy(how, &h, sizeof(h));
	snprintf(how + PATH_OFFSET, HOW_SIZE - PATH_OFFSET, "%s/slow", argv[1]);
	return fuse_main(5, args, &ops, NULL);
}

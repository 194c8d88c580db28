/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers every part of lockwarden uses: memory, fds, time. */
#ifndef LW_UTIL_H
#define LW_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* Allocation failure aborts, as in libvirt: a lock daemon that cannot
 * allocate a few bytes cannot keep its promises anyway. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
__attribute__((format(printf, 1, 2))) char *xasprintf(const char *fmt, ...);
__attribute__((format(printf, 1, 0))) char *xvasprintf(const char *fmt, va_list ap);

/* close() that keeps errno and accepts -1; returns -1 for `fd = safe_close(fd)`. */
int safe_close(int fd);
int fd_set_cloexec(int fd, bool on);
int fd_set_nonblock(int fd);
/* Is fd a socket listening for connections? */
bool fd_is_listener(int fd);

uint64_t now_mono_ns(void);
uint64_t now_real_ns(void);
uint64_t now_boot_ns(void);	/* the clock of BPF's bpf_ktime_get_boot_ns() */

/*
 * The inode path names relative to dirfd ("": dirfd's own), as the kernel
 * has it cached: it never asks a FUSE or network filesystem, which may
 * never answer. -errno.
 */
int inode_cached(int dirfd, const char *path, dev_t *dev, ino_t *ino);
/* Write all of buf or fail with -errno. */
int write_all(int fd, const void *buf, size_t len);
/* Read a whole (small) file into a NUL-terminated buffer; -errno, -EFBIG past max. */
int read_file(const char *path, size_t max, char **out, size_t *len);

/* The text form of a 16-byte uuid: 36 characters and a NUL. */
#define UUID_STR_LEN 37
void uuid_format(const uint8_t *uuid, char out[UUID_STR_LEN]);

struct sockaddr_un;
/* A UNIX socket address for path; -ENAMETOOLONG when it does not fit. */
int unix_addr(struct sockaddr_un *sa, const char *path);

/* mkdir -p with mode for the directories it creates. */
int mkdir_p(const char *path, mode_t mode);

/*
 * Files in a directory others may write (logs, metrics, keys) are opened
 * relative to the directory, with O_NOFOLLOW: a planted symlink is never
 * followed. open_dir_of: the directory holding path, opened; *base is the
 * last component (in path). -errno.
 */
int open_dir_of(const char *path, const char **base);
/* A temporary file name in dfd, created afresh with O_EXCL (a leftover or
 * planted file or symlink of that name is removed, never written through). */
int create_tmp(int dfd, const char *name, mode_t mode);

#endif

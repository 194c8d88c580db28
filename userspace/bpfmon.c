// SPDX-License-Identifier: LGPL-2.1-or-later
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bpfmon.h"
#include "log.h"
#include "loop.h"
#include "openwatch.skel.h"
#include "util.h"

#define BPFFS		"/sys/fs/bpf"
#define PROBE_SPINS	100		/* ring buffer polls of 1 ms for the probe event */

struct hook {
	const char *name;
	struct bpf_program *(*prog)(struct openwatch_bpf *skel);
};

static struct bpf_program *lsm_prog(struct openwatch_bpf *s) { return s->progs.ow_file_open; }
static struct bpf_program *fexit_prog(struct openwatch_bpf *s) { return s->progs.ow_vfs_open; }
static struct bpf_program *sys_exit_prog(struct openwatch_bpf *s) { return s->progs.ow_sys_exit; }

/* Best first: the first two see only opens, and io_uring's too. */
static const struct hook hooks[] = {
	{ "lsm/file_open", lsm_prog },
	{ "fexit/vfs_open", fexit_prog },
	{ "tp_btf/sys_exit", sys_exit_prog },
};

struct bpfmon {
	struct bpfmon_params p;
	const struct hook *hook;
	struct openwatch_bpf *skel;
	struct bpf_link *link;		/* NULL: detached */
	struct ring_buffer *rb;
	struct loop_source src;
	/* The start-up probe: its inode, and whether its open was seen. */
	struct ow_key probe;
	bool probing, probe_seen;
};

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;

	if (level == LIBBPF_DEBUG || !log_enabled(LOG_LVL_DEBUG, __FILE__))
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	if (n && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	log_debug("libbpf: %s", msg);
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct bpfmon *m = ctx;
	const struct ow_event *ev = data;

	if (size < sizeof(*ev))
		return 0;
	if (m->probing) {
		m->probe_seen |= ev->tgid == (__u32)getpid() && ev->dev == m->probe.dev &&
				 ev->ino == m->probe.ino;
		return 0;
	}
	m->p.event(m->p.data, ev);
	return 0;
}

void bpfmon_poll(struct bpfmon *m)
{
	ring_buffer__consume(m->rb);
}

static void on_ready(struct loop_source *src, uint32_t events)
{
	bpfmon_poll(container_of(src, struct bpfmon, src));
}

static void skel_free(struct bpfmon *m)
{
	bpfmon_detach(m);
	if (m->src.fn)
		loop_del(m->p.loop, &m->src);
	m->src.fn = NULL;
	ring_buffer__free(m->rb);
	m->rb = NULL;
	openwatch_bpf__destroy(m->skel);
	m->skel = NULL;
}

void bpfmon_free(struct bpfmon *m)
{
	if (!m)
		return;
	skel_free(m);
	free(m);
}

static char *pin_path(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

/*
 * Open and load the skeleton with one hook's program only; with pin_dir,
 * on the maps pinned there (a re-exec) instead of new ones.
 */
static int skel_load(struct bpfmon *m, const struct hook *h, const char *pin_dir)
{
	struct bpf_map *maps[3];
	struct stat ns;
	int rc, fd;

	if (!(m->skel = openwatch_bpf__open()))
		return -errno;
	m->skel->rodata->daemon_tgid = getpid();
	if (stat("/proc/self/ns/pid", &ns) < 0)
		return -errno;
	m->skel->rodata->pidns_ino = ns.st_ino;
	for (size_t i = 0; i < ARRAY_SIZE(hooks); i++)
		bpf_program__set_autoload(hooks[i].prog(m->skel), &hooks[i] == h);
	maps[0] = m->skel->maps.guarded;
	maps[1] = m->skel->maps.events;
	maps[2] = m->skel->maps.stats;
	for (size_t i = 0; pin_dir && i < ARRAY_SIZE(maps); i++) {
		char *path = pin_path(pin_dir, bpf_map__name(maps[i]));

		fd = bpf_obj_get(path);
		rc = fd < 0 ? -errno : bpf_map__reuse_fd(maps[i], fd);
		if (fd >= 0)
			close(fd);
		free(path);
		if (rc < 0)
			return rc;
	}
	if ((rc = openwatch_bpf__load(m->skel)) < 0)
		return rc;
	m->hook = h;
	m->rb = ring_buffer__new(bpf_map__fd(m->skel->maps.events), on_event, m, NULL);
	return m->rb ? 0 : -errno;
}

static void key_of(struct ow_key *k, dev_t dev, ino_t ino)
{
	k->dev = ow_kdev(dev);
	k->ino = ino;
}

int bpfmon_set(struct bpfmon *m, dev_t dev, ino_t ino, const struct ow_value *v)
{
	struct ow_key k;

	key_of(&k, dev, ino);
	if (bpf_map_update_elem(bpf_map__fd(m->skel->maps.guarded), &k, v, BPF_ANY) < 0)
		return -errno;
	return 0;
}

int bpfmon_del(struct bpfmon *m, dev_t dev, ino_t ino)
{
	struct ow_key k;

	key_of(&k, dev, ino);
	if (bpf_map_delete_elem(bpf_map__fd(m->skel->maps.guarded), &k) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

void bpfmon_prune(struct bpfmon *m, bool (*keep)(void *data, dev_t dev, ino_t ino), void *data)
{
	int fd = bpf_map__fd(m->skel->maps.guarded);
	struct ow_key k, next;
	bool first = true;

	/* Deleting the current key restarts nothing: next is taken first. */
	while (bpf_map_get_next_key(fd, first ? NULL : &k, &next) == 0) {
		first = false;
		k = next;
		if (!keep(data, ow_udev(k.dev), k.ino))
			bpf_map_delete_elem(fd, &k);
	}
}

int bpfmon_attach(struct bpfmon *m)
{
	if (m->link)
		return 0;
	m->link = bpf_program__attach(m->hook->prog(m->skel));
	if (!m->link)
		return -errno;
	return 0;
}

void bpfmon_detach(struct bpfmon *m)
{
	bpf_link__destroy(m->link);
	m->link = NULL;
}

bool bpfmon_attached(const struct bpfmon *m)
{
	return m->link != NULL;
}

const char *bpfmon_hook(const struct bpfmon *m)
{
	return m->hook->name;
}

uint64_t bpfmon_lost(const struct bpfmon *m)
{
	struct ow_stats st;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(m->skel->maps.stats), &zero, &st) < 0)
		return 0;
	return st.lost;
}

/*
 * Does the loaded program fire? Guard a file of our own for the daemon
 * itself, attach, open it, and look for the event: a hook can load and
 * attach and still never run (an LSM hook when the kernel's lsm= list
 * leaves out "bpf").
 */
static int probe(struct bpfmon *m)
{
	char *path = xasprintf("%s/.lockwarden-probe.XXXXXX", m->p.probe_dir);
	struct ow_value v = { .flags = OW_PROBE };
	struct stat st;
	int fd, rc;

	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		free(path);
		return rc;
	}
	rc = fstat(fd, &st) < 0 ? -errno : 0;
	close(fd);
	if (rc < 0 || (rc = bpfmon_set(m, st.st_dev, st.st_ino, &v)) < 0)
		goto out;
	if ((rc = bpfmon_attach(m)) < 0)
		goto out_del;
	key_of(&m->probe, st.st_dev, st.st_ino);
	m->probing = true;
	m->probe_seen = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < PROBE_SPINS && !m->probe_seen; i++)
		ring_buffer__poll(m->rb, 1);
	m->probing = false;
	rc = m->probe_seen ? 0 : -ENODATA;
	bpfmon_detach(m);
out_del:
	bpfmon_del(m, st.st_dev, st.st_ino);
out:
	unlink(path);
	free(path);
	return rc;
}

static int watch(struct bpfmon *m)
{
	return loop_add(m->p.loop, &m->src, ring_buffer__epoll_fd(m->rb), EPOLLIN, on_ready);
}

int bpfmon_new(const struct bpfmon_params *p, struct bpfmon **out, char **why)
{
	struct bpfmon *m = xcalloc(1, sizeof(*m));
	char *tried = xstrdup("");
	int rc = -ENOENT;

	libbpf_set_print(libbpf_log);
	m->p = *p;
	for (size_t i = 0; i < ARRAY_SIZE(hooks); i++) {
		char *t;

		if ((rc = skel_load(m, &hooks[i], NULL)) == 0 && (rc = probe(m)) == 0)
			break;
		t = xasprintf("%s%s%s: %s", tried, *tried ? "; " : "", hooks[i].name,
			      rc == -ENODATA ? "loads, but never fired" : strerror(-rc));
		free(tried);
		tried = t;
		skel_free(m);
	}
	if (rc < 0 || (rc = watch(m)) < 0) {
		*why = tried;
		bpfmon_free(m);
		return rc;
	}
	if (*tried)
		log_info("BPF open monitor on %s (not available: %s)", m->hook->name, tried);
	free(tried);
	*out = m;
	return 0;
}

/* ---- re-exec ---- */

static int ensure_bpffs(void)
{
	struct statfs fs;

	if (statfs(BPFFS, &fs) == 0 && fs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", BPFFS, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
		return -errno;
	return 0;
}

static const char *const pin_names[] = { "guarded", "events", "stats", "link" };

void bpfmon_unpin(const char *pin_dir)
{
	for (size_t i = 0; i < ARRAY_SIZE(pin_names); i++) {
		char *path = pin_path(pin_dir, pin_names[i]);

		unlink(path);
		free(path);
	}
	rmdir(pin_dir);
}

int bpfmon_save(struct bpfmon *m, const char *pin_dir, struct json_object *obj)
{
	struct bpf_map *maps[] = { m->skel->maps.guarded, m->skel->maps.events,
				   m->skel->maps.stats };
	char *path = NULL;
	int rc;

	if ((rc = ensure_bpffs()) < 0 || (rc = mkdir_p(pin_dir, 0700)) < 0)
		return rc;
	bpfmon_unpin(pin_dir);		/* a crashed re-exec's leftovers */
	if ((rc = mkdir_p(pin_dir, 0700)) < 0)
		return rc;
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		path = pin_path(pin_dir, bpf_map__name(maps[i]));
		if ((rc = bpf_map__pin(maps[i], path)) < 0)
			goto fail;
		free(path);
	}
	path = pin_path(pin_dir, "link");
	if (m->link && (rc = bpf_link__pin(m->link, path)) < 0)
		goto fail;
	free(path);
	json_object_object_add(obj, "pin_dir", json_object_new_string(pin_dir));
	json_object_object_add(obj, "hook", json_object_new_string(m->hook->name));
	json_object_object_add(obj, "attached", json_object_new_boolean(m->link != NULL));
	return 0;
fail:
	free(path);
	bpfmon_unpin(pin_dir);
	return rc;
}

static const char *obj_str(struct json_object *obj, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

int bpfmon_restore(const struct bpfmon_params *p, struct json_object *obj,
		   struct bpfmon **out, char **why)
{
	const char *dir = obj_str(obj, "pin_dir"), *name = obj_str(obj, "hook");
	struct bpfmon *m = xcalloc(1, sizeof(*m));
	const struct hook *h = NULL;
	struct json_object *att;
	char *path = NULL;
	int rc = -EINVAL;

	m->p = *p;
	for (size_t i = 0; name && i < ARRAY_SIZE(hooks); i++)
		if (!strcmp(hooks[i].name, name))
			h = &hooks[i];
	if (!dir || !h) {
		*why = xstrdup("the state names no pinned monitor");
		goto fail;
	}
	if ((rc = skel_load(m, h, dir)) < 0) {
		*why = xasprintf("cannot load %s on the maps pinned in %s: %s", h->name, dir,
				 strerror(-rc));
		goto fail;
	}
	/*
	 * The old image's program stays attached, now ours: replacing it
	 * would leave either a moment with both attached, reporting one open
	 * twice, or one with none, missing opens. The program loaded here
	 * takes over at the next attach, once nothing was guarded.
	 */
	if (json_object_object_get_ex(obj, "attached", &att) && json_object_get_boolean(att)) {
		path = pin_path(dir, "link");
		if (!(m->link = bpf_link__open(path))) {
			rc = -errno;
			*why = xasprintf("cannot open the pinned link %s: %s", path, strerror(-rc));
			goto fail;
		}
	}
	if ((rc = watch(m)) < 0) {
		*why = xasprintf("cannot watch the ring buffer: %s", strerror(-rc));
		goto fail;
	}
	bpfmon_unpin(dir);
	free(path);
	*out = m;
	return 0;
fail:
	/* Nothing pinned may outlive this: it would watch for nobody. */
	if (dir)
		bpfmon_unpin(dir);
	free(path);
	bpfmon_free(m);
	return rc;
}

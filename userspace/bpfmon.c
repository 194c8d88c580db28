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

/*
 * The monitor works on plain fds: its maps, its program, its link. A fresh
 * one loads them from the skeleton; one taken over after a re-exec gets
 * them from bpffs pins, with no load and no verifier run in the pause.
 */
enum { MAP_GUARDED, MAP_EVENTS, MAP_STATS, MAP_COUNT };

static const char *const map_names[MAP_COUNT] = { "guarded", "events", "stats" };

struct bpfmon {
	struct bpfmon_params p;
	const struct hook *hook;
	struct openwatch_bpf *skel;	/* NULL when taken over from pins */
	int map[MAP_COUNT];		/* the skeleton's, or our own from pins */
	int prog;
	int link;			/* -1: detached */
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
	if (!m->skel) {
		for (int i = 0; i < MAP_COUNT; i++)
			m->map[i] = safe_close(m->map[i]);
		m->prog = safe_close(m->prog);
	}
	openwatch_bpf__destroy(m->skel);
	m->skel = NULL;
}

static struct bpfmon *bpfmon_alloc(const struct bpfmon_params *p)
{
	struct bpfmon *m = xcalloc(1, sizeof(*m));

	m->p = *p;
	for (int i = 0; i < MAP_COUNT; i++)
		m->map[i] = -1;
	m->prog = m->link = -1;
	return m;
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

static int ring_new(struct bpfmon *m)
{
	m->rb = ring_buffer__new(m->map[MAP_EVENTS], on_event, m, NULL);
	return m->rb ? 0 : -errno;
}

/* Open and load the skeleton with one hook's program only. */
static int skel_load(struct bpfmon *m, const struct hook *h)
{
	struct stat ns;
	int rc;

	if (!(m->skel = openwatch_bpf__open()))
		return -errno;
	m->skel->rodata->daemon_tgid = getpid();
	if (stat("/proc/self/ns/pid", &ns) < 0)
		return -errno;
	m->skel->rodata->pidns_ino = ns.st_ino;
	for (size_t i = 0; i < ARRAY_SIZE(hooks); i++)
		bpf_program__set_autoload(hooks[i].prog(m->skel), &hooks[i] == h);
	if ((rc = openwatch_bpf__load(m->skel)) < 0)
		return rc;
	m->hook = h;
	m->map[MAP_GUARDED] = bpf_map__fd(m->skel->maps.guarded);
	m->map[MAP_EVENTS] = bpf_map__fd(m->skel->maps.events);
	m->map[MAP_STATS] = bpf_map__fd(m->skel->maps.stats);
	m->prog = bpf_program__fd(h->prog(m->skel));
	return ring_new(m);
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
	if (bpf_map_update_elem(m->map[MAP_GUARDED], &k, v, BPF_ANY) < 0)
		return -errno;
	return 0;
}

int bpfmon_del(struct bpfmon *m, dev_t dev, ino_t ino)
{
	struct ow_key k;

	key_of(&k, dev, ino);
	if (bpf_map_delete_elem(m->map[MAP_GUARDED], &k) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

void bpfmon_prune(struct bpfmon *m, bool (*keep)(void *data, dev_t dev, ino_t ino), void *data)
{
	int fd = m->map[MAP_GUARDED];
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

/* Every hook here (lsm, fexit, tp_btf) attaches as a BTF-typed raw tracepoint. */
int bpfmon_attach(struct bpfmon *m)
{
	if (m->link >= 0)
		return 0;
	m->link = bpf_raw_tracepoint_open(NULL, m->prog);
	if (m->link < 0)
		return -errno;
	fd_set_cloexec(m->link, true);
	return 0;
}

void bpfmon_detach(struct bpfmon *m)
{
	m->link = safe_close(m->link);
}

bool bpfmon_attached(const struct bpfmon *m)
{
	return m->link >= 0;
}

const char *bpfmon_hook(const struct bpfmon *m)
{
	return m->hook->name;
}

uint64_t bpfmon_lost(const struct bpfmon *m)
{
	struct ow_stats st;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(m->map[MAP_STATS], &zero, &st) < 0)
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
	struct bpfmon *m = bpfmon_alloc(p);
	char *tried = xstrdup("");
	int rc = -ENOENT;

	libbpf_set_print(libbpf_log);
	for (size_t i = 0; i < ARRAY_SIZE(hooks); i++) {
		char *t;

		if ((rc = skel_load(m, &hooks[i])) == 0 && (rc = probe(m)) == 0)
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

static const char *const pin_names[] = { "guarded", "events", "stats", "prog", "link" };

void bpfmon_unpin(const char *pin_dir)
{
	for (size_t i = 0; i < ARRAY_SIZE(pin_names); i++) {
		char *path = pin_path(pin_dir, pin_names[i]);

		unlink(path);
		free(path);
	}
	rmdir(pin_dir);
}

static int pin(int fd, const char *dir, const char *name)
{
	char *path = pin_path(dir, name);
	int rc = bpf_obj_pin(fd, path) < 0 ? -errno : 0;

	free(path);
	return rc;
}

int bpfmon_save(struct bpfmon *m, const char *pin_dir, struct json_object *obj)
{
	int rc;

	if ((rc = ensure_bpffs()) < 0 || (rc = mkdir_p(pin_dir, 0700)) < 0)
		return rc;
	bpfmon_unpin(pin_dir);		/* a crashed re-exec's leftovers */
	if ((rc = mkdir_p(pin_dir, 0700)) < 0)
		return rc;
	for (int i = 0; i < MAP_COUNT; i++)
		if ((rc = pin(m->map[i], pin_dir, map_names[i])) < 0)
			goto fail;
	if ((rc = pin(m->prog, pin_dir, "prog")) < 0 ||
	    (m->link >= 0 && (rc = pin(m->link, pin_dir, "link")) < 0))
		goto fail;
	json_object_object_add(obj, "pin_dir", json_object_new_string(pin_dir));
	json_object_object_add(obj, "hook", json_object_new_string(m->hook->name));
	json_object_object_add(obj, "attached", json_object_new_boolean(m->link >= 0));
	return 0;
fail:
	bpfmon_unpin(pin_dir);
	return rc;
}

static const char *obj_str(struct json_object *obj, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static int unpin_fd(const char *dir, const char *name, int *fd)
{
	char *path = pin_path(dir, name);

	*fd = bpf_obj_get(path);
	free(path);
	if (*fd < 0)
		return -errno;
	return fd_set_cloexec(*fd, true);
}

/* An image whose struct ow_value differs cannot share the map. */
static int same_value(int map_fd)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(map_fd, &info, &len) < 0)
		return -errno;
	return info.value_size == sizeof(struct ow_value) ? 0 : -EPROTO;
}

/*
 * Take over the old image's monitor from its pins: the maps with what is
 * guarded and the events not yet read, the loaded program, and, when
 * attached, its link, which stays attached throughout: detaching and
 * attaching again would leave a moment when opens go unseen.
 */
int bpfmon_restore(const struct bpfmon_params *p, struct json_object *obj,
		   struct bpfmon **out, char **why)
{
	const char *dir = obj_str(obj, "pin_dir"), *name = obj_str(obj, "hook");
	struct bpfmon *m = bpfmon_alloc(p);
	struct json_object *att;
	const char *what = "prog";
	int rc = -EINVAL;

	for (size_t i = 0; name && i < ARRAY_SIZE(hooks); i++)
		if (!strcmp(hooks[i].name, name))
			m->hook = &hooks[i];
	if (!dir || !m->hook) {
		*why = xstrdup("the state names no pinned monitor");
		goto fail;
	}
	for (int i = 0; i < MAP_COUNT; i++)
		if ((rc = unpin_fd(dir, what = map_names[i], &m->map[i])) < 0)
			goto pinned;
	if ((rc = same_value(m->map[MAP_GUARDED])) < 0) {
		*why = xstrdup("the pinned monitor is another version's (its map's values differ)");
		goto fail;
	}
	if ((rc = unpin_fd(dir, what = "prog", &m->prog)) < 0)
		goto pinned;
	if (json_object_object_get_ex(obj, "attached", &att) && json_object_get_boolean(att) &&
	    (rc = unpin_fd(dir, what = "link", &m->link)) < 0)
		goto pinned;
	if ((rc = ring_new(m)) < 0 || (rc = watch(m)) < 0) {
		*why = xasprintf("cannot watch the ring buffer: %s", strerror(-rc));
		goto fail;
	}
	bpfmon_unpin(dir);
	*out = m;
	return 0;
pinned:
	*why = xasprintf("cannot take the pinned %s from %s: %s", what, dir, strerror(-rc));
fail:
	/* Nothing pinned may outlive this: it would watch for nobody. */
	if (dir)
		bpfmon_unpin(dir);
	bpfmon_free(m);
	return rc;
}

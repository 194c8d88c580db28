// SPDX-License-Identifier: LGPL-2.1-or-later
#include <bpf/bpf.h>
#include <bpf/btf.h>
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

#define MAX_PROGS	3

/* A hook: its programs, the first the one that sees opens; the others
 * are loaded where this kernel has the function they attach to. */
struct hook {
	const char *name;
	bool enforces;			/* its programs refuse what the policy denies */
	struct {
		struct bpf_program *(*prog)(struct openwatch_bpf *skel);
		const char *btf_func;	/* NULL: always there */
	} progs[MAX_PROGS];
};

static struct bpf_program *lsm_prog(struct openwatch_bpf *s) { return s->progs.ow_file_open; }
static struct bpf_program *path_truncate_prog(struct openwatch_bpf *s) { return s->progs.ow_path_truncate; }
static struct bpf_program *file_truncate_prog(struct openwatch_bpf *s) { return s->progs.ow_file_truncate; }
static struct bpf_program *fexit_prog(struct openwatch_bpf *s) { return s->progs.ow_vfs_open; }
static struct bpf_program *sys_exit_prog(struct openwatch_bpf *s) { return s->progs.ow_sys_exit; }

/* Best first: the first two see only opens, and io_uring's too. */
static const struct hook hooks[] = {
	{ "lsm/file_open", true, { { lsm_prog },
				   { path_truncate_prog, "bpf_lsm_path_truncate" },
				   { file_truncate_prog, "bpf_lsm_file_truncate" } } },
	{ "fexit/vfs_open", false, { { fexit_prog } } },
	{ "tp_btf/sys_exit", false, { { sys_exit_prog } } },
};

/* For the events: which program saw it (enum ow_hook). */
static const char *const hook_names[] = {
	[OW_HOOK_LSM] = "lsm/file_open",
	[OW_HOOK_FEXIT] = "fexit/vfs_open",
	[OW_HOOK_SYS_EXIT] = "tp_btf/sys_exit",
	[OW_HOOK_PATH_TRUNCATE] = "lsm/path_truncate",
	[OW_HOOK_FILE_TRUNCATE] = "lsm/file_truncate",
};

const char *bpfmon_hook_name(uint32_t hook)
{
	return hook < ARRAY_SIZE(hook_names) ? hook_names[hook] : "?";
}

/*
 * The monitor works on plain fds: its maps, its program, its link. A fresh
 * one loads them from the skeleton; one taken over after a re-exec gets
 * them from bpffs pins, with no load and no verifier run in the pause.
 */
enum { MAP_GUARDED, MAP_ALLOW, MAP_VMS, MAP_EVENTS, MAP_STATS, MAP_COUNT };

static const char *const map_names[MAP_COUNT] = { "guarded", "allow", "vms", "events", "stats" };
static const char *const prog_pins[MAX_PROGS] = { "prog", "prog1", "prog2" };
static const char *const link_pins[MAX_PROGS] = { "link", "link1", "link2" };

struct bpfmon {
	struct bpfmon_params p;
	const struct hook *hook;
	struct openwatch_bpf *skel;	/* NULL when taken over from pins */
	int map[MAP_COUNT];		/* the skeleton's, or our own from pins */
	int prog[MAX_PROGS];		/* -1 past the last */
	int link[MAX_PROGS];		/* link[0] -1: detached */
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
		for (int i = 0; i < MAX_PROGS; i++)
			m->prog[i] = safe_close(m->prog[i]);
	}
	for (int i = 0; i < MAX_PROGS; i++)
		m->prog[i] = -1;
	openwatch_bpf__destroy(m->skel);
	m->skel = NULL;
}

static struct bpfmon *bpfmon_alloc(const struct bpfmon_params *p)
{
	struct bpfmon *m = xcalloc(1, sizeof(*m));

	m->p = *p;
	for (int i = 0; i < MAP_COUNT; i++)
		m->map[i] = -1;
	for (int i = 0; i < MAX_PROGS; i++)
		m->prog[i] = m->link[i] = -1;
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

/* Does this kernel have function name (an LSM hook's BPF stub)? */
static bool kernel_has(const char *name)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool has;

	if (!btf)
		return false;
	has = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) >= 0;
	btf__free(btf);
	return has;
}

/* Open and load the skeleton with one hook's programs only. */
static int skel_load(struct bpfmon *m, const struct hook *h)
{
	bool load[MAX_PROGS] = { false };
	struct stat ns;
	int rc, n = 0;

	if (!(m->skel = openwatch_bpf__open()))
		return -errno;
	m->skel->rodata->daemon_tgid = getpid();
	if (stat("/proc/self/ns/pid", &ns) < 0)
		return -errno;
	m->skel->rodata->pidns_ino = ns.st_ino;
	for (int i = 0; i < MAX_PROGS && h->progs[i].prog; i++)
		load[i] = !h->progs[i].btf_func || kernel_has(h->progs[i].btf_func);
	for (size_t i = 0; i < ARRAY_SIZE(hooks); i++)
		for (int j = 0; j < MAX_PROGS && hooks[i].progs[j].prog; j++)
			bpf_program__set_autoload(hooks[i].progs[j].prog(m->skel),
						  &hooks[i] == h && load[j]);
	if ((rc = openwatch_bpf__load(m->skel)) < 0)
		return rc;
	m->hook = h;
	m->map[MAP_GUARDED] = bpf_map__fd(m->skel->maps.guarded);
	m->map[MAP_ALLOW] = bpf_map__fd(m->skel->maps.allow);
	m->map[MAP_VMS] = bpf_map__fd(m->skel->maps.vms);
	m->map[MAP_EVENTS] = bpf_map__fd(m->skel->maps.events);
	m->map[MAP_STATS] = bpf_map__fd(m->skel->maps.stats);
	for (int i = 0; i < MAX_PROGS; i++)
		if (load[i])
			m->prog[n++] = bpf_program__fd(h->progs[i].prog(m->skel));
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

int bpfmon_set_vm(struct bpfmon *m, pid_t tgid, uint64_t start, bool registered)
{
	__u32 k = tgid;
	__u64 v = start;

	if (registered ? bpf_map_update_elem(m->map[MAP_VMS], &k, &v, BPF_ANY) < 0 :
	    bpf_map_delete_elem(m->map[MAP_VMS], &k) < 0 && errno != ENOENT)
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

int bpfmon_set_allow(struct bpfmon *m, const struct ow_allow *a)
{
	__u32 zero = 0;

	return bpf_map_update_elem(m->map[MAP_ALLOW], &zero, a, BPF_ANY) < 0 ? -errno : 0;
}

/* Every hook here (lsm, fexit, tp_btf) attaches as a BTF-typed raw
 * tracepoint; all of the hook's programs, or none. */
int bpfmon_attach(struct bpfmon *m)
{
	int rc;

	if (m->link[0] >= 0)
		return 0;
	for (int i = 0; i < MAX_PROGS && m->prog[i] >= 0; i++) {
		m->link[i] = bpf_raw_tracepoint_open(NULL, m->prog[i]);
		if (m->link[i] < 0) {
			rc = -errno;
			bpfmon_detach(m);
			return rc;
		}
		fd_set_cloexec(m->link[i], true);
	}
	return 0;
}

void bpfmon_detach(struct bpfmon *m)
{
	for (int i = 0; i < MAX_PROGS; i++)
		m->link[i] = safe_close(m->link[i]);
}

bool bpfmon_attached(const struct bpfmon *m)
{
	return m->link[0] >= 0;
}

const char *bpfmon_hook(const struct bpfmon *m)
{
	return m->hook->name;
}

bool bpfmon_enforces(const struct bpfmon *m)
{
	return m->hook->enforces;
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

static void unpin_one(const char *pin_dir, const char *name)
{
	char *path = pin_path(pin_dir, name);

	unlink(path);
	free(path);
}

void bpfmon_unpin(const char *pin_dir)
{
	for (int i = 0; i < MAP_COUNT; i++)
		unpin_one(pin_dir, map_names[i]);
	for (int i = 0; i < MAX_PROGS; i++) {
		unpin_one(pin_dir, prog_pins[i]);
		unpin_one(pin_dir, link_pins[i]);
	}
	rmdir(pin_dir);
}

int bpfmon_nprogs(const struct bpfmon *m)
{
	int n = 0;

	while (n < MAX_PROGS && m->prog[n] >= 0)
		n++;
	return n;
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
	for (int i = 0; i < MAX_PROGS && m->prog[i] >= 0; i++)
		if ((rc = pin(m->prog[i], pin_dir, prog_pins[i])) < 0 ||
		    (m->link[i] >= 0 && (rc = pin(m->link[i], pin_dir, link_pins[i])) < 0))
			goto fail;
	json_object_object_add(obj, "pin_dir", json_object_new_string(pin_dir));
	json_object_object_add(obj, "hook", json_object_new_string(m->hook->name));
	json_object_object_add(obj, "progs", json_object_new_int(bpfmon_nprogs(m)));
	json_object_object_add(obj, "attached", json_object_new_boolean(m->link[0] >= 0));
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
	struct json_object *att, *n;
	const char *what = "prog";
	int rc = -EINVAL, nprogs;
	bool attached;

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
	/* An old image's state names no count: it pinned one program. */
	nprogs = json_object_object_get_ex(obj, "progs", &n) ? json_object_get_int(n) : 1;
	attached = json_object_object_get_ex(obj, "attached", &att) && json_object_get_boolean(att);
	for (int i = 0; i < nprogs && i < MAX_PROGS; i++) {
		if ((rc = unpin_fd(dir, what = prog_pins[i], &m->prog[i])) < 0 ||
		    (attached && (rc = unpin_fd(dir, what = link_pins[i], &m->link[i])) < 0))
			goto pinned;
	}
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

/*
 * vmharness: plays libvirt's part against a lock daemon, through libvirt's
 * own lock plugin lockd.so, and prints a deterministic transcript.
 *
 * Each VM is a forked process that acquires its own disks, as the child
 * that becomes QEMU does in libvirt: the owner pid is the connecting peer,
 * and the VM keeps the daemon connection open for its whole life.  What
 * libvirtd does to a running VM (pause, resume, hot-plug, stop) runs in a
 * short-lived helper process that names the VM's pid as the owner.
 *
 * Every child calls the plugin's drvInit itself, after entering its host's
 * mount namespace, so it talks to that host's daemon (/run/libvirt).
 *
 * Usage: vmharness [SCRIPT]   (stdin without SCRIPT; language in
 * selftests/README.md).  Exit status: 0, or 2 when the script itself is
 * wrong or the harness fails; a refused lock is a transcript line, not an
 * error.
 */
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "lockd_plugin.h"


/* Fixed descriptors in every child, whatever the parent had open. */
#define CHILD_CTL_FD	3
#define CHILD_CONF_FD	4

#define REPLY_TIMEOUT_MS	30000	/* a daemon that hangs fails the line, not the run */
#define WAIT_TIMEOUT_MS		5000
#define RETRY_PAUSE_MS		50

struct proc {
	pid_t pid;
	int status;
	bool reaped;
	const char *vm;		/* VM name to mask this pid with; NULL for helpers */
	struct proc *next;
};

struct disk {
	char *path;
	unsigned int flags;
};

struct host {
	char *name;
	int nsfd;
	struct host *next;
};

struct vm {
	char *name;
	int id;
	struct proc *proc;	/* current process, NULL before the first start */
	int ctl;		/* our end of its control socket; closing it ends the VM */
	struct host *host;
	bool failed;		/* its start was refused: it may be started again */
	bool paused;
	bool ignore_term;	/* plays a hung QEMU: only SIGKILL ends it */
	int64_t retry_ms;
	struct disk *disks;
	size_t ndisks;
	struct vm *next;
};

enum lock_op { OP_START, OP_ACQUIRE, OP_RELEASE };

/* What a child asks the plugin to do; built by the parent, read after fork. */
struct lockop {
	enum lock_op op;
	const struct vm *vm;
	pid_t owner;		/* 0: the child itself, i.e. the VM */
	const struct disk *disks;
	size_t ndisks;
};

struct reply {
	int code;		/* 0, a virErrorNumber, or -1 for a harness failure */
	char msg[1024];
};

struct result {
	bool ok;
	char text[1536];
};

static struct lock_driver *drv;
static int sigfd = -1;
static int conf_fd = -1;	/* memfd holding the lockd.conf in force */
static struct proc *procs;
static struct vm *vms;
static struct host *hosts;
static int next_vm_id = 1;
static const char *script_name = "<stdin>";
static int lineno;

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vmharness: %s:%d: ", script_name, lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

static int syserr(const char *what)
{
	int err = errno;

	fprintf(stderr, "vmharness: %s:%d: %s: %s\n", script_name, lineno, what,
		strerror(err));
	return -err;
}

static void set_result(struct result *res, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_result(struct result *res, bool ok, const char *fmt, ...)
{
	va_list ap;

	res->ok = ok;
	va_start(ap, fmt);
	vsnprintf(res->text, sizeof(res->text), fmt, ap);
	va_end(ap);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "3s", "500ms", "0.2" (seconds) */
static int parse_duration(const char *s, int64_t *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return bad("bad duration '%s'", s);
	if (!strcmp(end, "ms"))
		*ms = (int64_t)v;
	else if (!strcmp(end, "s") || !*end)
		*ms = (int64_t)(v * 1000);
	else
		return bad("bad duration '%s'", s);
	return 0;
}

static const char *status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by SIG%s", sigabbrev_np(WTERMSIG(status)));
	else
		snprintf(buf, len, "status 0x%x", status);
	return buf;
}

static struct proc *proc_find(pid_t pid)
{
	struct proc *p;

	for (p = procs; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

/* Reap promptly: a daemon keeps probing an unreaped (zombie) VM it killed. */
static void reap(void)
{
	struct signalfd_siginfo si;
	struct proc *p;
	int status;
	pid_t pid;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		p = proc_find(pid);
		if (p) {
			p->status = status;
			p->reaped = true;
		}
	}
}

/*
 * Sleep until @fd (if >= 0) is readable, a child changes state or @deadline
 * passes, reaping children meanwhile.  Returns 1 if @fd is readable.
 */
static int wait_event(int fd, int64_t deadline)
{
	struct pollfd pfd[2] = {
		{ .fd = sigfd, .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};
	int64_t left = deadline - now_ms();

	if (poll(pfd, 2, left > 0 ? (int)left : 0) < 0 && errno != EINTR)
		return syserr("poll");
	if (pfd[0].revents)
		reap();
	return fd >= 0 && pfd[1].revents ? 1 : 0;
}

static int sleep_until(int64_t deadline)
{
	int err;

	while (now_ms() < deadline)
		if ((err = wait_event(-1, deadline)) < 0)
			return err;
	return 0;
}

/* Returns 0 once @p is reaped, -ETIMEDOUT if it is still alive at @deadline. */
static int wait_reaped(struct proc *p, int64_t deadline)
{
	int err;

	while (!p->reaped) {
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		if ((err = wait_event(-1, deadline)) < 0)
			return err;
	}
	return 0;
}

/* Returns 0 with a full reply, -EPIPE if the child hung up, -ETIMEDOUT. */
static int read_reply(int fd, struct reply *r, int64_t deadline)
{
	size_t got = 0;
	ssize_t n;
	int err;

	while (got < sizeof(*r)) {
		err = wait_event(fd, deadline);
		if (err < 0)
			return err;
		if (!err) {
			if (now_ms() >= deadline)
				return -ETIMEDOUT;
			continue;
		}
		n = read(fd, (char *)r + got, sizeof(*r) - got);
		if (n < 0 && errno != EINTR)
			return syserr("read reply");
		if (n == 0)
			return -EPIPE;
		if (n > 0)
			got += n;
	}
	r->msg[sizeof(r->msg) - 1] = '\0';
	return 0;
}

/* ---- children ---------------------------------------------------------- */

static void fill_reply(struct reply *r)
{
	virErrorPtr e = virGetLastError();

	r->code = e ? e->code : VIR_ERR_INTERNAL_ERROR;
	snprintf(r->msg, sizeof(r->msg), "%s", virGetLastErrorMessage());
}

static int lockop_run(const struct lockop *op, int *fd)
{
	struct lock_manager man = { .driver = drv };
	unsigned int flags;
	char conf[32];
	size_t i;
	int rc;

	snprintf(conf, sizeof(conf), "/proc/self/fd/%d", CHILD_CONF_FD);
	if (drv->init(LOCK_DRIVER_VERSION, conf, 0) < 0)
		return -1;
	if (lockd_vm_new(drv, &man, op->vm->name, op->vm->id, op->owner ? op->owner : getpid(),
			 op->op == OP_START ? NEW_STARTED : 0) < 0)
		return -1;

	for (i = 0; i < op->ndisks; i++) {
		rc = drv->add_resource(&man, RESOURCE_TYPE_DISK, op->disks[i].path,
				       0, NULL, op->disks[i].flags);
		if (rc < 0)
			goto out;
	}

	switch (op->op) {
	case OP_START:
		flags = ACQUIRE_RESTRICT | (op->vm->paused ? ACQUIRE_REGISTER_ONLY : 0);
		rc = drv->acquire(&man, NULL, flags, 0, fd);
		break;
	case OP_ACQUIRE:
		rc = drv->acquire(&man, NULL, 0, 0, NULL);
		break;
	default:
		rc = drv->release(&man, NULL, 0);
		break;
	}
out:
	drv->free(&man);
	return rc;
}

/* What the "open" command asks a running VM to do, as QEMU opening its disk. */
struct open_req {
	int flags;
	bool thread;		/* from a new thread, not the main one */
	char path[4096];
};

static void *open_in_thread(void *arg)
{
	struct open_req *req = arg;
	int fd = open(req->path, req->flags | O_CLOEXEC);

	return (void *)(intptr_t)(fd < 0 ? -errno : fd);
}

/* Open req's path and keep the fd, as a VM keeps its disks open. */
static void vm_open(struct open_req *req, struct reply *r)
{
	void *ret;
	pthread_t t;
	int fd;

	req->path[sizeof(req->path) - 1] = '\0';
	if (!req->thread)
		ret = open_in_thread(req);
	else if (pthread_create(&t, NULL, open_in_thread, req) || pthread_join(t, &ret))
		ret = (void *)(intptr_t)-EAGAIN;
	fd = (int)(intptr_t)ret;
	memset(r, 0, sizeof(*r));
	if (fd < 0) {
		r->code = VIR_ERR_SYSTEM_ERROR;
		snprintf(r->msg, sizeof(r->msg), "%s", strerror(-fd));
	} else {
		snprintf(r->msg, sizeof(r->msg), "fd %d pid %d", fd, (int)getpid());
	}
}

static void __attribute__((noreturn)) lockop_child(const struct lockop *op)
{
	struct open_req req;
	struct reply r = { 0 };
	sigset_t none;
	int fd = -1;

	if (lockop_run(op, &fd) < 0)
		fill_reply(&r);
	if (write(CHILD_CTL_FD, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	/* Replied: now take any SIGTERM the daemon sent meanwhile. */
	if (op->vm->ignore_term)
		signal(SIGTERM, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A VM lives on, holding fd (the daemon connection), until hung up on;
	 * meanwhile it opens files when told to. */
	if (op->op == OP_START)
		while (read(CHILD_CTL_FD, &req, sizeof(req)) == sizeof(req)) {
			vm_open(&req, &r);
			if (write(CHILD_CTL_FD, &r, sizeof(r)) != sizeof(r))
				_exit(1);
		}
	_exit(0);
}

static void __attribute__((noreturn)) child_fail(const char *what, const char *arg)
{
	struct reply r = { .code = -1 };

	snprintf(r.msg, sizeof(r.msg), "%s %s: %s", what, arg, strerror(errno));
	if (write(CHILD_CTL_FD, &r, sizeof(r)) < 0)
		_exit(1);
	_exit(1);
}

/* In the child: drop everything the parent had open but our two fds. */
static void __attribute__((noreturn)) child_enter(int ctl, const struct host *host,
						  const struct lockop *op)
{
	sigset_t term;
	int c, f;

	/*
	 * A daemon SIGTERMs a VM whose failed acquire left it holding leases,
	 * racing with its reply: hold SIGTERM until the reply is written.
	 */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_SETMASK, &term, NULL);

	c = fcntl(ctl, F_DUPFD, CHILD_CONF_FD + 1);
	f = fcntl(conf_fd, F_DUPFD, CHILD_CONF_FD + 1);
	if (c < 0 || f < 0 || dup2(c, CHILD_CTL_FD) < 0 || dup2(f, CHILD_CONF_FD) < 0)
		_exit(1);
	if (host && setns(host->nsfd, CLONE_NEWNS) < 0)
		child_fail("setns", host->name);
	close_range(CHILD_CONF_FD + 1, ~0U, 0);
	lockop_child(op);
}

/* Fork a child running @op; its pid is masked as @vm in messages, if set. */
static int spawn(const struct lockop *op, const struct host *host, const char *vm,
		 struct proc **procp, int *ctl)
{
	struct proc *p;
	int sv[2];
	pid_t pid;

	p = calloc(1, sizeof(*p));
	if (!p)
		return syserr("calloc");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(p);
		return syserr("socketpair");
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		free(p);
		close(sv[0]);
		close(sv[1]);
		return syserr("fork");
	}
	if (pid == 0)
		child_enter(sv[1], host, op);

	close(sv[1]);
	p->pid = pid;
	p->vm = vm;
	p->next = procs;
	procs = p;
	*procp = p;
	*ctl = sv[0];
	return 0;
}

/* ---- results ----------------------------------------------------------- */

/* Replace VM pids in a daemon message by <pid:NAME>: pids differ per run. */
static void mask_pids(const char *in, char *out, size_t len)
{
	size_t o = 0;
	const char *s = in;

	while (*s && o + 1 < len) {
		const char *e = s;
		struct proc *p = NULL;

		if (isdigit((unsigned char)*s) && (s == in || !isalnum((unsigned char)s[-1]))) {
			while (isdigit((unsigned char)*e))
				e++;
			if (!isalnum((unsigned char)*e))
				p = proc_find((pid_t)strtol(s, NULL, 10));
		}
		if (p && p->vm) {
			o += snprintf(out + o, len - o, "<pid:%s>", p->vm);
			s = e;
		} else {
			out[o++] = *s++;
		}
	}
	out[o < len ? o : len - 1] = '\0';
}

/* Turn a child's reply (or a failure to get one) into a transcript result. */
static int reply_result(int err, const struct reply *r, struct result *res)
{
	char msg[sizeof(r->msg) + 256];

	if (err == -ETIMEDOUT) {
		set_result(res, false, "error: no reply in %d ms", REPLY_TIMEOUT_MS);
		return 0;
	}
	if (err == -EPIPE) {
		set_result(res, false, "error: died before replying");
		return 0;
	}
	if (err < 0)
		return err;
	if (r->code < 0)
		return bad("%s", r->msg);
	if (!r->code) {
		set_result(res, true, "ok");
		return 0;
	}
	mask_pids(r->msg, msg, sizeof(msg));
	set_result(res, false, "error: %s", msg);
	return 0;
}

/* ---- VMs --------------------------------------------------------------- */

static struct vm *vm_find(const char *name)
{
	struct vm *vm;

	for (vm = vms; vm; vm = vm->next)
		if (!strcmp(vm->name, name))
			return vm;
	return NULL;
}

static bool vm_alive(const struct vm *vm)
{
	return vm->proc && !vm->proc->reaped;
}

static struct vm *vm_get(const char *name)
{
	struct vm *vm = vm_find(name);

	if (!vm)
		bad("no VM named %s", name);
	return vm;
}

static void vm_clear_disks(struct vm *vm)
{
	while (vm->ndisks)
		free(vm->disks[--vm->ndisks].path);
}

/* PATH[:ro|:shared] */
static int parse_disk(const char *arg, struct disk *d)
{
	const char *colon = strrchr(arg, ':');
	size_t len = strlen(arg);

	d->flags = 0;
	if (colon && !strcmp(colon, ":ro"))
		d->flags = RESOURCE_READONLY;
	else if (colon && !strcmp(colon, ":shared"))
		d->flags = RESOURCE_SHARED;
	else if (colon)
		return bad("bad disk flag in '%s' (want :ro or :shared)", arg);
	if (colon)
		len = colon - arg;
	if (!len || arg[0] != '/')
		return bad("disk '%s' is not an absolute path", arg);
	d->path = strndup(arg, len);
	return d->path ? 0 : syserr("strndup");
}

static int vm_add_disk(struct vm *vm, const struct disk *d)
{
	struct disk *nd = realloc(vm->disks, (vm->ndisks + 1) * sizeof(*nd));

	if (!nd)
		return syserr("realloc");
	vm->disks = nd;
	vm->disks[vm->ndisks++] = *d;
	return 0;
}

static void vm_remove_disk(struct vm *vm, const char *path)
{
	size_t i;

	for (i = 0; i < vm->ndisks; i++) {
		if (strcmp(vm->disks[i].path, path))
			continue;
		free(vm->disks[i].path);
		memmove(&vm->disks[i], &vm->disks[i + 1],
			(vm->ndisks - i - 1) * sizeof(vm->disks[0]));
		vm->ndisks--;
		return;
	}
}

static void vm_hangup(struct vm *vm)
{
	if (vm->ctl >= 0)
		close(vm->ctl);
	vm->ctl = -1;
}

static int vm_spawn(struct vm *vm)
{
	struct lockop op = {
		.op = OP_START, .vm = vm, .disks = vm->disks, .ndisks = vm->ndisks,
	};

	vm->id = next_vm_id++;
	return spawn(&op, vm->host, vm->name, &vm->proc, &vm->ctl);
}

/* Kill and reap a VM: before a retry, and at exit. */
static int vm_kill(struct vm *vm, int sig, int64_t deadline)
{
	if (!vm_alive(vm))
		return 0;
	if (kill(vm->proc->pid, sig) < 0 && errno != ESRCH)
		return syserr("kill");
	return wait_reaped(vm->proc, deadline);
}

static bool retry_due(const struct reply *r, int err, int64_t give_up)
{
	return !err && r->code == VIR_ERR_RESOURCE_BUSY && now_ms() + RETRY_PAUSE_MS < give_up;
}

/* Second half of "start": the VM's own acquire result, retried while busy. */
static int vm_collect(struct vm *vm, struct result *res)
{
	int64_t give_up = now_ms() + vm->retry_ms;
	struct reply r;
	int err;

	for (;;) {
		err = read_reply(vm->ctl, &r, now_ms() + REPLY_TIMEOUT_MS);
		if (!retry_due(&r, err, give_up))
			break;
		/* A fresh process per attempt, as a failed QEMU start would be. */
		vm_hangup(vm);
		err = vm_kill(vm, SIGKILL, now_ms() + WAIT_TIMEOUT_MS);
		if (!err)
			err = sleep_until(now_ms() + RETRY_PAUSE_MS);
		if (!err)
			err = vm_spawn(vm);
		if (err < 0)
			return err;
	}
	err = reply_result(err, &r, res);
	vm->failed = !res->ok;
	return err;
}

/* libvirtd's side: a helper acts on @disks with the VM's pid as owner. */
static int vm_libvirtd_op(struct vm *vm, enum lock_op kind, const struct disk *disks,
			  size_t ndisks, int64_t retry_ms, struct result *res)
{
	int64_t give_up = now_ms() + retry_ms;
	struct lockop op = {
		.op = kind, .vm = vm, .disks = disks, .ndisks = ndisks,
	};
	struct proc *helper;
	struct reply r;
	int err, ctl;

	if (!vm_alive(vm)) {
		set_result(res, false, "error: not running");
		return 0;
	}
	op.owner = vm->proc->pid;
	for (;;) {
		err = spawn(&op, vm->host, NULL, &helper, &ctl);
		if (err < 0)
			return err;
		err = read_reply(ctl, &r, now_ms() + REPLY_TIMEOUT_MS);
		close(ctl);
		if (wait_reaped(helper, now_ms() + WAIT_TIMEOUT_MS) < 0)
			return bad("libvirtd helper for %s did not exit", vm->name);
		if (!retry_due(&r, err, give_up))
			break;
		err = sleep_until(now_ms() + RETRY_PAUSE_MS);
		if (err < 0)
			return err;
	}
	return reply_result(err, &r, res);
}

/* ---- commands ---------------------------------------------------------- */

/* Options after the VM name: retry=DUR, and for start also the rest. */
static int parse_retry(const char *arg, int64_t *ms)
{
	if (strncmp(arg, "retry=", 6))
		return bad("unexpected '%s'", arg);
	return parse_duration(arg + 6, ms);
}

static int parse_signal(const char *arg, int *sig)
{
	const char *name = strncmp(arg, "SIG", 3) ? arg : arg + 3;
	int i;

	for (i = 1; i < NSIG; i++) {
		const char *abbrev = sigabbrev_np(i);

		if ((abbrev && !strcmp(abbrev, name)) || atoi(arg) == i) {
			*sig = i;
			return 0;
		}
	}
	return bad("unknown signal '%s'", arg);
}

static int cmd_plugin(int argc, char **argv, struct result *res)
{
	int fd, i;

	fd = memfd_create("lockd.conf", MFD_CLOEXEC);
	if (fd < 0)
		return syserr("memfd_create");
	for (i = 1; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		bool number;

		if (!eq || eq == argv[i]) {
			close(fd);
			return bad("plugin: want key=value, got '%s'", argv[i]);
		}
		number = eq[1] && strspn(eq + 1, "0123456789") == strlen(eq + 1);
		dprintf(fd, number ? "%.*s = %s\n" : "%.*s = \"%s\"\n",
			(int)(eq - argv[i]), argv[i], eq + 1);
	}
	if (conf_fd >= 0)
		close(conf_fd);
	conf_fd = fd;
	set_result(res, true, "ok");
	return 0;
}

static int cmd_host(int argc, char **argv, struct result *res)
{
	struct host *h;
	int fd;

	if (argc != 3)
		return bad("usage: host NAME NSPATH");
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return syserr(argv[2]);
	for (h = hosts; h && strcmp(h->name, argv[1]); h = h->next)
		;
	if (h) {
		close(h->nsfd);
	} else {
		h = calloc(1, sizeof(*h));
		if (!h || !(h->name = strdup(argv[1]))) {
			free(h);
			close(fd);
			return syserr("calloc");
		}
		h->next = hosts;
		hosts = h;
	}
	h->nsfd = fd;
	set_result(res, true, "ok");
	return 0;
}

static int mkdir_parents(const char *path)
{
	char buf[4096];
	char *s;

	snprintf(buf, sizeof(buf), "%s", path);
	for (s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return syserr(buf);
		*s = '/';
	}
	return 0;
}

static int cmd_image(int argc, char **argv, struct result *res)
{
	int i, fd, err;

	for (i = 1; i < argc; i++) {
		err = mkdir_parents(argv[i]);
		if (err < 0)
			return err;
		fd = open(argv[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return syserr(argv[i]);
		close(fd);
	}
	set_result(res, true, "ok");
	return 0;
}

static int cmd_start(int argc, char **argv, struct result *res)
{
	struct vm *vm = vm_find(argv[1]);
	struct disk d;
	int i, err;

	if (vm && vm_alive(vm) && !vm->failed)
		return bad("VM %s is already running", argv[1]);
	if (vm) {
		vm_hangup(vm);
		err = vm_kill(vm, SIGKILL, now_ms() + WAIT_TIMEOUT_MS);
		if (err < 0)
			return err;
	} else {
		vm = calloc(1, sizeof(*vm));
		if (!vm || !(vm->name = strdup(argv[1]))) {
			free(vm);
			return syserr("calloc");
		}
		vm->ctl = -1;
		vm->next = vms;
		vms = vm;
	}
	vm_clear_disks(vm);
	vm->paused = false;
	vm->ignore_term = false;
	vm->host = NULL;
	vm->retry_ms = 0;

	for (i = 2; i < argc; i++) {
		if (!strncmp(argv[i], "disk=", 5)) {
			err = parse_disk(argv[i] + 5, &d);
			if (!err)
				err = vm_add_disk(vm, &d);
		} else if (!strcmp(argv[i], "paused")) {
			vm->paused = true;
			err = 0;
		} else if (!strcmp(argv[i], "ignoreterm")) {
			vm->ignore_term = true;
			err = 0;
		} else if (argv[i][0] == '@') {
			for (vm->host = hosts; vm->host; vm->host = vm->host->next)
				if (!strcmp(vm->host->name, argv[i] + 1))
					break;
			err = vm->host ? 0 : bad("no host named %s", argv[i] + 1);
		} else {
			err = parse_retry(argv[i], &vm->retry_ms);
		}
		if (err < 0)
			return err;
	}
	return vm_spawn(vm);
}

static int cmd_start_collect(int argc, char **argv, struct result *res)
{
	return vm_collect(vm_find(argv[1]), res);
}

static int cmd_attach(int argc, char **argv, struct result *res)
{
	struct vm *vm = vm_get(argv[1]);
	int64_t retry_ms = 0;
	struct disk d;
	int err;

	if (!vm)
		return -EINVAL;
	if (argc < 3 || argc > 4)
		return bad("usage: attach VM PATH[:ro|:shared] [retry=DUR]");
	if (argc == 4 && (err = parse_retry(argv[3], &retry_ms)) < 0)
		return err;
	err = parse_disk(argv[2], &d);
	if (err < 0)
		return err;
	err = vm_libvirtd_op(vm, OP_ACQUIRE, &d, 1, retry_ms, res);
	if (!err && res->ok)
		return vm_add_disk(vm, &d);
	free(d.path);
	return err;
}

static int cmd_detach(int argc, char **argv, struct result *res)
{
	struct vm *vm = vm_get(argv[1]);
	struct disk d;
	int err;

	if (!vm)
		return -EINVAL;
	if (argc != 3)
		return bad("usage: detach VM PATH[:ro|:shared]");
	err = parse_disk(argv[2], &d);
	if (err < 0)
		return err;
	err = vm_libvirtd_op(vm, OP_RELEASE, &d, 1, 0, res);
	if (!err && res->ok)
		vm_remove_disk(vm, d.path);
	free(d.path);
	return err;
}

static int cmd_pause(int argc, char **argv, struct result *res)
{
	struct vm *vm = vm_get(argv[1]);

	if (!vm)
		return -EINVAL;
	if (argc != 2)
		return bad("usage: pause VM");
	return vm_libvirtd_op(vm, OP_RELEASE, vm->disks, vm->ndisks, 0, res);
}

static int cmd_resume(int argc, char **argv, struct result *res)
{
	struct vm *vm = vm_get(argv[1]);
	int64_t retry_ms = 0;
	int err;

	if (!vm)
		return -EINVAL;
	if (argc > 3)
		return bad("usage: resume VM [retry=DUR]");
	if (argc == 3 && (err = parse_retry(argv[2], &retry_ms)) < 0)
		return err;
	return vm_libvirtd_op(vm, OP_ACQUIRE, vm->disks, vm->ndisks, retry_ms, res);
}

/* Graceful stop: libvirtd releases the disks, then the VM exits by itself. */
static int cmd_stop(int argc, char **argv, struct result *res)
{
	struct vm *vm = vm_get(argv[1]);
	char how[64];
	int err;

	if (!vm)
		return -EINVAL;
	err = vm_libvirtd_op(vm, OP_RELEASE, vm->disks, vm->ndisks, 0, res);
	if (err < 0 || !vm_alive(vm))
		return err;
	vm_hangup(vm);
	if (wait_reaped(vm->proc, now_ms() + WAIT_TIMEOUT_MS) < 0)
		return bad("VM %s did not exit when told to", vm->name);
	if (res->ok && vm->proc->status)
		set_result(res, false, "error: %s",
			   status_str(vm->proc->status, how, sizeof(how)));
	return 0;
}

static int cmd_kill(int argc, char **argv, struct result *res)
{
	struct vm *vm = vm_get(argv[1]);
	int sig = SIGKILL;
	char how[64];
	int err;

	if (!vm)
		return -EINVAL;
	if (argc > 3)
		return bad("usage: kill VM [SIGNAL]");
	if (argc == 3 && (err = parse_signal(argv[2], &sig)) < 0)
		return err;
	if (!vm_alive(vm)) {
		set_result(res, false, "error: not running");
		return 0;
	}
	err = vm_kill(vm, sig, now_ms() + WAIT_TIMEOUT_MS);
	if (err == -ETIMEDOUT) {
		set_result(res, false, "error: still alive");
		return 0;
	}
	if (err < 0)
		return err;
	vm_hangup(vm);
	set_result(res, true, "%s", status_str(vm->proc->status, how, sizeof(how)));
	return 0;
}

/* Wait for a VM to die by someone else's hand, e.g. the daemon's SIGTERM. */
static int cmd_wait(int argc, char **argv, struct result *res)
{
	struct vm *vm = vm_get(argv[1]);
	int64_t timeout_ms = WAIT_TIMEOUT_MS;
	char how[64];
	int err;

	if (!vm)
		return -EINVAL;
	if (argc > 3)
		return bad("usage: wait VM [TIMEOUT]");
	if (argc == 3 && (err = parse_duration(argv[2], &timeout_ms)) < 0)
		return err;
	if (!vm->proc)
		return bad("VM %s was never started", vm->name);
	err = wait_reaped(vm->proc, now_ms() + timeout_ms);
	if (err == -ETIMEDOUT) {
		set_result(res, false, "still alive");
		return 0;
	}
	if (err < 0)
		return err;
	vm_hangup(vm);
	set_result(res, true, "%s", status_str(vm->proc->status, how, sizeof(how)));
	return 0;
}

/* open VM PATH [rw] [thread]: the VM itself opens PATH and keeps it open. */
static int cmd_open(int argc, char **argv, struct result *res)
{
	struct vm *vm = vm_get(argv[1]);
	struct open_req req = { .flags = O_RDONLY };
	struct reply r;
	int i, err;

	if (!vm)
		return -EINVAL;
	if (!vm_alive(vm) || vm->failed || vm->ctl < 0) {
		set_result(res, false, "error: not running");
		return 0;
	}
	snprintf(req.path, sizeof(req.path), "%s", argv[2]);
	for (i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "rw"))
			req.flags = O_RDWR;
		else if (!strcmp(argv[i], "thread"))
			req.thread = true;
		else
			return bad("usage: open VM PATH [rw] [thread]");
	}
	if (write(vm->ctl, &req, sizeof(req)) != sizeof(req))
		return syserr("write to VM");
	err = read_reply(vm->ctl, &r, now_ms() + REPLY_TIMEOUT_MS);
	if (!err && !r.code) {
		set_result(res, true, "ok %s", r.msg);
		return 0;
	}
	return reply_result(err, &r, res);
}

static int cmd_alive(int argc, char **argv, struct result *res)
{
	struct vm *vm = vm_get(argv[1]);
	char how[64];
	int err;

	if (!vm)
		return -EINVAL;
	if (!vm->proc)
		return bad("VM %s was never started", vm->name);
	/* Collect a death that is already pending before answering. */
	err = wait_event(-1, 0);
	if (err < 0)
		return err;
	if (vm_alive(vm))
		set_result(res, true, "yes");
	else
		set_result(res, false, "no: %s",
			   status_str(vm->proc->status, how, sizeof(how)));
	return 0;
}

static int cmd_sleep(int argc, char **argv, struct result *res)
{
	int64_t ms;
	int err;

	if (argc != 2)
		return bad("usage: sleep DURATION");
	err = parse_duration(argv[1], &ms);
	if (!err)
		err = sleep_until(now_ms() + ms);
	set_result(res, true, "ok");
	return err;
}

static int not_dot(const struct dirent *d)
{
	return strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
}

/*
 * Sorted "NAME:MODE" (NAME/ for a directory) of the entries in DIR: lets a
 * transcript show the lock files a daemon made, and their permissions.
 */
static int cmd_ls(int argc, char **argv, struct result *res)
{
	struct dirent **names;
	size_t len = 0;
	struct stat st;
	int i, n;

	if (argc != 2)
		return bad("usage: ls DIR");
	n = scandir(argv[1], &names, not_dot, alphasort);
	if (n < 0) {
		set_result(res, false, "error: %s", strerror(errno));
		return 0;
	}
	set_result(res, true, "%s", n ? "" : "(empty)");
	for (i = 0; i < n; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]->d_name);
		if (lstat(path, &st) < 0)
			st.st_mode = 0;
		if (len < sizeof(res->text))
			len += snprintf(res->text + len, sizeof(res->text) - len,
					"%s%s%s:%04o", i ? " " : "", names[i]->d_name,
					S_ISDIR(st.st_mode) ? "/" : "", st.st_mode & 07777);
		free(names[i]);
	}
	if (len >= sizeof(res->text))
		set_result(res, true, "%d entries", n);
	free(names);
	return 0;
}

struct cmd {
	const char *verb;
	int min_argc;		/* counting the verb */
	bool named;		/* the first argument belongs in the transcript label */
	int (*run)(int argc, char **argv, struct result *res);
	/* Optional second half: "parallel" launches every instance first. */
	int (*collect)(int argc, char **argv, struct result *res);
};

static const struct cmd cmds[] = {
	{ "plugin", 1, false, cmd_plugin, NULL },
	{ "host", 3, true, cmd_host, NULL },
	{ "image", 2, false, cmd_image, NULL },
	{ "start", 2, true, cmd_start, cmd_start_collect },
	{ "attach", 3, true, cmd_attach, NULL },
	{ "detach", 3, true, cmd_detach, NULL },
	{ "pause", 2, true, cmd_pause, NULL },
	{ "resume", 2, true, cmd_resume, NULL },
	{ "stop", 2, true, cmd_stop, NULL },
	{ "kill", 2, true, cmd_kill, NULL },
	{ "wait", 2, true, cmd_wait, NULL },
	{ "alive", 2, true, cmd_alive, NULL },
	{ "open", 3, true, cmd_open, NULL },
	{ "sleep", 2, true, cmd_sleep, NULL },
	{ "ls", 2, true, cmd_ls, NULL },
};

static const struct cmd *cmd_find(int argc, char **argv)
{
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].verb, argv[0]))
			continue;
		if (argc < cmds[i].min_argc) {
			bad("%s: missing arguments", argv[0]);
			return NULL;
		}
		return &cmds[i];
	}
	bad("unknown command '%s'", argv[0]);
	return NULL;
}

static void label(const struct cmd *c, char **argv, char *buf, size_t len)
{
	if (c->named)
		snprintf(buf, len, "%s %s", argv[0], argv[1]);
	else
		snprintf(buf, len, "%s", argv[0]);
}

static int run_one(const struct cmd *c, int argc, char **argv, struct result *res)
{
	int err = c->run(argc, argv, res);

	if (!err && c->collect)
		err = c->collect(argc, argv, res);
	return err;
}

/* Every "%d" in @in replaced by @i. */
static char *subst_index(const char *in, int i)
{
	char num[16], *out, *o;
	const char *s;
	size_t n = 0;

	snprintf(num, sizeof(num), "%d", i);
	for (s = in; (s = strstr(s, "%d")); s += 2)
		n++;
	out = malloc(strlen(in) + n * strlen(num) + 1);
	if (!out)
		return NULL;
	for (o = out, s = in; *s; ) {
		if (s[0] == '%' && s[1] == 'd') {
			o = stpcpy(o, num);
			s += 2;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

static void free_argvs(char ***argvs, int n, int argc)
{
	int i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; argvs[i] && j < argc; j++)
			free(argvs[i][j]);
		free(argvs[i]);
	}
	free(argvs);
}

/* parallel N VERB ARGS...: instances 1..N with %d = the instance number. */
static int cmd_parallel(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[1]) : 0;
	int sub_argc = argc - 2, i, j, nok = 0, first_fail = -1, err = 0;
	struct result *res = NULL;
	char ***argvs = NULL;
	const struct cmd *c;
	char lbl[256];

	if (n <= 0)
		return bad("usage: parallel N COMMAND [ARGS...]");
	c = cmd_find(sub_argc, argv + 2);
	if (!c)
		return -EINVAL;
	argvs = calloc(n, sizeof(*argvs));
	res = calloc(n, sizeof(*res));
	if (!argvs || !res) {
		err = syserr("calloc");
		goto out;
	}
	for (i = 0; i < n; i++) {
		argvs[i] = calloc(sub_argc + 1, sizeof(char *));
		for (j = 0; argvs[i] && j < sub_argc; j++)
			if (!(argvs[i][j] = subst_index(argv[2 + j], i + 1)))
				break;
		if (!argvs[i] || j < sub_argc) {
			err = syserr("malloc");
			goto out;
		}
	}
	for (i = 0; i < n && !err; i++)
		err = c->run(sub_argc, argvs[i], &res[i]);
	for (i = 0; i < n && !err && c->collect; i++)
		err = c->collect(sub_argc, argvs[i], &res[i]);
	if (err)
		goto out;

	for (i = 0; i < n; i++) {
		if (res[i].ok)
			nok++;
		else if (first_fail < 0)
			first_fail = i;
	}
	printf("parallel %d %s: %d ok", n, c->verb, nok);
	if (first_fail >= 0) {
		label(c, argvs[first_fail], lbl, sizeof(lbl));
		printf(", %d failed; first: %s: %s", n - nok, lbl, res[first_fail].text);
	}
	printf("\n");
out:
	if (argvs)
		free_argvs(argvs, n, sub_argc);
	free(res);
	return err;
}

/* Expand $NAME and ${NAME} from the environment. */
static char *expand_env(const char *tok)
{
	char *out = NULL, name[128];
	size_t len = 0;
	FILE *f;

	f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	while (*tok) {
		bool brace = tok[0] == '$' && tok[1] == '{';
		const char *s = tok + 1 + brace, *val;
		size_t n;

		if (*tok != '$' || !(isalpha((unsigned char)*s) || *s == '_')) {
			fputc(*tok++, f);
			continue;
		}
		n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
		snprintf(name, sizeof(name), "%.*s", (int)n, s);
		if (brace && s[n] != '}') {
			bad("unterminated ${%s", name);
			goto fail;
		}
		val = getenv(name);
		if (!val) {
			bad("$%s is not set", name);
			goto fail;
		}
		fputs(val, f);
		tok = s + n + brace;
	}
	if (fclose(f))
		return NULL;
	return out;
fail:
	fclose(f);
	free(out);
	return NULL;
}

#define MAX_ARGS 64

static int run_line(char *line)
{
	char *argv[MAX_ARGS + 1], *tok, *save = NULL, lbl[256];
	struct result res = { 0 };
	const struct cmd *c;
	int argc = 0, err = 0, i;

	for (tok = strtok_r(line, " \t\r\n", &save); tok && tok[0] != '#';
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (argc == MAX_ARGS) {
			err = bad("more than %d words", MAX_ARGS);
			goto out;
		}
		argv[argc] = expand_env(tok);
		if (!argv[argc]) {
			err = -EINVAL;
			goto out;
		}
		argc++;
	}
	argv[argc] = NULL;
	if (!argc)
		goto out;
	if (!strcmp(argv[0], "parallel")) {
		err = cmd_parallel(argc, argv);
		goto out;
	}
	c = cmd_find(argc, argv);
	if (!c) {
		err = -EINVAL;
		goto out;
	}
	err = run_one(c, argc, argv, &res);
	if (!err) {
		label(c, argv, lbl, sizeof(lbl));
		printf("%s: %s\n", lbl, res.text);
	}
out:
	fflush(stdout);
	for (i = 0; i < argc; i++)
		free(argv[i]);
	return err;
}

static void kill_all(void)
{
	int64_t deadline = now_ms() + WAIT_TIMEOUT_MS;
	struct vm *vm;

	for (vm = vms; vm; vm = vm->next)
		if (vm_alive(vm))
			kill(vm->proc->pid, SIGKILL);
	for (vm = vms; vm; vm = vm->next) {
		if (vm->proc)
			wait_reaped(vm->proc, deadline);
		vm_hangup(vm);
	}
}

static int setup(void)
{
	char *plugin_argv[] = { "plugin", NULL };
	struct result res;
	sigset_t chld;
	char err[256];

	if (lockd_plugin_load(&drv, err, sizeof(err)) < 0)
		return bad("%s", err);

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0)
		return syserr("signalfd");
	signal(SIGPIPE, SIG_IGN);

	return cmd_plugin(1, plugin_argv, &res);
}

int main(int argc, char **argv)
{
	FILE *in = stdin;
	char *line = NULL;
	size_t cap = 0;
	int err;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: %s [SCRIPT]\n", argv[0]);
		return 2;
	}
	if (argc == 2) {
		script_name = argv[1];
		in = fopen(script_name, "r");
		if (!in) {
			perror(script_name);
			return 2;
		}
	}
	err = setup();
	while (!err && getline(&line, &cap, in) > 0) {
		lineno++;
		err = run_line(line);
	}
	kill_all();
	free(line);
	return err < 0 ? 2 : 0;
}

# lockwarden: lockwardend (a virtlockd-compatible lock daemon), its BPF and
# fanotify monitors, tools and selftests.
#
#   make            build everything into $(BUILD)/
#   make test       install deps, build, run selftests/ (T=pattern to filter)
#   make test SAN=1 the same with ASan+UBSan, built in build-san/
#   make test-libvirt  end to end with real libvirtd and QEMU (selftests/libvirt/)
#   make test-kernels the guard's tests in guests of Debian's kernel (lsm, fexit)
#   make fuzz       run each libFuzzer target FUZZ_SECONDS (60) seconds
#   make test-hosts two Debian-kernel guests as two hosts sharing NFSv4.2
#   make bench      print benchmark figures against virtlockd and baselines
#                   (T="cycles load": those sections; BASE=<rev>: that
#                   revision's lockwardend too, after / before)
#   make run        install deps, build, run lockwardend in the foreground
#   make install    DESTDIR=... PREFIX=/usr
#   make deb        the Debian package, in $(BUILD)/deb/ (DEB_VERSION=... to override)
#   make test-package  build it, lintian, install/upgrade/remove/purge it live
#   V=1             show the commands

# SAN=1 builds everything with ASan+UBSan, in a directory of its own
ifeq ($(SAN),1)
BUILD	?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
BUILD	?= build
PREFIX	?= /usr
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR	?= $(PREFIX)/lib/systemd/system
VERSION	:= 0.1.0

CC	?= gcc
CLANG	?= clang
BPFTOOL	?= bpftool
ARCH	:= $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

CFLAGS	?= -O2 -g
WARN	:= -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	   -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# userspace/, by layer, lowest first: each folder is one archive.
LAYERS	:= lib rpc audit lockd guard daemon
ALL_CFLAGS := $(CPPFLAGS) $(CFLAGS) $(WARN) $(SANFLAGS) -std=gnu11 -D_GNU_SOURCE \
	-DLW_VERSION=\"$(VERSION)\" -I include $(LAYERS:%=-I userspace/%) -I $(BUILD)
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS)
LIBS	:= -lbpf -lelf -lz -ljson-c -lnettle

ifneq ($(V),1)
Q	:= @
msg	= @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SUFFIXES:
# Not intermediates to delete: every object depends on the skeletons.
.SECONDARY:

# Code shared by the daemon, the tools and the tests: one archive a layer,
# linked highest layer first so each takes only what it uses.
LIB_SRCS := $(filter-out userspace/daemon/main.c,$(wildcard $(LAYERS:%=userspace/%/*.c)))
LIB_OBJS := $(LIB_SRCS:userspace/%.c=$(BUILD)/obj/%.o)
ARCHIVES := $(foreach l,$(LAYERS),$(BUILD)/lib/liblw$(l).a)
LINK_ALL := $(foreach l,daemon guard lockd audit rpc lib,$(BUILD)/lib/liblw$(l).a)
DEPS	 = $(shell find $(BUILD) -name '*.d' 2>/dev/null)

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/bpf/%.bpf.o)
SKELS	 := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.skel.h)

TOOLS	:= $(patsubst tools/%.c,$(BUILD)/%,$(wildcard tools/*.c))
TESTS	:= $(patsubst selftests/%.c,$(BUILD)/selftests/%,\
	   $(filter-out selftests/lockd_plugin.c selftests/oldkernel.c,$(wildcard selftests/*.c)))
# LD_PRELOAD libraries the tests run a daemon with; no sanitizer in them.
PRELOADS := $(BUILD)/selftests/oldkernel.so
# Test programs that drive libvirt's own lockd.so.
PLUGIN_TESTS := $(BUILD)/selftests/vmharness $(BUILD)/selftests/lockbench
# libFuzzer targets (fuzz_*.c, each linked with the other .c files there),
# with the library rebuilt by clang for coverage and sanitizers.
FUZZERS	:= $(patsubst selftests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard selftests/fuzz/fuzz_*.c))
FUZZ_COMMON := $(filter-out selftests/fuzz/fuzz_%.c,$(wildcard selftests/fuzz/*.c))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := $(filter-out $(SANFLAGS),$(ALL_CFLAGS)) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_OBJS := $(LIB_SRCS:userspace/%.c=$(BUILD)/fuzz/obj/%.o)
DEPFLAGS := -MMD -MP
FUZZ_SECONDS ?= 60

.PHONY: all deps test test-kernels test-libvirt test-hosts bench run install clean fuzz progs \
	deb test-package
all: $(BUILD)/lockwardend $(TOOLS) $(TESTS) $(PRELOADS)

# What is installed: the daemon and the tools, not the tests.
progs: $(BUILD)/lockwardend $(TOOLS)

deps:
	$(Q)bash scripts/deps.sh

$(BUILD)/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h $(wildcard include/*.h)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I include -I $(BUILD) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# What each object includes is in its .d file (-MMD); the skeletons come
# first (order only), as bpfmon.c includes one.
$(BUILD)/obj/%.o: userspace/%.c | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c $< -o $@

define archive_rule
$(BUILD)/lib/liblw$(1).a: $(filter $(BUILD)/obj/$(1)/%,$(LIB_OBJS))
	$$(call msg,AR,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call archive_rule,$(l))))

$(BUILD)/lockwardend: $(BUILD)/obj/daemon/main.o $(LINK_ALL)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) $^ $(LIBS) -o $@

# The layers each tool and test program links, highest first, so that a
# change in a layer relinks only the programs that use it. config.c (the
# daemon's config, which lockwarden-audit and test_guardpolicy read) checks
# guard and leasecheck keys, and leasecheck.c needs the daemon: so those two
# link every layer.
LINK_lockwardenctl	:= audit rpc lib
LINK_lockwarden-audit	:= daemon guard lockd audit rpc lib
LINK_test_guardpolicy	:= daemon guard lockd audit rpc lib
LINK_auditbench		:= audit lib
LINK_libbench		:= lib
LINK_guardbench		:= rpc lib
LINK_loadgen		:= rpc lib
LINK_nullresponder	:= rpc lib
LINK_rpcprobe		:= rpc lib
LINK_hashbench		:= lib
LINK_guardopen		:=
LINK_leaseprobe		:=
LINK_lockyank		:=
LINK_sockact		:=
LINKED	:= $(TOOLS) $(filter-out $(PLUGIN_TESTS) $(BUILD)/selftests/fuseblock,$(TESTS))
$(foreach p,$(LINKED),$(if $(filter undefined,$(origin LINK_$(notdir $(p)))),\
	$(error $(p): no LINK_$(notdir $(p)) in the Makefile: the layers it links)))
$(foreach p,$(LINKED),$(eval $(p): $(LINK_$(notdir $(p)):%=$(BUILD)/lib/liblw%.a)))

$(BUILD)/%: tools/%.c
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) $< $(filter %.a,$^) $(LIBS) -o $@

# The libraries the hand-written pieces are measured against (make bench).
$(BUILD)/selftests/libbench: selftests/libbench.c
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(shell pkg-config --cflags glib-2.0 libtirpc) \
		$(ALL_LDFLAGS) $< $(filter %.a,$^) $(shell pkg-config --libs glib-2.0 libtirpc) -o $@

$(PLUGIN_TESTS): $(BUILD)/selftests/%: selftests/%.c selftests/lockd_plugin.c selftests/lockd_plugin.h
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $< selftests/lockd_plugin.c -lvirt -ldl -o $@

$(PRELOADS): $(BUILD)/selftests/%.so: selftests/%.c
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(filter-out $(SANFLAGS),$(ALL_CFLAGS)) -fPIC -shared $< -ldl -o $@

# The FUSE filesystem the guard's tests stall the fanotify monitor with:
# libfuse3 for it alone.
$(BUILD)/selftests/fuseblock: selftests/fuseblock.c
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $$(pkg-config --cflags fuse3) $(ALL_LDFLAGS) $< \
		$$(pkg-config --libs fuse3) -o $@

$(BUILD)/selftests/%: selftests/%.c
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) $< $(filter %.a,$^) $(LIBS) -luring -o $@

$(BUILD)/fuzz/obj/%.o: userspace/%.c | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/fuzz/liblockwarden.a: $(FUZZ_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/%: selftests/fuzz/%.c $(FUZZ_COMMON) $(BUILD)/fuzz/liblockwarden.a
	$(call msg,LINK,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(DEPFLAGS) -I selftests/fuzz -fsanitize=fuzzer $< $(FUZZ_COMMON) \
		$(BUILD)/fuzz/liblockwarden.a $(LIBS) -o $@

fuzz: deps $(FUZZERS)
	$(Q)BUILD=$(abspath $(BUILD)) FUZZ_SECONDS=$(FUZZ_SECONDS) bash selftests/fuzz/run.sh $(T)

test: deps all
	$(Q)BUILD=$(abspath $(BUILD)) SAN=$(SAN) bash selftests/run.sh $(T)

test-kernels: deps all
	$(Q)BUILD=$(abspath $(BUILD)) bash selftests/kernels.sh $(T)
test-hosts: deps all
	$(Q)BUILD=$(abspath $(BUILD)) bash selftests/hosts/run.sh
test-libvirt: deps all
	$(Q)BUILD=$(abspath $(BUILD)) SUITE=libvirt TEST_TIMEOUT=$${TEST_TIMEOUT:-600} \
		bash selftests/run.sh $(T)

# make bench BASE=<rev>: that revision's lockwardend measured alongside
# ours, built once (git archive, then its own make) in $(BUILD)/base-<rev>/.
ifneq ($(BASE),)
BASE_REV := $(shell git rev-parse --short=12 --verify -q '$(BASE)^{commit}')
ifeq ($(BASE_REV),)
$(error BASE=$(BASE): not a commit of this repository)
endif
BASE_DIR := $(abspath $(BUILD))/base-$(BASE_REV)
BASE_LOCKWARDEND := $(BASE_DIR)/build/lockwardend

$(BASE_LOCKWARDEND):
	$(call msg,BASE,$(BASE_REV) in $(BASE_DIR))
	$(Q)rm -rf $(BASE_DIR)/src && mkdir -p $(BASE_DIR)/src
	$(Q)git archive $(BASE_REV) | tar -x -C $(BASE_DIR)/src
	$(Q)env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(MAKE) -C $(BASE_DIR)/src -j2 \
		BUILD=$(BASE_DIR)/build $@ >$(BASE_DIR)/make.log 2>&1 || \
		{ tail -n 20 $(BASE_DIR)/make.log; exit 1; }
endif

bench: deps all $(BASE_LOCKWARDEND)
	$(Q)BUILD=$(abspath $(BUILD)) LOCKWARDEND_BASE=$(BASE_LOCKWARDEND) bash selftests/bench.sh $(T)

run: deps all
	$(BUILD)/lockwardend -v

install: $(BUILD)/lockwardend $(TOOLS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/libvirt $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BUILD)/lockwardend $(DESTDIR)$(SBINDIR)/lockwardend
	$(if $(TOOLS),install -m 0755 $(TOOLS) $(DESTDIR)$(BINDIR)/)
	for u in packaging/*.service packaging/*.socket; do \
		sed 's|@SBINDIR@|$(SBINDIR)|g' $$u > $(DESTDIR)$(UNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; \
	done
	install -m 0644 packaging/lockwardend.conf $(DESTDIR)$(SYSCONFDIR)/libvirt/lockwardend.conf.sample
	$(if $(wildcard man/*.5),install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/)
	$(if $(wildcard man/*.8),install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/)

# The Debian package: the tree (without build output) and packaging/debian
# staged in $(BUILD)/deb/, built there by dpkg-buildpackage, whose make
# must not inherit ours (BUILD= passed down would make its clean remove ours).
DEB_VERSION ?= $(VERSION)
DEB_SRC := $(BUILD)/deb/lockwarden-$(DEB_VERSION)

deb: deps
	$(call msg,DEB,$(BUILD)/deb/lockwarden_$(DEB_VERSION)_$(shell dpkg --print-architecture).deb)
	$(Q)rm -rf $(DEB_SRC) && mkdir -p $(DEB_SRC)
	$(Q)tar -c --exclude=./.git --exclude='./build*' --exclude=./packaging/debian . | \
		tar -x -C $(DEB_SRC)
	$(Q)cp -r packaging/debian $(DEB_SRC)/debian
	$(Q)if [ "$(DEB_VERSION)" != "$$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)" ]; then \
		{ printf 'lockwarden (%s) unstable; urgency=medium\n\n  * Built with DEB_VERSION=%s.\n\n -- %s  %s\n\n' \
			"$(DEB_VERSION)" "$(DEB_VERSION)" \
			"$$(dpkg-parsechangelog -l packaging/debian/changelog -S Maintainer)" "$$(date -R)"; \
		  cat packaging/debian/changelog; } >$(DEB_SRC)/debian/changelog; \
	fi
	$(Q)cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD -u SAN -u V \
		dpkg-buildpackage -b -us -uc -J >../build-$(DEB_VERSION).log 2>&1 || \
		{ tail -n 30 ../build-$(DEB_VERSION).log; exit 1; }

test-package: deb $(BUILD)/selftests/vmharness
	$(Q)BUILD=$(abspath $(BUILD)) bash selftests/package.sh

clean:
	rm -rf $(BUILD)

-include $(DEPS)

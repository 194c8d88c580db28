# lockwarden: lockwardend (a virtlockd-compatible lock daemon), its BPF and
# fanotify monitors, tools and selftests.
#
#   make            build everything into $(BUILD)/
#   make test       install deps, build, run selftests/ (T=pattern to filter)
#   make test SAN=1 the same with ASan+UBSan, built in build-san/
#   make test-kernels the guard's tests in guests of Debian's kernel (lsm, fexit)
#   make fuzz       run each libFuzzer target FUZZ_SECONDS (60) seconds
#   make bench      print benchmark figures against virtlockd and baselines
#   make run        install deps, build, run lockwardend in the foreground
#   make install    DESTDIR=... PREFIX=/usr
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
ALL_CFLAGS := $(CFLAGS) $(WARN) $(SANFLAGS) -std=gnu11 -D_GNU_SOURCE \
	-DLW_VERSION=\"$(VERSION)\" -I include -I userspace -I $(BUILD)
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS)
LIBS	:= -lbpf -lelf -lz -ljson-c

ifneq ($(V),1)
Q	:= @
msg	= @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SUFFIXES:
# Not intermediates to delete: every object depends on the skeletons.
.SECONDARY:

# Code shared by the daemon, the tools and the tests.
LIB_SRCS := $(filter-out userspace/main.c,$(wildcard userspace/*.c))
LIB_OBJS := $(LIB_SRCS:userspace/%.c=$(BUILD)/obj/%.o)
DAEMON_OBJS := $(BUILD)/obj/main.o $(LIB_OBJS)

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/bpf/%.bpf.o)
SKELS	 := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.skel.h)

TOOLS	:= $(patsubst tools/%.c,$(BUILD)/%,$(wildcard tools/*.c))
TESTS	:= $(patsubst selftests/%.c,$(BUILD)/selftests/%,\
	   $(filter-out selftests/lockd_plugin.c,$(wildcard selftests/*.c)))
# Test programs that drive libvirt's own lockd.so.
PLUGIN_TESTS := $(BUILD)/selftests/vmharness $(BUILD)/selftests/lockbench
# libFuzzer targets (fuzz_*.c, each linked with the other .c files there),
# with the library rebuilt by clang for coverage and sanitizers.
FUZZERS	:= $(patsubst selftests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard selftests/fuzz/fuzz_*.c))
FUZZ_COMMON := $(filter-out selftests/fuzz/fuzz_%.c,$(wildcard selftests/fuzz/*.c))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := $(filter-out $(SANFLAGS),$(ALL_CFLAGS)) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_OBJS := $(LIB_SRCS:userspace/%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_SECONDS ?= 60

.PHONY: all deps test test-kernels bench run install clean fuzz
all: $(BUILD)/lockwardend $(TOOLS) $(TESTS)

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

$(BUILD)/obj/%.o: userspace/%.c $(wildcard userspace/*.h include/*.h) $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/liblockwarden.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/lockwardend: $(BUILD)/obj/main.o $(BUILD)/liblockwarden.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) $^ $(LIBS) -o $@

$(BUILD)/%: tools/%.c $(BUILD)/liblockwarden.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $< $(BUILD)/liblockwarden.a $(LIBS) -o $@

$(PLUGIN_TESTS): $(BUILD)/selftests/%: selftests/%.c selftests/lockd_plugin.c selftests/lockd_plugin.h
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $< selftests/lockd_plugin.c -lvirt -ldl -o $@

$(BUILD)/selftests/%: selftests/%.c $(BUILD)/liblockwarden.a
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $< $(BUILD)/liblockwarden.a $(LIBS) -luring -o $@

$(BUILD)/fuzz/obj/%.o: userspace/%.c $(wildcard userspace/*.h include/*.h) $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/liblockwarden.a: $(FUZZ_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/%: selftests/fuzz/%.c $(FUZZ_COMMON) $(wildcard selftests/fuzz/*.h) \
		$(BUILD)/fuzz/liblockwarden.a
	$(call msg,LINK,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -I selftests/fuzz -fsanitize=fuzzer $< $(FUZZ_COMMON) \
		$(BUILD)/fuzz/liblockwarden.a $(LIBS) -o $@

fuzz: deps $(FUZZERS)
	$(Q)BUILD=$(abspath $(BUILD)) FUZZ_SECONDS=$(FUZZ_SECONDS) bash selftests/fuzz/run.sh $(T)

test: deps all
	$(Q)BUILD=$(abspath $(BUILD)) SAN=$(SAN) bash selftests/run.sh $(T)

test-kernels: deps all
	$(Q)BUILD=$(abspath $(BUILD)) bash selftests/kernels.sh $(T)

bench: deps all
	$(Q)BUILD=$(abspath $(BUILD)) bash selftests/bench.sh

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

clean:
	rm -rf $(BUILD)

# SPDX-License-Identifier: GPL-2.0
#
# make                 build zcrx.ko for the running kernel, or for
#                      KERNELRELEASE=<release> / KDIR=<kernel build dir>
# make lib             libzcrx.so (+ .a, libzcrx.pc) in build/lib
# make tests           host unit tests and guest test programs in build/tests
# make examples        example programs in build/examples
# make check           everything, then the QEMU guest suite (scripts/check.sh)
# make demo            boot a guest and stream data through the example receiver

VERSION      := $(shell cat VERSION)
SOVERSION    := $(firstword $(subst ., ,$(VERSION)))
KERNELRELEASE ?= $(shell uname -r)
KDIR         ?= /lib/modules/$(KERNELRELEASE)/build
PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include

B            := build
CC           ?= cc
CFLAGS       ?= -O2 -g
WARN         := -Wall -Wextra -Werror=implicit-function-declaration -Wshadow \
		-Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS_ALL := -Iinclude/uapi -Ilib/include -Itests/lib -D_GNU_SOURCE
LIB_OBJS     := $(B)/lib/zcrx.o

.PHONY: all module lib tests examples check demo bench bench-progs clean modules_clean

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

modules_clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean

# ---- libzcrx ----
lib: $(B)/lib/libzcrx.so $(B)/lib/libzcrx.a $(B)/lib/libzcrx.pc

$(B)/lib/%.o: lib/%.c lib/include/zcrx.h include/uapi/linux/zcrxdev.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden $(CPPFLAGS_ALL) -c -o $@ $<

$(B)/lib/libzcrx.so.$(VERSION): $(LIB_OBJS) lib/libzcrx.map
	$(CC) $(CFLAGS) -shared -Wl,-soname,libzcrx.so.$(SOVERSION) \
		-Wl,--version-script=lib/libzcrx.map -Wl,-z,defs -o $@ $(LIB_OBJS)

$(B)/lib/libzcrx.so: $(B)/lib/libzcrx.so.$(VERSION)
	ln -sf libzcrx.so.$(VERSION) $(B)/lib/libzcrx.so.$(SOVERSION)
	ln -sf libzcrx.so.$(VERSION) $@

$(B)/lib/libzcrx.a: $(LIB_OBJS)
	$(AR) rcs $@ $^

$(B)/lib/libzcrx.pc: lib/libzcrx.pc.in VERSION
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# ---- tests and examples (linked against the shared library) ----
LINK_ZCRX := -L$(B)/lib -lzcrx -Wl,-rpath,'$$ORIGIN/lib:$$ORIGIN/../lib'
UNIT_SRCS  := $(wildcard tests/unit/t_*.c)
UNIT_SH    := $(wildcard tests/unit/t_*.sh)
GUEST_SRCS := $(wildcard tests/guest/t_*.c)
GUEST_SH   := $(wildcard tests/guest/t_*.sh)
HELPER_SRCS := $(wildcard tests/guest/helpers/*.c)
EX_SRCS    := $(wildcard examples/*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRCS)) \
	      $(patsubst tests/unit/%,$(B)/tests/unit/%,$(UNIT_SH))
GUEST_BINS := $(patsubst tests/guest/%.c,$(B)/tests/guest/%,$(GUEST_SRCS)) \
	      $(patsubst tests/guest/helpers/%.c,$(B)/tests/guest/%,$(HELPER_SRCS)) \
	      $(patsubst examples/%.c,$(B)/tests/guest/%,$(EX_SRCS)) \
	      $(patsubst tests/guest/%,$(B)/tests/guest/%,$(GUEST_SH))
EX_BINS    := $(patsubst examples/%.c,$(B)/examples/%,$(EX_SRCS))
TEST_HDRS  := $(wildcard tests/lib/*.h) lib/include/zcrx.h include/uapi/linux/zcrxdev.h

tests: lib $(UNIT_BINS) $(GUEST_BINS) $(B)/tests/guest/lib/libzcrx.so.$(SOVERSION)

# The guest finds the library next to the tests (rpath $ORIGIN/lib).
$(B)/tests/guest/lib/libzcrx.so.$(SOVERSION): $(B)/lib/libzcrx.so
	@mkdir -p $(@D)
	cp -L $(B)/lib/libzcrx.so.$(SOVERSION) $@
examples: lib $(EX_BINS)

$(B)/tests/unit/%: tests/unit/%.c $(TEST_HDRS) $(B)/lib/libzcrx.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(B)/lib/libzcrx.a -lpthread

$(B)/tests/guest/%: tests/guest/%.c $(TEST_HDRS) $(B)/lib/libzcrx.so
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(LINK_ZCRX) -lpthread

$(B)/tests/guest/%: tests/guest/helpers/%.c $(TEST_HDRS) $(B)/lib/libzcrx.so
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(LINK_ZCRX) -lpthread

$(B)/tests/guest/%: examples/%.c $(TEST_HDRS) $(B)/lib/libzcrx.so
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(LINK_ZCRX)

$(B)/tests/unit/%.sh: tests/unit/%.sh
	@mkdir -p $(@D)
	cp $< $@

$(B)/tests/guest/%.sh: tests/guest/%.sh
	@mkdir -p $(@D)
	cp $< $@

$(B)/examples/%: examples/%.c lib/include/zcrx.h $(B)/lib/libzcrx.so
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(LINK_ZCRX)

# ---- benchmarks (bench/*.c, run by scripts/bench.sh in a guest) ----
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRCS))

bench-progs: lib $(BENCH_BINS) $(B)/bench/lib/libzcrx.so.$(SOVERSION)

$(B)/bench/lib/libzcrx.so.$(SOVERSION): $(B)/lib/libzcrx.so
	@mkdir -p $(@D)
	cp -L $(B)/lib/libzcrx.so.$(SOVERSION) $@

$(B)/bench/%: bench/%.c $(wildcard bench/*.h) lib/include/zcrx.h $(B)/lib/libzcrx.so
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -Ibench -o $@ $< $(LINK_ZCRX) -luring -lpthread

bench: bench-progs
	@scripts/bench.sh

# ---- the two commands README gives ----
check: lib tests
	@scripts/check.sh

demo: lib tests
	@scripts/demo.sh

clean:
	rm -rf $(B)
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null

# SPDX-License-Identifier: GPL-2.0
#
# make                 build zcrx.ko for the running kernel, or for
#                      KERNELRELEASE=<release> / KDIR=<kernel build dir>
# make lib             libzcrx.so (+ .a, libzcrx.pc) in build/lib
# make tests           host unit tests and guest test programs in build/tests
# make examples        example programs in build/examples
# make deps            install the Debian packages the targets below need
# make check           deps, everything, then the QEMU guest suite (scripts/check.sh)
# make install         library, headers, libzcrx.pc, man pages, udev rule
#                      (DESTDIR, PREFIX, LIBDIR, INCLUDEDIR, MANDIR, UDEVRULESDIR)
# make uninstall       remove what "make install" installed
# make dkms-install    module sources to $(DESTDIR)/usr/src/zcrx-VERSION for DKMS
# make dkms-uninstall  remove them again (after "dkms remove zcrx/VERSION --all")
# make demo            boot a guest and stream data through the example receiver
# make bench           boot a guest and run the receive benchmark (scripts/bench.sh)
# make bench-progs-7x  build/bench/iouzcrx-receiver, the receiver with io_uring
#                      zcrx (Linux 7.1+), static, in the trixie chroot
# make deb             Debian packages in build/deb: zcrx-dkms, libzcrx0,
#                      libzcrx-dev (debian/, dpkg-buildpackage)

VERSION      := $(shell cat VERSION)
SOVERSION    := $(firstword $(subst ., ,$(VERSION)))
KERNELRELEASE ?= $(shell uname -r)
KDIR         ?= /lib/modules/$(KERNELRELEASE)/build
PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# udev reads /lib/udev/rules.d (packages) and /etc/udev/rules.d (local
# admin); a /usr/local install is a local one.
UDEVRULESDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/udev/rules.d,/etc/udev/rules.d)
DKMSDIR      ?= /usr/src/zcrx-$(VERSION)
INSTALL      ?= install

B            := build
CC           ?= cc
CFLAGS       ?= -O2 -g
WARN         := -Wall -Wextra -Werror=implicit-function-declaration -Wshadow \
		-Wstrict-prototypes -Wmissing-prototypes
# lib/include is laid out as installed: zcrx.h, and zcrx/zcrxdev.h (a link
# to the UAPI header, include/uapi/linux/zcrxdev.h, which the module uses).
CPPFLAGS_ALL := -Ilib/include -Itests/lib -D_GNU_SOURCE
UAPI_H       := include/uapi/linux/zcrxdev.h
LIB_OBJS     := $(B)/lib/zcrx.o

.PHONY: all module lib tests examples check demo bench bench-progs bench-progs-7x clean modules_clean deps
.PHONY: install uninstall dkms-install dkms-uninstall deb

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

modules_clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean

# ---- libzcrx ----
lib: $(B)/lib/libzcrx.so $(B)/lib/libzcrx.a $(B)/lib/libzcrx.pc

# CPPFLAGS and LDFLAGS: the hardening flags of dpkg-buildflags (debian/rules).
$(B)/lib/%.o: lib/%.c lib/include/zcrx.h $(UAPI_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden $(CPPFLAGS_ALL) -c -o $@ $<

$(B)/lib/libzcrx.so.$(VERSION): $(LIB_OBJS) lib/libzcrx.map
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libzcrx.so.$(SOVERSION) \
		-Wl,--version-script=lib/libzcrx.map -Wl,-z,defs -o $@ $(LIB_OBJS)

$(B)/lib/libzcrx.so: $(B)/lib/libzcrx.so.$(VERSION)
	ln -sf libzcrx.so.$(VERSION) $(B)/lib/libzcrx.so.$(SOVERSION)
	ln -sf libzcrx.so.$(VERSION) $@

$(B)/lib/libzcrx.a: $(LIB_OBJS)
	$(AR) rcs $@ $^

# libzcrx.pc from its template, with the paths of this PREFIX.
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	     -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	     lib/libzcrx.pc.in

$(B)/lib/libzcrx.pc: lib/libzcrx.pc.in VERSION
	$(PC_SED) > $@

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
TEST_HDRS  := $(wildcard tests/lib/*.h) lib/include/zcrx.h $(UAPI_H)
# The test helpers (tests/lib/*.c), compiled once into one archive that
# every host and guest test links.
TESTLIB_OBJS := $(patsubst tests/lib/%.c,$(B)/tests/lib/%.o,$(wildcard tests/lib/*.c))
TESTLIB    := $(B)/tests/lib/libtests.a

# Tests whose source is gone (renamed, split) must not stay in build/ to
# be run again: the guest runs every t_* it finds there.
STALE_TESTS := $(filter-out $(UNIT_BINS) $(GUEST_BINS),\
	       $(wildcard $(B)/tests/unit/t_* $(B)/tests/guest/t_*))

tests: lib $(UNIT_BINS) $(GUEST_BINS) $(B)/tests/guest/lib/libzcrx.so.$(SOVERSION) \
	$(B)/tests/guest/lib/tap.sh
	$(if $(STALE_TESTS),rm -f $(STALE_TESTS))

# A copy of the library for programs that find it by rpath ($ORIGIN/lib):
# a new file renamed over the old, never cp onto it.  cp truncates and
# rewrites the inode that a running program (the host's nic sender) has
# mapped, and truncation drops even its relocated private pages (SIGSEGV
# at its exit; tests/unit/t_bench_sender.sh).
define copy_lib
@mkdir -p $(@D)
cp -L $(B)/lib/libzcrx.so.$(SOVERSION) $@.tmp
mv -f $@.tmp $@
endef

# The guest finds the library next to the tests (rpath $ORIGIN/lib).
$(B)/tests/guest/lib/libzcrx.so.$(SOVERSION): $(B)/lib/libzcrx.so
	$(copy_lib)
# The shell tests' TAP helper, as /tests/lib/tap.sh.
$(B)/tests/guest/lib/tap.sh: tests/lib/tap.sh
	@mkdir -p $(@D)
	cp $< $@
examples: lib $(EX_BINS)

$(B)/tests/lib/%.o: tests/lib/%.c $(TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -c -o $@ $<

$(TESTLIB): $(TESTLIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# t_kring: the module's ring.c and buf.c themselves, over a shim of the
# kernel headers they use (tests/unit/shim/ comes first on the path).
KRING_SRCS := module/ring.c module/buf.c
KRING_HDRS := module/ring.h module/buf.h module/mem.h $(wildcard tests/unit/shim/*.h tests/unit/shim/*/*.h)
$(B)/tests/unit/t_kring: tests/unit/t_kring.c $(KRING_SRCS) $(KRING_HDRS) $(TEST_HDRS) $(TESTLIB) $(B)/lib/libzcrx.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -Itests/unit/shim -Imodule -Iinclude/uapi $(CPPFLAGS_ALL) -o $@ $< \
		$(KRING_SRCS) $(TESTLIB) $(B)/lib/libzcrx.a -lpthread

$(B)/tests/unit/%: tests/unit/%.c $(TEST_HDRS) $(TESTLIB) $(B)/lib/libzcrx.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(TESTLIB) $(B)/lib/libzcrx.a -lpthread

$(B)/tests/guest/%: tests/guest/%.c $(TEST_HDRS) $(TESTLIB) $(B)/lib/libzcrx.so
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(TESTLIB) $(LINK_ZCRX) -lpthread

$(B)/tests/guest/%: tests/guest/helpers/%.c $(TEST_HDRS) $(TESTLIB) $(B)/lib/libzcrx.so
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(TESTLIB) $(LINK_ZCRX) -lpthread

$(B)/tests/guest/%: examples/%.c $(TEST_HDRS) $(B)/lib/libzcrx.so
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(LINK_ZCRX) $(EX_LIBS)

$(B)/tests/unit/%.sh: tests/unit/%.sh
	@mkdir -p $(@D)
	cp $< $@

$(B)/tests/guest/%.sh: tests/guest/%.sh
	@mkdir -p $(@D)
	cp $< $@

$(B)/examples/%: examples/%.c lib/include/zcrx.h $(B)/lib/libzcrx.so
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(LINK_ZCRX) $(EX_LIBS)

# Libraries an example needs besides libzcrx (EX_LIBS, per program).
$(B)/examples/zcrx_store $(B)/tests/guest/zcrx_store: EX_LIBS := -luring

# ---- benchmarks (bench/*.c, run by scripts/bench.sh in a guest) ----
# One program per file, but bench/iouzcrx.c: methods of the receiver
# that only the 7.x build below has.
BENCH_SRCS := $(filter-out bench/iouzcrx.c,$(wildcard bench/*.c))
BENCH_BINS := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRCS))

bench-progs: lib $(BENCH_BINS) $(B)/bench/lib/libzcrx.so.$(SOVERSION)

$(B)/bench/lib/libzcrx.so.$(SOVERSION): $(B)/lib/libzcrx.so
	$(copy_lib)

$(B)/bench/%: bench/%.c $(wildcard bench/*.h) lib/include/zcrx.h $(B)/lib/libzcrx.so
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -Ibench -o $@ $< $(LINK_ZCRX) -luring -lpthread

# The receiver with the io_uring zcrx methods (iouzcrx, iouzcrx-batch):
# it needs the 7.x UAPI (ZCRX_REG_NODEV, IORING_REGISTER_ZCRX_CTRL) and a
# liburing with CQE32 support, so it is built in the trixie chroot
# (scripts/vm/chroot.sh: liburing-dev, linux-libc-dev of trixie-backports),
# statically (the guest carries the host's Debian 12 libraries), with
# libzcrx compiled in.  scripts/bench.sh builds it when the bench kernel is
# a 7.x one.  The recipe of $(B)/bench/iouzcrx-receiver runs in the chroot.
IOU_SRCS := bench/receiver.c bench/iouzcrx.c lib/zcrx.c
IOU_ZCRX_H := /usr/include/linux/io_uring/zcrx.h

bench-progs-7x:
	@scripts/vm/chroot.sh ensure >/dev/null
	scripts/vm/chroot.sh run $(MAKE) --no-print-directory $(B)/bench/iouzcrx-receiver

$(B)/bench/iouzcrx-receiver: $(IOU_SRCS) $(wildcard bench/*.h) lib/include/zcrx.h $(UAPI_H)
	@grep -qs ZCRX_REG_NODEV $(IOU_ZCRX_H) || { echo "$(IOU_ZCRX_H) has no ZCRX_REG_NODEV:" \
		"install linux-libc-dev from trixie-backports in the chroot" >&2; exit 1; }
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -Ibench -DBENCH_IOUZCRX -static -o $@ \
		$(IOU_SRCS) -luring -lpthread

bench: deps
	@$(MAKE) --no-print-directory bench-progs
	@scripts/bench.sh

# ---- install (DESTDIR for staging; nothing here builds the module) ----
# Man pages: man/man3/*.3 and man/man7/*.7 (alias pages are ".so" links).
MAN_PAGES  := $(wildcard man/man3/*.3 man/man7/*.7)
UDEV_RULE  := scripts/udev/70-zcrx.rules
# What DKMS builds from: the kbuild file, the module, the UAPI header, the
# version, the recipe.  Not compat_probed.h: it is made per kernel.
DKMS_SRCS  := Kbuild VERSION dkms.conf $(UAPI_H) \
	      $(filter-out module/compat_probed.h,$(wildcard module/*.c module/*.h)) \
	      $(wildcard module/*.sh)

install: lib
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(INCLUDEDIR)/zcrx $(DESTDIR)$(UDEVRULESDIR)
	$(INSTALL) -m 0755 $(B)/lib/libzcrx.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libzcrx.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libzcrx.so.$(SOVERSION)
	ln -sf libzcrx.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libzcrx.so
	$(INSTALL) -m 0644 $(B)/lib/libzcrx.a $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 0644 lib/include/zcrx.h $(DESTDIR)$(INCLUDEDIR)/
	@# <zcrx/zcrxdev.h>, not <linux/...>: linux-libc-dev owns that directory.
	$(INSTALL) -m 0644 $(UAPI_H) $(DESTDIR)$(INCLUDEDIR)/zcrx/
	@# Made here, not copied from build/: the paths are the install's.
	$(PC_SED) > $(DESTDIR)$(PKGCONFIGDIR)/libzcrx.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/libzcrx.pc
	set -e; for p in $(MAN_PAGES); do \
		s=$${p##*.}; $(INSTALL) -d $(DESTDIR)$(MANDIR)/man$$s; \
		$(INSTALL) -m 0644 $$p $(DESTDIR)$(MANDIR)/man$$s/; \
	done
	$(INSTALL) -m 0644 $(UDEV_RULE) $(DESTDIR)$(UDEVRULESDIR)/
	@# The loader's cache must learn the new library (not when staging).
	@if [ -z "$(DESTDIR)" ] && command -v ldconfig >/dev/null && [ -w /etc ]; then \
		echo ldconfig; ldconfig; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libzcrx.so.$(VERSION) \
	      $(DESTDIR)$(LIBDIR)/libzcrx.so.$(SOVERSION) \
	      $(DESTDIR)$(LIBDIR)/libzcrx.so $(DESTDIR)$(LIBDIR)/libzcrx.a \
	      $(DESTDIR)$(PKGCONFIGDIR)/libzcrx.pc \
	      $(DESTDIR)$(INCLUDEDIR)/zcrx.h $(DESTDIR)$(INCLUDEDIR)/zcrx/zcrxdev.h \
	      $(DESTDIR)$(UDEVRULESDIR)/$(notdir $(UDEV_RULE)) \
	      $(foreach p,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(notdir $(p)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/zcrx 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && command -v ldconfig >/dev/null && [ -w /etc ]; then \
		echo ldconfig; ldconfig; fi

# Then: dkms install zcrx/$(VERSION)  (adds, builds and installs it for the
# running kernel; -k RELEASE for another).
dkms-install:
	rm -rf $(DESTDIR)$(DKMSDIR)
	set -e; for f in $(DKMS_SRCS); do \
		$(INSTALL) -D -m $$(if [ -x $$f ]; then echo 0755; else echo 0644; fi) \
			$$f $(DESTDIR)$(DKMSDIR)/$$f; \
	done

dkms-uninstall:
	rm -rf $(DESTDIR)$(DKMSDIR)

# ---- Debian packages (debian/ holds the packaging) ----
deb: deps
	@scripts/deb-build.sh $(B)/deb

# ---- the two commands README gives ----
# The Debian packages the targets below need; quick once they are there.
deps:
	@scripts/deps.sh

# Each sets itself up first: a fresh clone needs nothing run before it.
check: deps
	@$(MAKE) --no-print-directory lib tests
	@scripts/check.sh

demo: deps
	@$(MAKE) --no-print-directory lib tests
	@scripts/demo.sh

clean:
	rm -rf $(B)
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null

// SPDX-License-Identifier: MIT
/*
 * The user/kernel contract of zcrxdev.h (group "uapi").
 *
 * This translation unit includes zcrxdev.h by the name libzcrx installs it
 * under, <zcrx/zcrxdev.h>, then linux/io_uring.h (which
 * owns the ZCRX_* and zcrx_* names on newer kernels) and libzcrx's zcrx.h:
 * that it compiles at all is the no-collision check.
 *
 * The layout is frozen twice: by _Static_assert, so a change does not even
 * build, and by run-time checks that report each structure by name.  Every
 * size and offset below is written down as it is today; a change to any of
 * them is an ABI break and needs a new structure or a new ioctl number.
 *
 * The header's names are checked at run time by reading the header itself:
 * include/uapi/linux/zcrxdev.h from the current directory (the repository
 * top), or the file named by $ZCRX_UAPI_HEADER.
 */
#include <zcrx/zcrxdev.h>	/* first: it must be self-contained */
#include <linux/io_uring.h>
#include <zcrx.h>

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define UAPI_HEADER	"include/uapi/linux/zcrxdev.h"

#define FSIZE(T, f)	sizeof(((struct T *)0)->f)

/*
 * X(type, field, offset, alignment): every field of every structure, in
 * order.  alignment is that of the field's scalar type (8 for __u64 and for
 * structures holding one): a field at a multiple of it sits at the same
 * offset on every ABI, including i386 and compat, where __u64 is 4-aligned.
 */
#define REGION_FIELDS(X)				\
	X(zcrxdev_region, offset, 0, 8)			\
	X(zcrxdev_region, size, 8, 8)

#define RING_OFFSETS_FIELDS(X)				\
	X(zcrxdev_ring_offsets, head, 0, 4)		\
	X(zcrxdev_ring_offsets, tail, 4, 4)		\
	X(zcrxdev_ring_offsets, flags, 8, 4)		\
	X(zcrxdev_ring_offsets, entries, 12, 4)		\
	X(zcrxdev_ring_offsets, wake_min, 16, 4)	\
	X(zcrxdev_ring_offsets, resv, 20, 4)

#define SETUP_FIELDS(X)					\
	X(zcrxdev_setup, flags, 0, 4)			\
	X(zcrxdev_setup, buf_size, 4, 4)		\
	X(zcrxdev_setup, nr_bufs, 8, 4)			\
	X(zcrxdev_setup, cq_entries, 12, 4)		\
	X(zcrxdev_setup, rq_entries, 16, 4)		\
	X(zcrxdev_setup, win_pages, 20, 4)		\
	X(zcrxdev_setup, resv1, 24, 8)			\
	X(zcrxdev_setup, pool, 56, 8)			\
	X(zcrxdev_setup, cq, 72, 8)			\
	X(zcrxdev_setup, rq, 88, 8)			\
	X(zcrxdev_setup, cq_off, 104, 4)		\
	X(zcrxdev_setup, rq_off, 136, 4)		\
	X(zcrxdev_setup, features, 168, 4)		\
	X(zcrxdev_setup, map_threshold, 172, 4)		\
	X(zcrxdev_setup, win, 176, 8)			\
	X(zcrxdev_setup, resv3, 192, 8)

#define ATTACH_FIELDS(X)				\
	X(zcrxdev_attach, fd, 0, 4)			\
	X(zcrxdev_attach, flags, 4, 4)			\
	X(zcrxdev_attach, tag, 8, 8)			\
	X(zcrxdev_attach, resv, 16, 8)

#define DETACH_FIELDS(X)				\
	X(zcrxdev_detach, fd, 0, 4)			\
	X(zcrxdev_detach, flags, 4, 4)			\
	X(zcrxdev_detach, resv, 8, 8)

#define STATS_FIELDS(X)					\
	X(zcrxdev_stats, flags, 0, 4)			\
	X(zcrxdev_stats, resv0, 4, 4)			\
	X(zcrxdev_stats, bytes_copied, 8, 8)		\
	X(zcrxdev_stats, bytes_zerocopy, 16, 8)		\
	X(zcrxdev_stats, completions, 24, 8)		\
	X(zcrxdev_stats, stalls, 32, 8)			\
	X(zcrxdev_stats, refill_entries, 40, 8)		\
	X(zcrxdev_stats, refill_bad, 48, 8)		\
	X(zcrxdev_stats, sockets_attached, 56, 8)	\
	X(zcrxdev_stats, sockets_total, 64, 8)		\
	X(zcrxdev_stats, eof, 72, 8)			\
	X(zcrxdev_stats, errors, 80, 8)			\
	X(zcrxdev_stats, wakeups, 88, 8)		\
	X(zcrxdev_stats, bufs_free, 96, 8)		\
	X(zcrxdev_stats, bufs_pending, 104, 8)		\
	X(zcrxdev_stats, bytes_sent, 112, 8)		\
	X(zcrxdev_stats, bytes_mapped, 120, 8)		\
	X(zcrxdev_stats, map_fallbacks, 128, 8)		\
	X(zcrxdev_stats, zap_calls, 136, 8)		\
	X(zcrxdev_stats, pages_zapped, 144, 8)		\
	X(zcrxdev_stats, recv_calls, 152, 8)		\
	X(zcrxdev_stats, resv, 160, 8)

#define CLAIM_FIELDS(X)					\
	X(zcrxdev_claim, flags, 0, 4)			\
	X(zcrxdev_claim, count, 4, 4)			\
	X(zcrxdev_claim, offs, 8, 8)			\
	X(zcrxdev_claim, resv, 16, 8)

#define SEND_FIELDS(X)					\
	X(zcrxdev_send, fd, 0, 4)			\
	X(zcrxdev_send, flags, 4, 4)			\
	X(zcrxdev_send, off, 8, 8)			\
	X(zcrxdev_send, len, 16, 4)			\
	X(zcrxdev_send, resv0, 20, 4)			\
	X(zcrxdev_send, tag, 24, 8)			\
	X(zcrxdev_send, resv, 32, 8)

#define RECV_FIELDS(X)					\
	X(zcrxdev_recv, flags, 0, 4)			\
	X(zcrxdev_recv, timeout_us, 4, 4)			\
	X(zcrxdev_recv, resv, 8, 8)

#define PINS_FIELDS(X)					\
	X(zcrxdev_pins, flags, 0, 4)			\
	X(zcrxdev_pins, count, 4, 4)			\
	X(zcrxdev_pins, resv, 8, 8)

#define CQE_FIELDS(X)					\
	X(zcrxdev_cqe, tag, 0, 8)			\
	X(zcrxdev_cqe, off, 8, 8)			\
	X(zcrxdev_cqe, len, 16, 4)			\
	X(zcrxdev_cqe, flags, 20, 4)			\
	X(zcrxdev_cqe, error, 24, 4)			\
	X(zcrxdev_cqe, resv, 28, 4)

#define RQE_FIELDS(X)					\
	X(zcrxdev_rqe, off, 0, 8)			\
	X(zcrxdev_rqe, flags, 8, 4)			\
	X(zcrxdev_rqe, resv, 12, 4)

/* Field sizes of the arrays and nested structures, as they are today. */
_Static_assert(FSIZE(zcrxdev_ring_offsets, resv) == 12, "ring_offsets.resv");
_Static_assert(FSIZE(zcrxdev_setup, resv1) == 32, "setup.resv1");
_Static_assert(FSIZE(zcrxdev_setup, pool) == 16, "setup.pool");
_Static_assert(FSIZE(zcrxdev_setup, cq_off) == 32, "setup.cq_off");
_Static_assert(FSIZE(zcrxdev_setup, win) == 16, "setup.win");
_Static_assert(FSIZE(zcrxdev_setup, resv3) == 16, "setup.resv3");
_Static_assert(FSIZE(zcrxdev_attach, resv) == 16, "attach.resv");
_Static_assert(FSIZE(zcrxdev_detach, resv) == 16, "detach.resv");
_Static_assert(FSIZE(zcrxdev_stats, resv) == 104, "stats.resv");
_Static_assert(FSIZE(zcrxdev_claim, resv) == 16, "claim.resv");
_Static_assert(FSIZE(zcrxdev_send, resv) == 16, "send.resv");
_Static_assert(FSIZE(zcrxdev_recv, resv) == 16, "recv.resv");
_Static_assert(FSIZE(zcrxdev_pins, resv) == 16, "pins.resv");

/* Offsets and natural alignment of every field. */
#define X_STATIC(T, f, off, al)						\
	_Static_assert(offsetof(struct T, f) == (off), #T "." #f " offset"); \
	_Static_assert((off) % (al) == 0, #T "." #f " alignment");
REGION_FIELDS(X_STATIC)
RING_OFFSETS_FIELDS(X_STATIC)
SETUP_FIELDS(X_STATIC)
ATTACH_FIELDS(X_STATIC)
DETACH_FIELDS(X_STATIC)
STATS_FIELDS(X_STATIC)
CLAIM_FIELDS(X_STATIC)
SEND_FIELDS(X_STATIC)
RECV_FIELDS(X_STATIC)
PINS_FIELDS(X_STATIC)
CQE_FIELDS(X_STATIC)
RQE_FIELDS(X_STATIC)

/* Sizes: multiples of 8, and exactly the sum of the fields (no padding). */
#define X_SUM(T, f, off, al)	+ FSIZE(T, f)
#define STATIC_SIZE(T, FIELDS, size)					\
	_Static_assert(sizeof(struct T) == (size), #T " size");		\
	_Static_assert(sizeof(struct T) % 8 == 0, #T " size % 8");	\
	_Static_assert(0 FIELDS(X_SUM) == sizeof(struct T), #T " padding")
STATIC_SIZE(zcrxdev_region, REGION_FIELDS, 16);
STATIC_SIZE(zcrxdev_ring_offsets, RING_OFFSETS_FIELDS, 32);
STATIC_SIZE(zcrxdev_setup, SETUP_FIELDS, 208);
STATIC_SIZE(zcrxdev_attach, ATTACH_FIELDS, 32);
STATIC_SIZE(zcrxdev_detach, DETACH_FIELDS, 24);
STATIC_SIZE(zcrxdev_stats, STATS_FIELDS, 264);
STATIC_SIZE(zcrxdev_claim, CLAIM_FIELDS, 32);
STATIC_SIZE(zcrxdev_send, SEND_FIELDS, 48);
STATIC_SIZE(zcrxdev_recv, RECV_FIELDS, 24);
STATIC_SIZE(zcrxdev_pins, PINS_FIELDS, 24);
STATIC_SIZE(zcrxdev_cqe, CQE_FIELDS, 32);
STATIC_SIZE(zcrxdev_rqe, RQE_FIELDS, 16);

/* X(name, command, direction, size, nr): every ioctl. */
#define IOCTLS(X)							\
	X(setup, ZCRXDEV_IOC_SETUP, _IOC_READ | _IOC_WRITE, 208, 0x01)	\
	X(attach, ZCRXDEV_IOC_ATTACH, _IOC_READ | _IOC_WRITE, 32, 0x02) \
	X(detach, ZCRXDEV_IOC_DETACH, _IOC_READ | _IOC_WRITE, 24, 0x03) \
	X(wake, ZCRXDEV_IOC_WAKE, _IOC_NONE, 0, 0x04)			\
	X(stats, ZCRXDEV_IOC_STATS, _IOC_READ | _IOC_WRITE, 264, 0x05)	\
	X(claim, ZCRXDEV_IOC_CLAIM, _IOC_READ | _IOC_WRITE, 32, 0x06)	\
	X(send, ZCRXDEV_IOC_SEND, _IOC_READ | _IOC_WRITE, 48, 0x07)	\
	X(recv, ZCRXDEV_IOC_RECV, _IOC_READ | _IOC_WRITE, 24, 0x08)	\
	X(pins, ZCRXDEV_IOC_PINS, _IOC_READ | _IOC_WRITE, 24, 0x09)

#define X_IOC_STATIC(name, cmd, dir, size, nr)				\
	_Static_assert(_IOC_DIR(cmd) == (dir), #name " direction");	\
	_Static_assert(_IOC_SIZE(cmd) == (size), #name " size");	\
	_Static_assert(_IOC_TYPE(cmd) == 0xba, #name " magic");		\
	_Static_assert(_IOC_NR(cmd) == (nr) && (nr) <= 0x1f, #name " nr");
IOCTLS(X_IOC_STATIC)

/* The numbers themselves, where the encoding is asm-generic's (x86, arm). */
#if _IOC_NRBITS == 8 && _IOC_TYPEBITS == 8 && _IOC_SIZEBITS == 14 && \
	_IOC_DIRBITS == 2 && _IOC_WRITE == 1U && _IOC_READ == 2U
#define IOC_GENERIC 1
_Static_assert(ZCRXDEV_IOC_SETUP == 0xc0d0ba01u, "setup number");
_Static_assert(ZCRXDEV_IOC_ATTACH == 0xc020ba02u, "attach number");
_Static_assert(ZCRXDEV_IOC_DETACH == 0xc018ba03u, "detach number");
_Static_assert(ZCRXDEV_IOC_WAKE == 0x0000ba04u, "wake number");
_Static_assert(ZCRXDEV_IOC_STATS == 0xc108ba05u, "stats number");
_Static_assert(ZCRXDEV_IOC_CLAIM == 0xc020ba06u, "claim number");
_Static_assert(ZCRXDEV_IOC_SEND == 0xc030ba07u, "send number");
_Static_assert(ZCRXDEV_IOC_RECV == 0xc018ba08u, "recv number");
_Static_assert(ZCRXDEV_IOC_PINS == 0xc018ba09u, "pins number");
#else
#define IOC_GENERIC 0
#endif

/* Constants. */
_Static_assert(ZCRXDEV_VERSION_MAJOR == 0 && ZCRXDEV_VERSION_MINOR == 2, "version");
_Static_assert(ZCRXDEV_IOC_MAGIC == 0xba, "magic");
_Static_assert(ZCRXDEV_BUF_SIZE_MIN == 4096 && ZCRXDEV_BUF_SIZE_MAX == 65536, "buf size");
_Static_assert(ZCRXDEV_RING_MIN == 8 && ZCRXDEV_RING_MAX == 32768, "ring size");
_Static_assert(ZCRXDEV_POOL_MAX_BYTES == 1ull << 32, "pool max");
_Static_assert(ZCRXDEV_RING_NEED_WAKEUP == 1 && ZCRXDEV_RING_DATA_READY == 2,
	       "ring flags");
_Static_assert(ZCRXDEV_FEAT_ZEROCOPY_POOL_PAGES == 1 && ZCRXDEV_FEAT_MAP == 2 &&
	       ZCRXDEV_FEAT_DEFER == 4, "features");
_Static_assert(ZCRXDEV_SETUP_WRITABLE == 1 && ZCRXDEV_SETUP_MAP == 2 &&
	       ZCRXDEV_SETUP_MAP_ALWAYS == 4 && ZCRXDEV_SETUP_DEFER == 8 &&
	       ZCRXDEV_SETUP_FLAGS == 15, "setup flags");
_Static_assert(ZCRXDEV_WIN_PAGES_MAX == 1u << 20, "window max");
_Static_assert(ZCRXDEV_CQE_COPIED == 1 && ZCRXDEV_CQE_ZEROCOPY == 2 &&
	       ZCRXDEV_CQE_EOF == 4 && ZCRXDEV_CQE_ERROR == 8 &&
	       ZCRXDEV_CQE_SENT == 16 && ZCRXDEV_CQE_MAPPED == 32, "cqe flags");

/* --------------------------------------------------- run-time layout */

struct field {
	const char	*name;
	size_t		off, want_off, size, align;
};

struct layout {
	const char		*name;		/* check-name prefix */
	size_t			size, want_size;
	const struct field	*f;
	unsigned int		n;
};

#define X_ROW(T, f, o, al)	{ #f, offsetof(struct T, f), (o), FSIZE(T, f), (al) },
#define LAYOUT(nm, T, FIELDS, sz)					\
	{ nm, sizeof(struct T), (sz), (const struct field[]){ FIELDS(X_ROW) }, \
	  sizeof((const struct field[]){ FIELDS(X_ROW) }) / sizeof(struct field) }

static void check_layout(const struct layout *l)
{
	char name[64], why[128] = "";
	size_t end = 0, sum = 0;
	unsigned int i;
	int bad_off = 0, bad_gap = 0, bad_align = 0;

	for (i = 0; i < l->n; i++) {
		const struct field *f = &l->f[i];

		if (f->off != f->want_off && !bad_off++)
			snprintf(why, sizeof(why), "%s at %zu, want %zu", f->name,
				 f->off, f->want_off);
		bad_gap += f->off != end;
		bad_align += f->off % f->align != 0;
		end = f->off + f->size;
		sum += f->size;
	}
	snprintf(name, sizeof(name), "%s_size", l->name);
	CHECK(name, l->size == l->want_size && l->size % 8 == 0,
	      "sizeof %zu, want %zu (a multiple of 8)", l->size, l->want_size);
	snprintf(name, sizeof(name), "%s_offsets", l->name);
	CHECK(name, !bad_off, "%d fields moved; first: %s", bad_off, why);
	snprintf(name, sizeof(name), "%s_no_padding", l->name);
	CHECK(name, !bad_gap && sum == l->size && end == l->size,
	      "fields sum to %zu of %zu bytes, %d holes, last ends at %zu", sum,
	      l->size, bad_gap, end);
	snprintf(name, sizeof(name), "%s_natural_align", l->name);
	CHECK(name, !bad_align, "%d fields not naturally aligned", bad_align);
}

static void test_layouts(void)
{
	const struct layout layouts[] = {
		LAYOUT("region", zcrxdev_region, REGION_FIELDS, 16),
		LAYOUT("ring_offsets", zcrxdev_ring_offsets, RING_OFFSETS_FIELDS, 32),
		LAYOUT("setup", zcrxdev_setup, SETUP_FIELDS, 208),
		LAYOUT("attach", zcrxdev_attach, ATTACH_FIELDS, 32),
		LAYOUT("detach", zcrxdev_detach, DETACH_FIELDS, 24),
		LAYOUT("stats", zcrxdev_stats, STATS_FIELDS, 264),
		LAYOUT("claim", zcrxdev_claim, CLAIM_FIELDS, 32),
		LAYOUT("send", zcrxdev_send, SEND_FIELDS, 48),
		LAYOUT("recv", zcrxdev_recv, RECV_FIELDS, 24),
		LAYOUT("pins", zcrxdev_pins, PINS_FIELDS, 24),
		LAYOUT("cqe", zcrxdev_cqe, CQE_FIELDS, 32),
		LAYOUT("rqe", zcrxdev_rqe, RQE_FIELDS, 16),
	};
	unsigned int i;

	for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		check_layout(&layouts[i]);
}

/* ------------------------------------------------------ run-time ioctls */

struct ioc {
	const char	*name;
	unsigned long	cmd;
	unsigned int	dir, size, nr;
};

static void check_ioctl(const struct ioc *c)
{
	char name[64];

	snprintf(name, sizeof(name), "ioc_%s_dir", c->name);
	CHECK(name, _IOC_DIR(c->cmd) == c->dir, "direction %lu, want %u",
	      (unsigned long)_IOC_DIR(c->cmd), c->dir);
	snprintf(name, sizeof(name), "ioc_%s_size", c->name);
	CHECK(name, _IOC_SIZE(c->cmd) == c->size, "size %lu, want %u",
	      (unsigned long)_IOC_SIZE(c->cmd), c->size);
	snprintf(name, sizeof(name), "ioc_%s_magic", c->name);
	CHECK(name, _IOC_TYPE(c->cmd) == ZCRXDEV_IOC_MAGIC && ZCRXDEV_IOC_MAGIC == 0xba,
	      "type %#lx, want 0xba", (unsigned long)_IOC_TYPE(c->cmd));
	snprintf(name, sizeof(name), "ioc_%s_nr", c->name);
	CHECK(name, _IOC_NR(c->cmd) == c->nr && c->nr <= 0x1f, "nr %#lx, want %#x",
	      (unsigned long)_IOC_NR(c->cmd), c->nr);
}

#define X_IOC_ROW(nm, c, d, sz, n)	{ #nm, (c), (d), (sz), (n) },

static void test_ioctls(void)
{
	static const struct ioc iocs[] = { IOCTLS(X_IOC_ROW) };
	static const unsigned long generic[] = {
		0xc0d0ba01ul, 0xc020ba02ul, 0xc018ba03ul, 0x0000ba04ul, 0xc108ba05ul,
		0xc020ba06ul, 0xc030ba07ul, 0xc018ba08ul, 0xc018ba09ul,
	};
	const unsigned int n = sizeof(iocs) / sizeof(iocs[0]);
	unsigned int i, j, same = 0, bad = 0;

	for (i = 0; i < n; i++)
		check_ioctl(&iocs[i]);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			same += _IOC_NR(iocs[i].cmd) == _IOC_NR(iocs[j].cmd);
	CHECK("ioc_distinct_nr", !same, "%u pairs share a number", same);
	if (!IOC_GENERIC) {
		tap_skip("ioc_values", "not the asm-generic ioctl encoding");
		return;
	}
	for (i = 0; i < n; i++)
		bad += iocs[i].cmd != generic[i];
	CHECK("ioc_values", !bad, "%u numbers differ from the frozen values", bad);
}

/* ---------------------------------------------------- run-time constants */

static int pow2(unsigned long long v)
{
	return v && !(v & (v - 1));
}

static void test_constants(void)
{
	const unsigned int cqe_flags[] = {
		ZCRXDEV_CQE_COPIED, ZCRXDEV_CQE_ZEROCOPY, ZCRXDEV_CQE_EOF,
		ZCRXDEV_CQE_ERROR, ZCRXDEV_CQE_SENT, ZCRXDEV_CQE_MAPPED,
	};
	unsigned int i, all = 0, bad = 0;

	CHECK("const_values", ZCRXDEV_VERSION_MAJOR == 0 && ZCRXDEV_VERSION_MINOR == 2 &&
	      ZCRXDEV_BUF_SIZE_MIN == 4096 && ZCRXDEV_BUF_SIZE_MAX == 65536 &&
	      ZCRXDEV_RING_MIN == 8 && ZCRXDEV_RING_MAX == 32768 &&
	      ZCRXDEV_POOL_MAX_BYTES == 1ull << 32 && ZCRXDEV_RING_NEED_WAKEUP == 1 &&
	      ZCRXDEV_FEAT_ZEROCOPY_POOL_PAGES == 1 && ZCRXDEV_SETUP_WRITABLE == 1 &&
	      ZCRXDEV_SETUP_MAP == 2 && ZCRXDEV_SETUP_MAP_ALWAYS == 4 &&
	      ZCRXDEV_SETUP_DEFER == 8 && ZCRXDEV_SETUP_FLAGS == 15 &&
	      ZCRXDEV_RING_DATA_READY == 2 && ZCRXDEV_FEAT_DEFER == 4 &&
	      ZCRXDEV_FEAT_MAP == 2 && ZCRXDEV_WIN_PAGES_MAX == 1u << 20 &&
	      ZCRXDEV_PINS_MAX == 64,
	      "a constant changed");
	CHECK("const_pow2", pow2(ZCRXDEV_BUF_SIZE_MIN) && pow2(ZCRXDEV_BUF_SIZE_MAX) &&
	      pow2(ZCRXDEV_RING_MIN) && pow2(ZCRXDEV_RING_MAX) &&
	      ZCRXDEV_BUF_SIZE_MIN <= ZCRXDEV_BUF_SIZE_MAX &&
	      ZCRXDEV_RING_MIN <= ZCRXDEV_RING_MAX, "a limit is not a power of two");
	for (i = 0; i < sizeof(cqe_flags) / sizeof(cqe_flags[0]); i++) {
		bad += !pow2(cqe_flags[i]) || (all & cqe_flags[i]);
		all |= cqe_flags[i];
	}
	CHECK("const_cqe_flags", !bad && all == 0x3f, "flags overlap or moved (%#x)",
	      all);
}

/* ------------------------------------------------ headers side by side */

static void test_coexist(void)
{
	/* Names of all three headers in one expression. */
	size_t n = sizeof(struct io_uring_sqe) + sizeof(struct zcrxdev_cqe) +
		   sizeof(struct zcrx);

#ifdef IORING_ZCRX_AREA_SHIFT
	/* io_uring's own zcrx UAPI (Linux 6.15 and later) is in scope too. */
	n += sizeof(struct io_uring_zcrx_rqe) - 16;
#endif
	CHECK("headers_coexist", n == 64 + 32 + sizeof(struct zcrx),
	      "io_uring_sqe is %zu bytes", sizeof(struct io_uring_sqe));
#ifdef IORING_ZCRX_AREA_SHIFT
	tap_diag("linux/io_uring.h has io_uring's zcrx UAPI (IORING_ZCRX_AREA_SHIFT)");
#else
	tap_diag("linux/io_uring.h predates io_uring zcrx: no ZCRX_* names to clash with");
#endif
}

/* ------------------------------------------------------- header names */

struct scan {
	unsigned int	macros, types, idents;	/* seen */
	unsigned int	bad_macros, bad_types, bad_idents;
	char		first_macro[64], first_type[64], first_ident[64];
};

/* Blank out comments and string/character literals, keeping newlines. */
static void strip_comments(char *s)
{
	char *p = s, quote;

	while (*p) {
		if (p[0] == '/' && p[1] == '*') {
			for (; *p && !(p[0] == '*' && p[1] == '/'); p++)
				if (*p != '\n')
					*p = ' ';
			if (*p) {
				p[0] = ' ';
				p[1] = ' ';
				p += 2;
			}
		} else if (p[0] == '/' && p[1] == '/') {
			for (; *p && *p != '\n'; p++)
				*p = ' ';
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
			for (*p++ = ' '; *p && *p != quote && *p != '\n'; p++) {
				if (*p == '\\' && p[1])
					*p++ = ' ';
				*p = ' ';
			}
			if (*p == quote)
				*p++ = ' ';
		} else {
			p++;
		}
	}
}

static int is_ident(int c)
{
	return isalnum(c) || c == '_';
}

static int zcrx_named(const char *id)
{
	return !strncmp(id, "ZCRX_", 5) || !strncmp(id, "zcrx_", 5);
}

static void note(unsigned int *count, char *first, const char *id)
{
	if (!(*count)++)
		snprintf(first, 64, "%s", id);
}

/* Read the identifier at *p into id; advance *p past it. */
static int next_ident(const char **p, char *id, size_t len)
{
	const char *s = *p;
	size_t n = 0;

	while (*s && !is_ident((unsigned char)*s))
		s++;
	if (!*s)
		return 0;
	while (is_ident((unsigned char)*s)) {
		if (n + 1 < len)
			id[n++] = *s;
		s++;
	}
	id[n] = '\0';
	*p = s;
	return 1;
}

/* The name a typedef declares: the last identifier before its ';'. */
static void typedef_name(const char *p, char *id, size_t len)
{
	const char *end = strchr(p, ';'), *s = p;
	char tok[64];

	id[0] = '\0';
	while (next_ident(&s, tok, sizeof(tok)) && (!end || s <= end))
		snprintf(id, len, "%s", tok);
}

static void scan_header(char *text, struct scan *sc)
{
	const char *p = text, *line;
	char id[64], prev[64] = "", name[64];
	int line_start = 1;

	memset(sc, 0, sizeof(*sc));
	strip_comments(text);
	while (*p) {
		if (*p == '\n') {
			line_start = 1;
			p++;
			continue;
		}
		if (line_start && *p == '#') {
			line = p + 1;
			if (next_ident(&line, id, sizeof(id)) && !strcmp(id, "define") &&
			    next_ident(&line, name, sizeof(name))) {
				sc->macros++;
				if (strncmp(name, "ZCRXDEV_", 8) &&
				    strcmp(name, "_UAPI_LINUX_ZCRXDEV_H"))
					note(&sc->bad_macros, sc->first_macro, name);
			}
		}
		if (!isspace((unsigned char)*p))
			line_start = 0;
		if (!is_ident((unsigned char)*p) || isdigit((unsigned char)*p)) {
			/* skip numbers whole: 0x1f is not an identifier */
			if (isdigit((unsigned char)*p))
				while (is_ident((unsigned char)*p))
					p++;
			else
				p++;
			continue;
		}
		next_ident(&p, id, sizeof(id));
		sc->idents++;
		if (zcrx_named(id))
			note(&sc->bad_idents, sc->first_ident, id);
		if (!strcmp(prev, "struct") || !strcmp(prev, "union") ||
		    !strcmp(prev, "enum")) {
			sc->types++;
			if (strncmp(id, "zcrxdev_", 8))
				note(&sc->bad_types, sc->first_type, id);
		}
		if (!strcmp(id, "typedef")) {
			typedef_name(p, name, sizeof(name));
			sc->types++;
			if (strncmp(name, "zcrxdev_", 8))
				note(&sc->bad_types, sc->first_type, name);
		}
		snprintf(prev, sizeof(prev), "%s", id);
	}
}

/* The scanner must find what it is meant to find, and nothing else. */
static void test_scanner(void)
{
	char text[] =
		"/* ZCRX_IN_COMMENT zcrx_in_comment */\n"
		"// ZCRX_LINE_COMMENT\n"
		"#ifndef _UAPI_LINUX_ZCRXDEV_H\n"
		"#define _UAPI_LINUX_ZCRXDEV_H\n"
		"#define ZCRXDEV_OK 0x1f\n"
		"  #  define ZCRX_BAD (1u << 3)\n"
		"struct zcrxdev_ok { __u32 a; };\n"
		"struct zcrx_bad { __u32 b; };\n"
		"enum zcrx_bad_enum { ZCRXDEV_X };\n"
		"typedef unsigned int zcrx_t;\n"
		"static const char *s = \"zcrx_in_string\";\n"
		"#endif\n";
	struct scan sc;

	scan_header(text, &sc);
	CHECK("scanner_selftest", sc.macros == 3 && sc.bad_macros == 1 &&
	      sc.types == 4 && sc.bad_types == 3 && sc.bad_idents == 4 &&
	      !strcmp(sc.first_macro, "ZCRX_BAD") &&
	      !strcmp(sc.first_type, "zcrx_bad") &&
	      !strcmp(sc.first_ident, "ZCRX_BAD"),
	      "macros %u/%u bad, types %u/%u bad, %u bad identifiers (%s, %s, %s)",
	      sc.bad_macros, sc.macros, sc.bad_types, sc.types, sc.bad_idents,
	      sc.first_macro, sc.first_type, sc.first_ident);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long len;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (len = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET)) {
		buf = calloc(1, (size_t)len + 1);
		if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

static void test_header_names(void)
{
	const char *path = getenv("ZCRX_UAPI_HEADER");
	struct scan sc;
	char *text;

	if (!path || !*path)
		path = UAPI_HEADER;
	text = read_file(path);
	if (!CHECK("header_read", text, "%s: %s (run from the repository top "
		   "or set ZCRX_UAPI_HEADER)", path, strerror(errno)))
		return;
	scan_header(text, &sc);
	free(text);
	tap_diag("%s: %u macros, %u type names, %u identifiers", path, sc.macros,
		 sc.types, sc.idents);
	CHECK("header_no_zcrx_prefix", !sc.bad_idents,
	      "%u identifiers start with ZCRX_/zcrx_; first: %s", sc.bad_idents,
	      sc.first_ident);
	CHECK("header_macros_prefixed", sc.macros > 1 && !sc.bad_macros,
	      "%u of %u macros lack the ZCRXDEV_ prefix; first: %s", sc.bad_macros,
	      sc.macros, sc.first_macro);
	CHECK("header_types_prefixed", sc.types > 0 && !sc.bad_types,
	      "%u of %u type names lack the zcrxdev_ prefix; first: %s",
	      sc.bad_types, sc.types, sc.first_type);
}

int main(void)
{
	tap_set_group("uapi");
	test_coexist();
	test_layouts();
	test_ioctls();
	test_constants();
	test_scanner();
	test_header_names();
	return tap_exit();
}

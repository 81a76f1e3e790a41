// SPDX-License-Identifier: MIT
/*
 * Host unit tests of the libzcrx ring helpers (group "ring").
 *
 * No kernel is involved: the rings are laid out by hand the way the module
 * lays them out (head at 0, tail at 64, flags at 128, entries at 256 of each
 * mapping) and the test plays the kernel's side of the protocol described in
 * linux/zcrxdev.h, with the same barrier pairs ([CQ-1], [CQ-2], [RQ-1],
 * [RQ-2]).  z.fd is -1, so every ioctl the library makes fails with EBADF:
 * that is how the tests see whether a wake call was attempted.
 *
 * Where the kernel allows it, hardware watchpoints (perf_event_open,
 * PERF_TYPE_BREAKPOINT) count the library's accesses to the shared tail and
 * head words; without them those checks are skipped.
 *
 * Environment: ZCRX_STRESS_N (default 5000000) completions per stress
 * direction, ZCRX_STRESS_SECS (default 3) time limit per direction.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>

#include <zcrx.h>

#include "tap.h"

/* The module's ring layout (module/ring.h, ZCRX_RING_*). */
#define RING_HEAD	0
#define RING_TAIL	64
#define RING_FLAGS	128
#define RING_WAKE_MIN	192
#define RING_ENTRIES	256

#define MAP_ALIGN	4096
#define GUARD_BYTES	256
#define GUARD_BYTE	0xa5
#define GARBAGE_BYTE	0xee

#define BSIZE		4096u
#define NBUFS		16u

#define STRESS_N	5000000u
#define STRESS_SECS	3.0
#define STRESS_GRACE	2.0	/* after the time limit: give up on a hung ring */
#define STRESS_START	(UINT32_MAX - 1000u)

struct fx {
	struct zcrx	z;
	unsigned char	*cq_map, *rq_map;
	size_t		cq_used, rq_used;	/* bytes up to the end of the entries */
	size_t		cq_alloc, rq_alloc;	/* including the guard bytes */
};

/* Globals: every ring word is reachable from outside any function. */
static struct fx fx;
static struct fx sfx;

/* ---------------------------------------------------------------- setup */

static unsigned char *ring_alloc(unsigned int entries, size_t esize,
				 size_t *used, size_t *alloc)
{
	unsigned char *p;

	*used = RING_ENTRIES + entries * esize;
	*alloc = (*used + GUARD_BYTES + MAP_ALIGN - 1) & ~(size_t)(MAP_ALIGN - 1);
	p = aligned_alloc(MAP_ALIGN, *alloc);
	if (!p)
		return NULL;
	memset(p, 0, *used);
	memset(p + *used, GUARD_BYTE, *alloc - *used);
	return p;
}

static void ring_words(unsigned char *map, unsigned int **head,
		       unsigned int **tail, unsigned int start)
{
	*head = (unsigned int *)(map + RING_HEAD);
	*tail = (unsigned int *)(map + RING_TAIL);
	**head = start;
	**tail = start;
}

/* A context over hand-made rings, both rings' indices at start. */
static int fx_init(struct fx *f, unsigned int cq_entries, unsigned int rq_entries,
		   unsigned int start)
{
	struct zcrx *z = &f->z;

	memset(f, 0, sizeof(*f));
	z->fd = -1;
	z->buf_size = BSIZE;
	z->nr_bufs = NBUFS;
	z->pool_size = (size_t)BSIZE * NBUFS;
	z->pool = malloc(z->pool_size);
	f->cq_map = ring_alloc(cq_entries, sizeof(struct zcrxdev_cqe),
			       &f->cq_used, &f->cq_alloc);
	f->rq_map = ring_alloc(rq_entries, sizeof(struct zcrxdev_rqe),
			       &f->rq_used, &f->rq_alloc);
	if (!z->pool || !f->cq_map || !f->rq_map)
		return -ENOMEM;

	ring_words(f->cq_map, &z->cq.khead, &z->cq.ktail, start);
	z->cq.kflags = (unsigned int *)(f->cq_map + RING_FLAGS);
	z->cq.kwake_min = (unsigned int *)(f->cq_map + RING_WAKE_MIN);
	z->cq.cqes = (struct zcrxdev_cqe *)(f->cq_map + RING_ENTRIES);
	z->cq.entries = cq_entries;
	z->cq.mask = cq_entries - 1;
	z->cq.map = f->cq_map;
	z->cq.map_size = f->cq_alloc;

	ring_words(f->rq_map, &z->rq.khead, &z->rq.ktail, start);
	z->rq.rqes = (struct zcrxdev_rqe *)(f->rq_map + RING_ENTRIES);
	z->rq.entries = rq_entries;
	z->rq.mask = rq_entries - 1;
	z->rq.tail = start;
	z->rq.cached_head = start;
	z->rq.map = f->rq_map;
	z->rq.map_size = f->rq_alloc;
	return 0;
}

static void fx_free(struct fx *f)
{
	free(f->z.pool);
	free(f->cq_map);
	free(f->rq_map);
	memset(f, 0, sizeof(*f));
}

static int fx_setup(struct fx *f, const char *name, unsigned int cq_entries,
		    unsigned int rq_entries, unsigned int start)
{
	if (!fx_init(f, cq_entries, rq_entries, start))
		return 0;
	CHECK(name, 0, "out of memory");
	fx_free(f);
	return -1;
}

/* Index of the first byte after used that is not the guard pattern, or -1. */
static long guard_broken(const unsigned char *map, size_t used, size_t alloc)
{
	size_t i;

	for (i = used; i < alloc; i++)
		if (map[i] != GUARD_BYTE)
			return (long)i;
	return -1;
}

/* --------------------------------------------------------- kernel side */

static void make_cqe(struct zcrxdev_cqe *c, unsigned int seq)
{
	memset(c, 0, sizeof(*c));
	c->tag = 0x7a00000000ull + seq;
	c->off = (uint64_t)(seq % NBUFS) * BSIZE + (seq * 37u) % BSIZE;
	c->len = 1 + seq % 1000;
	c->flags = seq & 1 ? ZCRXDEV_CQE_ZEROCOPY : ZCRXDEV_CQE_COPIED;
}

/* Kernel: write the entry, then store-release the tail [CQ-1]. */
static void k_cq_post(struct zcrx *z, const struct zcrxdev_cqe *c)
{
	unsigned int tail = *z->cq.ktail;	/* the kernel's own word */

	z->cq.cqes[tail & z->cq.mask] = *c;
	__atomic_store_n(z->cq.ktail, tail + 1, __ATOMIC_RELEASE);
}

/* Kernel: free CQ slots, head loaded with acquire [CQ-2]. */
static unsigned int k_cq_space(const struct zcrx *z)
{
	unsigned int head = __atomic_load_n(z->cq.khead, __ATOMIC_ACQUIRE);

	return z->cq.entries - (*z->cq.ktail - head);
}

/* Kernel: take up to max refill entries [RQ-1], poison them, release [RQ-2]. */
static unsigned int k_rq_take(struct zcrx *z, struct zcrxdev_rqe *out,
			      unsigned int max)
{
	unsigned int tail = __atomic_load_n(z->rq.ktail, __ATOMIC_ACQUIRE);
	unsigned int head = *z->rq.khead, n = 0;
	struct zcrxdev_rqe *rqe;

	while (head != tail && n < max) {
		rqe = &z->rq.rqes[head & z->rq.mask];
		out[n++] = *rqe;
		memset(rqe, GARBAGE_BYTE, sizeof(*rqe));
		head++;
	}
	__atomic_store_n(z->rq.khead, head, __ATOMIC_RELEASE);
	return n;
}

static void k_set_flags(struct zcrx *z, unsigned int flags)
{
	__atomic_store_n(z->cq.kflags, flags, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* [WK-1] */
}

/* ------------------------------------------------------- watchpoints */

/* A hardware watchpoint counting this thread's accesses to 4 bytes at addr. */
static int wp_open(const void *addr, unsigned int type)
{
	struct perf_event_attr a;
	long fd;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_BREAKPOINT;
	a.size = sizeof(a);
	a.bp_type = type;
	a.bp_addr = (uintptr_t)addr;
	a.bp_len = HW_BREAKPOINT_LEN_4;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

static void wp_start(int fd)
{
	ioctl(fd, PERF_EVENT_IOC_RESET, 0);
	ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
}

static long long wp_stop(int fd)
{
	unsigned long long n = 0;

	ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return -1;
	return (long long)n;
}

static void wp_skip(const char *name, int err)
{
	char why[96];

	snprintf(why, sizeof(why), "no hardware watchpoint (%s)", strerror(-err));
	tap_skip(name, why);
}

/* ------------------------------------------------------- completion ring */

static void test_empty(void)
{
	static const unsigned int starts[] = { 0, 12345, UINT32_MAX };
	struct zcrx *z = &fx.z;
	struct zcrxdev_cqe *cqe;
	unsigned int i, head, peeked = 0, ready = 0, iters = 0;

	for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		if (fx_setup(&fx, "empty_setup", 16, 16, starts[i]))
			return;
		peeked += zcrx_peek_cqe(z) != NULL;
		ready += zcrx_cq_ready(z);
		zcrx_for_each_cqe(z, head, cqe)
			iters++;
		fx_free(&fx);
	}
	CHECK("empty_peek_null", !peeked, "peek returned an entry %u times", peeked);
	CHECK("empty_ready_zero", !ready, "cq_ready summed to %u", ready);
	CHECK("empty_for_each_none", !iters, "loop body ran %u times", iters);
}

#define NPROD	5

static void check_produced(struct zcrx *z, const struct zcrxdev_cqe *want,
			   unsigned int start)
{
	struct zcrxdev_cqe *cqe;
	unsigned int head, n = 0, bad = 0;

	zcrx_for_each_cqe(z, head, cqe) {
		if (n >= NPROD || cqe != &z->cq.cqes[(start + n) & z->cq.mask] ||
		    memcmp(cqe, &want[n], sizeof(*cqe)))
			bad++;
		n++;
	}
	CHECK("produce_for_each_order", n == NPROD && !bad,
	      "saw %u entries, %u wrong (want %u)", n, bad, NPROD);
	CHECK("produce_for_each_keeps_head", *z->cq.khead == start &&
	      zcrx_cq_ready(z) == NPROD, "head %u (was %u), ready %u",
	      *z->cq.khead, start, zcrx_cq_ready(z));
}

static void test_produce(void)
{
	const unsigned int start = 13;		/* not a multiple of 16 */
	struct zcrxdev_cqe want[NPROD], *cqe;
	struct zcrx *z = &fx.z;
	unsigned int i;

	if (fx_setup(&fx, "produce_setup", 16, 16, start))
		return;
	for (i = 0; i < NPROD; i++) {
		make_cqe(&want[i], i);
		k_cq_post(z, &want[i]);
	}
	CHECK("produce_ready", zcrx_cq_ready(z) == NPROD, "cq_ready %u, want %u",
	      zcrx_cq_ready(z), NPROD);
	cqe = zcrx_peek_cqe(z);
	CHECK("produce_peek_first", cqe == &z->cq.cqes[start & 15] &&
	      !memcmp(cqe, &want[0], sizeof(*cqe)), "peek gave %p, want %p",
	      (void *)cqe, (void *)&z->cq.cqes[start & 15]);
	CHECK("cqe_data", zcrx_cqe_data(z, &want[3]) == z->pool + want[3].off,
	      "%p, want %p", zcrx_cqe_data(z, &want[3]),
	      (void *)(z->pool + want[3].off));
	check_produced(z, want, start);

	zcrx_cq_advance(z, 0);
	CHECK("advance_zero", *z->cq.khead == start, "head %u, want %u",
	      *z->cq.khead, start);
	zcrx_cq_advance(z, 2);
	cqe = zcrx_peek_cqe(z);
	CHECK("advance_partial", *z->cq.khead == start + 2 &&
	      zcrx_cq_ready(z) == NPROD - 2 && cqe &&
	      !memcmp(cqe, &want[2], sizeof(*cqe)),
	      "head %u (want %u), ready %u, peek %s", *z->cq.khead, start + 2,
	      zcrx_cq_ready(z), cqe ? "another entry" : "NULL");
	zcrx_cq_advance(z, NPROD - 2);
	CHECK("advance_all", *z->cq.khead == start + NPROD &&
	      !zcrx_cq_ready(z) && !zcrx_peek_cqe(z), "head %u (want %u), ready %u",
	      *z->cq.khead, start + NPROD, zcrx_cq_ready(z));
	fx_free(&fx);
}

/* Wrap-around: several ring-fulls of 8 across the 2^32 index boundary. */
static void test_cq_wrap(void)
{
	static const unsigned int batch[] = { 8, 8, 3, 5, 7, 1, 8, 6, 2, 8, 8, 4 };
	const unsigned int start = UINT32_MAX - 11;
	struct zcrx *z = &fx.z;
	struct zcrxdev_cqe want, *cqe;
	unsigned int b, i, head, seq = 0, got = 0, bad = 0, bad_ready = 0;
	unsigned int bad_space = 0;

	if (fx_setup(&fx, "cq_wrap_setup", 8, 8, start))
		return;
	for (b = 0; b < sizeof(batch) / sizeof(batch[0]); b++) {
		for (i = 0; i < batch[b]; i++) {
			make_cqe(&want, seq + i);
			k_cq_post(z, &want);
		}
		bad_space += k_cq_space(z) != 8 - batch[b];
		bad_ready += zcrx_cq_ready(z) != batch[b];
		i = 0;
		zcrx_for_each_cqe(z, head, cqe) {
			make_cqe(&want, seq);
			if (cqe != &z->cq.cqes[(start + seq) & 7] ||
			    memcmp(cqe, &want, sizeof(want)))
				bad++;
			seq++;
			i++;
		}
		got += i;
		zcrx_cq_advance(z, i);
	}
	CHECK("cq_wrap_order", !bad && got == seq && seq == 68,
	      "%u wrong of %u entries (want 68)", bad, got);
	CHECK("cq_wrap_ready", !bad_ready && !bad_space,
	      "cq_ready wrong in %u batches, kernel space wrong in %u",
	      bad_ready, bad_space);
	CHECK("cq_wrap_crossed", *z->cq.khead == start + 68 &&
	      *z->cq.khead < start && !zcrx_cq_ready(z),
	      "head %u, want %u", *z->cq.khead, start + 68);
	fx_free(&fx);
}

/* --------------------------------------------------------- refill ring */

static int rqe_is(const struct zcrxdev_rqe *r, uint64_t off)
{
	return r->off == off && !r->flags && !r->resv;
}

/* Queue n payload returns for buffers first..first+n-1, no commit. */
static int queue_returns(struct zcrx *z, unsigned int n, unsigned int first)
{
	struct zcrxdev_cqe c = { .len = 10 };
	unsigned int i;
	int bad = 0;

	for (i = 0; i < n; i++) {
		c.off = (uint64_t)(first + i) * BSIZE + 5;
		bad += zcrx_return_cqe(z, &c) != 0;
	}
	return bad;
}

static int slot_untouched(const struct zcrxdev_rqe *r)
{
	const unsigned char *p = (const unsigned char *)r;
	size_t i;

	for (i = 0; i < sizeof(*r); i++)
		if (p[i] != GARBAGE_BYTE)
			return 0;
	return 1;
}

static void test_return_entry(void)
{
	struct zcrxdev_cqe c = { .len = 100, .off = 3 * BSIZE + 123 };
	struct zcrx *z = &fx.z;
	struct zcrxdev_rqe *r;
	int ret;

	if (fx_setup(&fx, "return_setup", 8, 8, 0))
		return;
	r = z->rq.rqes;
	memset(r, GARBAGE_BYTE, 8 * sizeof(*r));
	ret = zcrx_return_cqe(z, &c);
	CHECK("return_rounds_off", !ret && r[0].off == 3 * BSIZE,
	      "ret %d, off %#llx, want %#llx", ret, (unsigned long long)r[0].off,
	      (unsigned long long)(3 * BSIZE));
	CHECK("return_zeroes_flags_resv", !r[0].flags && !r[0].resv,
	      "flags %#x resv %#x", r[0].flags, r[0].resv);

	/* Offsets beyond 4 GiB: the mask must be 64 bits wide. */
	z->buf_size = 65536;
	c.off = (5ull << 32) + 0x12345;
	ret = zcrx_return_cqe(z, &c);
	CHECK("return_high_off", !ret && rqe_is(&r[1], (5ull << 32) + 0x10000),
	      "ret %d, off %#llx, want %#llx", ret, (unsigned long long)r[1].off,
	      (unsigned long long)((5ull << 32) + 0x10000));
	z->buf_size = BSIZE;

	c.len = 0;
	c.flags = ZCRXDEV_CQE_EOF;
	ret = zcrx_return_cqe(z, &c);
	CHECK("return_len0_noop", !ret && z->rq.tail == 2 && slot_untouched(&r[2]),
	      "ret %d, local tail %u (want 2), slot 2 %s", ret, z->rq.tail,
	      slot_untouched(&r[2]) ? "untouched" : "written");
	fx_free(&fx);
}

/* Wrap-around of the refill ring: batches of up to 8 across 2^32. */
static void test_rq_wrap(void)
{
	static const unsigned int batch[] = { 8, 8, 3, 5, 7, 1, 8, 6, 2, 8, 8, 4 };
	const unsigned int start = UINT32_MAX - 11;
	struct zcrxdev_rqe got[8];
	struct zcrx *z = &fx.z;
	unsigned int b, i, n, seq = 0, taken = 0, bad = 0;
	int errs = 0;

	if (fx_setup(&fx, "rq_wrap_setup", 8, 8, start))
		return;
	for (b = 0; b < sizeof(batch) / sizeof(batch[0]); b++) {
		errs += queue_returns(z, batch[b], seq);
		errs += zcrx_rq_commit(z) != 0;
		n = k_rq_take(z, got, 8);
		for (i = 0; i < n; i++)
			bad += !rqe_is(&got[i], (uint64_t)(seq + i) * BSIZE);
		bad += n != batch[b];
		seq += batch[b];
		taken += n;
	}
	CHECK("rq_wrap_returns", !errs, "%d returns or commits failed", errs);
	CHECK("rq_wrap_order", !bad && taken == 68, "%u wrong, took %u of 68",
	      bad, taken);
	CHECK("rq_wrap_crossed", z->rq.tail == start + 68 && *z->rq.ktail == start + 68 &&
	      *z->rq.khead == start + 68 && *z->rq.khead < start,
	      "local tail %u, shared tail %u, head %u (want %u)", z->rq.tail,
	      *z->rq.ktail, *z->rq.khead, start + 68);
	fx_free(&fx);
}

/* Returns stay private until zcrx_rq_commit publishes them all at once. */
static void test_commit(void)
{
	struct zcrxdev_cqe c = { .len = 1 };
	struct zcrxdev_rqe got[8];
	struct zcrx *z = &fx.z;
	int i, ret, wp, bad = 0;
	long long stores = -1;
	unsigned int n;

	if (fx_setup(&fx, "commit_setup", 8, 8, 100))
		return;
	wp = wp_open(z->rq.ktail, HW_BREAKPOINT_W);
	if (wp >= 0)
		wp_start(wp);
	for (i = 0; i < 3; i++) {
		c.off = (uint64_t)(i + 1) * BSIZE + (unsigned int)i;
		bad += zcrx_return_cqe(z, &c) != 0;
	}
	if (wp >= 0)
		stores = wp_stop(wp);
	CHECK("return_unpublished", !bad && *z->rq.ktail == 100 && z->rq.tail == 103,
	      "%d errors, shared tail %u (want 100), local tail %u (want 103)",
	      bad, *z->rq.ktail, z->rq.tail);
	if (wp >= 0)
		CHECK("return_no_tail_store", stores == 0,
		      "%lld stores to the shared tail", stores);
	else
		wp_skip("return_no_tail_store", wp);
	n = k_rq_take(z, got, 8);
	CHECK("return_invisible_to_kernel", n == 0, "kernel took %u entries", n);

	if (wp >= 0)
		wp_start(wp);
	ret = zcrx_rq_commit(z);
	if (wp >= 0)
		stores = wp_stop(wp);
	CHECK("commit_publishes", !ret && *z->rq.ktail == 103,
	      "ret %d, shared tail %u (want 103)", ret, *z->rq.ktail);
	if (wp >= 0) {
		CHECK("commit_one_store", stores == 1,
		      "%lld stores to the shared tail (want 1)", stores);
		close(wp);
	} else {
		wp_skip("commit_one_store", wp);
	}
	n = k_rq_take(z, got, 8);
	for (bad = 0, i = 0; i < 3 && i < (int)n; i++)
		bad += !rqe_is(&got[i], (uint64_t)(i + 1) * BSIZE);
	CHECK("commit_kernel_sees_all", n == 3 && !bad,
	      "kernel took %u entries (want 3), %d wrong", n, bad);
	fx_free(&fx);
}

/* zcrx_rq_space: the cached head is reloaded only when the ring looks full. */
static void test_space(void)
{
	const unsigned int start = 1000;
	struct zcrxdev_rqe got[8];
	struct zcrx *z = &fx.z;
	unsigned int space, n;
	long long loads = -1;
	int wp;

	if (fx_setup(&fx, "space_setup", 8, 8, start))
		return;
	space = zcrx_rq_space(z);
	CHECK("space_initial", space == 8, "space %u, want 8", space);
	queue_returns(z, 3, 0);
	zcrx_rq_commit(z);
	n = k_rq_take(z, got, 8);

	wp = wp_open(z->rq.khead, HW_BREAKPOINT_RW);
	if (wp >= 0)
		wp_start(wp);
	space = zcrx_rq_space(z);
	if (wp >= 0)
		loads = wp_stop(wp);
	CHECK("space_no_reload_when_not_full", n == 3 && space == 5 &&
	      z->rq.cached_head == start, "space %u (want 5), cached head %u (want %u)",
	      space, z->rq.cached_head, start);
	if (wp >= 0)
		CHECK("space_no_head_load", loads == 0, "%lld loads of head", loads);
	else
		wp_skip("space_no_head_load", wp);

	queue_returns(z, 5, 3);
	if (wp >= 0)
		wp_start(wp);
	space = zcrx_rq_space(z);
	if (wp >= 0)
		loads = wp_stop(wp);
	CHECK("space_reload_when_full", space == 3 && z->rq.cached_head == start + 3,
	      "space %u (want 3), cached head %u (want %u)", space,
	      z->rq.cached_head, start + 3);
	if (wp >= 0) {
		CHECK("space_head_load_when_full", loads >= 1, "%lld loads", loads);
		close(wp);
	} else {
		wp_skip("space_head_load_when_full", wp);
	}

	/* The kernel consumes nothing: the ring stays full. */
	queue_returns(z, 3, 8);
	zcrx_rq_commit(z);
	space = zcrx_rq_space(z);
	CHECK("space_zero_when_full", space == 0, "space %u, want 0", space);
	fx_free(&fx);
}

/* A full ring: zcrx_return_cqe goes to zcrx_return_slow, which must fail. */
static void test_full_published(void)
{
	const unsigned int start = UINT32_MAX - 3;
	struct zcrxdev_cqe c = { .len = 1, .off = 7 * BSIZE };
	struct zcrx *z = &fx.z;
	unsigned char *snap;
	long broken;
	int ret;

	if (fx_setup(&fx, "full_setup", 8, 8, start))
		return;
	queue_returns(z, 8, 0);
	zcrx_rq_commit(z);
	snap = malloc(fx.rq_alloc);
	if (!snap) {
		CHECK("full_setup", 0, "out of memory");
		fx_free(&fx);
		return;
	}
	memcpy(snap, fx.rq_map, fx.rq_alloc);
	CHECK_ERR("return_full_ebadf", zcrx_return_cqe(z, &c), EBADF);
	ret = memcmp(snap, fx.rq_map, fx.rq_alloc);
	broken = guard_broken(fx.rq_map, fx.rq_used, fx.rq_alloc);
	CHECK("return_full_no_write", !ret && broken < 0 && z->rq.tail == start + 8,
	      "mapping %s, guard %s at %ld, local tail %u (want %u)",
	      ret ? "changed" : "same", broken < 0 ? "intact" : "broken", broken,
	      z->rq.tail, start + 8);
	free(snap);
	fx_free(&fx);
}

/* Full with unpublished returns: the slow path commits them before waking. */
static void test_full_unpublished(void)
{
	struct zcrxdev_cqe c = { .len = 1, .off = 7 * BSIZE };
	struct zcrx *z = &fx.z;
	long broken;

	if (fx_setup(&fx, "full_unpublished_setup", 8, 8, 40))
		return;
	queue_returns(z, 8, 0);
	CHECK_ERR("return_slow_ebadf", zcrx_return_cqe(z, &c), EBADF);
	broken = guard_broken(fx.rq_map, fx.rq_used, fx.rq_alloc);
	CHECK("return_slow_publishes", *z->rq.ktail == 48 && z->rq.tail == 48 &&
	      broken < 0, "shared tail %u, local %u (want 48), guard %s",
	      *z->rq.ktail, z->rq.tail, broken < 0 ? "intact" : "broken");
	fx_free(&fx);
}

/* ------------------------------------------------------------- wakeups */

static void test_need_wakeup(void)
{
	struct zcrx *z = &fx.z;
	int clear, other, set;

	if (fx_setup(&fx, "wakeup_setup", 8, 8, 0))
		return;
	clear = zcrx_need_wakeup(z);
	k_set_flags(z, 1u << 5);
	other = zcrx_need_wakeup(z);
	k_set_flags(z, ZCRXDEV_RING_NEED_WAKEUP);
	set = zcrx_need_wakeup(z);
	CHECK("need_wakeup_clear", !clear, "true with flags 0");
	CHECK("need_wakeup_other_bits", !other, "true with flags 0x20");
	CHECK("need_wakeup_set", set, "false with NEED_WAKEUP");
	fx_free(&fx);
}

static void test_commit_wake(void)
{
	struct zcrx *z = &fx.z;
	int ret, err;

	if (fx_setup(&fx, "commit_wake_setup", 8, 8, 0))
		return;
	queue_returns(z, 2, 0);
	errno = 0;
	ret = zcrx_rq_commit(z);
	err = errno;
	CHECK("commit_clear_ret0", ret == 0, "returned %d", ret);
	CHECK("commit_clear_no_wake", err == 0, "an ioctl ran (errno %s)",
	      strerrorname_np(err) ?: "?");

	queue_returns(z, 2, 2);
	k_set_flags(z, ZCRXDEV_RING_NEED_WAKEUP);
	CHECK_ERR("commit_set_wakes", zcrx_rq_commit(z), EBADF);
	CHECK("commit_set_published_first", *z->rq.ktail == 4,
	      "shared tail %u, want 4", *z->rq.ktail);
	fx_free(&fx);
}

static void test_wait(void)
{
	struct zcrxdev_cqe c;
	struct zcrx *z = &fx.z;
	int ret;

	int pfd[2];

	if (fx_setup(&fx, "wait_setup", 8, 8, 0))
		return;
	if (pipe(pfd)) {
		CHECK("wait_pipe", 0, "pipe: %s", strerror(errno));
		fx_free(&fx);
		return;
	}
	/* A pipe never readable stands in for /dev/zcrx: poll() times out. */
	z->fd = pfd[0];
	CHECK_ERR("wait_timeout", zcrx_wait(z, 0), ETIME);
	k_set_flags(z, ZCRXDEV_RING_NEED_WAKEUP);
	/* Nothing new since the last wake (none yet): no wake, poll times out. */
	CHECK_ERR("wait_no_news_no_wake", zcrx_wait(z, 0), ETIME);
	/* Something new (a consumed completion): the wake ioctl reaches the
	 * fd (a pipe says ENOTTY) before poll(). */
	z->rq.woken_cq_head = *z->cq.khead - 1;
	CHECK_ERR("wait_need_wakeup_wakes", zcrx_wait(z, 0), ENOTTY);
	CHECK_ERR("wait_woken_once", zcrx_wait(z, 0), ETIME);
	make_cqe(&c, 1);
	k_cq_post(z, &c);
	k_cq_post(z, &c);
	errno = 0;
	ret = zcrx_wait(z, 0);
	CHECK("wait_ready_no_syscall", ret == 2 && errno == 0,
	      "returned %d (want 2), errno %d", ret, errno);
	close(pfd[0]);
	close(pfd[1]);
	z->fd = -1;
	CHECK_ERR("wait_exited_ebadf", zcrx_wait(z, 0), EBADF);
	fx_free(&fx);
}

/* ------------------------------------------------------ stress: shared */

struct stress {
	struct fx	*f;
	unsigned int	n;		/* entries to pass */
	unsigned int	passed;		/* produced (CQ) or returned (RQ) */
	unsigned int	consumed;
	int		stop;		/* main -> thread: deadline passed */
	int		done;		/* producer finished (release) */
	unsigned long	gaps, dups, torn, errors, batches;
	char		first[160];	/* the first error of the consumer */
	unsigned long	lib_errors;	/* failed library calls (main thread) */
	char		lib_first[80];
	double		deadline;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void cpu_relax(unsigned int *spins)
{
	if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#elif defined(__aarch64__)
		__asm__ __volatile__("yield" ::: "memory");
#endif
		return;
	}
	*spins = 0;
	sched_yield();
}

static void stress_note(struct stress *s, unsigned long *counter,
			unsigned int at, const char *what, uint64_t off)
{
	if (!s->gaps && !s->dups && !s->torn && !s->errors)
		snprintf(s->first, sizeof(s->first), "%s at #%u (off %#llx)",
			 what, at, (unsigned long long)off);
	(*counter)++;
}

static void stress_init(struct stress *s, struct fx *f)
{
	const char *e;

	memset(s, 0, sizeof(*s));
	s->f = f;
	s->n = STRESS_N;
	e = getenv("ZCRX_STRESS_N");
	if (e && *e)
		s->n = (unsigned int)strtoul(e, NULL, 0);
	e = getenv("ZCRX_STRESS_SECS");
	s->deadline = now_s() + (e && *e ? strtod(e, NULL) : STRESS_SECS);
}

static int stress_expired(struct stress *s)
{
	if (now_s() < s->deadline)
		return 0;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
	return 1;
}

static int stress_stopped(struct stress *s)
{
	return __atomic_load_n(&s->stop, __ATOMIC_RELAXED);
}

static void stress_report(struct stress *s, const char *dir, double secs,
			  unsigned int entries)
{
	tap_diag("%s stress: %u of %u entries through a %u-entry ring in %.2f s "
		 "(%.1f M/s), %lu batches%s", dir, s->consumed, s->n, entries,
		 secs, s->consumed / secs / 1e6, s->batches,
		 s->passed < s->n ? ", stopped at the time limit" : "");
}

/* ------------------------------------------------------ stress: CQ */

/* Every field is a function of the sequence number: torn entries show. */
static void stress_cqe(struct zcrxdev_cqe *c, unsigned int seq)
{
	c->tag = (uint64_t)seq * 0x9e3779b97f4a7c15ull;
	c->off = ((uint64_t)seq << 12) | (seq & 0xfff);
	c->len = 1 + (seq & 0xffff);
	c->flags = seq & 1 ? ZCRXDEV_CQE_ZEROCOPY : ZCRXDEV_CQE_COPIED;
	c->error = 0;
	c->resv = 0;
}

/* The kernel: produce n completions, waiting for space [CQ-2]. */
static void *cq_kernel(void *arg)
{
	struct stress *s = arg;
	struct zcrx *z = &s->f->z;
	unsigned int tail = *z->cq.ktail, i, spins = 0;

	for (i = 0; i < s->n; i++) {
		if (!(i & 1023) && stress_stopped(s))
			break;
		while (tail - __atomic_load_n(z->cq.khead, __ATOMIC_ACQUIRE) ==
		       z->cq.entries) {
			if (stress_stopped(s))
				goto out;
			cpu_relax(&spins);
		}
		stress_cqe(&z->cq.cqes[tail & z->cq.mask], i);
		tail++;
		__atomic_store_n(z->cq.ktail, tail, __ATOMIC_RELEASE);	/* [CQ-1] */
	}
out:
	s->passed = i;
	__atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void cq_check(struct stress *s, struct zcrxdev_cqe *cqe, unsigned int *next)
{
	struct zcrxdev_cqe want;
	unsigned int seq = (unsigned int)(cqe->off >> 12);

	stress_cqe(&want, seq);
	if (cqe->off >> 44 || memcmp(cqe, &want, sizeof(want))) {
		stress_note(s, &s->torn, *next, "torn or stale entry", cqe->off);
		(*next)++;
	} else if (seq == *next) {
		(*next)++;
	} else if (seq > *next) {
		stress_note(s, &s->gaps, *next, "gap", cqe->off);
		*next = seq + 1;
	} else {
		stress_note(s, &s->dups, *next, "duplicate", cqe->off);
	}
	/* Poison the slot: a stale read of it later is caught as torn. */
	memset(cqe, GARBAGE_BYTE, sizeof(*cqe));
	s->consumed++;
}

/* The process: consume with the library helpers until the kernel is done. */
static void cq_consume(struct stress *s)
{
	struct zcrx *z = &s->f->z;
	struct zcrxdev_cqe *cqe;
	unsigned int head, n, next = 0, spins = 0;

	for (;;) {
		n = 0;
		zcrx_for_each_cqe(z, head, cqe) {
			cq_check(s, cqe, &next);
			n++;
		}
		if (n) {
			zcrx_cq_advance(z, n);
			if (++s->batches & 4095)
				continue;
		} else if (__atomic_load_n(&s->done, __ATOMIC_ACQUIRE) &&
			   !zcrx_cq_ready(z)) {
			break;
		}
		if (stress_expired(s) && now_s() > s->deadline + STRESS_GRACE) {
			stress_note(s, &s->errors, next, "ring never drained", 0);
			break;
		}
		if (!n)
			cpu_relax(&spins);
	}
}

static void test_stress_cq(void)
{
	struct stress s;
	pthread_t t;
	double t0;
	int ret;

	if (fx_setup(&sfx, "stress_cq_setup", 8, 8, STRESS_START))
		return;
	stress_init(&s, &sfx);
	t0 = now_s();
	ret = pthread_create(&t, NULL, cq_kernel, &s);
	if (ret) {
		CHECK("stress_cq_setup", 0, "pthread_create: %s", strerror(ret));
		fx_free(&sfx);
		return;
	}
	cq_consume(&s);
	pthread_join(t, NULL);
	stress_report(&s, "cq", now_s() - t0, 8);
	CHECK("stress_cq_order", !s.gaps && !s.dups, "%lu gaps, %lu duplicates; "
	      "first: %s", s.gaps, s.dups, s.first);
	CHECK("stress_cq_torn", !s.torn, "%lu torn entries; first: %s", s.torn,
	      s.first);
	CHECK("stress_cq_count", !s.errors && s.passed && s.consumed == s.passed &&
	      *sfx.z.cq.khead == STRESS_START + s.passed,
	      "%lu errors (%s), produced %u, consumed %u, head %u", s.errors,
	      s.first, s.passed, s.consumed, *sfx.z.cq.khead);
	fx_free(&sfx);
}

/* ------------------------------------------------------ stress: RQ */

static void rq_check(struct stress *s, struct zcrxdev_rqe *rqe, unsigned int *next)
{
	uint64_t off = rqe->off;
	unsigned int seq = (unsigned int)(off / BSIZE);

	if (rqe->flags || rqe->resv || off % BSIZE || off / BSIZE > UINT32_MAX) {
		stress_note(s, &s->torn, *next, "bad or stale entry", off);
		(*next)++;
	} else if (seq == *next) {
		(*next)++;
	} else if (seq > *next) {
		stress_note(s, &s->gaps, *next, "gap", off);
		*next = seq + 1;
	} else {
		stress_note(s, &s->dups, *next, "duplicate", off);
	}
	memset(rqe, GARBAGE_BYTE, sizeof(*rqe));
	s->consumed++;
}

/* The kernel: consume refill entries [RQ-1] and release the slots [RQ-2]. */
static void *rq_kernel(void *arg)
{
	struct stress *s = arg;
	struct zcrx *z = &s->f->z;
	unsigned int head = *z->rq.khead, tail, next = 0, spins = 0;

	for (;;) {
		tail = __atomic_load_n(z->rq.ktail, __ATOMIC_ACQUIRE);
		if (tail == head) {
			if (__atomic_load_n(&s->done, __ATOMIC_ACQUIRE) &&
			    __atomic_load_n(z->rq.ktail, __ATOMIC_ACQUIRE) == head)
				break;
			cpu_relax(&spins);
			continue;
		}
		if (tail - head > z->rq.entries) {
			stress_note(s, &s->errors, next, "tail too far ahead", tail);
			break;
		}
		for (; head != tail; head++)
			rq_check(s, &z->rq.rqes[head & z->rq.mask], &next);
		s->batches++;
		__atomic_store_n(z->rq.khead, head, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int rq_return_one(struct stress *s, unsigned int seq, unsigned int *spins)
{
	struct zcrxdev_cqe c = { .len = 1 + (seq & 0xff) };
	struct zcrx *z = &s->f->z;
	int ret;

	while (!zcrx_rq_space(z)) {
		ret = zcrx_rq_commit(z);
		if (ret)
			return ret;
		if (stress_expired(s))
			return -ETIME;
		cpu_relax(spins);
	}
	if (seq % 97 == 96) {
		/* An EOF completion in between: nothing to return. */
		struct zcrxdev_cqe eof = { .flags = ZCRXDEV_CQE_EOF, .off = ~0ull };

		ret = zcrx_return_cqe(z, &eof);
		if (ret)
			return ret;
	}
	c.off = (uint64_t)seq * BSIZE + seq % BSIZE;
	return zcrx_return_cqe(z, &c);
}

/* The process: return n completions, committing in varying batches. */
static void rq_produce(struct stress *s)
{
	struct zcrx *z = &s->f->z;
	unsigned int i, spins = 0, queued = 0, batch = 1;
	int ret = 0;

	for (i = 0; i < s->n; i++) {
		if (!(i & 4095) && stress_expired(s))
			break;
		ret = rq_return_one(s, i, &spins);
		if (ret)
			break;
		if (++queued >= batch) {
			ret = zcrx_rq_commit(z);
			if (ret)
				break;
			queued = 0;
			batch = 1 + (i * 7919u) % z->rq.entries;
		}
	}
	if (ret && ret != -ETIME) {
		snprintf(s->lib_first, sizeof(s->lib_first),
			 "library returned %d at #%u", ret, i);
		s->lib_errors++;
	}
	if (zcrx_rq_commit(z))
		s->lib_errors++;
	s->passed = i;
	__atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
}

static void test_stress_rq(void)
{
	struct stress s;
	pthread_t t;
	double t0;
	int ret;

	if (fx_setup(&sfx, "stress_rq_setup", 8, 64, STRESS_START))
		return;
	stress_init(&s, &sfx);
	t0 = now_s();
	ret = pthread_create(&t, NULL, rq_kernel, &s);
	if (ret) {
		CHECK("stress_rq_setup", 0, "pthread_create: %s", strerror(ret));
		fx_free(&sfx);
		return;
	}
	rq_produce(&s);
	pthread_join(t, NULL);
	stress_report(&s, "rq", now_s() - t0, 64);
	CHECK("stress_rq_order", !s.gaps && !s.dups, "%lu gaps, %lu duplicates; "
	      "first: %s", s.gaps, s.dups, s.first);
	CHECK("stress_rq_entries", !s.torn, "%lu bad entries; first: %s", s.torn,
	      s.first);
	CHECK("stress_rq_calls", !s.lib_errors, "%lu failed calls, first: %s",
	      s.lib_errors, s.lib_first);
	CHECK("stress_rq_count", !s.errors && s.passed && s.consumed == s.passed &&
	      *sfx.z.rq.khead == STRESS_START + s.passed,
	      "%lu kernel errors (%s), returned %u, consumed %u, head %u",
	      s.errors, s.first, s.passed, s.consumed, *sfx.z.rq.khead);
	fx_free(&sfx);
}

int main(void)
{
	tap_set_group("ring");
	test_empty();
	test_produce();
	test_cq_wrap();
	test_return_entry();
	test_rq_wrap();
	test_commit();
	test_space();
	test_full_published();
	test_full_unpublished();
	test_need_wakeup();
	test_commit_wake();
	test_wait();
	test_stress_cq();
	test_stress_rq();
	return tap_exit();
}

// SPDX-License-Identifier: MIT
/*
 * Host unit tests of the module's ring protocol (group "kring"): the
 * kernel side is module/ring.c and module/buf.c themselves, built over
 * tests/unit/shim/, and the user side is libzcrx, both over the same ring
 * memory laid out with the offsets the module hands out.
 *
 * Besides single steps, hostile index words (a user tail far ahead, a head
 * behind, garbage entries), indices that wrap at 2^32, and a producer and
 * consumer in two threads: the "kernel" posts completions of buffers it
 * takes and takes them back from the refill ring, the "process" checks
 * them, returns them and wakes the kernel the way libzcrx does.  A
 * stalled kernel waits only for a wake call (ioctl() is this program's,
 * see below): a lost wakeup shows as a stall that never ends.
 *
 * Every WARN_ON_ONCE() or unheld lock in the module's code fails the test
 * that caused it (kshim_warnings).
 *
 * Environment: ZCRX_KRING_N (default 2000000) completions in the thread
 * test, ZCRX_KRING_SECS (default 3) its time limit.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include <zcrx.h>

#include "buf.h"
#include "mem.h"
#include "ring.h"
#include "tap.h"

#define BSHIFT		12u
#define BSIZE		(1u << BSHIFT)
#define NBUFS		16u
#define CQ_ENTRIES	32u
#define RQ_ENTRIES	32u
#define FAKE_FD		1000
#define KRING_N		2000000u
#define KRING_SECS	3.0
#define STALL_LIMIT	2.0	/* a stall this long is a lost wakeup */

unsigned int kshim_warnings;

void kshim_warn(const char *file, int line, const char *what)
{
	__atomic_add_fetch(&kshim_warnings, 1, __ATOMIC_RELAXED);
	tap_diag("kernel warning at %s:%d: %s", file, line, what);
}

/* ---- the fake mem.c: which buffers others still hold ---- */

static bool held[NBUFS];

bool zcrx_mem_buf_busy(struct zcrx_mem *m, u32 b)
{
	(void)m;
	return __atomic_load_n(&held[b], __ATOMIC_RELAXED);
}

/* ---- one "pool": kernel rings and buffers, and libzcrx's view ---- */

struct kfx {
	spinlock_t		lock;
	struct zcrxdev_stats	stats;
	struct zcrx_ring	cq, rq;
	struct zcrx_bufs	bufs;
	struct zcrx_mem		mem;
	void			*cq_mem, *rq_mem;
	struct zcrx		z;
	unsigned int		wakes;		/* fake WAKE calls */
	unsigned int		refill_bad;
};

static struct kfx k;

static void *ring_mem(u32 entries, size_t esize)
{
	size_t n = (zcrx_ring_used_bytes(entries, esize) + 4095) & ~(size_t)4095;
	void *p = aligned_alloc(4096, n);

	if (p)
		memset(p, 0, n);
	return p;
}

/* Both sides over fresh rings whose indices all start at start. */
static int kfx_init(u32 start)
{
	struct zcrxdev_ring_offsets co, ro;
	struct zcrx *z = &k.z;
	unsigned char *c, *r;

	memset(&k, 0, sizeof(k));
	memset(held, 0, sizeof(held));
	spin_lock_init(&k.lock);
	k.cq_mem = ring_mem(CQ_ENTRIES, sizeof(struct zcrxdev_cqe));
	k.rq_mem = ring_mem(RQ_ENTRIES, sizeof(struct zcrxdev_rqe));
	if (!k.cq_mem || !k.rq_mem ||
	    zcrx_buf_alloc(&k.bufs, NBUFS, BSHIFT, &k.mem, &k.lock))
		return -1;
	zcrx_ring_init(&k.cq, k.cq_mem, CQ_ENTRIES, &k.lock, &k.stats);
	zcrx_ring_init(&k.rq, k.rq_mem, RQ_ENTRIES, &k.lock, &k.stats);
	k.cq.prod = k.rq.prod = k.cq.urgent = start;
	*k.cq.head = *k.cq.tail = *k.rq.head = *k.rq.tail = start;

	/* libzcrx's side, at the offsets setup hands out. */
	zcrx_ring_offsets(&co, true);
	zcrx_ring_offsets(&ro, false);
	c = k.cq_mem;
	r = k.rq_mem;
	z->fd = FAKE_FD;
	z->buf_size = BSIZE;
	z->nr_bufs = NBUFS;
	z->pool_size = (size_t)BSIZE * NBUFS;
	z->cq.khead = (unsigned int *)(c + co.head);
	z->cq.ktail = (unsigned int *)(c + co.tail);
	z->cq.kflags = (unsigned int *)(c + co.flags);
	z->cq.kwake_min = (unsigned int *)(c + co.wake_min);
	z->cq.cqes = (struct zcrxdev_cqe *)(c + co.entries);
	z->cq.entries = CQ_ENTRIES;
	z->cq.mask = CQ_ENTRIES - 1;
	z->rq.khead = (unsigned int *)(r + ro.head);
	z->rq.ktail = (unsigned int *)(r + ro.tail);
	z->rq.rqes = (struct zcrxdev_rqe *)(r + ro.entries);
	z->rq.entries = RQ_ENTRIES;
	z->rq.mask = RQ_ENTRIES - 1;
	z->rq.tail = z->rq.cached_head = start;
	z->rq.woken_tail = start;
	z->rq.woken_cq_head = start;
	kshim_warnings = 0;
	return 0;
}

static void kfx_free(void)
{
	zcrx_buf_free(&k.bufs);
	free(k.cq_mem);
	free(k.rq_mem);
}

/* The kernel's refill dispatch (pool.c's, buffers only), lock held. */
static void k_refill_locked(void)
{
	struct zcrx_rqe e;
	u32 i, n = zcrx_ring_rq_avail_locked(&k.rq);

	for (i = 0; i < n; i++) {
		zcrx_ring_rq_read_locked(&k.rq, i, &e);
		if (e.flags || e.resv || !zcrx_buf_return_locked(&k.bufs, e.off))
			k.refill_bad++;
	}
	zcrx_ring_rq_consume_locked(&k.rq, n);
}

/*
 * libzcrx calls ioctl() on z.fd; this program's ioctl() is the module's
 * WAKE for FAKE_FD: take the refills in the caller's context, as
 * zcrx_ctx_wake() does, and let a stalled kernel thread go on.
 */
int ioctl(int fd, unsigned long req, ...)
{
	if (fd != FAKE_FD || req != ZCRXDEV_IOC_WAKE) {
		errno = ENOTTY;
		return -1;
	}
	spin_lock(&k.lock);
	k_refill_locked();
	spin_unlock(&k.lock);
	__atomic_add_fetch(&k.wakes, 1, __ATOMIC_RELEASE);
	return 0;
}

static bool no_warnings(const char *name)
{
	unsigned int n = kshim_warnings;

	kshim_warnings = 0;
	return CHECK(name, !n, "%u kernel warnings", n);
}

/* Post one completion of buffer b with seq as its tag (lock held). */
static void k_post_locked(u32 b, u32 seq, u32 len)
{
	zcrx_buf_get_locked(&k.bufs, b);
	zcrx_ring_cq_post_locked(&k.cq, seq, (u64)b << BSHIFT, len,
				 ZCRXDEV_CQE_COPIED, 0);
}

/* ---------------------------------------------------------------- tests */

/* Completions posted near 2^32 are read back in order across the wrap. */
static void test_cq_wrap(void)
{
	struct zcrxdev_cqe *cqe;
	unsigned int head, n = 0, bad = 0;
	bool pended = false;
	u32 i, b;

	if (kfx_init(UINT32_MAX - 5))
		return (void)CHECK("cq_wrap", 0, "out of memory");
	spin_lock(&k.lock);
	for (i = 0; i < NBUFS; i++) {
		b = zcrx_buf_take_locked(&k.bufs, &pended);
		k_post_locked(b, i, 100 + i);
	}
	spin_unlock(&k.lock);
	zcrx_for_each_cqe(&k.z, head, cqe) {
		if (cqe->tag != n || cqe->len != 100 + n ||
		    !(cqe->flags & ZCRXDEV_CQE_COPIED))
			bad++;
		zcrx_return_cqe(&k.z, cqe);
		n++;
	}
	zcrx_cq_advance(&k.z, n);
	CHECK("cq_wrap", n == NBUFS && !bad && *k.cq.tail == UINT32_MAX - 5 + NBUFS,
	      "read %u of %u, %u wrong, tail %u", n, NBUFS, bad, *k.cq.tail);
	CHECK("cq_wrap_space", ({ spin_lock(&k.lock);
				  u32 s = zcrx_ring_cq_space_locked(&k.cq);
				  spin_unlock(&k.lock); s == CQ_ENTRIES; }),
	      "space after consuming everything is not the whole ring");

	/* The returns come back across the wrap too. */
	CHECK("rq_wrap_commit", zcrx_rq_commit(&k.z) == 0, "woke without NEED_WAKEUP");
	spin_lock(&k.lock);
	k_refill_locked();
	spin_unlock(&k.lock);
	CHECK("rq_wrap", k.bufs.nr_free == NBUFS && !k.refill_bad &&
	      *k.rq.head == UINT32_MAX - 5 + NBUFS,
	      "free %u, bad %u, head %u", k.bufs.nr_free, k.refill_bad, *k.rq.head);
	no_warnings("cq_wrap_warnings");
	kfx_free();
}

/* A full CQ refuses, reservations count, a hostile head never gives room. */
static void test_cq_space(void)
{
	u32 s1, s2, s3, s4, s5;

	if (kfx_init(7))
		return (void)CHECK("cq_space", 0, "out of memory");
	spin_lock(&k.lock);
	zcrx_ring_cq_reserve_locked(&k.cq);
	zcrx_ring_cq_reserve_locked(&k.cq);
	s1 = zcrx_ring_cq_space_locked(&k.cq);
	zcrx_ring_cq_unreserve_locked(&k.cq);
	zcrx_ring_cq_unreserve_locked(&k.cq);
	while (zcrx_ring_cq_space_locked(&k.cq))
		zcrx_ring_cq_post_locked(&k.cq, 0, 0, 0, ZCRXDEV_CQE_EOF, 0);
	s2 = k.cq.prod - 7;
	/* The process claims to have read more than was ever posted. */
	*k.z.cq.khead = k.cq.prod + 1000;
	s3 = zcrx_ring_cq_space_locked(&k.cq);
	/* ... or its head fell behind by more than a ring. */
	*k.z.cq.khead = k.cq.prod - CQ_ENTRIES - 5;
	s4 = zcrx_ring_cq_space_locked(&k.cq);
	*k.z.cq.khead = k.cq.prod - 3;
	s5 = zcrx_ring_cq_space_locked(&k.cq);
	spin_unlock(&k.lock);
	CHECK("cq_reserved_counted", s1 == CQ_ENTRIES - 2, "space %u", s1);
	CHECK("cq_fills_exactly", s2 == CQ_ENTRIES, "posted %u", s2);
	CHECK("cq_head_ahead_full", s3 == 0, "space %u with head ahead", s3);
	CHECK("cq_head_behind_full", s4 == 0, "space %u with head behind", s4);
	CHECK("cq_head_honest", s5 == CQ_ENTRIES - 3, "space %u", s5);
	CHECK("cq_stats", k.stats.completions == CQ_ENTRIES && k.stats.eof == CQ_ENTRIES,
	      "completions %llu eof %llu", (unsigned long long)k.stats.completions,
	      (unsigned long long)k.stats.eof);
	no_warnings("cq_space_warnings");

	/* Unreserving what was never reserved is an impossible state. */
	spin_lock(&k.lock);
	zcrx_ring_cq_unreserve_locked(&k.cq);
	spin_unlock(&k.lock);
	CHECK("cq_unreserve_warns", kshim_warnings == 1 && !k.cq.reserved,
	      "%u warnings, reserved %u", kshim_warnings, k.cq.reserved);
	kshim_warnings = 0;
	/* And a ring function without its lock is caught. */
	(void)zcrx_ring_cq_space_locked(&k.cq);
	CHECK("cq_lock_asserted", kshim_warnings == 1, "%u warnings", kshim_warnings);
	kfx_free();
}

/* The refill ring: bounded, every entry checked, nothing trusted. */
static void test_rq_hostile(void)
{
	struct zcrxdev_rqe *rqe;
	bool pended = false;
	u32 i, b, n1, n2, bad;

	if (kfx_init(UINT32_MAX - 2))
		return (void)CHECK("rq_hostile", 0, "out of memory");
	spin_lock(&k.lock);
	b = zcrx_buf_take_locked(&k.bufs, &pended);
	k_post_locked(b, 0, 10);
	spin_unlock(&k.lock);

	/* Garbage entries, a tail ten rings ahead: one ring's worth is read. */
	for (i = 0; i < RQ_ENTRIES; i++) {
		rqe = &k.z.rq.rqes[i];
		rqe->off = (u64)(i * 7919) << 8;
		rqe->flags = i & 1;
		rqe->resv = 0;
	}
	k.z.rq.rqes[(UINT32_MAX - 2) & (RQ_ENTRIES - 1)] =
		(struct zcrxdev_rqe){ .off = (u64)b << BSHIFT };
	*k.z.rq.ktail = *k.rq.head + 10 * RQ_ENTRIES;
	spin_lock(&k.lock);
	n1 = zcrx_ring_rq_avail_locked(&k.rq);
	k_refill_locked();
	bad = k.refill_bad;
	/* The buffer returned once may not be returned again. */
	*k.z.rq.ktail = *k.rq.head - 1;		/* "behind": as far ahead as it gets */
	n2 = zcrx_ring_rq_avail_locked(&k.rq);
	k_refill_locked();
	spin_unlock(&k.lock);
	CHECK("rq_tail_ahead_bounded", n1 == RQ_ENTRIES, "read %u entries", n1);
	CHECK("rq_tail_behind_bounded", n2 == RQ_ENTRIES, "read %u entries", n2);
	CHECK("rq_one_good_entry", bad == RQ_ENTRIES - 1 &&
	      k.refill_bad == 2 * RQ_ENTRIES - 1,
	      "bad %u then %u", bad, k.refill_bad);
	CHECK("rq_buffer_back_once", k.bufs.nr_free == NBUFS &&
	      !k.bufs.b[b].user_refs, "free %u refs %u", k.bufs.nr_free,
	      k.bufs.b[b].user_refs);
	CHECK("rq_head_published", *k.rq.head == UINT32_MAX - 2 + 2 * RQ_ENTRIES,
	      "head %u", *k.rq.head);
	no_warnings("rq_hostile_warnings");
	kfx_free();
}

/* Wake readiness: the threshold, its clamp, urgent completions, flags. */
static void test_wake_ready(void)
{
	bool r0, r3, r4, clamp_ok, urgent, need, data, garbage;
	u32 i;

	if (kfx_init(UINT32_MAX))
		return (void)CHECK("wake_ready", 0, "out of memory");
	*k.z.cq.kwake_min = 4;
	spin_lock(&k.lock);
	r0 = zcrx_ring_cq_wake_ready(&k.cq);
	for (i = 0; i < 3; i++)
		zcrx_ring_cq_post_locked(&k.cq, i, 0, 1, ZCRXDEV_CQE_COPIED, 0);
	r3 = zcrx_ring_cq_wake_ready(&k.cq);
	zcrx_ring_cq_post_locked(&k.cq, i, 0, 1, ZCRXDEV_CQE_COPIED, 0);
	r4 = zcrx_ring_cq_wake_ready(&k.cq);
	*k.z.cq.kwake_min = 1000;	/* clamped to entries / 2 */
	for (i = 4; i < CQ_ENTRIES / 2 - 1; i++)
		zcrx_ring_cq_post_locked(&k.cq, i, 0, 1, ZCRXDEV_CQE_COPIED, 0);
	clamp_ok = !zcrx_ring_cq_wake_ready(&k.cq);
	zcrx_ring_cq_post_locked(&k.cq, i, 0, 1, ZCRXDEV_CQE_COPIED, 0);
	clamp_ok = clamp_ok && zcrx_ring_cq_wake_ready(&k.cq);
	/* Consume all but one; an EOF wakes at once. */
	*k.z.cq.khead = k.cq.prod;
	zcrx_ring_cq_post_locked(&k.cq, 0, 0, 0, ZCRXDEV_CQE_EOF, 0);
	urgent = zcrx_ring_cq_wake_ready(&k.cq);
	*k.z.cq.khead = k.cq.prod;
	zcrx_ring_cq_post_locked(&k.cq, 0, 0, 1, ZCRXDEV_CQE_COPIED, 0);
	zcrx_ring_cq_need_wakeup_locked(&k.cq);
	need = zcrx_ring_cq_wake_ready(&k.cq) && zcrx_need_wakeup(&k.z);
	zcrx_ring_cq_flags_locked(&k.cq, 0, ZCRXDEV_RING_NEED_WAKEUP);
	zcrx_ring_cq_data_ready_locked(&k.cq, true);
	*k.z.cq.khead = k.cq.prod;
	data = zcrx_ring_cq_wake_ready(&k.cq) && zcrx_data_ready(&k.z) &&
	       !zcrx_need_wakeup(&k.z);
	zcrx_ring_cq_data_taken_locked(&k.cq);
	/* The process scribbles on the flags word: the kernel's copy rules. */
	*k.z.cq.kflags = ~0u;
	*k.z.cq.khead = k.cq.prod + 5;	/* garbage: wake, let it sort itself out */
	garbage = zcrx_ring_cq_wake_ready(&k.cq);
	spin_unlock(&k.lock);
	CHECK("wake_empty", !r0, "ready with nothing posted");
	CHECK("wake_below_min", !r3, "ready with 3 of 4");
	CHECK("wake_at_min", r4, "not ready with 4 of 4");
	CHECK("wake_min_clamped", clamp_ok, "wake_min not clamped to entries / 2");
	CHECK("wake_urgent", urgent, "an unconsumed EOF does not wake");
	CHECK("wake_need_wakeup", need, "NEED_WAKEUP does not wake or show");
	CHECK("wake_data_ready", data, "urgent DATA_READY does not wake or show");
	CHECK("wake_garbage_head", garbage, "a garbage head does not wake");
	no_warnings("wake_warnings");
	kfx_free();
}

/*
 * DEFER pools: arrivals count towards wake_min like completions, an urgent
 * one wakes at once, RECV taking the sockets clears both, the count
 * saturates at the ring's size.
 */
static void test_wake_arrivals(void)
{
	bool a3, a4, mixed, taken, urgent, sat;
	u32 i;

	if (kfx_init(UINT32_MAX))
		return (void)CHECK("wake_arrivals", 0, "out of memory");
	*k.z.cq.kwake_min = 4;
	spin_lock(&k.lock);
	for (i = 0; i < 3; i++)
		zcrx_ring_cq_data_ready_locked(&k.cq, false);
	a3 = !zcrx_ring_cq_wake_ready(&k.cq) && zcrx_data_ready(&k.z);
	zcrx_ring_cq_data_ready_locked(&k.cq, false);
	a4 = zcrx_ring_cq_wake_ready(&k.cq);
	zcrx_ring_cq_data_taken_locked(&k.cq);
	taken = !zcrx_ring_cq_wake_ready(&k.cq) && !zcrx_data_ready(&k.z);
	/* Two completions and two arrivals make four. */
	zcrx_ring_cq_post_locked(&k.cq, 0, 0, 1, ZCRXDEV_CQE_COPIED, 0);
	zcrx_ring_cq_post_locked(&k.cq, 1, 0, 1, ZCRXDEV_CQE_COPIED, 0);
	zcrx_ring_cq_data_ready_locked(&k.cq, false);
	mixed = !zcrx_ring_cq_wake_ready(&k.cq);
	zcrx_ring_cq_data_ready_locked(&k.cq, false);
	mixed = mixed && zcrx_ring_cq_wake_ready(&k.cq);
	*k.z.cq.khead = k.cq.prod;
	zcrx_ring_cq_data_taken_locked(&k.cq);
	*k.z.cq.kwake_min = 1000;
	zcrx_ring_cq_data_ready_locked(&k.cq, true);
	urgent = zcrx_ring_cq_wake_ready(&k.cq);
	for (i = 0; i < 3 * CQ_ENTRIES; i++)
		zcrx_ring_cq_data_ready_locked(&k.cq, false);
	sat = k.cq.arrivals == CQ_ENTRIES;
	spin_unlock(&k.lock);
	CHECK("arrivals_below_min", a3, "3 arrivals of 4 wake, or no DATA_READY");
	CHECK("arrivals_at_min", a4, "4 arrivals of 4 do not wake");
	CHECK("arrivals_taken", taken, "RECV's take leaves a wake or DATA_READY");
	CHECK("arrivals_plus_completions", mixed,
	      "2 completions + 2 arrivals are not 4");
	CHECK("arrivals_urgent", urgent, "an urgent arrival does not wake");
	CHECK("arrivals_saturate", sat, "arrivals %u, want %u", k.cq.arrivals,
	      CQ_ENTRIES);
	no_warnings("arrivals_warnings");
	kfx_free();
}

/* The buffer state machine: take, pend, scan, reopen, claim, send. */
static void test_bufs(void)
{
	bool pended = false, ok;
	u32 b, c, i, n = 0;
	u64 gen;

	if (kfx_init(0))
		return (void)CHECK("bufs", 0, "out of memory");
	held[0] = true;		/* top of the free stack: vmspliced */
	spin_lock(&k.lock);
	b = zcrx_buf_take_locked(&k.bufs, &pended);
	CHECK("take_skips_held", b == 1 && pended &&
	      k.bufs.b[0].state == ZCRX_BUF_PENDING &&
	      k.bufs.b[b].state == ZCRX_BUF_INUSE, "took %u, pended %d", b, pended);
	while (zcrx_buf_take_locked(&k.bufs, &pended) != ZCRX_NO_BUF)
		n++;
	CHECK("take_all", n == NBUFS - 2 && !k.bufs.nr_free, "took %u more", n);
	CHECK("scan_keeps_held", !zcrx_buf_scan_pending_locked(&k.bufs),
	      "a held buffer went free");
	held[0] = false;
	CHECK("scan_frees", zcrx_buf_scan_pending_locked(&k.bufs) == 1 &&
	      k.bufs.nr_free == 1 && !k.bufs.nr_pending, "not freed");

	/* Filling b: one completion, then the socket gives it up. */
	zcrx_buf_open_locked(&k.bufs, b);
	zcrx_buf_get_locked(&k.bufs, b);
	gen = zcrx_buf_close_locked(&k.bufs, b);
	ok = zcrx_buf_may_reopen_locked(&k.bufs, b, gen, 100);
	CHECK("reopen_same_gen", ok, "cannot reopen its own buffer");
	CHECK("reopen_full_refused", !zcrx_buf_may_reopen_locked(&k.bufs, b, gen, BSIZE),
	      "reopened a full buffer");
	CHECK("zc_inuse_ok", zcrx_buf_zc_ok_locked(&k.bufs, b), "INUSE refused");
	/* Returned while an skb holds a page: PENDING, zero-copy makes it INUSE. */
	held[b] = true;
	CHECK("return_ok", zcrx_buf_return_locked(&k.bufs, (u64)b << BSHIFT),
	      "a good return refused");
	CHECK("return_pends", k.bufs.b[b].state == ZCRX_BUF_PENDING &&
	      k.bufs.b[b].gen == gen + 1, "state %u gen %llu", k.bufs.b[b].state,
	      (unsigned long long)k.bufs.b[b].gen);
	CHECK("reopen_recycled_refused", !zcrx_buf_may_reopen_locked(&k.bufs, b, gen, 100),
	      "reopened a recycled buffer");
	CHECK("double_return_refused", !zcrx_buf_return_locked(&k.bufs, (u64)b << BSHIFT),
	      "a double return accepted");
	CHECK("unaligned_return_refused",
	      !zcrx_buf_return_locked(&k.bufs, ((u64)b << BSHIFT) + 1) &&
	      !zcrx_buf_return_locked(&k.bufs, (u64)NBUFS << BSHIFT),
	      "a bad offset accepted");
	zcrx_buf_get_zc_locked(&k.bufs, b);
	CHECK("zc_unpends", k.bufs.b[b].state == ZCRX_BUF_INUSE &&
	      k.bufs.b[b].user_refs == 1 && !k.bufs.nr_pending, "state %u",
	      k.bufs.b[b].state);
	held[b] = false;

	/* CLAIM: no user reference until handed out; a fault gives it back. */
	c = zcrx_buf_take_locked(&k.bufs, &pended);
	zcrx_buf_claim_locked(&k.bufs, c);
	CHECK("claiming_no_zc", !zcrx_buf_zc_ok_locked(&k.bufs, c) &&
	      !zcrx_buf_return_locked(&k.bufs, (u64)c << BSHIFT),
	      "a claiming buffer was completed or returned");
	zcrx_buf_claimed_locked(&k.bufs, c, false);
	CHECK("claim_fault_frees", k.bufs.b[c].state == ZCRX_BUF_FREE &&
	      k.bufs.nr_free == 1, "state %u", k.bufs.b[c].state);
	c = zcrx_buf_take_locked(&k.bufs, &pended);
	zcrx_buf_claim_locked(&k.bufs, c);
	zcrx_buf_claimed_locked(&k.bufs, c, true);
	CHECK("claim_hands_out", k.bufs.b[c].user_refs == 1, "refs %u",
	      k.bufs.b[c].user_refs);
	CHECK("zc_free_refused", ({ bool z0; z0 = true;
		for (i = 0; i < NBUFS; i++)
			if (k.bufs.b[i].state == ZCRX_BUF_FREE &&
			    zcrx_buf_zc_ok_locked(&k.bufs, i))
				z0 = false;
		z0; }), "a FREE buffer may be completed in place");

	/* SEND holds what the process holds, and only that. */
	CHECK("send_needs_refs", !zcrx_buf_send_hold_locked(&k.bufs, 0, NBUFS - 1),
	      "sent buffers the process does not hold");
	ok = zcrx_buf_send_hold_locked(&k.bufs, c, c);
	zcrx_buf_return_locked(&k.bufs, (u64)c << BSHIFT);
	CHECK("send_keeps_inuse", ok && k.bufs.b[c].state == ZCRX_BUF_INUSE,
	      "recycled under a send");
	zcrx_buf_send_drop_locked(&k.bufs, c, c);
	CHECK("send_drop_recycles", k.bufs.b[c].state == ZCRX_BUF_FREE, "state %u",
	      k.bufs.b[c].state);
	spin_unlock(&k.lock);
	no_warnings("bufs_warnings");
	kfx_free();
}

/* ---- two threads ---- */

struct stress {
	u32		n;
	double		secs;
	u32		posted;		/* kernel: completions posted */
	u32		seen;		/* process: completions checked */
	u32		bad;		/* process: out of order or wrong */
	u32		stalls, lost;	/* kernel: stalls, stalls never woken */
	int		stop;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Kernel side: take a buffer (refills when none is free), reserve a slot,
 * "copy", post.  Stalled: NEED_WAKEUP + [WK-1], one more look, then wait
 * for a wake call only.
 */
static bool k_try_post(struct stress *s)
{
	bool pended = false, ok = false;
	u32 b;

	spin_lock(&k.lock);
	b = zcrx_buf_take_locked(&k.bufs, &pended);
	if (b == ZCRX_NO_BUF) {
		k_refill_locked();
		b = zcrx_buf_take_locked(&k.bufs, &pended);
	}
	if (b != ZCRX_NO_BUF && zcrx_ring_cq_space_locked(&k.cq)) {
		zcrx_ring_cq_reserve_locked(&k.cq);
		zcrx_buf_open_locked(&k.bufs, b);
		zcrx_buf_get_locked(&k.bufs, b);
		zcrx_ring_cq_unreserve_locked(&k.cq);
		zcrx_ring_cq_post_locked(&k.cq, s->posted, (u64)b << BSHIFT,
					 1 + s->posted % BSIZE, ZCRXDEV_CQE_COPIED, 0);
		zcrx_buf_close_locked(&k.bufs, b);
		s->posted++;
		ok = true;
	} else if (b != ZCRX_NO_BUF) {
		/* No slot: the buffer goes back unused. */
		zcrx_buf_maybe_recycle_locked(&k.bufs, b);
	}
	spin_unlock(&k.lock);
	return ok;
}

static void *k_thread(void *arg)
{
	struct stress *s = arg;
	unsigned int wakes;
	double t;

	while (s->posted < s->n && !__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		if (k_try_post(s))
			continue;
		wakes = __atomic_load_n(&k.wakes, __ATOMIC_ACQUIRE);
		spin_lock(&k.lock);
		zcrx_ring_cq_need_wakeup_locked(&k.cq);
		spin_unlock(&k.lock);
		s->stalls++;
		if (!k_try_post(s)) {
			t = now_s();
			while (__atomic_load_n(&k.wakes, __ATOMIC_ACQUIRE) == wakes &&
			       !__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
				if (now_s() - t > STALL_LIMIT) {
					s->lost++;
					__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
					break;
				}
				sched_yield();
			}
		}
		spin_lock(&k.lock);
		zcrx_ring_cq_flags_locked(&k.cq, 0, ZCRXDEV_RING_NEED_WAKEUP);
		spin_unlock(&k.lock);
	}
	return NULL;
}

/* Process side: one round of libzcrx's receive loop; completions read. */
static unsigned int p_round(struct stress *s)
{
	struct zcrxdev_cqe *cqe;
	unsigned int head, n = 0;

	zcrx_for_each_cqe(&k.z, head, cqe) {
		if (cqe->tag != s->seen + n || cqe->len != 1 + (s->seen + n) % BSIZE ||
		    cqe->off >= (u64)NBUFS << BSHIFT || cqe->off & (BSIZE - 1))
			s->bad++;
		if (zcrx_return_cqe(&k.z, cqe) < 0)
			s->bad++;
		n++;
	}
	zcrx_cq_advance(&k.z, n);
	s->seen += n;
	if (zcrx_rq_commit(&k.z) < 0)
		s->bad++;
	return n;
}

/* Until everything is seen, the time limit, or the kernel gave up. */
static void p_loop(struct stress *s)
{
	double t0 = now_s();

	while (s->seen < s->n && !__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		if (!p_round(s))
			sched_yield();
		if (now_s() - t0 > s->secs)
			break;
	}
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
}

static void test_threads(void)
{
	const char *env_n = getenv("ZCRX_KRING_N"), *env_s = getenv("ZCRX_KRING_SECS");
	struct stress s = {
		.n = env_n ? strtoul(env_n, NULL, 0) : KRING_N,
		.secs = env_s ? strtod(env_s, NULL) : KRING_SECS,
	};
	pthread_t t;
	double t0;

	/* Start just below 2^32: both rings wrap early in the run. */
	if (kfx_init(UINT32_MAX - 100))
		return (void)CHECK("threads", 0, "out of memory");
	t0 = now_s();
	if (pthread_create(&t, NULL, k_thread, &s)) {
		CHECK("threads", 0, "pthread_create failed");
		kfx_free();
		return;
	}
	p_loop(&s);
	pthread_join(t, NULL);
	/* What is left in the rings comes back too. */
	p_round(&s);
	spin_lock(&k.lock);
	k_refill_locked();
	spin_unlock(&k.lock);
	tap_diag("kring.threads: %u completions in %.2f s, %u stalls, %u wake calls",
		 s.seen, now_s() - t0, s.stalls, k.wakes);
	CHECK("threads_in_order", !s.bad && s.seen && s.seen == s.posted,
	      "%u wrong of %u seen, %u posted", s.bad, s.seen, s.posted);
	CHECK("threads_no_lost_wakeup", !s.lost, "the kernel stalled %.0f s with no wake call",
	      STALL_LIMIT);
	CHECK("threads_stalled_and_woken", s.stalls && k.wakes,
	      "%u stalls, %u wakes: the wake path was not exercised", s.stalls, k.wakes);
	CHECK("threads_all_back", k.bufs.nr_free == NBUFS && !k.refill_bad,
	      "%u of %u buffers free, %u bad refills", k.bufs.nr_free, NBUFS,
	      k.refill_bad);
	no_warnings("threads_warnings");
	kfx_free();
}

int main(void)
{
	tap_set_group("kring");
	test_cq_wrap();
	test_cq_space();
	test_rq_hostile();
	test_wake_ready();
	test_wake_arrivals();
	test_bufs();
	test_threads();
	return tap_exit();
}

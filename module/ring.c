// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx rings, kernel side: what the kernel produces into the completion
 * ring (CQ) and consumes from the refill ring (RQ), and when a poll()
 * waiter has enough to wake up for.  Every barrier of the ring protocol
 * (linux/zcrxdev.h: [CQ-1], [CQ-2], [RQ-1], [RQ-2], [WK-1]) is here.
 *
 * The kernel keeps its own copy of the index it produces (CQ tail, RQ
 * head) and never reads it back from shared memory.  It bounds what it
 * reads: a CQ head that claims more than a ring of entries in use makes
 * the ring look full (that process stalls itself, nobody else); an RQ
 * tail more than a ring ahead is cut to one ring's worth.
 */
#include <linux/bug.h>
#include <linux/compiler.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/string.h>
#include <asm/barrier.h>

#include "ring.h"

/* ---- geometry ---- */

/* Entries of a ring: want (or dflt), clamped, a power of two. */
u32 zcrx_ring_entries(u32 want, u32 dflt)
{
	if (!want)
		want = dflt;
	want = clamp(want, ZCRXDEV_RING_MIN, ZCRXDEV_RING_MAX);
	return roundup_pow_of_two(want);
}

/* Bytes of a ring mapping up to the end of its entries. */
size_t zcrx_ring_used_bytes(u32 entries, size_t entry_size)
{
	return ZCRX_RING_ENTRIES + (size_t)entries * entry_size;
}

void zcrx_ring_offsets(struct zcrxdev_ring_offsets *o, bool cq)
{
	memset(o, 0, sizeof(*o));
	o->head = ZCRX_RING_HEAD;
	o->tail = ZCRX_RING_TAIL;
	o->flags = ZCRX_RING_FLAGS;
	o->entries = ZCRX_RING_ENTRIES;
	o->wake_min = cq ? ZCRX_RING_WAKE_MIN : 0;	/* a CQ-only word */
}

/* mem: the zeroed ring mapping; entries: a power of two. */
void zcrx_ring_init(struct zcrx_ring *r, void *mem, u32 entries,
		    spinlock_t *lock, struct zcrxdev_stats *stats)
{
	r->head = mem + ZCRX_RING_HEAD;
	r->tail = mem + ZCRX_RING_TAIL;
	r->flags = mem + ZCRX_RING_FLAGS;
	r->wake_min = mem + ZCRX_RING_WAKE_MIN;
	r->array = mem + ZCRX_RING_ENTRIES;
	r->entries = entries;
	r->mask = entries - 1;
	r->lock = lock;
	r->stats = stats;
}

/* ---- completion ring ---- */

/* Free CQ slots, not counting slots promised to sockets. */
u32 zcrx_ring_cq_space_locked(struct zcrx_ring *r)
{
	u32 head, used;

	lockdep_assert_held(r->lock);
	/* [CQ-2]: the process has finished reading the slots before head. */
	head = smp_load_acquire(r->head);
	used = r->prod - head;
	if (used > r->entries)	/* garbage head: treat as full */
		used = r->entries;
	used += r->reserved;
	return used >= r->entries ? 0 : r->entries - used;
}

/* Promise one slot (the caller saw space) to a segment being filled. */
void zcrx_ring_cq_reserve_locked(struct zcrx_ring *r)
{
	lockdep_assert_held(r->lock);
	r->reserved++;
}

void zcrx_ring_cq_unreserve_locked(struct zcrx_ring *r)
{
	lockdep_assert_held(r->lock);
	if (!WARN_ON_ONCE(!r->reserved))
		r->reserved--;
}

/* Post one completion into a slot the caller found or reserved. */
void zcrx_ring_cq_post_locked(struct zcrx_ring *r, u64 tag, u64 off, u32 len,
			      u32 flags, s32 error)
{
	struct zcrxdev_cqe *cqe;

	lockdep_assert_held(r->lock);
	cqe = r->array + (size_t)(r->prod & r->mask) * sizeof(*cqe);
	cqe->tag = tag;
	cqe->off = off;
	cqe->len = len;
	cqe->flags = flags;
	cqe->error = error;
	cqe->resv = 0;
	r->prod++;
	/* [CQ-1]: the entry is written before the process can see it. */
	smp_store_release(r->tail, r->prod);

	r->stats->completions++;
	if (flags & (ZCRXDEV_CQE_EOF | ZCRXDEV_CQE_ERROR | ZCRXDEV_CQE_SENT))
		WRITE_ONCE(r->urgent, r->prod);
	if (flags & ZCRXDEV_CQE_COPIED)
		r->stats->bytes_copied += len;
	if (flags & ZCRXDEV_CQE_ZEROCOPY)
		r->stats->bytes_zerocopy += len;
	if (flags & ZCRXDEV_CQE_MAPPED)
		r->stats->bytes_mapped += len;
	if (flags & ZCRXDEV_CQE_EOF)
		r->stats->eof++;
	if (flags & ZCRXDEV_CQE_ERROR)
		r->stats->errors++;
}

/* Change bits of the CQ flags word; the process only reads it. */
void zcrx_ring_cq_flags_locked(struct zcrx_ring *r, u32 set, u32 clear)
{
	u32 flags = (r->kflags | set) & ~clear;

	lockdep_assert_held(r->lock);
	/* Always rewrite the shared word: the process may have scribbled on it. */
	WRITE_ONCE(r->kflags, flags);
	WRITE_ONCE(*r->flags, flags);
}

/* The kernel waits: say so before the caller looks at the rings again. */
void zcrx_ring_cq_need_wakeup_locked(struct zcrx_ring *r)
{
	lockdep_assert_held(r->lock);
	zcrx_ring_cq_flags_locked(r, ZCRXDEV_RING_NEED_WAKEUP, 0);
	/*
	 * [WK-1]: the flag is visible before we look at the rings again;
	 * pairs with [WK-2] in zcrx_rq_commit() (libzcrx).
	 */
	smp_mb();
}

/*
 * DEFER pools: bytes arrived for RECV to place.  Each arrival counts
 * towards the wake threshold as the completion it would have been without
 * DEFER; an urgent one (end of stream, error, a full receive queue, a
 * resumed socket) wakes a waiter at once.
 */
void zcrx_ring_cq_data_ready_locked(struct zcrx_ring *r, bool urgent)
{
	lockdep_assert_held(r->lock);
	if (!(r->kflags & ZCRXDEV_RING_DATA_READY))
		zcrx_ring_cq_flags_locked(r, ZCRXDEV_RING_DATA_READY, 0);
	if (urgent)
		WRITE_ONCE(r->arrivals, r->entries);
	else if (r->arrivals < r->entries)
		WRITE_ONCE(r->arrivals, r->arrivals + 1);
}

/* RECV takes every ready socket: nothing waits any more. */
void zcrx_ring_cq_data_taken_locked(struct zcrx_ring *r)
{
	lockdep_assert_held(r->lock);
	zcrx_ring_cq_flags_locked(r, 0, ZCRXDEV_RING_DATA_READY);
	WRITE_ONCE(r->arrivals, 0);
}

/*
 * Is there enough for a waiter (see the wake threshold in linux/zcrxdev.h)?
 * Every word the process writes is read once and bounded.
 */
bool zcrx_ring_cq_wake_ready(struct zcrx_ring *r)
{
	u32 head = READ_ONCE(*r->head), tail = READ_ONCE(r->prod);
	u32 ready = tail - head, min = READ_ONCE(*r->wake_min);
	u32 flags = READ_ONCE(r->kflags);
	u32 arrivals = 0;

	min = clamp_t(u32, min, 1, r->entries / 2);
	if (flags & ZCRXDEV_RING_DATA_READY)	/* RECV has work */
		arrivals = READ_ONCE(r->arrivals);
	if (ready > r->entries)	/* garbage head */
		return true;
	if (ready + arrivals >= min)	/* each at most entries */
		return true;
	if (!ready)
		return false;
	/*
	 * A stalled socket may wait for the buffers of these very
	 * completions; an unconsumed EOF, ERROR or SENT should not wait.
	 */
	return (flags & ZCRXDEV_RING_NEED_WAKEUP) ||
	       (s32)(READ_ONCE(r->urgent) - head) > 0;
}

/* ---- refill ring ---- */

/* Entries the process has published, at most one ring's worth. */
u32 zcrx_ring_rq_avail_locked(struct zcrx_ring *r)
{
	u32 n;

	lockdep_assert_held(r->lock);
	/* [RQ-1]: entries before tail are written by the process. */
	n = smp_load_acquire(r->tail) - r->prod;
	/* A tail too far ahead is garbage: look at one ring's worth only. */
	return min(n, r->entries);
}

/* Entry i after the head, each field read once: the process may rewrite it. */
void zcrx_ring_rq_read_locked(struct zcrx_ring *r, u32 i, struct zcrx_rqe *e)
{
	struct zcrxdev_rqe *rqe;

	lockdep_assert_held(r->lock);
	rqe = r->array + (size_t)((r->prod + i) & r->mask) * sizeof(*rqe);
	e->off = READ_ONCE(rqe->off);
	e->flags = READ_ONCE(rqe->flags);
	e->resv = READ_ONCE(rqe->resv);
}

/* The first n entries are read: their slots go back to the process. */
void zcrx_ring_rq_consume_locked(struct zcrx_ring *r, u32 n)
{
	lockdep_assert_held(r->lock);
	if (!n)
		return;
	r->prod += n;
	/* [RQ-2]: we are done with the slots before head. */
	smp_store_release(r->head, r->prod);
}

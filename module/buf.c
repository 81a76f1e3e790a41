// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx buffers: who may write a pool buffer, and when it is free again.
 *
 * Every buffer is in one of three states (enum zcrx_buf_state).  A buffer
 * leaves INUSE only when no completion naming it is outstanding, no socket
 * is placing bytes into it, no send or claim uses it, and none of its pages
 * has a reference other than the pool's own, its page-table mappings and
 * the declared pins (mem.c): an skb that still points at a page (zero-copy
 * send from the pool, socket splice) keeps the buffer PENDING, so a reused
 * buffer can never change bytes a packet in flight still carries.  A FREE
 * buffer is checked again when it is taken: its owner can vmsplice() free
 * pages too.  Everything here runs under the pool's lock.
 */
#include <linux/bug.h>
#include <linux/minmax.h>
#include <linux/nospec.h>
#include <linux/slab.h>

#include "buf.h"
#include "mem.h"

/* How many PENDING buffers one scan looks at: softirqs are off meanwhile. */
#define ZCRX_SCAN_BUDGET	64

int zcrx_buf_alloc(struct zcrx_bufs *bb, u32 nr, u32 shift,
		   struct zcrx_mem *mem, spinlock_t *lock)
{
	u32 b;

	bb->nr = nr;
	bb->shift = shift;
	bb->size = 1U << shift;
	bb->mem = mem;
	bb->lock = lock;
	bb->b = kvcalloc(nr, sizeof(*bb->b), GFP_KERNEL_ACCOUNT);
	bb->free_stack = kvcalloc(nr, sizeof(u32), GFP_KERNEL_ACCOUNT);
	bb->pending = kvcalloc(nr, sizeof(u32), GFP_KERNEL_ACCOUNT);
	if (!bb->b || !bb->free_stack || !bb->pending)
		return -ENOMEM;
	/* Most recently freed on top: reuse is cache-warm. */
	for (b = 0; b < nr; b++)
		bb->free_stack[b] = nr - 1 - b;
	bb->nr_free = nr;
	return 0;
}

void zcrx_buf_free(struct zcrx_bufs *bb)
{
	kvfree(bb->b);
	kvfree(bb->free_stack);
	kvfree(bb->pending);
}

static void zcrx_buf_pend(struct zcrx_bufs *bb, u32 b)
{
	lockdep_assert_held(bb->lock);
	bb->b[b].state = ZCRX_BUF_PENDING;
	bb->b[b].pend_idx = bb->nr_pending;
	bb->pending[bb->nr_pending++] = b;
}

/* Take b off the pending list (it stays PENDING until the caller says). */
static void zcrx_buf_unpend(struct zcrx_bufs *bb, u32 b)
{
	u32 i = bb->b[b].pend_idx, last;

	lockdep_assert_held(bb->lock);
	if (WARN_ON_ONCE(i >= bb->nr_pending || bb->pending[i] != b))
		return;
	last = bb->pending[--bb->nr_pending];
	bb->pending[i] = last;
	bb->b[last].pend_idx = i;
}

static void zcrx_buf_push_free(struct zcrx_bufs *bb, u32 b)
{
	bb->b[b].state = ZCRX_BUF_FREE;
	bb->free_stack[bb->nr_free++] = b;
}

static void zcrx_buf_recycle(struct zcrx_bufs *bb, u32 b)
{
	lockdep_assert_held(bb->lock);
	bb->b[b].gen++;
	if (zcrx_mem_buf_busy(bb->mem, b))
		zcrx_buf_pend(bb, b);
	else
		zcrx_buf_push_free(bb, b);
}

/*
 * A FREE buffer to write into, now INUSE, or ZCRX_NO_BUF.  Its pages are
 * checked once more: the process can vmsplice() free buffers' pages into
 * pipes and sockets, and the module never writes a page that others hold
 * (such a buffer goes PENDING instead, and *pended says so).
 */
u32 zcrx_buf_take_locked(struct zcrx_bufs *bb, bool *pended)
{
	u32 b;

	lockdep_assert_held(bb->lock);
	while (bb->nr_free) {
		b = bb->free_stack[--bb->nr_free];
		if (likely(!zcrx_mem_buf_busy(bb->mem, b))) {
			bb->b[b].state = ZCRX_BUF_INUSE;
			return b;
		}
		zcrx_buf_pend(bb, b);
		*pended = true;
	}
	return ZCRX_NO_BUF;
}

/*
 * Move PENDING buffers whose pages were let go to the free stack.  Looks
 * at ZCRX_SCAN_BUDGET of them at most, going round the list from call to
 * call, so that the time spent with softirqs off stays bounded however
 * many buffers others hold.  Returns how many went free.
 */
u32 zcrx_buf_scan_pending_locked(struct zcrx_bufs *bb)
{
	u32 n = min_t(u32, bb->nr_pending, ZCRX_SCAN_BUDGET);
	u32 i = bb->pending_next, freed = 0, b;

	lockdep_assert_held(bb->lock);
	for (; n && bb->nr_pending; n--) {
		if (i >= bb->nr_pending)
			i = 0;
		b = bb->pending[i];
		if (zcrx_mem_buf_busy(bb->mem, b)) {
			i++;
			continue;
		}
		/* The last entry moves into slot i: look at it next. */
		zcrx_buf_unpend(bb, b);
		zcrx_buf_push_free(bb, b);
		freed++;
	}
	bb->pending_next = i;
	return freed;
}

/* Recycle the buffer once nobody (process, socket, send, claim) uses it. */
void zcrx_buf_maybe_recycle_locked(struct zcrx_bufs *bb, u32 b)
{
	struct zcrx_buf *buf = &bb->b[b];

	lockdep_assert_held(bb->lock);
	if (buf->state == ZCRX_BUF_INUSE && !buf->user_refs && !buf->kopen &&
	    !buf->sending && !buf->claiming)
		zcrx_buf_recycle(bb, b);
}

/*
 * A refill entry for pool byte off (from shared memory): the buffer that
 * holds it loses one user reference.  False for an offset past the pool
 * or not at a buffer's start, and for a buffer with no user reference
 * (double return, never handed out, or being claimed).
 */
bool zcrx_buf_return_locked(struct zcrx_bufs *bb, u64 off)
{
	u32 b;

	lockdep_assert_held(bb->lock);
	if ((off & (bb->size - 1)) || (off >> bb->shift) >= bb->nr)
		return false;
	b = array_index_nospec((u32)(off >> bb->shift), bb->nr);
	if (!bb->b[b].user_refs)
		return false;
	bb->b[b].user_refs--;
	zcrx_buf_maybe_recycle_locked(bb, b);
	return true;
}

/*
 * May a socket go on filling the buffer it gave up last (dense packing)?
 * Only if it was not recycled since (same generation) and nobody else
 * fills or claims it (the state, not only the generation: a 64-bit
 * generation does not wrap, but the state is what says who may write).
 * Its pages may be referenced (an O_DIRECT write or a send of the bytes
 * completed so far): the tail written now was never completed, so only
 * the owner itself can have put it anywhere, and no receiver maps pool
 * pages (mem.c).
 */
bool zcrx_buf_may_reopen_locked(struct zcrx_bufs *bb, u32 b, u64 gen, u32 fill)
{
	struct zcrx_buf *buf;

	lockdep_assert_held(bb->lock);
	if (b >= bb->nr || fill >= bb->size)
		return false;
	buf = &bb->b[b];
	return buf->gen == gen && buf->state == ZCRX_BUF_INUSE &&
	       !buf->kopen && !buf->claiming;
}

/* A socket places bytes into b (taken or reopened) from now on. */
void zcrx_buf_open_locked(struct zcrx_bufs *bb, u32 b)
{
	lockdep_assert_held(bb->lock);
	bb->b[b].kopen = 1;
}

/* The socket gives b up; returns the generation to reopen it by. */
u64 zcrx_buf_close_locked(struct zcrx_bufs *bb, u32 b)
{
	u64 gen = bb->b[b].gen;

	lockdep_assert_held(bb->lock);
	WARN_ON_ONCE(!bb->b[b].kopen);
	bb->b[b].kopen = 0;
	zcrx_buf_maybe_recycle_locked(bb, b);
	return gen;
}

/* One more completion names b. */
void zcrx_buf_get_locked(struct zcrx_bufs *bb, u32 b)
{
	lockdep_assert_held(bb->lock);
	bb->b[b].user_refs++;
}

/*
 * May bytes that arrived in a page of b be completed in place?  A buffer
 * in use (named by completions or being filled) or PENDING (returned while
 * its pages travel) qualifies: nobody writes those.  A FREE buffer may be
 * taken for placement any moment, and a claimed one is not handed out
 * yet, so their bytes are copied; so are those of a buffer named by more
 * completions than we count.
 */
bool zcrx_buf_zc_ok_locked(struct zcrx_bufs *bb, u32 b)
{
	struct zcrx_buf *buf = &bb->b[b];

	lockdep_assert_held(bb->lock);
	return buf->state != ZCRX_BUF_FREE && !buf->claiming &&
	       buf->user_refs != U32_MAX;
}

/*
 * A zero-copy completion names b.  A PENDING buffer's page arrived on an
 * attached socket (it was sent from the pool and returned before it came
 * back): it is in use again.
 */
void zcrx_buf_get_zc_locked(struct zcrx_bufs *bb, u32 b)
{
	lockdep_assert_held(bb->lock);
	if (bb->b[b].state == ZCRX_BUF_PENDING) {
		zcrx_buf_unpend(bb, b);
		bb->b[b].state = ZCRX_BUF_INUSE;
	}
	zcrx_buf_get_locked(bb, b);
}

/* CLAIM took b (zcrx_buf_take_locked()): not the process's yet. */
void zcrx_buf_claim_locked(struct zcrx_bufs *bb, u32 b)
{
	lockdep_assert_held(bb->lock);
	bb->b[b].claiming = 1;
}

/* CLAIM told the process b's offset (handed_out), or failed to. */
void zcrx_buf_claimed_locked(struct zcrx_bufs *bb, u32 b, bool handed_out)
{
	lockdep_assert_held(bb->lock);
	bb->b[b].claiming = 0;
	if (handed_out)
		zcrx_buf_get_locked(bb, b);
	else
		zcrx_buf_maybe_recycle_locked(bb, b);
}

/* Mark [first, last] as being sent, if the process holds them all. */
bool zcrx_buf_send_hold_locked(struct zcrx_bufs *bb, u32 first, u32 last)
{
	u32 b;

	lockdep_assert_held(bb->lock);
	for (b = first; b <= last; b++)
		if (!bb->b[b].user_refs)
			return false;
	for (b = first; b <= last; b++)
		bb->b[b].sending++;
	return true;
}

void zcrx_buf_send_drop_locked(struct zcrx_bufs *bb, u32 first, u32 last)
{
	u32 b;

	lockdep_assert_held(bb->lock);
	for (b = first; b <= last; b++) {
		if (WARN_ON_ONCE(!bb->b[b].sending))
			continue;
		bb->b[b].sending--;
		zcrx_buf_maybe_recycle_locked(bb, b);
	}
}

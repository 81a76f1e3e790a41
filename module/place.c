// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx placement: everything that posts one socket's payload.  Copied
 * bytes go into the socket's open buffer and are completed as segments;
 * bytes already in a pool page are completed in place; whole pages are
 * mapped into the window (MAP pools, RECV only); EOF and errors are one
 * completion each.  A socket that finds no buffer or CQ slot is stalled
 * (on pool->stalled, NEED_WAKEUP set, then one more look: no lost
 * wakeup); a DEFER pool's socket with bytes waiting is ready (on
 * pool->ready, DATA_READY set) for RECV.
 *
 * Dense packing without pinning: consecutive bytes of a socket fill a
 * buffer before the next one is taken.  At the end of every pass the
 * bytes placed are completed and the buffer is given up, remembering
 * (buffer, generation, fill); the next pass reopens it if it is still the
 * socket's (buf.c), else takes the top of the free stack.
 *
 * A CQ slot is reserved before the first byte of a segment is copied, so
 * a segment, once copied, can always be completed.  Completions of one
 * socket are in stream order: a piece completed in place or mapped first
 * completes the copy segment before it.
 */
#include <linux/mm.h>
#include <linux/skbuff.h>
#include <net/sock.h>

#include "place.h"
#include "pool.h"

/* ---- stalled and ready ---- */

static void zcrx_place_stall_locked(struct zcrx_sock *zs)
{
	struct zcrx_pool *pool = zs->pool;

	lockdep_assert_held(&pool->lock);
	if (list_empty(&zs->stall_node)) {
		list_add_tail(&zs->stall_node, &pool->stalled);
		pool->stats.stalls++;
	}
	/* NEED_WAKEUP, then [WK-1] (ring.c): the caller looks once more. */
	zcrx_ring_cq_need_wakeup_locked(&pool->cq);
	if (pool->bufs.nr_pending)
		zcrx_pool_arm_tick_locked(pool);
}

static void zcrx_place_unstall_locked(struct zcrx_sock *zs)
{
	struct zcrx_pool *pool = zs->pool;

	lockdep_assert_held(&pool->lock);
	if (likely(list_empty(&zs->stall_node)))
		return;
	list_del_init(&zs->stall_node);
	if (list_empty(&pool->stalled))
		zcrx_ring_cq_flags_locked(&pool->cq, 0, ZCRXDEV_RING_NEED_WAKEUP);
}

/*
 * Is a CQ slot free for zs?  If not, mark zs stalled and look once more
 * (no lost wakeup); false means zs stays stalled.
 */
static bool zcrx_place_cq_room_locked(struct zcrx_sock *zs)
{
	struct zcrx_pool *pool = zs->pool;

	lockdep_assert_held(&pool->lock);
	if (!zcrx_ring_cq_space_locked(&pool->cq)) {
		zcrx_place_stall_locked(zs);
		zcrx_pool_refill_locked(pool);
		if (!zcrx_ring_cq_space_locked(&pool->cq))
			return false;
	}
	zcrx_place_unstall_locked(zs);
	return true;
}

/*
 * A DEFER pool's socket has something for RECV (any context, no pool
 * lock).  urgent: wake a waiter now, whatever its threshold.
 */
void zcrx_place_mark_ready(struct zcrx_sock *zs, bool urgent)
{
	struct zcrx_pool *pool = zs->pool;

	spin_lock_bh(&pool->lock);
	/* Detach takes zs off the list under this lock after setting the bit. */
	if (!test_bit(ZS_DETACHED, &zs->flags)) {
		if (list_empty(&zs->ready_node))
			list_add_tail(&zs->ready_node, &pool->ready);
		zcrx_ring_cq_data_ready_locked(&pool->cq, urgent);
	}
	spin_unlock_bh(&pool->lock);
	zcrx_pool_notify(pool);
}

/* ---- copy segments ---- */

/*
 * Make sure zs has an open buffer with room and one CQ slot reserved for
 * its current segment.  Returns false (and marks zs stalled) if not.
 */
static bool zcrx_place_begin_seg(struct zcrx_sock *zs)
{
	struct zcrx_pool *pool = zs->pool;
	struct zcrx_bufs *bb = &pool->bufs;
	bool retried = false;
	u32 b;

	lockdep_assert(lockdep_sock_is_held(zs->sk));
	spin_lock_bh(&pool->lock);
retry:
	if (zs->cur_buf == ZCRX_NO_BUF) {
		b = zs->hint_buf;
		if (zcrx_buf_may_reopen_locked(bb, b, zs->hint_gen, zs->hint_fill)) {
			zs->fill = zs->hint_fill;
		} else {
			b = zcrx_pool_take_buf_locked(pool);
			if (b == ZCRX_NO_BUF)
				goto stall;
			zs->fill = 0;
		}
		zcrx_buf_open_locked(bb, b);
		zs->cur_buf = b;
		zs->seg_start = zs->fill;
	}
	if (!zs->cq_reserved) {
		if (!zcrx_ring_cq_space_locked(&pool->cq))
			goto stall;
		zcrx_ring_cq_reserve_locked(&pool->cq);
		zs->cq_reserved = true;
	}
	zcrx_place_unstall_locked(zs);
	spin_unlock_bh(&pool->lock);
	return true;

stall:
	if (!retried) {
		/* Flag first, then one more look: no lost wakeup. */
		zcrx_place_stall_locked(zs);
		zcrx_pool_refill_locked(pool);
		retried = true;
		goto retry;
	}
	spin_unlock_bh(&pool->lock);
	return false;
}

/*
 * Complete the bytes placed since the segment began; with close, or when
 * the buffer is full, also give the buffer up (remembering where we were).
 */
static void zcrx_place_end_seg(struct zcrx_sock *zs, bool close)
{
	struct zcrx_pool *pool = zs->pool;
	struct zcrx_bufs *bb = &pool->bufs;
	u32 b = zs->cur_buf, len;

	lockdep_assert(lockdep_sock_is_held(zs->sk));
	if (b == ZCRX_NO_BUF && !zs->cq_reserved)
		return;

	spin_lock_bh(&pool->lock);
	if (b != ZCRX_NO_BUF) {
		len = zs->fill - zs->seg_start;
		if (len) {
			/* A segment with bytes always holds a reserved slot. */
			WARN_ON_ONCE(!zs->cq_reserved);
			zcrx_buf_get_locked(bb, b);
			zcrx_ring_cq_unreserve_locked(&pool->cq);
			zs->cq_reserved = false;
			zcrx_ring_cq_post_locked(&pool->cq, zs->tag,
						 ((u64)b << bb->shift) + zs->seg_start,
						 len, ZCRXDEV_CQE_COPIED, 0);
			zs->seg_start = zs->fill;
		}
		if (close || zs->fill == bb->size) {
			zs->hint_buf = b;
			zs->hint_gen = zcrx_buf_close_locked(bb, b);
			zs->hint_fill = zs->fill;
			zs->cur_buf = ZCRX_NO_BUF;
		}
	}
	if (close && zs->cq_reserved) {
		zcrx_ring_cq_unreserve_locked(&pool->cq);
		zs->cq_reserved = false;
		/*
		 * A slot came free with nothing from the process: a socket
		 * that stalled on it will not be woken by libzcrx (no news
		 * since its last wake), so let the tick look.
		 */
		if (!list_empty(&pool->stalled))
			zcrx_pool_arm_tick_locked(pool);
	}
	spin_unlock_bh(&pool->lock);
}

/* End of a pass or of the socket: complete what was placed, give up the buffer. */
void zcrx_place_close(struct zcrx_sock *zs)
{
	zcrx_place_end_seg(zs, true);
}

/*
 * Copy up to len skb bytes at off into zs's buffer.  Returns the bytes
 * copied, 0 when stalled, -EFAULT if the skb would not give them.
 */
int zcrx_place_copy(struct zcrx_sock *zs, struct sk_buff *skb, u32 off, u32 len)
{
	struct zcrx_pool *pool = zs->pool;
	u32 n;

	if ((zs->cur_buf == ZCRX_NO_BUF || !zs->cq_reserved) &&
	    !zcrx_place_begin_seg(zs))
		return 0;
	n = min(len, pool->bufs.size - zs->fill);
	if (skb_copy_bits(skb, off, zcrx_mem_buf_addr(&pool->mem, zs->cur_buf) +
			  zs->fill, n))
		return -EFAULT;
	zs->fill += n;
	if (zs->fill == pool->bufs.size)
		zcrx_place_end_seg(zs, true);
	return n;
}

/* ---- in place, mapped, end ---- */

/*
 * len bytes that arrived at page_off of pool page page_idx: complete them
 * in place.  Returns len, 0 when no CQ slot is free (zs is stalled), or
 * -EAGAIN if they must be copied (buf.c says whose pages qualify).
 */
int zcrx_place_zc(struct zcrx_sock *zs, u32 page_idx, u32 page_off, u32 len)
{
	struct zcrx_pool *pool = zs->pool;
	u32 b = page_idx / pool->mem.buf_pages;
	int ret = len;

	/* Stream order: complete what was copied before this piece. */
	zcrx_place_end_seg(zs, false);
	spin_lock_bh(&pool->lock);
	if (!zcrx_buf_zc_ok_locked(&pool->bufs, b)) {
		ret = -EAGAIN;
		goto out_unlock;
	}
	if (!zcrx_place_cq_room_locked(zs)) {
		ret = 0;
		goto out_unlock;
	}
	zcrx_buf_get_zc_locked(&pool->bufs, b);
	zcrx_ring_cq_post_locked(&pool->cq, zs->tag,
				 ((u64)page_idx << PAGE_SHIFT) + page_off, len,
				 ZCRXDEV_CQE_ZEROCOPY, 0);
out_unlock:
	spin_unlock_bh(&pool->lock);
	return ret;
}

/*
 * Map n whole pages, the next bytes of zs's stream, into the window
 * (zs->map_vma, inside zcrx_win_begin()) and complete them.  Returns the
 * bytes completed, 0 if the CQ is full (zs stalled), or -EAGAIN if they
 * must be copied (window full, page refused).
 */
int zcrx_place_map(struct zcrx_sock *zs, struct page **pages, u32 n)
{
	struct vm_area_struct *vma = zs->map_vma;
	struct zcrx_pool *pool = zs->pool;
	struct zcrx_win *w = &pool->win;
	bool zapped = false;
	u32 slot, done;

	lockdep_assert(lockdep_sock_is_held(zs->sk));
	if (n > w->nr_slots)
		return -EAGAIN;
	/* Stream order: complete what was copied before these pages. */
	zcrx_place_end_seg(zs, false);

	spin_lock_bh(&pool->lock);
	for (;;) {
		if (!zcrx_place_cq_room_locked(zs)) {
			spin_unlock_bh(&pool->lock);
			return 0;
		}
		slot = zcrx_win_alloc_locked(w, n);
		if (slot != U32_MAX || zapped || !w->nr_ret)
			break;
		/* Unmap what the process gave back, then look again. */
		spin_unlock_bh(&pool->lock);
		zcrx_win_zap(w, vma);
		zapped = true;
		spin_lock_bh(&pool->lock);
	}
	if (slot == U32_MAX)
		goto out_fallback;
	/* The CQ slot is ours while pool->lock is dropped. */
	zcrx_ring_cq_reserve_locked(&pool->cq);
	spin_unlock_bh(&pool->lock);

	done = zcrx_win_insert(w, vma, slot, pages, n);

	spin_lock_bh(&pool->lock);
	zcrx_ring_cq_unreserve_locked(&pool->cq);
	zcrx_win_filled_locked(w, slot, n, done);
	if (!done)
		goto out_fallback;
	zcrx_ring_cq_post_locked(&pool->cq, zs->tag,
				 pool->pool_size + ((u64)slot << PAGE_SHIFT),
				 done << PAGE_SHIFT,
				 ZCRXDEV_CQE_ZEROCOPY | ZCRXDEV_CQE_MAPPED, 0);
	spin_unlock_bh(&pool->lock);
	return done << PAGE_SHIFT;

out_fallback:
	pool->stats.map_fallbacks++;
	spin_unlock_bh(&pool->lock);
	return -EAGAIN;
}

/* End of stream (error == 0) or error completion; false if the CQ is full. */
bool zcrx_place_end(struct zcrx_sock *zs, int error)
{
	struct zcrx_pool *pool = zs->pool;
	bool ok;

	lockdep_assert(lockdep_sock_is_held(zs->sk));
	spin_lock_bh(&pool->lock);
	ok = zcrx_place_cq_room_locked(zs);
	if (ok)
		zcrx_ring_cq_post_locked(&pool->cq, zs->tag, 0, 0,
					 error ? ZCRXDEV_CQE_ERROR : ZCRXDEV_CQE_EOF,
					 error);
	spin_unlock_bh(&pool->lock);
	return ok;
}

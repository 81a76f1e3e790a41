// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx pool: one context's pool of buffers with its rings and window, and
 * the sockets attached to it, with their references.  Also what every
 * layer above needs of the pool as a whole: refills dispatched from the
 * refill ring to a buffer or the window, a buffer to fill, the timer of
 * the tick (whose work ctx.c does), wakeups of poll() waiters, statistics.
 *
 * Pool and ring memory is made of compound pages (folios of two pages or
 * more).  The process can put its pages into skbs (ZCRXDEV_IOC_SEND,
 * vmsplice), and a compound page is one that no receiver maps into its
 * page tables: TCP_ZEROCOPY_RECEIVE's can_map_frag() and zcrx's own
 * window (read.c) refuse it, so pages their owner (or the module) may
 * still write are always copied on delivery, never mapped.
 */
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/slab.h>

#include "pool.h"
#include "wq.h"

atomic_t zcrx_pool_total = ATOMIC_INIT(0);
atomic_t zcrx_pool_socks_total = ATOMIC_INIT(0);

/* ---- create / destroy ---- */

static int zcrx_pool_check_setup(const struct zcrxdev_setup *s)
{
	u32 i;

	if (s->flags & ~ZCRXDEV_SETUP_FLAGS)
		return -EINVAL;
	if (s->win_pages && (!(s->flags & ZCRX_SETUP_MAP_ANY) ||
			     s->win_pages > ZCRXDEV_WIN_PAGES_MAX))
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(s->resv1); i++)
		if (s->resv1[i])
			return -EINVAL;
	if (s->buf_size < ZCRXDEV_BUF_SIZE_MIN ||
	    s->buf_size > ZCRXDEV_BUF_SIZE_MAX ||
	    !is_power_of_2(s->buf_size) || s->buf_size < PAGE_SIZE)
		return -EINVAL;
	if (!s->nr_bufs)
		return -EINVAL;
	if ((u64)s->nr_bufs * s->buf_size > ZCRXDEV_POOL_MAX_BYTES)
		return -E2BIG;
	return 0;
}

static void zcrx_pool_free(struct zcrx_pool *pool)
{
	/* Pages that skbs still hold keep their charge (mem.c). */
	zcrx_mem_pool_free(&pool->mem);
	zcrx_mem_ring_free(&pool->cq_mem);
	zcrx_mem_ring_free(&pool->rq_mem);
	zcrx_win_free(&pool->win);
	zcrx_buf_free(&pool->bufs);
	mutex_destroy(&pool->send_lock);
	atomic_dec(&zcrx_pool_total);
	kfree(pool);
}

static void zcrx_pool_release(struct kref *ref)
{
	zcrx_pool_free(container_of(ref, struct zcrx_pool, ref));
}

void zcrx_pool_get(struct zcrx_pool *pool)
{
	kref_get(&pool->ref);
}

/* The last reference is dropped in process context (see zcrx_pool_sock_put()). */
void zcrx_pool_put(struct zcrx_pool *pool)
{
	kref_put(&pool->ref, zcrx_pool_release);
}

/* The rings' memory, then their kernel side over it. */
static int zcrx_pool_alloc_rings(struct zcrx_pool *pool, struct zcrxdev_setup *s)
{
	int ret;

	ret = zcrx_mem_ring_alloc(&pool->cq_mem,
				  zcrx_ring_used_bytes(s->cq_entries,
						       sizeof(struct zcrxdev_cqe)));
	if (ret)
		return ret;
	ret = zcrx_mem_ring_alloc(&pool->rq_mem,
				  zcrx_ring_used_bytes(s->rq_entries,
						       sizeof(struct zcrxdev_rqe)));
	if (ret)
		return ret;
	zcrx_ring_init(&pool->cq, pool->cq_mem.vaddr, s->cq_entries,
		       &pool->lock, &pool->stats);
	zcrx_ring_init(&pool->rq, pool->rq_mem.vaddr, s->rq_entries,
		       &pool->lock, &pool->stats);
	return 0;
}

/* What the process maps, and where (the window's size is the window's). */
static void zcrx_pool_regions(struct zcrx_pool *pool, struct zcrxdev_setup *s)
{
	s->pool.offset = ZCRX_MMAP_POOL;
	s->pool.size = pool->pool_size;
	s->cq.offset = ZCRX_MMAP_CQ;
	s->cq.size = pool->cq_mem.size;
	s->rq.offset = ZCRX_MMAP_RQ;
	s->rq.size = pool->rq_mem.size;
	if (pool->win.nr_slots)
		s->win.offset = ZCRX_MMAP_WIN;
	zcrx_ring_offsets(&s->cq_off, true);
	zcrx_ring_offsets(&s->rq_off, false);
	s->features = ZCRXDEV_FEAT_ZEROCOPY_POOL_PAGES | ZCRXDEV_FEAT_MAP |
		      ZCRXDEV_FEAT_DEFER | ZCRXDEV_FEAT_RECV_WAIT;
}

/* A pool as s asks for it, s completed; tick is the pool's tick work. */
struct zcrx_pool *zcrx_pool_create(struct zcrxdev_setup *s, work_func_t tick)
{
	struct zcrx_pool *pool;
	u32 buf_pages;
	int ret;

	ret = zcrx_pool_check_setup(s);
	if (ret)
		return ERR_PTR(ret);

	pool = kzalloc(sizeof(*pool), GFP_KERNEL_ACCOUNT);
	if (!pool)
		return ERR_PTR(-ENOMEM);
	atomic_inc(&zcrx_pool_total);
	kref_init(&pool->ref);
	spin_lock_init(&pool->lock);
	INIT_LIST_HEAD(&pool->socks);
	INIT_LIST_HEAD(&pool->stalled);
	INIT_LIST_HEAD(&pool->ready);
	zcrx_win_init(&pool->win, &pool->lock, &pool->stats);
	init_waitqueue_head(&pool->cq_wait);
	init_waitqueue_head(&pool->detach_wait);
	mutex_init(&pool->send_lock);
	INIT_LIST_HEAD(&pool->inflight);
	INIT_DELAYED_WORK(&pool->tick_work, tick);
	pool->tick_delay = 1;

	pool->node = numa_node_id();
	/*
	 * MAP_ALWAYS is MAP with every run mapped; MAP places in RECV only
	 * (page tables change in the caller's context), which is DEFER.
	 */
	if (s->flags & ZCRXDEV_SETUP_MAP_ALWAYS)
		s->flags |= ZCRXDEV_SETUP_MAP;
	if (s->flags & ZCRXDEV_SETUP_MAP)
		s->flags |= ZCRXDEV_SETUP_DEFER;
	pool->flags = s->flags;
	buf_pages = s->buf_size >> PAGE_SHIFT;
	zcrx_mem_pool_init(&pool->mem, s->nr_bufs * buf_pages, buf_pages);
	pool->pool_size = (u64)pool->mem.nr_pages << PAGE_SHIFT;

	/* Several completions can name one buffer: default CQ = 2 x buffers. */
	s->cq_entries = zcrx_ring_entries(s->cq_entries,
					  min_t(u64, 2ULL * s->nr_bufs, U32_MAX));
	s->rq_entries = zcrx_ring_entries(s->rq_entries, s->cq_entries);
	ret = zcrx_win_setup(&pool->win, s, pool->mem.nr_pages);
	if (ret)
		goto err_free_pool;
	/*
	 * Pool pages (whole folios), and the network pages the window can
	 * hold, count against RLIMIT_MEMLOCK; ring pages go to memcg.
	 */
	ret = zcrx_mem_charge(&pool->mem.charge,
			      zcrx_mem_pool_charge_pages(&pool->mem) +
			      pool->win.nr_slots);
	if (ret)
		goto err_free_pool;
	ret = zcrx_buf_alloc(&pool->bufs, s->nr_bufs, ilog2(s->buf_size),
			     &pool->mem, &pool->lock);
	if (ret)
		goto err_free_pool;
	pool->stats.bufs_free = s->nr_bufs;
	ret = zcrx_mem_pool_alloc(&pool->mem, pool->node);
	if (ret)
		goto err_free_pool;
	ret = zcrx_pool_alloc_rings(pool, s);
	if (ret)
		goto err_free_pool;
	zcrx_pool_regions(pool, s);
	return pool;

err_free_pool:
	zcrx_pool_free(pool);
	return ERR_PTR(ret);
}

/* Teardown has begun: no socket is added, no tick armed any more. */
void zcrx_pool_set_dying(struct zcrx_pool *pool)
{
	spin_lock_bh(&pool->lock);
	pool->dying = true;
	spin_unlock_bh(&pool->lock);
}

void zcrx_pool_stats(struct zcrx_pool *pool, struct zcrxdev_stats *st)
{
	spin_lock_bh(&pool->lock);
	*st = pool->stats;
	st->bufs_free = pool->bufs.nr_free;
	st->bufs_pending = pool->bufs.nr_pending;
	st->sockets_attached = pool->nr_socks;
	spin_unlock_bh(&pool->lock);
	st->flags = 0;
}

/* Wake poll() waiters if the CQ has enough for them (ring.c says). */
void zcrx_pool_notify(struct zcrx_pool *pool)
{
	/* wq_has_sleeper()'s barrier pairs with the one in zcrx_ctx_poll(). */
	if (wq_has_sleeper(&pool->cq_wait) && zcrx_ring_cq_wake_ready(&pool->cq))
		wake_up_interruptible_poll(&pool->cq_wait, EPOLLIN | EPOLLRDNORM);
}

/* ---- attached sockets ---- */

void zcrx_pool_sock_get(struct zcrx_sock *zs)
{
	refcount_inc(&zs->ref);
}

/*
 * References: the pool's socket list (until detach ends), each queued
 * work item, and short-lived holders.  The list reference outlives every
 * softirq user, so the last put always comes from process context.
 */
void zcrx_pool_sock_put(struct zcrx_sock *zs)
{
	if (!refcount_dec_and_test(&zs->ref))
		return;
	sock_put(zs->sk);
	zcrx_pool_put(zs->pool);
	kfree_rcu(zs, rcu);
}

/* zs (holding the list's reference) joins the pool; -ENXIO once it is dying. */
int zcrx_pool_sock_add(struct zcrx_pool *pool, struct zcrx_sock *zs)
{
	spin_lock_bh(&pool->lock);
	if (pool->dying) {
		spin_unlock_bh(&pool->lock);
		return -ENXIO;
	}
	list_add_tail(&zs->node, &pool->socks);
	pool->nr_socks++;
	pool->stats.sockets_total++;
	spin_unlock_bh(&pool->lock);
	atomic_inc(&zcrx_pool_socks_total);
	return 0;
}

/* Detach is done: zs leaves every pool list and the list's reference goes. */
void zcrx_pool_sock_del(struct zcrx_pool *pool, struct zcrx_sock *zs)
{
	spin_lock_bh(&pool->lock);
	list_del_init(&zs->node);
	list_del_init(&zs->stall_node);
	list_del_init(&zs->ready_node);
	pool->nr_socks--;
	if (list_empty(&pool->stalled))
		zcrx_ring_cq_flags_locked(&pool->cq, 0, ZCRXDEV_RING_NEED_WAKEUP);
	if (list_empty(&pool->ready))
		zcrx_ring_cq_flags_locked(&pool->cq, 0, ZCRXDEV_RING_DATA_READY);
	spin_unlock_bh(&pool->lock);
	atomic_dec(&zcrx_pool_socks_total);
	wake_up(&pool->detach_wait);
	zcrx_pool_sock_put(zs);
}

/* ---- refills and buffers, pool->lock held ---- */

/* One refill entry, checked before use: a buffer's or the window's. */
static bool zcrx_pool_refill_one(struct zcrx_pool *pool, const struct zcrx_rqe *e)
{
	if (e->flags || e->resv)
		return false;
	if (e->off >= pool->pool_size)
		return zcrx_win_return_locked(&pool->win, e->off - pool->pool_size);
	return zcrx_buf_return_locked(&pool->bufs, e->off);
}

/* Consume the refill ring; bad entries are skipped and counted. */
void zcrx_pool_refill_locked(struct zcrx_pool *pool)
{
	struct zcrx_rqe e;
	u32 i, n;

	lockdep_assert_held(&pool->lock);
	n = zcrx_ring_rq_avail_locked(&pool->rq);
	for (i = 0; i < n; i++) {
		zcrx_ring_rq_read_locked(&pool->rq, i, &e);
		if (zcrx_pool_refill_one(pool, &e))
			pool->stats.refill_entries++;
		else
			pool->stats.refill_bad++;
	}
	zcrx_ring_rq_consume_locked(&pool->rq, n);
}

/*
 * A buffer to write into (INUSE now), or ZCRX_NO_BUF.  When the free
 * stack runs dry, take the refills, then look at the PENDING buffers.
 * A buffer found held by others on the way waits PENDING: the tick looks.
 */
u32 zcrx_pool_take_buf_locked(struct zcrx_pool *pool)
{
	struct zcrx_bufs *bb = &pool->bufs;
	bool pended = false;
	u32 b;

	lockdep_assert_held(&pool->lock);
	b = zcrx_buf_take_locked(bb, &pended);
	if (b == ZCRX_NO_BUF) {
		zcrx_pool_refill_locked(pool);
		if (!bb->nr_free && bb->nr_pending)
			zcrx_buf_scan_pending_locked(bb);
		b = zcrx_buf_take_locked(bb, &pended);
	}
	if (pended)
		zcrx_pool_arm_tick_locked(pool);
	return b;
}

/* ---- the tick's timer (the work is ctx.c's) ---- */

/*
 * Something new to watch (a send, a buffer gone PENDING, a stall): tick
 * within a jiffy, pulling in a tick that backed off.  Not once teardown
 * has begun.
 */
void zcrx_pool_arm_tick_locked(struct zcrx_pool *pool)
{
	lockdep_assert_held(&pool->lock);
	if (pool->dying)
		return;
	if (pool->tick_delay == 1) {
		queue_delayed_work(zcrx_wq, &pool->tick_work, 1);
		return;
	}
	pool->tick_delay = 1;
	mod_delayed_work(zcrx_wq, &pool->tick_work, 1);
}

/* The tick's own rearm, at its current pace. */
void zcrx_pool_rearm_tick_locked(struct zcrx_pool *pool)
{
	lockdep_assert_held(&pool->lock);
	if (!pool->dying)
		queue_delayed_work(zcrx_wq, &pool->tick_work, pool->tick_delay);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx context: one open file of /dev/zcrx.  Its operations are here:
 * setup, mmap, poll, WAKE, PINS, the RECV driver, the pool's tick and
 * shutdown.  This is the only file that walks a pool's socket lists
 * (socks, stalled, ready), and it does so from process context, one
 * socket at a time with a reference and no pool lock held.
 */
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "ctx.h"
#include "pool.h"
#include "read.h"
#include "send.h"
#include "sock.h"

struct zcrx_ctx *zcrx_ctx_alloc(void)
{
	struct zcrx_ctx *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return NULL;
	mutex_init(&ctx->setup_lock);
	return ctx;
}

/* The pool, or NULL before setup. */
struct zcrx_pool *zcrx_ctx_pool(struct zcrx_ctx *ctx)
{
	/* Pairs with smp_store_release() in zcrx_ctx_setup(). */
	return smp_load_acquire(&ctx->pool);
}

/* ---- the tick and waking stalled sockets ---- */

/*
 * Run fn on each socket of list (spliced off a pool list), one at a time,
 * with a reference and pool->lock dropped around the call.  node_off is
 * where the list's node sits in struct zcrx_sock.
 */
static void zcrx_ctx_run_locked(struct zcrx_pool *pool, struct list_head *list,
				size_t node_off, void (*fn)(struct zcrx_sock *zs))
{
	struct list_head *node;
	struct zcrx_sock *zs;

	lockdep_assert_held(&pool->lock);
	while (!list_empty(list)) {
		node = list->next;
		list_del_init(node);
		zs = (struct zcrx_sock *)((char *)node - node_off);
		zcrx_pool_sock_get(zs);
		spin_unlock_bh(&pool->lock);
		fn(zs);
		zcrx_pool_sock_put(zs);
		spin_lock_bh(&pool->lock);
	}
}

/* Each stalled socket goes on: a read pass, or (DEFER) made ready for RECV. */
static void zcrx_ctx_resume_stalled(struct zcrx_pool *pool)
{
	LIST_HEAD(list);

	spin_lock_bh(&pool->lock);
	list_splice_init(&pool->stalled, &list);
	zcrx_ring_cq_flags_locked(&pool->cq, 0, ZCRXDEV_RING_NEED_WAKEUP);
	zcrx_ctx_run_locked(pool, &list, offsetof(struct zcrx_sock, stall_node),
			    zcrx_read_resume);
	spin_unlock_bh(&pool->lock);
}

/* Take refills now and let stalled sockets go on (DEFER: mark them ready). */
static void zcrx_ctx_refresh(struct zcrx_pool *pool)
{
	spin_lock_bh(&pool->lock);
	zcrx_pool_refill_locked(pool);
	if (pool->bufs.nr_pending)
		zcrx_buf_scan_pending_locked(&pool->bufs);
	spin_unlock_bh(&pool->lock);
	zcrx_ctx_resume_stalled(pool);
}

/*
 * The pool's tick (pool->tick_work).  Skbs let go of pages without telling
 * us: every tick while it matters, complete sends whose pages are back
 * (send.c, process context), move PENDING buffers that are free again to
 * the free stack, and resume stalled sockets when a buffer and a CQ slot
 * are free.  The tick runs every jiffy while it finds something; while it
 * finds nothing it backs off to ZCRX_IDLE_MAX, so pages that others hold
 * for good cost little.
 */
static void zcrx_ctx_tick(struct work_struct *work)
{
	struct zcrx_pool *pool = container_of(to_delayed_work(work),
					      struct zcrx_pool, tick_work);
	bool resume, sent, sends_left;
	u32 freed;

	sent = zcrx_send_reap(pool, &sends_left);

	spin_lock_bh(&pool->lock);
	freed = zcrx_buf_scan_pending_locked(&pool->bufs);
	resume = !list_empty(&pool->stalled) &&
		 (freed || (pool->bufs.nr_free &&
			    zcrx_ring_cq_space_locked(&pool->cq)));
	if (sent || freed)
		pool->tick_delay = 1;
	else
		pool->tick_delay = min_t(unsigned long, pool->tick_delay * 2,
					 ZCRX_IDLE_MAX);
	if ((pool->bufs.nr_pending && !list_empty(&pool->stalled)) || sends_left)
		zcrx_pool_rearm_tick_locked(pool);
	spin_unlock_bh(&pool->lock);
	if (resume)
		zcrx_ctx_resume_stalled(pool);
}

/* ZCRXDEV_IOC_WAKE */
void zcrx_ctx_wake(struct zcrx_pool *pool)
{
	spin_lock_bh(&pool->lock);
	pool->stats.wakeups++;
	spin_unlock_bh(&pool->lock);
	zcrx_ctx_refresh(pool);
}

/* ZCRXDEV_IOC_PINS: then look at the PENDING buffers again. */
long zcrx_ctx_set_pins(struct zcrx_pool *pool, const struct zcrxdev_pins *p)
{
	if (p->flags || p->resv[0] || p->resv[1] || p->count > ZCRXDEV_PINS_MAX)
		return -EINVAL;
	zcrx_mem_set_pins(&pool->mem, p->count);
	zcrx_ctx_refresh(pool);
	return 0;
}

/* ---- ZCRXDEV_IOC_RECV ---- */

/* One pass per ready socket: what turns ready now waits for the next call. */
static void zcrx_ctx_recv_ready(struct zcrx_pool *pool)
{
	LIST_HEAD(list);

	spin_lock_bh(&pool->lock);
	list_splice_init(&pool->ready, &list);
	zcrx_ring_cq_data_taken_locked(&pool->cq);
	spin_unlock_bh(&pool->lock);

	zcrx_win_maybe_zap(&pool->win, list_empty(&list));

	spin_lock_bh(&pool->lock);
	zcrx_ctx_run_locked(pool, &list, offsetof(struct zcrx_sock, ready_node),
			    zcrx_read_recv);
	spin_unlock_bh(&pool->lock);
}

/*
 * RECV_WAIT: sleep until the wake threshold is reached, as zcrx_ctx_poll()
 * reports it, or until end (KTIME_MAX: no limit; an hrtimer, as poll()'s
 * timeout is).  0 when there is enough, -ETIME when the time passed first,
 * -EINTR on a signal.  The condition is checked after queueing us: the
 * full barrier of set_current_state() pairs with wq_has_sleeper() in
 * zcrx_pool_notify(), as in zcrx_ctx_poll().
 */
static long zcrx_ctx_recv_wait(struct zcrx_pool *pool, ktime_t end)
{
	ktime_t left = KTIME_MAX;
	struct zcrx_ring *cq = &pool->cq;
	long ret;

	if (end != KTIME_MAX)
		left = max_t(ktime_t, ktime_sub(end, ktime_get()), 0);
	ret = wait_event_interruptible_hrtimeout(pool->cq_wait,
						 zcrx_ring_cq_wake_ready(cq),
						 left);
	if (ret == -ERESTARTSYS)
		return -EINTR;
	return ret;
}

static u64 zcrx_ctx_completions(struct zcrx_pool *pool)
{
	u64 n;

	spin_lock_bh(&pool->lock);
	n = pool->stats.completions;
	spin_unlock_bh(&pool->lock);
	return n;
}

/*
 * ZCRXDEV_IOC_RECV: take refills, then (DEFER) place what is ready.  With
 * RECV_WAIT, first sleep to the threshold; a wake whose pass placed nothing
 * (its buffers were busy, so the socket stalled and the tick will resume
 * it) sleeps on until the end, unless the threshold still holds: another
 * sleep would then return at once, and a hostile ring (a garbage CQ head)
 * could keep us spinning here.  So every round but the last sleeps, and a
 * signal or the end stops it.
 */
long zcrx_ctx_recv(struct zcrx_pool *pool, const struct zcrxdev_recv *r)
{
	bool wait = r->flags & ZCRXDEV_RECV_WAIT;
	ktime_t end = KTIME_MAX;
	long waited = 0;
	u64 before, placed;

	if ((r->flags & ~ZCRXDEV_RECV_FLAGS) || r->resv[0] || r->resv[1] ||
	    (!wait && r->timeout_us))
		return -EINVAL;
	if (wait && r->timeout_us != U32_MAX)
		end = ktime_add_us(ktime_get(), r->timeout_us);

	spin_lock_bh(&pool->lock);
	pool->stats.recv_calls++;
	before = pool->stats.completions;
	spin_unlock_bh(&pool->lock);

	/* Refills, PENDING buffers, stalled sockets (DEFER: made ready). */
	zcrx_ctx_refresh(pool);
	for (;;) {
		if (wait) {
			waited = zcrx_ctx_recv_wait(pool, end);
			if (waited == -EINTR)
				return waited;	/* nothing placed yet */
		}
		if (pool->flags & ZCRXDEV_SETUP_DEFER)
			zcrx_ctx_recv_ready(pool);
		placed = zcrx_ctx_completions(pool) - before;
		if (!wait || placed || waited == -ETIME ||
		    zcrx_ring_cq_wake_ready(&pool->cq))
			break;
	}
	if (!placed && waited == -ETIME)
		return -ETIME;
	return min_t(u64, placed, INT_MAX);
}

/* ---- setup, mmap, poll, shutdown ---- */

/*
 * The file is going away: detach every socket, wait for detaches that
 * others started (socket close, EOF work), then drop the file's reference.
 */
static void zcrx_ctx_shutdown(struct zcrx_pool *pool)
{
	struct zcrx_sock *zs, *found;

	zcrx_pool_set_dying(pool);
	for (;;) {
		found = NULL;
		spin_lock_bh(&pool->lock);
		list_for_each_entry(zs, &pool->socks, node) {
			if (!test_bit(ZS_DETACHED, &zs->flags)) {
				zcrx_pool_sock_get(zs);
				found = zs;
				break;
			}
		}
		spin_unlock_bh(&pool->lock);
		if (!found)
			break;
		zcrx_sock_detach(found);
		zcrx_pool_sock_put(found);
	}
	wait_event(pool->detach_wait, !READ_ONCE(pool->nr_socks));
	cancel_delayed_work_sync(&pool->tick_work);
	/* No tick any more: SENT completions of the dead pool are moot. */
	zcrx_send_free(pool);
	zcrx_pool_put(pool);
}

void zcrx_ctx_free(struct zcrx_ctx *ctx)
{
	if (ctx->pool)
		zcrx_ctx_shutdown(ctx->pool);
	mutex_destroy(&ctx->setup_lock);
	kfree(ctx);
}

/* ZCRXDEV_IOC_SETUP: one pool per context (EEXIST after that). */
long zcrx_ctx_setup(struct zcrx_ctx *ctx, void __user *arg)
{
	struct zcrxdev_setup s;
	struct zcrx_pool *pool;
	long ret = 0;

	if (copy_from_user(&s, arg, sizeof(s)))
		return -EFAULT;

	mutex_lock(&ctx->setup_lock);
	if (ctx->pool) {
		ret = -EEXIST;
		goto out_unlock;
	}
	pool = zcrx_pool_create(&s, zcrx_ctx_tick);
	if (IS_ERR(pool)) {
		ret = PTR_ERR(pool);
		goto out_unlock;
	}
	memset(s.resv3, 0, sizeof(s.resv3));
	if (copy_to_user(arg, &s, sizeof(s))) {
		zcrx_ctx_shutdown(pool);
		ret = -EFAULT;
		goto out_unlock;
	}
	/* Pairs with the acquire in zcrx_ctx_pool(). */
	smp_store_release(&ctx->pool, pool);
out_unlock:
	mutex_unlock(&ctx->setup_lock);
	return ret;
}

/* The regions setup handed out, at their offsets and exact sizes. */
int zcrx_ctx_mmap(struct zcrx_pool *pool, struct vm_area_struct *vma)
{
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	switch (off) {
	case ZCRX_MMAP_POOL:
		return zcrx_mem_pool_mmap(&pool->mem, vma,
					  pool->flags & ZCRXDEV_SETUP_WRITABLE);
	case ZCRX_MMAP_WIN:
		return zcrx_win_mmap(&pool->win, vma);
	case ZCRX_MMAP_CQ:
		return zcrx_mem_ring_mmap(&pool->cq_mem, vma);
	case ZCRX_MMAP_RQ:
		return zcrx_mem_ring_mmap(&pool->rq_mem, vma);
	default:
		return -EINVAL;
	}
}

__poll_t zcrx_ctx_poll(struct zcrx_pool *pool, struct file *file,
		       poll_table *wait)
{
	poll_wait(file, &pool->cq_wait, wait);
	/* Pairs with the barrier in wq_has_sleeper() in zcrx_pool_notify(). */
	smp_mb();
	return zcrx_ring_cq_wake_ready(&pool->cq) ? EPOLLIN | EPOLLRDNORM : 0;
}

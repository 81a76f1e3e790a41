// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx send path: claim free buffers, and send pool bytes on a TCP socket
 * by page reference (the sendpage path on kernels that have it,
 * MSG_SPLICE_PAGES on those that replaced it; see compat.h).
 *
 * The stack gives no callback when it lets go of spliced pages, so each
 * send is remembered until every page of its range is back to the pool's
 * own reference plus its page-table mappings; the pool's tick (ctx.c)
 * checks, and then a SENT completion tells the process.
 *
 * What noticing costs does not grow with what the process has sent.  Once
 * a page is seen with no outside reference after a send, that send's
 * references to it are gone for good, so each send keeps a cursor: the
 * first page not yet seen free.  A look at the sends checks one page per
 * stuck send and moves each cursor forward at most once over every page;
 * at most ZCRX_SENDS_PER_PAGE sends per pool page (ZCRX_SENDS_MIN for
 * small pools) can be in flight (more get -ENOBUFS); a look that finds
 * nothing new waits twice as long before the next (up to ZCRX_IDLE_MAX);
 * all of it runs in process context with softirqs on.
 */
#include <linux/file.h>
#include <linux/net.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <net/sock.h>

#include "compat.h"
#include "pool.h"
#include "send.h"

/* Sends in flight, at most: this many per pool page, and no fewer than min. */
#define ZCRX_SENDS_PER_PAGE	4
#define ZCRX_SENDS_MIN		1024

/* One send whose pages the stack may still hold; on pool->inflight. */
struct zcrx_inflight {
	struct list_head	node;
	u64			tag;
	u64			off;
	u32			len;
	u32			next;	/* first pool page not yet seen free */
};

/*
 * ZCRXDEV_IOC_CLAIM.  The buffers are the process's only once it has been
 * told their offsets: until copy_to_user() has succeeded they are marked
 * claiming and hold no user reference, so a refill entry that names one
 * (offsets are predictable) is refused, and on -EFAULT they simply go
 * back to the free stack.
 */
long zcrx_send_claim(struct zcrx_pool *pool, const struct zcrxdev_claim *c)
{
	u64 __user *uoffs = u64_to_user_ptr(c->offs);
	u32 i, n = 0, b;
	bool fault;
	u64 *offs;

	if (c->flags || c->resv[0] || c->resv[1] || !c->count ||
	    c->count > ZCRXDEV_CLAIM_MAX)
		return -EINVAL;
	offs = kmalloc_array(c->count, sizeof(*offs), GFP_KERNEL);
	if (!offs)
		return -ENOMEM;

	spin_lock_bh(&pool->lock);
	while (n < c->count) {
		b = zcrx_pool_take_buf_locked(pool);
		if (b == ZCRX_NO_BUF)
			break;
		zcrx_buf_claim_locked(&pool->bufs, b);
		offs[n++] = (u64)b << pool->bufs.shift;
	}
	spin_unlock_bh(&pool->lock);
	if (!n) {
		kfree(offs);
		return -ENOBUFS;
	}

	fault = copy_to_user(uoffs, offs, n * sizeof(*offs));

	spin_lock_bh(&pool->lock);
	for (i = 0; i < n; i++)
		zcrx_buf_claimed_locked(&pool->bufs, offs[i] >> pool->bufs.shift,
					!fault);
	spin_unlock_bh(&pool->lock);
	kfree(offs);
	return fault ? -EFAULT : n;
}

/* Mark [first, last] buffers as being sent, if the process holds them all. */
static bool zcrx_send_pin(struct zcrx_pool *pool, u32 first, u32 last)
{
	bool ok;

	spin_lock_bh(&pool->lock);
	ok = zcrx_buf_send_hold_locked(&pool->bufs, first, last);
	spin_unlock_bh(&pool->lock);
	return ok;
}

static void zcrx_send_unpin(struct zcrx_pool *pool, u32 first, u32 last)
{
	spin_lock_bh(&pool->lock);
	zcrx_buf_send_drop_locked(&pool->bufs, first, last);
	spin_unlock_bh(&pool->lock);
}

/* Room for one more send in flight?  Counts it in if so. */
static bool zcrx_send_reserve(struct zcrx_pool *pool)
{
	bool ok;

	mutex_lock(&pool->send_lock);
	ok = pool->nr_inflight < max_t(u64, ZCRX_SENDS_MIN,
				       (u64)ZCRX_SENDS_PER_PAGE * pool->mem.nr_pages);
	if (ok)
		pool->nr_inflight++;
	mutex_unlock(&pool->send_lock);
	return ok;
}

static void zcrx_send_unreserve_locked(struct zcrx_pool *pool)
{
	lockdep_assert_held(&pool->send_lock);
	if (!WARN_ON_ONCE(!pool->nr_inflight))
		pool->nr_inflight--;
}

long zcrx_send_range(struct zcrx_pool *pool, const struct zcrxdev_send *s)
{
	struct zcrx_inflight *inf;
	struct socket *sock;
	u32 first, last;
	long ret;
	int err;

	if (s->flags || s->resv0 || s->resv[0] || s->resv[1] || !s->len ||
	    s->off >= pool->pool_size || s->len > pool->pool_size - s->off)
		return -EINVAL;
	sock = sockfd_lookup(s->fd, &err);
	if (!sock)
		return err;
	ret = -EPROTONOSUPPORT;
	if (!sock->sk || sock->sk->sk_type != SOCK_STREAM ||
	    sock->sk->sk_protocol != IPPROTO_TCP)
		goto out_put_file;
	ret = -ENOMEM;
	inf = kzalloc(sizeof(*inf), GFP_KERNEL_ACCOUNT);
	if (!inf)
		goto out_put_file;

	first = array_index_nospec(s->off >> pool->bufs.shift, pool->bufs.nr);
	last = array_index_nospec((s->off + s->len - 1) >> pool->bufs.shift,
				  pool->bufs.nr);
	ret = -EPERM;
	if (!zcrx_send_pin(pool, first, last))
		goto out_free_inf;
	ret = -ENOBUFS;
	if (!zcrx_send_reserve(pool))
		goto out_unpin;

	ret = zcrx_send_pages(sock, pool->mem.pages, s->off, s->len);

	mutex_lock(&pool->send_lock);
	if (ret > 0) {
		inf->tag = s->tag;
		inf->off = s->off;
		inf->len = ret;
		inf->next = s->off >> PAGE_SHIFT;
		list_add_tail(&inf->node, &pool->inflight);
		inf = NULL;
		/* Something new to look at. */
		pool->reap_delay = 0;
		pool->reap_next = jiffies;
	} else {
		zcrx_send_unreserve_locked(pool);
	}
	mutex_unlock(&pool->send_lock);
	if (ret > 0) {
		spin_lock_bh(&pool->lock);
		pool->stats.bytes_sent += ret;
		zcrx_pool_arm_tick_locked(pool);
		spin_unlock_bh(&pool->lock);
	}
out_unpin:
	zcrx_send_unpin(pool, first, last);
out_free_inf:
	kfree(inf);
out_put_file:
	sockfd_put(sock);
	return ret;
}

/* Move the send's cursor past the pages now free; true once all are. */
static bool zcrx_send_released(struct zcrx_pool *pool, struct zcrx_inflight *inf)
{
	u32 last = (inf->off + inf->len - 1) >> PAGE_SHIFT;

	while (inf->next <= last) {
		if (zcrx_mem_range_busy(&pool->mem, (u64)inf->next << PAGE_SHIFT, 1))
			return false;
		/* The whole folio is free: on to the next one. */
		inf->next = round_down(inf->next, 1U << pool->mem.folio_order) +
			    (1U << pool->mem.folio_order);
	}
	return true;
}

/*
 * Called by the pool tick in process context: post SENT for every send
 * whose pages are free again and for which a CQ slot is free.  *left is
 * set when sends remain in flight.  Returns true if any was completed.
 */
bool zcrx_send_reap(struct zcrx_pool *pool, bool *left)
{
	struct zcrx_inflight *inf, *tmp;
	bool posted = false, ok;

	mutex_lock(&pool->send_lock);
	*left = !list_empty(&pool->inflight);
	if (!*left || time_before(jiffies, pool->reap_next)) {
		mutex_unlock(&pool->send_lock);
		return false;
	}
	list_for_each_entry_safe(inf, tmp, &pool->inflight, node) {
		cond_resched();
		if (!zcrx_send_released(pool, inf))
			continue;
		spin_lock_bh(&pool->lock);
		ok = zcrx_ring_cq_space_locked(&pool->cq);
		if (ok)
			zcrx_ring_cq_post_locked(&pool->cq, inf->tag, inf->off,
						 inf->len, ZCRXDEV_CQE_SENT, 0);
		spin_unlock_bh(&pool->lock);
		if (!ok)
			break;	/* CQ full: next tick */
		zcrx_send_unreserve_locked(pool);
		list_del(&inf->node);
		kfree(inf);
		posted = true;
	}
	*left = !list_empty(&pool->inflight);
	/* Nothing moved: look less often, down to every ZCRX_IDLE_MAX. */
	if (posted)
		pool->reap_delay = 0;
	else
		pool->reap_delay = clamp_t(unsigned long, pool->reap_delay * 2,
					   1, ZCRX_IDLE_MAX);
	pool->reap_next = jiffies + pool->reap_delay;
	mutex_unlock(&pool->send_lock);
	if (posted)
		zcrx_pool_notify(pool);
	return posted;
}

void zcrx_send_free(struct zcrx_pool *pool)
{
	struct zcrx_inflight *inf, *tmp;

	mutex_lock(&pool->send_lock);
	list_for_each_entry_safe(inf, tmp, &pool->inflight, node) {
		zcrx_send_unreserve_locked(pool);
		list_del(&inf->node);
		kfree(inf);
	}
	mutex_unlock(&pool->send_lock);
}

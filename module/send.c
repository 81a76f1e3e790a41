// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx send path: claim free buffers, and send pool bytes on a TCP socket
 * by page reference (the sendpage path on kernels that have it,
 * MSG_SPLICE_PAGES on those that replaced it; see compat.h).
 *
 * The stack gives no callback when it lets go of spliced pages, so each
 * send is remembered until every page of its range is back to the pool's
 * own reference plus its page-table mappings; the pool's tick (pool.c)
 * checks, and then a SENT completion tells the process.
 */
#include <linux/file.h>
#include <linux/net.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <net/sock.h>

#include "compat.h"
#include "zcrx.h"

/* One send whose pages the stack may still hold; on pool->inflight. */
struct zcrx_inflight {
	struct list_head	node;
	u64			tag;
	u64			off;
	u32			len;
};

long zcrx_pool_claim(struct zcrx_pool *pool, const struct zcrxdev_claim *c)
{
	u64 __user *uoffs = u64_to_user_ptr(c->offs);
	u32 i, n = 0, b;
	u64 *offs;
	long ret;

	if (c->flags || c->resv[0] || c->resv[1] || !c->count ||
	    c->count > ZCRXDEV_CLAIM_MAX)
		return -EINVAL;
	offs = kmalloc_array(c->count, sizeof(*offs), GFP_KERNEL);
	if (!offs)
		return -ENOMEM;

	spin_lock_bh(&pool->lock);
	while (n < c->count) {
		b = zcrx_pool_pop_free(pool);
		if (b == ZCRX_NO_BUF)
			break;
		pool->bufs[b].state = ZCRX_BUF_INUSE;
		pool->bufs[b].user_refs = 1;
		offs[n++] = (u64)b << pool->buf_shift;
	}
	spin_unlock_bh(&pool->lock);

	ret = n ? n : -ENOBUFS;
	if (n && copy_to_user(uoffs, offs, n * sizeof(*offs))) {
		/* Nobody learnt the offsets: give the buffers back. */
		spin_lock_bh(&pool->lock);
		for (i = 0; i < n; i++)
			zcrx_pool_put_user_ref(pool, offs[i] >> pool->buf_shift);
		spin_unlock_bh(&pool->lock);
		ret = -EFAULT;
	}
	kfree(offs);
	return ret;
}

/* Mark [first, last] buffers as being sent, if the process holds them all. */
static bool zcrx_send_pin(struct zcrx_pool *pool, u32 first, u32 last)
{
	u32 b;

	spin_lock_bh(&pool->lock);
	for (b = first; b <= last; b++) {
		if (!pool->bufs[b].user_refs) {
			spin_unlock_bh(&pool->lock);
			return false;
		}
	}
	for (b = first; b <= last; b++)
		pool->bufs[b].sending++;
	spin_unlock_bh(&pool->lock);
	return true;
}

static void zcrx_send_unpin(struct zcrx_pool *pool, u32 first, u32 last)
{
	u32 b;

	spin_lock_bh(&pool->lock);
	for (b = first; b <= last; b++) {
		pool->bufs[b].sending--;
		zcrx_pool_maybe_recycle(pool, b);
	}
	spin_unlock_bh(&pool->lock);
}

long zcrx_pool_send(struct zcrx_pool *pool, const struct zcrxdev_send *s)
{
	struct zcrx_inflight *inf;
	struct socket *sock;
	u32 first, last;
	long ret;

	if (s->flags || s->resv0 || s->resv[0] || s->resv[1] || !s->len ||
	    s->off >= pool->pool_size || s->len > pool->pool_size - s->off)
		return -EINVAL;
	sock = sockfd_lookup(s->fd, (int *)&ret);
	if (!sock)
		return ret;
	ret = -EPROTONOSUPPORT;
	if (!sock->sk || sock->sk->sk_type != SOCK_STREAM ||
	    sock->sk->sk_protocol != IPPROTO_TCP)
		goto out_put_file;
	ret = -ENOMEM;
	inf = kzalloc(sizeof(*inf), GFP_KERNEL_ACCOUNT);
	if (!inf)
		goto out_put_file;

	first = s->off >> pool->buf_shift;
	last = (s->off + s->len - 1) >> pool->buf_shift;
	ret = -EPERM;
	if (!zcrx_send_pin(pool, first, last)) {
		kfree(inf);
		goto out_put_file;
	}
	ret = zcrx_send_pages(sock, pool->pages, s->off, s->len);
	if (ret > 0) {
		inf->tag = s->tag;
		inf->off = s->off;
		inf->len = ret;
		spin_lock_bh(&pool->lock);
		list_add_tail(&inf->node, &pool->inflight);
		pool->stats.bytes_sent += ret;
		zcrx_pool_arm_tick(pool);
		spin_unlock_bh(&pool->lock);
	} else {
		kfree(inf);
	}
	zcrx_send_unpin(pool, first, last);
out_put_file:
	sockfd_put(sock);
	return ret;
}

static bool zcrx_range_released(struct zcrx_pool *pool, u64 off, u32 len)
{
	u32 p, first = off >> PAGE_SHIFT, last = (off + len - 1) >> PAGE_SHIFT;

	for (p = first; p <= last; p++)
		if (zcrx_page_busy(pool, pool->pages[p]))
			return false;
	return true;
}

/*
 * Called by the pool tick with pool->lock held: post SENT for every send
 * whose pages are free again and for which a CQ slot is free.  Returns
 * true while sends remain in flight.
 */
bool zcrx_pool_reap_sends(struct zcrx_pool *pool)
{
	struct zcrx_inflight *inf, *tmp;
	bool posted = false;

	list_for_each_entry_safe(inf, tmp, &pool->inflight, node) {
		if (!zcrx_range_released(pool, inf->off, inf->len))
			continue;
		if (!zcrx_pool_post_locked(pool, inf->tag, inf->off, inf->len,
					   ZCRXDEV_CQE_SENT))
			break;	/* CQ full: next tick */
		list_del(&inf->node);
		kfree(inf);
		posted = true;
	}
	if (posted)
		zcrx_pool_notify(pool);
	return !list_empty(&pool->inflight);
}

void zcrx_pool_free_sends(struct zcrx_pool *pool)
{
	struct zcrx_inflight *inf, *tmp;

	list_for_each_entry_safe(inf, tmp, &pool->inflight, node) {
		list_del(&inf->node);
		kfree(inf);
	}
}

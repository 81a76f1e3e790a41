// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx read engine: tcp_read_sock() with an actor that splits each skb
 * into pieces and has place.c post them, then end of stream and errors.
 *
 * Where the pass runs: sk_data_ready is called with the socket locked.
 * When the lock is the softirq spinlock (socket not owned by a task), the
 * pass runs right there, as iSCSI does: no context switch, and the bytes
 * leave the receive queue while they are cache-hot.  When a task owns the
 * socket (it is inside a socket syscall, or we are being called from its
 * release_sock() backlog processing) the pass is deferred to a work item
 * that takes lock_sock(), as strparser does.  A DEFER (or MAP) pool's
 * socket is only marked ready: ZCRXDEV_IOC_RECV runs its pass in the
 * caller's context (with the window at hand, for MAP), where one pass
 * takes everything queued since the last one.  Either way the placement
 * state of a socket is only touched with its socket lock held.
 */
#include <linux/mm.h>
#include <linux/skbuff.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "place.h"
#include "pool.h"
#include "read.h"
#include "wq.h"

enum zcrx_piece_kind {
	ZCRX_PIECE_COPY,	/* copy into the pool */
	ZCRX_PIECE_POOL,	/* bytes inside one of our pool's pages */
	ZCRX_PIECE_MAP,		/* whole pages to map into the window */
};

struct zcrx_piece {
	enum zcrx_piece_kind	kind;
	u32			len;
	u32			page_idx;	/* POOL: pool page */
	u32			page_off;
	u32			nr_pages;	/* MAP */
	struct page		*pages[MAX_SKB_FRAGS];
};

/* If the fragment lies in one of this pool's pages, that page's index. */
static u32 zcrx_read_pool_page(struct zcrx_pool *pool, const skb_frag_t *frag)
{
	struct page *page = skb_frag_page(frag);
	u32 idx;

	if (!page)
		return ZCRX_NO_PAGE;
	idx = zcrx_mem_page_index(&pool->mem, page);
	if (idx == ZCRX_NO_PAGE ||
	    skb_frag_off(frag) + skb_frag_size(frag) > PAGE_SIZE)
		return ZCRX_NO_PAGE;
	return idx;
}

/*
 * May this fragment be mapped into a process?  Only a whole page that
 * holds nothing but this fragment's bytes, is not part of a compound page
 * and belongs to no file or anonymous mapping (TCP_ZEROCOPY_RECEIVE's
 * rule).  Pages of our own pool never get here: they complete in place.
 * The compound rule is what keeps other zcrx pools' (and io_uring's) pages
 * out: their owners can still write them (mem.c).
 */
static bool zcrx_read_frag_mappable(const skb_frag_t *frag)
{
	struct page *page = skb_frag_page(frag);

	return page && !skb_frag_off(frag) && skb_frag_size(frag) == PAGE_SIZE &&
	       !PageCompound(page) && !READ_ONCE(page->mapping);
}

/*
 * Fragments i.. that are mappable and lie wholly inside [cur, limit),
 * starting at byte pos == cur: their count, pages stored in pc->pages.
 */
static u32 zcrx_read_map_run_len(const struct skb_shared_info *shi, int i,
				 u32 pos, u32 limit, struct zcrx_piece *pc)
{
	u32 n = 0;

	for (; i < shi->nr_frags && pos + PAGE_SIZE <= limit; i++) {
		if (!zcrx_read_frag_mappable(&shi->frags[i]))
			break;
		pc->pages[n++] = skb_frag_page(&shi->frags[i]);
		pos += PAGE_SIZE;
	}
	return n;
}

/*
 * The next piece of skb bytes [off, off + len): one run of bytes to copy
 * (linear part, fragments from other pages, runs of mappable pages shorter
 * than the window threshold), bytes inside one fragment that lives in a
 * pool page, or (if may_map) a run of whole pages to map.
 */
static void zcrx_read_next_piece(struct zcrx_sock *zs, const struct sk_buff *skb,
				 u32 off, u32 len, bool may_map,
				 struct zcrx_piece *pc)
{
	const struct skb_shared_info *shi = skb_shinfo(skb);
	u32 pos = skb_headlen(skb), end, cur, idx, n;
	struct zcrx_pool *pool = zs->pool;
	int i;

	pc->kind = ZCRX_PIECE_COPY;
	pc->len = off < pos ? min(len, pos - off) : 0;
	for (i = 0; i < shi->nr_frags && pc->len < len; i++) {
		end = pos + skb_frag_size(&shi->frags[i]);
		cur = off + pc->len;
		if (cur < end) {
			idx = zcrx_read_pool_page(pool, &shi->frags[i]);
			if (idx != ZCRX_NO_PAGE) {
				if (pc->len)
					return;	/* copy up to it first */
				pc->kind = ZCRX_PIECE_POOL;
				pc->page_idx = idx;
				pc->page_off = skb_frag_off(&shi->frags[i]) +
					       (cur - pos);
				pc->len = min(len, end - cur);
				return;
			}
			n = 0;
			if (may_map && cur == pos)
				n = zcrx_read_map_run_len(shi, i, pos, off + len, pc);
			if (n && n >= pool->win.threshold) {
				if (pc->len)
					return;	/* copy up to it first */
				pc->kind = ZCRX_PIECE_MAP;
				pc->nr_pages = n;
				pc->len = n << PAGE_SHIFT;
				return;
			}
			pc->len += min(len - pc->len, end - cur);
		}
		pos = end;
	}
	/* Whatever is left sits in the frag_list: copy it. */
	pc->len = len;
}

/* tcp_read_sock() actor: place as much as resources allow. */
static int zcrx_read_actor(read_descriptor_t *desc, struct sk_buff *skb,
			   unsigned int offset, size_t len)
{
	struct zcrx_sock *zs = desc->arg.data;
	size_t done = 0, copy_until = 0;
	struct zcrx_piece pc;
	int n;

	/*
	 * tcp_read_sock() calls us again for the rest of an skb after a
	 * partial return, even though we set count to 0.  Placing bytes then
	 * would unstall the socket behind the read pass's back, which takes
	 * count == 0 for "stalled" and would leave it neither stalled nor
	 * read: once stalled, stay stalled until the wake path resumes us.
	 */
	if (!desc->count)
		return 0;
	while (done < len) {
		/* After a run that could not be mapped, copy all of it. */
		zcrx_read_next_piece(zs, skb, offset + done,
				     min_t(size_t, len - done, U32_MAX),
				     zs->map_vma && done >= copy_until, &pc);
		n = -EAGAIN;
		if (pc.kind == ZCRX_PIECE_POOL)
			n = zcrx_place_zc(zs, pc.page_idx, pc.page_off, pc.len);
		else if (pc.kind == ZCRX_PIECE_MAP)
			n = zcrx_place_map(zs, pc.pages, pc.nr_pages);
		if (n == -EAGAIN && pc.kind == ZCRX_PIECE_MAP)
			copy_until = done + pc.len;
		if (n == -EAGAIN)
			n = zcrx_place_copy(zs, skb, offset + done, pc.len);
		if (n <= 0) {
			if (n < 0)
				zs->error = -n;
			desc->count = 0;
			break;
		}
		done += n;
	}
	return done;
}

/*
 * After a pass that was not stalled: end of stream once the queue is
 * drained, or an error.  The completion needs a CQ slot; without one the
 * socket stays stalled and the wake path brings us back here.  Detaching
 * needs lock_sock() and the callback write lock, which softirq context
 * cannot take: it is queued (sock.c's detach_work).
 */
static void zcrx_read_check_end(struct zcrx_sock *zs)
{
	struct sock *sk = zs->sk;

	if (!zs->error) {
		if (!skb_queue_empty(&sk->sk_receive_queue))
			return;
		if (READ_ONCE(sk->sk_err))
			zs->error = -sock_error(sk);	/* consumes sk_err */
		else if (!(READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN))
			return;
	}
	if (!zcrx_place_end(zs, zs->error))
		return;
	set_bit(ZS_CLOSING, &zs->flags);
	zcrx_pool_sock_get(zs);
	if (!queue_work(zcrx_wq, &zs->detach_work))
		zcrx_pool_sock_put(zs);
}

/* One read pass.  The socket is locked (owned, or bh-locked in softirq). */
void zcrx_read_pass(struct zcrx_sock *zs)
{
	read_descriptor_t desc = { .arg.data = zs, .count = 1 };
	struct sock *sk = zs->sk;

	lockdep_assert(lockdep_sock_is_held(sk));
	if (READ_ONCE(zs->flags))	/* closing or detached */
		return;
	tcp_read_sock(sk, &desc, zcrx_read_actor);
	zcrx_place_close(zs);
	if (desc.count || zs->error)	/* not stalled */
		zcrx_read_check_end(zs);
	zcrx_pool_notify(zs->pool);
}

/*
 * Process context, no locks held: a read pass now, or for a DEFER pool, a
 * note that ZCRXDEV_IOC_RECV has work.
 */
void zcrx_read_resume(struct zcrx_sock *zs)
{
	if (zs->pool->flags & ZCRXDEV_SETUP_DEFER) {
		zcrx_place_mark_ready(zs, true);
		return;
	}
	lock_sock(zs->sk);
	zcrx_read_pass(zs);
	release_sock(zs->sk);
}

/*
 * ZCRXDEV_IOC_RECV's read pass of a DEFER pool's socket, in the caller's
 * context: whole pages go to the window when it is the caller's.
 */
void zcrx_read_recv(struct zcrx_sock *zs)
{
	struct zcrx_pool *pool = zs->pool;

	lock_sock(zs->sk);
	zs->map_vma = zcrx_win_begin(&pool->win);
	zcrx_read_pass(zs);
	zs->map_vma = NULL;
	zcrx_win_end(&pool->win);
	release_sock(zs->sk);
}

/* The deferred pass (zs->read_work): the socket was owned by a task. */
void zcrx_read_work(struct work_struct *work)
{
	struct zcrx_sock *zs = container_of(work, struct zcrx_sock, read_work);

	zcrx_read_resume(zs);
	zcrx_pool_sock_put(zs);
}

/*
 * A DEFER pool's socket holds bytes for RECV.  Plain data counts towards
 * the waiter's threshold; a state change or error, or a receive queue past
 * half the socket's buffer (the sender will soon wait for window: a waiter
 * holding out for more arrivals would wait for its timeout), wakes it now.
 */
static void zcrx_read_defer(struct zcrx_sock *zs, bool data)
{
	struct sock *sk = zs->sk;

	zcrx_place_mark_ready(zs, !data || atomic_read(&sk->sk_rmem_alloc) >
					   READ_ONCE(sk->sk_rcvbuf) / 2);
}

/* Data or a state change (socket locked, sk_callback_lock read-held). */
void zcrx_read_kick(struct zcrx_sock *zs, bool data)
{
	if (zs->pool->flags & ZCRXDEV_SETUP_DEFER) {
		zcrx_read_defer(zs, data);
		return;
	}
	if (sock_owned_by_user_nocheck(zs->sk)) {
		zcrx_pool_sock_get(zs);
		if (!queue_work(zcrx_wq, &zs->read_work))
			zcrx_pool_sock_put(zs);	/* not the last: the list holds one */
		return;
	}
	zcrx_read_pass(zs);
}

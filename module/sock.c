// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx sockets: attach, receive hooks, placement of payload into the pool,
 * end of stream, detach.
 *
 * Where the work runs: sk_data_ready is called with the socket locked.
 * When the lock is the softirq spinlock (socket not owned by a task), the
 * read pass runs right there, as iSCSI does: no context switch, and the
 * bytes leave the receive queue while they are cache-hot.  When a task
 * owns the socket (it is inside a socket syscall, or we are being called
 * from its release_sock() backlog processing) the pass is deferred to a
 * work item that takes lock_sock(), as strparser does.  Either way the
 * placement state of a socket is only touched with its socket lock held.
 *
 * Module lifetime: every attached socket carries the "zcrx" TCP ULP.  The
 * ULP framework holds a module reference until the socket is destroyed and
 * drops it from core code, so the ->close hook we install in sk_prot (to
 * detach when the process closes the socket) can never run after unload.
 */
#include <linux/file.h>
#include <linux/hashtable.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <net/inet_connection_sock.h>
#include <net/tcp.h>
#if IS_ENABLED(CONFIG_IPV6)
#include <net/transp_v6.h>
#endif

#include "compat.h"
#include "zcrx.h"

#define ZCRX_ULP_NAME	"zcrx"

/* Copies of tcp_prot/tcpv6_prot whose ->close detaches first. */
static struct proto zcrx_tcp_prot;
#if IS_ENABLED(CONFIG_IPV6)
static struct proto zcrx_tcpv6_prot;
#endif

/*
 * The sockets whose ULP our attach path is installing right now: the only
 * ones zcrx_ulp_init() accepts.  zcrx_staged_lock protects zcrx_staged; it
 * is held for a lookup only, never while sleeping (the ULP install takes
 * the socket lock, which the socket's owner can hold for as long as it
 * likes).
 */
struct zcrx_staged {
	struct hlist_node	node;
	struct sock		*sk;
};

static DEFINE_SPINLOCK(zcrx_staged_lock);
static DEFINE_HASHTABLE(zcrx_staged, 6);

static void zcrx_sk_data_ready(struct sock *sk);

/* ---- references ---- */

void zcrx_sock_get(struct zcrx_sock *zs)
{
	refcount_inc(&zs->ref);
}

/*
 * References: the pool's socket list (until detach ends), each queued
 * work item, and short-lived holders.  The list reference outlives every
 * softirq user, so the last put always comes from process context.
 */
void zcrx_sock_put(struct zcrx_sock *zs)
{
	if (!refcount_dec_and_test(&zs->ref))
		return;
	sock_put(zs->sk);
	zcrx_pool_put(zs->pool);
	kfree_rcu(zs, rcu);
}

static struct proto *zcrx_base_proto(struct proto *prot)
{
	if (prot == &zcrx_tcp_prot)
		return &tcp_prot;
#if IS_ENABLED(CONFIG_IPV6)
	if (prot == &zcrx_tcpv6_prot)
		return &tcpv6_prot;
#endif
	return prot;
}

static struct proto *zcrx_hook_proto(struct proto *base)
{
	if (base == &tcp_prot)
		return &zcrx_tcp_prot;
#if IS_ENABLED(CONFIG_IPV6)
	if (base == &tcpv6_prot)
		return &zcrx_tcpv6_prot;
#endif
	return NULL;
}

/* Only valid while our callbacks are installed; caller holds sk_callback_lock. */
static struct zcrx_sock *zcrx_sk_ctx(struct sock *sk)
{
	lockdep_assert_held(&sk->sk_callback_lock);
	if (sk->sk_data_ready != zcrx_sk_data_ready)
		return NULL;
	return __locked_read_sk_user_data_with_flags(sk, 0);
}

/* ---- placement (socket locked) ---- */

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

/*
 * If the fragment's page is one of this pool's pages, its index.  The
 * first page of each pool folio carries the pool id and its own index.
 */
static u32 zcrx_pool_page(struct zcrx_pool *pool, const skb_frag_t *frag)
{
	struct page *page = skb_frag_page(frag);
	struct folio *folio;
	unsigned long priv;
	u32 idx;

	if (!page)
		return ZCRX_NO_BUF;
	folio = page_folio(page);
	priv = page_private(&folio->page);
	if ((priv >> 32) != pool->id)
		return ZCRX_NO_BUF;
	idx = (u32)priv + (u32)(page - &folio->page);
	/* The tag is only a hint; the page array is the truth. */
	if (idx >= pool->nr_pages)
		return ZCRX_NO_BUF;
	idx = array_index_nospec(idx, pool->nr_pages);
	if (pool->pages[idx] != page ||
	    skb_frag_off(frag) + skb_frag_size(frag) > PAGE_SIZE)
		return ZCRX_NO_BUF;
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
static bool zcrx_frag_mappable(const skb_frag_t *frag)
{
	struct page *page = skb_frag_page(frag);

	return page && !skb_frag_off(frag) && skb_frag_size(frag) == PAGE_SIZE &&
	       !PageCompound(page) && !READ_ONCE(page->mapping);
}

/*
 * Fragments i.. that are mappable and lie wholly inside [cur, limit),
 * starting at byte pos == cur: their count, pages stored in pc->pages.
 */
static u32 zcrx_map_run_len(const struct skb_shared_info *shi, int i,
			    u32 pos, u32 limit, struct zcrx_piece *pc)
{
	u32 n = 0;

	for (; i < shi->nr_frags && pos + PAGE_SIZE <= limit; i++) {
		if (!zcrx_frag_mappable(&shi->frags[i]))
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
static void zcrx_next_piece(struct zcrx_sock *zs, const struct sk_buff *skb,
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
			idx = zcrx_pool_page(pool, &shi->frags[i]);
			if (idx != ZCRX_NO_BUF) {
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
				n = zcrx_map_run_len(shi, i, pos, off + len, pc);
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

static int zcrx_place_copy(struct zcrx_sock *zs, struct sk_buff *skb,
			   u32 off, u32 len)
{
	struct zcrx_pool *pool = zs->pool;
	u32 n;

	if ((zs->cur_buf == ZCRX_NO_BUF || !zs->cq_reserved) &&
	    !zcrx_pool_begin_seg(pool, zs))
		return 0;
	n = min(len, pool->buf_size - zs->fill);
	if (skb_copy_bits(skb, off, zcrx_buf_addr(pool, zs->cur_buf) + zs->fill, n))
		return -EFAULT;
	zs->fill += n;
	if (zs->fill == pool->buf_size)
		zcrx_pool_end_seg(pool, zs, true);
	return n;
}

static int zcrx_place_zc(struct zcrx_sock *zs, const struct zcrx_piece *pc)
{
	int ret;

	/* Stream order: complete what was copied before this piece. */
	zcrx_pool_end_seg(zs->pool, zs, false);
	ret = zcrx_pool_post_zc(zs->pool, zs, pc->page_idx, pc->page_off,
				pc->len);
	return ret > 0 ? pc->len : ret;	/* 0: stalled, -EAGAIN: copy it */
}

/* tcp_read_sock() actor: place as much as resources allow. */
static int zcrx_recv_actor(read_descriptor_t *desc, struct sk_buff *skb,
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
		zcrx_next_piece(zs, skb, offset + done,
				min_t(size_t, len - done, U32_MAX),
				zs->map_vma && done >= copy_until, &pc);
		n = -EAGAIN;
		if (pc.kind == ZCRX_PIECE_POOL)
			n = zcrx_place_zc(zs, &pc);
		else if (pc.kind == ZCRX_PIECE_MAP)
			n = zcrx_map_run(zs, pc.pages, pc.nr_pages);
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
 * socket stays stalled and the wake path brings us back here.
 */
static void zcrx_sock_check_end(struct zcrx_sock *zs)
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
	if (!zcrx_pool_post_end(zs->pool, zs, zs->error))
		return;
	set_bit(ZS_CLOSING, &zs->flags);
	zcrx_sock_get(zs);
	if (!queue_work(zcrx_wq, &zs->detach_work))
		zcrx_sock_put(zs);
}

/* One read pass.  The socket is locked (owned, or bh-locked in softirq). */
static void zcrx_sock_read(struct zcrx_sock *zs)
{
	read_descriptor_t desc = { .arg.data = zs, .count = 1 };
	struct sock *sk = zs->sk;

	lockdep_assert(lockdep_sock_is_held(sk));
	if (READ_ONCE(zs->flags))	/* closing or detached */
		return;
	tcp_read_sock(sk, &desc, zcrx_recv_actor);
	zcrx_pool_end_seg(zs->pool, zs, true);
	if (desc.count || zs->error)	/* not stalled */
		zcrx_sock_check_end(zs);
	zcrx_pool_notify(zs->pool);
}

/*
 * Process context, no locks held: a read pass now, or for a MAP pool, a
 * note that ZCRXDEV_IOC_RECV has work.
 */
void zcrx_sock_resume(struct zcrx_sock *zs)
{
	if (zs->pool->flags & ZCRXDEV_SETUP_MAP) {
		zcrx_pool_mark_ready(zs->pool, zs);
		return;
	}
	lock_sock(zs->sk);
	zcrx_sock_read(zs);
	release_sock(zs->sk);
}

/*
 * ZCRXDEV_IOC_RECV's read pass of a MAP pool's socket, in the caller's
 * context: whole pages go to the window when it is the caller's.
 */
void zcrx_sock_recv(struct zcrx_sock *zs)
{
	struct zcrx_pool *pool = zs->pool;

	lock_sock(zs->sk);
	zs->map_vma = zcrx_win_begin(pool);
	zcrx_sock_read(zs);
	zs->map_vma = NULL;
	zcrx_win_end(pool);
	release_sock(zs->sk);
}

static void zcrx_sock_read_work(struct work_struct *work)
{
	struct zcrx_sock *zs = container_of(work, struct zcrx_sock, read_work);

	zcrx_sock_resume(zs);
	zcrx_sock_put(zs);
}

static void zcrx_sock_detach_work(struct work_struct *work)
{
	struct zcrx_sock *zs = container_of(work, struct zcrx_sock, detach_work);

	zcrx_sock_detach(zs);
	zcrx_sock_put(zs);
}

/* ---- socket callbacks (socket locked, sk_callback_lock read-held) ---- */

static void zcrx_sock_kick(struct zcrx_sock *zs)
{
	if (zs->pool->flags & ZCRXDEV_SETUP_MAP) {
		zcrx_pool_mark_ready(zs->pool, zs);
		return;
	}
	if (sock_owned_by_user_nocheck(zs->sk)) {
		zcrx_sock_get(zs);
		if (!queue_work(zcrx_wq, &zs->read_work))
			zcrx_sock_put(zs);	/* not the last: the list holds one */
		return;
	}
	zcrx_sock_read(zs);
}

static void zcrx_sk_data_ready(struct sock *sk)
{
	struct zcrx_sock *zs;

	read_lock_bh(&sk->sk_callback_lock);
	zs = zcrx_sk_ctx(sk);
	if (zs)
		zcrx_sock_kick(zs);
	read_unlock_bh(&sk->sk_callback_lock);
}

static void zcrx_sk_state_change(struct sock *sk)
{
	void (*saved)(struct sock *sk) = NULL;
	struct zcrx_sock *zs;

	read_lock_bh(&sk->sk_callback_lock);
	zs = zcrx_sk_ctx(sk);
	if (zs) {
		saved = zs->saved_state_change;
		zcrx_sock_kick(zs);
	}
	read_unlock_bh(&sk->sk_callback_lock);
	if (saved)
		saved(sk);
}

static void zcrx_sk_error_report(struct sock *sk)
{
	void (*saved)(struct sock *sk) = NULL;
	struct zcrx_sock *zs;

	read_lock_bh(&sk->sk_callback_lock);
	zs = zcrx_sk_ctx(sk);
	if (zs) {
		saved = zs->saved_error_report;
		zcrx_sock_kick(zs);
	}
	read_unlock_bh(&sk->sk_callback_lock);
	if (saved)
		saved(sk);
}

/* sk_prot->close of an attached socket: detach, then the real close. */
static void zcrx_sk_close(struct sock *sk, long timeout)
{
	struct zcrx_sock *zs;

	read_lock_bh(&sk->sk_callback_lock);
	zs = zcrx_sk_ctx(sk);
	if (zs)
		zcrx_sock_get(zs);
	read_unlock_bh(&sk->sk_callback_lock);
	if (zs) {
		zcrx_sock_detach(zs);
		zcrx_sock_put(zs);
	}
	/*
	 * The real close can destroy the socket and drop the ULP's module
	 * reference, perhaps the last one, well before it returns to us.
	 * Hold our own across it (safe to take: the ULP's is still held
	 * here), so that once it is dropped only this function's return is
	 * left to run.
	 */
	__module_get(THIS_MODULE);
	zcrx_base_proto(READ_ONCE(sk->sk_prot))->close(sk, timeout);
	module_put(THIS_MODULE);
}

/* ---- the ULP: a module pin that only our attach path may install ---- */

static struct zcrx_staged *zcrx_staged_find(struct sock *sk)
{
	struct zcrx_staged *st;

	lockdep_assert_held(&zcrx_staged_lock);
	hash_for_each_possible(zcrx_staged, st, node, (unsigned long)sk)
		if (st->sk == sk)
			return st;
	return NULL;
}

/* Stage st->sk for zcrx_ulp_init(); false if another attach has it. */
static bool zcrx_stage(struct zcrx_staged *st)
{
	bool ok;

	spin_lock(&zcrx_staged_lock);
	ok = !zcrx_staged_find(st->sk);
	if (ok)
		hash_add(zcrx_staged, &st->node, (unsigned long)st->sk);
	spin_unlock(&zcrx_staged_lock);
	return ok;
}

static void zcrx_unstage(struct zcrx_staged *st)
{
	spin_lock(&zcrx_staged_lock);
	hash_del(&st->node);
	spin_unlock(&zcrx_staged_lock);
}

static int zcrx_ulp_init(struct sock *sk)
{
	bool ok;

	spin_lock(&zcrx_staged_lock);
	ok = zcrx_staged_find(sk);
	spin_unlock(&zcrx_staged_lock);
	return ok ? 0 : -EPERM;
}

static struct tcp_ulp_ops zcrx_ulp_ops __read_mostly = {
	.name	= ZCRX_ULP_NAME,
	.owner	= THIS_MODULE,
	.init	= zcrx_ulp_init,
};

static int zcrx_sock_pin_module(struct socket *sock)
{
	struct zcrx_staged st = { .sk = sock->sk };
	struct sock *sk = sock->sk;
	int ret;

	if (READ_ONCE(inet_csk(sk)->icsk_ulp_ops) == &zcrx_ulp_ops)
		return 0;	/* attached before: the pin is still there */

	if (!zcrx_stage(&st))
		return -EBUSY;	/* another attach of this socket is under way */
	/* Sleeps on the socket lock with nothing else of ours held. */
	ret = sock->ops->setsockopt(sock, SOL_TCP, TCP_ULP,
				    KERNEL_SOCKPTR(ZCRX_ULP_NAME),
				    sizeof(ZCRX_ULP_NAME) - 1);
	zcrx_unstage(&st);

	if (ret == -EEXIST)	/* another ULP (kTLS, ...), or ours by a race */
		ret = READ_ONCE(inet_csk(sk)->icsk_ulp_ops) == &zcrx_ulp_ops ?
		      0 : -EBUSY;
	return ret;
}

/* ---- attach / detach ---- */

static int zcrx_check_attach(const struct zcrxdev_attach *a)
{
	if (a->flags || a->resv[0] || a->resv[1])
		return -EINVAL;
	return 0;
}

/* Can this socket be attached?  Racy without the socket lock: a hint. */
static int zcrx_sock_precheck(struct sock *sk)
{
	int state = READ_ONCE(sk->sk_state);
	const struct tcp_ulp_ops *ulp = READ_ONCE(inet_csk(sk)->icsk_ulp_ops);

	if (state != TCP_ESTABLISHED && state != TCP_CLOSE_WAIT)
		return -ENOTCONN;
	if (rcu_access_pointer(__sk_user_data(sk)))
		return -EBUSY;	/* attached already, or sockmap, ... */
	if (ulp && ulp != &zcrx_ulp_ops)
		return -EBUSY;	/* kTLS, ... */
	if (!zcrx_hook_proto(READ_ONCE(sk->sk_prot)))
		return -EBUSY;	/* sk_prot replaced by someone else */
	return 0;
}

static int zcrx_sock_hook(struct zcrx_pool *pool, struct zcrx_sock *zs)
{
	struct sock *sk = zs->sk;
	struct proto *hook;
	int ret;

	ret = zcrx_sock_precheck(sk);
	if (ret)
		return ret;
	hook = zcrx_hook_proto(sk->sk_prot);

	spin_lock_bh(&pool->lock);
	if (pool->dying) {
		spin_unlock_bh(&pool->lock);
		return -ENXIO;
	}
	list_add_tail(&zs->node, &pool->socks);
	pool->nr_socks++;
	pool->stats.sockets_total++;
	spin_unlock_bh(&pool->lock);
	atomic_inc(&zcrx_socks_total);

	write_lock_bh(&sk->sk_callback_lock);
	zs->saved_data_ready = sk->sk_data_ready;
	zs->saved_state_change = sk->sk_state_change;
	zs->saved_error_report = sk->sk_error_report;
	zs->base_prot = sk->sk_prot;
	__rcu_assign_sk_user_data_with_flags(sk, zs, SK_USER_DATA_NOCOPY);
	sk->sk_data_ready = zcrx_sk_data_ready;
	sk->sk_state_change = zcrx_sk_state_change;
	sk->sk_error_report = zcrx_sk_error_report;
	WRITE_ONCE(sk->sk_prot, hook);
	write_unlock_bh(&sk->sk_callback_lock);
	return 0;
}

int zcrx_sock_attach(struct zcrx_pool *pool, const struct zcrxdev_attach *a)
{
	struct zcrx_sock *zs;
	struct socket *sock;
	struct sock *sk;
	int ret;

	ret = zcrx_check_attach(a);
	if (ret)
		return ret;
	sock = sockfd_lookup(a->fd, &ret);	/* -EBADF / -ENOTSOCK */
	if (!sock)
		return ret;
	sk = sock->sk;
	ret = -EPROTONOSUPPORT;
	if (!sk || sk->sk_type != SOCK_STREAM ||
	    sk->sk_protocol != IPPROTO_TCP ||
	    (sk->sk_family != AF_INET && sk->sk_family != AF_INET6))
		goto out_put_file;

	/*
	 * Refuse what we can before installing the ULP, which cannot be taken
	 * off again (it would make listen() fail and pin the module until the
	 * socket dies); zcrx_sock_hook() checks again under the socket lock.
	 */
	ret = zcrx_sock_precheck(sk);
	if (ret)
		goto out_put_file;
	ret = zcrx_sock_pin_module(sock);
	if (ret)
		goto out_put_file;

	ret = -ENOMEM;
	zs = kzalloc(sizeof(*zs), GFP_KERNEL_ACCOUNT);
	if (!zs)
		goto out_put_file;
	refcount_set(&zs->ref, 1);	/* the pool list's */
	zs->tag = a->tag;
	zs->sk = sk;
	zs->pool = pool;
	zs->cur_buf = ZCRX_NO_BUF;
	zs->hint_buf = ZCRX_NO_BUF;
	INIT_LIST_HEAD(&zs->node);
	INIT_LIST_HEAD(&zs->stall_node);
	INIT_LIST_HEAD(&zs->ready_node);
	INIT_WORK(&zs->read_work, zcrx_sock_read_work);
	INIT_WORK(&zs->detach_work, zcrx_sock_detach_work);

	lock_sock(sk);
	ret = zcrx_sock_hook(pool, zs);
	if (ret) {
		release_sock(sk);
		kfree(zs);
		goto out_put_file;
	}
	sock_hold(sk);
	zcrx_pool_get(pool);
	/* Bytes queued before we hooked in: place them now. */
	if (pool->flags & ZCRXDEV_SETUP_MAP)
		zcrx_pool_mark_ready(pool, zs);
	else
		zcrx_sock_read(zs);
	release_sock(sk);

out_put_file:
	sockfd_put(sock);
	return ret;
}

/*
 * Undo the attach.  Runs in process context, once per socket whoever asks
 * first (ioctl, socket close, EOF/error work, pool teardown); the others
 * return at once and the pool teardown waits for nr_socks to reach zero.
 */
void zcrx_sock_detach(struct zcrx_sock *zs)
{
	struct zcrx_pool *pool = zs->pool;
	struct sock *sk = zs->sk;

	if (test_and_set_bit(ZS_DETACHED, &zs->flags))
		return;

	lock_sock(sk);
	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_data_ready = zs->saved_data_ready;
	sk->sk_state_change = zs->saved_state_change;
	sk->sk_error_report = zs->saved_error_report;
	rcu_assign_sk_user_data(sk, NULL);
	if (zcrx_base_proto(sk->sk_prot) == zs->base_prot)
		WRITE_ONCE(sk->sk_prot, zs->base_prot);
	write_unlock_bh(&sk->sk_callback_lock);
	zcrx_pool_end_seg(pool, zs, true);
	/* Bytes we left behind belong to recv() again: wake its readers. */
	if (!skb_queue_empty(&sk->sk_receive_queue))
		sk->sk_data_ready(sk);
	release_sock(sk);

	spin_lock_bh(&pool->lock);
	list_del_init(&zs->node);
	list_del_init(&zs->stall_node);
	list_del_init(&zs->ready_node);
	pool->nr_socks--;
	if (list_empty(&pool->stalled))
		zcrx_pool_cq_flags(pool, 0, ZCRXDEV_RING_NEED_WAKEUP);
	if (list_empty(&pool->ready))
		zcrx_pool_cq_flags(pool, 0, ZCRXDEV_RING_DATA_READY);
	spin_unlock_bh(&pool->lock);
	atomic_dec(&zcrx_socks_total);
	wake_up(&pool->detach_wait);
	zcrx_sock_put(zs);	/* the list's reference */
}

int zcrx_sock_detach_fd(struct zcrx_pool *pool, const struct zcrxdev_detach *d)
{
	struct zcrx_sock *zs;
	struct socket *sock;
	struct sock *sk;
	int ret;

	if (d->flags || d->resv[0] || d->resv[1])
		return -EINVAL;
	sock = sockfd_lookup(d->fd, &ret);
	if (!sock)
		return ret;
	sk = sock->sk;
	ret = -ENOENT;
	if (!sk)
		goto out_put_file;
	read_lock_bh(&sk->sk_callback_lock);
	zs = zcrx_sk_ctx(sk);
	if (zs && zs->pool == pool && !test_bit(ZS_DETACHED, &zs->flags))
		zcrx_sock_get(zs);
	else
		zs = NULL;
	read_unlock_bh(&sk->sk_callback_lock);
	if (zs) {
		zcrx_sock_detach(zs);
		zcrx_sock_put(zs);
		ret = 0;
	}
out_put_file:
	sockfd_put(sock);
	return ret;
}

int zcrx_sock_init(void)
{
	zcrx_tcp_prot = tcp_prot;
	zcrx_tcp_prot.close = zcrx_sk_close;
#if IS_ENABLED(CONFIG_IPV6)
	zcrx_tcpv6_prot = tcpv6_prot;
	zcrx_tcpv6_prot.close = zcrx_sk_close;
#endif
	return tcp_register_ulp(&zcrx_ulp_ops);
}

void zcrx_sock_exit(void)
{
	tcp_unregister_ulp(&zcrx_ulp_ops);
}

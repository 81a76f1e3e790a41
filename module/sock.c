// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx sockets, the control plane: attach, the receive callbacks (which
 * hand over to read.c), the ULP, the proto copies and detach.
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
#include "place.h"
#include "pool.h"
#include "read.h"
#include "sock.h"

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

/* After EOF or an error (read.c queues it): detach in process context. */
static void zcrx_sock_detach_work(struct work_struct *work)
{
	struct zcrx_sock *zs = container_of(work, struct zcrx_sock, detach_work);

	zcrx_sock_detach(zs);
	zcrx_pool_sock_put(zs);
}

/* ---- socket callbacks (socket locked, sk_callback_lock read-held) ---- */

static void zcrx_sk_data_ready(struct sock *sk)
{
	struct zcrx_sock *zs;

	read_lock_bh(&sk->sk_callback_lock);
	zs = zcrx_sk_ctx(sk);
	if (zs)
		zcrx_read_kick(zs, true);
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
		zcrx_read_kick(zs, false);
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
		zcrx_read_kick(zs, false);
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
		zcrx_pool_sock_get(zs);
	read_unlock_bh(&sk->sk_callback_lock);
	if (zs) {
		zcrx_sock_detach(zs);
		zcrx_pool_sock_put(zs);
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

	ret = zcrx_pool_sock_add(pool, zs);
	if (ret)
		return ret;

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
	INIT_WORK(&zs->read_work, zcrx_read_work);
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
	if (pool->flags & ZCRXDEV_SETUP_DEFER)
		zcrx_place_mark_ready(zs, true);
	else
		zcrx_read_pass(zs);
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
	zcrx_place_close(zs);
	/* Bytes we left behind belong to recv() again: wake its readers. */
	if (!skb_queue_empty(&sk->sk_receive_queue))
		sk->sk_data_ready(sk);
	release_sock(sk);
	zcrx_pool_sock_del(pool, zs);	/* drops the list's reference */
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
		zcrx_pool_sock_get(zs);
	else
		zs = NULL;
	read_unlock_bh(&sk->sk_callback_lock);
	if (zs) {
		zcrx_sock_detach(zs);
		zcrx_pool_sock_put(zs);
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

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zcrx pool and attached sockets (pool.c): the objects, their references,
 * and what the pool does for everyone above it (refills, buffers to fill,
 * the tick's timer, waking poll() waiters, statistics).
 *
 * Lock order (outer to inner):
 *   pool->send_lock (mutex, send.c; never held across a socket call)
 *   socket lock (lock_sock or bh_lock_sock)
 *     -> mm->mmap_lock (read; MAP pools, task context only)
 *       -> pool->win.lock
 *         -> sk->sk_callback_lock
 *           -> pool->lock
 * Leaf locks: zcrx_staged_lock (sock.c, taken inside the socket lock),
 * zcrx_remnant_lock (mem.c).  No global lock is held while sleeping on a
 * socket lock.  pool->lock is never held while taking a socket lock;
 * code that needs to visit sockets found on a pool list (ctx.c) takes a
 * reference, drops pool->lock, then locks the socket.
 */
#ifndef ZCRX_MODULE_POOL_H
#define ZCRX_MODULE_POOL_H

#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/sock.h>

#include <linux/zcrxdev.h>

#include "buf.h"
#include "mem.h"
#include "ring.h"
#include "win.h"

/*
 * The longest pause between two looks at pages that others hold (the
 * pool's tick, the sends' reaper) while nothing changes.
 */
#define ZCRX_IDLE_MAX		(HZ / 25)

/* Byte offsets the setup ioctl hands out for mmap(). */
#define ZCRX_MMAP_POOL		0ULL
#define ZCRX_MMAP_CQ		0x100000000ULL
#define ZCRX_MMAP_RQ		0x200000000ULL
#define ZCRX_MMAP_WIN		0x300000000ULL

#define ZCRX_SETUP_MAP_ANY	(ZCRXDEV_SETUP_MAP | ZCRXDEV_SETUP_MAP_ALWAYS)

struct zcrx_pool {
	struct kref		ref;	/* the file + one per attached socket */

	/* Immutable after setup. */
	u32			flags;		/* ZCRXDEV_SETUP_* */
	u64			pool_size;
	int			node;
	struct zcrx_mem		mem;
	struct zcrx_mem_ring	cq_mem;
	struct zcrx_mem_ring	rq_mem;
	struct zcrx_win		win;

	/*
	 * Protects inflight and its counters (send.c).  Process context
	 * only: SEND adds, the tick reaps, shutdown frees.
	 */
	struct mutex		send_lock;
	struct list_head	inflight;	/* sends awaiting SENT */
	u32			nr_inflight;	/* and sends under way */
	unsigned long		reap_delay;	/* jiffies between looks at them */
	unsigned long		reap_next;	/* no look before then */

	/*
	 * Protects: the buffers (bufs), the CQ producer and RQ consumer
	 * state (cq, rq), socks/nr_socks/dying, stalled, ready, stats, the
	 * window's slot state, tick_delay.
	 */
	spinlock_t		lock;
	struct zcrx_bufs	bufs;
	struct zcrx_ring	cq;
	struct zcrx_ring	rq;
	struct list_head	socks;		/* struct zcrx_sock.node */
	struct list_head	stalled;	/* struct zcrx_sock.stall_node */
	struct list_head	ready;		/* MAP: struct zcrx_sock.ready_node */
	u32			nr_socks;
	bool			dying;
	struct zcrxdev_stats	stats;

	wait_queue_head_t	cq_wait;	/* poll() waiters for completions */
	wait_queue_head_t	detach_wait;	/* teardown waits for nr_socks == 0 */
	struct delayed_work	tick_work;	/* ctx.c: PENDING buffers, sends */
	unsigned long		tick_delay;	/* jiffies; grows while idle */
};

/* zcrx_sock.flags bits */
enum {
	ZS_CLOSING,	/* EOF or error posted; detach is queued */
	ZS_DETACHED,	/* detach started: callbacks restored or being so */
};

/* One attached socket. */
struct zcrx_sock {
	refcount_t		ref;
	unsigned long		flags;
	struct zcrx_pool	*pool;
	struct sock		*sk;
	u64			tag;
	struct list_head	node;		/* pool->socks, under pool->lock */
	struct list_head	stall_node;	/* pool->stalled, under pool->lock */
	struct list_head	ready_node;	/* pool->ready, under pool->lock */
	struct work_struct	read_work;	/* read.c: pass when the socket was busy */
	struct work_struct	detach_work;	/* sock.c: detach after EOF/error */
	struct rcu_head		rcu;

	/* Saved at attach, restored at detach under sk_callback_lock (sock.c). */
	void			(*saved_data_ready)(struct sock *sk);
	void			(*saved_state_change)(struct sock *sk);
	void			(*saved_error_report)(struct sock *sk);
	struct proto		*base_prot;

	/* Placement state (place.c), protected by the socket lock. */
	u32			cur_buf;	/* open buffer or ZCRX_NO_BUF */
	u32			seg_start;	/* first byte not yet completed */
	u32			fill;		/* next byte to write */
	bool			cq_reserved;	/* holds one CQ slot for the segment */
	u32			hint_buf;	/* last buffer, to reopen if still ours */
	u64			hint_gen;
	u32			hint_fill;
	int			error;		/* errno to report, once known */
	/* The window mapping while a RECV pass may map into it, or NULL. */
	struct vm_area_struct	*map_vma;
};

/* Module-wide gauges, shown in /sys/class/misc/zcrx/. */
extern atomic_t zcrx_pool_total;
extern atomic_t zcrx_pool_socks_total;

struct zcrx_pool *zcrx_pool_create(struct zcrxdev_setup *s, work_func_t tick);
void zcrx_pool_get(struct zcrx_pool *pool);
void zcrx_pool_put(struct zcrx_pool *pool);
void zcrx_pool_set_dying(struct zcrx_pool *pool);
void zcrx_pool_stats(struct zcrx_pool *pool, struct zcrxdev_stats *st);
void zcrx_pool_notify(struct zcrx_pool *pool);

void zcrx_pool_sock_get(struct zcrx_sock *zs);
void zcrx_pool_sock_put(struct zcrx_sock *zs);
int zcrx_pool_sock_add(struct zcrx_pool *pool, struct zcrx_sock *zs);
void zcrx_pool_sock_del(struct zcrx_pool *pool, struct zcrx_sock *zs);

/* pool->lock held. */
void zcrx_pool_refill_locked(struct zcrx_pool *pool);
u32 zcrx_pool_take_buf_locked(struct zcrx_pool *pool);
void zcrx_pool_arm_tick_locked(struct zcrx_pool *pool);
void zcrx_pool_rearm_tick_locked(struct zcrx_pool *pool);

#endif /* ZCRX_MODULE_POOL_H */

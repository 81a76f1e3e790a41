/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zcrx internal definitions: pool, buffers, rings and attached sockets.
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
 * code that needs to visit sockets found on a pool list takes a
 * reference, drops pool->lock, then locks the socket.
 */
#ifndef ZCRX_MODULE_ZCRX_H
#define ZCRX_MODULE_ZCRX_H

#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/sock.h>

#include <linux/zcrxdev.h>

#define ZCRX_NO_BUF		U32_MAX

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

/* Layout of a ring mapping: one cache line per index word. */
#define ZCRX_RING_HEAD		0
#define ZCRX_RING_TAIL		64
#define ZCRX_RING_FLAGS		128
#define ZCRX_RING_WAKE_MIN	192
#define ZCRX_RING_ENTRIES	256

enum zcrx_buf_state {
	ZCRX_BUF_FREE,		/* on the free stack */
	ZCRX_BUF_INUSE,		/* filling, or named by completions */
	ZCRX_BUF_PENDING,	/* returned, an skb or pin still holds a page */
};

/* Per-buffer bookkeeping, all of it under pool->lock. */
struct zcrx_buf {
	u64	gen;		/* bumped each time the buffer is recycled */
	u32	user_refs;	/* completions handed out, not yet returned */
	u32	pend_idx;	/* PENDING: its index in pool->pending[] */
	u32	sending;	/* ZCRXDEV_IOC_SEND calls using it right now */
	u8	state;		/* enum zcrx_buf_state */
	u8	kopen;		/* a socket is placing bytes into it now */
	u8	claiming;	/* CLAIM is telling the process its offset */
};

/* Pages charged to a user's RLIMIT_MEMLOCK and an mm's pinned_vm (mem.c). */
struct zcrx_charge {
	struct user_struct	*user;	/* NULL when CAP_IPC_LOCK */
	struct mm_struct	*mm;
	unsigned long		pages;
};

struct zcrx_ring {
	void		*mem;		/* vmap() of pages: header + entries */
	struct page	**pages;
	u32		nr_pages;
	size_t		size;
	u32		entries;
	u32		mask;
	u32		*head;		/* in mem; see linux/zcrxdev.h */
	u32		*tail;
	u32		*flags;
	u32		*wake_min;	/* CQ: written by the process */
	void		*array;
};

/*
 * The mapping window of a MAP pool (map.c): nr_slots pages of address
 * space after the pool where whole network pages are mapped read-only.
 */
struct zcrx_win {
	u32			nr_slots;	/* 0: no window */
	u32			threshold;	/* shortest run mapped, in pages */
	/*
	 * Under pool->lock: busy (the slot holds a page, or is being filled
	 * or unmapped), ret (returned by the process, still mapped; always a
	 * subset of busy), run[] (pages of the completion starting at a
	 * slot, 0 elsewhere), nr_ret, next (allocation cursor).
	 */
	unsigned long		*busy;
	unsigned long		*ret;
	u16			*run;
	u32			nr_ret;
	u32			next;
	/*
	 * Protects vma, mm and zap[], and serialises whoever inserts or
	 * zaps pages.  Taken inside mmap_lock (->mmap, ->close, RECV).
	 */
	struct mutex		lock;
	struct vm_area_struct	*vma;	/* the live window mapping, or NULL */
	struct mm_struct	*mm;	/* its mm: compared, never dereferenced */
	unsigned long		*zap;	/* slots being unmapped now */
};

struct zcrx_pool {
	struct kref		ref;	/* the file + one per attached socket */
	u32			id;	/* tags pool pages in page->private */

	/* Immutable after setup. */
	u32			flags;		/* ZCRXDEV_SETUP_* */
	u32			buf_size;
	u32			buf_shift;
	u32			buf_pages;	/* pages per buffer */
	u32			nr_bufs;
	u32			nr_pages;
	u32			folio_order;	/* pages come in folios of 2^order */
	u64			pool_size;
	struct page		**pages;	/* pool page i maps at i * PAGE_SIZE */
	struct zcrx_ring	cq;
	struct zcrx_ring	rq;
	int			node;
	struct zcrx_win		win;
	/* VMAs mapping the pool: a page mapped more often is mapped by others. */
	atomic_t		map_vmas;
	/* Long-term pins per page the process declared (ZCRXDEV_IOC_PINS). */
	u32			pins;

	/* What the pool's pages and window cost its creator (mem.c). */
	struct zcrx_charge	charge;

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
	 * Protects: bufs[], free_stack/nr_free, pending/nr_pending, the CQ
	 * producer state (cq_tail, cq_reserved, writes of CQ entries and of
	 * the CQ tail and flags words), the RQ consumer state (rq_head and
	 * writes of the RQ head word), socks/nr_socks/dying, stalled,
	 * ready, cq_flags (and writes of the CQ flags word), inflight,
	 * stats, the window's slot state, pending_next, tick_delay.
	 */
	spinlock_t		lock;
	struct zcrx_buf		*bufs;
	u32			*free_stack;
	u32			nr_free;
	u32			*pending;
	u32			nr_pending;
	u32			pending_next;	/* where the next scan starts */
	u32			cq_tail;	/* kernel's copy; the shared one is output only */
	u32			cq_reserved;	/* slots promised to sockets mid-segment */
	u32			cq_urgent;	/* cq_tail after the last EOF/ERROR/SENT */
	u32			rq_head;	/* kernel's copy */
	struct list_head	socks;		/* struct zcrx_sock.node */
	struct list_head	stalled;	/* struct zcrx_sock.stall_node */
	struct list_head	ready;		/* MAP: struct zcrx_sock.ready_node */
	u32			cq_flags;	/* kernel's copy of the CQ flags word */
	u32			nr_socks;
	bool			dying;
	struct zcrxdev_stats	stats;

	wait_queue_head_t	cq_wait;	/* poll() waiters for completions */
	wait_queue_head_t	detach_wait;	/* teardown waits for nr_socks == 0 */
	struct delayed_work	tick_work;	/* rechecks PENDING buffers, sends */
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
	struct work_struct	read_work;	/* read pass when the socket was busy */
	struct work_struct	detach_work;	/* detach after EOF/error */
	struct rcu_head		rcu;

	/* Saved at attach, restored at detach under sk_callback_lock. */
	void			(*saved_data_ready)(struct sock *sk);
	void			(*saved_state_change)(struct sock *sk);
	void			(*saved_error_report)(struct sock *sk);
	struct proto		*base_prot;

	/* Placement state, protected by the socket lock. */
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

/* main.c */
extern struct workqueue_struct *zcrx_wq;
extern atomic_long_t zcrx_pool_pages_total;
extern atomic_t zcrx_pools_total;
extern atomic_t zcrx_socks_total;

/* pool.c */
struct zcrx_pool *zcrx_pool_create(struct zcrxdev_setup *s);
void zcrx_pool_get(struct zcrx_pool *pool);
void zcrx_pool_put(struct zcrx_pool *pool);
void zcrx_pool_shutdown(struct zcrx_pool *pool);
int zcrx_pool_mmap(struct zcrx_pool *pool, struct vm_area_struct *vma);
__poll_t zcrx_pool_poll(struct zcrx_pool *pool, struct file *file,
			poll_table *wait);
void zcrx_pool_stats(struct zcrx_pool *pool, struct zcrxdev_stats *st);
void zcrx_pool_wake(struct zcrx_pool *pool);
long zcrx_pool_set_pins(struct zcrx_pool *pool, const struct zcrxdev_pins *p);

/* Used by send.c, with pool->lock held. */
u32 zcrx_pool_pop_free(struct zcrx_pool *pool);
void zcrx_pool_put_user_ref(struct zcrx_pool *pool, u32 buf);
void zcrx_pool_maybe_recycle(struct zcrx_pool *pool, u32 buf);
bool zcrx_pool_post_locked(struct zcrx_pool *pool, u64 tag, u64 off, u32 len,
			   u32 flags);
void zcrx_pool_arm_tick(struct zcrx_pool *pool);
/* No lock needed. */
bool zcrx_range_busy(struct zcrx_pool *pool, u64 off, u64 len);

/* mem.c */
int zcrx_charge_init(struct zcrx_charge *c, unsigned long pages);
void zcrx_uncharge(struct zcrx_charge *c, unsigned long pages);
long zcrx_mem_alloc(struct page **pages, u32 nr, unsigned int order, int node);
void zcrx_mem_free(struct page **pages, u32 nr);
bool zcrx_folio_busy(struct folio *folio, int map_vmas, u32 pins);
void zcrx_mem_release(struct page **pages, u32 nr, struct zcrx_charge *c);
void zcrx_mem_exit(void);

/* pool.c internals shared with map.c, pool->lock held. */
bool zcrx_pool_cq_room(struct zcrx_pool *pool, struct zcrx_sock *zs);
void zcrx_pool_post(struct zcrx_pool *pool, u64 tag, u64 off, u32 len,
		    u32 flags);
void zcrx_pool_cq_flags(struct zcrx_pool *pool, u32 set, u32 clear);
void zcrx_pool_unstall(struct zcrx_pool *pool, struct zcrx_sock *zs);
void __zcrx_pool_wake(struct zcrx_pool *pool);

/* map.c */
int zcrx_win_init(struct zcrx_pool *pool, struct zcrxdev_setup *s);
void zcrx_win_free(struct zcrx_pool *pool);
int zcrx_win_mmap(struct zcrx_pool *pool, struct vm_area_struct *vma);
bool zcrx_win_return(struct zcrx_pool *pool, u64 off);
struct vm_area_struct *zcrx_win_begin(struct zcrx_pool *pool);
void zcrx_win_end(struct zcrx_pool *pool);
int zcrx_map_run(struct zcrx_sock *zs, struct page **pages, u32 n);
void zcrx_pool_mark_ready(struct zcrx_pool *pool, struct zcrx_sock *zs);
long zcrx_pool_recv(struct zcrx_pool *pool, const struct zcrxdev_recv *r);

/* send.c */
long zcrx_pool_claim(struct zcrx_pool *pool, const struct zcrxdev_claim *c);
long zcrx_pool_send(struct zcrx_pool *pool, const struct zcrxdev_send *s);
bool zcrx_pool_reap_sends(struct zcrx_pool *pool, bool *left);
void zcrx_pool_free_sends(struct zcrx_pool *pool);

/* Placement primitives, called with the socket locked (pool.c). */
bool zcrx_pool_begin_seg(struct zcrx_pool *pool, struct zcrx_sock *zs);
void zcrx_pool_end_seg(struct zcrx_pool *pool, struct zcrx_sock *zs, bool close);
int zcrx_pool_post_zc(struct zcrx_pool *pool, struct zcrx_sock *zs,
		      u32 page_idx, u32 page_off, u32 len);
bool zcrx_pool_post_end(struct zcrx_pool *pool, struct zcrx_sock *zs,
			int error);
void zcrx_pool_notify(struct zcrx_pool *pool);

/* sock.c */
int zcrx_sock_attach(struct zcrx_pool *pool, const struct zcrxdev_attach *a);
int zcrx_sock_detach_fd(struct zcrx_pool *pool, const struct zcrxdev_detach *d);
void zcrx_sock_detach(struct zcrx_sock *zs);
void zcrx_sock_get(struct zcrx_sock *zs);
void zcrx_sock_put(struct zcrx_sock *zs);
void zcrx_sock_resume(struct zcrx_sock *zs);
void zcrx_sock_recv(struct zcrx_sock *zs);
int zcrx_sock_init(void);
void zcrx_sock_exit(void);

static inline void *zcrx_ring_entry(struct zcrx_ring *r, u32 idx, size_t sz)
{
	return r->array + (size_t)(idx & r->mask) * sz;
}

static inline void *zcrx_buf_addr(struct zcrx_pool *pool, u32 buf)
{
	/* A buffer is one physically contiguous block (split_page()). */
	return page_address(pool->pages[(size_t)buf * pool->buf_pages]);
}

#endif /* ZCRX_MODULE_ZCRX_H */

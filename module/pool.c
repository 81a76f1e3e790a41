// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx pool: pinned buffers mapped read-only into the process, the
 * completion ring (kernel -> user) and the refill ring (user -> kernel).
 *
 * Every buffer is in one of three states (enum zcrx_buf_state).  A buffer
 * leaves INUSE only when no completion naming it is outstanding, no socket
 * is placing bytes into it, and none of its pages has a reference other
 * than the pool's own and the process's page-table mappings: an skb that
 * still points at a page (zero-copy send from the pool, socket splice)
 * keeps the buffer PENDING, so a reused buffer can never change bytes a
 * packet in flight still carries.  A FREE buffer is checked again when it
 * is taken: its owner can vmsplice() free pages too.
 *
 * Pool and ring memory is made of compound pages (folios of two pages or
 * more).  The process can put its pages into skbs (ZCRXDEV_IOC_SEND,
 * vmsplice), and a compound page is one that no receiver maps into its
 * page tables: TCP_ZEROCOPY_RECEIVE's can_map_frag() and zcrx's own
 * window (sock.c) refuse it, so pages their owner (or the module) may
 * still write are always copied on delivery, never mapped.
 */
#include <linux/capability.h>
#include <linux/highmem.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "zcrx.h"

static atomic_t zcrx_pool_ids = ATOMIC_INIT(0);

/* ---- rings ---- */

static size_t zcrx_ring_bytes(u32 entries, size_t entry_size)
{
	return PAGE_ALIGN(ZCRX_RING_ENTRIES + (size_t)entries * entry_size);
}

static void zcrx_ring_free(struct zcrx_ring *r)
{
	if (r->mem)
		vunmap(r->mem);
	if (r->pages && r->pages[0])
		zcrx_mem_free(r->pages, r->nr_pages);
	kvfree(r->pages);
}

/*
 * Ring memory: zeroed compound pages (mem.c) charged to the caller's
 * memory cgroup (as io_uring's rings are), seen by the kernel through
 * vmap() and mapped into the process with vm_insert_pages() like the pool.
 */
static int zcrx_ring_alloc(struct zcrx_ring *r, u32 entries, size_t entry_size)
{
	long ret;

	r->size = zcrx_ring_bytes(entries, entry_size);
	r->nr_pages = r->size >> PAGE_SHIFT;
	r->pages = kvcalloc(r->nr_pages, sizeof(*r->pages), GFP_KERNEL_ACCOUNT);
	if (!r->pages)
		return -ENOMEM;
	ret = zcrx_mem_alloc(r->pages, r->nr_pages, 1, NUMA_NO_NODE);
	if (ret < 0)
		return ret;
	r->mem = vmap(r->pages, r->nr_pages, VM_MAP, PAGE_KERNEL);
	if (!r->mem)
		return -ENOMEM;
	r->entries = entries;
	r->mask = entries - 1;
	r->head = r->mem + ZCRX_RING_HEAD;
	r->tail = r->mem + ZCRX_RING_TAIL;
	r->flags = r->mem + ZCRX_RING_FLAGS;
	r->wake_min = r->mem + ZCRX_RING_WAKE_MIN;
	r->array = r->mem + ZCRX_RING_ENTRIES;
	return 0;
}

static u32 zcrx_ring_size(u32 want, u32 dflt)
{
	if (!want)
		want = dflt;
	want = clamp(want, ZCRXDEV_RING_MIN, ZCRXDEV_RING_MAX);
	return roundup_pow_of_two(want);
}

static void zcrx_ring_offsets(struct zcrxdev_ring_offsets *o)
{
	memset(o, 0, sizeof(*o));
	o->head = ZCRX_RING_HEAD;
	o->tail = ZCRX_RING_TAIL;
	o->flags = ZCRX_RING_FLAGS;
	o->entries = ZCRX_RING_ENTRIES;
	o->wake_min = ZCRX_RING_WAKE_MIN;
}

/* ---- pages ---- */

/* Untag the pool's pages: skbs may keep some alive after the pool. */
static void zcrx_untag_pages(struct zcrx_pool *pool)
{
	u32 i, step = 1U << pool->folio_order;

	for (i = 0; i < pool->nr_pages; i += step)
		set_page_private(pool->pages[i], 0);
}

/*
 * Buffers of buf_size bytes in folios of max(buf_size, 2 pages): a buffer
 * is one physically contiguous block inside one folio.  Each folio's
 * first page carries the pool id and its page index (sock.c looks there).
 */
static int zcrx_alloc_pages(struct zcrx_pool *pool)
{
	u32 i, step = 1U << pool->folio_order;
	long ret;

	ret = zcrx_mem_alloc(pool->pages, pool->nr_pages, pool->folio_order,
			     pool->node);
	if (ret < 0)
		return ret;
	for (i = 0; i < pool->nr_pages; i += step)
		set_page_private(pool->pages[i], ((unsigned long)pool->id << 32) | i);
	atomic_long_add(ret, &zcrx_pool_pages_total);
	return 0;
}

/* Pages allocated for nr_pages pool pages: whole folios. */
static u32 zcrx_alloc_size(u32 nr_pages, unsigned int order)
{
	return round_up(nr_pages, 1U << order);
}

static bool zcrx_folio_busy_in(struct zcrx_pool *pool, struct folio *folio)
{
	return zcrx_folio_busy(folio, atomic_read(&pool->map_vmas),
			       READ_ONCE(pool->pins));
}

/* Does anything outside the pool hold a page of [off, off + len)? */
bool zcrx_range_busy(struct zcrx_pool *pool, u64 off, u64 len)
{
	u64 p = off >> PAGE_SHIFT, last = (off + len - 1) >> PAGE_SHIFT;
	struct folio *folio;

	while (p <= last) {
		folio = page_folio(pool->pages[p]);
		if (zcrx_folio_busy_in(pool, folio))
			return true;
		/* On to the next folio. */
		p = round_down(p, folio_nr_pages(folio)) + folio_nr_pages(folio);
	}
	return false;
}

static bool zcrx_buf_busy(struct zcrx_pool *pool, u32 buf)
{
	return zcrx_folio_busy_in(pool,
				  page_folio(pool->pages[(size_t)buf * pool->buf_pages]));
}

/* ---- create / destroy ---- */

static int zcrx_setup_check(const struct zcrxdev_setup *s)
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
	if (pool->pages && pool->pages[0]) {
		zcrx_untag_pages(pool);
		/* Pages that skbs still hold keep their charge (mem.c). */
		zcrx_mem_release(pool->pages, pool->nr_pages, &pool->charge);
	}
	zcrx_ring_free(&pool->cq);
	zcrx_ring_free(&pool->rq);
	zcrx_win_free(pool);
	kvfree(pool->pages);
	kvfree(pool->bufs);
	kvfree(pool->free_stack);
	kvfree(pool->pending);
	zcrx_uncharge(&pool->charge, pool->charge.pages);
	mutex_destroy(&pool->send_lock);
	atomic_dec(&zcrx_pools_total);
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

/* The last reference is dropped in process context (see sock.c). */
void zcrx_pool_put(struct zcrx_pool *pool)
{
	kref_put(&pool->ref, zcrx_pool_release);
}

static void zcrx_pool_tick_work(struct work_struct *work);

struct zcrx_pool *zcrx_pool_create(struct zcrxdev_setup *s)
{
	struct zcrx_pool *pool;
	u32 b;
	int ret;

	ret = zcrx_setup_check(s);
	if (ret)
		return ERR_PTR(ret);

	pool = kzalloc(sizeof(*pool), GFP_KERNEL_ACCOUNT);
	if (!pool)
		return ERR_PTR(-ENOMEM);
	atomic_inc(&zcrx_pools_total);
	kref_init(&pool->ref);
	spin_lock_init(&pool->lock);
	INIT_LIST_HEAD(&pool->socks);
	INIT_LIST_HEAD(&pool->stalled);
	INIT_LIST_HEAD(&pool->ready);
	mutex_init(&pool->win.lock);
	init_waitqueue_head(&pool->cq_wait);
	init_waitqueue_head(&pool->detach_wait);
	mutex_init(&pool->send_lock);
	INIT_LIST_HEAD(&pool->inflight);
	INIT_DELAYED_WORK(&pool->tick_work, zcrx_pool_tick_work);
	pool->tick_delay = 1;

	/* Ids start at 1 so that an untagged page (private 0) never matches. */
	pool->id = atomic_inc_return(&zcrx_pool_ids) ?: atomic_inc_return(&zcrx_pool_ids);
	pool->node = numa_node_id();
	/* MAP_ALWAYS is MAP with every run mapped. */
	if (s->flags & ZCRXDEV_SETUP_MAP_ALWAYS)
		s->flags |= ZCRXDEV_SETUP_MAP;
	pool->flags = s->flags;
	pool->buf_size = s->buf_size;
	pool->buf_shift = ilog2(s->buf_size);
	pool->buf_pages = s->buf_size >> PAGE_SHIFT;
	pool->nr_bufs = s->nr_bufs;
	pool->nr_pages = pool->nr_bufs * pool->buf_pages;
	pool->folio_order = max_t(u32, pool->buf_shift - PAGE_SHIFT, 1);
	pool->pool_size = (u64)pool->nr_pages << PAGE_SHIFT;

	/* Several completions can name one buffer: default CQ = 2 x buffers. */
	s->cq_entries = zcrx_ring_size(s->cq_entries,
				       min_t(u64, 2ULL * s->nr_bufs, U32_MAX));
	s->rq_entries = zcrx_ring_size(s->rq_entries, s->cq_entries);
	ret = zcrx_win_init(pool, s);
	if (ret)
		goto err_free;
	/*
	 * Pool pages (whole folios), and the network pages the window can
	 * hold, count against RLIMIT_MEMLOCK; ring pages go to memcg.
	 */
	ret = zcrx_charge_init(&pool->charge,
			       zcrx_alloc_size(pool->nr_pages, pool->folio_order) +
			       pool->win.nr_slots);
	if (ret)
		goto err_free;

	ret = -ENOMEM;
	pool->pages = kvcalloc(pool->nr_pages, sizeof(*pool->pages),
			       GFP_KERNEL_ACCOUNT);
	pool->bufs = kvcalloc(pool->nr_bufs, sizeof(*pool->bufs),
			      GFP_KERNEL_ACCOUNT);
	pool->free_stack = kvcalloc(pool->nr_bufs, sizeof(u32),
				    GFP_KERNEL_ACCOUNT);
	pool->pending = kvcalloc(pool->nr_bufs, sizeof(u32), GFP_KERNEL_ACCOUNT);
	if (!pool->pages || !pool->bufs || !pool->free_stack || !pool->pending)
		goto err_free;

	ret = zcrx_alloc_pages(pool);
	if (ret)
		goto err_free;

	/* Most recently freed on top: reuse is cache-warm. */
	for (b = 0; b < pool->nr_bufs; b++)
		pool->free_stack[b] = pool->nr_bufs - 1 - b;
	pool->nr_free = pool->nr_bufs;
	pool->stats.bufs_free = pool->nr_bufs;

	ret = zcrx_ring_alloc(&pool->cq, s->cq_entries,
			      sizeof(struct zcrxdev_cqe));
	if (ret)
		goto err_free;
	ret = zcrx_ring_alloc(&pool->rq, s->rq_entries,
			      sizeof(struct zcrxdev_rqe));
	if (ret)
		goto err_free;

	s->pool.offset = ZCRX_MMAP_POOL;
	s->pool.size = pool->pool_size;
	s->cq.offset = ZCRX_MMAP_CQ;
	s->cq.size = pool->cq.size;
	s->rq.offset = ZCRX_MMAP_RQ;
	s->rq.size = pool->rq.size;
	zcrx_ring_offsets(&s->cq_off);
	zcrx_ring_offsets(&s->rq_off);
	s->rq_off.wake_min = 0;		/* a CQ-only word */
	s->features = ZCRXDEV_FEAT_ZEROCOPY_POOL_PAGES | ZCRXDEV_FEAT_MAP;
	return pool;

err_free:
	zcrx_pool_free(pool);
	return ERR_PTR(ret);
}

/*
 * The file is going away: detach every socket, wait for detaches that
 * others started (socket close, EOF work), then drop the file's reference.
 */
void zcrx_pool_shutdown(struct zcrx_pool *pool)
{
	struct zcrx_sock *zs, *found;

	spin_lock_bh(&pool->lock);
	pool->dying = true;
	spin_unlock_bh(&pool->lock);

	for (;;) {
		found = NULL;
		spin_lock_bh(&pool->lock);
		list_for_each_entry(zs, &pool->socks, node) {
			if (!test_bit(ZS_DETACHED, &zs->flags)) {
				zcrx_sock_get(zs);
				found = zs;
				break;
			}
		}
		spin_unlock_bh(&pool->lock);
		if (!found)
			break;
		zcrx_sock_detach(found);
		zcrx_sock_put(found);
	}
	wait_event(pool->detach_wait, !READ_ONCE(pool->nr_socks));
	cancel_delayed_work_sync(&pool->tick_work);
	/* No tick any more: SENT completions of the dead pool are moot. */
	zcrx_pool_free_sends(pool);
	zcrx_pool_put(pool);
}

/* ---- mmap / poll / stats ---- */

/* Count the VMAs that map the pool (see zcrx_page_busy()). */
static void zcrx_pool_vm_open(struct vm_area_struct *vma)
{
	struct zcrx_pool *pool = vma->vm_private_data;

	atomic_inc(&pool->map_vmas);
}

static void zcrx_pool_vm_close(struct vm_area_struct *vma)
{
	struct zcrx_pool *pool = vma->vm_private_data;

	atomic_dec(&pool->map_vmas);
}

static const struct vm_operations_struct zcrx_pool_vm_ops = {
	.open	= zcrx_pool_vm_open,
	.close	= zcrx_pool_vm_close,
};

static int zcrx_insert_pages(struct vm_area_struct *vma, struct page **pages,
			     unsigned long left)
{
	unsigned long addr = vma->vm_start, num, chunk;
	int ret;

	while (left) {
		chunk = min(left, 1024UL);
		num = chunk;
		ret = vm_insert_pages(vma, addr, pages, &num);
		if (ret)
			return ret;
		/* num is now the count NOT inserted: none on success. */
		chunk -= num;
		addr += chunk << PAGE_SHIFT;
		pages += chunk;
		left -= chunk;
		cond_resched();
	}
	return 0;
}

int zcrx_pool_mmap(struct zcrx_pool *pool, struct vm_area_struct *vma)
{
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	unsigned long size = vma->vm_end - vma->vm_start;
	struct zcrx_ring *r;
	int ret;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;

	switch (off) {
	case ZCRX_MMAP_POOL:
		if (size != pool->pool_size)
			return -EINVAL;
		if (pool->flags & ZCRXDEV_SETUP_WRITABLE) {
			vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, 0);
		} else {
			if (vma->vm_flags & VM_WRITE)
				return -EACCES;
			/* Read-only for good: mprotect(PROT_WRITE) must fail too. */
			vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP,
				     VM_MAYWRITE);
		}
		vma->vm_ops = &zcrx_pool_vm_ops;
		vma->vm_private_data = pool;
		/*
		 * Counted once the pages are in: a failed ->mmap gets no
		 * ->close, and a count that runs behind the mappings only
		 * makes pages look busy, never free.
		 */
		ret = zcrx_insert_pages(vma, pool->pages, pool->nr_pages);
		if (!ret)
			atomic_inc(&pool->map_vmas);
		return ret;
	case ZCRX_MMAP_WIN:
		return zcrx_win_mmap(pool, vma);
	case ZCRX_MMAP_CQ:
		r = &pool->cq;
		break;
	case ZCRX_MMAP_RQ:
		r = &pool->rq;
		break;
	default:
		return -EINVAL;
	}
	if (size != r->size)
		return -EINVAL;
	vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, 0);
	return zcrx_insert_pages(vma, r->pages, r->nr_pages);
}

/*
 * Is there enough for a waiter (see the wake threshold in linux/zcrxdev.h)?
 * Every word the process writes is read once and bounded.
 */
static bool zcrx_cq_wake_ready(struct zcrx_pool *pool)
{
	u32 head = READ_ONCE(*pool->cq.head), tail = READ_ONCE(pool->cq_tail);
	u32 ready = tail - head, min = READ_ONCE(*pool->cq.wake_min);
	u32 flags = READ_ONCE(pool->cq_flags);

	if (flags & ZCRXDEV_RING_DATA_READY)	/* RECV has work */
		return true;
	if (!ready)
		return false;
	if (ready > pool->cq.entries)	/* garbage head */
		return true;
	/*
	 * A stalled socket may wait for the buffers of these very
	 * completions; an unconsumed EOF, ERROR or SENT should not wait.
	 */
	if ((flags & ZCRXDEV_RING_NEED_WAKEUP) ||
	    (s32)(READ_ONCE(pool->cq_urgent) - head) > 0)
		return true;
	return ready >= clamp_t(u32, min, 1, pool->cq.entries / 2);
}

__poll_t zcrx_pool_poll(struct zcrx_pool *pool, struct file *file,
			poll_table *wait)
{
	poll_wait(file, &pool->cq_wait, wait);
	/* Pairs with the barrier in wq_has_sleeper() in zcrx_pool_notify(). */
	smp_mb();
	return zcrx_cq_wake_ready(pool) ? EPOLLIN | EPOLLRDNORM : 0;
}

void zcrx_pool_notify(struct zcrx_pool *pool)
{
	if (wq_has_sleeper(&pool->cq_wait) && zcrx_cq_wake_ready(pool))
		wake_up_interruptible_poll(&pool->cq_wait, EPOLLIN | EPOLLRDNORM);
}

void zcrx_pool_stats(struct zcrx_pool *pool, struct zcrxdev_stats *st)
{
	spin_lock_bh(&pool->lock);
	*st = pool->stats;
	st->bufs_free = pool->nr_free;
	st->bufs_pending = pool->nr_pending;
	st->sockets_attached = pool->nr_socks;
	spin_unlock_bh(&pool->lock);
	st->flags = 0;
}

/* ---- buffers, under pool->lock ---- */

/* How many PENDING buffers one scan looks at: softirqs are off meanwhile. */
#define ZCRX_SCAN_BUDGET	64

static void zcrx_buf_pend(struct zcrx_pool *pool, u32 b)
{
	lockdep_assert_held(&pool->lock);
	pool->bufs[b].state = ZCRX_BUF_PENDING;
	pool->bufs[b].pend_idx = pool->nr_pending;
	pool->pending[pool->nr_pending++] = b;
}

/* Take b off the pending list (it stays PENDING until the caller says). */
static void zcrx_buf_unpend(struct zcrx_pool *pool, u32 b)
{
	u32 i = pool->bufs[b].pend_idx, last;

	lockdep_assert_held(&pool->lock);
	if (WARN_ON_ONCE(i >= pool->nr_pending || pool->pending[i] != b))
		return;
	last = pool->pending[--pool->nr_pending];
	pool->pending[i] = last;
	pool->bufs[last].pend_idx = i;
}

static void zcrx_buf_recycle(struct zcrx_pool *pool, u32 b)
{
	struct zcrx_buf *buf = &pool->bufs[b];

	lockdep_assert_held(&pool->lock);
	buf->gen++;
	if (zcrx_buf_busy(pool, b)) {
		zcrx_buf_pend(pool, b);
	} else {
		buf->state = ZCRX_BUF_FREE;
		pool->free_stack[pool->nr_free++] = b;
	}
}

/* Recycle the buffer once nobody (process, socket, send) uses it. */
void zcrx_pool_maybe_recycle(struct zcrx_pool *pool, u32 b)
{
	struct zcrx_buf *buf = &pool->bufs[b];

	lockdep_assert_held(&pool->lock);
	if (buf->state == ZCRX_BUF_INUSE && !buf->user_refs && !buf->kopen &&
	    !buf->sending && !buf->claiming)
		zcrx_buf_recycle(pool, b);
}

void zcrx_pool_put_user_ref(struct zcrx_pool *pool, u32 b)
{
	lockdep_assert_held(&pool->lock);
	if (WARN_ON_ONCE(!pool->bufs[b].user_refs))
		return;
	pool->bufs[b].user_refs--;
	zcrx_pool_maybe_recycle(pool, b);
}

/*
 * A PENDING buffer's page arrived on an attached socket (it was sent from
 * the pool and returned before it came back): nobody writes a PENDING
 * buffer, so its bytes can be completed in place.  It is in use again.
 */
static void zcrx_unpend(struct zcrx_pool *pool, u32 b)
{
	zcrx_buf_unpend(pool, b);
	pool->bufs[b].state = ZCRX_BUF_INUSE;
}

/*
 * Move PENDING buffers whose pages were let go to the free stack.  Looks
 * at ZCRX_SCAN_BUDGET of them at most, going round the list from call to
 * call, so that the time spent with softirqs off stays bounded however
 * many buffers others hold.
 */
static u32 zcrx_scan_pending(struct zcrx_pool *pool)
{
	u32 n = min_t(u32, pool->nr_pending, ZCRX_SCAN_BUDGET);
	u32 i = pool->pending_next, freed = 0, b;

	lockdep_assert_held(&pool->lock);
	for (; n && pool->nr_pending; n--) {
		if (i >= pool->nr_pending)
			i = 0;
		b = pool->pending[i];
		if (zcrx_buf_busy(pool, b)) {
			i++;
			continue;
		}
		/* The last entry moves into slot i: look at it next. */
		zcrx_buf_unpend(pool, b);
		pool->bufs[b].state = ZCRX_BUF_FREE;
		pool->free_stack[pool->nr_free++] = b;
		freed++;
	}
	pool->pending_next = i;
	return freed;
}

/* Validate one refill entry read from shared memory and apply it. */
static bool zcrx_refill_one(struct zcrx_pool *pool, u64 off, u32 flags, u32 resv)
{
	u32 b;

	if (flags || resv)
		return false;
	if (off >= pool->pool_size)
		return zcrx_win_return(pool, off - pool->pool_size);
	if (off & (pool->buf_size - 1))
		return false;
	b = array_index_nospec(off >> pool->buf_shift, pool->nr_bufs);
	if (!pool->bufs[b].user_refs)
		return false;	/* double return, never handed out, or claiming */
	zcrx_pool_put_user_ref(pool, b);
	return true;
}

/* Consume the refill ring. */
static void zcrx_consume_rq(struct zcrx_pool *pool)
{
	struct zcrxdev_rqe *rqe;
	u32 head = pool->rq_head, tail, n;

	lockdep_assert_held(&pool->lock);
	/* [RQ-1]: entries before tail are written by the process. */
	tail = smp_load_acquire(pool->rq.tail);
	n = tail - head;
	if (!n)
		return;
	/* A tail too far ahead is garbage: look at one ring's worth only. */
	if (n > pool->rq.entries)
		n = pool->rq.entries;
	for (; n; n--, head++) {
		rqe = zcrx_ring_entry(&pool->rq, head, sizeof(*rqe));
		/* One read of each field: the process may be rewriting them. */
		if (zcrx_refill_one(pool, READ_ONCE(rqe->off),
				    READ_ONCE(rqe->flags), READ_ONCE(rqe->resv)))
			pool->stats.refill_entries++;
		else
			pool->stats.refill_bad++;
	}
	pool->rq_head = head;
	/* [RQ-2]: we are done with the slots before head. */
	smp_store_release(pool->rq.head, head);
}

/*
 * A FREE buffer to write into, or ZCRX_NO_BUF.  Its pages are checked
 * once more: the process can vmsplice() free buffers' pages into pipes
 * and sockets, and the module never writes a page that others hold (such
 * a buffer waits on the pending list instead).
 */
u32 zcrx_pool_pop_free(struct zcrx_pool *pool)
{
	bool refilled = false;
	u32 b;

	lockdep_assert_held(&pool->lock);
	for (;;) {
		if (!pool->nr_free) {
			if (refilled)
				return ZCRX_NO_BUF;
			refilled = true;
			zcrx_consume_rq(pool);
			if (!pool->nr_free && pool->nr_pending)
				zcrx_scan_pending(pool);
			if (!pool->nr_free)
				return ZCRX_NO_BUF;
		}
		b = pool->free_stack[--pool->nr_free];
		if (likely(!zcrx_buf_busy(pool, b)))
			return b;
		zcrx_buf_pend(pool, b);
		zcrx_pool_arm_tick(pool);
	}
}

/* Free CQ slots, not counting slots promised to sockets. */
static u32 zcrx_cq_space(struct zcrx_pool *pool)
{
	u32 head, used;

	lockdep_assert_held(&pool->lock);
	/* [CQ-2]: the process has finished reading the slots before head. */
	head = smp_load_acquire(pool->cq.head);
	used = pool->cq_tail - head;
	if (used > pool->cq.entries)	/* garbage head: treat as full */
		used = pool->cq.entries;
	used += pool->cq_reserved;
	return used >= pool->cq.entries ? 0 : pool->cq.entries - used;
}

/* Change bits of the CQ flags word; the process only reads it. */
void zcrx_pool_cq_flags(struct zcrx_pool *pool, u32 set, u32 clear)
{
	u32 flags = (pool->cq_flags | set) & ~clear;

	lockdep_assert_held(&pool->lock);
	/* Always rewrite the shared word: the process may have scribbled on it. */
	WRITE_ONCE(pool->cq_flags, flags);
	WRITE_ONCE(*pool->cq.flags, flags);
}

static void zcrx_stall(struct zcrx_pool *pool, struct zcrx_sock *zs)
{
	lockdep_assert_held(&pool->lock);
	if (list_empty(&zs->stall_node)) {
		list_add_tail(&zs->stall_node, &pool->stalled);
		pool->stats.stalls++;
	}
	zcrx_pool_cq_flags(pool, ZCRXDEV_RING_NEED_WAKEUP, 0);
	/*
	 * [WK-1]: the flag is visible before we look at the rings again;
	 * pairs with [WK-2] in zcrx_rq_commit() (libzcrx).
	 */
	smp_mb();
	if (pool->nr_pending)
		zcrx_pool_arm_tick(pool);
}

void zcrx_pool_unstall(struct zcrx_pool *pool, struct zcrx_sock *zs)
{
	lockdep_assert_held(&pool->lock);
	if (likely(list_empty(&zs->stall_node)))
		return;
	list_del_init(&zs->stall_node);
	if (list_empty(&pool->stalled))
		zcrx_pool_cq_flags(pool, 0, ZCRXDEV_RING_NEED_WAKEUP);
}

static void __zcrx_post(struct zcrx_pool *pool, u64 tag, u64 off, u32 len,
			u32 flags, s32 error)
{
	struct zcrxdev_cqe *cqe;

	lockdep_assert_held(&pool->lock);
	cqe = zcrx_ring_entry(&pool->cq, pool->cq_tail, sizeof(*cqe));
	cqe->tag = tag;
	cqe->off = off;
	cqe->len = len;
	cqe->flags = flags;
	cqe->error = error;
	cqe->resv = 0;
	pool->cq_tail++;
	/* [CQ-1]: the entry is written before the process can see it. */
	smp_store_release(pool->cq.tail, pool->cq_tail);

	pool->stats.completions++;
	if (flags & (ZCRXDEV_CQE_EOF | ZCRXDEV_CQE_ERROR | ZCRXDEV_CQE_SENT))
		WRITE_ONCE(pool->cq_urgent, pool->cq_tail);
	if (flags & ZCRXDEV_CQE_COPIED)
		pool->stats.bytes_copied += len;
	if (flags & ZCRXDEV_CQE_ZEROCOPY)
		pool->stats.bytes_zerocopy += len;
	if (flags & ZCRXDEV_CQE_MAPPED)
		pool->stats.bytes_mapped += len;
	if (flags & ZCRXDEV_CQE_EOF)
		pool->stats.eof++;
	if (flags & ZCRXDEV_CQE_ERROR)
		pool->stats.errors++;
}

/* Post a completion that needs no reservation, if the CQ has room. */
bool zcrx_pool_post_locked(struct zcrx_pool *pool, u64 tag, u64 off, u32 len,
			   u32 flags)
{
	lockdep_assert_held(&pool->lock);
	if (!zcrx_cq_space(pool))
		return false;
	__zcrx_post(pool, tag, off, len, flags, 0);
	return true;
}

/* Post a payload completion into a slot that zcrx_pool_cq_room() found. */
void zcrx_pool_post(struct zcrx_pool *pool, u64 tag, u64 off, u32 len,
		    u32 flags)
{
	__zcrx_post(pool, tag, off, len, flags, 0);
}

/*
 * Is a CQ slot free for zs?  If not, mark zs stalled and look once more
 * (no lost wakeup); false means zs stays stalled.
 */
bool zcrx_pool_cq_room(struct zcrx_pool *pool, struct zcrx_sock *zs)
{
	lockdep_assert_held(&pool->lock);
	if (!zcrx_cq_space(pool)) {
		zcrx_stall(pool, zs);
		zcrx_consume_rq(pool);
		if (!zcrx_cq_space(pool))
			return false;
	}
	zcrx_pool_unstall(pool, zs);
	return true;
}

/* ---- placement primitives, called with the socket locked ---- */

/*
 * Make sure zs has an open buffer with room and one CQ slot reserved for
 * its current segment.  Returns false (and marks zs stalled) if not.
 */
/*
 * May zs go on filling the buffer it gave up last (dense packing)?  Only
 * if it was not recycled since (same generation) and nobody else fills or
 * claims it (the state, not only the generation: a 64-bit generation does
 * not wrap, but the state is what says who may write).  Its pages may be
 * referenced (an O_DIRECT write or a send of the bytes completed so far):
 * the tail written now was never completed, so only the owner itself can
 * have put it anywhere, and no receiver maps pool pages (mem.c).
 */
static bool zcrx_may_reopen(struct zcrx_pool *pool, struct zcrx_sock *zs)
{
	struct zcrx_buf *buf;

	lockdep_assert_held(&pool->lock);
	if (zs->hint_buf == ZCRX_NO_BUF || zs->hint_fill >= pool->buf_size)
		return false;
	buf = &pool->bufs[zs->hint_buf];
	return buf->gen == zs->hint_gen && buf->state == ZCRX_BUF_INUSE &&
	       !buf->kopen && !buf->claiming;
}

bool zcrx_pool_begin_seg(struct zcrx_pool *pool, struct zcrx_sock *zs)
{
	bool retried = false;
	u32 b;

	lockdep_assert(lockdep_sock_is_held(zs->sk));
	spin_lock_bh(&pool->lock);
retry:
	if (zs->cur_buf == ZCRX_NO_BUF) {
		b = zs->hint_buf;
		if (zcrx_may_reopen(pool, zs)) {
			zs->fill = zs->hint_fill;
		} else {
			b = zcrx_pool_pop_free(pool);
			if (b == ZCRX_NO_BUF)
				goto stall;
			pool->bufs[b].state = ZCRX_BUF_INUSE;
			zs->fill = 0;
		}
		pool->bufs[b].kopen = 1;
		zs->cur_buf = b;
		zs->seg_start = zs->fill;
	}
	if (!zs->cq_reserved) {
		if (!zcrx_cq_space(pool))
			goto stall;
		pool->cq_reserved++;
		zs->cq_reserved = true;
	}
	zcrx_pool_unstall(pool, zs);
	spin_unlock_bh(&pool->lock);
	return true;

stall:
	if (!retried) {
		/* Flag first, then one more look: no lost wakeup. */
		zcrx_stall(pool, zs);
		zcrx_consume_rq(pool);
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
void zcrx_pool_end_seg(struct zcrx_pool *pool, struct zcrx_sock *zs, bool close)
{
	u32 b = zs->cur_buf, len;
	struct zcrx_buf *buf;

	lockdep_assert(lockdep_sock_is_held(zs->sk));
	if (b == ZCRX_NO_BUF && !zs->cq_reserved)
		return;

	spin_lock_bh(&pool->lock);
	if (b != ZCRX_NO_BUF) {
		buf = &pool->bufs[b];
		len = zs->fill - zs->seg_start;
		if (len) {
			/* A segment with bytes always holds a reserved slot. */
			WARN_ON_ONCE(!zs->cq_reserved || !pool->cq_reserved);
			buf->user_refs++;
			pool->cq_reserved--;
			zs->cq_reserved = false;
			__zcrx_post(pool, zs->tag,
				    ((u64)b << pool->buf_shift) + zs->seg_start,
				    len, ZCRXDEV_CQE_COPIED, 0);
			zs->seg_start = zs->fill;
		}
		if (close || zs->fill == pool->buf_size) {
			buf->kopen = 0;
			zs->hint_buf = b;
			zs->hint_gen = buf->gen;
			zs->hint_fill = zs->fill;
			zcrx_pool_maybe_recycle(pool, b);
			zs->cur_buf = ZCRX_NO_BUF;
		}
	}
	if (close && zs->cq_reserved) {
		WARN_ON_ONCE(!pool->cq_reserved);
		pool->cq_reserved--;
		zs->cq_reserved = false;
		/*
		 * A slot came free with nothing from the process: a socket
		 * that stalled on it will not be woken by libzcrx (no news
		 * since its last wake), so let the tick look.
		 */
		if (!list_empty(&pool->stalled))
			zcrx_pool_arm_tick(pool);
	}
	spin_unlock_bh(&pool->lock);
}

/*
 * Bytes that arrived in a pool page: complete them in place.  A buffer in
 * use (named by completions or being filled) or PENDING (returned while
 * its pages travel) qualifies: nobody writes those.  A FREE buffer may be
 * taken for placement any moment, so its bytes are copied (-EAGAIN).
 * Returns 1 on success, 0 when no CQ slot is free (zs is stalled).
 */
int zcrx_pool_post_zc(struct zcrx_pool *pool, struct zcrx_sock *zs,
		      u32 page_idx, u32 page_off, u32 len)
{
	u32 b = page_idx / pool->buf_pages;
	struct zcrx_buf *buf = &pool->bufs[b];
	int ret = 1;

	lockdep_assert(lockdep_sock_is_held(zs->sk));
	spin_lock_bh(&pool->lock);
	/* FREE, being claimed, or named by more completions than we count. */
	if (buf->state == ZCRX_BUF_FREE || buf->claiming ||
	    buf->user_refs == U32_MAX) {
		ret = -EAGAIN;
		goto out;
	}
	if (!zcrx_pool_cq_room(pool, zs)) {
		ret = 0;
		goto out;
	}
	if (buf->state == ZCRX_BUF_PENDING)
		zcrx_unpend(pool, b);
	buf->user_refs++;
	__zcrx_post(pool, zs->tag, ((u64)page_idx << PAGE_SHIFT) + page_off,
		    len, ZCRXDEV_CQE_ZEROCOPY, 0);
out:
	spin_unlock_bh(&pool->lock);
	return ret;
}

/* End of stream (error == 0) or error completion; false if CQ is full. */
bool zcrx_pool_post_end(struct zcrx_pool *pool, struct zcrx_sock *zs,
			int error)
{
	bool ok;

	lockdep_assert(lockdep_sock_is_held(zs->sk));
	spin_lock_bh(&pool->lock);
	ok = zcrx_pool_cq_room(pool, zs);
	if (ok)
		__zcrx_post(pool, zs->tag, 0, 0,
			    error ? ZCRXDEV_CQE_ERROR : ZCRXDEV_CQE_EOF, error);
	spin_unlock_bh(&pool->lock);
	return ok;
}

/* ---- waking stalled sockets ---- */

static void zcrx_resume_stalled(struct zcrx_pool *pool)
{
	struct zcrx_sock *zs;
	LIST_HEAD(list);

	spin_lock_bh(&pool->lock);
	list_splice_init(&pool->stalled, &list);
	zcrx_pool_cq_flags(pool, 0, ZCRXDEV_RING_NEED_WAKEUP);
	while (!list_empty(&list)) {
		zs = list_first_entry(&list, struct zcrx_sock, stall_node);
		list_del_init(&zs->stall_node);
		zcrx_sock_get(zs);
		spin_unlock_bh(&pool->lock);
		zcrx_sock_resume(zs);
		zcrx_sock_put(zs);
		spin_lock_bh(&pool->lock);
	}
	spin_unlock_bh(&pool->lock);
}

/* Take refills now and let stalled sockets go on (MAP: mark them ready). */
void __zcrx_pool_wake(struct zcrx_pool *pool)
{
	spin_lock_bh(&pool->lock);
	zcrx_consume_rq(pool);
	if (pool->nr_pending)
		zcrx_scan_pending(pool);
	spin_unlock_bh(&pool->lock);
	zcrx_resume_stalled(pool);
}

/* ZCRXDEV_IOC_PINS: then look at the PENDING buffers again. */
long zcrx_pool_set_pins(struct zcrx_pool *pool, const struct zcrxdev_pins *p)
{
	if (p->flags || p->resv[0] || p->resv[1] || p->count > ZCRXDEV_PINS_MAX)
		return -EINVAL;
	WRITE_ONCE(pool->pins, p->count);
	__zcrx_pool_wake(pool);
	return 0;
}

/* ZCRXDEV_IOC_WAKE */
void zcrx_pool_wake(struct zcrx_pool *pool)
{
	spin_lock_bh(&pool->lock);
	pool->stats.wakeups++;
	spin_unlock_bh(&pool->lock);
	__zcrx_pool_wake(pool);
}

/*
 * Something new to watch (a send, a buffer gone PENDING, a stall): tick
 * within a jiffy, pulling in a tick that backed off.  pool->lock held; not
 * once teardown has begun.
 */
void zcrx_pool_arm_tick(struct zcrx_pool *pool)
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
static void zcrx_pool_rearm_tick(struct zcrx_pool *pool)
{
	lockdep_assert_held(&pool->lock);
	if (!pool->dying)
		queue_delayed_work(zcrx_wq, &pool->tick_work, pool->tick_delay);
}

/*
 * Skbs let go of pages without telling us: every tick while it matters,
 * complete sends whose pages are back (send.c, process context), move
 * PENDING buffers that are free again to the free stack, and resume
 * stalled sockets when a buffer and a CQ slot are free.  The tick runs
 * every jiffy while it finds something; while it finds nothing it backs
 * off to ZCRX_IDLE_MAX, so pages that others hold for good cost little.
 */
static void zcrx_pool_tick_work(struct work_struct *work)
{
	struct zcrx_pool *pool = container_of(to_delayed_work(work),
					      struct zcrx_pool, tick_work);
	bool resume, sent, sends_left;
	u32 freed;

	sent = zcrx_pool_reap_sends(pool, &sends_left);

	spin_lock_bh(&pool->lock);
	freed = zcrx_scan_pending(pool);
	resume = !list_empty(&pool->stalled) &&
		 (freed || (pool->nr_free && zcrx_cq_space(pool)));
	if (sent || freed)
		pool->tick_delay = 1;
	else
		pool->tick_delay = min_t(unsigned long, pool->tick_delay * 2,
					 ZCRX_IDLE_MAX);
	if ((pool->nr_pending && !list_empty(&pool->stalled)) || sends_left)
		zcrx_pool_rearm_tick(pool);
	spin_unlock_bh(&pool->lock);
	if (resume)
		zcrx_resume_stalled(pool);
}

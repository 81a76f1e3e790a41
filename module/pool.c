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
 * packet in flight still carries.
 */
#include <linux/capability.h>
#include <linux/highmem.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "zcrx.h"

static atomic_t zcrx_pool_ids = ATOMIC_INIT(0);

/* ---- memory accounting (RLIMIT_MEMLOCK, as io_uring does) ---- */

static int zcrx_account_mem(struct zcrx_pool *pool, unsigned long pages)
{
	unsigned long limit, cur, new;
	struct user_struct *user;

	if (!capable(CAP_IPC_LOCK)) {
		user = get_uid(current_user());
		limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
		cur = atomic_long_read(&user->locked_vm);
		do {
			new = cur + pages;
			if (new > limit || new < cur) {
				free_uid(user);
				return -ENOMEM;
			}
		} while (!atomic_long_try_cmpxchg(&user->locked_vm, &cur, new));
		pool->user = user;
	}
	mmgrab(current->mm);
	pool->mm_account = current->mm;
	atomic64_add(pages, &current->mm->pinned_vm);
	pool->acct_pages = pages;
	return 0;
}

static void zcrx_unaccount_mem(struct zcrx_pool *pool)
{
	if (pool->user) {
		atomic_long_sub(pool->acct_pages, &pool->user->locked_vm);
		free_uid(pool->user);
	}
	if (pool->mm_account) {
		atomic64_sub(pool->acct_pages, &pool->mm_account->pinned_vm);
		mmdrop(pool->mm_account);
	}
}

/* ---- rings ---- */

static size_t zcrx_ring_bytes(u32 entries, size_t entry_size)
{
	return PAGE_ALIGN(ZCRX_RING_ENTRIES + (size_t)entries * entry_size);
}

static void zcrx_ring_free(struct zcrx_ring *r)
{
	u32 i;

	if (r->mem)
		vunmap(r->mem);
	for (i = 0; r->pages && i < r->nr_pages && r->pages[i]; i++)
		put_page(r->pages[i]);
	kvfree(r->pages);
}

/*
 * Ring memory: zeroed pages charged to the caller's memory cgroup (as
 * io_uring's rings are), seen by the kernel through vmap() and mapped into
 * the process with vm_insert_pages() like the pool.
 */
static int zcrx_ring_alloc(struct zcrx_ring *r, u32 entries, size_t entry_size)
{
	u32 i;

	r->size = zcrx_ring_bytes(entries, entry_size);
	r->nr_pages = r->size >> PAGE_SHIFT;
	r->pages = kvcalloc(r->nr_pages, sizeof(*r->pages), GFP_KERNEL_ACCOUNT);
	if (!r->pages)
		return -ENOMEM;
	for (i = 0; i < r->nr_pages; i++) {
		r->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!r->pages[i])
			return -ENOMEM;
	}
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

static void zcrx_free_pages(struct zcrx_pool *pool, u32 nr_pages)
{
	u32 i;

	for (i = 0; i < nr_pages; i++) {
		/* Untag first: an skb may keep the page alive after us. */
		set_page_private(pool->pages[i], 0);
		put_page(pool->pages[i]);
	}
	atomic_long_sub(nr_pages, &zcrx_pool_pages_total);
}

static int zcrx_alloc_pages(struct zcrx_pool *pool)
{
	unsigned int order = ilog2(pool->buf_pages);
	struct page *page;
	u32 b, i, n = 0;

	for (b = 0; b < pool->nr_bufs; b++) {
		page = alloc_pages_node(pool->node, GFP_KERNEL_ACCOUNT |
					__GFP_ZERO | __GFP_NOWARN, order);
		if (!page)
			goto err_free;
		/* Order-0 pages with their own refcounts, for mapping and GUP. */
		if (order)
			split_page(page, order);
		for (i = 0; i < pool->buf_pages; i++, n++) {
			pool->pages[n] = page + i;
			set_page_private(page + i,
					 ((unsigned long)pool->id << 32) | n);
		}
		atomic_long_add(pool->buf_pages, &zcrx_pool_pages_total);
		if (fatal_signal_pending(current))
			goto err_free;
		cond_resched();
	}
	return 0;

err_free:
	zcrx_free_pages(pool, n);
	return -ENOMEM;
}

/*
 * Has the page a reference besides the pool's, the pool mappings' and the
 * long-term pins the process declared?  An skb holds a reference without a
 * mapping.  A mapping that is not one of ours (another pool's window,
 * TCP_ZEROCOPY_RECEIVE of a local peer) holds both, which only the count
 * of our own VMAs tells apart.  A pin of an order-0 page adds exactly
 * GUP_PIN_COUNTING_BIAS references.
 */
bool zcrx_page_busy(struct zcrx_pool *pool, struct page *page)
{
	int maps = zcrx_page_mapcount(page);
	int extra = page_ref_count(page) - 1 - maps;

	if (extra < 0 || maps > atomic_read(&pool->map_vmas))
		return true;
	return extra % GUP_PIN_COUNTING_BIAS ||
	       extra / GUP_PIN_COUNTING_BIAS > READ_ONCE(pool->pins);
}

static bool zcrx_buf_busy(struct zcrx_pool *pool, u32 buf)
{
	struct page **p = &pool->pages[(size_t)buf * pool->buf_pages];
	u32 i;

	for (i = 0; i < pool->buf_pages; i++)
		if (zcrx_page_busy(pool, p[i]))
			return true;
	return false;
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
	if (pool->pages)
		zcrx_free_pages(pool, pool->nr_pages);
	zcrx_ring_free(&pool->cq);
	zcrx_ring_free(&pool->rq);
	zcrx_win_free(pool);
	kvfree(pool->pages);
	kvfree(pool->bufs);
	kvfree(pool->free_stack);
	kvfree(pool->pending);
	zcrx_unaccount_mem(pool);
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
	INIT_LIST_HEAD(&pool->inflight);
	INIT_DELAYED_WORK(&pool->tick_work, zcrx_pool_tick_work);

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
	pool->pool_size = (u64)pool->nr_pages << PAGE_SHIFT;

	/* Several completions can name one buffer: default CQ = 2 x buffers. */
	s->cq_entries = zcrx_ring_size(s->cq_entries,
				       min_t(u64, 2ULL * s->nr_bufs, U32_MAX));
	s->rq_entries = zcrx_ring_size(s->rq_entries, s->cq_entries);
	ret = zcrx_win_init(pool, s);
	if (ret)
		goto err_free;
	/*
	 * Pool pages, and the network pages the window can hold, count
	 * against RLIMIT_MEMLOCK; ring pages go to memcg.
	 */
	ret = zcrx_account_mem(pool, pool->nr_pages + pool->win.nr_slots);
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
	if (ret) {
		kvfree(pool->pages);
		pool->pages = NULL;
		goto err_free;
	}

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
			zcrx_vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, 0);
		} else {
			if (vma->vm_flags & VM_WRITE)
				return -EACCES;
			/* Read-only for good: mprotect(PROT_WRITE) must fail too. */
			zcrx_vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP,
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
	zcrx_vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, 0);
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

static void zcrx_buf_recycle(struct zcrx_pool *pool, u32 b)
{
	struct zcrx_buf *buf = &pool->bufs[b];

	buf->gen++;
	if (zcrx_buf_busy(pool, b)) {
		buf->state = ZCRX_BUF_PENDING;
		pool->pending[pool->nr_pending++] = b;
	} else {
		buf->state = ZCRX_BUF_FREE;
		pool->free_stack[pool->nr_free++] = b;
	}
}

/* Recycle the buffer once nobody (process, socket, send) uses it. */
void zcrx_pool_maybe_recycle(struct zcrx_pool *pool, u32 b)
{
	struct zcrx_buf *buf = &pool->bufs[b];

	if (buf->state == ZCRX_BUF_INUSE && !buf->user_refs && !buf->kopen &&
	    !buf->sending)
		zcrx_buf_recycle(pool, b);
}

void zcrx_pool_put_user_ref(struct zcrx_pool *pool, u32 b)
{
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
	u32 i;

	for (i = 0; i < pool->nr_pending; i++) {
		if (pool->pending[i] == b) {
			pool->pending[i] = pool->pending[--pool->nr_pending];
			break;
		}
	}
	pool->bufs[b].state = ZCRX_BUF_INUSE;
}

/* Move PENDING buffers whose pages were let go to the free stack. */
static u32 zcrx_scan_pending(struct zcrx_pool *pool)
{
	u32 i = 0, freed = 0, b;

	while (i < pool->nr_pending) {
		b = pool->pending[i];
		if (zcrx_buf_busy(pool, b)) {
			i++;
			continue;
		}
		pool->pending[i] = pool->pending[--pool->nr_pending];
		pool->bufs[b].state = ZCRX_BUF_FREE;
		pool->free_stack[pool->nr_free++] = b;
		freed++;
	}
	return freed;
}

/* Validate one refill entry read from shared memory and apply it. */
static bool zcrx_refill_one(struct zcrx_pool *pool, u64 off, u32 flags, u32 resv)
{
	struct zcrx_buf *buf;
	u32 b;

	if (flags || resv)
		return false;
	if (off >= pool->pool_size)
		return zcrx_win_return(pool, off - pool->pool_size);
	if (off & (pool->buf_size - 1))
		return false;
	b = off >> pool->buf_shift;
	buf = &pool->bufs[b];
	if (!buf->user_refs)
		return false;	/* double return or never handed out */
	zcrx_pool_put_user_ref(pool, b);
	return true;
}

/* Consume the refill ring. */
static void zcrx_consume_rq(struct zcrx_pool *pool)
{
	struct zcrxdev_rqe *rqe;
	u32 head = pool->rq_head, tail, n;

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

u32 zcrx_pool_pop_free(struct zcrx_pool *pool)
{
	if (!pool->nr_free) {
		zcrx_consume_rq(pool);
		if (!pool->nr_free && pool->nr_pending)
			zcrx_scan_pending(pool);
		if (!pool->nr_free)
			return ZCRX_NO_BUF;
	}
	return pool->free_stack[--pool->nr_free];
}

/* Free CQ slots, not counting slots promised to sockets. */
static u32 zcrx_cq_space(struct zcrx_pool *pool)
{
	u32 head, used;

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

	/* Always rewrite the shared word: the process may have scribbled on it. */
	WRITE_ONCE(pool->cq_flags, flags);
	WRITE_ONCE(*pool->cq.flags, flags);
}

static void zcrx_stall(struct zcrx_pool *pool, struct zcrx_sock *zs)
{
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
bool zcrx_pool_begin_seg(struct zcrx_pool *pool, struct zcrx_sock *zs)
{
	bool retried = false;
	u32 b;

	spin_lock_bh(&pool->lock);
retry:
	if (zs->cur_buf == ZCRX_NO_BUF) {
		b = zs->hint_buf;
		/* Same generation: not recycled since we last filled it. */
		if (b != ZCRX_NO_BUF && pool->bufs[b].gen == zs->hint_gen &&
		    zs->hint_fill < pool->buf_size) {
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

	if (b == ZCRX_NO_BUF && !zs->cq_reserved)
		return;

	spin_lock_bh(&pool->lock);
	if (b != ZCRX_NO_BUF) {
		buf = &pool->bufs[b];
		len = zs->fill - zs->seg_start;
		if (len) {
			/* A segment with bytes always holds a reserved slot. */
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
	int ret = 1;

	spin_lock_bh(&pool->lock);
	if (pool->bufs[b].state == ZCRX_BUF_FREE) {
		ret = -EAGAIN;
		goto out;
	}
	if (!zcrx_pool_cq_room(pool, zs)) {
		ret = 0;
		goto out;
	}
	if (pool->bufs[b].state == ZCRX_BUF_PENDING)
		zcrx_unpend(pool, b);
	pool->bufs[b].user_refs++;
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

/* Arm the tick, pool->lock held.  Not once teardown has begun. */
void zcrx_pool_arm_tick(struct zcrx_pool *pool)
{
	if (!pool->dying)
		queue_delayed_work(zcrx_wq, &pool->tick_work, 1);
}

/*
 * Skbs let go of pages without telling us: every tick while it matters,
 * move PENDING buffers that are free again to the free stack, resume
 * stalled sockets when a buffer and a CQ slot are free, and complete sends
 * whose pages are back.
 */
static void zcrx_pool_tick_work(struct work_struct *work)
{
	struct zcrx_pool *pool = container_of(to_delayed_work(work),
					      struct zcrx_pool, tick_work);
	bool resume, sends;
	u32 freed;

	spin_lock_bh(&pool->lock);
	freed = zcrx_scan_pending(pool);
	resume = !list_empty(&pool->stalled) &&
		 (freed || (pool->nr_free && zcrx_cq_space(pool)));
	sends = zcrx_pool_reap_sends(pool);
	if ((pool->nr_pending && !list_empty(&pool->stalled)) || sends)
		zcrx_pool_arm_tick(pool);
	spin_unlock_bh(&pool->lock);
	if (resume)
		zcrx_resume_stalled(pool);
}

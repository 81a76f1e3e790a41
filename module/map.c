// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx mapping window: whole network pages mapped into the process
 * instead of copied (ZCRXDEV_SETUP_MAP), and ZCRXDEV_IOC_RECV, which
 * places a MAP pool's payload in the caller's context.
 *
 * Page tables can only be changed with the mm's mmap_lock held, in task
 * context, so a MAP pool does not read its sockets as data arrives: the
 * receive callbacks only put the socket on the pool's ready list and raise
 * ZCRXDEV_RING_DATA_READY, and the process calls ZCRXDEV_IOC_RECV, which
 * runs each ready socket's read pass with the window's VMA at hand.
 *
 * A window slot holds one page.  vm_insert_pages() takes the page
 * reference that keeps it alive while mapped; the process gives a
 * completion back through the refill ring (any context: the slots are only
 * marked returned), and a later RECV unmaps returned slots in batches, one
 * zap and so one TLB flush per contiguous run of slots.  A slot is handed
 * out again only after its page table entry is gone.  munmap() of the
 * window zaps everything and frees every slot.
 */
#include <linux/bitmap.h>
#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/sched/mm.h>

#include "compat.h"
#include "zcrx.h"

/* Default threshold, in pages (see docs/benchmarks.md for the figures). */
#define ZCRX_MAP_THRESHOLD_DEFAULT	4
/* RECV unmaps returned pages once this many are waiting (or when idle). */
#define ZCRX_ZAP_BATCH			64

/* ---- window setup and mapping ---- */

int zcrx_win_init(struct zcrx_pool *pool, struct zcrxdev_setup *s)
{
	struct zcrx_win *w = &pool->win;
	u32 n = s->win_pages;

	s->win.offset = 0;
	s->win.size = 0;
	s->map_threshold = 0;
	if (!(pool->flags & ZCRXDEV_SETUP_MAP))
		return 0;
	if (!n)
		n = clamp_t(u32, pool->nr_pages, 16, ZCRXDEV_WIN_PAGES_MAX);

	w->busy = bitmap_zalloc(n, GFP_KERNEL_ACCOUNT);
	w->ret = bitmap_zalloc(n, GFP_KERNEL_ACCOUNT);
	w->zap = bitmap_zalloc(n, GFP_KERNEL_ACCOUNT);
	w->run = kvcalloc(n, sizeof(*w->run), GFP_KERNEL_ACCOUNT);
	if (!w->busy || !w->ret || !w->zap || !w->run)
		return -ENOMEM;
	w->nr_slots = n;
	w->threshold = (pool->flags & ZCRXDEV_SETUP_MAP_ALWAYS) ?
		       1 : ZCRX_MAP_THRESHOLD_DEFAULT;

	s->win_pages = n;
	s->win.offset = ZCRX_MMAP_WIN;
	s->win.size = (u64)n << PAGE_SHIFT;
	s->map_threshold = w->threshold << PAGE_SHIFT;
	return 0;
}

void zcrx_win_free(struct zcrx_pool *pool)
{
	struct zcrx_win *w = &pool->win;

	bitmap_free(w->busy);
	bitmap_free(w->ret);
	bitmap_free(w->zap);
	kvfree(w->run);
	mutex_destroy(&w->lock);
}

/* Every slot is empty again: the page tables went with the mapping. */
static void zcrx_win_reset(struct zcrx_pool *pool)
{
	struct zcrx_win *w = &pool->win;

	spin_lock_bh(&pool->lock);
	bitmap_zero(w->busy, w->nr_slots);
	bitmap_zero(w->ret, w->nr_slots);
	memset(w->run, 0, w->nr_slots * sizeof(*w->run));
	w->nr_ret = 0;
	w->next = 0;
	spin_unlock_bh(&pool->lock);
}

/* mmap lock held for writing; the PTEs are already zapped. */
static void zcrx_win_vm_close(struct vm_area_struct *vma)
{
	struct zcrx_pool *pool = vma->vm_private_data;
	struct zcrx_win *w = &pool->win;

	mutex_lock(&w->lock);
	/* Not a copy that fork() made after MADV_DOFORK: those never count. */
	if (w->vma == vma) {
		w->vma = NULL;
		w->mm = NULL;
		zcrx_win_reset(pool);
	}
	mutex_unlock(&w->lock);
}

/* Slots are found by their offset from vm_start: no splitting, no moving. */
static int zcrx_win_vm_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

static int zcrx_win_vm_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

static const struct vm_operations_struct zcrx_win_vm_ops = {
	.close		= zcrx_win_vm_close,
	.may_split	= zcrx_win_vm_may_split,
	.mremap		= zcrx_win_vm_mremap,
};

int zcrx_win_mmap(struct zcrx_pool *pool, struct vm_area_struct *vma)
{
	struct zcrx_win *w = &pool->win;
	int ret = 0;

	if (!w->nr_slots ||
	    vma->vm_end - vma->vm_start != (u64)w->nr_slots << PAGE_SHIFT)
		return -EINVAL;
	if (vma->vm_flags & VM_WRITE)
		return -EACCES;

	mutex_lock(&w->lock);
	if (w->vma) {
		ret = -EBUSY;
		goto out_unlock;
	}
	/*
	 * Read-only for good, not inherited, pages inserted later (which
	 * needs VM_MIXEDMAP set now, under the mmap lock).
	 */
	vm_flags_mod(vma, VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP |
		     VM_DONTCOPY, VM_MAYWRITE);
	vma->vm_ops = &zcrx_win_vm_ops;
	vma->vm_private_data = pool;
	w->vma = vma;
	w->mm = vma->vm_mm;
out_unlock:
	mutex_unlock(&w->lock);
	return ret;
}

/* ---- returns and unmapping ---- */

/*
 * A refill entry for window byte off (pool->lock held): the completion
 * that starts there gives all its pages back.
 */
bool zcrx_win_return(struct zcrx_pool *pool, u64 off)
{
	struct zcrx_win *w = &pool->win;
	u32 slot, n;

	lockdep_assert_held(&pool->lock);
	if ((off & ~PAGE_MASK) || (off >> PAGE_SHIFT) >= w->nr_slots)
		return false;
	slot = array_index_nospec(off >> PAGE_SHIFT, w->nr_slots);
	n = w->run[slot];
	if (!n)
		return false;	/* not a completion's start, or returned */
	w->run[slot] = 0;
	bitmap_set(w->ret, slot, n);
	w->nr_ret += n;
	return true;
}

/*
 * Unmap every returned slot: one zap, and so one TLB flush, per contiguous
 * run.  mmap lock and w->lock held; vma is the window.
 */
static void zcrx_win_zap(struct zcrx_pool *pool, struct vm_area_struct *vma)
{
	struct zcrx_win *w = &pool->win;
	unsigned long start, end, calls = 0;
	u32 nr;

	lockdep_assert_held(&w->lock);
	mmap_assert_locked(vma->vm_mm);
	spin_lock_bh(&pool->lock);
	nr = w->nr_ret;
	if (nr) {
		bitmap_copy(w->zap, w->ret, w->nr_slots);
		bitmap_zero(w->ret, w->nr_slots);
		w->nr_ret = 0;
	}
	spin_unlock_bh(&pool->lock);
	if (!nr)
		return;

	for_each_set_bitrange(start, end, w->zap, w->nr_slots) {
		zap_vma_range(vma, vma->vm_start + (start << PAGE_SHIFT),
			      (end - start) << PAGE_SHIFT);
		calls++;
	}

	spin_lock_bh(&pool->lock);
	bitmap_andnot(w->busy, w->busy, w->zap, w->nr_slots);
	pool->stats.zap_calls += calls;
	pool->stats.pages_zapped += nr;
	spin_unlock_bh(&pool->lock);
}

/*
 * Before a read pass (socket locked): lock the window for the caller.
 * Returns its VMA if the caller's mm has it mapped, else NULL (copy
 * everything).  Undo with zcrx_win_end().
 */
struct vm_area_struct *zcrx_win_begin(struct zcrx_pool *pool)
{
	struct zcrx_win *w = &pool->win;
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma = NULL;

	if (!w->nr_slots || !mm)
		return NULL;
	mmap_read_lock(mm);
	mutex_lock(&w->lock);
	if (w->vma && w->mm == mm)
		vma = w->vma;
	return vma;
}

void zcrx_win_end(struct zcrx_pool *pool)
{
	struct zcrx_win *w = &pool->win;

	if (!w->nr_slots || !current->mm)
		return;
	mutex_unlock(&w->lock);
	mmap_read_unlock(current->mm);
}

/* ---- mapping a run of pages (socket locked, inside zcrx_win_begin()) ---- */

/* n free contiguous slots, marked busy; U32_MAX if none.  pool->lock held. */
static u32 zcrx_win_alloc(struct zcrx_pool *pool, u32 n)
{
	struct zcrx_win *w = &pool->win;
	unsigned long slot;

	lockdep_assert_held(&pool->lock);
	slot = bitmap_find_next_zero_area(w->busy, w->nr_slots, w->next, n, 0);
	if (slot >= w->nr_slots)
		slot = bitmap_find_next_zero_area(w->busy, w->nr_slots, 0, n, 0);
	if (slot >= w->nr_slots)
		return U32_MAX;
	bitmap_set(w->busy, slot, n);
	w->next = slot + n;
	return slot;
}

/*
 * Map n whole pages, the next bytes of zs's stream, and complete them.
 * Returns the bytes completed, 0 if the CQ is full (zs stalled), or
 * -EAGAIN if they must be copied (window full, page refused).
 */
int zcrx_map_run(struct zcrx_sock *zs, struct page **pages, u32 n)
{
	struct vm_area_struct *vma = zs->map_vma;
	struct zcrx_pool *pool = zs->pool;
	struct zcrx_win *w = &pool->win;
	unsigned long left = n;
	bool zapped = false;
	u32 slot, done;

	lockdep_assert(lockdep_sock_is_held(zs->sk));
	if (n > w->nr_slots)
		return -EAGAIN;
	/* Stream order: complete what was copied before these pages. */
	zcrx_pool_end_seg(pool, zs, false);

	spin_lock_bh(&pool->lock);
	for (;;) {
		if (!zcrx_pool_cq_room(pool, zs)) {
			spin_unlock_bh(&pool->lock);
			return 0;
		}
		slot = zcrx_win_alloc(pool, n);
		if (slot != U32_MAX || zapped || !w->nr_ret)
			break;
		/* Unmap what the process gave back, then look again. */
		spin_unlock_bh(&pool->lock);
		zcrx_win_zap(pool, vma);
		zapped = true;
		spin_lock_bh(&pool->lock);
	}
	if (slot == U32_MAX) {
		pool->stats.map_fallbacks++;
		spin_unlock_bh(&pool->lock);
		return -EAGAIN;
	}
	/* The CQ slot is ours while pool->lock is dropped. */
	pool->cq_reserved++;
	spin_unlock_bh(&pool->lock);

	/* Takes a reference on each page it maps; left: pages not mapped. */
	vm_insert_pages(vma, vma->vm_start + ((unsigned long)slot << PAGE_SHIFT),
			pages, &left);
	done = n - left;

	spin_lock_bh(&pool->lock);
	WARN_ON_ONCE(!pool->cq_reserved);
	pool->cq_reserved--;
	if (left)
		bitmap_clear(w->busy, slot + done, left);
	if (!done) {
		pool->stats.map_fallbacks++;
		spin_unlock_bh(&pool->lock);
		return -EAGAIN;
	}
	w->run[slot] = done;
	zcrx_pool_post(pool, zs->tag,
		       pool->pool_size + ((u64)slot << PAGE_SHIFT),
		       done << PAGE_SHIFT,
		       ZCRXDEV_CQE_ZEROCOPY | ZCRXDEV_CQE_MAPPED);
	spin_unlock_bh(&pool->lock);
	return done << PAGE_SHIFT;
}

/* ---- ZCRXDEV_IOC_RECV ---- */

/* A MAP pool's socket has something for RECV (any context, no pool lock). */
void zcrx_pool_mark_ready(struct zcrx_pool *pool, struct zcrx_sock *zs)
{
	spin_lock_bh(&pool->lock);
	/* Detach takes zs off the list under this lock after setting the bit. */
	if (list_empty(&zs->ready_node) &&
	    !test_bit(ZS_DETACHED, &zs->flags)) {
		list_add_tail(&zs->ready_node, &pool->ready);
		zcrx_pool_cq_flags(pool, ZCRXDEV_RING_DATA_READY, 0);
	}
	spin_unlock_bh(&pool->lock);
	zcrx_pool_notify(pool);
}

/* Unmap returned pages if enough wait, or if there is nothing else to do. */
static void zcrx_win_maybe_zap(struct zcrx_pool *pool, bool idle)
{
	struct zcrx_win *w = &pool->win;
	struct vm_area_struct *vma;

	if (!READ_ONCE(w->nr_ret) ||
	    (!idle && READ_ONCE(w->nr_ret) < ZCRX_ZAP_BATCH))
		return;
	vma = zcrx_win_begin(pool);
	if (vma)
		zcrx_win_zap(pool, vma);
	zcrx_win_end(pool);
}

long zcrx_pool_recv(struct zcrx_pool *pool, const struct zcrxdev_recv *r)
{
	struct zcrx_sock *zs;
	LIST_HEAD(list);
	u64 before;

	if (r->flags || r->resv0 || r->resv[0] || r->resv[1])
		return -EINVAL;

	spin_lock_bh(&pool->lock);
	pool->stats.recv_calls++;
	before = pool->stats.completions;
	spin_unlock_bh(&pool->lock);

	/* Refills, PENDING buffers, stalled sockets (MAP: made ready). */
	__zcrx_pool_wake(pool);

	if (pool->flags & ZCRXDEV_SETUP_MAP) {
		spin_lock_bh(&pool->lock);
		/* One pass per socket: what turns ready now waits for the next call. */
		list_splice_init(&pool->ready, &list);
		zcrx_pool_cq_flags(pool, 0, ZCRXDEV_RING_DATA_READY);
		spin_unlock_bh(&pool->lock);

		zcrx_win_maybe_zap(pool, list_empty(&list));

		spin_lock_bh(&pool->lock);
		while (!list_empty(&list)) {
			zs = list_first_entry(&list, struct zcrx_sock, ready_node);
			list_del_init(&zs->ready_node);
			zcrx_sock_get(zs);
			spin_unlock_bh(&pool->lock);
			zcrx_sock_recv(zs);
			zcrx_sock_put(zs);
			spin_lock_bh(&pool->lock);
		}
		spin_unlock_bh(&pool->lock);
	}

	spin_lock_bh(&pool->lock);
	before = pool->stats.completions - before;
	spin_unlock_bh(&pool->lock);
	return min_t(u64, before, INT_MAX);
}

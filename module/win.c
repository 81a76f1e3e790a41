// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx mapping window: the slots after the pool (ZCRXDEV_SETUP_MAP) where
 * whole network pages are mapped instead of copied, its VMA, and the zaps
 * that unmap what the process gave back.
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
#include <linux/slab.h>

#include "compat.h"
#include "win.h"

/* Default threshold, in pages (see docs/benchmarks.md for the figures). */
#define ZCRX_MAP_THRESHOLD_DEFAULT	4
/* RECV unmaps returned pages once this many are waiting (or when idle). */
#define ZCRX_ZAP_BATCH			64

/* ---- window setup and mapping ---- */

void zcrx_win_init(struct zcrx_win *w, spinlock_t *slot_lock,
		   struct zcrxdev_stats *stats)
{
	mutex_init(&w->lock);
	w->slot_lock = slot_lock;
	w->stats = stats;
}

/*
 * The window a setup asks for, if any (MAP_ALWAYS includes MAP): its size
 * and threshold go back in s; the caller says where it is mapped.
 */
int zcrx_win_setup(struct zcrx_win *w, struct zcrxdev_setup *s, u32 pool_pages)
{
	u32 n = s->win_pages;

	s->win.offset = 0;
	s->win.size = 0;
	s->map_threshold = 0;
	if (!(s->flags & ZCRXDEV_SETUP_MAP))
		return 0;
	if (!n)
		n = clamp_t(u32, pool_pages, 16, ZCRXDEV_WIN_PAGES_MAX);

	w->busy = bitmap_zalloc(n, GFP_KERNEL_ACCOUNT);
	w->ret = bitmap_zalloc(n, GFP_KERNEL_ACCOUNT);
	w->zap = bitmap_zalloc(n, GFP_KERNEL_ACCOUNT);
	w->run = kvcalloc(n, sizeof(*w->run), GFP_KERNEL_ACCOUNT);
	if (!w->busy || !w->ret || !w->zap || !w->run)
		return -ENOMEM;
	w->nr_slots = n;
	w->threshold = (s->flags & ZCRXDEV_SETUP_MAP_ALWAYS) ?
		       1 : ZCRX_MAP_THRESHOLD_DEFAULT;

	s->win_pages = n;
	s->win.size = (u64)n << PAGE_SHIFT;
	s->map_threshold = w->threshold << PAGE_SHIFT;
	return 0;
}

void zcrx_win_free(struct zcrx_win *w)
{
	bitmap_free(w->busy);
	bitmap_free(w->ret);
	bitmap_free(w->zap);
	kvfree(w->run);
	mutex_destroy(&w->lock);
}

/* Every slot is empty again: the page tables went with the mapping. */
static void zcrx_win_reset(struct zcrx_win *w)
{
	spin_lock_bh(w->slot_lock);
	bitmap_zero(w->busy, w->nr_slots);
	bitmap_zero(w->ret, w->nr_slots);
	memset(w->run, 0, w->nr_slots * sizeof(*w->run));
	w->nr_ret = 0;
	w->next = 0;
	spin_unlock_bh(w->slot_lock);
}

/* mmap lock held for writing; the PTEs are already zapped. */
static void zcrx_win_vm_close(struct vm_area_struct *vma)
{
	struct zcrx_win *w = vma->vm_private_data;

	mutex_lock(&w->lock);
	/* Not a copy that fork() made after MADV_DOFORK: those never count. */
	if (w->vma == vma) {
		w->vma = NULL;
		w->mm = NULL;
		zcrx_win_reset(w);
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

int zcrx_win_mmap(struct zcrx_win *w, struct vm_area_struct *vma)
{
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
	vma->vm_private_data = w;
	w->vma = vma;
	w->mm = vma->vm_mm;
out_unlock:
	mutex_unlock(&w->lock);
	return ret;
}

/* ---- returns and unmapping ---- */

/*
 * A refill entry for window byte off: the completion that starts there
 * gives all its pages back.
 */
bool zcrx_win_return_locked(struct zcrx_win *w, u64 off)
{
	u32 slot, n;

	lockdep_assert_held(w->slot_lock);
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
void zcrx_win_zap(struct zcrx_win *w, struct vm_area_struct *vma)
{
	unsigned long start, end, calls = 0;
	u32 nr;

	lockdep_assert_held(&w->lock);
	mmap_assert_locked(vma->vm_mm);
	spin_lock_bh(w->slot_lock);
	nr = w->nr_ret;
	if (nr) {
		bitmap_copy(w->zap, w->ret, w->nr_slots);
		bitmap_zero(w->ret, w->nr_slots);
		w->nr_ret = 0;
	}
	spin_unlock_bh(w->slot_lock);
	if (!nr)
		return;

	for_each_set_bitrange(start, end, w->zap, w->nr_slots) {
		zap_vma_range(vma, vma->vm_start + (start << PAGE_SHIFT),
			      (end - start) << PAGE_SHIFT);
		calls++;
	}

	spin_lock_bh(w->slot_lock);
	bitmap_andnot(w->busy, w->busy, w->zap, w->nr_slots);
	w->stats->zap_calls += calls;
	w->stats->pages_zapped += nr;
	spin_unlock_bh(w->slot_lock);
}

/*
 * Before a read pass (socket locked): lock the window for the caller.
 * Returns its VMA if the caller's mm has it mapped, else NULL (copy
 * everything).  Undo with zcrx_win_end().
 */
struct vm_area_struct *zcrx_win_begin(struct zcrx_win *w)
{
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

void zcrx_win_end(struct zcrx_win *w)
{
	if (!w->nr_slots || !current->mm)
		return;
	mutex_unlock(&w->lock);
	mmap_read_unlock(current->mm);
}

/* Unmap returned pages if enough wait, or if there is nothing else to do. */
void zcrx_win_maybe_zap(struct zcrx_win *w, bool idle)
{
	struct vm_area_struct *vma;

	if (!READ_ONCE(w->nr_ret) ||
	    (!idle && READ_ONCE(w->nr_ret) < ZCRX_ZAP_BATCH))
		return;
	vma = zcrx_win_begin(w);
	if (vma)
		zcrx_win_zap(w, vma);
	zcrx_win_end(w);
}

/* ---- mapping a run of pages (inside zcrx_win_begin()) ---- */

/* n free contiguous slots, marked busy; U32_MAX if none. */
u32 zcrx_win_alloc_locked(struct zcrx_win *w, u32 n)
{
	unsigned long slot;

	lockdep_assert_held(w->slot_lock);
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
 * Map n pages at slot (allocated), no spinlock held: takes a reference on
 * each page it maps.  Returns how many of them it mapped.
 */
u32 zcrx_win_insert(struct zcrx_win *w, struct vm_area_struct *vma, u32 slot,
		    struct page **pages, u32 n)
{
	unsigned long left = n;

	lockdep_assert_held(&w->lock);
	vm_insert_pages(vma, vma->vm_start + ((unsigned long)slot << PAGE_SHIFT),
			pages, &left);
	return n - left;
}

/* done of the n slots at slot were mapped: free the rest, name the run. */
void zcrx_win_filled_locked(struct zcrx_win *w, u32 slot, u32 n, u32 done)
{
	lockdep_assert_held(w->slot_lock);
	if (done < n)
		bitmap_clear(w->busy, slot + done, n - done);
	if (done)
		w->run[slot] = done;
}

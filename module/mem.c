// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx memory: compound pages for pools and rings, the RLIMIT_MEMLOCK
 * charge that pays for them, the tags that say a page is the pool's, the
 * pool's and rings' mappings, the rule that says whether anything outside
 * the pool still holds a page, and the pages a freed pool leaves behind.
 *
 * Every allocation is made of compound pages (folios of 2^order pages,
 * order >= 1).  A receiver never maps a compound page into its page
 * tables (TCP_ZEROCOPY_RECEIVE's can_map_frag(), the zcrx window), so
 * pages that their owner can still write reach other processes only as
 * copies.
 *
 * A freed pool's pages can outlive it in skbs (sent from the pool, or
 * spliced by its owner).  They stay charged to the owner until the last
 * of those references is gone: the pool hands them, with its charge, to a
 * remnant that a slow reaper (process context, bounded by what the owner
 * was allowed to pin) checks until they are free.
 */
#include <linux/capability.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#include "compat.h"
#include "mem.h"
#include "wq.h"

/* How often the reaper looks at the pages of freed pools. */
#define ZCRX_REAP_INTERVAL	(HZ / 10)

atomic_long_t zcrx_mem_pages_total = ATOMIC_LONG_INIT(0);
static atomic_t zcrx_mem_ids = ATOMIC_INIT(0);

/* ---- the charge ---- */

/*
 * Charge pages to the caller: RLIMIT_MEMLOCK of its user (unless it has
 * CAP_IPC_LOCK) and its mm's pinned_vm, as io_uring does.
 */
int zcrx_mem_charge(struct zcrx_charge *c, unsigned long pages)
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
		c->user = user;
	}
	mmgrab(current->mm);
	c->mm = current->mm;
	atomic64_add(pages, &c->mm->pinned_vm);
	c->pages = pages;
	return 0;
}

/* Give pages of the charge back; with the last one, its references too. */
void zcrx_mem_uncharge(struct zcrx_charge *c, unsigned long pages)
{
	if (WARN_ON_ONCE(pages > c->pages))
		pages = c->pages;
	if (c->user)
		atomic_long_sub(pages, &c->user->locked_vm);
	if (c->mm)
		atomic64_sub(pages, &c->mm->pinned_vm);
	c->pages -= pages;
	if (c->pages)
		return;
	if (c->user)
		free_uid(c->user);
	if (c->mm)
		mmdrop(c->mm);
	c->user = NULL;
	c->mm = NULL;
}

/* ---- compound pages ---- */

/*
 * Fill pages[0..nr) with the pages of zeroed folios of 2^order pages
 * (order >= 1); the last folio may run past nr.  Returns the number of
 * pages allocated (a multiple of 2^order), or -ENOMEM with nothing kept.
 */
static long zcrx_mem_alloc(struct page **pages, u32 nr, unsigned int order, int node)
{
	u32 i, n = 0, step = 1U << order;
	struct page *page;

	if (WARN_ON_ONCE(!order))
		return -EINVAL;
	while (n < nr) {
		page = alloc_pages_node(node, GFP_KERNEL_ACCOUNT | __GFP_ZERO |
					__GFP_COMP | __GFP_NOWARN, order);
		if (!page)
			goto err_free;
		for (i = 0; i < step && n + i < nr; i++)
			pages[n + i] = page + i;
		n += step;
		if (fatal_signal_pending(current))
			goto err_free;
		cond_resched();
	}
	return n;

err_free:
	for (i = 0; i < n && i < nr; i += step)
		folio_put(page_folio(pages[i]));
	memset(pages, 0, nr * sizeof(*pages));
	return -ENOMEM;
}

/* Drop our reference on every folio: ring memory, setup failures. */
static void zcrx_mem_free(struct page **pages, u32 nr)
{
	struct folio *folio;
	u32 i, step;

	/* The step is read before the put: the put may free the folio. */
	for (i = 0; i < nr; i += step) {
		folio = page_folio(pages[i]);
		step = folio_nr_pages(folio);
		folio_put(folio);
	}
}

/*
 * Has the folio a reference besides ours, its page-table mappings through
 * the map_vmas VMAs of its pool, and up to pins long-term pins per page
 * that the process declared?  An skb or a pipe holds a reference without
 * a mapping.  Each FOLL_PIN pin of a large folio adds one reference and
 * one to its pin count.  The counters are read one by one: a change in
 * between only ever makes the folio look busy.
 */
static bool zcrx_mem_folio_busy(struct folio *folio, int map_vmas, u32 pins)
{
	long nr = folio_nr_pages(folio);
	long maps = folio_mapcount(folio);
	long pinned = zcrx_folio_pincount(folio);
	long extra = folio_ref_count(folio) - 1 - maps - pinned;

	return extra || maps > nr * map_vmas || pinned > nr * pins;
}

/* ---- what a freed pool leaves behind ---- */

/* Folios still referenced by others, and the charge that pays for them. */
struct zcrx_remnant {
	struct list_head	node;		/* zcrx_remnants */
	struct zcrx_charge	charge;
	u32			nr;		/* live entries of folios[] */
	struct folio		*folios[];
};

/* Protects zcrx_remnants and every remnant on it. */
static DEFINE_MUTEX(zcrx_remnant_lock);
static LIST_HEAD(zcrx_remnants);

static void zcrx_mem_reap_work(struct work_struct *work);
static DECLARE_DELAYED_WORK(zcrx_reaper, zcrx_mem_reap_work);

/* Put the folios nobody else holds any more; true when none is left. */
static bool zcrx_mem_remnant_reap(struct zcrx_remnant *r)
{
	unsigned long pages = 0;
	struct folio *folio;
	u32 i = 0;

	while (i < r->nr) {
		folio = r->folios[i];
		if (folio_ref_count(folio) > 1) {
			i++;
			continue;
		}
		pages += folio_nr_pages(folio);
		folio_put(folio);
		r->folios[i] = r->folios[--r->nr];
	}
	atomic_long_sub(pages, &zcrx_mem_pages_total);
	zcrx_mem_uncharge(&r->charge, pages);
	return !r->nr;
}

static void zcrx_mem_reap_work(struct work_struct *work)
{
	struct zcrx_remnant *r, *tmp;
	bool more;

	mutex_lock(&zcrx_remnant_lock);
	list_for_each_entry_safe(r, tmp, &zcrx_remnants, node) {
		if (zcrx_mem_remnant_reap(r)) {
			list_del(&r->node);
			kvfree(r);
		}
		cond_resched();
	}
	more = !list_empty(&zcrx_remnants);
	mutex_unlock(&zcrx_remnant_lock);
	if (more)
		queue_delayed_work(zcrx_wq, &zcrx_reaper, ZCRX_REAP_INTERVAL);
}

/*
 * A pool is freed: its pages are mapped nowhere any more and carry no
 * tag.  Free the folios only we hold; those that others still hold keep
 * their pages' share of the charge until the reaper sees them go, and the
 * rest of the charge is given back now.  Takes over c.
 */
static void zcrx_mem_release(struct page **pages, u32 nr, struct zcrx_charge *c)
{
	unsigned long idle = 0, held = 0;
	struct zcrx_remnant *r;
	struct folio *folio;
	u32 i, n = 0, step;

	for (i = 0; i < nr; i += step) {
		step = folio_nr_pages(page_folio(pages[i]));
		n++;
	}
	/* Without memory for the list, the charge goes early: no worse. */
	r = kvmalloc(struct_size(r, folios, n), GFP_KERNEL);
	n = 0;
	for (i = 0; i < nr; i += step) {
		folio = page_folio(pages[i]);
		step = folio_nr_pages(folio);
		if (r && folio_ref_count(folio) > 1) {
			r->folios[n++] = folio;
			held += step;
			continue;
		}
		idle += step;
		folio_put(folio);
	}
	atomic_long_sub(idle, &zcrx_mem_pages_total);
	held = min(held, c->pages);
	zcrx_mem_uncharge(c, c->pages - held);
	if (!n) {
		kvfree(r);
		return;
	}
	r->charge = *c;
	r->nr = n;
	memset(c, 0, sizeof(*c));
	mutex_lock(&zcrx_remnant_lock);
	list_add_tail(&r->node, &zcrx_remnants);
	mutex_unlock(&zcrx_remnant_lock);
	queue_delayed_work(zcrx_wq, &zcrx_reaper, ZCRX_REAP_INTERVAL);
}

/*
 * Module unload: drop our references and the charges now.  The skbs that
 * still hold pages free them later, with no module code involved.
 */
void zcrx_mem_exit(void)
{
	struct zcrx_remnant *r, *tmp;
	u32 i;

	cancel_delayed_work_sync(&zcrx_reaper);
	mutex_lock(&zcrx_remnant_lock);
	list_for_each_entry_safe(r, tmp, &zcrx_remnants, node) {
		for (i = 0; i < r->nr; i++) {
			atomic_long_sub(folio_nr_pages(r->folios[i]),
					&zcrx_mem_pages_total);
			folio_put(r->folios[i]);
		}
		zcrx_mem_uncharge(&r->charge, r->charge.pages);
		list_del(&r->node);
		kvfree(r);
	}
	mutex_unlock(&zcrx_remnant_lock);
}

/* ---- the pool's pages ---- */

/*
 * Buffers of buf_pages pages in folios of max(buf_pages, 2) pages: a
 * buffer is one physically contiguous block inside one folio.
 */
void zcrx_mem_pool_init(struct zcrx_mem *m, u32 nr_pages, u32 buf_pages)
{
	m->nr_pages = nr_pages;
	m->buf_pages = buf_pages;
	m->folio_order = max_t(u32, ilog2(buf_pages), 1);
	/* Ids start at 1 so that an untagged page (private 0) never matches. */
	m->id = atomic_inc_return(&zcrx_mem_ids) ?: atomic_inc_return(&zcrx_mem_ids);
}

/* Pages allocated for the pool's pages: whole folios. */
unsigned long zcrx_mem_pool_charge_pages(const struct zcrx_mem *m)
{
	return round_up(m->nr_pages, 1U << m->folio_order);
}

/* Each folio's first page carries the pool id and its page index. */
int zcrx_mem_pool_alloc(struct zcrx_mem *m, int node)
{
	u32 i, step = 1U << m->folio_order;
	long ret;

	m->pages = kvcalloc(m->nr_pages, sizeof(*m->pages), GFP_KERNEL_ACCOUNT);
	if (!m->pages)
		return -ENOMEM;
	ret = zcrx_mem_alloc(m->pages, m->nr_pages, m->folio_order, node);
	if (ret < 0)
		return ret;
	for (i = 0; i < m->nr_pages; i += step)
		set_page_private(m->pages[i], ((unsigned long)m->id << 32) | i);
	atomic_long_add(ret, &zcrx_mem_pages_total);
	return 0;
}

/*
 * The pool is freed: untag its pages (skbs may keep some alive after the
 * pool) and hand those still held, with their charge, to a remnant.
 */
void zcrx_mem_pool_free(struct zcrx_mem *m)
{
	u32 i, step = 1U << m->folio_order;

	if (m->pages && m->pages[0]) {
		for (i = 0; i < m->nr_pages; i += step)
			set_page_private(m->pages[i], 0);
		zcrx_mem_release(m->pages, m->nr_pages, &m->charge);
	}
	kvfree(m->pages);
	zcrx_mem_uncharge(&m->charge, m->charge.pages);
}

/* A buffer is one physically contiguous block (split_page()). */
void *zcrx_mem_buf_addr(struct zcrx_mem *m, u32 b)
{
	return page_address(m->pages[(size_t)b * m->buf_pages]);
}

/*
 * If page is one of the pool's pages, its index, else ZCRX_NO_PAGE.  The
 * first page of each pool folio carries the pool id and its own index.
 */
u32 zcrx_mem_page_index(struct zcrx_mem *m, struct page *page)
{
	struct folio *folio = page_folio(page);
	unsigned long priv = page_private(&folio->page);
	u32 idx;

	if ((priv >> 32) != m->id)
		return ZCRX_NO_PAGE;
	idx = (u32)priv + (u32)(page - &folio->page);
	/* The tag is only a hint; the page array is the truth. */
	if (idx >= m->nr_pages)
		return ZCRX_NO_PAGE;
	idx = array_index_nospec(idx, m->nr_pages);
	return m->pages[idx] == page ? idx : ZCRX_NO_PAGE;
}

void zcrx_mem_set_pins(struct zcrx_mem *m, u32 pins)
{
	WRITE_ONCE(m->pins, pins);
}

static bool zcrx_mem_pool_folio_busy(struct zcrx_mem *m, struct folio *folio)
{
	return zcrx_mem_folio_busy(folio, atomic_read(&m->map_vmas),
				   READ_ONCE(m->pins));
}

bool zcrx_mem_buf_busy(struct zcrx_mem *m, u32 b)
{
	return zcrx_mem_pool_folio_busy(m, page_folio(m->pages[(size_t)b * m->buf_pages]));
}

/* Does anything outside the pool hold a page of [off, off + len)? */
bool zcrx_mem_range_busy(struct zcrx_mem *m, u64 off, u64 len)
{
	u64 p = off >> PAGE_SHIFT, last = (off + len - 1) >> PAGE_SHIFT;
	struct folio *folio;

	while (p <= last) {
		folio = page_folio(m->pages[p]);
		if (zcrx_mem_pool_folio_busy(m, folio))
			return true;
		/* On to the next folio. */
		p = round_down(p, folio_nr_pages(folio)) + folio_nr_pages(folio);
	}
	return false;
}

/* ---- mappings ---- */

/* Count the VMAs that map the pool (see zcrx_mem_folio_busy()). */
static void zcrx_mem_vm_open(struct vm_area_struct *vma)
{
	struct zcrx_mem *m = vma->vm_private_data;

	atomic_inc(&m->map_vmas);
}

static void zcrx_mem_vm_close(struct vm_area_struct *vma)
{
	struct zcrx_mem *m = vma->vm_private_data;

	atomic_dec(&m->map_vmas);
}

static const struct vm_operations_struct zcrx_mem_vm_ops = {
	.open	= zcrx_mem_vm_open,
	.close	= zcrx_mem_vm_close,
};

static int zcrx_mem_insert(struct vm_area_struct *vma, struct page **pages,
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

/* The whole pool, shared; read-only for good unless writable. */
int zcrx_mem_pool_mmap(struct zcrx_mem *m, struct vm_area_struct *vma,
		       bool writable)
{
	int ret;

	if (vma->vm_end - vma->vm_start != (u64)m->nr_pages << PAGE_SHIFT)
		return -EINVAL;
	if (writable) {
		vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, 0);
	} else {
		if (vma->vm_flags & VM_WRITE)
			return -EACCES;
		/* Read-only for good: mprotect(PROT_WRITE) must fail too. */
		vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, VM_MAYWRITE);
	}
	vma->vm_ops = &zcrx_mem_vm_ops;
	vma->vm_private_data = m;
	/*
	 * Counted once the pages are in: a failed ->mmap gets no ->close,
	 * and a count that runs behind the mappings only makes pages look
	 * busy, never free.
	 */
	ret = zcrx_mem_insert(vma, m->pages, m->nr_pages);
	if (!ret)
		atomic_inc(&m->map_vmas);
	return ret;
}

/* ---- ring memory ---- */

/*
 * Zeroed compound pages charged to the caller's memory cgroup (as
 * io_uring's rings are), seen by the kernel through vmap() and mapped into
 * the process with vm_insert_pages() like the pool.  On failure the
 * caller frees what was made with zcrx_mem_ring_free().
 */
int zcrx_mem_ring_alloc(struct zcrx_mem_ring *rm, size_t bytes)
{
	long ret;

	rm->size = PAGE_ALIGN(bytes);
	rm->nr_pages = rm->size >> PAGE_SHIFT;
	rm->pages = kvcalloc(rm->nr_pages, sizeof(*rm->pages), GFP_KERNEL_ACCOUNT);
	if (!rm->pages)
		return -ENOMEM;
	ret = zcrx_mem_alloc(rm->pages, rm->nr_pages, 1, NUMA_NO_NODE);
	if (ret < 0)
		return ret;
	rm->vaddr = vmap(rm->pages, rm->nr_pages, VM_MAP, PAGE_KERNEL);
	return rm->vaddr ? 0 : -ENOMEM;
}

void zcrx_mem_ring_free(struct zcrx_mem_ring *rm)
{
	if (rm->vaddr)
		vunmap(rm->vaddr);
	if (rm->pages && rm->pages[0])
		zcrx_mem_free(rm->pages, rm->nr_pages);
	kvfree(rm->pages);
}

int zcrx_mem_ring_mmap(struct zcrx_mem_ring *rm, struct vm_area_struct *vma)
{
	if (vma->vm_end - vma->vm_start != rm->size)
		return -EINVAL;
	vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, 0);
	return zcrx_mem_insert(vma, rm->pages, rm->nr_pages);
}

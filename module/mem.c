// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx memory: compound pages for pools and rings, the RLIMIT_MEMLOCK
 * charge that pays for them, the rule that says whether anything outside
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
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "compat.h"
#include "zcrx.h"

/* How often the reaper looks at the pages of freed pools. */
#define ZCRX_REAP_INTERVAL	(HZ / 10)

/* ---- the charge ---- */

/*
 * Charge pages to the caller: RLIMIT_MEMLOCK of its user (unless it has
 * CAP_IPC_LOCK) and its mm's pinned_vm, as io_uring does.
 */
int zcrx_charge_init(struct zcrx_charge *c, unsigned long pages)
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
void zcrx_uncharge(struct zcrx_charge *c, unsigned long pages)
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
long zcrx_mem_alloc(struct page **pages, u32 nr, unsigned int order, int node)
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
void zcrx_mem_free(struct page **pages, u32 nr)
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
bool zcrx_folio_busy(struct folio *folio, int map_vmas, u32 pins)
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

static void zcrx_reap_work(struct work_struct *work);
static DECLARE_DELAYED_WORK(zcrx_reaper, zcrx_reap_work);

/* Put the folios nobody else holds any more; true when none is left. */
static bool zcrx_remnant_reap(struct zcrx_remnant *r)
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
	atomic_long_sub(pages, &zcrx_pool_pages_total);
	zcrx_uncharge(&r->charge, pages);
	return !r->nr;
}

static void zcrx_reap_work(struct work_struct *work)
{
	struct zcrx_remnant *r, *tmp;
	bool more;

	mutex_lock(&zcrx_remnant_lock);
	list_for_each_entry_safe(r, tmp, &zcrx_remnants, node) {
		if (zcrx_remnant_reap(r)) {
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
void zcrx_mem_release(struct page **pages, u32 nr, struct zcrx_charge *c)
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
	atomic_long_sub(idle, &zcrx_pool_pages_total);
	held = min(held, c->pages);
	zcrx_uncharge(c, c->pages - held);
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
					&zcrx_pool_pages_total);
			folio_put(r->folios[i]);
		}
		zcrx_uncharge(&r->charge, r->charge.pages);
		list_del(&r->node);
		kvfree(r);
	}
	mutex_unlock(&zcrx_remnant_lock);
}

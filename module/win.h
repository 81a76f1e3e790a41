/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zcrx mapping window (win.c): nr_slots pages of address space after the
 * pool of a MAP pool, where whole network pages are mapped read-only.
 */
#ifndef ZCRX_MODULE_WIN_H
#define ZCRX_MODULE_WIN_H

#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#include <linux/zcrxdev.h>

struct mm_struct;
struct page;
struct vm_area_struct;

struct zcrx_win {
	u32			nr_slots;	/* 0: no window */
	u32			threshold;	/* shortest run mapped, in pages */
	/*
	 * Under *slot_lock (the pool's lock): busy (the slot holds a page,
	 * or is being filled or unmapped), ret (returned by the process,
	 * still mapped; always a subset of busy), run[] (pages of the
	 * completion starting at a slot, 0 elsewhere), nr_ret, next
	 * (allocation cursor), and the zap counters of *stats.
	 */
	spinlock_t		*slot_lock;
	struct zcrxdev_stats	*stats;
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

void zcrx_win_init(struct zcrx_win *w, spinlock_t *slot_lock,
		   struct zcrxdev_stats *stats);
int zcrx_win_setup(struct zcrx_win *w, struct zcrxdev_setup *s, u32 pool_pages);
void zcrx_win_free(struct zcrx_win *w);
int zcrx_win_mmap(struct zcrx_win *w, struct vm_area_struct *vma);
bool zcrx_win_return_locked(struct zcrx_win *w, u64 off);
struct vm_area_struct *zcrx_win_begin(struct zcrx_win *w);
void zcrx_win_end(struct zcrx_win *w);
void zcrx_win_zap(struct zcrx_win *w, struct vm_area_struct *vma);
void zcrx_win_maybe_zap(struct zcrx_win *w, bool idle);
u32 zcrx_win_alloc_locked(struct zcrx_win *w, u32 n);
u32 zcrx_win_insert(struct zcrx_win *w, struct vm_area_struct *vma, u32 slot,
		    struct page **pages, u32 n);
void zcrx_win_filled_locked(struct zcrx_win *w, u32 slot, u32 n, u32 done);

#endif /* ZCRX_MODULE_WIN_H */

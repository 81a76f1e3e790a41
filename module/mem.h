/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zcrx memory (mem.c): the pool's pages and ring pages, what they are
 * charged to, their mappings, and the rule that says whether anything
 * outside the pool still holds a page.
 */
#ifndef ZCRX_MODULE_MEM_H
#define ZCRX_MODULE_MEM_H

#include <linux/atomic.h>
#include <linux/types.h>

struct mm_struct;
struct page;
struct user_struct;
struct vm_area_struct;

#define ZCRX_NO_PAGE		U32_MAX

/* Pages charged to a user's RLIMIT_MEMLOCK and an mm's pinned_vm. */
struct zcrx_charge {
	struct user_struct	*user;	/* NULL when CAP_IPC_LOCK */
	struct mm_struct	*mm;
	unsigned long		pages;
};

/* A pool's pages.  Immutable after zcrx_mem_pool_alloc() but for the atomics. */
struct zcrx_mem {
	struct page		**pages;	/* pool page i maps at i * PAGE_SIZE */
	u32			nr_pages;
	u32			buf_pages;	/* pages per buffer */
	u32			folio_order;	/* pages come in folios of 2^order */
	u32			id;		/* tags pool pages in page->private */
	/* VMAs mapping the pool: a page mapped more often is mapped by others. */
	atomic_t		map_vmas;
	/* Long-term pins per page the process declared (ZCRXDEV_IOC_PINS). */
	u32			pins;
	/* What the pool's pages and window cost its creator. */
	struct zcrx_charge	charge;
};

/* A ring's memory: zeroed compound pages, seen by the kernel through vmap(). */
struct zcrx_mem_ring {
	void			*vaddr;
	struct page		**pages;
	u32			nr_pages;
	size_t			size;
};

/* Pool pages in use, freed pools' held pages included (sysfs). */
extern atomic_long_t zcrx_mem_pages_total;

int zcrx_mem_charge(struct zcrx_charge *c, unsigned long pages);
void zcrx_mem_uncharge(struct zcrx_charge *c, unsigned long pages);

void zcrx_mem_pool_init(struct zcrx_mem *m, u32 nr_pages, u32 buf_pages);
unsigned long zcrx_mem_pool_charge_pages(const struct zcrx_mem *m);
int zcrx_mem_pool_alloc(struct zcrx_mem *m, int node);
void zcrx_mem_pool_free(struct zcrx_mem *m);
int zcrx_mem_pool_mmap(struct zcrx_mem *m, struct vm_area_struct *vma,
		       bool writable);
void *zcrx_mem_buf_addr(struct zcrx_mem *m, u32 b);
u32 zcrx_mem_page_index(struct zcrx_mem *m, struct page *page);
void zcrx_mem_set_pins(struct zcrx_mem *m, u32 pins);
bool zcrx_mem_buf_busy(struct zcrx_mem *m, u32 b);
bool zcrx_mem_range_busy(struct zcrx_mem *m, u64 off, u64 len);

int zcrx_mem_ring_alloc(struct zcrx_mem_ring *rm, size_t bytes);
void zcrx_mem_ring_free(struct zcrx_mem_ring *rm);
int zcrx_mem_ring_mmap(struct zcrx_mem_ring *rm, struct vm_area_struct *vma);

void zcrx_mem_exit(void);

#endif /* ZCRX_MODULE_MEM_H */

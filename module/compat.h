/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place where zcrx adapts to kernel API differences.  Every switch
 * is a feature found in the target kernel's headers by compat-probe.sh
 * (compat_probed.h), never a version comparison.
 */
#ifndef ZCRX_MODULE_COMPAT_H
#define ZCRX_MODULE_COMPAT_H

#include <linux/mm.h>

#include "compat_probed.h"

#ifndef CONFIG_64BIT
#error "zcrx needs a 64-bit kernel (page tags in page->private, direct map)"
#endif

/* Set and clear VMA flags from an ->mmap() handler (mmap lock held). */
static inline void zcrx_vm_flags_mod(struct vm_area_struct *vma,
				     unsigned long set, unsigned long clear)
{
#ifdef ZCRX_HAVE_VM_FLAGS_MOD
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

/* How many page tables map this order-0 page. */
static inline int zcrx_page_mapcount(struct page *page)
{
#ifdef ZCRX_HAVE_INLINE_FOLIO_MAPCOUNT
	return folio_mapcount(page_folio(page));
#else
	return page_mapcount(page);
#endif
}

#endif /* ZCRX_MODULE_COMPAT_H */

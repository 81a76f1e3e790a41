/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place where zcrx adapts to kernel API differences.  Every switch
 * is a feature found in the target kernel's headers by compat-probe.sh
 * (compat_probed.h), never a version comparison.
 */
#ifndef ZCRX_MODULE_COMPAT_H
#define ZCRX_MODULE_COMPAT_H

#include <linux/bvec.h>
#include <linux/mm.h>
#include <linux/net.h>
#include <linux/socket.h>
#include <linux/uio.h>
#include <linux/workqueue.h>

#include "compat_probed.h"

#ifndef CONFIG_64BIT
#error "zcrx needs a 64-bit kernel (page tags in page->private, direct map)"
#endif

/*
 * The module is written against the newest kernel API.  What older kernels
 * lack is back-filled below under its upstream name.
 */

/* 6.3+: vm_flags is read-only, changed through vm_flags_{set,clear,mod}(). */
#ifndef ZCRX_HAVE_VM_FLAGS_MOD
static inline void vm_flags_mod(struct vm_area_struct *vma,
				vm_flags_t set, vm_flags_t clear)
{
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
}
#endif

/*
 * folio_mapcount(): how many page-table entries map the pages of this
 * folio, in all.  On 6.1 it is an out-of-line function that is not
 * exported; page_mapcount() of each page is (__page_mapcount()).
 */
#ifndef ZCRX_HAVE_INLINE_FOLIO_MAPCOUNT
static inline int zcrx_folio_mapcount(struct folio *folio)
{
	long i;
	int n = 0;

	for (i = 0; i < folio_nr_pages(folio); i++)
		n += page_mapcount(folio_page(folio, i));
	return n;
}

#define folio_mapcount(folio) zcrx_folio_mapcount(folio)
#endif

/*
 * zap_vma_range(): unmap [addr, addr + size) of a VMA with one mmu_gather,
 * so one TLB flush.  7.3 names it so; before, it is zap_page_range_single()
 * with a zap_details argument, and up to 6.2 zap_page_range(), the only one
 * of the two that those kernels export.
 */
#ifndef ZCRX_HAVE_ZAP_VMA_RANGE
static inline void zap_vma_range(struct vm_area_struct *vma,
				 unsigned long addr, unsigned long size)
{
#ifdef ZCRX_HAVE_ZAP_PAGE_RANGE
	zap_page_range(vma, addr, size);
#else
	zap_page_range_single(vma, addr, size, NULL);
#endif
}
#endif

/*
 * 7.x WARNs on alloc_workqueue() with neither WQ_PERCPU nor WQ_UNBOUND;
 * before WQ_PERCPU existed, per-CPU was what no flag meant.
 */
#ifndef ZCRX_HAVE_WQ_PERCPU
#define WQ_PERCPU 0
#endif

/*
 * FOLL_PIN pins of a large folio.  The exact count has no accessor
 * (folio_maybe_dma_pinned() only says "some"); every tested kernel keeps
 * it in folio->_pincount.
 */
static inline long zcrx_folio_pincount(struct folio *folio)
{
	return atomic_read(&folio->_pincount);
}

/*
 * Queue len bytes of the pool (pages[] laid out at PAGE_SIZE steps, starting
 * at byte off) on a stream socket by page reference, honouring O_NONBLOCK
 * of its file; an ioctl reports EPIPE, it never raises SIGPIPE.  Returns
 * the bytes queued, or -errno if none were.
 */
static inline long zcrx_send_pages(struct socket *sock, struct page **pages,
				   u64 off, u32 len)
{
	int flags = MSG_NOSIGNAL |
		    ((sock->file->f_flags & O_NONBLOCK) ? MSG_DONTWAIT : 0);
	u32 done = 0, n, poff;
	long ret = 0;
#ifndef ZCRX_HAVE_KERNEL_SENDPAGE
	struct bio_vec bv[16];
	struct msghdr msg;
	u32 chunk;
	int i;

	while (done < len) {
		chunk = 0;
		for (i = 0; i < ARRAY_SIZE(bv) && done + chunk < len; i++) {
			poff = (off + done + chunk) & ~PAGE_MASK;
			n = min_t(u32, PAGE_SIZE - poff, len - done - chunk);
			bvec_set_page(&bv[i], pages[(off + done + chunk) >> PAGE_SHIFT],
				      n, poff);
			chunk += n;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_flags = MSG_SPLICE_PAGES | flags |
				(done + chunk < len ? MSG_MORE : 0);
		iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, bv, i, chunk);
		ret = sock_sendmsg(sock, &msg);
		if (ret <= 0)
			break;
		done += ret;
		if (ret < chunk)
			break;
	}
#else
	while (done < len) {
		poff = (off + done) & ~PAGE_MASK;
		n = min_t(u32, PAGE_SIZE - poff, len - done);
		ret = kernel_sendpage(sock, pages[(off + done) >> PAGE_SHIFT], poff,
				      n, flags | (done + n < len ? MSG_MORE : 0));
		if (ret <= 0)
			break;
		done += ret;
		if (ret < n)
			break;
	}
#endif
	return done ? done : ret;
}

#endif /* ZCRX_MODULE_COMPAT_H */

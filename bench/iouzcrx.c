// SPDX-License-Identifier: MIT
/*
 * iouzcrx.c - the receiver's io_uring zcrx methods, iouzcrx and
 * iouzcrx-batch: io_uring's zero-copy receive in device-less copy mode
 * (ZCRX_REG_NODEV, Linux 7.1+), the in-kernel rival of zcrx's copy mode.
 *
 * Built only into build/bench/iouzcrx-receiver (with receiver.c and
 * BENCH_IOUZCRX), in the trixie chroot against the 7.x UAPI headers:
 * Debian 12's liburing 2.3 and its 6.1 headers know nothing of zcrx, and
 * trixie's liburing 2.9 has no zcrx calls, so registration and the refill
 * flush are plain io_uring_register() calls with the kernel's structures.
 *
 * Setup (iouzcrx_setup(), before the first accept):
 *   - a ring with IORING_SETUP_DEFER_TASKRUN | SINGLE_ISSUER (zcrx wants
 *     DEFER_TASKRUN) and CQE32 (every RECV_ZC completion carries a struct
 *     io_uring_zcrx_cqe in its second half); the CQ has room for two
 *     completions per area buffer, so it never fills: a data completion
 *     holds its buffer until it is returned;
 *   - an area of POOL_BUFS * POOL_BUF_SIZE bytes (16 MiB, the space every
 *     method gets), anonymous memory the kernel pins; NODEV cuts it into
 *     page-sized buffers (rx_buf_len comes back as the page size);
 *   - a refill ring with one entry per area buffer in user memory
 *     (IORING_MEM_REGION_TYPE_USER), so returning never waits for room;
 *   - IORING_REGISTER_ZCRX_IFQ with ZCRX_REG_NODEV (no if_idx, no queue).
 * Receiving (iouzcrx_run(), iouzcrx_run_batch()): one multishot
 * IORING_OP_RECV_ZC per connection.  With DEFER_TASKRUN the receive runs
 * inside io_uring_enter(): the kernel copies the socket's bytes into free
 * area buffers, one completion per buffer (at most a page each), res =
 * bytes, the big half = the offset in the area.  Each completion's bytes
 * are checked in place and its buffer goes back at once through the
 * refill ring.  iouzcrx waits for 1 completion per io_uring_enter();
 * iouzcrx-batch for 16 or 1 ms (io_uring_submit_and_wait_timeout(), one
 * io_uring_enter() with IORING_ENTER_EXT_ARG).  A completion covers at most
 * a page here, so 16 of them are 64 KiB or less (zcrx-batch's 16 are up to
 * a 64 KiB buffer each).
 *
 * When the refill ring must be flushed: with a net device the page pool
 * consumes the refill ring when it allocates; a NODEV instance has no page
 * pool, and its copies take buffers only from the area's free list
 * (io_alloc_fallback_niov()), so the kernel never reads the refill ring by
 * itself: only ZCRX_CTRL_FLUSH_RQ (IORING_REGISTER_ZCRX_CTRL) moves
 * returned buffers back to the free list (zcrx_flush_rq(), up to the
 * ring's size per call).  Flushing after every batch of completions would
 * add a system call to every wait; flushing only when the area has run dry
 * ends a receive each time: the copy finds no free buffer and the request
 * completes with -ENOMEM (not the -ENOBUFS of provided buffers).  So the
 * loop flushes when a quarter of the area (IOU_FLUSH_DIV) waits in the
 * refill ring, which leaves the kernel three quarters, 12 MiB, less what
 * is in flight, to copy into; and when a receive did end for want of
 * buffers, before it is re-armed.  Each flush is a system call of the loop.
 *
 * Ends: a completion without IORING_CQE_F_MORE ends the request.  res 0 is
 * the end of the stream; -ENOMEM, -ENOBUFS or -ENOSPC (no area buffer, no
 * CQ room) flush and re-arm it, as does a positive res (no such ending is
 * known); any other error fails the run.
 * The extra field of RESULT: cqes (data completions), flushes, rearms,
 * short (receives ended for want of buffers), waits, timeouts (batch:
 * waits that ended at 1 ms), flush_at, bufs and buf_size.
 */
/*
 * The 7.x UAPI first: liburing 2.9's own copy of it (same include guard)
 * lacks zcrx's structures and ZCRX_REG_NODEV.
 */
#include <linux/io_uring.h>
#include <liburing.h>
#include <sys/mman.h>

#include "receiver.h"

#define IOU_SQ_ENTRIES	64		/* >= BENCH_MAX_CONNS re-arms */
#define IOU_BATCH	16		/* iouzcrx-batch: completions per wait, */
#define IOU_BATCH_NS	1000000		/* or 1 ms */
#ifndef IOU_FLUSH_DIV
#define IOU_FLUSH_DIV	4		/* flush at 1/4 of the area returned */
#endif

static struct io_uring ring;
static int ring_up;
static unsigned char *area;
static size_t area_len;
static uint64_t area_token;		/* the area's id, for refill entries */
static unsigned int buf_size, nbufs;	/* area buffers, as the kernel cut it */
static uint32_t zcrx_id;

/* The refill ring: the kernel's head, our tail, the entries. */
static void *rq_mem;
static size_t rq_len;
static unsigned int *rq_khead, *rq_ktail;
static struct io_uring_zcrx_rqe *rqes;
static unsigned int rq_entries, rq_tail;
static unsigned int unflushed, flush_at;

static unsigned long long ncqes, nflush, rearms, nshort, waits, timeouts;

static void *map_anon(size_t len, const char *what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		die(what);
	return p;
}

void iouzcrx_setup(void)
{
	struct io_uring_zcrx_area_reg areg;
	struct io_uring_region_desc rd;
	struct io_uring_zcrx_ifq_reg reg;
	struct io_uring_params p;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int ret;

	area_len = (size_t)POOL_BUFS * POOL_BUF_SIZE;
	/* NODEV buffers are pages: one refill entry and two CQEs each. */
	rq_entries = (unsigned int)(area_len / page);

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
		  IORING_SETUP_CQE32 | IORING_SETUP_CQSIZE;
	p.cq_entries = 2 * rq_entries;
	ret = io_uring_queue_init_params(IOU_SQ_ENTRIES, &ring, &p);
	if (ret)
		fail("io_uring_queue_init (DEFER_TASKRUN|SINGLE_ISSUER|CQE32)", -ret);
	ring_up = 1;

	area = map_anon(area_len, "mmap zcrx area");
	/*
	 * The entries start after a header of head and tail (offsets.rqes,
	 * under a cache line); a page holds it.
	 */
	rq_len = page + (((size_t)rq_entries * sizeof(struct io_uring_zcrx_rqe) +
			  page - 1) & ~(page - 1));
	rq_mem = map_anon(rq_len, "mmap zcrx refill ring");

	memset(&areg, 0, sizeof(areg));
	areg.addr = (uintptr_t)area;
	areg.len = area_len;
	memset(&rd, 0, sizeof(rd));
	rd.user_addr = (uintptr_t)rq_mem;
	rd.size = rq_len;
	rd.flags = IORING_MEM_REGION_TYPE_USER;
	memset(&reg, 0, sizeof(reg));
	reg.flags = ZCRX_REG_NODEV;	/* if_idx, if_rxq: 0, no device */
	reg.rq_entries = rq_entries;
	reg.area_ptr = (uintptr_t)&areg;
	reg.region_ptr = (uintptr_t)&rd;
	ret = io_uring_register(ring.ring_fd, IORING_REGISTER_ZCRX_IFQ, &reg, 1);
	if (ret < 0)
		fail(ret == -EINVAL ?
		     "IORING_REGISTER_ZCRX_IFQ with ZCRX_REG_NODEV (Linux 7.1+ needed)" :
		     "IORING_REGISTER_ZCRX_IFQ with ZCRX_REG_NODEV", -ret);

	zcrx_id = reg.zcrx_id;
	area_token = areg.rq_area_token;
	buf_size = reg.rx_buf_len ? reg.rx_buf_len : (unsigned int)page;
	nbufs = (unsigned int)(area_len / buf_size);
	rq_entries = reg.rq_entries;	/* rounded up to a power of two */
	if (reg.offsets.rqes + (size_t)rq_entries * sizeof(*rqes) > rq_len)
		fail("zcrx refill ring larger than its region", EOVERFLOW);
	rq_khead = (unsigned int *)((char *)rq_mem + reg.offsets.head);
	rq_ktail = (unsigned int *)((char *)rq_mem + reg.offsets.tail);
	rqes = (struct io_uring_zcrx_rqe *)((char *)rq_mem + reg.offsets.rqes);
	rq_tail = 0;
	flush_at = nbufs / IOU_FLUSH_DIV;
}

void iouzcrx_exit(void)
{
	if (ring_up)
		io_uring_queue_exit(&ring);	/* unregisters the ifq, unpins */
	ring_up = 0;
	if (area)
		munmap(area, area_len);
	if (rq_mem)
		munmap(rq_mem, rq_len);
	area = NULL;
	rq_mem = NULL;
}

static void iou_arm(int i)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe) {
		nsys++;
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	/* len 0: no limit; multishot is the only mode RECV_ZC has. */
	io_uring_prep_rw(IORING_OP_RECV_ZC, sqe, conns[i].fd, NULL, 0, 0);
	sqe->ioprio |= IORING_RECV_MULTISHOT;
	sqe->zcrx_ifq_idx = zcrx_id;
	io_uring_sqe_set_data64(sqe, (uint64_t)i);
}

/* Make the refill entries written so far visible to the kernel. */
static void rq_publish(void)
{
	io_uring_smp_store_release(rq_ktail, rq_tail);
}

/* ZCRX_CTRL_FLUSH_RQ: the kernel takes every published refill entry. */
static void rq_flush(void)
{
	struct zcrx_ctrl ctrl;
	int ret;

	rq_publish();
	memset(&ctrl, 0, sizeof(ctrl));
	ctrl.zcrx_id = zcrx_id;
	ctrl.op = ZCRX_CTRL_FLUSH_RQ;
	nsys++;
	nflush++;
	ret = io_uring_register(ring.ring_fd, IORING_REGISTER_ZCRX_CTRL, &ctrl, 0);
	if (ret < 0)
		fail("IORING_REGISTER_ZCRX_CTRL (ZCRX_CTRL_FLUSH_RQ)", -ret);
	if (io_uring_smp_load_acquire(rq_khead) != rq_tail) {
		fprintf(stderr, "receiver: ZCRX_CTRL_FLUSH_RQ left %u of %u refill entries\n",
			rq_tail - io_uring_smp_load_acquire(rq_khead), unflushed);
		exit(1);
	}
	unflushed = 0;
}

/* Give the buffer of a data completion back (visible at rq_publish()). */
static void rq_return(uint64_t off, unsigned int len)
{
	struct io_uring_zcrx_rqe *rqe;

	if (unflushed == rq_entries)	/* cannot happen: one entry per buffer */
		rq_flush();
	rqe = &rqes[rq_tail & (rq_entries - 1)];
	rqe->off = off | area_token;
	rqe->len = len;
	rqe->__pad = 0;
	rq_tail++;
	unflushed++;
}

static void iou_loop(int batch)
{
	int i, ret;

	for (i = 0; i < nconns; i++)
		iou_arm(i);
	while (left) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;
		int short_area = 0;

		if (!io_uring_cq_ready(&ring)) {
			/* Submits pending re-arms too: one io_uring_enter. */
			nsys++;
			waits++;
			if (batch) {
				struct __kernel_timespec ts = { 0, IOU_BATCH_NS };

				ret = io_uring_submit_and_wait_timeout(&ring, &cqe, IOU_BATCH,
								       &ts, NULL);
				if (ret == -ETIME)
					timeouts++;
			} else {
				ret = io_uring_submit_and_wait(&ring, 1);
			}
			if (ret < 0 && ret != -EINTR && ret != -ETIME)
				fail("io_uring_submit_and_wait", -ret);
		} else if (io_uring_sq_ready(&ring)) {
			nsys++;
			io_uring_submit(&ring);
		}
		io_uring_for_each_cqe(&ring, head, cqe) {
			uint64_t ud = cqe->user_data;
			struct conn *c;
			int res = cqe->res;

			n++;
			if (ud >= (uint64_t)nconns)
				fail("completion for no connection", EPROTO);
			c = &conns[ud];
			if (cqe->flags & IORING_CQE_F_MORE) {
				const struct io_uring_zcrx_cqe *rcqe = (const void *)(cqe + 1);
				uint64_t off = rcqe->off & ~IORING_ZCRX_AREA_MASK;

				if (res <= 0)
					fail("RECV_ZC data completion", res ? -res : EPROTO);
				if (off + (unsigned int)res > area_len)
					fail("RECV_ZC completion outside the area", ERANGE);
				ncqes++;
				conn_data(c, area + off, (size_t)res);
				copied += (unsigned int)res;
				rq_return(off, (unsigned int)res);
				continue;
			}
			/* The request ended. */
			if (!res) {
				conn_end(c);
				continue;
			}
			if (res == -ENOMEM || res == -ENOBUFS || res == -ENOSPC) {
				nshort++;
				short_area = 1;
			} else if (res < 0) {
				fail("RECV_ZC", -res);
			}
			if (!c->done) {
				rearms++;
				iou_arm((int)ud);
			}
		}
		io_uring_cq_advance(&ring, n);
		if (unflushed && (short_area || unflushed >= flush_at))
			rq_flush();
		else if (n)
			rq_publish();
	}
	snprintf(extra, sizeof(extra),
		 "cqes=%llu;flushes=%llu;rearms=%llu;short=%llu;waits=%llu;timeouts=%llu;"
		 "flush_at=%u;bufs=%u;buf_size=%u",
		 ncqes, nflush, rearms, nshort, waits, timeouts, flush_at, nbufs, buf_size);
}

void iouzcrx_run(void)
{
	iou_loop(0);
}

void iouzcrx_run_batch(void)
{
	iou_loop(1);
}

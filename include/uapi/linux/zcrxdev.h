/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * zcrxdev.h - user/kernel contract of the zcrx module (/dev/zcrx).
 *
 * Every name here starts with ZCRXDEV_ / zcrxdev_ so that it can never clash
 * with io_uring's zero-copy receive UAPI, which owns the ZCRX_* and zcrx_*
 * names (ZCRX_CTRL_*, ZCRX_REG_*, ZCRX_FEATURE_*, struct zcrx_ctrl, ...).
 *
 * Objects
 * -------
 * Each open file of /dev/zcrx is one context.  ZCRXDEV_IOC_SETUP creates its
 * pool: nr_bufs buffers of buf_size bytes, allocated, zeroed and pinned by
 * the module, plus a completion ring (kernel -> user) and a refill ring
 * (user -> kernel).  The three are mapped with mmap(2) at the offsets and
 * with the exact sizes that setup returns.  The pool can only be mapped
 * shared and read-only (unless set up ZCRXDEV_SETUP_WRITABLE); the rings
 * shared and read-write.
 *
 * Ring protocol
 * -------------
 * Both rings are single-producer/single-consumer arrays of a power-of-two
 * number of entries, indexed by free-running 32-bit counters (the slot of
 * counter i is i & (entries - 1)).  Their header words sit at the offsets
 * given in struct zcrxdev_ring_offsets.
 *
 * Completion ring (CQ): the kernel produces, the process consumes.
 *   kernel:  writes cqes[tail & mask], then store-release(tail)  [CQ-1]
 *   process: load-acquire(tail)                        pairs with [CQ-1]
 *            reads the entries, then store-release(head)          [CQ-2]
 *   kernel:  load-acquire(head) before reusing a slot  pairs with [CQ-2]
 *
 * Refill ring (RQ): the process produces, the kernel consumes.
 *   process: writes rqes[tail & mask], then store-release(tail)  [RQ-1]
 *   kernel:  load-acquire(tail)                        pairs with [RQ-1]
 *            reads the entries, then store-release(head)          [RQ-2]
 *   process: load-acquire(head) before reusing a slot  pairs with [RQ-2]
 *
 * Wakeup (no lost wakeup, no syscall unless needed): when the kernel stops
 * consuming sockets because no buffer is free or the completion ring is
 * full, it sets ZCRXDEV_RING_NEED_WAKEUP in the CQ flags word, executes a
 * full barrier and checks the rings once more [WK-1].  After publishing
 * refill entries or advancing the CQ head, the process executes a full
 * barrier and then reads the flags word [WK-2, pairs with WK-1]; if the
 * flag is set it calls ZCRXDEV_IOC_WAKE once.  Either the kernel sees the
 * new entries or the process sees the flag.
 *
 * Wake threshold: the process may write N to the CQ's wake_min word.  A
 * poll() waiter is then woken, and the fd reported readable, only once N
 * completions are ready (N is clamped to 1..entries / 2; 0 means 1), or
 * sooner if the kernel has set NEED_WAKEUP or has posted an EOF, ERROR or
 * SENT completion the process has not consumed.  In a DEFER (or MAP) pool
 * each arrival of data since the last ZCRXDEV_IOC_RECV counts as one
 * completion towards N (it would have been one without DEFER), and an end
 * of stream, an error, a receive queue past half its socket buffer or a
 * socket resumed after a stall wakes at once.  Fewer wakeups for a batch of
 * small segments, at the price of latency up to the waiter's timeout.
 *
 * The kernel never trusts what the process writes to shared memory: it keeps
 * its own copies of the indices it produces, bounds every index it reads,
 * and checks every refill entry (see struct zcrxdev_rqe).
 *
 * Buffers and completions
 * -----------------------
 * A completion names bytes of one socket's stream: the pool offset and
 * length of the payload and the socket's tag.  Consecutive bytes of one
 * socket fill a buffer before the next buffer is taken, so one buffer can be
 * named by several completions.  Each completion that carries payload
 * (len > 0) must be returned exactly once through the refill ring; a buffer
 * is reused only when every completion naming it has been returned and no
 * socket buffer (skb) still references its pages.  Until then the kernel
 * never writes to it.
 *
 * Mapping window (ZCRXDEV_SETUP_MAP)
 * ---------------------------------
 * A MAP pool also has a window of win_pages pages, mapped read-only at
 * setup's win region.  Completion and refill offsets of window pages
 * continue the pool's: off >= pool.size names window byte off - pool.size,
 * so a process that maps the window right after the pool (libzcrx does)
 * reads every completion at pool_base + off.  The window can be mapped
 * once at a time and never split, moved or inherited by fork(); pages in
 * it are the kernel's network pages, held until they are returned and
 * unmapped.  Payload that is not whole pages, runs shorter than
 * map_threshold and anything arriving while the window is full are copied
 * into the pool as usual.
 *
 * Errors (ioctl returns -1 and sets errno)
 *   EINVAL      unknown flag bit, non-zero reserved field, bad size or
 *               count,
 *               win_pages without ZCRXDEV_SETUP_MAP or above WIN_PAGES_MAX
 *   E2BIG       pool larger than ZCRXDEV_POOL_MAX_BYTES
 *   ENOMEM      allocation failed or RLIMIT_MEMLOCK exceeded
 *   EEXIST      setup on a context that already has a pool
 *   ENXIO       command needs a pool and the context has none yet
 *   EBADF       attach/detach: fd is not an open file
 *   ENOTSOCK    attach/detach: fd is not a socket
 *   EPROTONOSUPPORT attach: not a TCP socket (IPv4 or IPv6)
 *   ENOTCONN    attach: socket not connected (listening, closed, ...)
 *   EBUSY       attach: socket already attached (to any pool) or used by
 *               another in-kernel consumer (sockmap, kTLS, ...)
 *   ENOENT      detach: socket not attached to this pool
 *   EFAULT      claim: the offsets array is not writable (nothing is
 *               claimed then)
 *   ENOBUFS     claim: no free buffer right now;
 *               send: a CQ's worth of sends await their SENT
 *               completions: consume some, then send again
 *   EPERM       send: the range is not inside buffers the process holds
 *   ENOTTY      unknown ioctl command
 *   mmap: EINVAL wrong offset or length, MAP_PRIVATE;
 *         EACCES PROT_WRITE on the pool (without WRITABLE) or window;
 *         EBUSY  the window is mapped already;  ENXIO before setup.
 */
#ifndef _UAPI_LINUX_ZCRXDEV_H
#define _UAPI_LINUX_ZCRXDEV_H

#include <linux/types.h>
#include <linux/ioctl.h>

/*
 * The header's version, for code compiled against it: MINOR grows when
 * names are added (0.2: SETUP_DEFER, RECV_WAIT and their FEAT_ bits).  At
 * run time ask the module instead: setup returns its ZCRXDEV_FEAT_* bits.
 */
#define ZCRXDEV_VERSION_MAJOR	0
#define ZCRXDEV_VERSION_MINOR	2

/* ioctl magic: 0xBA, numbers 0x00-0x1f (unused in ioctl-number.rst). */
#define ZCRXDEV_IOC_MAGIC	0xBA

#define ZCRXDEV_BUF_SIZE_MIN	4096u
#define ZCRXDEV_BUF_SIZE_MAX	65536u
#define ZCRXDEV_RING_MIN	8u
#define ZCRXDEV_RING_MAX	32768u
#define ZCRXDEV_POOL_MAX_BYTES	(1ull << 32)

/* Where a region is mapped: pass offset and size to mmap() unchanged. */
struct zcrxdev_region {
	__u64	offset;
	__u64	size;
};

/* Byte offsets of a ring's fields from the start of its mapping. */
struct zcrxdev_ring_offsets {
	__u32	head;
	__u32	tail;
	__u32	flags;
	__u32	entries;	/* first entry of the array */
	__u32	wake_min;	/* CQ: wake threshold, written by the process */
	__u32	resv[3];
};

/* Bits of the CQ ring's flags word (written by the kernel only). */
#define ZCRXDEV_RING_NEED_WAKEUP	(1u << 0)
/* DEFER (and MAP) pools: a socket has bytes for ZCRXDEV_IOC_RECV to place. */
#define ZCRXDEV_RING_DATA_READY		(1u << 1)

/* ZCRXDEV_IOC_SETUP */
struct zcrxdev_setup {
	/* in */
	__u32	flags;		/* ZCRXDEV_SETUP_* */
	__u32	buf_size;	/* power of two, BUF_SIZE_MIN..BUF_SIZE_MAX */
	__u32	nr_bufs;	/* >= 1 */
	__u32	cq_entries;	/* in: wanted (0: default); out: granted */
	__u32	rq_entries;	/* in: wanted (0: default); out: granted */
	__u32	win_pages;	/* in: window pages (SETUP_MAP only; 0: default) */
	__u64	resv1[4];	/* must be 0 */
	/* out */
	struct zcrxdev_region		pool;
	struct zcrxdev_region		cq;
	struct zcrxdev_region		rq;
	struct zcrxdev_ring_offsets	cq_off;
	struct zcrxdev_ring_offsets	rq_off;
	__u32	features;	/* ZCRXDEV_FEAT_* */
	__u32	map_threshold;	/* bytes: shortest run of whole pages mapped */
	struct zcrxdev_region		win;	/* mapping window (size 0: none) */
	__u64	resv3[2];
};

/*
 * Setup flags.  WRITABLE: the pool may also be mapped PROT_WRITE (needed to
 * register it as io_uring fixed buffers, which pins with write access, or
 * to fill buffers in place).  The kernel still only writes into buffers it
 * owns; what the process writes into a buffer it holds is its own business.
 */
#define ZCRXDEV_SETUP_WRITABLE		(1u << 0)
/*
 * MAP: payload is placed by ZCRXDEV_IOC_RECV in the caller's context, not
 * as it arrives, and whole, page-aligned pages of the socket's payload are
 * mapped read-only into the window instead of being copied, when a run of
 * them is at least map_threshold bytes long (the module's default, from
 * docs/benchmarks.md).  MAP_ALWAYS: the same, mapping every such page.
 */
#define ZCRXDEV_SETUP_MAP		(1u << 1)
#define ZCRXDEV_SETUP_MAP_ALWAYS	(1u << 2)
/*
 * DEFER: payload is placed (copied into the pool) by ZCRXDEV_IOC_RECV in
 * the caller's context instead of in the softirq that receives it, the way
 * io_uring's DEFER_TASKRUN runs its receive work inside io_uring_enter().
 * The softirq only marks the socket ready (DATA_READY) and wakes a poll()
 * waiter; one RECV then places every ready socket's queued bytes in one
 * pass, a buffer's worth per completion.  Nothing is placed until the
 * process calls RECV (zcrx_wait() does): a process that busy-polls the
 * completion ring without system calls wants the softirq placement of a
 * pool without DEFER.  MAP and MAP_ALWAYS imply DEFER; setup returns the
 * flags in effect.
 */
#define ZCRXDEV_SETUP_DEFER		(1u << 3)
#define ZCRXDEV_SETUP_FLAGS		(ZCRXDEV_SETUP_WRITABLE | \
					 ZCRXDEV_SETUP_MAP | \
					 ZCRXDEV_SETUP_MAP_ALWAYS | \
					 ZCRXDEV_SETUP_DEFER)
#define ZCRXDEV_WIN_PAGES_MAX		(1u << 20)

#define ZCRXDEV_FEAT_ZEROCOPY_POOL_PAGES	(1u << 0)
#define ZCRXDEV_FEAT_MAP			(1u << 1)
#define ZCRXDEV_FEAT_DEFER			(1u << 2)
#define ZCRXDEV_FEAT_RECV_WAIT			(1u << 3)

/* ZCRXDEV_IOC_ATTACH: start receiving a connected TCP socket into the pool. */
struct zcrxdev_attach {
	__s32	fd;		/* the socket */
	__u32	flags;		/* must be 0 */
	__u64	tag;		/* copied into every completion of this socket */
	__u64	resv[2];	/* must be 0 */
};

/* ZCRXDEV_IOC_DETACH: stop; bytes not yet placed stay in the socket. */
struct zcrxdev_detach {
	__s32	fd;
	__u32	flags;		/* must be 0 */
	__u64	resv[2];	/* must be 0 */
};

/* ZCRXDEV_IOC_STATS: counters of this context's pool since setup. */
struct zcrxdev_stats {
	__u32	flags;		/* in: must be 0 */
	__u32	resv0;
	__u64	bytes_copied;	/* payload the module copied into the pool */
	__u64	bytes_zerocopy;	/* payload that arrived in pool pages */
	__u64	completions;	/* completions posted (payload, EOF, error) */
	__u64	stalls;		/* a socket stopped for want of buffers/CQ */
	__u64	refill_entries;	/* good refill entries consumed */
	__u64	refill_bad;	/* refill entries skipped as invalid */
	__u64	sockets_attached;	/* attached now */
	__u64	sockets_total;		/* attached since setup */
	__u64	eof;		/* end-of-stream completions */
	__u64	errors;		/* error completions */
	__u64	wakeups;	/* ZCRXDEV_IOC_WAKE calls */
	__u64	bufs_free;	/* buffers free now */
	__u64	bufs_pending;	/* returned, waiting for skbs to let go */
	__u64	bytes_sent;	/* sent from the pool by page reference */
	__u64	bytes_mapped;	/* part of bytes_zerocopy: mapped in the window */
	__u64	map_fallbacks;	/* mappable runs copied: window full, ... */
	__u64	zap_calls;	/* window unmaps, one TLB flush each */
	__u64	pages_zapped;	/* window pages unmapped after return */
	__u64	recv_calls;	/* ZCRXDEV_IOC_RECV calls */
	__u64	resv[13];
};

/*
 * ZCRXDEV_IOC_CLAIM: take up to count free buffers, to fill (writable pool)
 * and send.  Their offsets are written to the __u64 array at offs.  A
 * claimed buffer is held like a completion: return it once through the
 * refill ring.  Returns the number of buffers claimed (>= 1) or -ENOBUFS.
 */
struct zcrxdev_claim {
	__u32	flags;		/* must be 0 */
	__u32	count;		/* 1..ZCRXDEV_CLAIM_MAX */
	__u64	offs;		/* user address of __u64[count] */
	__u64	resv[2];	/* must be 0 */
};

#define ZCRXDEV_CLAIM_MAX	1024u

/*
 * ZCRXDEV_IOC_SEND: queue len pool bytes at off on the TCP socket fd by page
 * reference (no copy), like send() with the socket's blocking mode.  The
 * bytes must lie in buffers the process holds.  Returns the number of
 * bytes queued.  When the network stack has dropped every reference to
 * them, a completion with ZCRXDEV_CQE_SENT, this tag and the queued range
 * says they may be rewritten; until then they must not be.  A buffer the
 * process returns earlier is only reused once those references are gone.
 * Pool pages are compound pages, which no receiver maps into its page
 * tables: a local receiver (TCP_ZEROCOPY_RECEIVE, another pool's window)
 * gets a copy, made when it reads, so nothing the sender writes later can
 * change what it was given.  Only a socket attached to the same pool
 * receives the pages themselves (completed in place, ZEROCOPY).
 */
struct zcrxdev_send {
	__s32	fd;
	__u32	flags;		/* must be 0 */
	__u64	off;
	__u32	len;
	__u32	resv0;		/* must be 0 */
	__u64	tag;		/* echoed by the SENT completion */
	__u64	resv[2];	/* must be 0 */
};

/*
 * ZCRXDEV_IOC_RECV: place what the attached sockets of a DEFER (or MAP)
 * pool hold, in the caller's context (page tables can only change there).
 * Also does what ZCRXDEV_IOC_WAKE does, and unmaps returned window pages
 * in batches.  Only a process that has the window mapped maps pages; for
 * any other caller, and for pools without MAP, every byte is copied.
 * Returns the number of completions posted.
 *
 * With ZCRXDEV_RECV_WAIT it first sleeps, as poll() would, until the wake
 * threshold is reached (see "Wake threshold") or timeout_us microseconds
 * pass (U32_MAX: no limit), then places: one system call per batch, the
 * way io_uring_enter() waits and runs its task work.  A wake whose placing
 * posts nothing (the buffers were still held elsewhere, see PENDING) sleeps
 * again within the same timeout, unless the threshold still holds.  -ETIME
 * if the time passed and nothing was posted, -EINTR if a signal came first
 * (nothing is placed then).  Without the flag timeout_us must be 0.
 */
struct zcrxdev_recv {
	__u32	flags;		/* ZCRXDEV_RECV_* */
	__u32	timeout_us;	/* RECV_WAIT: longest sleep; else 0 */
	__u64	resv[2];	/* must be 0 */
};

#define ZCRXDEV_RECV_WAIT	(1u << 0)
#define ZCRXDEV_RECV_FLAGS	ZCRXDEV_RECV_WAIT

/*
 * ZCRXDEV_IOC_PINS: the process holds count long-term pins on every pool
 * page: count io_uring fixed-buffer registrations of the whole pool (set
 * it after registering, back to 0 after unregistering).  Up to count pins
 * per page then no longer keep a returned buffer PENDING; more pins (an
 * O_DIRECT write in flight) and every other reference still do.  Declaring
 * pins the process does not hold only lets its own buffers be reused under
 * its own pinned I/O.
 */
struct zcrxdev_pins {
	__u32	flags;		/* must be 0 */
	__u32	count;		/* 0..ZCRXDEV_PINS_MAX */
	__u64	resv[2];	/* must be 0 */
};

#define ZCRXDEV_PINS_MAX	64u

/*
 * Completion entry.  Payload: len > 0 bytes at pool offset off, flagged
 * COPIED (the module copied them) or ZEROCOPY (they arrived in pool pages
 * and were not copied).  End of stream: EOF, len 0.  Error: ERROR, len 0,
 * error = positive errno.  After EOF or ERROR the socket is detached.
 * SENT: tag is a ZCRXDEV_IOC_SEND's, off/len its range; nothing to return.
 */
struct zcrxdev_cqe {
	__u64	tag;
	__u64	off;
	__u32	len;
	__u32	flags;
	__s32	error;
	__u32	resv;
};

#define ZCRXDEV_CQE_COPIED	(1u << 0)
#define ZCRXDEV_CQE_ZEROCOPY	(1u << 1)
#define ZCRXDEV_CQE_EOF		(1u << 2)
#define ZCRXDEV_CQE_ERROR	(1u << 3)
#define ZCRXDEV_CQE_SENT	(1u << 4)	/* a SEND's pages are free again */
#define ZCRXDEV_CQE_MAPPED	(1u << 5)	/* with ZEROCOPY: in the window */

/*
 * Refill entry: returns one completion's reference on its buffer.  off is
 * the completion's off rounded down to a multiple of buf_size; for a
 * MAPPED completion it is the completion's off itself, which returns all
 * of its window pages.  An entry whose off is past the pool and window,
 * not a multiple of buf_size (pool) or not a MAPPED completion's start
 * (window), names nothing outstanding, or has non-zero flags/resv is
 * skipped and counted in refill_bad.
 */
struct zcrxdev_rqe {
	__u64	off;
	__u32	flags;		/* must be 0 */
	__u32	resv;		/* must be 0 */
};

#define ZCRXDEV_IOC_SETUP	_IOWR(ZCRXDEV_IOC_MAGIC, 0x01, struct zcrxdev_setup)
#define ZCRXDEV_IOC_ATTACH	_IOWR(ZCRXDEV_IOC_MAGIC, 0x02, struct zcrxdev_attach)
#define ZCRXDEV_IOC_DETACH	_IOWR(ZCRXDEV_IOC_MAGIC, 0x03, struct zcrxdev_detach)
#define ZCRXDEV_IOC_WAKE	_IO(ZCRXDEV_IOC_MAGIC, 0x04)
#define ZCRXDEV_IOC_STATS	_IOWR(ZCRXDEV_IOC_MAGIC, 0x05, struct zcrxdev_stats)
#define ZCRXDEV_IOC_CLAIM	_IOWR(ZCRXDEV_IOC_MAGIC, 0x06, struct zcrxdev_claim)
#define ZCRXDEV_IOC_SEND	_IOWR(ZCRXDEV_IOC_MAGIC, 0x07, struct zcrxdev_send)
#define ZCRXDEV_IOC_RECV	_IOWR(ZCRXDEV_IOC_MAGIC, 0x08, struct zcrxdev_recv)
#define ZCRXDEV_IOC_PINS	_IOWR(ZCRXDEV_IOC_MAGIC, 0x09, struct zcrxdev_pins)

#endif /* _UAPI_LINUX_ZCRXDEV_H */

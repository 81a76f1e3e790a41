/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zcrx rings, kernel side (ring.c): the completion ring the kernel
 * produces and the refill ring it consumes, as indices over memory that
 * mem.c provides.  Nothing here needs more than types, atomics and a
 * lock, so tests/unit builds ring.c on the host against libzcrx.
 */
#ifndef ZCRX_MODULE_RING_H
#define ZCRX_MODULE_RING_H

#include <linux/spinlock.h>
#include <linux/types.h>

#include <linux/zcrxdev.h>

/* Layout of a ring mapping: one cache line per index word. */
#define ZCRX_RING_HEAD		0
#define ZCRX_RING_TAIL		64
#define ZCRX_RING_FLAGS		128
#define ZCRX_RING_WAKE_MIN	192
#define ZCRX_RING_ENTRIES	256

/*
 * One ring.  The shared words are the process's too: they are only ever
 * written (CQ tail, flags; RQ head) or read once and bounded (CQ head and
 * wake_min; RQ tail and entries).  Everything else is the kernel's own,
 * under *lock (the pool's lock).
 */
struct zcrx_ring {
	u32			*head;		/* in shared memory */
	u32			*tail;
	u32			*flags;
	u32			*wake_min;	/* CQ: written by the process */
	void			*array;
	u32			entries;
	u32			mask;
	spinlock_t		*lock;		/* protects the fields below */
	struct zcrxdev_stats	*stats;		/* CQ: counted per completion */
	u32			prod;		/* CQ: tail; RQ: head (kernel's copy) */
	u32			reserved;	/* CQ: slots promised mid-segment */
	u32			urgent;		/* CQ: tail after the last EOF/ERROR/SENT */
	u32			kflags;		/* CQ: kernel's copy of the flags word */
	u32			arrivals;	/* CQ: data arrivals since DATA_READY */
};

/* One refill entry, each field read once from shared memory. */
struct zcrx_rqe {
	u64	off;
	u32	flags;
	u32	resv;
};

/* Ring geometry. */
u32 zcrx_ring_entries(u32 want, u32 dflt);
size_t zcrx_ring_used_bytes(u32 entries, size_t entry_size);
void zcrx_ring_offsets(struct zcrxdev_ring_offsets *o, bool cq);
void zcrx_ring_init(struct zcrx_ring *r, void *mem, u32 entries,
		    spinlock_t *lock, struct zcrxdev_stats *stats);

/* Completion ring, lock held. */
u32 zcrx_ring_cq_space_locked(struct zcrx_ring *r);
void zcrx_ring_cq_reserve_locked(struct zcrx_ring *r);
void zcrx_ring_cq_unreserve_locked(struct zcrx_ring *r);
void zcrx_ring_cq_post_locked(struct zcrx_ring *r, u64 tag, u64 off, u32 len,
			      u32 flags, s32 error);
void zcrx_ring_cq_flags_locked(struct zcrx_ring *r, u32 set, u32 clear);
void zcrx_ring_cq_need_wakeup_locked(struct zcrx_ring *r);
void zcrx_ring_cq_data_ready_locked(struct zcrx_ring *r, bool urgent);
void zcrx_ring_cq_data_taken_locked(struct zcrx_ring *r);
/* No lock: is there enough for a waiter? */
bool zcrx_ring_cq_wake_ready(struct zcrx_ring *r);

/* Refill ring, lock held. */
u32 zcrx_ring_rq_avail_locked(struct zcrx_ring *r);
void zcrx_ring_rq_read_locked(struct zcrx_ring *r, u32 i, struct zcrx_rqe *e);
void zcrx_ring_rq_consume_locked(struct zcrx_ring *r, u32 n);

#endif /* ZCRX_MODULE_RING_H */

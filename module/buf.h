/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zcrx buffers (buf.c): the state of every pool buffer, the free stack and
 * the pending list.  Like ring.c, buf.c needs no more than types, a lock
 * and mem.c's busy rule, so tests/unit builds it on the host.
 */
#ifndef ZCRX_MODULE_BUF_H
#define ZCRX_MODULE_BUF_H

#include <linux/spinlock.h>
#include <linux/types.h>

#define ZCRX_NO_BUF		U32_MAX

struct zcrx_mem;

enum zcrx_buf_state {
	ZCRX_BUF_FREE,		/* on the free stack */
	ZCRX_BUF_INUSE,		/* filling, or named by completions */
	ZCRX_BUF_PENDING,	/* returned, an skb or pin still holds a page */
};

/* Per-buffer bookkeeping. */
struct zcrx_buf {
	u64	gen;		/* bumped each time the buffer is recycled */
	u32	user_refs;	/* completions handed out, not yet returned */
	u32	pend_idx;	/* PENDING: its index in pending[] */
	u32	sending;	/* ZCRXDEV_IOC_SEND calls using it right now */
	u8	state;		/* enum zcrx_buf_state */
	u8	kopen;		/* a socket is placing bytes into it now */
	u8	claiming;	/* CLAIM is telling the process its offset */
};

/* All buffers of a pool; every field but the first five under *lock. */
struct zcrx_bufs {
	u32			nr;
	u32			size;		/* bytes per buffer, a power of two */
	u32			shift;		/* log2(size) */
	struct zcrx_mem		*mem;		/* whose pages the buffers are */
	spinlock_t		*lock;		/* the pool's lock */
	struct zcrx_buf		*b;
	u32			*free_stack;
	u32			nr_free;
	u32			*pending;
	u32			nr_pending;
	u32			pending_next;	/* where the next scan starts */
};

int zcrx_buf_alloc(struct zcrx_bufs *bb, u32 nr, u32 shift,
		   struct zcrx_mem *mem, spinlock_t *lock);
void zcrx_buf_free(struct zcrx_bufs *bb);

/* Lock held. */
u32 zcrx_buf_take_locked(struct zcrx_bufs *bb, bool *pended);
u32 zcrx_buf_scan_pending_locked(struct zcrx_bufs *bb);
void zcrx_buf_maybe_recycle_locked(struct zcrx_bufs *bb, u32 b);
bool zcrx_buf_return_locked(struct zcrx_bufs *bb, u64 off);
bool zcrx_buf_may_reopen_locked(struct zcrx_bufs *bb, u32 b, u64 gen, u32 fill);
void zcrx_buf_open_locked(struct zcrx_bufs *bb, u32 b);
u64 zcrx_buf_close_locked(struct zcrx_bufs *bb, u32 b);
void zcrx_buf_get_locked(struct zcrx_bufs *bb, u32 b);
bool zcrx_buf_zc_ok_locked(struct zcrx_bufs *bb, u32 b);
void zcrx_buf_get_zc_locked(struct zcrx_bufs *bb, u32 b);
void zcrx_buf_claim_locked(struct zcrx_bufs *bb, u32 b);
void zcrx_buf_claimed_locked(struct zcrx_bufs *bb, u32 b, bool handed_out);
bool zcrx_buf_send_hold_locked(struct zcrx_bufs *bb, u32 first, u32 last);
void zcrx_buf_send_drop_locked(struct zcrx_bufs *bb, u32 first, u32 last);

#endif /* ZCRX_MODULE_BUF_H */

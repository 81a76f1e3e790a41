/* SPDX-License-Identifier: MIT */
/*
 * libzcrx - userspace side of the zcrx module, in the style of liburing.
 *
 * Functions return 0 (or a count) on success and -errno on failure; they
 * never set errno (zcrx_strerror() explains the value).  The ring helpers
 * are inline: the steady state of a receiver makes no system call at all.
 *
 * ABI: the library's SONAME is libzcrx.so.0; every exported function has
 * the version node of the release that added it (lib/libzcrx.map).  Names
 * starting with "__" are exported for the inline helpers only.  struct zcrx
 * and struct zcrx_params end in reserved space, so that later releases add
 * fields without changing their size.
 *
 *	struct zcrx z;
 *	struct zcrx_params p = { .nr_bufs = 1024, .buf_size = 16384 };
 *	zcrx_init(&z, &p);
 *	zcrx_attach(&z, sockfd, tag);
 *	for (;;) {
 *		struct zcrxdev_cqe *cqe;
 *		unsigned int head, n = 0;
 *
 *		zcrx_wait(&z, -1);
 *		zcrx_for_each_cqe(&z, head, cqe) {
 *			consume(cqe->tag, zcrx_cqe_data(&z, cqe), cqe->len);
 *			zcrx_return_cqe(&z, cqe);
 *			n++;
 *		}
 *		zcrx_cq_advance(&z, n);
 *		zcrx_rq_commit(&z);
 *	}
 */
#ifndef LIBZCRX_ZCRX_H
#define LIBZCRX_ZCRX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* The UAPI header, installed under zcrx/ to stay clear of linux-libc-dev. */
#include <zcrx/zcrxdev.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZCRX_API __attribute__((visibility("default")))

struct zcrx_cq {
	unsigned int		*khead;
	unsigned int		*ktail;
	unsigned int		*kflags;
	unsigned int		*kwake_min;	/* written by us: wake threshold */
	struct zcrxdev_cqe	*cqes;
	unsigned int		mask;
	unsigned int		entries;
	void			*map;
	size_t			map_size;
};

struct zcrx_rq {
	unsigned int		*khead;
	unsigned int		*ktail;
	struct zcrxdev_rqe	*rqes;
	unsigned int		mask;
	unsigned int		entries;
	unsigned int		tail;		/* local, published by commit */
	unsigned int		cached_head;
	void			*map;
	size_t			map_size;
	/* RQ tail and CQ head at the last wake: a wake without news is moot. */
	unsigned int		woken_tail;
	unsigned int		woken_cq_head;
};

struct zcrx {
	int			fd;
	unsigned int		flags;
	unsigned int		buf_size;
	unsigned int		nr_bufs;
	unsigned char		*pool;		/* pool, then the window (MAP) */
	size_t			pool_size;
	struct zcrx_cq		cq;
	struct zcrx_rq		rq;
	unsigned int		features;
	unsigned int		win_pages;	/* window pages, 0 without MAP */
	unsigned int		win_returned;	/* window returns since RECV */
	/* Reserved for the library: 256 bytes in all on 64-bit (LP64). */
	unsigned int		__resv1;
	uint64_t		__resv[10];
};

struct zcrx_params {
	unsigned int	nr_bufs;	/* required */
	unsigned int	buf_size;	/* 0: 4096 */
	unsigned int	cq_entries;	/* 0: kernel default */
	unsigned int	rq_entries;	/* 0: kernel default */
	unsigned int	flags;		/* ZCRXDEV_SETUP_*: WRITABLE maps the pool RW,
					 * MAP / MAP_ALWAYS map whole pages,
					 * DEFER places in zcrx_wait()/zcrx_recv() */
	unsigned int	win_pages;	/* MAP: window pages (0: kernel default) */
	const char	*device;	/* NULL: "/dev/zcrx" */
	/*
	 * Must be zero (zcrx_init() fails with -EINVAL otherwise): initialise
	 * the whole struct, as "= { .nr_bufs = ... }" does.  64 bytes in all
	 * on 64-bit (LP64).
	 */
	unsigned int	resv[8];
};

/* Open the device, create the pool, map pool and rings. */
ZCRX_API int zcrx_init(struct zcrx *z, const struct zcrx_params *p);
/*
 * A message for a libzcrx error (-errno, or errno): for the errors that
 * setting up a pool fails with, what to do about it ("modprobe zcrx",
 * "ulimit -l", ...); for others, strerror(err).  Never NULL.
 */
ZCRX_API const char *zcrx_strerror(int err);
/* Unmap and close; every attached socket is detached by the kernel. */
ZCRX_API void zcrx_exit(struct zcrx *z);

ZCRX_API int zcrx_attach(struct zcrx *z, int sockfd, uint64_t tag);
ZCRX_API int zcrx_detach(struct zcrx *z, int sockfd);
ZCRX_API int zcrx_stats(struct zcrx *z, struct zcrxdev_stats *st);
/*
 * Take up to n free buffers (their offsets go to offs[]) to fill and send;
 * each is returned like a completion.  Returns the count or -errno.
 */
ZCRX_API int zcrx_claim(struct zcrx *z, uint64_t *offs, unsigned int n);
/*
 * Queue len pool bytes at off on sockfd by page reference.  Returns the
 * bytes queued or -errno; a ZCRXDEV_CQE_SENT completion with this tag
 * follows once the stack has let go of them.
 */
ZCRX_API long zcrx_send(struct zcrx *z, int sockfd, uint64_t off, uint32_t len,
			uint64_t tag);
/*
 * Declare count long-term pins on every pool page (count io_uring
 * fixed-buffer registrations of the pool; 0 after unregistering), so that
 * returned buffers are reused despite them.  0 or -errno.
 */
ZCRX_API int zcrx_declare_pins(struct zcrx *z, unsigned int count);
/* Ask the kernel to take refills and resume stalled sockets (one ioctl). */
ZCRX_API int zcrx_wake(struct zcrx *z);
/*
 * MAP pools: publish queued returns and have the kernel place what the
 * sockets hold, mapping whole pages (one ioctl).  Returns the number of
 * completions posted or -errno.  zcrx_wait() calls it when needed.
 */
ZCRX_API int zcrx_recv(struct zcrx *z);
/*
 * Wait until at least one completion is ready or timeout_ms passes
 * (-1: forever).  Returns the number ready, -ETIME or -EINTR.
 */
ZCRX_API int zcrx_wait(struct zcrx *z, int timeout_ms);
/*
 * The same, but sleep until nr completions are ready (the kernel wakes us
 * only then: fewer wakeups for small segments), or an end, error or SENT
 * notice arrives, or timeout_ms passes; then return what is ready.
 */
ZCRX_API int zcrx_wait_nr(struct zcrx *z, unsigned int nr, int timeout_ms);

/* Memory-model primitives: the pairs are documented in zcrx/zcrxdev.h. */
#define zcrx_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define zcrx_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define zcrx_smp_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)

/* Completions ready to be read. */
static inline unsigned int zcrx_cq_ready(const struct zcrx *z)
{
	/* [CQ-1]: entries before tail are written. */
	return zcrx_load_acquire(z->cq.ktail) - *z->cq.khead;
}

static inline struct zcrxdev_cqe *zcrx_peek_cqe(const struct zcrx *z)
{
	unsigned int head = *z->cq.khead;

	if (zcrx_load_acquire(z->cq.ktail) == head)
		return NULL;
	return &z->cq.cqes[head & z->cq.mask];
}

/* Iterate ready completions without consuming them; then zcrx_cq_advance. */
#define zcrx_for_each_cqe(z, head, cqe)					\
	for ((head) = *(z)->cq.khead;					\
	     ((cqe) = ((head) != zcrx_load_acquire((z)->cq.ktail) ?	\
		       &(z)->cq.cqes[(head) & (z)->cq.mask] : NULL));	\
	     (head)++)

static inline bool zcrx_need_wakeup(const struct zcrx *z)
{
	return __atomic_load_n(z->cq.kflags, __ATOMIC_RELAXED) &
	       ZCRXDEV_RING_NEED_WAKEUP;
}

/* DEFER and MAP pools: sockets hold bytes that only zcrx_recv() places. */
static inline bool zcrx_data_ready(const struct zcrx *z)
{
	return __atomic_load_n(z->cq.kflags, __ATOMIC_RELAXED) &
	       ZCRXDEV_RING_DATA_READY;
}

/*
 * The kernel waits for buffers or CQ space, and the process has given it
 * something new since its last wake call.  If nothing is new, the kernel
 * already saw all of it and waits on something else (skbs letting go of
 * pages), which its own tick watches: another wake would only spin.
 */
static inline bool __zcrx_wake_useful(const struct zcrx *z)
{
	return zcrx_need_wakeup(z) &&
	       (z->rq.tail != z->rq.woken_tail ||
		*z->cq.khead != z->rq.woken_cq_head);
}

/*
 * Consume n completions: their slots may be reused by the kernel.  A kernel
 * stalled on a full completion ring learns about the space only through
 * zcrx_rq_commit() or zcrx_wait(), which check NEED_WAKEUP: call one of
 * them after advancing (the usual loop does) before sleeping elsewhere.
 */
static inline void zcrx_cq_advance(struct zcrx *z, unsigned int n)
{
	if (!n)
		return;
	/* [CQ-2]: our reads of the entries happen before the kernel reuses them. */
	zcrx_store_release(z->cq.khead, *z->cq.khead + n);
}

/* Payload of a completion, in the pool or (MAPPED) in the window after it. */
static inline const void *zcrx_cqe_data(const struct zcrx *z,
					const struct zcrxdev_cqe *cqe)
{
	return z->pool + cqe->off;
}

/*
 * Refill slots the process can queue before it must commit: a lower bound,
 * as the kernel's head is re-read only when the ring looks full.
 */
static inline unsigned int zcrx_rq_space(struct zcrx *z)
{
	unsigned int used = z->rq.tail - z->rq.cached_head;

	if (used == z->rq.entries) {
		/* [RQ-2]: the kernel is done with the slots before head. */
		z->rq.cached_head = zcrx_load_acquire(z->rq.khead);
		used = z->rq.tail - z->rq.cached_head;
	}
	return z->rq.entries - used;
}

/*
 * Queue the return of one completion's buffer reference.  Completions
 * without payload (EOF, error) and SENT notices have nothing to return.  When the refill
 * ring is full, commit and ask the kernel to drain it (one ioctl).
 * Returns 0 or -errno.
 */
ZCRX_API int __zcrx_return_slow(struct zcrx *z, const struct zcrxdev_cqe *cqe);

static inline int zcrx_return_cqe(struct zcrx *z, const struct zcrxdev_cqe *cqe)
{
	struct zcrxdev_rqe *rqe;

	if (!cqe->len || (cqe->flags & ZCRXDEV_CQE_SENT))
		return 0;
	if (!zcrx_rq_space(z))
		return __zcrx_return_slow(z, cqe);
	rqe = &z->rq.rqes[z->rq.tail & z->rq.mask];
	if (cqe->flags & ZCRXDEV_CQE_MAPPED) {
		/* All the completion's window pages, unmapped by a later recv. */
		rqe->off = cqe->off;
		z->win_returned++;
	} else {
		rqe->off = cqe->off & ~(uint64_t)(z->buf_size - 1);
	}
	rqe->flags = 0;
	rqe->resv = 0;
	z->rq.tail++;
	return 0;
}

/*
 * Publish queued returns with one release store, then wake the kernel only
 * if it said it is waiting.  Returns 1 if it made the wake call, 0 if not,
 * or -errno.
 */
static inline int zcrx_rq_commit(struct zcrx *z)
{
	int ret;

	/* [RQ-1]: the entries are visible before the new tail. */
	zcrx_store_release(z->rq.ktail, z->rq.tail);
	/* [WK-2] pairs with [WK-1] in the kernel's stall path. */
	zcrx_smp_mb();
	if (!__zcrx_wake_useful(z))
		return 0;
	ret = zcrx_wake(z);
	return ret < 0 ? ret : 1;
}

#ifdef __cplusplus
}
#endif

#endif /* LIBZCRX_ZCRX_H */

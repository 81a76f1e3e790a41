// SPDX-License-Identifier: MIT
/*
 * libzcrx: setup, mapping, attach/detach, waiting and statistics.
 * The per-completion ring helpers are inline in zcrx.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "zcrx.h"

#define ZCRX_DEFAULT_DEVICE	"/dev/zcrx"

static int zcrx_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, cmd, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

static void *zcrx_map(int fd, const struct zcrxdev_region *r, int prot)
{
	return mmap(NULL, r->size, prot, MAP_SHARED | MAP_POPULATE, fd,
		    (off_t)r->offset);
}

static void zcrx_unmap_all(struct zcrx *z)
{
	if (z->pool)
		munmap(z->pool, z->pool_size +
		       (size_t)z->win_pages * (size_t)sysconf(_SC_PAGESIZE));
	if (z->cq.map)
		munmap(z->cq.map, z->cq.map_size);
	if (z->rq.map)
		munmap(z->rq.map, z->rq.map_size);
	z->pool = NULL;
	z->cq.map = NULL;
	z->rq.map = NULL;
}

/*
 * Pool and window in one stretch of address space, so that every
 * completion's bytes are at pool + off: reserve it, then map both into it.
 */
static int zcrx_map_pool(struct zcrx *z, const struct zcrxdev_setup *s)
{
	int prot = (s->flags & ZCRXDEV_SETUP_WRITABLE) ?
		   PROT_READ | PROT_WRITE : PROT_READ;
	unsigned char *base;
	void *p;

	if (!s->win.size) {
		p = zcrx_map(z->fd, &s->pool, prot);
		if (p == MAP_FAILED)
			return -errno;
		z->pool = p;
		z->pool_size = s->pool.size;
		return 0;
	}
	p = mmap(NULL, s->pool.size + s->win.size, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	base = p;
	z->pool = base;
	z->pool_size = s->pool.size;
	z->win_pages = s->win_pages;
	p = mmap(base, s->pool.size, prot, MAP_SHARED | MAP_FIXED | MAP_POPULATE,
		 z->fd, (off_t)s->pool.offset);
	if (p == MAP_FAILED)
		return -errno;
	p = mmap(base + s->pool.size, s->win.size, PROT_READ,
		 MAP_SHARED | MAP_FIXED, z->fd, (off_t)s->win.offset);
	if (p == MAP_FAILED)
		return -errno;
	return 0;
}

static int zcrx_map_all(struct zcrx *z, const struct zcrxdev_setup *s)
{
	unsigned char *cq, *rq;
	void *p;
	int ret;

	ret = zcrx_map_pool(z, s);
	if (ret)
		return ret;

	p = zcrx_map(z->fd, &s->cq, PROT_READ | PROT_WRITE);
	if (p == MAP_FAILED)
		return -errno;
	z->cq.map = p;
	z->cq.map_size = s->cq.size;

	p = zcrx_map(z->fd, &s->rq, PROT_READ | PROT_WRITE);
	if (p == MAP_FAILED)
		return -errno;
	z->rq.map = p;
	z->rq.map_size = s->rq.size;

	cq = z->cq.map;
	z->cq.khead = (unsigned int *)(cq + s->cq_off.head);
	z->cq.ktail = (unsigned int *)(cq + s->cq_off.tail);
	z->cq.kflags = (unsigned int *)(cq + s->cq_off.flags);
	z->cq.kwake_min = (unsigned int *)(cq + s->cq_off.wake_min);
	z->cq.cqes = (struct zcrxdev_cqe *)(cq + s->cq_off.entries);
	z->cq.entries = s->cq_entries;
	z->cq.mask = s->cq_entries - 1;

	rq = z->rq.map;
	z->rq.khead = (unsigned int *)(rq + s->rq_off.head);
	z->rq.ktail = (unsigned int *)(rq + s->rq_off.tail);
	z->rq.rqes = (struct zcrxdev_rqe *)(rq + s->rq_off.entries);
	z->rq.entries = s->rq_entries;
	z->rq.mask = s->rq_entries - 1;
	z->rq.tail = *z->rq.ktail;
	z->rq.cached_head = zcrx_load_acquire(z->rq.khead);
	return 0;
}

/* Fields a later release gives a meaning must not carry garbage today. */
static bool zcrx_params_resv_zero(const struct zcrx_params *p)
{
	size_t i;

	for (i = 0; i < sizeof(p->resv) / sizeof(p->resv[0]); i++)
		if (p->resv[i])
			return false;
	return true;
}

int zcrx_init(struct zcrx *z, const struct zcrx_params *p)
{
	struct zcrxdev_setup s;
	int ret;

	memset(z, 0, sizeof(*z));
	z->fd = -1;
	if (!p || !p->nr_bufs || !zcrx_params_resv_zero(p))
		return -EINVAL;

	z->fd = open(p->device ? p->device : ZCRX_DEFAULT_DEVICE,
		     O_RDWR | O_CLOEXEC);
	if (z->fd < 0)
		return -errno;

	memset(&s, 0, sizeof(s));
	s.flags = p->flags;
	s.buf_size = p->buf_size ? p->buf_size : ZCRXDEV_BUF_SIZE_MIN;
	s.nr_bufs = p->nr_bufs;
	s.cq_entries = p->cq_entries;
	s.rq_entries = p->rq_entries;
	s.win_pages = p->win_pages;
	ret = zcrx_ioctl(z->fd, ZCRXDEV_IOC_SETUP, &s);
	if (ret < 0)
		goto err_close;

	z->flags = s.flags;
	z->buf_size = s.buf_size;
	z->nr_bufs = s.nr_bufs;
	z->features = s.features;
	ret = zcrx_map_all(z, &s);
	if (ret < 0)
		goto err_unmap;
	return 0;

err_unmap:
	zcrx_unmap_all(z);
err_close:
	close(z->fd);
	z->fd = -1;
	return ret;
}

void zcrx_exit(struct zcrx *z)
{
	zcrx_unmap_all(z);
	if (z->fd >= 0)
		close(z->fd);
	/* No dangling ring pointers: helpers on an exited zcrx fault early. */
	memset(z, 0, sizeof(*z));
	z->fd = -1;
}

int zcrx_attach(struct zcrx *z, int sockfd, uint64_t tag)
{
	struct zcrxdev_attach a;

	memset(&a, 0, sizeof(a));
	a.fd = sockfd;
	a.tag = tag;
	return zcrx_ioctl(z->fd, ZCRXDEV_IOC_ATTACH, &a);
}

int zcrx_detach(struct zcrx *z, int sockfd)
{
	struct zcrxdev_detach d;

	memset(&d, 0, sizeof(d));
	d.fd = sockfd;
	return zcrx_ioctl(z->fd, ZCRXDEV_IOC_DETACH, &d);
}

int zcrx_stats(struct zcrx *z, struct zcrxdev_stats *st)
{
	memset(st, 0, sizeof(*st));
	return zcrx_ioctl(z->fd, ZCRXDEV_IOC_STATS, st);
}

int zcrx_claim(struct zcrx *z, uint64_t *offs, unsigned int n)
{
	struct zcrxdev_claim c;

	memset(&c, 0, sizeof(c));
	c.count = n;
	c.offs = (uintptr_t)offs;
	return zcrx_ioctl(z->fd, ZCRXDEV_IOC_CLAIM, &c);
}

long zcrx_send(struct zcrx *z, int sockfd, uint64_t off, uint32_t len,
	       uint64_t tag)
{
	struct zcrxdev_send s;

	memset(&s, 0, sizeof(s));
	s.fd = sockfd;
	s.off = off;
	s.len = len;
	s.tag = tag;
	return zcrx_ioctl(z->fd, ZCRXDEV_IOC_SEND, &s);
}

int zcrx_declare_pins(struct zcrx *z, unsigned int count)
{
	struct zcrxdev_pins p;

	memset(&p, 0, sizeof(p));
	p.count = count;
	return zcrx_ioctl(z->fd, ZCRXDEV_IOC_PINS, &p);
}

/* What the kernel has seen at a wake (see __zcrx_wake_useful()). */
static void zcrx_note_wake(struct zcrx *z)
{
	z->rq.woken_tail = z->rq.tail;
	z->rq.woken_cq_head = *z->cq.khead;
}

int zcrx_wake(struct zcrx *z)
{
	zcrx_note_wake(z);
	return zcrx_ioctl(z->fd, ZCRXDEV_IOC_WAKE, NULL);
}

/*
 * ZCRXDEV_IOC_RECV, after waiting for the wake threshold with RECV_WAIT.
 * A wait's EINTR is the caller's, as poll()'s would be.
 */
static int zcrx_recv_call(struct zcrx *z, struct zcrxdev_recv *r)
{
	int ret;

	/* [RQ-1]: returns queued so far are visible before the call. */
	zcrx_store_release(z->rq.ktail, z->rq.tail);
	/* The call also does what a wake does. */
	zcrx_note_wake(z);
	z->win_returned = 0;
	if (!(r->flags & ZCRXDEV_RECV_WAIT))
		return zcrx_ioctl(z->fd, ZCRXDEV_IOC_RECV, r);
	ret = ioctl(z->fd, ZCRXDEV_IOC_RECV, r);
	return ret < 0 ? -errno : ret;
}

int zcrx_recv(struct zcrx *z)
{
	struct zcrxdev_recv r = { 0 };

	return zcrx_recv_call(z, &r);
}

static uint64_t zcrx_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * DEFER pools on a module with RECV_WAIT: sleep to the threshold and place
 * in one system call, as io_uring_enter() waits and runs its task work.
 * The kernel sleeps on after a wake that placed nothing while the
 * threshold does not hold; when it returns with nothing all the same
 * (the threshold held), call again with what is left of the timeout.
 */
static int zcrx_wait_recv(struct zcrx *z, unsigned int min, int timeout_ms)
{
	struct zcrxdev_recv r = { .flags = ZCRXDEV_RECV_WAIT };
	uint64_t us = (uint64_t)timeout_ms * 1000, end = zcrx_now_us() + us;

	for (;;) {
		int ret;

		if (zcrx_cq_ready(z) >= min)
			return (int)zcrx_cq_ready(z);
		/* UINT32_MAX is "no limit": a finite wait stays below it. */
		r.timeout_us = timeout_ms < 0 ? UINT32_MAX :
			       (uint32_t)(us < UINT32_MAX ? us : UINT32_MAX - 1);
		ret = zcrx_recv_call(z, &r);
		if (ret < 0)
			return zcrx_cq_ready(z) ? (int)zcrx_cq_ready(z) : ret;
		/* Woken with what the kernel thought enough, placed: done. */
		if (zcrx_cq_ready(z))
			return (int)zcrx_cq_ready(z);
		if (timeout_ms >= 0) {
			uint64_t now = zcrx_now_us();

			if (now >= end)
				return -ETIME;
			us = end - now;
		}
	}
}

/*
 * Is payload placed only by RECV?  MAP pools are DEFER pools (a module
 * older than the DEFER flag says only MAP).
 */
static bool zcrx_deferred(const struct zcrx *z)
{
	return z->flags & (ZCRXDEV_SETUP_DEFER | ZCRXDEV_SETUP_MAP);
}

/*
 * DEFER (and MAP) pools: RECV when the kernel has bytes for it (with
 * data), to resume a stalled socket, or to unmap window pages returned
 * since the last one (before sleeping: a peer may wait for them, when they
 * are its pool's pages).
 */
static int zcrx_recv_if_useful(struct zcrx *z, bool data)
{
	zcrx_smp_mb();
	if (!(data && zcrx_data_ready(z)) && !z->win_returned &&
	    !__zcrx_wake_useful(z))
		return 0;
	return zcrx_recv(z);
}

int __zcrx_return_slow(struct zcrx *z, const struct zcrxdev_cqe *cqe)
{
	int ret;

	/* Publish what is queued and make the kernel take it now. */
	zcrx_store_release(z->rq.ktail, z->rq.tail);
	ret = zcrx_wake(z);
	if (ret < 0)
		return ret;
	if (!zcrx_rq_space(z))
		return -ENOSPC;
	return zcrx_return_cqe(z, cqe);
}

/* Tell the kernel how many completions are worth a wakeup. */
static void zcrx_set_wake_min(struct zcrx *z, unsigned int nr)
{
	/* Plain stores: the poll() system call orders them before sleeping. */
	if (__atomic_load_n(z->cq.kwake_min, __ATOMIC_RELAXED) != nr)
		__atomic_store_n(z->cq.kwake_min, nr, __ATOMIC_RELAXED);
}

static int zcrx_wait_min(struct zcrx *z, unsigned int min, int timeout_ms)
{
	struct pollfd pfd = { .fd = z->fd, .events = POLLIN };
	bool deferred = zcrx_deferred(z);
	int ret;

	if (z->fd < 0)		/* exited or never set up: nothing will come */
		return -EBADF;
	if (!min)
		min = 1;
	zcrx_set_wake_min(z, min);
	if (deferred && (z->features & ZCRXDEV_FEAT_RECV_WAIT))
		return zcrx_wait_recv(z, min, timeout_ms);
	for (;;) {
		int polled;

		if (zcrx_cq_ready(z) >= min)
			return (int)zcrx_cq_ready(z);
		/*
		 * A stalled kernel only resumes on a wake: never sleep on it.
		 * DEFER: bytes wait in the sockets until we ask for them, but
		 * poll() returns at once when enough have arrived (the kernel
		 * counts arrivals towards min): ask after it, in one RECV.
		 */
		if (deferred) {
			ret = zcrx_recv_if_useful(z, false);
		} else {
			ret = 0;
			zcrx_smp_mb();
			if (__zcrx_wake_useful(z))
				ret = zcrx_wake(z);
		}
		if (ret < 0)
			return ret;
		if (zcrx_cq_ready(z) >= min)
			return (int)zcrx_cq_ready(z);
		polled = poll(&pfd, 1, timeout_ms);
		if (polled < 0)
			return -errno;
		if (pfd.revents & (POLLERR | POLLNVAL))
			return -EBADF;
		/*
		 * Timed out, or woken with what the kernel thought enough (it
		 * may be fewer than min: an end, an error, a stall, or for
		 * DEFER, arrivals that fill fewer buffers than min).  DEFER:
		 * place what waits, also after a timeout.
		 */
		if (deferred) {
			ret = zcrx_recv_if_useful(z, true);
			if (ret < 0)
				return ret;
		} else if (polled) {
			break;
		}
		if (zcrx_cq_ready(z) || !polled)
			break;
	}
	return zcrx_cq_ready(z) ? (int)zcrx_cq_ready(z) : -ETIME;
}

int zcrx_wait(struct zcrx *z, int timeout_ms)
{
	return zcrx_wait_min(z, 1, timeout_ms);
}

int zcrx_wait_nr(struct zcrx *z, unsigned int nr, int timeout_ms)
{
	return zcrx_wait_min(z, nr, timeout_ms);
}

/*
 * What the errors of libzcrx mean here, and what to do about the ones that
 * keep a pool from being set up.  Several calls share an errno; the text
 * names the call when the meanings differ.
 */
static const struct {
	int		err;
	const char	*msg;
} zcrx_errors[] = {
	{ ENOENT, "no /dev/zcrx: the zcrx module is not loaded (modprobe zcrx); "
		  "from zcrx_detach: the socket is not attached to this pool" },
	{ ENODEV, "/dev/zcrx has no driver: the zcrx module is not loaded "
		  "(modprobe zcrx)" },
	{ EACCES, "permission denied opening /dev/zcrx: check its mode "
		  "(ls -l /dev/zcrx; the udev rule 70-zcrx.rules makes it 0666)" },
	{ EPERM, "operation not permitted: a device cgroup or security policy "
		 "forbids /dev/zcrx (containers); from zcrx_send: the range is not "
		 "in buffers the process holds" },
	{ ENOMEM, "cannot pin the pool: it exceeds RLIMIT_MEMLOCK (ulimit -l; "
		  "raise it, make the pool smaller, or run with CAP_IPC_LOCK) or "
		  "memory is short" },
	{ EINVAL, "invalid parameters: nr_bufs is 0, buf_size is not a power of "
		  "two from 4096 to 65536, a ring size or flag is wrong, or a "
		  "reserved field of struct zcrx_params is not zero" },
	{ E2BIG, "pool too large: nr_bufs * buf_size is above 4 GiB" },
	{ ENOTTY, "the device does not know this request: it is not /dev/zcrx, "
		  "or the zcrx module and libzcrx are of different versions "
		  "(compare modinfo -F version zcrx with the library's)" },
	{ ENXIO, "the context has no pool (zcrx_init did not succeed)" },
	{ EBUSY, "socket already attached (to any pool) or used by another "
		 "kernel consumer (kTLS, sockmap)" },
	{ ENOTCONN, "socket not connected" },
	{ EPROTONOSUPPORT, "not a TCP socket (IPv4 or IPv6)" },
	{ ENOBUFS, "no free buffer (zcrx_claim), or too many sends await their "
		   "SENT completions (zcrx_send): consume completions, retry" },
	{ ETIME, "timed out waiting for completions" },
};

const char *zcrx_strerror(int err)
{
	size_t i;

	if (err < 0 && err != INT_MIN)
		err = -err;
	for (i = 0; i < sizeof(zcrx_errors) / sizeof(zcrx_errors[0]); i++)
		if (zcrx_errors[i].err == err)
			return zcrx_errors[i].msg;
	return strerror(err);
}

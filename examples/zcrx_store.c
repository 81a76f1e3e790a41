// SPDX-License-Identifier: MIT
/*
 * zcrx_store - receive TCP streams with zcrx and store each one in a file
 * with O_DIRECT writes issued from the pool itself: no byte is copied in
 * userspace.  The disk (or the loop driver) reads the payload straight
 * from the pool buffers the module placed it in.
 *
 *   zcrx_store [-6] [-p PORT] [-b NR_BUFS] [-s BUF_SIZE] [-P] [-q] FILE...
 *
 * Listens on PORT (default 5201) and takes one connection per FILE, in
 * order: the stream of the first connection goes to the first FILE, and so
 * on.  FILE is a regular file on a file system that supports O_DIRECT
 * (created or truncated) or a block device (written from offset 0).
 * Prints per-connection results and the pool's counters; exits 0 only if
 * every stream ended cleanly, every write succeeded and the module's
 * counters (copied + zero-copy) match the bytes stored.
 *
 * How the bytes reach the file
 * ----------------------------
 * 1. The pool is set up ZCRXDEV_SETUP_WRITABLE and its mapping made
 *    writable, so that io_uring can register it as fixed buffers (buffer
 *    registration pins with write access, which a read-only pool refuses).
 *    Writes are then IORING_OP_WRITE_FIXED on the O_DIRECT file: no
 *    per-write page pinning.  Where registration fails (Linux 6.1 refuses
 *    to register any file-backed mapping, /dev/zcrx's included:
 *    EOPNOTSUPP), or with -P, writes are plain IORING_OP_WRITE: O_DIRECT
 *    then pins the pool pages for the duration of each write.  Either
 *    way nothing is copied in userspace.
 *
 *    A registration pins every pool page for as long as it lasts, and the
 *    module counts any extra page reference as "still in use".  So after
 *    registering, the program declares that one pin per page is its own
 *    (zcrx_declare_pins(), ZCRXDEV_IOC_PINS), and before unregistering it
 *    takes that back.  Without the declaration (an older module) each
 *    returned buffer would stay pending (ZCRXDEV_IOC_STATS bufs_pending)
 *    and the pool run dry: when the program sees that (nothing in flight,
 *    no free buffer, buffers pending), it drops the registration, says so,
 *    and carries on with per-write pinning ("registered=dropped").
 *
 * 2. O_DIRECT wants the file offset, the length and the memory address
 *    aligned (4 KiB here).  The module packs a socket's bytes densely and
 *    keeps filling a buffer for as long as the process holds one of its
 *    completions (docs/design.md, "dense packing").  So this program holds
 *    every completion of a buffer until the buffer is full: each buffer
 *    then carries buf_size consecutive bytes of the stream, starting at a
 *    multiple of buf_size, and goes to the file in one aligned write at
 *    the same offset.  Only when that write has completed are the buffer's
 *    completions returned (one refill entry each).
 *
 * 3. At the end of a stream the last buffer is partly filled: its largest
 *    4 KiB multiple is written with O_DIRECT, the remaining tail (less
 *    than 4 KiB) with pwrite() from the pool through a second, buffered
 *    file descriptor, and the file is fsync()ed.  A regular file therefore
 *    ends exactly at the stream's length, with no padding to truncate.
 *
 * 4. Should a stream ever not follow that pattern (bytes completed in
 *    place elsewhere in the pool, ZCRXDEV_CQE_ZEROCOPY), the run of bytes
 *    collected so far is written the same way as an end-of-stream tail:
 *    the aligned part with O_DIRECT when its address and file offset agree
 *    modulo 4 KiB, the rest buffered.  Such bytes are counted as
 *    "buffered" in the report.
 *
 * Pool memory counts against RLIMIT_MEMLOCK twice when the pool is
 * registered (once for zcrx, once for io_uring); -P avoids the second.
 */
/* GNU extensions (accept4, ...): builds with pkg-config's flags alone. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <zcrx.h>

#define ALIGN_MIN	4096u
#define MAX_INFLIGHT	64	/* direct writes in flight, all streams */
#define REG_CHUNK	(1u << 30)	/* io_uring's limit per fixed buffer */

enum op_kind { OP_POLL_ZCRX = 1, OP_POLL_LISTEN, OP_WRITE };

struct op {
	enum op_kind	kind;
	int		conn;
	unsigned int	buf;	/* pool buffer the write reads from */
	unsigned int	ncqe;	/* completions to return when it is done */
	unsigned int	len;
	unsigned long long pos;
};

/* Bytes collected in one pool buffer, consecutive in memory and stream. */
struct run {
	unsigned long long mem;	/* pool offset of the first byte */
	unsigned long long pos;	/* file offset of the first byte */
	unsigned int	len;
	unsigned int	ncqe;	/* completions held for it */
};

struct conn {
	const char	*path;
	int		sock;	/* -1 before accept and after the end */
	int		dfd;	/* O_DIRECT */
	int		bfd;	/* buffered, for unaligned pieces */
	struct run	run;
	unsigned long long bytes, direct, buffered;
	unsigned int	inflight;
	int		ended;	/* EOF or error completion seen */
	int		closed;	/* file synced and closed */
	int		error;	/* errno from an error completion */
	int		werr;	/* errno of a failed write */
};

static struct zcrx z;
static struct io_uring ring;
static struct conn *conns;
static unsigned int nconns, inflight, align;
static int registered, dropped;
static unsigned long long reg_chunk;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int listen_on(int v6, int port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd, one = 1;

	fd = socket(v6 ? AF_INET6 : AF_INET,
		    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6 ? bind(fd, (struct sockaddr *)&a6, sizeof(a6)) :
		 bind(fd, (struct sockaddr *)&a4, sizeof(a4)))
		return -1;
	if (listen(fd, 128))
		return -1;
	return fd;
}

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe) {		/* SQ full: hand it to the kernel first */
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	return sqe;
}

static void arm_poll(struct op *op, int fd)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data(sqe, op);
}

/* Give back n completions' references on pool buffer b. */
static void return_refs(unsigned int b, unsigned int n)
{
	struct zcrxdev_cqe ret = {
		.off = (unsigned long long)b * z.buf_size,
		.len = 1,
	};

	while (n--)
		zcrx_return_cqe(&z, &ret);
}

static void finish_conn(struct conn *c)
{
	if (c->closed || !c->ended || c->inflight)
		return;
	if (fsync(c->dfd) && !c->werr)
		c->werr = errno;
	close(c->dfd);
	close(c->bfd);
	c->closed = 1;
}

/* Write [pos, pos + len) from pool offset mem with the buffered fd. */
static void write_buffered(struct conn *c, unsigned long long mem,
			   unsigned long long pos, unsigned int len)
{
	ssize_t n;

	while (len && !c->werr) {
		n = pwrite(c->bfd, z.pool + mem, len, pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			c->werr = n < 0 ? errno : EIO;
			break;
		}
		c->buffered += n;
		mem += n;
		pos += n;
		len -= n;
	}
}

static void write_direct(struct conn *c, unsigned long long mem,
			 unsigned long long pos, unsigned int len,
			 unsigned int ncqe)
{
	struct io_uring_sqe *sqe = get_sqe();
	struct op *op = calloc(1, sizeof(*op));

	op->kind = OP_WRITE;
	op->conn = (int)(c - conns);
	op->buf = (unsigned int)(mem / z.buf_size);
	op->ncqe = ncqe;
	op->len = len;
	op->pos = pos;
	if (registered)
		io_uring_prep_write_fixed(sqe, c->dfd, z.pool + mem, len, pos,
					  (int)(mem / reg_chunk));
	else
		io_uring_prep_write(sqe, c->dfd, z.pool + mem, len, pos);
	io_uring_sqe_set_data(sqe, op);
	c->inflight++;
	inflight++;
}

/*
 * Write out the bytes collected for c.  A full buffer is one aligned
 * O_DIRECT write; anything else is split into an aligned middle (direct,
 * if address and offset agree modulo the alignment) and buffered ends.
 */
static void flush_run(struct conn *c)
{
	struct run *r = &c->run;
	unsigned long long start = r->pos, end = r->pos + r->len, a0, a1;

	if (!r->len)
		return;
	a0 = (start + align - 1) / align * align;
	a1 = end / align * align;
	if ((r->mem - r->pos) % align || a0 >= a1 || c->werr) {
		write_buffered(c, r->mem, start, r->len);
		return_refs(r->mem / z.buf_size, r->ncqe);
	} else {
		write_buffered(c, r->mem, start, a0 - start);
		write_buffered(c, r->mem + (a1 - start), a1, end - a1);
		write_direct(c, r->mem + (a0 - start), a0, a1 - a0, r->ncqe);
	}
	memset(r, 0, sizeof(*r));
}

static void on_cqe(const struct zcrxdev_cqe *cqe)
{
	struct conn *c = &conns[cqe->tag];
	struct run *r = &c->run;
	unsigned long long b = cqe->off / z.buf_size;

	if (cqe->flags & (ZCRXDEV_CQE_EOF | ZCRXDEV_CQE_ERROR)) {
		flush_run(c);
		c->error = cqe->flags & ZCRXDEV_CQE_ERROR ? cqe->error : 0;
		c->ended = 1;
		close(c->sock);
		c->sock = -1;
		finish_conn(c);
		return;
	}
	if (r->len && r->mem / z.buf_size == b && cqe->off == r->mem + r->len) {
		r->len += cqe->len;		/* the usual case */
		r->ncqe++;
	} else {
		flush_run(c);
		r->mem = cqe->off;
		r->pos = c->bytes;
		r->len = cqe->len;
		r->ncqe = 1;
	}
	c->bytes += cqe->len;
	/* Full buffer, or bytes completed in place: write them now. */
	if (r->mem + r->len == (b + 1) * z.buf_size ||
	    (cqe->flags & ZCRXDEV_CQE_ZEROCOPY))
		flush_run(c);
}

static void on_write_done(struct op *op, int res)
{
	struct conn *c = &conns[op->conn];

	if (res < 0 && !c->werr)
		c->werr = -res;
	else if (res >= 0 && (unsigned int)res != op->len && !c->werr)
		c->werr = EIO;		/* short write: end of device? */
	else if (res > 0)
		c->direct += res;
	return_refs(op->buf, op->ncqe);
	c->inflight--;
	inflight--;
	finish_conn(c);
}

static int open_output(struct conn *c)
{
	c->dfd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
	if (c->dfd < 0) {
		int e = errno;

		fprintf(stderr, "zcrx_store: %s: %s%s\n", c->path, strerror(e),
			e == EINVAL ? " (O_DIRECT refused: the file system does not "
			"support direct I/O; tmpfs before Linux 6.6 does not. Use a "
			"block device or a disk file system)" : "");
		return -1;
	}
	c->bfd = open(c->path, O_WRONLY | O_CLOEXEC);
	if (c->bfd < 0) {
		fprintf(stderr, "zcrx_store: %s: %s\n", c->path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Register the pool as fixed buffers: writable mapping first. */
static int register_pool(void)
{
	unsigned int i, n;
	struct iovec *iov;
	int ret;

	if (!(z.flags & ZCRXDEV_SETUP_WRITABLE))
		return -EACCES;
	if (mprotect(z.pool, z.pool_size, PROT_READ | PROT_WRITE))
		return -errno;
	reg_chunk = REG_CHUNK / z.buf_size * z.buf_size;
	n = (unsigned int)((z.pool_size + reg_chunk - 1) / reg_chunk);
	iov = calloc(n, sizeof(*iov));
	for (i = 0; i < n; i++) {
		iov[i].iov_base = z.pool + (unsigned long long)i * reg_chunk;
		iov[i].iov_len = z.pool_size - (unsigned long long)i * reg_chunk;
		if (iov[i].iov_len > reg_chunk)
			iov[i].iov_len = reg_chunk;
	}
	ret = io_uring_register_buffers(&ring, iov, n);
	free(iov);
	/* Nothing in this program writes to the pool: read-only again. */
	mprotect(z.pool, z.pool_size, PROT_READ);
	return ret;
}

/*
 * Stuck: no write in flight, no free buffer, returned buffers pending.
 * With a registration, its pins are what keeps them pending: drop it.
 */
static void check_stuck(void)
{
	struct zcrxdev_stats st;

	if (!registered || inflight || zcrx_stats(&z, &st) ||
	    st.bufs_free || !st.bufs_pending)
		return;
	fprintf(stderr, "zcrx_store: %llu returned buffers stay pending while the pool "
		"is registered with io_uring (the module counts the registration's "
		"pins as use); unregistering, writes now pin pages per I/O\n",
		(unsigned long long)st.bufs_pending);
	zcrx_declare_pins(&z, 0);
	io_uring_unregister_buffers(&ring);
	registered = 0;
	dropped = 1;
	zcrx_wake(&z);		/* the module rechecks pending buffers */
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-6] [-p port] [-b bufs] [-s size] [-P] [-q] FILE...\n",
		prog);
}

int main(int argc, char **argv)
{
	struct zcrx_params params = { .nr_bufs = 256, .buf_size = 65536,
				      .flags = ZCRXDEV_SETUP_WRITABLE };
	int v6 = 0, port = 5201, no_register = 0, quiet = 0, opt, lfd, ret;
	struct op poll_zcrx = { .kind = OP_POLL_ZCRX };
	struct op poll_listen = { .kind = OP_POLL_LISTEN };
	int zcrx_armed = 0, listen_armed = 0, failed = 0;
	unsigned long long total = 0, direct = 0, buffered = 0;
	unsigned int accepted = 0, done, i;
	struct zcrxdev_stats st;
	double t0 = 0, t1, last_progress;
	long page;

	while ((opt = getopt(argc, argv, "6p:b:s:Pq")) != -1) {
		switch (opt) {
		case '6': v6 = 1; break;
		case 'p': port = atoi(optarg); break;
		case 'b': params.nr_bufs = strtoul(optarg, NULL, 0); break;
		case 's': params.buf_size = strtoul(optarg, NULL, 0); break;
		case 'P': no_register = 1; break;
		case 'q': quiet = 1; break;
		default: usage(argv[0]); return 2;
		}
	}
	if (optind >= argc) {
		usage(argv[0]);
		return 2;
	}
	nconns = argc - optind;
	if (no_register)	/* nothing needs write access: keep it read-only */
		params.flags = 0;
	page = sysconf(_SC_PAGESIZE);
	align = page > (long)ALIGN_MIN ? (unsigned int)page : ALIGN_MIN;
	/* Every stream holds one partly filled buffer: leave room to spare. */
	if (params.nr_bufs < 2 * nconns + 2) {
		fprintf(stderr, "zcrx_store: need at least %u buffers for %u streams\n",
			2 * nconns + 2, nconns);
		return 2;
	}

	conns = calloc(nconns, sizeof(*conns));
	for (i = 0; i < nconns; i++) {
		conns[i].path = argv[optind + i];
		conns[i].sock = -1;
		if (open_output(&conns[i]))
			return 1;
	}

	/* 1. The pool, writable so that io_uring can register it. */
	ret = zcrx_init(&z, &params);
	if (ret == -EINVAL && params.flags) {
		/* A module older than ZCRXDEV_SETUP_WRITABLE: no registration. */
		params.flags = 0;
		ret = zcrx_init(&z, &params);
	}
	if (ret) {
		fprintf(stderr, "zcrx_init: %s\n", zcrx_strerror(ret));
		return 1;
	}
	if (z.buf_size < align) {
		fprintf(stderr, "zcrx_store: buffers must be at least %u bytes\n", align);
		return 2;
	}
	ret = io_uring_queue_init(256, &ring, 0);
	if (ret) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
		return 1;
	}
	if (no_register) {
		fprintf(stderr, "zcrx_store: writes pin pool pages per I/O (-P)\n");
	} else {
		ret = register_pool();
		registered = !ret;
		/* Its pins are ours: returned buffers are reused despite them. */
		if (registered && zcrx_declare_pins(&z, 1))
			fprintf(stderr, "zcrx_store: the module cannot be told about "
				"the registration's pins\n");
		if (registered)
			fprintf(stderr, "zcrx_store: pool registered as io_uring fixed buffers\n");
		else
			fprintf(stderr, "zcrx_store: registering the pool failed (%s); "
				"writes pin pool pages per I/O\n", strerror(-ret));
	}

	lfd = listen_on(v6, port);
	if (lfd < 0) {
		perror("listen");
		return 1;
	}
	fprintf(stderr, "zcrx_store: listening on port %d for %u connection(s), "
		"pool %u x %u bytes\n", port, nconns, z.nr_bufs, z.buf_size);

	/* 2. One loop: accept, place completions, write, return buffers. */
	last_progress = now();
	for (;;) {
		struct io_uring_cqe *ucqe;
		struct zcrxdev_cqe *cqe;
		unsigned int head, n = 0, events = 0;

		while (io_uring_peek_cqe(&ring, &ucqe) == 0) {
			struct op *op = io_uring_cqe_get_data(ucqe);

			if (op->kind == OP_POLL_ZCRX) {
				zcrx_armed = 0;
			} else if (op->kind == OP_POLL_LISTEN) {
				listen_armed = 0;
			} else {
				on_write_done(op, ucqe->res);
				free(op);
				events++;
			}
			io_uring_cqe_seen(&ring, ucqe);
		}

		while (accepted < nconns) {
			struct conn *c = &conns[accepted];

			c->sock = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (c->sock < 0) {
				if (errno != EAGAIN && errno != EINTR) {
					perror("accept");
					return 1;
				}
				break;
			}
			if (!accepted)
				t0 = now();
			ret = zcrx_attach(&z, c->sock, accepted);
			if (ret) {
				fprintf(stderr, "zcrx_attach: %s\n", strerror(-ret));
				return 1;
			}
			accepted++;
			events++;
		}
		if (accepted == nconns && lfd >= 0) {
			close(lfd);	/* an armed poll keeps its own reference */
			lfd = -1;
		}

		zcrx_for_each_cqe(&z, head, cqe) {
			/* Back-pressure: leave completions queued while busy. */
			if (inflight >= MAX_INFLIGHT)
				break;
			on_cqe(cqe);
			n++;
		}
		zcrx_cq_advance(&z, n);
		zcrx_rq_commit(&z);

		for (done = 0, i = 0; i < nconns; i++)
			done += conns[i].closed;
		if (done == nconns)
			break;

		/* With writes to wait for, their completions will wake us. */
		if (!zcrx_armed && inflight < MAX_INFLIGHT) {
			arm_poll(&poll_zcrx, z.fd);
			zcrx_armed = 1;
		}
		if (lfd >= 0 && !listen_armed) {
			arm_poll(&poll_listen, lfd);
			listen_armed = 1;
		}
		if (n || events) {
			last_progress = now();
			io_uring_submit(&ring);
			continue;
		}
		if (now() - last_progress > 0.2)
			check_stuck();
		if (now() - last_progress > 10) {
			fprintf(stderr, "zcrx_store: no progress for 10 s\n");
			return 1;
		}
		{
			struct __kernel_timespec ts = { .tv_nsec = 200000000 };

			io_uring_submit_and_wait_timeout(&ring, &ucqe, 1, &ts, NULL);
		}
	}
	t1 = now();

	for (i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];

		total += c->bytes;
		direct += c->direct;
		buffered += c->buffered;
		if (c->error || c->werr || c->direct + c->buffered != c->bytes)
			failed = 1;
		if (!quiet || c->error || c->werr)
			fprintf(stderr, "conn %u: %llu bytes to %s (direct %llu, buffered %llu), %s%s%s%s\n",
				i, c->bytes, c->path, c->direct, c->buffered,
				c->error ? "error " : "eof",
				c->error ? strerror(c->error) : "",
				c->werr ? ", write error: " : "",
				c->werr ? strerror(c->werr) : "");
	}
	zcrx_stats(&z, &st);
	fprintf(stderr,
		"zcrx_store: bytes=%llu direct=%llu buffered=%llu copied=%llu "
		"zerocopy=%llu stalls=%llu registered=%s seconds=%.3f MBps=%.1f\n",
		total, direct, buffered, (unsigned long long)st.bytes_copied,
		(unsigned long long)st.bytes_zerocopy, (unsigned long long)st.stalls,
		registered ? "yes" : dropped ? "dropped" : "no", t1 - t0,
		total / 1e6 / (t1 - t0 > 0 ? t1 - t0 : 1));
	if (registered) {
		zcrx_declare_pins(&z, 0);
		io_uring_unregister_buffers(&ring);
	}
	io_uring_queue_exit(&ring);
	zcrx_exit(&z);
	if (st.bytes_copied + st.bytes_zerocopy != total)
		return 3;
	return failed;
}

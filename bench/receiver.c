// SPDX-License-Identifier: MIT
/*
 * receiver - one TCP receive method of the benchmark, measured.
 *
 *   receiver -m METHOD [-a ADDR] -p PORT [-n CONNS] -b BYTES_PER_CONN
 *            [-c CPU] [-t SECONDS]
 *   receiver -H          print the field names of the RESULT line
 *   receiver -m METHOD -P  set METHOD up and exit: 0 if it can run here
 *
 * Listens on ADDR:PORT, accepts CONNS connections (in the sender's connect
 * order: connection i carries stream i of bench.h's pattern), receives
 * until every connection has ended, checks every stream (one byte per
 * 64-byte line at fixed stream positions, and the exact byte count), and
 * prints one line "RESULT <comma-separated fields>" (see -H) on stdout.
 * Exit status 0 only if every byte count and every checked byte is right.
 *
 * METHOD:
 *   recv        blocking recv() into a 1 MiB buffer (several connections:
 *               round robin over them, one blocking recv() each)
 *   epoll       non-blocking sockets, epoll_wait(), recv() into 1 MiB until
 *               a short read
 *   uring       io_uring, one multishot recv per connection, buffers from a
 *               registered provided-buffer ring (256 x 64 KiB)
 *   splice      splice() socket -> pipe (1 MiB) -> /dev/null: the process
 *               never sees the bytes, only their count is checked
 *   splice-file splice() socket -> pipe -> a 16 MiB window of a file in
 *               /dev/shm (tmpfs), checked through a read-only mapping
 *   tcpzc       TCP_ZEROCOPY_RECEIVE: mmap() on the socket, getsockopt()
 *               maps whole payload pages, the rest (recv_skip_hint) is read
 *               with recv(); as the kernel's tcp_mmap selftest does
 *   zcrx-poll   libzcrx, pool of 256 x 64 KiB, zcrx_wait() (poll) when the
 *               completion ring is empty
 *   zcrx-busy   libzcrx, same pool, spins on the completion ring
 *   zcrx-batch  libzcrx, same pool, zcrx_wait_nr(16, 1 ms): the kernel
 *               wakes the receiver once 16 completions are ready (or an
 *               end of stream, a stall, 1 ms)
 *   zcrx-defer  zcrx-batch's loop on a pool set up ZCRXDEV_SETUP_DEFER: the
 *               softirq only marks sockets ready, zcrx_wait_nr() places
 *               everything queued with one ZCRXDEV_IOC_RECV in the
 *               receiver's own context (as io_uring's DEFER_TASKRUN)
 *   zcrx-map    libzcrx, same pool set up ZCRXDEV_SETUP_MAP (the module's
 *               default threshold) with its mapping window: zcrx_wait()
 *               places payload with ZCRXDEV_IOC_RECV (zcrx_recv()) and
 *               whole network pages are mapped instead of copied
 *   zcrx-map1   the same with ZCRXDEV_SETUP_MAP_ALWAYS (every whole page)
 *   iouzcrx     io_uring zcrx in device-less copy mode (ZCRX_REG_NODEV,
 *               Linux 7.1+): a 16 MiB area, a refill ring, one multishot
 *               IORING_OP_RECV_ZC per connection; the kernel copies every
 *               byte into the area inside io_uring_enter() (DEFER_TASKRUN);
 *               waits for 1 completion per io_uring_enter() (iouzcrx.c)
 *   iouzcrx-batch  the same, waiting for 16 completions or 1 ms
 *               The two iouzcrx methods exist only in the receiver built
 *               with BENCH_IOUZCRX against the 7.x UAPI in the trixie
 *               chroot (build/bench/iouzcrx-receiver, make bench-progs-7x).
 *
 * Measured from the first accept() to the last end of stream: wall time,
 * the whole machine's CPU time from /proc/stat (all CPUs: user, system,
 * irq+softirq), this process's CPU time (getrusage), and the system calls
 * the receive loop makes, counted by the receiver itself at each call site
 * (recv, epoll_wait, epoll_ctl, io_uring_enter via liburing's submit/wait,
 * io_uring_register of iouzcrx's refill flushes, splice, getsockopt,
 * madvise, poll, ioctl).  libzcrx's calls are made inside the library
 * (zcrx_wait() makes a variable number): they are counted by this
 * program's own poll() and ioctl() (see "Counting libzcrx's system
 * calls") and checked against the module's counters.
 * Setup (socket, listen, accept, mmap, pool/ring creation, attach) is not
 * counted.
 * -t kills the receiver after SECONDS (default 300).
 */
/* poll() and ioctl() are defined below: no fortified inline versions. */
#undef _FORTIFY_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <zcrx.h>

#include "bench.h"
#include "receiver.h"

#define RX_BUF		(1u << 20)	/* recv()/splice chunk, pipe size */
#define SPLICE_WINDOW	(16u << 20)	/* splice-file: bytes of tmpfs file */
#define ZC_WINDOW	(2u << 20)	/* tcpzc: address space per socket */

#define RESULT_FIELDS "bytes,secs,mbps,guest_cpu,guest_user,guest_sys," \
		      "guest_irq,guest_ticks,rx_core,rx_cpu,syscalls,copied,zerocopy,bad,extra"

struct conn conns[BENCH_MAX_CONNS];
int nconns = 1, left;
unsigned long long nsys;
unsigned long long copied, zerocopy;
char extra[512];
static unsigned long long per_conn;
static unsigned char *rxbuf;

void die(const char *what)
{
	fprintf(stderr, "receiver: %s: %s\n", what, strerror(errno));
	exit(1);
}

void fail(const char *what, int err)
{
	fprintf(stderr, "receiver: %s: %s\n", what, strerror(err));
	exit(1);
}

void conn_end(struct conn *c)
{
	if (!c->done) {
		c->done = 1;
		left--;
	}
}

void conn_data(struct conn *c, const void *p, size_t len)
{
	bench_verify(&c->v, p, len);
	if (c->v.pos > per_conn) {
		fprintf(stderr, "receiver: connection %ld got more than %llu bytes\n",
			(long)(c - conns), per_conn);
		exit(1);
	}
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int epoll_all(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), i;

	if (ep < 0)
		die("epoll_create1");
	for (i = 0; i < nconns; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

		set_nonblock(conns[i].fd);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev))
			die("epoll_ctl");
	}
	return ep;
}

static int epoll_next(int ep, struct epoll_event *ev, int max)
{
	int n;

	do {
		nsys++;
		n = epoll_wait(ep, ev, max, -1);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		die("epoll_wait");
	return n;
}

static void epoll_forget(int ep, struct conn *c)
{
	nsys++;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
}

/* ---- recv: blocking, round robin --------------------------------------- */

static void run_recv(void)
{
	int i;

	while (left) {
		for (i = 0; i < nconns; i++) {
			struct conn *c = &conns[i];
			ssize_t n;

			if (c->done)
				continue;
			nsys++;
			n = recv(c->fd, rxbuf, RX_BUF, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die("recv");
			if (!n)
				conn_end(c);
			else
				conn_data(c, rxbuf, n);
		}
	}
	copied = 0;
	for (i = 0; i < nconns; i++)
		copied += conns[i].v.pos;
}

/* ---- epoll + non-blocking recv ------------------------------------------ */

static void run_epoll(void)
{
	struct epoll_event ev[BENCH_MAX_CONNS];
	int ep = epoll_all(), n, i;

	while (left) {
		n = epoll_next(ep, ev, nconns);
		for (i = 0; i < n; i++) {
			struct conn *c = &conns[ev[i].data.u32];
			ssize_t r;

			for (;;) {
				nsys++;
				r = recv(c->fd, rxbuf, RX_BUF, 0);
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0 && errno == EAGAIN)
					break;
				if (r < 0)
					die("recv");
				if (!r) {
					epoll_forget(ep, c);
					conn_end(c);
					break;
				}
				conn_data(c, rxbuf, r);
				if ((size_t)r < RX_BUF)
					break;	/* drained: back to epoll */
			}
		}
	}
	close(ep);
	for (i = 0; i < nconns; i++)
		copied += conns[i].v.pos;
}

/* ---- io_uring multishot recv with a provided-buffer ring ---------------- */

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static unsigned char *ubufs;
static const char *uring_mode = "default";

static void uring_setup(void)
{
	static const struct { unsigned int flags; const char *name; } modes[] = {
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "defer_taskrun" },
		{ IORING_SETUP_COOP_TASKRUN, "coop_taskrun" },
		{ 0, "default" },
	};
	struct io_uring_buf_reg reg;
	size_t ring_bytes = POOL_BUFS * sizeof(struct io_uring_buf);
	unsigned int i;
	int ret = -EINVAL;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct io_uring_params p;

		memset(&p, 0, sizeof(p));
		/* CQ of 4 x the buffers: a completion never waits for a slot. */
		p.flags = modes[i].flags | IORING_SETUP_CQSIZE;
		p.cq_entries = 4 * POOL_BUFS;
		ret = io_uring_queue_init_params(128, &ring, &p);
		if (!ret) {
			uring_mode = modes[i].name;
			break;
		}
	}
	if (ret)
		fail("io_uring_queue_init", -ret);

	/* liburing 2.3 has no io_uring_setup_buf_ring(): what it does, by hand. */
	br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (br == MAP_FAILED)
		die("mmap buf ring");
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = POOL_BUFS;
	reg.bgid = 0;
	ret = io_uring_register_buf_ring(&ring, &reg, 0);
	if (ret)
		fail("io_uring_register_buf_ring", -ret);
	ubufs = mmap(NULL, (size_t)POOL_BUFS * POOL_BUF_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (ubufs == MAP_FAILED)
		die("mmap buffers");
	io_uring_buf_ring_init(br);
	for (i = 0; i < POOL_BUFS; i++)
		io_uring_buf_ring_add(br, ubufs + (size_t)i * POOL_BUF_SIZE,
				      POOL_BUF_SIZE, i,
				      io_uring_buf_ring_mask(POOL_BUFS), i);
	io_uring_buf_ring_advance(br, POOL_BUFS);
}

static void uring_arm(int i)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe) {
		nsys++;
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	io_uring_prep_recv_multishot(sqe, conns[i].fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, i);
}

static void run_uring(void)
{
	unsigned long long enobufs = 0, rearms = 0;
	int mask = io_uring_buf_ring_mask(POOL_BUFS), i;

	for (i = 0; i < nconns; i++)
		uring_arm(i);
	while (left) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0, added = 0;
		int ret;

		if (!io_uring_cq_ready(&ring)) {
			/* Submits pending re-arms too: one io_uring_enter. */
			nsys++;
			ret = io_uring_submit_and_wait(&ring, 1);
			if (ret < 0 && ret != -EINTR && ret != -ETIME)
				fail("io_uring_submit_and_wait", -ret);
		} else if (io_uring_sq_ready(&ring)) {
			nsys++;
			io_uring_submit(&ring);
		}
		io_uring_for_each_cqe(&ring, head, cqe) {
			struct conn *c = &conns[cqe->user_data];
			int res = cqe->res;

			n++;
			if (res > 0) {
				unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
				unsigned char *b = ubufs + (size_t)bid * POOL_BUF_SIZE;

				conn_data(c, b, res);
				io_uring_buf_ring_add(br, b, POOL_BUF_SIZE, bid, mask,
						      added++);
			} else if (!res) {
				conn_end(c);
			} else if (res == -ENOBUFS) {
				enobufs++;
			} else {
				fail("multishot recv", -res);
			}
			if (!(cqe->flags & IORING_CQE_F_MORE) && !c->done) {
				rearms++;
				uring_arm(cqe->user_data);
			}
		}
		io_uring_buf_ring_advance(br, added);
		io_uring_cq_advance(&ring, n);
	}
	for (i = 0; i < nconns; i++)
		copied += conns[i].v.pos;
	snprintf(extra, sizeof(extra), "mode=%s;enobufs=%llu;rearms=%llu",
		 uring_mode, enobufs, rearms);
}

/* ---- splice: socket -> pipe -> /dev/null or a tmpfs file ----------------- */

static int pipefd[2], sinkfd = -1, to_file;
static unsigned char *filemap;

static void splice_setup(void)
{
	char path[64];

	if (pipe2(pipefd, O_CLOEXEC))
		die("pipe2");
	if (fcntl(pipefd[1], F_SETPIPE_SZ, RX_BUF) < 0)
		die("F_SETPIPE_SZ");
	if (!to_file) {
		sinkfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (sinkfd < 0)
			die("/dev/null");
		return;
	}
	snprintf(path, sizeof(path), "/dev/shm/zcrx-bench-%d", (int)getpid());
	sinkfd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (sinkfd < 0)
		die(path);
	unlink(path);
	/* Allocate the window's pages now: the loop only rewrites them. */
	if (posix_fallocate(sinkfd, 0, SPLICE_WINDOW))
		die("posix_fallocate");
	filemap = mmap(NULL, SPLICE_WINDOW, PROT_READ, MAP_SHARED | MAP_POPULATE,
		       sinkfd, 0);
	if (filemap == MAP_FAILED)
		die("mmap file");
}

/* Splice what c has (up to one chunk) through the pipe; 0 at EOF, -1 EAGAIN. */
static ssize_t splice_once(struct conn *c, unsigned int flags)
{
	uint64_t region = SPLICE_WINDOW / nconns, at = c->v.pos % region;
	size_t want = RX_BUF;
	ssize_t n, m, done = 0;

	if (to_file && want > region - at)
		want = region - at;	/* never wrap inside one splice */
	for (;;) {
		nsys++;
		n = splice(c->fd, NULL, pipefd[1], NULL, want, SPLICE_F_MOVE | flags);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return -1;
		die("splice from socket");
	}
	while (done < n) {
		loff_t off = c->base + at + done;

		nsys++;
		m = splice(pipefd[0], NULL, sinkfd, to_file ? &off : NULL, n - done,
			   SPLICE_F_MOVE);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			die("splice to sink");
		done += m;
	}
	if (to_file)
		conn_data(c, filemap + c->base + at, n);
	else
		c->v.pos += n;	/* nothing to look at: count only */
	if (c->v.pos > per_conn)
		fail("too many bytes", EPROTO);
	return n;
}

static void run_splice(void)
{
	struct epoll_event ev[BENCH_MAX_CONNS];
	int ep, n, i;
	ssize_t r;

	for (i = 0; i < nconns; i++)
		conns[i].base = (uint64_t)i * (SPLICE_WINDOW / nconns);
	if (nconns == 1) {
		while (left)
			if (!splice_once(&conns[0], 0))
				conn_end(&conns[0]);
	} else {
		ep = epoll_all();
		while (left) {
			n = epoll_next(ep, ev, nconns);
			for (i = 0; i < n; i++) {
				struct conn *c = &conns[ev[i].data.u32];

				while ((r = splice_once(c, SPLICE_F_NONBLOCK)) == RX_BUF)
					;
				if (!r) {
					epoll_forget(ep, c);
					conn_end(c);
				}
			}
		}
		close(ep);
	}
	for (i = 0; i < nconns; i++)
		copied += to_file ? conns[i].v.pos : 0;
	snprintf(extra, sizeof(extra), "%s", to_file ? "sink=tmpfs" :
		 "sink=devnull;content_unchecked");
}

/* ---- TCP_ZEROCOPY_RECEIVE ------------------------------------------------ */

/*
 * The kernel's struct tcp_zerocopy_receive as of 5.11+ (linux/tcp.h);
 * glibc's netinet/tcp.h carries only its first three fields and the two
 * headers cannot be included together.  The kernel reads as many fields
 * as optlen covers.
 */
struct zc_receive {
	uint64_t	address;
	uint32_t	length;
	uint32_t	recv_skip_hint;
	uint32_t	inq;
	int32_t		err;
	uint64_t	copybuf_address;
	int32_t		copybuf_len;
	uint32_t	flags;
	uint64_t	msg_control;
	uint64_t	msg_controllen;
	uint32_t	msg_flags;
	uint32_t	reserved;
};
#define ZC_FLAG_TLB_CLEAN_HINT	0x1

/* Take what c has: map whole pages, read the rest.  1 at EOF, else 0. */
static int tcpzc_drain(struct conn *c)
{
	for (;;) {
		struct zc_receive zc;
		socklen_t zl = sizeof(zc);
		ssize_t n;

		memset(&zc, 0, sizeof(zc));
		zc.address = (uintptr_t)c->map;
		zc.length = ZC_WINDOW;
		/* We zap with madvise() below, as tcp_mmap does. */
		zc.flags = ZC_FLAG_TLB_CLEAN_HINT;
		nsys++;
		if (getsockopt(c->fd, IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE, &zc, &zl)) {
			if (errno == EINTR)
				continue;
			if (errno == EIO)
				return 1;	/* nothing queued and FIN seen */
			die("TCP_ZEROCOPY_RECEIVE");
		}
		if (zc.err)
			fail("TCP_ZEROCOPY_RECEIVE socket error", zc.err);
		if (zc.length) {
			conn_data(c, c->map, zc.length);
			zerocopy += zc.length;
			nsys++;
			madvise(c->map, zc.length, MADV_DONTNEED);
		}
		if (zc.recv_skip_hint) {
			size_t want = zc.recv_skip_hint < RX_BUF ? zc.recv_skip_hint : RX_BUF;

			nsys++;
			n = recv(c->fd, rxbuf, want, MSG_DONTWAIT);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n < 0)
				die("recv");
			if (!n)
				return 1;
			conn_data(c, rxbuf, n);
			copied += n;
		}
		if (!zc.length && !zc.recv_skip_hint)
			return 0;
	}
}

static void run_tcpzc(void)
{
	struct epoll_event ev[BENCH_MAX_CONNS];
	int ep, n, i;

	for (i = 0; i < nconns; i++) {
		conns[i].map = mmap(NULL, ZC_WINDOW, PROT_READ, MAP_SHARED,
				    conns[i].fd, 0);
		if (conns[i].map == MAP_FAILED)
			die("mmap on TCP socket");
	}
	if (nconns == 1) {
		struct pollfd p = { .fd = conns[0].fd, .events = POLLIN };

		while (!tcpzc_drain(&conns[0])) {
			nsys++;
			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				die("poll");
		}
		conn_end(&conns[0]);
	} else {
		ep = epoll_all();
		while (left) {
			n = epoll_next(ep, ev, nconns);
			for (i = 0; i < n; i++) {
				struct conn *c = &conns[ev[i].data.u32];

				if (tcpzc_drain(c)) {
					epoll_forget(ep, c);
					conn_end(c);
				}
			}
		}
		close(ep);
	}
	for (i = 0; i < nconns; i++)
		munmap(conns[i].map, ZC_WINDOW);
}

/* ---- zcrx ---------------------------------------------------------------- */

/*
 * Counting libzcrx's system calls.  zcrx_wait() makes its poll() and its
 * ioctl()s (ZCRXDEV_IOC_RECV for a MAP pool, ZCRXDEV_IOC_WAKE) inside the
 * library, as many per call as it needs; zcrx_rq_commit() and
 * __zcrx_return_slow() make wake ioctls there too.  To count every one,
 * this program defines poll() and ioctl() itself: the dynamic linker binds
 * libzcrx's calls to these (the executable comes first in symbol lookup).
 * While count_fd names the pool's descriptor (the receive loop, where
 * this program makes no call of its own) they count every poll() and the
 * ioctl()s on that descriptor; they pass every call on to the kernel.
 * run_zcrx() checks the ioctl count against the module's own counters
 * (wakeups + recv_calls), so a build where the binding does not happen
 * fails loudly.
 */
static int count_fd = -1;
static unsigned long long lib_polls, lib_ioctls;

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct timespec ts = { timeout / 1000, (timeout % 1000) * 1000000L };

	if (count_fd >= 0)	/* only libzcrx polls during the zcrx loop */
		lib_polls++;
	return ppoll(fds, nfds, timeout < 0 ? NULL : &ts, NULL);
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (count_fd >= 0 && fd == count_fd)
		lib_ioctls++;
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

static struct zcrx z;
static int zbusy, zbatch, zmap;
static unsigned int zflags;	/* ZCRXDEV_SETUP_MAP / _MAP_ALWAYS / _DEFER, or 0 */

/* The map_threshold a pool set up with flags gets, from a throwaway pool. */
static unsigned int map_threshold(unsigned int flags)
{
	struct zcrxdev_setup s;
	int fd = open("/dev/zcrx", O_RDWR | O_CLOEXEC);

	memset(&s, 0, sizeof(s));
	s.flags = flags;
	s.buf_size = ZCRXDEV_BUF_SIZE_MIN;
	s.nr_bufs = 1;
	if (fd < 0 || ioctl(fd, ZCRXDEV_IOC_SETUP, &s))
		s.map_threshold = 0;
	if (fd >= 0)
		close(fd);
	return s.map_threshold;
}

static void zcrx_setup(void)
{
	struct zcrx_params p = { .nr_bufs = POOL_BUFS, .buf_size = POOL_BUF_SIZE,
				 .flags = zflags };
	int ret = zcrx_init(&z, &p);

	if (ret)
		fail("zcrx_init", -ret);
	if (zmap && !z.win_pages)
		fail("zcrx_init: no mapping window", EOPNOTSUPP);
}

static void run_zcrx(void)
{
	struct zcrxdev_stats st;
	unsigned long long spins = 0, waits = 0;
	unsigned long long cqe_copied = 0, cqe_zc = 0, cqe_mapped = 0;
	unsigned int threshold = zmap ? map_threshold(zflags) : 0;
	size_t len;
	int i, ret;

	for (i = 0; i < nconns; i++) {
		ret = zcrx_attach(&z, conns[i].fd, i);
		if (ret)
			fail("zcrx_attach", -ret);
	}
	count_fd = z.fd;
	while (left) {
		struct zcrxdev_cqe *cqe;
		unsigned int head, n = 0;

		if (!zcrx_cq_ready(&z)) {
			if (zbusy) {
				spins++;
#if defined(__x86_64__) || defined(__i386__)
				__builtin_ia32_pause();
#endif
				continue;
			}
			/*
			 * A wake ioctl if the kernel asked, or (MAP) RECV ioctls
			 * while the sockets hold bytes, and poll() to sleep.
			 */
			waits++;
			ret = zbatch ? zcrx_wait_nr(&z, 16, 1) : zcrx_wait(&z, 10000);
			if (ret == -ETIME && zbatch)
				ret = 0;	/* 1 ms passed: go round */
			if (ret < 0 && ret != -EINTR)
				fail("zcrx_wait", -ret);
		}
		zcrx_for_each_cqe(&z, head, cqe) {
			struct conn *c = &conns[cqe->tag];

			n++;
			if (cqe->flags & ZCRXDEV_CQE_ERROR)
				fail("zcrx error completion", cqe->error);
			if (cqe->flags & ZCRXDEV_CQE_EOF) {
				conn_end(c);
				continue;
			}
			conn_data(c, zcrx_cqe_data(&z, cqe), cqe->len);
			if (cqe->flags & ZCRXDEV_CQE_COPIED)
				cqe_copied += cqe->len;
			if (cqe->flags & ZCRXDEV_CQE_ZEROCOPY)
				cqe_zc += cqe->len;
			if (cqe->flags & ZCRXDEV_CQE_MAPPED)
				cqe_mapped += cqe->len;
			ret = zcrx_return_cqe(&z, cqe);
			if (ret)
				fail("zcrx_return_cqe", -ret);
		}
		zcrx_cq_advance(&z, n);
		if (n)
			zcrx_rq_commit(&z);
	}
	count_fd = -1;
	nsys = lib_polls + lib_ioctls;
	if (zcrx_stats(&z, &st))
		fail("zcrx_stats", errno);
	copied = st.bytes_copied;
	zerocopy = st.bytes_zerocopy;
	/* What the completions said must be what the module counted. */
	if (cqe_copied != st.bytes_copied || cqe_zc != st.bytes_zerocopy ||
	    cqe_mapped != st.bytes_mapped) {
		fprintf(stderr, "receiver: completions say %llu copied, %llu zero-copy, "
			"%llu mapped; the module counted %llu, %llu, %llu\n",
			cqe_copied, cqe_zc, cqe_mapped,
			(unsigned long long)st.bytes_copied,
			(unsigned long long)st.bytes_zerocopy,
			(unsigned long long)st.bytes_mapped);
		exit(1);
	}
	/* Every ioctl of the loop is a WAKE or a RECV, each counted by the module. */
	if (lib_ioctls != st.wakeups + st.recv_calls) {
		fprintf(stderr, "receiver: counted %llu ioctls, the module %llu wakes + "
			"%llu receives: libzcrx's calls were not counted\n", lib_ioctls,
			(unsigned long long)st.wakeups, (unsigned long long)st.recv_calls);
		exit(1);
	}
	len = (size_t)snprintf(extra, sizeof(extra),
		 "completions=%llu;stalls=%llu;wakeups=%llu;refill_bad=%llu;waits=%llu;spins=%llu;polls=%llu;ioctls=%llu",
		 (unsigned long long)st.completions, (unsigned long long)st.stalls,
		 (unsigned long long)st.wakeups, (unsigned long long)st.refill_bad,
		 waits, spins, lib_polls, lib_ioctls);
	if (zflags == ZCRXDEV_SETUP_DEFER && len < sizeof(extra))
		snprintf(extra + len, sizeof(extra) - len, ";recv_calls=%llu",
			 (unsigned long long)st.recv_calls);
	if (zmap && len < sizeof(extra))
		snprintf(extra + len, sizeof(extra) - len,
			 ";mapped=%llu;fallbacks=%llu;zaps=%llu;zapped=%llu;recv_calls=%llu;threshold=%u;win_pages=%u",
			 (unsigned long long)st.bytes_mapped,
			 (unsigned long long)st.map_fallbacks,
			 (unsigned long long)st.zap_calls,
			 (unsigned long long)st.pages_zapped,
			 (unsigned long long)st.recv_calls, threshold, z.win_pages);
}

/* ---- main ---------------------------------------------------------------- */

static int listen_on(const char *addr, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd, one = 1;

	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1)
		fail(addr, EINVAL);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
		die("bind");
	if (listen(fd, BENCH_MAX_CONNS))
		die("listen");
	return fd;
}

static void zcrx_teardown(void)
{
	zcrx_exit(&z);
}

/* setup: before the first accept(); exit: after the RESULT line. */
static const struct {
	const char	*name;
	void		(*setup)(void);
	void		(*run)(void);
	void		(*exit)(void);
} methods[] = {
	{ "recv", NULL, run_recv, NULL },
	{ "epoll", NULL, run_epoll, NULL },
	{ "uring", uring_setup, run_uring, NULL },
	{ "splice", splice_setup, run_splice, NULL },
	{ "splice-file", splice_setup, run_splice, NULL },
	{ "tcpzc", NULL, run_tcpzc, NULL },
	{ "zcrx-poll", zcrx_setup, run_zcrx, zcrx_teardown },
	{ "zcrx-busy", zcrx_setup, run_zcrx, zcrx_teardown },
	{ "zcrx-batch", zcrx_setup, run_zcrx, zcrx_teardown },
	{ "zcrx-defer", zcrx_setup, run_zcrx, zcrx_teardown },
	{ "zcrx-map", zcrx_setup, run_zcrx, zcrx_teardown },
	{ "zcrx-map1", zcrx_setup, run_zcrx, zcrx_teardown },
#ifdef BENCH_IOUZCRX
	{ "iouzcrx", iouzcrx_setup, iouzcrx_run, iouzcrx_exit },
	{ "iouzcrx-batch", iouzcrx_setup, iouzcrx_run_batch, iouzcrx_exit },
#endif
};

#ifdef BENCH_IOUZCRX
#define IOUZCRX_USAGE "|iouzcrx|iouzcrx-batch"
#else
#define IOUZCRX_USAGE ""
#endif

int main(int argc, char **argv)
{
	const char *addr = "0.0.0.0", *method = NULL;
	int port = 5400, cpu = -1, limit = 300, opt, lfd, i, m = -1, probe = 0;
	unsigned long long total = 0, bad = 0;
	struct bench_cpu a, b;
	double secs, busy, core;
	int ok = 1;

	while ((opt = getopt(argc, argv, "m:a:p:n:b:c:t:HP")) != -1) {
		switch (opt) {
		case 'm': method = optarg; break;
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': nconns = atoi(optarg); break;
		case 'b': per_conn = bench_size(optarg); break;
		case 'c': cpu = atoi(optarg); break;
		case 't': limit = atoi(optarg); break;
		case 'H': puts(RESULT_FIELDS); return 0;
		case 'P': probe = 1; break;
		default: goto usage;
		}
	}
	for (i = 0; method && i < (int)(sizeof(methods) / sizeof(methods[0])); i++)
		if (!strcmp(method, methods[i].name))
			m = i;
	if (m < 0 || nconns < 1 || nconns > BENCH_MAX_CONNS)
		goto usage;
	to_file = !strcmp(method, "splice-file");
	zbusy = !strcmp(method, "zcrx-busy");
	zbatch = !strcmp(method, "zcrx-batch") || !strcmp(method, "zcrx-defer");
	if (!strcmp(method, "zcrx-defer"))
		zflags = ZCRXDEV_SETUP_DEFER;
	if (!strcmp(method, "zcrx-map"))
		zflags = ZCRXDEV_SETUP_MAP;
	else if (!strcmp(method, "zcrx-map1"))
		zflags = ZCRXDEV_SETUP_MAP_ALWAYS;
	zmap = !!(zflags & (ZCRXDEV_SETUP_MAP | ZCRXDEV_SETUP_MAP_ALWAYS));
	alarm(limit);
	if (bench_pin(cpu))
		return 1;

	rxbuf = mmap(NULL, RX_BUF, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (rxbuf == MAP_FAILED)
		die("mmap");
	if (methods[m].setup)
		methods[m].setup();	/* fails, and says why, if it cannot */
	if (probe) {
		if (methods[m].exit)
			methods[m].exit();
		return 0;
	}
	lfd = listen_on(addr, port);

	for (i = 0; i < nconns; i++) {
		conns[i].fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conns[i].fd < 0)
			die("accept");
		if (!i)
			bench_cpu_snap(&a, cpu);
		bench_verify_init(&conns[i].v, i);
	}
	close(lfd);
	left = nconns;

	methods[m].run();
	bench_cpu_snap(&b, cpu);

	for (i = 0; i < nconns; i++) {
		total += conns[i].v.pos;
		bad += conns[i].v.bad;
		if (conns[i].v.pos != per_conn) {
			fprintf(stderr, "receiver: connection %d: %llu bytes, want %llu\n",
				i, (unsigned long long)conns[i].v.pos, per_conn);
			ok = 0;
		}
		close(conns[i].fd);
	}
	if (bad) {
		fprintf(stderr, "receiver: %llu checked bytes differ from the pattern\n", bad);
		ok = 0;
	}
	if (methods[m].setup == zcrx_setup && copied + zerocopy != total) {
		fprintf(stderr, "receiver: zcrx counted %llu + %llu bytes, got %llu\n",
			copied, zerocopy, total);
		ok = 0;
	}

	secs = b.wall - a.wall;
	/*
	 * RESULT_FIELDS, in order.  guest_cpu: CPUs x wall - idle (see
	 * bench.h); guest_ticks: the sum of the tick-sampled busy fields;
	 * rx_core: busy time of the receiver's CPU (-c), whoever ran there.
	 */
	busy = a.ncpu * secs - (b.idle - a.idle);
	core = cpu >= 0 ? secs - (b.core_idle - a.core_idle) : 0;
	printf("RESULT %llu,%.4f,%.2f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%llu,%llu,%llu,%llu,%s\n",
	       total, secs, secs > 0 ? total / 1e6 / secs : 0, busy > 0 ? busy : 0,
	       b.user - a.user, b.sys - a.sys, b.irq - a.irq,
	       (b.user - a.user) + (b.sys - a.sys) + (b.irq - a.irq) + (b.steal - a.steal),
	       core > 0 ? core : 0, b.self - a.self, nsys, copied, zerocopy, bad, extra[0] ? extra : "-");
	fflush(stdout);
	if (methods[m].exit)
		methods[m].exit();
	return ok ? 0 : 3;

usage:
	fprintf(stderr, "usage: %s -m recv|epoll|uring|splice|splice-file|tcpzc|"
		"zcrx-poll|zcrx-busy|zcrx-batch|zcrx-defer|zcrx-map|zcrx-map1" IOUZCRX_USAGE " [-a addr] -p port [-n conns] -b bytes_per_conn "
		"[-c cpu] [-t seconds] | -H | -m method -P\n", argv[0]);
	return 2;
}

// SPDX-License-Identifier: MIT
/*
 * sender - the one TCP sender of the benchmark.
 *
 *   sender -a ADDR -p PORT [-n CONNS] -b BYTES_PER_CONN -w WRITE_SIZE
 *          [-z | -P] [-c CPU] [-t SECONDS]
 *
 * Opens CONNS connections to ADDR:PORT one after the other (so the
 * receiver accepts them in this order: connection i carries stream i of
 * the pattern in bench.h) and sends BYTES_PER_CONN on each, WRITE_SIZE
 * bytes per send().  One connection: a blocking send() loop.  Several: the
 * sockets are non-blocking and one poll() loop writes to whichever can
 * take data, so no receiver can block it on one connection, and each
 * connection is closed as soon as its last byte is queued.
 *
 * -z sends with MSG_ZEROCOPY (SO_ZEROCOPY) and drains the completion
 * notifications from MSG_ERRQUEUE (without that the socket's option memory
 * fills and send() fails with ENOBUFS).  The pattern buffer is never
 * written after setup, so no send waits for its notification.
 *
 * -P sends from a zcrx pool instead (libzcrx, ZCRXDEV_SETUP_WRITABLE): the
 * process claims every buffer of a pool just large enough for the pattern
 * (see pool_setup()), writes the pattern into it once through its writable
 * mapping, never rewrites it, and queues WRITE_SIZE bytes of it per
 * zcrx_send() call on the socket by page reference (no copy).  The pool
 * posts a ZCRXDEV_CQE_SENT completion when the stack has let go of a
 * send's pages; those are drained from the completion ring after every
 * send (no system call), so none pile up in the kernel.
 *
 * -c pins the process to a CPU; -t kills it after SECONDS (default 300).
 * Connecting retries for 10 s while the receiver is not listening yet.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <zcrx.h>

#include "bench.h"

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif

#define POOL_BUF_SIZE	65536u	/* -P: buffer size of the sending pool */

struct conn {
	int			fd;
	unsigned long long	sent;
	size_t			off;	/* offset of stream byte 0 in the source */
};

static struct conn conns[BENCH_MAX_CONNS];
static unsigned long long zc_notes;

/*
 * The source of the bytes: the pattern buffer (send()) or the pool (-P).
 * Stream byte i of a connection is src[(i + off) % lap], and src holds
 * lap + WRITE_SIZE bytes, so every write is one contiguous range of it.
 */
static const unsigned char *src;
static size_t lap = BENCH_PERIOD;

/* -P: the pool. */
static struct zcrx z;
static int use_pool;

static size_t gcd(size_t a, size_t b)
{
	while (b) {
		size_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/*
 * -P: a pool whose bytes are the pattern repeated, lap = lcm(PERIOD, page
 * size) bytes long (4099 pages with 4 KiB pages), plus WRITE_SIZE so no
 * write wraps.  A lap of whole pages keeps the stream's alignment to pool
 * pages the same on every lap, and pool_conn_offset() makes it zero: every
 * write of a page multiple then covers whole pool pages, which is what
 * the receiving end can map (TCP_ZEROCOPY_RECEIVE, zcrx MAP pools).  A
 * lap of just PERIOD bytes would shift that alignment by PERIOD % 4096
 * bytes every lap.  Every buffer is claimed and held for the whole run;
 * a held buffer may be sent again and again while it is not rewritten.
 */
static int pool_setup(size_t wsize)
{
	struct zcrx_params p = { .buf_size = POOL_BUF_SIZE,
				 .flags = ZCRXDEV_SETUP_WRITABLE };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t offs[ZCRXDEV_CLAIM_MAX];
	unsigned int held = 0;
	int ret;

	lap = BENCH_PERIOD / gcd(BENCH_PERIOD, page) * page;
	p.nr_bufs = (unsigned int)((lap + wsize + POOL_BUF_SIZE - 1) / POOL_BUF_SIZE);
	ret = zcrx_init(&z, &p);
	if (ret) {
		fprintf(stderr, "sender: zcrx_init: %s\n", strerror(-ret));
		return -1;
	}
	while (held < z.nr_bufs) {
		unsigned int want = z.nr_bufs - held;

		ret = zcrx_claim(&z, offs, want < ZCRXDEV_CLAIM_MAX ? want :
				 ZCRXDEV_CLAIM_MAX);
		if (ret < 0) {
			fprintf(stderr, "sender: zcrx_claim: %s\n", strerror(-ret));
			return -1;
		}
		held += ret;
	}
	/* Every buffer is ours, so the pool is one range we may fill and send. */
	bench_pattern_fill(z.pool, z.pool_size);
	src = z.pool;
	return 0;
}

/* -P: where connection conn's stream starts in the pool, page-aligned. */
static size_t pool_conn_offset(unsigned int conn)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t off = bench_conn_offset(conn);

	for (; off < lap; off += BENCH_PERIOD)
		if (!(off % page))
			return off;
	return bench_conn_offset(conn);
}

/*
 * -P: consume every completion the pool posted so far: SENT notices, the
 * only kind a pool without sockets gets.  They hold no buffer, so there is
 * nothing to return; they only say "done", and every buffer stays held.
 */
static void drain_sent(void)
{
	struct zcrxdev_cqe *cqe;
	unsigned int head, n = 0;

	zcrx_for_each_cqe(&z, head, cqe)
		n++;
	zcrx_cq_advance(&z, n);
}

/* Read every queued MSG_ZEROCOPY notification; they only say "done". */
static void drain_errqueue(int fd)
{
	char control[128];
	struct msghdr msg;
	struct cmsghdr *cm;

	for (;;) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			return;
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			struct sock_extended_err *ee = (void *)CMSG_DATA(cm);

			if (ee->ee_origin == SO_EE_ORIGIN_ZEROCOPY)
				zc_notes += ee->ee_data - ee->ee_info + 1;
		}
	}
}

/*
 * A connection whose bytes are all queued ends at once (FIN after the data),
 * not when the others end: a receiver that blocks on one connection until
 * its end of stream (recv() round robin) must not wait for the others.
 */
static void conn_end(struct conn *c, int zc)
{
	if (zc)
		drain_errqueue(c->fd);
	close(c->fd);
	c->fd = -1;
}

static int connect_to(const char *addr, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	double give_up = bench_now() + 10;
	int fd;

	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
		fprintf(stderr, "sender: bad address %s\n", addr);
		return -1;
	}
	for (;;) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (!connect(fd, (struct sockaddr *)&a, sizeof(a)))
			return fd;
		close(fd);
		if ((errno != ECONNREFUSED && errno != ETIMEDOUT) ||
		    bench_now() > give_up) {
			perror("sender: connect");
			return -1;
		}
		usleep(10000);	/* the receiver is not listening yet */
	}
}

/*
 * One send of up to wsize bytes on c; returns bytes sent, 0 if the socket
 * cannot take more now (non-blocking), -1 on error.
 */
static ssize_t send_some(struct conn *c, unsigned long long total,
			 size_t wsize, int zc)
{
	unsigned long long left = total - c->sent;
	size_t len = left < wsize ? (size_t)left : wsize;
	size_t idx = (size_t)((c->sent + c->off) % lap);
	ssize_t n;

	/* -P: after a short send, finish that write, so writes stay page-aligned. */
	if (use_pool && len > wsize - c->sent % wsize)
		len = wsize - c->sent % wsize;

	for (;;) {
		if (use_pool) {
			long r = zcrx_send(&z, c->fd, idx, (uint32_t)len,
					   (uint64_t)(c - conns));

			drain_sent();
			n = r;
			if (r < 0) {
				errno = (int)-r;
				n = -1;
			}
		} else {
			n = send(c->fd, src + idx, len,
				 MSG_NOSIGNAL | (zc ? MSG_ZEROCOPY : 0));
		}
		if (zc)
			drain_errqueue(c->fd);
		if (n >= 0) {
			c->sent += n;
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		if (errno == ENOBUFS && zc) {
			/* Notifications not yet read: wait for one. */
			struct pollfd p = { .fd = c->fd, .events = 0 };

			poll(&p, 1, 1);
			continue;
		}
		perror(use_pool ? "sender: zcrx_send" : "sender: send");
		return -1;
	}
}

static int run(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	int port = 5400, nconns = 1, zc = 0, cpu = -1, limit = 300, opt, i, one = 1;
	unsigned long long bytes = 0;
	size_t wsize = 65536;
	struct pollfd pfd[BENCH_MAX_CONNS];
	unsigned char *pat = NULL;
	int left;

	while ((opt = getopt(argc, argv, "a:p:n:b:w:zPc:t:")) != -1) {
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': nconns = atoi(optarg); break;
		case 'b': bytes = bench_size(optarg); break;
		case 'w': wsize = bench_size(optarg); break;
		case 'z': zc = 1; break;
		case 'P': use_pool = 1; break;
		case 'c': cpu = atoi(optarg); break;
		case 't': limit = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s -a addr -p port [-n conns] -b bytes "
				"-w write_size [-z | -P] [-c cpu] [-t seconds]\n", argv[0]);
			return 2;
		}
	}
	if (nconns < 1 || nconns > BENCH_MAX_CONNS || !wsize || wsize > (64u << 20) ||
	    (zc && use_pool))
		return 2;
	alarm(limit);
	signal(SIGPIPE, SIG_IGN);
	if (bench_pin(cpu))
		return 1;
	if (use_pool) {
		if (pool_setup(wsize))
			return 1;
	} else {
		pat = bench_pattern(wsize);
		if (!pat)
			return 1;
		src = pat;
	}

	for (i = 0; i < nconns; i++) {
		conns[i].fd = connect_to(addr, port);
		if (conns[i].fd < 0)
			return 1;
		conns[i].sent = 0;
		conns[i].off = use_pool ? pool_conn_offset(i) : bench_conn_offset(i);
		if (zc && setsockopt(conns[i].fd, SOL_SOCKET, SO_ZEROCOPY, &one,
				     sizeof(one))) {
			perror("sender: SO_ZEROCOPY");
			return 1;
		}
	}

	if (nconns == 1) {
		while (conns[0].sent < bytes)
			if (send_some(&conns[0], bytes, wsize, zc) < 0)
				return 1;
	} else {
		for (i = 0; i < nconns; i++) {
			fcntl(conns[i].fd, F_SETFL, O_NONBLOCK);
			pfd[i].fd = bytes ? conns[i].fd : -1;
			pfd[i].events = POLLOUT;
		}
		left = bytes ? nconns : 0;
		while (left) {
			if (poll(pfd, nconns, -1) < 0) {
				if (errno == EINTR)
					continue;
				perror("sender: poll");
				return 1;
			}
			for (i = 0; i < nconns; i++) {
				if (pfd[i].fd < 0)
					continue;
				if (pfd[i].revents & POLLERR)
					drain_errqueue(conns[i].fd);
				if (!(pfd[i].revents & POLLOUT))
					continue;
				if (send_some(&conns[i], bytes, wsize, zc) < 0)
					return 1;
				if (conns[i].sent == bytes) {
					conn_end(&conns[i], zc);
					pfd[i].fd = -1;
					left--;
				}
			}
		}
	}
	/* close() sends FIN after the queued data; the receiver sees EOF. */
	for (i = 0; i < nconns; i++)
		if (conns[i].fd >= 0)
			conn_end(&conns[i], zc);
	if (use_pool) {
		/*
		 * Sends still in flight need nothing from us: the pool's pages
		 * live as long as the stack holds them, and the SENT notices
		 * of a closed pool are dropped.
		 */
		drain_sent();
		zcrx_exit(&z);
	}
	free(pat);
	return 0;
}

/*
 * _exit(), not exit(): exit() has ld.so run the libraries' destructors
 * (_dl_fini), which calls into the mapping of libzcrx.so.  The host's nic
 * sender runs build/bench/lib/libzcrx.so.N in place, and a "make
 * bench-progs" meanwhile rewrites that file with cp (O_TRUNC, same inode):
 * truncation drops even the private, relocated pages of the mapping, so
 * the .fini_array read back from the file holds an unrelocated offset and
 * exit() jumps to it: SIGSEGV once every byte is sent.  Nothing here needs
 * an exit handler (stdout is unused, stderr unbuffered).
 */
int main(int argc, char **argv)
{
	_exit(run(argc, argv));
}

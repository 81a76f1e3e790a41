// SPDX-License-Identifier: MIT
/*
 * zcrx_forward - a TCP forwarder: receive with zcrx, send on by page
 * reference with zcrx_send().
 *
 *   zcrx_forward [-6] [-p PORT] [-n CONNS] [-b NR_BUFS] [-s BUF_SIZE] [-q]
 *                HOST PORT
 *
 * Listens on PORT (default 5201), accepts CONNS connections (default 1)
 * and opens one connection to HOST PORT for each; forwarding starts once
 * all CONNS are accepted (bytes that arrive earlier wait in the pool).
 * Every completion's range is queued on the outgoing socket with
 * zcrx_send(3): the pool pages themselves go into the outgoing skbs.  The
 * only copy is the module's (socket -> pool); nothing is copied in
 * userspace and nothing on the way out.  The completion's buffer is
 * returned as soon as zcrx_send() has queued all of its bytes: the kernel
 * keeps it PENDING, unused, until the network stack has let go of every
 * page, and then posts a ZCRXDEV_CQE_SENT completion for the send.  When
 * an incoming stream ends, the outgoing one is shut down for writing; an
 * error on it resets the outgoing connection.  A failed send (the
 * destination went away: EPIPE, ECONNRESET; SIGPIPE is ignored) stops
 * forwarding that stream, whose incoming side is drained to its end.
 *
 * Back-pressure runs end to end: while the destination is slow, the
 * outgoing sockets fill and zcrx_send() blocks (the sockets are blocking),
 * completions stay unreturned, sent pages stay referenced by the queued
 * skbs, the pool runs dry, the module stops reading the incoming sockets
 * and TCP closes their windows.  Nothing is dropped.  The kernel learns
 * that sent pages are free by looking, not by callback, so a small pool
 * limits throughput: 8 buffers of 4 KiB forward a few MB/s, where the
 * default 256 x 16 KiB pool keeps up with the stream.
 *
 * Once every stream has ended it waits (up to 10 s) for the SENT
 * completions of all its sends, so that every send is accounted.  The
 * stack may hold pages for a while after the bytes are delivered: with
 * deferred skb freeing (sysctl net.core.skb_defer_max, Linux 5.19+) an
 * idle CPU can sit on the last ones, or, with a small pool, on every
 * buffer mid-stream (it gives up after 10 s without a completion); setting
 * it to 0 makes SENT prompt.
 *
 * Prints per-connection byte counts and the pool's counters, including
 * the bytes the module sent by page reference (bytes_sent) and their share
 * of the bytes forwarded; exits 0 only if every stream ended cleanly,
 * every byte was sent, the module's counters (copied + zero-copy, and
 * bytes_sent) match the bytes forwarded and SENT completions came back for
 * all of them.  Exit status: 1 for a failed stream or setup, 2 for usage,
 * 3 for counters that do not match.
 */
/* GNU extensions (accept4, ...): builds with pkg-config's flags alone. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zcrx.h>

#define TIMEOUT_MS	10000

struct conn {
	int		in;	/* accepted socket, attached to the pool */
	int		out;	/* connection to the destination */
	unsigned long long bytes;	/* queued on out by zcrx_send() */
	unsigned long long sends;	/* zcrx_send() calls that queued bytes */
	unsigned long long released;	/* bytes named by SENT completions */
	unsigned long long sent_cqes;	/* SENT completions */
	int		error;	/* errno from an error completion */
	int		serr;	/* errno of a failed send */
	int		done;
};

static struct conn *conns;
static unsigned int nconns = 1;
static unsigned long long stray_sent;	/* SENT with a tag we never used */

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

	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, ret;

	ret = getaddrinfo(host, port, &hints, &res);
	if (ret) {
		fprintf(stderr, "zcrx_forward: %s:%s: %s\n", host, port, gai_strerror(ret));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		fprintf(stderr, "zcrx_forward: connect %s:%s: %s\n", host, port,
			strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/*
 * Queue a completion's whole range on c->out by page reference; 0 or errno.
 * The send's tag is the connection's index, so that its SENT completion
 * is counted against the connection.  Blocks while the socket is full.
 * *taken is the number of completions the caller's loop has taken so far,
 * this one included.
 */
static int send_full(struct zcrx *z, struct conn *c, uint64_t tag,
		     uint64_t off, uint32_t len, unsigned int *taken)
{
	long n;

	while (len) {
		n = zcrx_send(z, c->out, off, len, tag);
		if (n == -EINTR)
			continue;
		if (n == -ENOBUFS) {
			/*
			 * Too many sends await their SENT completions, which
			 * the kernel can only post into free CQ slots: give
			 * back the slots taken before this one, then retry.
			 */
			zcrx_cq_advance(z, *taken - 1);
			*taken = 1;
			zcrx_rq_commit(z);
			usleep(1000);
			continue;
		}
		if (n < 0)
			return -n;
		if (!n)
			return EIO;	/* never expected: avoid spinning */
		c->bytes += n;
		c->sends++;
		off += n;
		len -= n;
	}
	return 0;
}

/* A SENT completion: the stack let go of a send's pages. */
static void sent_done(const struct zcrxdev_cqe *cqe)
{
	if (cqe->tag >= nconns) {
		stray_sent += cqe->len;
		return;
	}
	conns[cqe->tag].released += cqe->len;
	conns[cqe->tag].sent_cqes++;
}

/* Make the peer see a reset rather than a clean end. */
static void abort_conn(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* Bytes queued by zcrx_send() whose SENT completion has not come yet. */
static unsigned long long unreleased(void)
{
	unsigned long long n = 0;
	unsigned int i;

	for (i = 0; i < nconns; i++)
		n += conns[i].bytes - conns[i].released;
	return n;
}

/* "100%" only when exact; otherwise rounded down to 0.1%. */
static const char *share(unsigned long long part, unsigned long long whole,
			 char *buf, size_t size)
{
	unsigned long long permille;

	if (!whole)
		return "-";
	if (part == whole)
		return "100%";
	permille = part * 1000 / whole;
	snprintf(buf, size, "%llu.%llu%%", permille / 10, permille % 10);
	return buf;
}

int main(int argc, char **argv)
{
	struct zcrx_params params = { .nr_bufs = 256, .buf_size = 16384 };
	int v6 = 0, port = 5201, quiet = 0, failed = 0, opt, lfd, ret, n_arg;
	unsigned long long total = 0, sends = 0, released = 0, sent_cqes = 0;
	struct zcrxdev_stats st;
	unsigned int left, i;
	double t0 = 0, t1, t2;
	char pct[32];
	struct zcrx z;

	while ((opt = getopt(argc, argv, "6p:n:b:s:q")) != -1) {
		switch (opt) {
		case '6': v6 = 1; break;
		case 'p': port = atoi(optarg); break;
		case 'n':
			n_arg = atoi(optarg);
			if (n_arg < 1)
				goto usage;
			nconns = n_arg;
			break;
		case 'b': params.nr_bufs = strtoul(optarg, NULL, 0); break;
		case 's': params.buf_size = strtoul(optarg, NULL, 0); break;
		case 'q': quiet = 1; break;
		default: goto usage;
		}
	}
	if (argc - optind != 2) {
usage:
		fprintf(stderr, "usage: %s [-6] [-p port] [-n conns] [-b bufs] [-s size] "
			"[-q] HOST PORT\n", argv[0]);
		return 2;
	}
	/* A send to a reset connection must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);

	ret = zcrx_init(&z, &params);
	if (ret) {
		fprintf(stderr, "zcrx_init: %s\n", zcrx_strerror(ret));
		return 1;
	}
	lfd = listen_on(v6, port);
	if (lfd < 0) {
		perror("listen");
		return 1;
	}
	fprintf(stderr, "zcrx_forward: port %d -> %s:%s, %u connection(s), "
		"pool %u x %u bytes, sending by page reference\n", port,
		argv[optind], argv[optind + 1], nconns, z.nr_bufs, z.buf_size);

	conns = calloc(nconns, sizeof(*conns));
	if (!conns) {
		perror("calloc");
		return 1;
	}
	for (i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];

		c->in = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c->in < 0) {
			perror("accept");
			return 1;
		}
		if (!i)
			t0 = now();
		c->out = connect_to(argv[optind], argv[optind + 1]);
		if (c->out < 0)
			return 1;
		ret = zcrx_attach(&z, c->in, i);
		if (ret) {
			fprintf(stderr, "zcrx_attach: %s\n", strerror(-ret));
			return 1;
		}
	}
	close(lfd);

	for (left = nconns; left;) {
		struct zcrxdev_cqe *cqe;
		unsigned int head, n = 0;

		ret = zcrx_wait(&z, TIMEOUT_MS);
		if (ret == -ETIME) {
			if (zcrx_stats(&z, &st))
				st.bufs_pending = 0;
			fprintf(stderr, "zcrx_forward: no completion for %d s "
				"(%llu buffers pending on the network stack%s)\n",
				TIMEOUT_MS / 1000, (unsigned long long)st.bufs_pending,
				st.bufs_pending ? "; deferred skb freeing? see "
				"net.core.skb_defer_max" : "");
			return 1;
		}
		zcrx_for_each_cqe(&z, head, cqe) {
			struct conn *c;

			n++;
			if (cqe->flags & ZCRXDEV_CQE_SENT) {
				sent_done(cqe);
				continue;
			}
			c = &conns[cqe->tag];
			if (cqe->flags & (ZCRXDEV_CQE_EOF | ZCRXDEV_CQE_ERROR)) {
				c->error = cqe->flags & ZCRXDEV_CQE_ERROR ? cqe->error : 0;
				if (c->error || c->serr)
					abort_conn(c->out);
				else
					shutdown(c->out, SHUT_WR);
				close(c->out);
				close(c->in);
				c->done = 1;
				left--;
				continue;
			}
			/* After a failed send, keep draining: bytes are dropped. */
			if (!c->serr)
				c->serr = send_full(&z, c, cqe->tag, cqe->off, cqe->len,
						    &n);
			/*
			 * The pages are queued, not copied, yet the buffer can go
			 * back now: the kernel reuses it only once the stack has
			 * let go of them (and says so with a SENT completion).
			 */
			zcrx_return_cqe(&z, cqe);
		}
		zcrx_cq_advance(&z, n);
		zcrx_rq_commit(&z);
	}
	t1 = now();

	/* Every send is accounted only when its SENT completion is in. */
	while (unreleased() && (now() - t1) * 1000 < TIMEOUT_MS) {
		struct zcrxdev_cqe *cqe;
		unsigned int head, n = 0;

		ret = zcrx_wait(&z, TIMEOUT_MS - (int)((now() - t1) * 1000));
		if (ret == -ETIME)
			break;
		zcrx_for_each_cqe(&z, head, cqe) {
			n++;
			if (cqe->flags & ZCRXDEV_CQE_SENT)
				sent_done(cqe);
		}
		zcrx_cq_advance(&z, n);
		zcrx_rq_commit(&z);
	}
	t2 = now();
	if (unreleased())
		fprintf(stderr, "zcrx_forward: %llu bytes still held by the network "
			"stack after %d s (deferred skb freeing? see "
			"net.core.skb_defer_max)\n", unreleased(), TIMEOUT_MS / 1000);

	for (i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];

		total += c->bytes;
		sends += c->sends;
		released += c->released;
		sent_cqes += c->sent_cqes;
		if (c->error || c->serr)
			failed = 1;
		if (!quiet || c->error || c->serr)
			fprintf(stderr, "conn %u: %llu bytes forwarded, %llu released, "
				"%s%s%s%s\n", i, c->bytes, c->released,
				c->error ? "error " : "eof",
				c->error ? strerror(c->error) : "",
				c->serr ? ", send: " : "", c->serr ? strerror(c->serr) : "");
	}
	ret = zcrx_stats(&z, &st);
	if (ret) {
		fprintf(stderr, "zcrx_stats: %s\n", strerror(-ret));
		return 1;
	}
	fprintf(stderr,
		"zcrx_forward: bytes=%llu copied=%llu zerocopy=%llu completions=%llu "
		"stalls=%llu seconds=%.3f MBps=%.1f\n", total,
		(unsigned long long)st.bytes_copied,
		(unsigned long long)st.bytes_zerocopy,
		(unsigned long long)st.completions, (unsigned long long)st.stalls,
		t1 - t0, total / 1e6 / (t1 - t0 > 0 ? t1 - t0 : 1));
	fprintf(stderr,
		"zcrx_forward: sent=%llu by_reference=%s sends=%llu released=%llu "
		"sent_completions=%llu release_wait=%.3f bufs_pending=%llu\n",
		(unsigned long long)st.bytes_sent,
		share(st.bytes_sent, total, pct, sizeof(pct)), sends, released,
		sent_cqes, t2 - t1, (unsigned long long)st.bufs_pending);
	zcrx_exit(&z);
	if (failed)
		return 1;
	if (st.bytes_copied + st.bytes_zerocopy != total || st.bytes_sent != total ||
	    released != total || sent_cqes != sends || stray_sent) {
		fprintf(stderr, "zcrx_forward: counters do not match\n");
		return 3;
	}
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * zcrx_forward - a TCP forwarder: receive with zcrx, send on.
 *
 *   zcrx_forward [-6] [-p PORT] [-n CONNS] [-b NR_BUFS] [-s BUF_SIZE] [-q]
 *                HOST PORT
 *
 * Listens on PORT (default 5201), accepts CONNS connections (default 1)
 * and opens one connection to HOST PORT for each; forwarding starts once
 * all CONNS are accepted (bytes that arrive earlier wait in the pool).  Every completion's
 * bytes are sent with send() straight from the pool mapping: the only
 * copies are the module's (socket -> pool) and send()'s (pool -> socket),
 * none in userspace.  A buffer is returned once send() has taken its
 * bytes.  (zcrx_send(3) would queue the pool pages themselves instead, with
 * no second copy; this example shows the plain-send() way.)  When an incoming stream ends, the outgoing one is shut down for
 * writing; an error on it resets the outgoing connection.
 *
 * Back-pressure runs end to end: while the destination is slow, send()
 * blocks, completions stay unreturned, the pool runs dry, the module stops
 * reading the incoming sockets and TCP closes their windows.  Nothing is
 * dropped.
 *
 * Prints per-connection byte counts and the pool's counters; exits 0 only
 * if every stream ended cleanly, every byte was sent and the module's
 * counters (copied + zero-copy) match the bytes forwarded.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zcrx.h>

struct conn {
	int		in;	/* accepted socket, attached to the pool */
	int		out;	/* connection to the destination */
	unsigned long long bytes;
	int		error;	/* errno from an error completion */
	int		serr;	/* errno of a failed send */
	int		done;
};

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

/* send() all of it from the pool; 0 or errno. */
static int send_full(int fd, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		p += n;
		len -= n;
	}
	return 0;
}

/* Make the peer see a reset rather than a clean end. */
static void abort_conn(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

int main(int argc, char **argv)
{
	struct zcrx_params params = { .nr_bufs = 256, .buf_size = 16384 };
	int v6 = 0, port = 5201, nconns = 1, quiet = 0, failed = 0, opt, lfd, ret;
	unsigned long long total = 0;
	struct zcrxdev_stats st;
	struct conn *conns;
	unsigned int left, i;
	double t0 = 0, t1;
	struct zcrx z;

	while ((opt = getopt(argc, argv, "6p:n:b:s:q")) != -1) {
		switch (opt) {
		case '6': v6 = 1; break;
		case 'p': port = atoi(optarg); break;
		case 'n': nconns = atoi(optarg); break;
		case 'b': params.nr_bufs = strtoul(optarg, NULL, 0); break;
		case 's': params.buf_size = strtoul(optarg, NULL, 0); break;
		case 'q': quiet = 1; break;
		default: goto usage;
		}
	}
	if (argc - optind != 2 || nconns < 1) {
usage:
		fprintf(stderr, "usage: %s [-6] [-p port] [-n conns] [-b bufs] [-s size] "
			"[-q] HOST PORT\n", argv[0]);
		return 2;
	}

	ret = zcrx_init(&z, &params);
	if (ret) {
		fprintf(stderr, "zcrx_init: %s\n", strerror(-ret));
		return 1;
	}
	lfd = listen_on(v6, port);
	if (lfd < 0) {
		perror("listen");
		return 1;
	}
	fprintf(stderr, "zcrx_forward: port %d -> %s:%s, %d connection(s), "
		"pool %u x %u bytes\n", port, argv[optind], argv[optind + 1],
		nconns, z.nr_bufs, z.buf_size);

	conns = calloc(nconns, sizeof(*conns));
	for (i = 0; i < (unsigned int)nconns; i++) {
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

		ret = zcrx_wait(&z, 10000);
		if (ret == -ETIME) {
			fprintf(stderr, "zcrx_forward: no completion for 10 s\n");
			return 1;
		}
		zcrx_for_each_cqe(&z, head, cqe) {
			struct conn *c = &conns[cqe->tag];

			n++;
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
			if (!c->serr) {
				c->serr = send_full(c->out, zcrx_cqe_data(&z, cqe), cqe->len);
				if (!c->serr)
					c->bytes += cqe->len;
			}
			zcrx_return_cqe(&z, cqe);
		}
		zcrx_cq_advance(&z, n);
		zcrx_rq_commit(&z);
	}
	t1 = now();

	for (i = 0; i < (unsigned int)nconns; i++) {
		struct conn *c = &conns[i];

		total += c->bytes;
		if (c->error || c->serr)
			failed = 1;
		if (!quiet || c->error || c->serr)
			fprintf(stderr, "conn %u: %llu bytes forwarded, %s%s%s%s\n", i,
				c->bytes, c->error ? "error " : "eof",
				c->error ? strerror(c->error) : "",
				c->serr ? ", send: " : "", c->serr ? strerror(c->serr) : "");
	}
	zcrx_stats(&z, &st);
	fprintf(stderr,
		"zcrx_forward: bytes=%llu copied=%llu zerocopy=%llu completions=%llu "
		"stalls=%llu seconds=%.3f MBps=%.1f\n", total,
		(unsigned long long)st.bytes_copied,
		(unsigned long long)st.bytes_zerocopy,
		(unsigned long long)st.completions, (unsigned long long)st.stalls,
		t1 - t0, total / 1e6 / (t1 - t0 > 0 ? t1 - t0 : 1));
	zcrx_exit(&z);
	if (failed)
		return 1;
	return st.bytes_copied + st.bytes_zerocopy == total ? 0 : 3;
}

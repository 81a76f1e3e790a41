// SPDX-License-Identifier: MIT
/*
 * zcrx_recv - a TCP receiver built on libzcrx; the first program to read
 * to learn the API.
 *
 *   zcrx_recv [-6] [-p PORT] [-n CONNS] [-b NR_BUFS] [-s BUF_SIZE]
 *             [-o DIR | -o -] [-w USEC] [-B | -N COUNT] [-M] [-q]
 *
 * Listens on PORT (default 5201), accepts CONNS connections (default 1),
 * attaches each to one pool and receives until every connection has ended.
 * With -o DIR each connection's bytes go to DIR/conn-N, with -o - the
 * bytes of connection 0 go to stdout; -w sleeps USEC per batch (a slow
 * consumer), -B busy-polls the completion ring instead of sleeping in
 * poll(), -N sleeps until COUNT completions are ready (zcrx_wait_nr(): one
 * wakeup per batch of small segments, at most 1 ms late).  -M sets the
 * pool up with ZCRXDEV_SETUP_MAP: the bytes are placed when the loop asks
 * (zcrx_wait() does, or zcrx_recv() when busy-polling), and whole pages
 * of payload are mapped instead of copied (a MSG_ZEROCOPY sender over
 * loopback, another pool's pages, a NIC with header split; an ordinary
 * send() peer's bytes are always copied).  Prints per-connection results
 * and the pool's counters.
 */
/* GNU extensions (accept4, ...): builds with pkg-config's flags alone. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zcrx.h>

struct conn {
	int		fd;	/* the socket, until it ends */
	int		out;	/* where its bytes go, or -1 */
	unsigned long long bytes;
	int		error;	/* errno from an error completion */
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
	if (listen(fd, 1024))
		return -1;
	return fd;
}

static int write_full(int fd, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct zcrx_params params = { .nr_bufs = 1024, .buf_size = 16384 };
	int v6 = 0, port = 5201, nconns = 1, busy = 0, quiet = 0, opt, lfd, ret;
	unsigned long long total = 0, sum = 0;
	const char *outdir = NULL;
	unsigned int wait_us = 0, batch = 0, left, i;
	struct zcrxdev_stats st;
	struct conn *conns;
	double t0 = 0, t1, last;
	struct zcrx z;

	while ((opt = getopt(argc, argv, "6p:n:b:s:o:w:BN:Mq")) != -1) {
		switch (opt) {
		case '6': v6 = 1; break;
		case 'p': port = atoi(optarg); break;
		case 'n': nconns = atoi(optarg); break;
		case 'b': params.nr_bufs = strtoul(optarg, NULL, 0); break;
		case 's': params.buf_size = strtoul(optarg, NULL, 0); break;
		case 'o': outdir = optarg; break;
		case 'w': wait_us = strtoul(optarg, NULL, 0); break;
		case 'B': busy = 1; break;
		case 'N': batch = strtoul(optarg, NULL, 0); break;
		case 'M': params.flags |= ZCRXDEV_SETUP_MAP; break;
		case 'q': quiet = 1; break;
		default:
			fprintf(stderr, "usage: %s [-6] [-p port] [-n conns] [-b bufs] "
				"[-s size] [-o dir|-] [-w usec] [-B | -N count] [-M] [-q]\n",
				argv[0]);
			return 2;
		}
	}
	if (nconns < 1)
		return 2;

	/* 1. A pool: nr_bufs buffers, mapped read-only; two rings. */
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
	fprintf(stderr, "zcrx_recv: listening on port %d for %d connection(s), "
		"pool %u x %u bytes\n", port, nconns, z.nr_bufs, z.buf_size);

	/* 2. Attach every connection; its tag is its index. */
	conns = calloc(nconns, sizeof(*conns));
	for (i = 0; i < (unsigned int)nconns; i++) {
		char path[512];

		conns[i].fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conns[i].fd < 0) {
			perror("accept");
			return 1;
		}
		if (!i)
			t0 = now();
		conns[i].out = -1;
		if (outdir && !strcmp(outdir, "-")) {
			conns[i].out = i ? -1 : STDOUT_FILENO;
		} else if (outdir) {
			snprintf(path, sizeof(path), "%s/conn-%u", outdir, i);
			conns[i].out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		}
		ret = zcrx_attach(&z, conns[i].fd, i);
		if (ret) {
			fprintf(stderr, "zcrx_attach: %s\n", strerror(-ret));
			return 1;
		}
	}
	close(lfd);

	/* 3. Consume completions in place; give every buffer back. */
	last = now();
	for (left = nconns; left;) {
		struct zcrxdev_cqe *cqe;
		unsigned int head, n = 0;

		if (busy) {
			/* A MAP pool's bytes wait in the sockets until asked for. */
			if (!zcrx_cq_ready(&z) && zcrx_data_ready(&z))
				zcrx_recv(&z);
		} else {
			ret = batch ? zcrx_wait_nr(&z, batch, 1) : zcrx_wait(&z, 10000);
			if (ret == -ETIME && now() - last < 10)
				continue;	/* -N: 1 ms passed with nothing */
			if (ret == -ETIME) {
				fprintf(stderr, "zcrx_recv: no completion for 10 s\n");
				return 1;
			}
		}
		zcrx_for_each_cqe(&z, head, cqe) {
			struct conn *c = &conns[cqe->tag];

			n++;
			if (cqe->flags & (ZCRXDEV_CQE_EOF | ZCRXDEV_CQE_ERROR)) {
				c->error = cqe->flags & ZCRXDEV_CQE_ERROR ? cqe->error : 0;
				c->done = 1;
				left--;
				continue;
			}
			c->bytes += cqe->len;
			if (c->out >= 0 &&
			    write_full(c->out, zcrx_cqe_data(&z, cqe), cqe->len)) {
				perror("write");
				return 1;
			}
			ret = zcrx_return_cqe(&z, cqe);
			if (ret) {
				fprintf(stderr, "zcrx_return_cqe: %s\n", strerror(-ret));
				return 1;
			}
		}
		zcrx_cq_advance(&z, n);
		if (n)
			last = now();
		if (wait_us && n)
			usleep(wait_us);
		zcrx_rq_commit(&z);	/* one syscall at most, only if asked */
	}
	t1 = now();

	for (i = 0; i < (unsigned int)nconns; i++) {
		total += conns[i].bytes;
		if (!quiet || conns[i].error)
			fprintf(stderr, "conn %u: %llu bytes, %s%s\n", i, conns[i].bytes,
				conns[i].error ? "error " : "eof",
				conns[i].error ? strerror(conns[i].error) : "");
		if (conns[i].out > STDOUT_FILENO)
			close(conns[i].out);
		close(conns[i].fd);
	}
	zcrx_stats(&z, &st);
	sum = st.bytes_copied + st.bytes_zerocopy;
	fprintf(stderr,
		"zcrx_recv: bytes=%llu copied=%llu zerocopy=%llu mapped=%llu "
		"completions=%llu stalls=%llu wakeups=%llu recv_calls=%llu "
		"refill_bad=%llu seconds=%.3f MBps=%.1f\n",
		total, (unsigned long long)st.bytes_copied,
		(unsigned long long)st.bytes_zerocopy,
		(unsigned long long)st.bytes_mapped,
		(unsigned long long)st.completions, (unsigned long long)st.stalls,
		(unsigned long long)st.wakeups, (unsigned long long)st.recv_calls,
		(unsigned long long)st.refill_bad, t1 - t0, total / 1e6 / (t1 - t0 > 0 ? t1 - t0 : 1));
	zcrx_exit(&z);
	/* Every byte the app saw was counted by the module, and vice versa. */
	return sum == total ? 0 : 3;
}

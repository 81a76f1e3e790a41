// SPDX-License-Identifier: MIT
/*
 * sender - the one TCP sender of the benchmark.
 *
 *   sender -a ADDR -p PORT [-n CONNS] -b BYTES_PER_CONN -w WRITE_SIZE
 *          [-z] [-c CPU] [-t SECONDS]
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
#include <sys/socket.h>

#include "bench.h"

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif

struct conn {
	int			fd;
	unsigned long long	sent;
	size_t			off;	/* pattern offset of stream byte 0 */
};

static unsigned long long zc_notes;

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
static ssize_t send_some(struct conn *c, const unsigned char *pat,
			 unsigned long long total, size_t wsize, int zc)
{
	unsigned long long left = total - c->sent;
	size_t len = left < wsize ? (size_t)left : wsize;
	size_t idx = (size_t)((c->sent + c->off) % BENCH_PERIOD);
	ssize_t n;

	for (;;) {
		n = send(c->fd, pat + idx, len, MSG_NOSIGNAL | (zc ? MSG_ZEROCOPY : 0));
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
		perror("sender: send");
		return -1;
	}
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	int port = 5400, nconns = 1, zc = 0, cpu = -1, limit = 300, opt, i, one = 1;
	unsigned long long bytes = 0;
	size_t wsize = 65536;
	struct pollfd pfd[BENCH_MAX_CONNS];
	struct conn conns[BENCH_MAX_CONNS];
	unsigned char *pat;
	int left;

	while ((opt = getopt(argc, argv, "a:p:n:b:w:zc:t:")) != -1) {
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': nconns = atoi(optarg); break;
		case 'b': bytes = bench_size(optarg); break;
		case 'w': wsize = bench_size(optarg); break;
		case 'z': zc = 1; break;
		case 'c': cpu = atoi(optarg); break;
		case 't': limit = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s -a addr -p port [-n conns] -b bytes "
				"-w write_size [-z] [-c cpu] [-t seconds]\n", argv[0]);
			return 2;
		}
	}
	if (nconns < 1 || nconns > BENCH_MAX_CONNS || !wsize || wsize > (64u << 20))
		return 2;
	alarm(limit);
	if (bench_pin(cpu))
		return 1;
	pat = bench_pattern(wsize);
	if (!pat)
		return 1;

	for (i = 0; i < nconns; i++) {
		conns[i].fd = connect_to(addr, port);
		if (conns[i].fd < 0)
			return 1;
		conns[i].sent = 0;
		conns[i].off = bench_conn_offset(i);
		if (zc && setsockopt(conns[i].fd, SOL_SOCKET, SO_ZEROCOPY, &one,
				     sizeof(one))) {
			perror("sender: SO_ZEROCOPY");
			return 1;
		}
	}

	if (nconns == 1) {
		while (conns[0].sent < bytes)
			if (send_some(&conns[0], pat, bytes, wsize, zc) < 0)
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
				if (send_some(&conns[i], pat, bytes, wsize, zc) < 0)
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
	free(pat);
	return 0;
}

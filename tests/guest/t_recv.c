// SPDX-License-Identifier: MIT
/*
 * The receive path: streams of every size, back-pressure, many sockets,
 * IPv6, end of stream and errors, refill validation, detach, zero-copy.
 * Every byte is checked against the sender's pattern.
 */
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include "tap.h"
#include "rx.h"

static struct zcrx z;

static int pool_init(unsigned int nr_bufs, unsigned int buf_size)
{
	struct zcrx_params p = { .nr_bufs = nr_bufs, .buf_size = buf_size };

	return zcrx_init(&z, &p);
}

static struct zcrxdev_stats stats(void)
{
	struct zcrxdev_stats st;

	zcrx_stats(&z, &st);
	return st;
}

/* One connection: send total bytes in wsize writes, verify, check EOF. */
static void stream_one(const char *name, int family, uint64_t total,
		       size_t wsize, unsigned int nr_bufs, unsigned int bsize,
		       unsigned int slow_us)
{
	struct rx_opts o = { .slow_us = slow_us, .timeout_s = 60 };
	struct rx_conn c = { .seed = total ^ wsize };
	struct zcrxdev_stats st;
	int cli, srv, r, status;
	char gauge[96];
	pid_t pid;

	if (pool_init(nr_bufs, bsize)) {
		CHECK(name, 0, "zcrx_init failed");
		return;
	}
	if (tcp_pair(family, &cli, &srv)) {
		CHECK(name, 0, "tcp_pair: %s", strerror(errno));
		zcrx_exit(&z);
		return;
	}
	r = zcrx_attach(&z, srv, 0);
	pid = spawn_sender(cli, c.seed, total, wsize, SHUT_WR);
	close(cli);
	if (!r)
		r = rx_run(&z, &c, 1, &o);
	waitpid(pid, &status, 0);
	st = stats();
	CHECK(name, !r && c.bytes == total && !c.bad_at && c.eof && c.ends == 1 &&
	      st.bytes_copied + st.bytes_zerocopy == total && st.eof == 1 &&
	      WIFEXITED(status) && !WEXITSTATUS(status) && st.refill_bad == 0,
	      "r=%d bytes=%llu/%llu bad_at=%llu eof=%d ends=%d copied=%llu zc=%llu",
	      r, (unsigned long long)c.bytes, (unsigned long long)total,
	      (unsigned long long)c.bad_at, c.eof, c.ends,
	      (unsigned long long)st.bytes_copied,
	      (unsigned long long)st.bytes_zerocopy);
	if (!strcmp(name, "backpressure_8_bufs_64MiB"))
		CHECK("backpressure_stalls", st.stalls > 0, "stalls=%llu",
		      (unsigned long long)st.stalls);
	/* EOF detaches the socket: recv() sees the end of stream too. */
	snprintf(gauge, sizeof(gauge), "%s_detached", name);
	CHECK(gauge, sysfs_wait("sockets", 0, 2000) == 0,
	      "sockets=%ld", sysfs_long("sockets"));
	close(srv);
	zcrx_exit(&z);
}

static void test_streams(void)
{
	stream_one("stream_0_bytes", AF_INET, 0, 4096, 64, 4096, 0);
	stream_one("stream_1_byte_writes", AF_INET, 20000, 1, 64, 4096, 0);
	stream_one("stream_1KiB_writes", AF_INET, 4 << 20, 1024, 256, 16384, 0);
	stream_one("stream_64KiB_writes", AF_INET, 32 << 20, 65536, 256, 16384, 0);
	stream_one("stream_1MiB_writes_64k_bufs", AF_INET, 64 << 20, 1 << 20, 128, 65536, 0);
	stream_one("stream_slow_consumer", AF_INET, 8 << 20, 65536, 64, 4096, 2000);
	stream_one("stream_ipv6", AF_INET6, 16 << 20, 65536, 256, 16384, 0);
	stream_one("backpressure_8_bufs_64MiB", AF_INET, 64 << 20, 65536, 8, 4096, 0);
}

/* Many connections into one pool, each stream verified on its own. */
static void test_many(unsigned int n, uint64_t each, unsigned int nr_bufs)
{
	struct rx_opts o = { .timeout_s = 60 };
	struct rx_conn *c = calloc(n, sizeof(*c));
	pid_t *pids = calloc(n, sizeof(*pids));
	unsigned int i, ok = 0;
	char name[64];
	int r = 0, cli, srv, *srvs = calloc(n, sizeof(int));

	pool_init(nr_bufs, 4096);
	for (i = 0; i < n && !r; i++) {
		c[i].seed = 1000 + i;
		r = tcp_pair(i & 1 ? AF_INET6 : AF_INET, &cli, &srv);
		if (r)
			break;
		r = zcrx_attach(&z, srv, i);
		srvs[i] = srv;
		pids[i] = spawn_sender(cli, c[i].seed, each, 65536, SHUT_WR);
		close(cli);
	}
	snprintf(name, sizeof(name), "connections_%u_attached", n);
	CHECK(name, !r && sysfs_long("sockets") <= (long)n, "r=%d at %u", r, i);
	if (!r)
		r = rx_run(&z, c, n, &o);
	for (i = 0; i < n; i++) {
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
		ok += c[i].bytes == each && !c[i].bad_at && c[i].eof && c[i].ends == 1;
		close(srvs[i]);
	}
	if (r) {
		struct zcrxdev_stats st = stats();

		tap_diag("timeout: free=%llu pending=%llu stalls=%llu completions=%llu "
			 "cq_ready=%u need_wakeup=%d", (unsigned long long)st.bufs_free,
			 (unsigned long long)st.bufs_pending, (unsigned long long)st.stalls,
			 (unsigned long long)st.completions, zcrx_cq_ready(&z),
			 zcrx_need_wakeup(&z));
		for (i = 0; i < n; i++)
			if (c[i].bytes != each || !c[i].ends)
				tap_diag("conn %u: %llu bytes ends=%d", i,
					 (unsigned long long)c[i].bytes, c[i].ends);
	}
	snprintf(name, sizeof(name), "connections_%u_verified", n);
	CHECK(name, !r && ok == n, "r=%d, %u of %u streams intact", r, ok, n);
	zcrx_exit(&z);
	free(c);
	free(pids);
	free(srvs);
}

/* 1024 sockets on one pool: attach all, a few bytes each, detach on close. */
static void test_1024(void)
{
	struct rlimit rl = { 4096, 4096 };
	int cli[1024], srv[1024], r = 0;
	unsigned int i, n = 0;
	struct rx_opts o = { .timeout_s = 60 };
	struct rx_conn *c = calloc(1024, sizeof(*c));

	setrlimit(RLIMIT_NOFILE, &rl);
	pool_init(2048, 4096);
	for (i = 0; i < 1024 && !r; i++, n++) {
		c[i].seed = i;
		r = tcp_pair(AF_INET, &cli[i], &srv[i]);
		if (!r)
			r = zcrx_attach(&z, srv[i], i);
	}
	CHECK("attach_1024_sockets", !r && sysfs_long("sockets") == 1024,
	      "r=%d n=%u sockets=%ld", r, n, sysfs_long("sockets"));
	for (i = 0; i < n; i++) {
		uint8_t buf[100];

		pattern_fill(c[i].seed, 0, buf, sizeof(buf));
		r |= write_all(cli[i], buf, sizeof(buf));
		close(cli[i]);
	}
	r = r ? r : rx_run(&z, c, n, &o);
	for (i = 0, r = r ? r : 0; i < n; i++)
		if (c[i].bytes != 100 || c[i].bad_at || !c[i].eof)
			r = -EIO;
	CHECK("data_on_1024_sockets", !r, "r=%d", r);
	for (i = 0; i < n; i++)
		close(srv[i]);
	CHECK("sockets_gone_1024", sysfs_wait("sockets", 0, 5000) == 0,
	      "sockets=%ld", sysfs_long("sockets"));
	zcrx_exit(&z);
	free(c);
}

static void test_attach_errors(void)
{
	int cli, srv, l, u, t;
	struct zcrxdev_attach a;
	struct zcrx z2;
	struct zcrx_params p = { .nr_bufs = 4 };

	pool_init(16, 4096);
	tcp_pair(AF_INET, &cli, &srv);
	CHECK_ERR("attach_not_socket", zcrx_attach(&z, z.fd, 1), ENOTSOCK);
	CHECK_ERR("attach_bad_fd", zcrx_attach(&z, 9999, 1), EBADF);
	CHECK_ERR("attach_negative_fd", zcrx_attach(&z, -1, 1), EBADF);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK_ERR("attach_udp", zcrx_attach(&z, u, 1), EPROTONOSUPPORT);
	close(u);
	u = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_ERR("attach_unix", zcrx_attach(&z, u, 1), EPROTONOSUPPORT);
	close(u);
	t = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_ERR("attach_unconnected", zcrx_attach(&z, t, 1), ENOTCONN);
	l = socket(AF_INET6, SOCK_STREAM, 0);
	listen(l, 1);
	CHECK_ERR("attach_listening", zcrx_attach(&z, l, 1), ENOTCONN);
	/* The refused attach of a listener left no trace: it still accepts. */
	close(l);
	memset(&a, 0, sizeof(a));
	a.fd = srv;
	a.flags = 1;
	CHECK_ERR("attach_flags", xioctl(z.fd, ZCRXDEV_IOC_ATTACH, &a), EINVAL);
	a.flags = 0;
	a.resv[1] = 1;
	CHECK_ERR("attach_resv", xioctl(z.fd, ZCRXDEV_IOC_ATTACH, &a), EINVAL);
	CHECK("attach_ok", zcrx_attach(&z, srv, 7) == 0, "failed");
	CHECK_ERR("attach_twice", zcrx_attach(&z, srv, 7), EBUSY);
	zcrx_init(&z2, &p);
	CHECK_ERR("attach_other_pool", zcrx_attach(&z2, srv, 7), EBUSY);
	CHECK_ERR("detach_other_pool", zcrx_detach(&z2, srv), ENOENT);
	CHECK_ERR("detach_not_attached", zcrx_detach(&z, cli), ENOENT);
	CHECK("detach_ok", zcrx_detach(&z, srv) == 0, "failed");
	CHECK_ERR("detach_again", zcrx_detach(&z, srv), ENOENT);
	/* Detached sockets can be attached again, here to the other pool. */
	CHECK("reattach_other_pool", zcrx_attach(&z2, srv, 8) == 0, "failed");
	zcrx_exit(&z2);
	close(cli);
	close(srv);
	/* Our TCP ULP is a module pin for attached sockets only. */
	tcp_pair(AF_INET, &cli, &srv);
	t = setsockopt(srv, IPPROTO_TCP, TCP_ULP, "zcrx", 4) ? errno : 0;
	CHECK("tcp_ulp_from_user_refused", t == EPERM, "setsockopt TCP_ULP: %d", t);
	close(cli);
	close(srv);
	zcrx_exit(&z);
	CHECK("attach_errors_no_leak", sysfs_wait("sockets", 0, 2000) == 0, "sockets=%ld",
	      sysfs_long("sockets"));
}

/* RST mid-stream: the prefix is intact, then one ECONNRESET completion. */
static void test_rst(void)
{
	struct rx_conn c = { .seed = 77 };
	struct rx_opts o = { .timeout_s = 30 };
	struct linger lg = { 1, 0 };
	uint8_t buf[65536];
	int cli, srv, r;

	pool_init(64, 4096);
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	pattern_fill(c.seed, 0, buf, sizeof(buf));
	write_all(cli, buf, sizeof(buf));
	usleep(100000);
	setsockopt(cli, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(cli);	/* unread data at the peer? no: linger 0 sends RST */
	r = rx_run(&z, &c, 1, &o);
	CHECK("rst_midstream", !r && c.ends == 1 && c.error == ECONNRESET &&
	      c.bytes == sizeof(buf) && !c.bad_at,
	      "r=%d ends=%d error=%d bytes=%llu", r, c.ends, c.error,
	      (unsigned long long)c.bytes);
	CHECK("rst_detached", sysfs_wait("sockets", 0, 2000) == 0, "sockets=%ld",
	      sysfs_long("sockets"));
	close(srv);
	zcrx_exit(&z);
}

/* The receiver shuts its own read side: EOF completion, detached. */
static void test_shut_rd(void)
{
	struct rx_conn c = { .seed = 5 };
	struct rx_opts o = { .timeout_s = 30 };
	uint8_t buf[10000];
	int cli, srv, r;

	pool_init(64, 4096);
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	pattern_fill(c.seed, 0, buf, sizeof(buf));
	write_all(cli, buf, sizeof(buf));
	usleep(100000);
	shutdown(srv, SHUT_RD);
	r = rx_run(&z, &c, 1, &o);
	CHECK("shut_rd_eof", !r && c.eof && c.ends == 1 && c.bytes == sizeof(buf) &&
	      !c.bad_at, "r=%d eof=%d bytes=%llu", r, c.eof,
	      (unsigned long long)c.bytes);
	close(cli);
	close(srv);
	zcrx_exit(&z);
}

/* Closing the attached socket detaches it; the pool goes on working. */
static void test_close_socket(void)
{
	int cli, srv, c2, s2;
	struct rx_conn c[2] = { { .seed = 1, .ends = 1 }, { .seed = 2 } };
	struct rx_opts o = { .timeout_s = 30 };
	uint8_t buf[50000];

	pool_init(64, 4096);
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	CHECK("close_socket_attached", sysfs_long("sockets") == 1, "sockets=%ld",
	      sysfs_long("sockets"));
	close(srv);
	CHECK("close_socket_detaches", sysfs_long("sockets") == 0, "sockets=%ld",
	      sysfs_long("sockets"));
	/* The peer sees the close: a write eventually fails, no hang. */
	close(cli);
	tcp_pair(AF_INET, &c2, &s2);
	zcrx_attach(&z, s2, 1);
	pattern_fill(c[1].seed, 0, buf, sizeof(buf));
	write_all(c2, buf, sizeof(buf));
	close(c2);
	CHECK("pool_works_after_close", rx_run(&z, c, 2, &o) == 0 &&
	      c[1].bytes == sizeof(buf) && !c[1].bad_at && c[1].eof, "bytes=%llu",
	      (unsigned long long)c[1].bytes);
	close(s2);
	zcrx_exit(&z);
}

/* Closing /dev/zcrx with data in flight, and SIGKILL of a receiver. */
static void test_teardown_inflight(int use_kill)
{
	int cli, srv, status, p[2];
	pid_t rx, tx;
	char ch;

	tcp_pair(AF_INET, &cli, &srv);
	if (pipe(p))
		return;
	rx = fork();
	if (!rx) {
		struct rx_conn c = { .seed = 9 };
		struct rx_opts o = { .max_s = 1.5, .slow_us = 1000 };

		close(cli);
		if (pool_init(8, 4096) || zcrx_attach(&z, srv, 0))
			_exit(3);
		if (write(p[1], "a", 1) != 1)
			_exit(4);
		rx_run(&z, &c, 1, &o);	/* stops at max_s: the sender never does */
		if (use_kill)
			pause();
		zcrx_exit(&z);		/* close with bytes in flight */
		_exit(0);
	}
	close(srv);
	tx = spawn_sender(cli, 9, 1ull << 40, 65536, 0);
	close(cli);
	if (read(p[0], &ch, 1) != 1)
		ch = 0;
	close(p[0]);
	close(p[1]);
	if (use_kill) {
		sleep(1);
		kill(rx, SIGKILL);
	}
	waitpid(rx, &status, 0);
	kill(tx, SIGKILL);
	waitpid(tx, NULL, 0);
	CHECK(use_kill ? "sigkill_midstream_no_leak" : "close_fd_inflight_no_leak",
	      ch == 'a' && sysfs_wait("sockets", 0, 3000) == 0 &&
	      sysfs_wait("pool_pages", 0, 3000) == 0 && sysfs_long("pools") == 0,
	      "attached=%c sockets=%ld pages=%ld pools=%ld", ch,
	      sysfs_long("sockets"), sysfs_long("pool_pages"), sysfs_long("pools"));
}

/* Garbage in the refill ring is skipped and counted, never trusted. */
static void test_bad_refill(void)
{
	struct rx_conn c = { .seed = 31 };
	struct rx_opts o = { .timeout_s = 30 };
	struct zcrxdev_stats st;
	struct zcrxdev_rqe *rqe;
	int cli, srv, r, i;
	const uint64_t bad[] = {
		1ull << 40,		/* past the pool */
		100,			/* not a buffer start */
		4096 * 5,		/* a buffer never handed out */
		(uint64_t)-4096,	/* wraps */
	};

	pool_init(32, 4096);
	for (i = 0; i < 4; i++) {
		rqe = &z.rq.rqes[z.rq.tail & z.rq.mask];
		rqe->off = bad[i];
		rqe->flags = rqe->resv = 0;
		z.rq.tail++;
	}
	rqe = &z.rq.rqes[z.rq.tail & z.rq.mask];
	rqe->off = 0;
	rqe->flags = 1;		/* non-zero flags */
	rqe->resv = 0;
	z.rq.tail++;
	zcrx_rq_commit(&z);
	zcrx_wake(&z);
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	{
		uint8_t buf[300000];

		pattern_fill(c.seed, 0, buf, sizeof(buf));
		write_all(cli, buf, sizeof(buf));
	}
	close(cli);
	r = rx_run(&z, &c, 1, &o);
	st = stats();
	CHECK("bad_refill_counted", st.refill_bad == 5, "refill_bad=%llu",
	      (unsigned long long)st.refill_bad);
	CHECK("bad_refill_stream_intact", !r && c.bytes == 300000 && !c.bad_at && c.eof,
	      "r=%d bytes=%llu", r, (unsigned long long)c.bytes);
	/* Every completion was returned once; one more return is a double. */
	rqe = &z.rq.rqes[z.rq.tail & z.rq.mask];
	rqe->off = 0;
	rqe->flags = rqe->resv = 0;
	z.rq.tail++;
	zcrx_rq_commit(&z);
	zcrx_wake(&z);
	st = stats();
	CHECK("double_return_counted", st.refill_bad == 6 && st.bufs_free == 32,
	      "refill_bad=%llu free=%llu", (unsigned long long)st.refill_bad,
	      (unsigned long long)st.bufs_free);
	/* A tail far ahead of head: at most one ring's worth is looked at. */
	__atomic_store_n(z.rq.ktail, *z.rq.ktail + 0x80000000u, __ATOMIC_RELEASE);
	zcrx_wake(&z);
	st = stats();
	CHECK("garbage_tail_survived", st.bufs_free == 32, "free=%llu",
	      (unsigned long long)st.bufs_free);
	close(srv);
	zcrx_exit(&z);
}

/* Consume the ready completions into c (rx_account() checks the bytes). */
static void consume_into(struct rx_conn *c)
{
	struct zcrxdev_cqe *cqe;
	unsigned int head, n = 0;

	zcrx_for_each_cqe(&z, head, cqe) {
		if (!rx_end(c, cqe))
			rx_account(&z, c, cqe);
		n++;
	}
	zcrx_cq_advance(&z, n);
}

/* Detach mid-stream: what zcrx did not place is read with recv(). */
static void test_detach_midstream(void)
{
	struct rx_conn c = { .seed = 55 };
	const uint64_t total = 4 << 20;
	int cli, srv, status, bad;
	uint64_t got;
	uint8_t buf[65536];
	ssize_t r;
	pid_t pid;

	pool_init(16, 4096);	/* small: the stream stalls with bytes queued */
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	pid = spawn_sender(cli, c.seed, total, 65536, SHUT_WR);
	close(cli);
	usleep(300000);
	consume_into(&c);
	CHECK("detach_midstream_ioctl", zcrx_detach(&z, srv) == 0, "failed");
	/* Anything posted before the detach returned is in the ring now. */
	consume_into(&c);
	got = c.bytes;
	bad = !!c.bad_at;
	while ((r = recv(srv, buf, sizeof(buf), 0)) > 0) {
		bad += pattern_check(c.seed, got, buf, r) != (size_t)r;
		got += r;
	}
	waitpid(pid, &status, 0);
	CHECK("detach_midstream_continuous", got == total && !bad,
	      "got=%llu of %llu, %d bad pieces", (unsigned long long)got,
	      (unsigned long long)total, bad);
	close(srv);
	zcrx_exit(&z);
}

/* poll() on the zcrx fd: readable exactly when completions are pending. */
static void test_poll(void)
{
	struct pollfd pfd;
	int cli, srv, r0, r1;

	pool_init(16, 4096);
	pfd.fd = z.fd;
	pfd.events = POLLIN;
	r0 = poll(&pfd, 1, 0);
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	if (write(cli, "hello", 5) != 5)
		r0 = -1;
	r1 = poll(&pfd, 1, 2000);
	CHECK("poll_empty_then_readable", r0 == 0 && r1 == 1 && (pfd.revents & POLLIN),
	      "before=%d after=%d revents=%x", r0, r1, pfd.revents);
	CHECK("wait_returns_ready", zcrx_wait(&z, 0) >= 1, "none ready");
	zcrx_cq_advance(&z, zcrx_cq_ready(&z));
	CHECK_ERR("wait_times_out", zcrx_wait(&z, 50), ETIME);
	close(cli);
	close(srv);
	zcrx_exit(&z);
}

/*
 * Pool pages reach a socket by reference: vmsplice() from the pool mapping
 * into a pipe, splice() into a TCP socket whose peer is attached to the
 * same pool.  Those bytes complete as ZEROCOPY, in place.  Stream A fills
 * the pool; each of its completions is spliced out on B's sender and held
 * (not returned) until B has arrived, so its pages stay in use.
 */
static void test_zerocopy_splice(void)
{
	struct rx_conn c[2] = { { .seed = 4242 }, { .seed = 4242 } };
	struct rx_opts o = { .timeout_s = 30 };
	const size_t len = 256 * 1024;
	uint64_t held[512], nheld = 0, i;
	int a_cli, a_srv, b_cli, b_srv, r = 0;
	struct zcrxdev_stats st;
	struct zcrxdev_cqe *cqe;
	unsigned int head, n;
	size_t sent = 0;
	uint8_t *buf;

	pool_init(512, 4096);
	tcp_pair(AF_INET, &a_cli, &a_srv);
	tcp_pair(AF_INET, &b_cli, &b_srv);
	zcrx_attach(&z, a_srv, 0);
	zcrx_attach(&z, b_srv, 1);
	buf = malloc(len);
	pattern_fill(c[0].seed, 0, buf, len);
	write_all(a_cli, buf, len);
	free(buf);
	close(a_cli);
	while (c[0].bytes < len && zcrx_wait(&z, 5000) > 0) {
		n = 0;
		zcrx_for_each_cqe(&z, head, cqe) {
			n++;
			if (!cqe->len) {
				c[cqe->tag & 1].ends++;
				c[cqe->tag & 1].eof = 1;
				continue;
			}
			rx_account(&z, &c[cqe->tag & 1], cqe);
			if (cqe->tag == 0) {
				sent += splice_out(zcrx_cqe_data(&z, cqe), cqe->len, b_cli);
				if (nheld < 512) {
					held[nheld++] = cqe->off;
					continue;
				}
			}
			zcrx_return_cqe(&z, cqe);
		}
		zcrx_cq_advance(&z, n);
		zcrx_rq_commit(&z);
	}
	close(b_cli);
	r = rx_run(&z, c, 2, &o);
	st = stats();
	CHECK("zerocopy_splice_content", !r && sent == len && c[0].bytes == len &&
	      c[1].bytes == len && !c[0].bad_at && !c[1].bad_at && c[1].eof,
	      "r=%d sent=%zu a=%llu b=%llu bad_at=%llu/%llu", r, sent,
	      (unsigned long long)c[0].bytes, (unsigned long long)c[1].bytes,
	      (unsigned long long)c[0].bad_at, (unsigned long long)c[1].bad_at);
	CHECK("zerocopy_splice_flagged", c[1].zerocopy > 0 && c[0].zerocopy == 0 &&
	      st.bytes_zerocopy == c[1].zerocopy &&
	      st.bytes_copied == c[0].copied + c[1].copied,
	      "stats zc=%llu copied=%llu; B zc=%llu copied=%llu",
	      (unsigned long long)st.bytes_zerocopy,
	      (unsigned long long)st.bytes_copied,
	      (unsigned long long)c[1].zerocopy, (unsigned long long)c[1].copied);
	tap_diag("zero-copy: %llu of %zu spliced bytes arrived in pool pages",
		 (unsigned long long)c[1].zerocopy, len);
	for (i = 0; i < nheld; i++) {
		struct zcrxdev_cqe back = { .off = held[i], .len = 1 };

		zcrx_return_cqe(&z, &back);
	}
	zcrx_rq_commit(&z);
	for (i = 0; i < 50; i++) {	/* skbs let go of pages lazily */
		zcrx_wake(&z);
		st = stats();
		if (st.bufs_free == 512)
			break;
		usleep(20000);
	}
	CHECK("zerocopy_buffers_all_back", st.refill_bad == 0 && st.bufs_free == 512,
	      "free=%llu pending=%llu bad=%llu", (unsigned long long)st.bufs_free,
	      (unsigned long long)st.bufs_pending, (unsigned long long)st.refill_bad);
	close(a_srv);
	close(b_srv);
	zcrx_exit(&z);
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;

	signal(SIGPIPE, SIG_IGN);
	tap_set_group("recv");
#define RUN(name, call) do { if (!only || !strcmp(only, name)) { call; } } while (0)
	RUN("errors", test_attach_errors());
	RUN("poll", test_poll());
	RUN("streams", test_streams());
	RUN("many", test_many(64, 2 << 20, 512));
	RUN("1024", test_1024());
	RUN("rst", test_rst());
	RUN("shut_rd", test_shut_rd());
	RUN("close", test_close_socket());
	RUN("refill", test_bad_refill());
	RUN("detach", test_detach_midstream());
	RUN("close_fd", test_teardown_inflight(0));
	RUN("sigkill", test_teardown_inflight(1));
	RUN("zerocopy", test_zerocopy_splice());
	CHECK("end_no_leak", sysfs_wait("sockets", 0, 3000) == 0 &&
	      sysfs_wait("pool_pages", 0, 3000) == 0, "sockets=%ld pages=%ld",
	      sysfs_long("sockets"), sysfs_long("pool_pages"));
	return tap_exit();
}

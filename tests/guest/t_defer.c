// SPDX-License-Identifier: MIT
/*
 * Deferred placement (ZCRXDEV_SETUP_DEFER): the softirq only marks a socket
 * ready, ZCRXDEV_IOC_RECV places everything queued in the caller's
 * context, a buffer's worth per completion.  Streams, back-pressure and
 * many sockets must be as exact as softirq placement; nothing may be
 * placed before RECV; one RECV after many small writes must post one
 * completion per buffer, not one per write.
 */
#include <poll.h>
#include <signal.h>
#include <sys/time.h>

#include "tap.h"
#include "rx.h"

static struct zcrx z;

static int pool_init(unsigned int nr_bufs, unsigned int buf_size,
		     unsigned int flags)
{
	struct zcrx_params p = { .nr_bufs = nr_bufs, .buf_size = buf_size,
				 .flags = flags };

	return zcrx_init(&z, &p);
}

static struct zcrxdev_stats stats(void)
{
	struct zcrxdev_stats st;

	zcrx_stats(&z, &st);
	return st;
}

/* Setup says which flags are in effect: DEFER alone, MAP implies it. */
static void test_setup_flags(void)
{
	static const struct {
		const char	*name;
		unsigned int	in, out;
	} cases[] = {
		{ "setup_defer", ZCRXDEV_SETUP_DEFER, ZCRXDEV_SETUP_DEFER },
		{ "setup_map_implies_defer", ZCRXDEV_SETUP_MAP,
		  ZCRXDEV_SETUP_MAP | ZCRXDEV_SETUP_DEFER },
		{ "setup_plain_not_deferred", 0, 0 },
	};
	struct zcrxdev_setup s;
	unsigned int i;
	long r;
	int fd;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fd = zcrx_open_dev();
		setup_args(&s, 4, 4096);
		s.flags = cases[i].in;
		r = fd < 0 ? -errno : xioctl(fd, ZCRXDEV_IOC_SETUP, &s);
		CHECK(cases[i].name, !r && s.flags == cases[i].out &&
		      (s.features & ZCRXDEV_FEAT_DEFER),
		      "r=%ld flags=%#x (want %#x) features=%#x", r, s.flags,
		      cases[i].out, s.features);
		if (fd >= 0)
			close(fd);
	}
}

/* Until pool's completion count is at least n, for up to ms. */
static bool completions_reach(uint64_t n, int ms)
{
	double end = now_s() + ms / 1000.0;

	while (stats().completions < n) {
		if (now_s() > end)
			return false;
		usleep(1000);
	}
	return true;
}

/*
 * 32 KiB in 4 KiB writes while nobody calls RECV: nothing is placed, the
 * pool says DATA_READY and poll() says readable; then one RECV posts one
 * completion for all of it.  Without DEFER the same writes are placed as
 * they arrive, one completion per segment.
 */
static void test_placed_only_by_recv(void)
{
	const uint64_t total = 32768;
	struct rx_conn c = { .seed = 77 };
	struct pollfd pfd;
	struct zcrxdev_cqe *cqe;
	struct zcrxdev_stats st;
	unsigned int head, n = 0;
	int cli, srv, status, r, pr;
	pid_t pid;

	if (pool_init(8, 65536, ZCRXDEV_SETUP_DEFER) ||
	    tcp_pair(AF_INET, &cli, &srv)) {
		CHECK("recv_only_setup", 0, "init or tcp_pair failed");
		return;
	}
	setsockopt(cli, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	r = zcrx_attach(&z, srv, 0);
	pid = spawn_sender(cli, c.seed, total, 4096, 0);
	waitpid(pid, &status, 0);
	usleep(100 * 1000);	/* every segment delivered (loopback) */
	st = stats();
	pfd = (struct pollfd){ .fd = z.fd, .events = POLLIN };
	pr = poll(&pfd, 1, 0);
	CHECK("nothing_placed_before_recv", !r && WIFEXITED(status) &&
	      !WEXITSTATUS(status) && st.completions == 0 &&
	      st.bytes_copied == 0 && !zcrx_cq_ready(&z),
	      "attach=%d completions=%llu copied=%llu ready=%u", r,
	      (unsigned long long)st.completions,
	      (unsigned long long)st.bytes_copied, zcrx_cq_ready(&z));
	CHECK("data_ready_and_readable", zcrx_data_ready(&z) && pr == 1 &&
	      (pfd.revents & POLLIN), "data_ready=%d poll=%d revents=%#x",
	      zcrx_data_ready(&z), pr, pfd.revents);

	r = zcrx_recv(&z);
	zcrx_for_each_cqe(&z, head, cqe) {
		if (!rx_end(&c, cqe))
			rx_account(&z, &c, cqe);
		zcrx_return_cqe(&z, cqe);
		n++;
	}
	zcrx_cq_advance(&z, n);
	zcrx_rq_commit(&z);
	st = stats();
	CHECK("one_recv_one_completion", r == 1 && n == 1 && c.bytes == total &&
	      !c.bad_at && c.copied == total && st.recv_calls == 1 &&
	      !zcrx_data_ready(&z),
	      "recv=%d cqes=%u bytes=%llu bad_at=%llu copied=%llu recv_calls=%llu",
	      r, n, (unsigned long long)c.bytes, (unsigned long long)c.bad_at,
	      (unsigned long long)c.copied, (unsigned long long)st.recv_calls);
	close(cli);
	close(srv);
	zcrx_exit(&z);

	/* The contrast: softirq placement needs no call at all. */
	if (pool_init(8, 65536, 0) || tcp_pair(AF_INET, &cli, &srv)) {
		CHECK("softirq_setup", 0, "init or tcp_pair failed");
		return;
	}
	setsockopt(cli, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	r = zcrx_attach(&z, srv, 0);
	pid = spawn_sender(cli, c.seed, total, 4096, 0);
	waitpid(pid, &status, 0);
	CHECK("softirq_places_without_recv", !r && completions_reach(1, 2000) &&
	      stats().recv_calls == 0, "attach=%d completions=%llu", r,
	      (unsigned long long)stats().completions);
	close(cli);
	close(srv);
	zcrx_exit(&z);
}

/* In a child: n writes of 4 KiB, gap_ms apart, then keep the socket open. */
static pid_t spawn_gapped(int fd, unsigned int n, int gap_ms)
{
	static char page[4096];
	pid_t pid = fork();
	unsigned int i;

	if (pid)
		return pid;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	for (i = 0; i < n; i++) {
		if (gap_ms)
			usleep(gap_ms * 1000);
		if (write_all(fd, page, sizeof(page)))
			_exit(2);
	}
	_exit(0);
}

/* Consume and return every ready completion; the bytes they carry. */
static uint64_t drain(void)
{
	struct zcrxdev_cqe *cqe;
	unsigned int head, n = 0;
	uint64_t bytes = 0;

	zcrx_for_each_cqe(&z, head, cqe) {
		bytes += cqe->len;
		zcrx_return_cqe(&z, cqe);
		n++;
	}
	zcrx_cq_advance(&z, n);
	zcrx_rq_commit(&z);
	return bytes;
}

/*
 * zcrx_wait_nr(16) on a DEFER pool: 4 arrivals are not enough to wake it
 * (it sleeps to its timeout, then places them), 32 are; an end of stream
 * wakes it at once.
 */
static void test_wait_threshold(void)
{
	int cli, srv, r, status;
	uint64_t bytes;
	double t0, dt;
	pid_t pid;

	if (pool_init(64, 65536, ZCRXDEV_SETUP_DEFER) ||
	    tcp_pair(AF_INET, &cli, &srv) || zcrx_attach(&z, srv, 0)) {
		CHECK("threshold_setup", 0, "init, tcp_pair or attach failed");
		return;
	}
	pid = spawn_gapped(cli, 4, 20);
	t0 = now_s();
	r = zcrx_wait_nr(&z, 16, 700);
	dt = now_s() - t0;
	waitpid(pid, &status, 0);
	bytes = drain();
	CHECK("below_threshold_sleeps_then_places", r >= 1 && dt > 0.6 &&
	      bytes == 4 * 4096, "r=%d after %.3f s, %llu bytes", r, dt,
	      (unsigned long long)bytes);

	pid = spawn_gapped(cli, 32, 0);
	t0 = now_s();
	r = zcrx_wait_nr(&z, 16, 5000);
	dt = now_s() - t0;
	waitpid(pid, &status, 0);
	bytes = drain();
	CHECK("threshold_wakes_early", r >= 1 && dt < 2,
	      "r=%d after %.3f s, %llu bytes", r, dt, (unsigned long long)bytes);
	while (bytes < 32 * 4096 && zcrx_wait_nr(&z, 1, 1000) > 0)
		bytes += drain();

	shutdown(cli, SHUT_WR);
	t0 = now_s();
	r = zcrx_wait_nr(&z, 16, 5000);
	dt = now_s() - t0;
	CHECK("eof_wakes_at_once", r == 1 && dt < 2 && stats().eof == 1 &&
	      bytes == 32 * 4096, "r=%d after %.3f s, eof=%llu, %llu bytes",
	      r, dt, (unsigned long long)stats().eof, (unsigned long long)bytes);
	drain();
	close(cli);
	close(srv);
	zcrx_exit(&z);
}

static void on_alarm(int sig)
{
	(void)sig;
}

static long recv_wait(uint32_t flags, uint32_t timeout_us)
{
	struct zcrxdev_recv r = { .flags = flags, .timeout_us = timeout_us };

	/* [RQ-1], as zcrx_recv() does: returns queued so far are visible. */
	zcrx_store_release(z.rq.ktail, z.rq.tail);
	return ioctl(z.fd, ZCRXDEV_IOC_RECV, &r) < 0 ? -errno : 0;
}

/*
 * ZCRXDEV_RECV_WAIT: sleep to the threshold, then place, in one call;
 * -ETIME when nothing came, -EINTR on a signal; bad arguments refused.
 */
static void test_recv_wait(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct zcrxdev_recv bad = { .timeout_us = 5 };
	struct itimerval it = { .it_value = { .tv_usec = 200000 } };
	uint64_t calls, bytes;
	int cli, srv, r, status;
	double t0, dt;
	long ret;
	pid_t pid;

	if (pool_init(16, 65536, ZCRXDEV_SETUP_DEFER) ||
	    tcp_pair(AF_INET, &cli, &srv) || zcrx_attach(&z, srv, 0)) {
		CHECK("recv_wait_setup", 0, "init, tcp_pair or attach failed");
		return;
	}
	CHECK("recv_wait_feature", z.features & ZCRXDEV_FEAT_RECV_WAIT,
	      "features=%#x", z.features);
	CHECK_ERR("recv_timeout_without_wait", xioctl(z.fd, ZCRXDEV_IOC_RECV, &bad),
		  EINVAL);
	bad = (struct zcrxdev_recv){ .flags = ZCRXDEV_RECV_WAIT << 1 };
	CHECK_ERR("recv_unknown_flag", xioctl(z.fd, ZCRXDEV_IOC_RECV, &bad), EINVAL);
	/* Attaching made the socket ready (bytes may have come before it). */
	zcrx_recv(&z);

	t0 = now_s();
	ret = recv_wait(ZCRXDEV_RECV_WAIT, 200000);
	dt = now_s() - t0;
	CHECK("recv_wait_times_out", ret == -ETIME && dt > 0.15 && dt < 2,
	      "ret=%ld after %.3f s", ret, dt);

	*z.cq.kwake_min = 1;
	calls = stats().recv_calls;
	pid = spawn_gapped(cli, 1, 100);
	t0 = now_s();
	ret = recv_wait(ZCRXDEV_RECV_WAIT, 5000000);
	dt = now_s() - t0;
	waitpid(pid, &status, 0);
	r = (int)zcrx_cq_ready(&z);
	bytes = drain();
	CHECK("recv_wait_sleeps_then_places", !ret && r == 1 && bytes == 4096 &&
	      dt > 0.05 && dt < 2 && stats().recv_calls == calls + 1,
	      "ret=%ld after %.3f s: %d completions, %llu bytes, %llu calls", ret,
	      dt, r, (unsigned long long)bytes,
	      (unsigned long long)(stats().recv_calls - calls));

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	t0 = now_s();
	ret = recv_wait(ZCRXDEV_RECV_WAIT, UINT32_MAX);
	dt = now_s() - t0;
	CHECK("recv_wait_signal_eintr", ret == -EINTR && dt < 2,
	      "ret=%ld after %.3f s", ret, dt);
	/* A call that returned early must not leave the alarm to kill us. */
	setitimer(ITIMER_REAL, &(struct itimerval){ 0 }, NULL);
	signal(SIGALRM, SIG_DFL);
	close(cli);
	close(srv);
	zcrx_exit(&z);
}

/*
 * A wake whose pass could place nothing is not the end of RECV_WAIT: every
 * buffer is held by a pipe (vmsplice()), so the pass that the arrival
 * wakes finds them busy, they go PENDING and the socket stalls.  The call
 * must sleep on until the pipe lets go (the tick frees the buffers and
 * resumes the socket) and return with the bytes, not return at the first
 * wake with nothing.  A forked child, holding the pool mapped, exiting
 * while RECV runs does the same for a moment.
 */
static void test_recv_wait_busy(void)
{
	char junk[8192];
	uint64_t bytes;
	int cli, srv, pp[2], r, status;
	double t0, dt;
	long ret;
	pid_t pid;

	if (pool_init(2, 4096, ZCRXDEV_SETUP_DEFER) ||
	    tcp_pair(AF_INET, &cli, &srv) || zcrx_attach(&z, srv, 0) ||
	    pipe(pp)) {
		CHECK("recv_wait_busy_setup", 0, "init, tcp_pair or attach failed");
		return;
	}
	zcrx_recv(&z);
	*z.cq.kwake_min = 1;
	r = (int)vmsplice(pp[1], &(struct iovec){ z.pool, z.pool_size }, 1, 0);
	pid = fork();
	if (!pid) {
		usleep(50 * 1000);
		if (write_all(cli, junk, 4096))
			_exit(2);
		usleep(300 * 1000);
		/* Consuming the pipe drops its page references. */
		_exit(read(pp[0], junk, sizeof(junk)) == (ssize_t)sizeof(junk) ? 0 : 3);
	}
	t0 = now_s();
	ret = recv_wait(ZCRXDEV_RECV_WAIT, 3000000);
	dt = now_s() - t0;
	waitpid(pid, &status, 0);
	r = r == (int)z.pool_size ? (int)zcrx_cq_ready(&z) : -1;
	bytes = drain();
	CHECK("recv_wait_waits_out_busy_buffers", !ret && r == 1 &&
	      bytes == 4096 && dt > 0.2 && dt < 2.5 && stats().stalls >= 1 &&
	      WIFEXITED(status) && !WEXITSTATUS(status),
	      "ret=%ld after %.3f s: %d completions, %llu bytes, %llu stalls, child %#x",
	      ret, dt, r, (unsigned long long)bytes,
	      (unsigned long long)stats().stalls, status);
	close(pp[0]);
	close(pp[1]);
	close(cli);
	close(srv);
	zcrx_exit(&z);
}

/* One connection through zcrx_wait() (which calls RECV), every byte checked. */
static void stream_one(const char *name, uint64_t total, size_t wsize,
		       unsigned int nr_bufs, unsigned int bsize)
{
	struct rx_opts o = { .timeout_s = 60 };
	struct rx_conn c = { .seed = total ^ wsize ^ 0xdef };
	struct zcrxdev_stats st;
	int cli, srv, r, status;
	pid_t pid;

	if (pool_init(nr_bufs, bsize, ZCRXDEV_SETUP_DEFER) ||
	    tcp_pair(AF_INET, &cli, &srv)) {
		CHECK(name, 0, "init or tcp_pair failed");
		return;
	}
	r = zcrx_attach(&z, srv, 0);
	pid = spawn_sender(cli, c.seed, total, wsize, SHUT_WR);
	close(cli);
	if (!r)
		r = rx_run(&z, &c, 1, &o);
	waitpid(pid, &status, 0);
	st = stats();
	CHECK(name, !r && c.bytes == total && !c.bad_at && c.eof &&
	      c.ends == 1 && st.bytes_copied == total && st.eof == 1 &&
	      st.recv_calls > 0 && st.refill_bad == 0 && WIFEXITED(status) &&
	      !WEXITSTATUS(status),
	      "r=%d bytes=%llu/%llu bad_at=%llu eof=%d copied=%llu recv_calls=%llu",
	      r, (unsigned long long)c.bytes, (unsigned long long)total,
	      (unsigned long long)c.bad_at, c.eof,
	      (unsigned long long)st.bytes_copied,
	      (unsigned long long)st.recv_calls);
	tap_diag("%s: %llu completions, %llu RECV calls, %llu stalls", name,
		 (unsigned long long)st.completions,
		 (unsigned long long)st.recv_calls,
		 (unsigned long long)st.stalls);
	if (nr_bufs <= 8)
		CHECK("backpressure_stalls", st.stalls > 0, "stalls=%llu",
		      (unsigned long long)st.stalls);
	close(srv);
	zcrx_exit(&z);
}

/* n connections at once into one DEFER pool. */
static void test_many(unsigned int n, uint64_t each)
{
	struct rx_opts o = { .timeout_s = 60 };
	struct rx_conn c[16];
	int cli[16], srv[16], status, r = 0, ok = 1;
	pid_t pid[16];
	unsigned int i;

	if (pool_init(64, 65536, ZCRXDEV_SETUP_DEFER)) {
		CHECK("many_16", 0, "init");
		return;
	}
	for (i = 0; i < n; i++) {
		c[i] = (struct rx_conn){ .seed = 1000 + i };
		if (tcp_pair(AF_INET, &cli[i], &srv[i]) ||
		    zcrx_attach(&z, srv[i], i))
			ok = 0;
	}
	for (i = 0; i < n; i++) {
		pid[i] = spawn_sender(cli[i], c[i].seed, each, 16384, SHUT_WR);
		close(cli[i]);
	}
	if (ok)
		r = rx_run(&z, c, n, &o);
	for (i = 0; i < n; i++) {
		waitpid(pid[i], &status, 0);
		if (c[i].bytes != each || c[i].bad_at || !c[i].eof ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			ok = 0;
		close(srv[i]);
	}
	CHECK("many_16", ok && !r && stats().bytes_copied == n * each,
	      "r=%d copied=%llu", r, (unsigned long long)stats().bytes_copied);
	zcrx_exit(&z);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	tap_set_group("defer");
	test_setup_flags();
	test_placed_only_by_recv();
	test_wait_threshold();
	test_recv_wait();
	test_recv_wait_busy();
	stream_one("stream_4k_writes_16MiB", 16 << 20, 4096, 256, 65536);
	stream_one("stream_64k_writes_64MiB", 64 << 20, 65536, 256, 65536);
	stream_one("backpressure_8_bufs_8MiB", 8 << 20, 65536, 8, 4096);
	test_many(16, 4 << 20);
	CHECK("no_leak", sysfs_wait("sockets", 0, 3000) == 0 &&
	      sysfs_wait("pool_pages", 0, 3000) == 0, "sockets=%ld pages=%ld",
	      sysfs_long("sockets"), sysfs_long("pool_pages"));
	return tap_exit();
}

// SPDX-License-Identifier: MIT
/*
 * The wake threshold (the CQ's wake_min word, zcrx_wait_nr()): a waiter
 * sleeps until that many completions are ready, or its timeout, and wakes
 * at once for an end of stream, a stalled socket, or a threshold beyond
 * the ring's half (clamped).
 */
#include <poll.h>
#include <signal.h>

#include "tap.h"
#include "rx.h"

static struct zcrx z;

static int wait_init(unsigned int nr_bufs, unsigned int cq_entries)
{
	struct zcrx_params p = { .nr_bufs = nr_bufs, .buf_size = 4096,
				 .cq_entries = cq_entries };

	return zcrx_init(&z, &p);
}

/* Consume (and return) every ready completion; returns how many. */
static unsigned int drain(void)
{
	struct zcrxdev_cqe *cqe;
	unsigned int head, n = 0;

	zcrx_for_each_cqe(&z, head, cqe) {
		zcrx_return_cqe(&z, cqe);
		n++;
	}
	zcrx_cq_advance(&z, n);
	zcrx_rq_commit(&z);
	return n;
}

/* In a child: n writes of len bytes, gap_ms apart, then maybe shutdown. */
static pid_t spawn_writes(int fd, unsigned int n, size_t len, int gap_ms,
			  int shut)
{
	pid_t pid = fork();
	char buf[4096];
	unsigned int i;

	if (pid)
		return pid;
	memset(buf, 'w', sizeof(buf));
	for (i = 0; i < n; i++) {
		usleep(gap_ms * 1000);
		if (write_all(fd, buf, len))
			_exit(2);
	}
	if (shut)
		shutdown(fd, SHUT_WR);
	_exit(0);
}

/* Wait (up to 2 s) until the pool has posted n completions in all. */
static void settle(uint64_t n)
{
	struct zcrxdev_stats st;
	int i;

	for (i = 0; i < 200; i++) {
		zcrx_stats(&z, &st);
		if (st.completions >= n)
			return;
		usleep(10000);
	}
}

static void test_threshold(void)
{
	int cli, srv, status, r;
	double t0, dt;
	pid_t pid;

	CHECK("init", !wait_init(64, 0) && z.cq.kwake_min, "init");
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);

	/* Three small segments, each its own completion, fewer than asked. */
	pid = spawn_writes(cli, 3, 100, 20, 0);
	waitpid(pid, &status, 0);
	settle(3);
	t0 = now_s();
	r = zcrx_wait_nr(&z, 8, 300);
	dt = now_s() - t0;
	CHECK("below_threshold_sleeps_to_timeout", r == 3 && dt >= 0.25,
	      "r=%d after %.3f s", r, dt);
	drain();

	/* Ten more, 30 ms apart: woken once eight are there, not before. */
	pid = spawn_writes(cli, 10, 100, 30, 0);
	t0 = now_s();
	r = zcrx_wait_nr(&z, 8, 5000);
	dt = now_s() - t0;
	CHECK("woken_at_threshold", r >= 8 && dt >= 0.2 && dt < 2,
	      "r=%d after %.3f s", r, dt);
	waitpid(pid, &status, 0);
	settle(3 + 10);
	drain();

	/* An end of stream does not wait for the threshold. */
	pid = spawn_writes(cli, 2, 100, 20, 1);
	waitpid(pid, &status, 0);
	t0 = now_s();
	r = zcrx_wait_nr(&z, 16, 5000);
	dt = now_s() - t0;
	CHECK("eof_wakes_at_once", r >= 1 && dt < 2, "r=%d after %.3f s", r, dt);
	drain();

	/* zcrx_wait() is back to one completion. */
	CHECK("wait_resets_threshold", zcrx_wait(&z, 0) == -ETIME &&
	      *z.cq.kwake_min == 1, "wake_min=%u", *z.cq.kwake_min);
	close(cli);
	close(srv);
	zcrx_exit(&z);
}

/* A threshold past half the ring is clamped: the waiter still wakes. */
static void test_clamp(void)
{
	struct pollfd pfd;
	int cli, srv, status, r;
	double t0, dt;
	pid_t pid;

	CHECK("clamp_init", !wait_init(64, 16) && z.cq.entries == 16, "init");
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	*z.cq.kwake_min = 0xffffffffu;	/* hostile: clamped to 8 */
	pid = spawn_writes(cli, 8, 100, 10, 0);
	pfd.fd = z.fd;
	pfd.events = POLLIN;
	t0 = now_s();
	do {
		r = poll(&pfd, 1, 3000);
	} while (r > 0 && zcrx_cq_ready(&z) < 8 && now_s() - t0 < 3);
	dt = now_s() - t0;
	waitpid(pid, &status, 0);
	CHECK("huge_threshold_clamped", r == 1 && zcrx_cq_ready(&z) >= 8 && dt < 2,
	      "poll=%d ready=%u after %.3f s", r, zcrx_cq_ready(&z), dt);
	close(cli);
	close(srv);
	zcrx_exit(&z);
}

/* A socket stalled on the buffers of ready completions wakes the waiter. */
static void test_stall(void)
{
	int cli, srv, status, r;
	double t0, dt;
	pid_t pid;

	CHECK("stall_init", !wait_init(2, 32), "init");
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	pid = spawn_writes(cli, 4, 4096, 10, 0);
	t0 = now_s();
	r = zcrx_wait_nr(&z, 16, 5000);
	dt = now_s() - t0;
	CHECK("stall_wakes_below_threshold", r >= 2 && dt < 2 &&
	      zcrx_need_wakeup(&z), "r=%d after %.3f s, need_wakeup=%d", r, dt,
	      zcrx_need_wakeup(&z));
	drain();
	waitpid(pid, &status, 0);
	close(cli);
	close(srv);
	zcrx_exit(&z);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	tap_set_group("wait");
	test_threshold();
	test_clamp();
	test_stall();
	CHECK("no_leak", sysfs_wait("sockets", 0, 3000) == 0 &&
	      sysfs_wait("pool_pages", 0, 3000) == 0, "sockets=%ld pages=%ld",
	      sysfs_long("sockets"), sysfs_long("pool_pages"));
	return tap_exit();
}

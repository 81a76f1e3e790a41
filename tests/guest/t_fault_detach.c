// SPDX-License-Identifier: MIT
/*
 * Faults: the socket leaves the pool under arriving data: detach racing
 * with data arrival (from the consuming thread, another thread, or with
 * nobody consuming), connect(AF_UNSPEC) on an attached socket, then a new
 * connection attached again, and urgent data stopping placement at the
 * mark.  What completions placed plus what recv() reads is the stream.
 */
#include <pthread.h>

#include "fault.h"

/* ---- 4. Detach racing with data arrival ---- */

struct dr_consumer {
	struct zcrx	*z;
	struct rx_conn	*c;
	int		stop;
};

static void *dr_consume(void *arg)
{
	struct dr_consumer *d = arg;

	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE))
		rx_step(d->z, d->c, 1, 1, NULL);
	return NULL;
}

static void test_detach_race(void)
{
	static const int nbufs[] = { 8, 16, 64 };
	static const int wsizes[] = { 512, 4096, 65536 };
	const int n = 50;
	int i, fails = 0, enoent = 0, threaded = 0, stalled = 0;
	char first[WHY_LEN] = "", why[WHY_LEN], name[64];
	uint64_t before_sum = 0, after_sum = 0;
	double t0 = now_s();

	for (i = 0; i < n; i++) {
		struct zcrx_params p = { .nr_bufs = PICK(nbufs), .buf_size = 4096 };
		struct rx_conn c = { .seed = frng_next(&rng) };
		uint64_t total = (256 << 10) + frng_below(&rng, 4 << 20), after;
		int mode = frng_below(&rng, 3), cli, srv, r, bad = 0, late;
		unsigned int delay = frng_below(&rng, 30000);
		struct dr_consumer d = { .z = NULL };
		pthread_t th;
		struct zcrx z;
		pid_t tx;

		if (zcrx_init(&z, &p) || tcp_pair(AF_INET, &cli, &srv)) {
			fails++;
			continue;
		}
		r = zcrx_attach(&z, srv, 0);
		tx = spawn_writer(cli, c.seed, total, PICK(wsizes), SHUT_WR);
		close(cli);
		if (mode == 0) {		/* consume, detach from the same thread */
			double t = now_s();

			while (now_s() - t < delay / 1e6)
				rx_step(&z, &c, 1, 1, NULL);
		} else if (mode == 1) {		/* a thread consumes while we detach */
			d.z = &z;
			d.c = &c;
			pthread_create(&th, NULL, dr_consume, &d);
			usleep(delay);
			threaded++;
		} else {			/* nobody consumes: stalled with bytes queued */
			usleep(delay);
			stalled++;
		}
		if (!r)
			r = zcrx_detach(&z, srv);
		if (mode == 1) {
			__atomic_store_n(&d.stop, 1, __ATOMIC_RELEASE);
			pthread_join(th, NULL);
		}
		/* Everything posted before detach returned is in the ring now. */
		while (rx_step(&z, &c, 1, 0, NULL))
			;
		before_sum += c.bytes;
		after = recv_rest(srv, c.seed, c.bytes, &bad);
		after_sum += after;
		/* Nothing may be posted for the socket after the detach. */
		usleep(20000);
		late = zcrx_cq_ready(&z);
		waitpid(tx, NULL, 0);
		enoent += r == -ENOENT;
		if ((r && !(r == -ENOENT && c.ends)) || c.bad_at || bad ||
		    c.bytes + after != total || late || c.ends > 1) {
			fails++;
			if (!first[0])
				snprintf(first, sizeof(first),
					 "iteration %d mode %d delay %u us: detach=%d "
					 "completions=%llu recv=%llu total=%llu bad_at=%llu "
					 "recv_bad=%d late=%d ends=%d", i, mode, delay, r,
					 (unsigned long long)c.bytes,
					 (unsigned long long)after,
					 (unsigned long long)total,
					 (unsigned long long)c.bad_at, bad, late, c.ends);
		}
		close(srv);
		zcrx_exit(&z);
	}
	tap_diag("detach race: %d runs (%d threaded, %d stalled), %llu bytes by "
		 "completion, %llu by recv(), %d detach after EOF, %.1f s", n,
		 threaded, stalled, (unsigned long long)before_sum,
		 (unsigned long long)after_sum, enoent, now_s() - t0);
	snprintf(name, sizeof(name), "detach_race_%d_streams_exact", n);
	CHECK(name, !fails && before_sum && after_sum, "%d failed; first: %s%s",
	      fails, first, !before_sum || !after_sum ? " (one side never got bytes)" : "");
	CHECK("detach_race_no_leak", gauges_zero(3000, why, sizeof(why)), "%s", why);
}

/* ---- 4b. The socket goes away under the pool in other ways ---- */

/*
 * connect(AF_UNSPEC) on an attached socket with data flowing: the prefix
 * placed is intact, one end completion, the socket is detached; then the
 * same socket connects again, is attached again and delivers exactly.
 */
static void test_disconnect(void)
{
	struct zcrx_params p = { .nr_bufs = 32, .buf_size = 4096 };
	struct rx_conn c[2] = { { .seed = frng_next(&rng) }, { .seed = frng_next(&rng) } };
	struct sockaddr_in un = { .sin_family = AF_UNSPEC }, la = { .sin_family = AF_INET };
	struct rx_opts o = { .timeout_s = 30 };
	socklen_t alen = sizeof(la);
	const uint64_t total = 4 << 20;
	int cli, srv, l, s2, r, dr, rr = -1, st = 0;
	long socks_after;
	char why[WHY_LEN];
	struct zcrx z;
	double t;
	pid_t tx;

	if (zcrx_init(&z, &p) || tcp_pair(AF_INET, &cli, &srv)) {
		CHECK("disconnect_attached_socket", 0, "setup failed");
		return;
	}
	r = zcrx_attach(&z, cli, 0);	/* the connecting side this time */
	tx = spawn_writer(srv, c[0].seed, ~0ull, 65536, 0);
	close(srv);
	t = now_s();
	while (!r && (now_s() - t < 0.05 || !c[0].bytes) && now_s() - t < 10)
		rx_step(&z, &c[0], 1, 5, NULL);
	dr = connect(cli, (struct sockaddr *)&un, sizeof(un)) ? -errno : 0;
	t = now_s();
	while (!c[0].ends && now_s() - t < 5)
		rx_step(&z, c, 2, 50, NULL);
	socks_after = sysfs_wait("sockets", 0, 2000);
	kill_reap(tx, NULL);
	CHECK("disconnect_attached_socket", !r && !dr && c[0].ends == 1 && !c[0].bad_at &&
	      c[0].bytes > 0 && (c[0].eof || c[0].error == ECONNRESET) && !socks_after,
	      "attach=%d disconnect=%d ends=%d eof=%d error=%d bytes=%llu bad_at=%llu "
	      "sockets=%ld", r, dr, c[0].ends, c[0].eof, c[0].error,
	      (unsigned long long)c[0].bytes, (unsigned long long)c[0].bad_at,
	      socks_after);
	/* The same socket, a new connection, attached again. */
	l = socket(AF_INET, SOCK_STREAM, 0);
	la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s2 = -1;
	if (l >= 0 && !bind(l, (struct sockaddr *)&la, sizeof(la)) && !listen(l, 1) &&
	    !getsockname(l, (struct sockaddr *)&la, &alen) &&
	    !connect(cli, (struct sockaddr *)&la, sizeof(la)))
		s2 = accept(l, NULL, NULL);
	if (s2 < 0) {
		CHECK("disconnect_reconnect_reattach", 0, "reconnect: %s", strerror(errno));
	} else {
		rr = zcrx_attach(&z, cli, 1);
		tx = spawn_writer(s2, c[1].seed, total, 65536, SHUT_WR);
		close(s2);
		r = rr ? rr : rx_run(&z, c, 2, &o);
		waitpid(tx, &st, 0);
		CHECK("disconnect_reconnect_reattach", !r && c[1].bytes == total &&
		      !c[1].bad_at && c[1].eof, "attach=%d r=%d bytes=%llu bad_at=%llu eof=%d",
		      rr, r, (unsigned long long)c[1].bytes,
		      (unsigned long long)c[1].bad_at, c[1].eof);
	}
	if (l >= 0)
		close(l);
	close(cli);
	zcrx_exit(&z);
	CHECK("disconnect_no_leak", gauges_zero(3000, why, sizeof(why)), "%s", why);
}

/*
 * Urgent data stops placement at the mark (a documented limit).  Whatever
 * was placed plus what recv() reads after detach must be the stream, byte
 * for byte (the urgent byte itself is out of band).
 */
static void test_urgent(void)
{
	struct zcrx_params p = { .nr_bufs = 64, .buf_size = 4096 };
	struct rx_conn c = { .seed = frng_next(&rng) };
	const size_t a = 100000, b = 300000;
	int cli, srv, r, bad = 0, ends_before;
	uint64_t after;
	double last;
	uint8_t *buf;
	char why[WHY_LEN];
	struct zcrx z;

	buf = malloc(a + b);
	if (!buf || zcrx_init(&z, &p) || tcp_pair(AF_INET, &cli, &srv)) {
		CHECK("urgent_data_then_detach_exact", 0, "setup failed");
		free(buf);
		return;
	}
	pattern_fill(c.seed, 0, buf, a + b);
	r = zcrx_attach(&z, srv, 0);
	write_all(cli, buf, a);
	if (send(cli, "U", 1, MSG_OOB) != 1)
		r = -errno;
	write_all(cli, buf + a, b);
	shutdown(cli, SHUT_WR);
	last = now_s();
	while (!r && !c.ends && now_s() - last < 0.5)
		if (rx_step(&z, &c, 1, 50, NULL))
			last = now_s();
	ends_before = c.ends;
	if (!r)
		r = zcrx_detach(&z, srv);
	while (rx_step(&z, &c, 1, 0, NULL))
		;
	after = recv_rest(srv, c.seed, c.bytes, &bad);
	tap_diag("urgent: %llu bytes placed before the mark (%s), %llu by recv() after "
		 "detach", (unsigned long long)c.bytes,
		 ends_before ? "ended" : "stalled there", (unsigned long long)after);
	CHECK("urgent_data_then_detach_exact", (!r || (r == -ENOENT && c.ends)) &&
	      c.bytes + after == a + b && !c.bad_at && !bad,
	      "detach=%d placed=%llu recv=%llu of %zu bad_at=%llu recv_bad=%d", r,
	      (unsigned long long)c.bytes, (unsigned long long)after, a + b,
	      (unsigned long long)c.bad_at, bad);
	free(buf);
	close(cli);
	close(srv);
	zcrx_exit(&z);
	CHECK("urgent_no_leak", gauges_zero(3000, why, sizeof(why)), "%s", why);
}

int main(void)
{
	fault_start();
	test_detach_race();
	test_disconnect();
	test_urgent();
	return tap_exit();
}

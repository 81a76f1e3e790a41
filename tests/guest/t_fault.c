// SPDX-License-Identifier: MIT
/*
 * Faults: a receiver SIGKILLed at random points of a stream, every order of
 * closing the socket, the /dev/zcrx fd and the three mappings, fork() with
 * the mappings, detach racing with arriving data, the socket disconnected
 * or stopped by urgent data, pool teardown while pool pages sit in skbs
 * (spliced, or sent by ZCRXDEV_IOC_SEND), and RLIMIT_MEMLOCK shared by
 * several processes of one user.  Where the UAPI has the send path, the
 * killed receivers and the close orders also have sends in flight.  Each
 * ends with the module's gauges back to 0 and a working module.
 *
 * ./t_fault [part] runs one part: sigkill, close, fork, detach, disconnect,
 * urgent, teardown, forward, memlock.  ZCRX_FUZZ_SEED overrides the random seed (printed).
 */
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "fault.h"

#define WHY_LEN	256

static struct frng rng;

static int pick(const int *v, int n)
{
	return v[frng_below(&rng, n)];
}

#define PICK(arr) pick((arr), (int)ARRAY_SIZE(arr))

/* Shared with forked children: what they saw. */
struct board {
	long	corrupt;	/* completions whose bytes were wrong */
	long	bytes;		/* payload bytes verified */
	long	ends;		/* EOF/error completions */
	int	phase;		/* memlock: parent's go signal */
	int	arrived[8];	/* memlock: children done with phase i */
	long	res[4][8];	/* memlock: per child, per step */
};

static struct board *board;

static void board_reset(void)
{
	memset(board, 0, sizeof(*board));
}

/* ---- 1. SIGKILL of a receiver at random points of a stream ---- */

/* RX_FORWARD sends what it gets on to a socket nobody reads (in flight). */
enum { RX_RETURN, RX_SLOW, RX_HOLD, RX_IDLE, RX_FORWARD, RX_END };

static void __attribute__((noreturn))
kill_receiver(int srv, int ready, uint64_t seed, int mode, unsigned int nbufs,
	      unsigned int bsize)
{
	struct zcrx_params p = { .nr_bufs = nbufs, .buf_size = bsize };
	int sink = -1, sink_peer = -1;
	uint64_t pos = 0;
	struct zcrx z;

	if (zcrx_init(&z, &p) || zcrx_attach(&z, srv, 0))
		_exit(3);
	if (mode == RX_FORWARD) {
		if (tcp_pair(AF_INET, &sink, &sink_peer))
			_exit(5);
		fcntl(sink, F_SETFL, O_NONBLOCK);
	}
	if (write(ready, "a", 1) != 1)
		_exit(4);
	for (;;) {
		struct zcrxdev_cqe *cqe;
		unsigned int head, n = 0;

		if (mode == RX_IDLE) {
			pause();
			continue;
		}
		zcrx_wait(&z, 100);
		zcrx_for_each_cqe(&z, head, cqe) {
			n++;
			if (!cqe->len) {
				__atomic_add_fetch(&board->ends, 1, __ATOMIC_RELAXED);
				continue;
			}
			if (pattern_check(seed, pos, zcrx_cqe_data(&z, cqe),
					  cqe->len) != cqe->len)
				__atomic_add_fetch(&board->corrupt, 1, __ATOMIC_RELAXED);
			if (mode == RX_FORWARD)	/* returned below while still sent */
				zcrx_send(&z, sink, cqe->off, cqe->len, pos);
			pos += cqe->len;
			__atomic_add_fetch(&board->bytes, cqe->len, __ATOMIC_RELAXED);
			if (mode != RX_HOLD)
				zcrx_return_cqe(&z, cqe);
		}
		zcrx_cq_advance(&z, n);
		zcrx_rq_commit(&z);
		if (mode == RX_SLOW)
			usleep(500);
	}
}

static void test_sigkill(void)
{
	static const int nbufs[] = { 8, 32, 128 };
	static const int bsizes[] = { 4096, 16384, 65536 };
	static const int wsizes[] = { 1000, 4096, 65536, 262144 };
	const long n = 100, early = 25;
	const int max_ms = 100;
	long not_attached = 0, not_killed = 0, setup_fail = 0, i;
	char why[WHY_LEN], name[64];
	double t0 = now_s();
	bool gz;

	board_reset();
	for (i = 0; i < n + early; i++) {
		bool is_early = i >= n, keep = frng_below(&rng, 2);
		int cli, srv, pp[2], st = 0, mode = frng_below(&rng, RX_END);
		int order = frng_below(&rng, 3);
		uint64_t seed = frng_next(&rng);
		pid_t rx, tx;
		char ch;

		if (tcp_pair(frng_below(&rng, 2) ? AF_INET6 : AF_INET, &cli, &srv) ||
		    pipe(pp)) {
			setup_fail++;
			continue;
		}
		fflush(stdout);
		fflush(stderr);
		rx = fork();
		if (!rx) {
			close(pp[0]);
			close(cli);
			kill_receiver(srv, pp[1], seed, mode, PICK(nbufs), PICK(bsizes));
		}
		close(pp[1]);
		/*
		 * keep: we hold a second fd of the attached socket and close it
		 * around the kill, so detach-on-close races the pool's teardown.
		 */
		if (!keep)
			close(srv);
		tx = spawn_writer(cli, seed, ~0ull, PICK(wsizes), 0);
		close(cli);
		if (!is_early) {
			struct pollfd pf = { .fd = pp[0], .events = POLLIN };

			if (poll(&pf, 1, 20000) != 1 || read(pp[0], &ch, 1) != 1)
				not_attached++;
			usleep(frng_below(&rng, max_ms * 1000 + 1));
		} else {
			/* Anywhere: in setup, mmap, attach or receiving. */
			usleep(frng_below(&rng, 5000));
		}
		/*
		 * order 0: receiver first; 1: sender first, so its FIN (EOF
		 * completion, detach work) races the teardown; 2: both at once.
		 */
		if (order == 1) {
			kill_reap(tx, NULL);
			usleep(frng_below(&rng, 2000));
		}
		kill(rx, SIGKILL);
		if (keep && frng_below(&rng, 2)) {
			close(srv);
			keep = false;
		}
		if (order == 0)
			usleep(frng_below(&rng, 2000));
		kill_reap(tx, NULL);
		waitpid(rx, &st, 0);
		if (keep)
			close(srv);
		if (!is_early && !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
			not_killed++;
		close(pp[0]);
	}
	tap_diag("sigkill: %ld kills after attach + %ld anywhere, %ld payload bytes "
		 "verified, %ld EOF/error completions seen, %.1f s", n, early,
		 board->bytes, board->ends, now_s() - t0);
	snprintf(name, sizeof(name), "sigkill_%ld_receivers_verified", n);
	CHECK(name, !setup_fail && !not_attached && !not_killed && !board->corrupt &&
	      board->bytes > 0,
	      "setup_fail=%ld not_attached=%ld died_before_kill=%ld corrupt=%ld "
	      "bytes=%ld", setup_fail, not_attached, not_killed, board->corrupt,
	      board->bytes);
	gz = gauges_zero(5000, why, sizeof(why));
	snprintf(name, sizeof(name), "sigkill_%ld_receivers_no_leak", n);
	CHECK(name, gz, "%s", why);
	CHECK("sigkill_then_clean_stream",
	      clean_stream(2, 4 << 20, frng_next(&rng), why, sizeof(why)), "%s", why);
}

/* ---- 2. Every close order of socket, fd and the three mappings ---- */

enum { CO_SOCK, CO_FD, CO_POOL, CO_CQ, CO_RQ, CO_N };
static const char *const co_name[CO_N] = { "sock", "fd", "pool", "cq", "rq" };

struct held {
	uint64_t	off;
	uint32_t	len;
};

/*
 * Read what the rings show; return buffers only while the RQ is mapped.
 * The first hold completions are kept (recorded in h) instead.
 */
static void co_drain(struct zcrx *z, struct rx_conn *c, const bool *open,
		     unsigned int hold, struct held *h)
{
	struct zcrxdev_cqe *cqe;
	unsigned int head, n = 0;

	if (!open[CO_CQ] || !open[CO_POOL])
		return;
	zcrx_for_each_cqe(z, head, cqe) {
		n++;
		if (!cqe->len) {
			c->ends++;
			continue;
		}
		if (!c->bad_at) {
			size_t k = pattern_check(c->seed, c->bytes,
						 zcrx_cqe_data(z, cqe), cqe->len);
			if (k != cqe->len)
				c->bad_at = c->bytes + k + 1;
		}
		c->bytes += cqe->len;
		if (hold) {
			hold--;
			h[hold].off = cqe->off;
			h[hold].len = cqe->len;
			continue;
		}
		if (open[CO_RQ] && zcrx_rq_space(z))
			zcrx_return_cqe(z, cqe);
	}
	zcrx_cq_advance(z, n);
	if (open[CO_RQ]) {
		zcrx_store_release(z->rq.ktail, z->rq.tail);
		zcrx_smp_mb();
		if (open[CO_FD] && zcrx_need_wakeup(z))
			zcrx_wake(z);
	}
}

static bool close_order_once(const int *order, char *why, size_t len)
{
	struct zcrx_params p = { .nr_bufs = 16, .buf_size = 4096 };
	struct rx_conn c = { .seed = frng_next(&rng) };
	bool open[CO_N] = { true, true, true, true, true }, gz;
	struct held h[3] = { { 0, 0 } };
	int cli, srv, k, r, sink = -1, sink_peer = -1;
	struct zcrx z;
	double t0;
	pid_t tx;

	r = zcrx_init(&z, &p);
	if (r) {
		snprintf(why, len, "zcrx_init: %s", strerror(-r));
		return false;
	}
	if (tcp_pair(frng_below(&rng, 2) ? AF_INET6 : AF_INET, &cli, &srv)) {
		zcrx_exit(&z);
		snprintf(why, len, "tcp_pair failed");
		return false;
	}
	r = zcrx_attach(&z, srv, 0);
	tx = spawn_writer(cli, c.seed, ~0ull, 65536, 0);
	close(cli);
	/* Data in flight: receive a little (>= 20 ms and some bytes), hold a few. */
	t0 = now_s();
	while (!r && (now_s() - t0 < 0.02 || !c.bytes) && now_s() - t0 < 10)
		rx_step(&z, &c, 1, 5, NULL);
	usleep(2000);
	co_drain(&z, &c, open, 3, h);
	/* Held bytes also go out by reference to a peer nobody reads. */
	if (!tcp_pair(AF_INET, &sink, &sink_peer)) {
		fcntl(sink, F_SETFL, O_NONBLOCK);
		for (k = 0; k < 3; k++)
			if (h[k].len)
				zcrx_send(&z, sink, h[k].off, h[k].len, k);
	}
	for (k = 0; k < CO_N; k++) {
		switch (order[k]) {
		case CO_SOCK:
			close(srv);
			break;
		case CO_FD:
			close(z.fd);
			z.fd = -1;
			break;
		case CO_POOL:
			munmap(z.pool, z.pool_size);
			break;
		case CO_CQ:
			munmap(z.cq.map, z.cq.map_size);
			break;
		case CO_RQ:
			munmap(z.rq.map, z.rq.map_size);
			break;
		}
		open[order[k]] = false;
		usleep(frng_below(&rng, 3000));
		co_drain(&z, &c, open, 0, NULL);
	}
	kill_reap(tx, NULL);
	/* Pages the sink still holds stay the dead pool's until it lets go. */
	if (sink >= 0) {
		close(sink);
		close(sink_peer);
	}
	gz = gauges_zero(3000, why, len);
	if (!gz || r || c.bad_at || !c.bytes) {
		size_t l = strlen(why);

		snprintf(why + l, len - l, " attach=%d bytes=%llu bad_at=%llu", r,
			 (unsigned long long)c.bytes, (unsigned long long)c.bad_at);
		return false;
	}
	return true;
}

static bool next_perm(int *a, int n)
{
	int i = n - 2, j, t;

	while (i >= 0 && a[i] >= a[i + 1])
		i--;
	if (i < 0)
		return false;
	for (j = n - 1; a[j] <= a[i]; j--)
		;
	t = a[i];
	a[i] = a[j];
	a[j] = t;
	for (i++, j = n - 1; i < j; i++, j--) {
		t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
	return true;
}

static void test_close_orders(void)
{
	int order[CO_N] = { 0, 1, 2, 3, 4 }, k, runs = 0, bad = 0, coarse = 0;
	char why[WHY_LEN], first[2 * WHY_LEN] = "", name[96];
	double t0 = now_s();

	do {
		bool ok = close_order_once(order, why, sizeof(why));
		int ppos = -1;

		runs++;
		/* The six orders of {socket, fd, all mappings}: maps in a row. */
		for (k = 0; k + 2 < CO_N; k++)
			if (order[k] == CO_POOL && order[k + 1] == CO_CQ &&
			    order[k + 2] == CO_RQ)
				ppos = k;
		if (ppos >= 0) {
			if (ppos == 0)
				snprintf(name, sizeof(name), "close_order_maps_%s_%s",
					 co_name[order[3]], co_name[order[4]]);
			else if (ppos == 1)
				snprintf(name, sizeof(name), "close_order_%s_maps_%s",
					 co_name[order[0]], co_name[order[4]]);
			else
				snprintf(name, sizeof(name), "close_order_%s_%s_maps",
					 co_name[order[0]], co_name[order[1]]);
			coarse++;
			CHECK(name, ok, "%s", why);
		}
		if (!ok) {
			bad++;
			if (!first[0])
				snprintf(first, sizeof(first), "%s,%s,%s,%s,%s: %s",
					 co_name[order[0]], co_name[order[1]],
					 co_name[order[2]], co_name[order[3]],
					 co_name[order[4]], why);
		}
	} while (next_perm(order, CO_N));
	tap_diag("close orders: %d permutations of {sock, fd, pool, cq, rq} (%d of "
		 "{sock, fd, maps}), %.1f s", runs, coarse, now_s() - t0);
	CHECK("close_orders_all_120_no_leak", runs == 120 && coarse == 6 && !bad,
	      "%d of %d orders failed; first %s", bad, runs, first);
}

/* ---- 3. fork() with the mappings ---- */

enum { FORK_READ, FORK_EXIT, FORK_KILLED };
static const char *const fork_name[] = { "fork_child_reads_pool",
					 "fork_child_unmaps_and_closes",
					 "fork_child_killed_while_reading" };

static void __attribute__((noreturn)) fork_child(struct zcrx *z, int srv, int how)
{
	volatile uint64_t sum = 0;
	size_t i;

	switch (how) {
	case FORK_READ:
		for (i = 0; i < z->pool_size; i += 64)
			sum += z->pool[i];
		sum += *z->cq.khead + *z->cq.ktail + *z->rq.khead;
		_exit(0);
	case FORK_EXIT:
		for (i = 0; i < z->pool_size; i += 4096)
			sum += z->pool[i];
		zcrx_exit(z);
		close(srv);
		_exit(0);
	default:
		for (;;)
			for (i = 0; i < z->pool_size; i += 64)
				sum += z->pool[i];
	}
}

static void test_fork(int how)
{
	struct zcrx_params p = { .nr_bufs = 64, .buf_size = 16384 };
	const uint64_t total = 32 << 20;
	struct rx_conn c = { .seed = frng_next(&rng) };
	const int want_forks = 20;
	int cli, srv, r, forks = 0, bad_child = 0, live = 0, st, k;
	pid_t kids[32], tx;
	char why[WHY_LEN], name[96];
	double last = now_s();
	struct zcrx z;
	bool gz;

	r = zcrx_init(&z, &p);
	if (r || tcp_pair(AF_INET, &cli, &srv)) {
		CHECK(fork_name[how], 0, "setup failed: %d", r);
		return;
	}
	r = zcrx_attach(&z, srv, 0);
	tx = spawn_writer(cli, c.seed, total, 65536, SHUT_WR);
	close(cli);
	while (!r && !c.ends && now_s() - last < 30) {
		if (rx_step(&z, &c, 1, 100, NULL))
			last = now_s();
		/* A child every 1/(want_forks + 1) of the stream. */
		if (forks < want_forks &&
		    c.bytes >= (forks + 1) * (total / (want_forks + 1))) {
			pid_t pid;

			fflush(stdout);
			fflush(stderr);
			pid = fork();
			if (!pid)
				fork_child(&z, srv, how);
			if (pid > 0)
				kids[live++] = pid;
			forks++;
			if (how == FORK_KILLED && pid > 0) {
				usleep(frng_below(&rng, 2000));
				kill(pid, SIGKILL);
			}
		}
		for (k = 0; k < live; k++) {
			if (waitpid(kids[k], &st, WNOHANG) != kids[k])
				continue;
			if (how == FORK_KILLED ? !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
					       : !(WIFEXITED(st) && !WEXITSTATUS(st)))
				bad_child++;
			kids[k--] = kids[--live];
		}
	}
	for (k = 0; k < live; k++) {
		waitpid(kids[k], &st, 0);
		if (how == FORK_KILLED ? !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
				       : !(WIFEXITED(st) && !WEXITSTATUS(st)))
			bad_child++;
	}
	waitpid(tx, NULL, 0);
	snprintf(name, sizeof(name), "%s_stream_intact", fork_name[how]);
	CHECK(name, !r && c.bytes == total && !c.bad_at && c.eof && c.ends == 1 &&
	      forks == want_forks && !bad_child,
	      "attach=%d bytes=%llu/%llu bad_at=%llu eof=%d ends=%d forks=%d "
	      "bad_children=%d", r, (unsigned long long)c.bytes,
	      (unsigned long long)total, (unsigned long long)c.bad_at, c.eof,
	      c.ends, forks, bad_child);
	close(srv);
	zcrx_exit(&z);
	gz = gauges_zero(3000, why, sizeof(why));
	snprintf(name, sizeof(name), "%s_no_leak", fork_name[how]);
	CHECK(name, gz, "%s", why);
}

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

/* recv() the rest after detach; returns bytes read, sets *bad on mismatch. */
static uint64_t recv_rest(int fd, uint64_t seed, uint64_t pos, int *bad)
{
	struct timeval tv = { .tv_sec = 20 };
	static uint8_t buf[65536];
	uint64_t got = 0;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		if (pattern_check(seed, pos + got, buf, n) != (size_t)n)
			(*bad)++;
		got += n;
	}
	if (n < 0)
		(*bad)++;
	return got;
}

/* recv() exactly want bytes (or until 10 s pass); returns bytes read. */
static uint64_t recv_some(int fd, uint64_t seed, uint64_t pos, uint64_t want,
			  int *bad)
{
	struct timeval tv = { .tv_sec = 10 };
	static uint8_t buf[65536];
	uint64_t got = 0;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got < want) {
		n = recv(fd, buf, want - got < sizeof(buf) ? want - got : sizeof(buf), 0);
		if (n <= 0)
			break;
		if (pattern_check(seed, pos + got, buf, n) != (size_t)n)
			(*bad)++;
		got += n;
	}
	return got;
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

/* ---- 5. Pool teardown while zero-copy pages sit in skbs ---- */

/* Receive exactly len bytes of stream tag 0 into held[] (nothing returned). */
static unsigned int collect(struct zcrx *z, uint64_t seed, size_t len,
			    struct held *h, unsigned int max, int *bad)
{
	struct zcrxdev_cqe *cqe;
	unsigned int head, n, nh = 0;
	size_t got = 0;

	while (got < len && zcrx_wait(z, 5000) > 0) {
		n = 0;
		zcrx_for_each_cqe(z, head, cqe) {
			n++;
			if (!cqe->len || nh == max)
				continue;
			if (pattern_check(seed, got, zcrx_cqe_data(z, cqe),
					  cqe->len) != cqe->len)
				(*bad)++;
			h[nh].off = cqe->off;
			h[nh++].len = cqe->len;
			got += cqe->len;
		}
		zcrx_cq_advance(z, n);
	}
	return got == len ? nh : 0;
}

enum { TD_RECV, TD_NEW_POOL, TD_STALLED_SAME_POOL, TD_SEND };
static const char *const td_name[] = { "teardown_zc_pages_then_recv",
				       "teardown_zc_pages_then_new_pool",
				       "teardown_zc_pages_stalled_attached_peer",
				       "teardown_sends_in_flight_then_recv" };

static void test_teardown_zc(int how)
{
	struct zcrx_params p = { .nr_bufs = 64, .buf_size = 4096 };
	const size_t len = 64 << 10;
	uint64_t seed = frng_next(&rng), b_cqe_bytes = 0, got = 0;
	int a_cli, a_srv, b_cli, b_srv, bad = 0, bad_b = 0, r;
	long pages_before, pools_after, pages_after;
	struct held h[256];
	struct zcrxdev_stats st;
	unsigned int nh, i, zc_b = 0;
	char name[96], why[WHY_LEN];
	size_t sent = 0;
	struct zcrx z;
	uint8_t *buf;

	if (how == TD_STALLED_SAME_POOL)
		p.cq_entries = 8;	/* B's zero-copy completions fill it */
	r = zcrx_init(&z, &p);
	if (r || tcp_pair(AF_INET, &a_cli, &a_srv) || tcp_pair(AF_INET, &b_cli, &b_srv)) {
		CHECK(td_name[how], 0, "setup failed: %d", r);
		return;
	}
	zcrx_attach(&z, a_srv, 0);
	buf = malloc(len);
	pattern_fill(seed, 0, buf, len);
	write_all(a_cli, buf, len);
	nh = collect(&z, seed, len, h, 256, &bad);
	if (how == TD_STALLED_SAME_POOL)
		zcrx_attach(&z, b_srv, 1);
	/* The pool's pages go to B's peer by reference. */
	for (i = 0; i < nh && how != TD_SEND; i++)
		sent += splice_out(z.pool + h[i].off, h[i].len, b_cli);
	/* Or by the module's own SEND: then they are in flight, no SENT yet. */
	if (how == TD_SEND)
		fcntl(b_cli, F_SETFL, O_NONBLOCK);
	for (i = 0; i < nh && how == TD_SEND; i++) {
		double t = now_s();
		long sr;

		do {
			sr = zcrx_send(&z, b_cli, h[i].off, h[i].len, i);
			if (sr == -EAGAIN)
				usleep(1000);
		} while (sr == -EAGAIN && now_s() - t < 5);
		if (sr > 0)
			sent += sr;
		if (sr > 0 && (uint32_t)sr < h[i].len) {	/* the rest, later */
			h[i].off += sr;
			h[i].len -= sr;
			i--;
		}
	}
	usleep(100000);
	if (how == TD_STALLED_SAME_POOL) {
		struct zcrxdev_cqe *cqe;
		unsigned int head, n = 0;

		/* Read B's completions as they are; the rest stays queued. */
		zcrx_for_each_cqe(&z, head, cqe) {
			n++;
			if (cqe->tag != 1 || !cqe->len)
				continue;
			if (pattern_check(seed, b_cqe_bytes, zcrx_cqe_data(&z, cqe),
					  cqe->len) != cqe->len)
				bad_b++;
			zc_b += !!(cqe->flags & ZCRXDEV_CQE_ZEROCOPY);
			b_cqe_bytes += cqe->len;
		}
		zcrx_cq_advance(&z, n);
	} else {
		/* Give A's buffers back: skbs still hold their pages. */
		for (i = 0; i < nh; i++) {
			struct zcrxdev_cqe back = { .off = h[i].off, .len = h[i].len };

			zcrx_return_cqe(&z, &back);
		}
		zcrx_rq_commit(&z);
		zcrx_wake(&z);
	}
	zcrx_stats(&z, &st);
	if (how == TD_SEND && st.bytes_sent != len)
		bad++;		/* the counter must have seen every byte */
	pages_before = sysfs_long("pool_pages");
	zcrx_exit(&z);		/* unmap all, close: the pool goes */
	pools_after = sysfs_wait("pools", 0, 3000);
	usleep(300000);		/* the reaper looks every 100 ms */
	pages_after = sysfs_long("pool_pages");
	/*
	 * The pool is gone, but the pages skbs hold stay allocated, counted
	 * and charged to us until they are freed; the others are freed now.
	 */
	snprintf(name, sizeof(name), "%s_pool_freed", td_name[how]);
	CHECK(name, nh && sent == len && !bad && pages_before >= 64 &&
	      !pools_after && pages_after > 0 && pages_after < pages_before &&
	      (how == TD_STALLED_SAME_POOL ? st.stalls > 0 && b_cqe_bytes < len
					   : st.bufs_pending > 0),
	      "held=%u spliced=%zu/%zu bad=%d pages before=%ld after=%ld pools=%ld "
	      "pending=%llu stalls=%llu b_cqe_bytes=%llu", nh, sent, len, bad,
	      pages_before, pages_after, pools_after,
	      (unsigned long long)st.bufs_pending, (unsigned long long)st.stalls,
	      (unsigned long long)b_cqe_bytes);

	/* The bytes are still there, in the skbs: read them. */
	memset(buf, 0, len);
	if (how == TD_NEW_POOL) {
		struct zcrx_params q = { .nr_bufs = 64, .buf_size = 4096 };
		struct rx_conn c = { .seed = seed };
		unsigned int unknown = 0;
		double t = now_s();

		r = zcrx_init(&z, &q);
		if (!r)
			r = zcrx_attach(&z, b_srv, 0);
		while (!r && c.bytes < len && now_s() - t < 20)
			rx_step(&z, &c, 1, 100, &unknown);
		got = c.bytes;
		bad_b = !!c.bad_at + (int)unknown;
		snprintf(name, sizeof(name), "%s_copied_not_zerocopy", td_name[how]);
		CHECK(name, !r && c.zerocopy == 0 && c.copied == len,
		      "r=%d zerocopy=%llu copied=%llu", r,
		      (unsigned long long)c.zerocopy, (unsigned long long)c.copied);
		zcrx_exit(&z);
	} else {
		got = b_cqe_bytes + recv_some(b_srv, seed, b_cqe_bytes,
					      len - b_cqe_bytes, &bad_b);
	}
	snprintf(name, sizeof(name), "%s_bytes_intact", td_name[how]);
	CHECK(name, got == len && !bad_b, "got=%llu of %zu (by completion %llu, %u "
	      "zero-copy), %d bad", (unsigned long long)got, len,
	      (unsigned long long)b_cqe_bytes, zc_b, bad_b);
	free(buf);
	close(a_cli);
	close(a_srv);
	close(b_cli);
	close(b_srv);
	snprintf(name, sizeof(name), "%s_no_leak", td_name[how]);
	CHECK(name, gauges_zero(3000, why, sizeof(why)), "%s", why);
}

/* SEND off/len on fd whatever it takes (until 5 s after since); 0 or -errno. */
static int send_all(struct zcrx *z, int fd, uint64_t off, uint64_t left, double since)
{
	long r;

	while (left) {
		r = zcrx_send(z, fd, off, left, off);
		if (r == -EAGAIN && now_s() - since < 5) {
			usleep(100);
			continue;
		}
		if (r < 0)
			return r == -EAGAIN ? 0 : (int)r;
		off += r;
		left -= r;
	}
	return 0;
}

/*
 * A forwarder: what arrives on A is sent by reference (ZCRXDEV_IOC_SEND)
 * to a loopback socket B attached to the same pool; every completion is
 * consumed and returned once.  The header lets the process return A's
 * buffer right after the SEND ("only reused once those references are
 * gone") or after its SENT completion; either way B must get the whole
 * stream, and the pool must not wedge itself.
 */
static void test_forward_same_pool(bool early)
{
	struct zcrx_params p = { .nr_bufs = 16, .buf_size = 4096 };
	const uint64_t total = 4 << 20;
	struct rx_conn b = { .seed = frng_next(&rng) };
	int a_cli, a_srv, b_cli, b_srv, err = 0;
	const char *name = early ? "send_forward_same_pool_return_after_send" :
				   "send_forward_same_pool_return_after_sent";
	struct zcrxdev_stats st;
	uint64_t a_bytes = 0;
	char why[WHY_LEN], nm[96];
	double last;
	struct zcrx z;
	pid_t tx;

	if (zcrx_init(&z, &p) || tcp_pair(AF_INET, &a_cli, &a_srv) ||
	    tcp_pair(AF_INET, &b_cli, &b_srv)) {
		CHECK(name, 0, "setup failed");
		return;
	}
	fcntl(b_cli, F_SETFL, O_NONBLOCK);
	err |= zcrx_attach(&z, a_srv, 0);
	err |= zcrx_attach(&z, b_srv, 1);
	tx = spawn_writer(a_cli, b.seed, total, 65536, SHUT_WR);
	close(a_cli);
	last = now_s();
	while (!err && b.bytes < total && now_s() - last < 5) {
		struct zcrxdev_cqe *cqe;
		unsigned int head, n = 0;

		zcrx_wait(&z, 100);
		zcrx_for_each_cqe(&z, head, cqe) {
			n++;
			if (cqe->flags & ZCRXDEV_CQE_SENT) {
				struct zcrxdev_cqe back = { .off = cqe->off, .len = 1 };

				if (!early)	/* A's buffer, now that B has it */
					zcrx_return_cqe(&z, &back);
				continue;
			}
			if (!cqe->len)
				continue;
			if (cqe->tag == 0) {
				err = send_all(&z, b_cli, cqe->off, cqe->len, last);
				a_bytes += cqe->len;
				if (early)
					zcrx_return_cqe(&z, cqe);
				continue;
			}
			if (!b.bad_at && pattern_check(b.seed, b.bytes, zcrx_cqe_data(&z, cqe),
						       cqe->len) != cqe->len)
				b.bad_at = b.bytes + 1;
			b.bytes += cqe->len;
			if (cqe->flags & ZCRXDEV_CQE_ZEROCOPY)
				b.zerocopy += cqe->len;
			else
				b.copied += cqe->len;
			zcrx_return_cqe(&z, cqe);
			last = now_s();
		}
		zcrx_cq_advance(&z, n);
		zcrx_rq_commit(&z);
	}
	zcrx_stats(&z, &st);
	CHECK(name, !err && b.bytes == total && !b.bad_at,
	      "err=%d: B got %llu of %llu bytes (A %llu) and no progress for 5 s; "
	      "free=%llu pending=%llu of %u buffers, need_wakeup=%d, stalls=%llu",
	      err, (unsigned long long)b.bytes, (unsigned long long)total,
	      (unsigned long long)a_bytes, (unsigned long long)st.bufs_free,
	      (unsigned long long)st.bufs_pending, p.nr_bufs, zcrx_need_wakeup(&z),
	      (unsigned long long)st.stalls);
	tap_diag("forward (return %s): %llu of %llu bytes, %llu zero-copy, %llu copied",
		 early ? "after SEND" : "after SENT", (unsigned long long)b.bytes,
		 (unsigned long long)total, (unsigned long long)b.zerocopy,
		 (unsigned long long)b.copied);
	kill_reap(tx, NULL);
	close(a_srv);
	close(b_cli);
	close(b_srv);
	zcrx_exit(&z);	/* a wedged pool must still go away */
	snprintf(nm, sizeof(nm), "%s_no_leak", name);
	CHECK(nm, gauges_zero(3000, why, sizeof(why)), "%s", why);
}

/* ---- 6. RLIMIT_MEMLOCK, one user, several processes ---- */

static void become_nobody(rlim_t memlock)
{
	struct rlimit rl = { memlock, memlock };

	if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgroups(0, NULL) ||
	    setgid(65534) || setuid(65534))
		_exit(100);
}

/* A context with a pool of nr x bsize; returns the fd or -errno. */
static int pool_fd(unsigned int nr, unsigned int bsize)
{
	struct zcrxdev_setup s;
	int fd = zcrx_open_dev();
	long r;

	if (fd < 0)
		return -errno;
	setup_args(&s, nr, bsize);
	r = xioctl(fd, ZCRXDEV_IOC_SETUP, &s);
	if (r) {
		close(fd);
		return (int)r;
	}
	return fd;
}

static void wait_phase(int phase)
{
	while (__atomic_load_n(&board->phase, __ATOMIC_ACQUIRE) < phase)
		usleep(1000);
}

static void arrive(int step)
{
	__atomic_add_fetch(&board->arrived[step], 1, __ATOMIC_RELEASE);
}

static int wait_arrived(int step, int n, int ms)
{
	while (__atomic_load_n(&board->arrived[step], __ATOMIC_ACQUIRE) < n && ms > 0) {
		usleep(1000);
		ms--;
	}
	return __atomic_load_n(&board->arrived[step], __ATOMIC_ACQUIRE);
}

static void go(int phase)
{
	__atomic_store_n(&board->phase, phase, __ATOMIC_RELEASE);
}

/* One process's limit: exactly the limit fits, one page more does not. */
static void test_memlock_single(void)
{
	const rlim_t lim = 1 << 20;	/* 256 pages */
	int st = 0, step;
	pid_t pid;

	board_reset();
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (!pid) {
		int a, b;

		become_nobody(lim);
		board->res[0][0] = pool_fd(257, 4096);	/* a page over */
		a = pool_fd(256, 4096);			/* exactly the limit */
		board->res[0][1] = a;
		b = pool_fd(1, 4096);			/* sum over */
		board->res[0][2] = b;
		if (a >= 0)
			close(a);
		if (b >= 0)
			close(b);
		b = pool_fd(17, 65536);			/* 16 pages over */
		board->res[0][3] = b;
		if (b >= 0)
			close(b);
		a = pool_fd(16, 65536);				/* the limit again */
		board->res[0][4] = a;
		if (a >= 0)
			close(a);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	step = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	CHECK("memlock_one_page_over_enomem", step == 0 && board->res[0][0] == -ENOMEM,
	      "child status %d, 257 pages: %ld", step, board->res[0][0]);
	CHECK("memlock_exactly_limit_ok", step == 0 && board->res[0][1] >= 0 &&
	      board->res[0][4] >= 0, "256 x 4 KiB: %ld, 16 x 64 KiB: %ld",
	      board->res[0][1], board->res[0][4]);
	CHECK("memlock_second_pool_over_sum_enomem", board->res[0][2] == -ENOMEM &&
	      board->res[0][3] == -ENOMEM, "1 page beside a full pool: %ld, "
	      "17 x 64 KiB: %ld", board->res[0][2], board->res[0][3]);
}

/*
 * Four processes of one user, each with RLIMIT_MEMLOCK = lim: locked_vm is
 * per user, so together they get lim, not 4 x lim.  Then each a quarter,
 * streaming verified data at the same time.
 */
static void test_memlock_procs(void)
{
	const rlim_t lim = 8 << 20;
	const unsigned int bsize = 16384, full = lim / bsize;
	const uint64_t each = 16 << 20;
	int i, ok1 = 0, enomem1 = 0, ok3 = 0, st, bad_exit = 0, streams = 0;
	pid_t kids[4], extra;
	char why[WHY_LEN];
	long extra_res;

	board_reset();
	for (i = 0; i < 4; i++) {
		fflush(stdout);
		fflush(stderr);
		kids[i] = fork();
		if (!kids[i]) {
			struct zcrx_params p = { .nr_bufs = full / 4, .buf_size = bsize };
			struct rx_opts o = { .timeout_s = 60 };
			struct rx_conn c = { .seed = 1000 + i };
			int fd, cli, srv, r;
			struct zcrx z;
			pid_t tx;

			become_nobody(lim);
			wait_phase(1);
			fd = pool_fd(full, bsize);	/* all four at once */
			board->res[i][0] = fd < 0 ? fd : 0;
			arrive(1);
			wait_phase(2);
			if (fd >= 0)
				close(fd);
			arrive(2);
			wait_phase(3);
			r = zcrx_init(&z, &p);		/* a quarter each */
			board->res[i][1] = r;
			arrive(3);
			wait_phase(4);
			if (r)
				_exit(1);
			r = tcp_pair(i & 1 ? AF_INET6 : AF_INET, &cli, &srv);
			if (!r)
				r = zcrx_attach(&z, srv, 0);
			if (r)
				_exit(2);
			tx = spawn_writer(cli, c.seed, each, 65536, SHUT_WR);
			close(cli);
			r = rx_run(&z, &c, 1, &o);
			waitpid(tx, NULL, 0);
			board->res[i][2] = !r && c.bytes == each && !c.bad_at && c.eof;
			close(srv);
			zcrx_exit(&z);
			_exit(0);
		}
	}
	go(1);
	wait_arrived(1, 4, 30000);
	for (i = 0; i < 4; i++) {
		ok1 += board->res[i][0] == 0;
		enomem1 += board->res[i][0] == -ENOMEM;
	}
	CHECK("memlock_4_procs_full_pools_sum_enforced", ok1 == 1 && enomem1 == 3,
	      "%d of 4 got a full-limit pool, %d ENOMEM (results %ld %ld %ld %ld)",
	      ok1, enomem1, board->res[0][0], board->res[1][0], board->res[2][0],
	      board->res[3][0]);
	go(2);
	wait_arrived(2, 4, 30000);
	go(3);
	wait_arrived(3, 4, 30000);
	for (i = 0; i < 4; i++)
		ok3 += board->res[i][1] == 0;
	/* The user's whole limit is in use: a fifth process gets nothing. */
	fflush(stdout);
	fflush(stderr);
	extra = fork();
	if (!extra) {
		become_nobody(lim);
		board->res[0][3] = pool_fd(1, 4096);
		_exit(0);
	}
	waitpid(extra, &st, 0);
	extra_res = board->res[0][3];
	CHECK("memlock_4_procs_quarter_pools_ok", ok3 == 4, "%d of 4 (results %ld %ld "
	      "%ld %ld)", ok3, board->res[0][1], board->res[1][1], board->res[2][1],
	      board->res[3][1]);
	CHECK("memlock_4_procs_fifth_process_enomem", extra_res == -ENOMEM,
	      "one page: %ld", extra_res);
	go(4);
	for (i = 0; i < 4; i++) {
		waitpid(kids[i], &st, 0);
		bad_exit += !WIFEXITED(st) || WEXITSTATUS(st);
		streams += board->res[i][2] == 1;
	}
	CHECK("memlock_4_procs_streams_verified", streams == 4 && !bad_exit,
	      "%d of 4 streams intact, %d children failed", streams, bad_exit);
	/* All of it came back: the full limit fits again. */
	fflush(stdout);
	fflush(stderr);
	extra = fork();
	if (!extra) {
		int fd;

		become_nobody(lim);
		fd = pool_fd(full, bsize);
		board->res[1][3] = fd < 0 ? fd : 0;
		_exit(0);
	}
	waitpid(extra, &st, 0);
	CHECK("memlock_returned_after_exit", board->res[1][3] == 0, "full pool: %ld",
	      board->res[1][3]);
	CHECK("memlock_no_leak", gauges_zero(3000, why, sizeof(why)), "%s", why);
}

static long meminfo_kib(const char *key)
{
	size_t kl = strlen(key);
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = strtol(line + kl + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static long file_long(const char *path)
{
	char buf[64];
	long v = -1;
	FILE *f = fopen(path, "r");

	if (f && fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static bool file_put(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	bool ok = f && fputs(s, f) >= 0;

	if (f && fclose(f))
		ok = false;
	return ok;
}

/*
 * What an unprivileged user makes the module allocate must be charged
 * somewhere.  The pool counts against RLIMIT_MEMLOCK and its pages and
 * arrays go to the memory cgroup (GFP_KERNEL_ACCOUNT); the rings (up to
 * 1.5 MiB per context) must at least go to the cgroup as well.
 */
static void test_ring_memory_charged(void)
{
	const char *cg = "/sys/fs/cgroup", *dir = "/sys/fs/cgroup/zcrx-fault";
	const int nctx = 32;
	char buf[256] = "", path[128];
	bool mounted = false;
	long dv, dc, ring_kib;
	FILE *f;
	pid_t pid;
	int st;

	if (access("/sys/fs/cgroup/cgroup.controllers", R_OK)) {
		if (mount("none", cg, "cgroup2", 0, NULL)) {
			tap_skip("memlock_ring_memory_charged_to_memcg", "no cgroup2");
			return;
		}
		mounted = true;
	}
	f = fopen("/sys/fs/cgroup/cgroup.controllers", "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	if (!strstr(buf, "memory") ||
	    !file_put("/sys/fs/cgroup/cgroup.subtree_control", "+memory") ||
	    (mkdir(dir, 0755) && errno != EEXIST)) {
		tap_skip("memlock_ring_memory_charged_to_memcg", "no memory controller");
		if (mounted)
			umount(cg);
		return;
	}
	board_reset();
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (!pid) {
		char me[32];
		long v0, c0;
		int i, fd;

		snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
		snprintf(me, sizeof(me), "%d\n", getpid());
		if (!file_put(path, me))
			_exit(5);
		become_nobody(1 << 20);
		snprintf(path, sizeof(path), "%s/memory.current", dir);
		v0 = meminfo_kib("VmallocUsed");
		c0 = file_long(path);
		for (i = 0; i < nctx; i++) {
			struct zcrxdev_setup su;

			fd = zcrx_open_dev();
			setup_args(&su, 1, 4096);
			su.cq_entries = 32768;
			su.rq_entries = 32768;
			if (fd < 0 || xioctl(fd, ZCRXDEV_IOC_SETUP, &su))
				break;
		}
		board->res[0][0] = i;
		board->res[0][1] = meminfo_kib("VmallocUsed") - v0;
		board->res[0][2] = (file_long(path) - c0) / 1024;
		_exit(0);
	}
	waitpid(pid, &st, 0);
	rmdir(dir);
	if (mounted)
		umount(cg);
	dv = board->res[0][1];
	dc = board->res[0][2];
	tap_diag("uid 65534, RLIMIT_MEMLOCK 1 MiB: %ld contexts of 1 x 4 KiB with "
		 "32768-entry rings: memlock charged %ld KiB, VmallocUsed +%ld KiB, "
		 "memcg +%ld KiB", board->res[0][0], board->res[0][0] * 4, dv, dc);
	/* Ring pages are vmap()ed, not vmalloc()ed: VmallocUsed need not move.
	 * What each context's two 32768-entry rings take, at least: */
	ring_kib = nctx * ((256 + 32768L * 32) + (256 + 32768L * 16)) / 1024;
	CHECK("memlock_ring_memory_charged_to_memcg",
	      WIFEXITED(st) && !WEXITSTATUS(st) && board->res[0][0] == nctx &&
	      dc * 10 >= ring_kib * 9,
	      "%ld contexts: kernel vmalloc grew %ld KiB, the cgroup was charged %ld KiB "
	      "and RLIMIT_MEMLOCK %ld KiB (child status %d)", board->res[0][0], dv, dc,
	      board->res[0][0] * 4, st);
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	uint64_t seed = fault_seed(0x7a637278);
	char why[WHY_LEN];
	int defer;

	signal(SIGPIPE, SIG_IGN);
	tap_set_group("fault");
	rng.s = seed;
	tap_diag("seed %#llx (ZCRX_FUZZ_SEED overrides), kernel %s%s",
		 (unsigned long long)seed, getenv("ZCRX_KERNEL") ?: "?",
		 debug_kernel() ? " (debug kernel: same counts)" : "");
	board = mmap(NULL, sizeof(*board), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (board == MAP_FAILED) {
		CHECK("board", 0, "mmap: %s", strerror(errno));
		return tap_exit();
	}
#define RUN(name, call) do { if (!only || !strcmp(only, name)) { call; } } while (0)
	RUN("sigkill", test_sigkill());
	RUN("close", test_close_orders());
	RUN("fork", test_fork(FORK_READ));
	RUN("fork", test_fork(FORK_EXIT));
	RUN("fork", test_fork(FORK_KILLED));
	RUN("detach", test_detach_race());
	RUN("disconnect", test_disconnect());
	RUN("urgent", test_urgent());
	/*
	 * PENDING buffers, and a freed pool's pages, wait for skbs to be
	 * freed; the stack may defer that to an idle CPU
	 * (net.core.skb_defer_max, see docs/design.md): the teardown tests'
	 * pages would then stay counted, and a 16-buffer forwarder wait, on
	 * unrelated traffic.  Off here.
	 */
	defer = sysctl_int("/proc/sys/net/core/skb_defer_max", 0);
	RUN("teardown", test_teardown_zc(TD_RECV));
	RUN("teardown", test_teardown_zc(TD_NEW_POOL));
	RUN("teardown", test_teardown_zc(TD_STALLED_SAME_POOL));
	RUN("teardown", test_teardown_zc(TD_SEND));
	RUN("forward", test_forward_same_pool(false));
	RUN("forward", test_forward_same_pool(true));
	if (defer >= 0)
		sysctl_int("/proc/sys/net/core/skb_defer_max", defer);
	RUN("memlock", test_memlock_single());
	RUN("memlock", test_memlock_procs());
	RUN("memlock", test_ring_memory_charged());
	CHECK("end_no_leak", gauges_zero(5000, why, sizeof(why)), "%s", why);
	CHECK("end_clean_stream", clean_stream(2, 8 << 20, frng_next(&rng), why,
					       sizeof(why)), "%s", why);
	return tap_exit();
}

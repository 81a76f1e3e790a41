// SPDX-License-Identifier: MIT
/*
 * Faults: a receiver SIGKILLed at random points of a stream (after attach,
 * or anywhere from setup on), with sends in flight in some of them, its
 * sender killed before, after or with it, a second fd of the socket closed
 * around the kill.  Every byte it saw was right, and nothing is left.
 */
#include <poll.h>

#include "fault.h"

/* Shared with forked children: what they saw. */
struct board {
	long	corrupt;	/* completions whose bytes were wrong */
	long	bytes;		/* payload bytes verified */
	long	ends;		/* EOF/error completions */
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

int main(void)
{
	fault_start();
	board = shared_board(sizeof(*board));
	if (!board)
		return tap_exit();
	test_sigkill();
	return tap_exit();
}

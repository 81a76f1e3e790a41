// SPDX-License-Identifier: MIT
/*
 * The refill-ring fuzzer of /dev/zcrx: while senders stream into a pool,
 * the process writes random refill entries, refill tails, completion heads
 * and header words, claims buffers and sends them; the kernel must count
 * the garbage, keep free+pending <= nr_bufs and keep running.  Then the
 * context goes and a new one must deliver a clean, verified stream.  The
 * last of the fuzzers: it ends with the checks that nothing is left.
 */
#include <pthread.h>

#include "fuzz.h"

#define RF_SOCKS	4		/* streaming sockets, tags 0..3 */
#define RF_SENT_TAG	(1ull << 40)	/* SEND tags from here up */

struct rf_shared {
	struct zcrx	*z;
	int		stop;
	unsigned int	attached;	/* sockets that must stay attached */
	unsigned long	wakes, stats, over, not_attached, backwards;
	uint64_t	last_bad;
	struct zcrxdev_stats last;
};

static void rf_check_stats(struct rf_shared *sh, const struct zcrxdev_stats *st)
{
	if (st->bufs_free + st->bufs_pending > sh->z->nr_bufs)
		__atomic_add_fetch(&sh->over, 1, __ATOMIC_RELAXED);
	if (st->sockets_attached != sh->attached)
		__atomic_add_fetch(&sh->not_attached, 1, __ATOMIC_RELAXED);
}

/* A second thread: wakes and statistics while the main thread scribbles. */
static void *rf_waker(void *arg)
{
	struct rf_shared *sh = arg;
	struct frng lr = { .s = 99 };
	uint64_t prev = 0;

	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		struct zcrxdev_stats st;

		zcrx_wake(sh->z);
		sh->wakes++;
		if (!zcrx_stats(sh->z, &st)) {
			sh->stats++;
			rf_check_stats(sh, &st);
			if (st.refill_bad < prev)
				sh->backwards++;
			prev = st.refill_bad;
		}
		usleep(frng_below(&lr, 500));
	}
	return NULL;
}

static void test_refill_fuzz(void)
{
	struct zcrx_params p = { .nr_bufs = 32, .buf_size = 4096, .cq_entries = 64,
				 .rq_entries = 32 };
	const double secs = 20;
	struct rf_shared sh = { 0 };
	unsigned long iters = 0, garbage_rqe = 0, bad_tail = 0, bad_head = 0,
		      structural = 0, ends = 0, lost = 0, returned = 0, claims = 0,
		      sends = 0, send_bad = 0, sent_cqes = 0;
	uint64_t held[4096], nheld = 0, seen = 0;
	unsigned int rd, rt;
	int cli, srv[RF_SOCKS], k, r = 0, x_cli = -1, x_srv = -1;
	bool cq_unstable = false;
	struct zcrxdev_stats st1;
	char why[WHY_LEN], ex[WHY_LEN] = "";
	pid_t tx[RF_SOCKS];
	pthread_t th;
	struct zcrx z;
	double t0;

	if (zcrx_init(&z, &p)) {
		CHECK("refill_fuzz_setup", 0, "zcrx_init failed");
		return;
	}
	for (k = 0; k < RF_SOCKS; k++) {
		tx[k] = -1;
		srv[k] = -1;
		if (tcp_pair(k & 1 ? AF_INET6 : AF_INET, &cli, &srv[k]))
			continue;
		r |= zcrx_attach(&z, srv[k], k);
		tx[k] = spawn_writer(cli, 500 + k, ~0ull, 16384, 0);
		close(cli);
	}
	sh.attached = RF_SOCKS;
	/*
	 * Our own SENDs from the pool go out on x_cli to x_srv, which we drain
	 * with recv() (into the same pool it would wedge the pool, see
	 * t_fault_teardown's send_forward_same_pool_*).
	 */
	if (!tcp_pair(AF_INET, &x_cli, &x_srv)) {
		fcntl(x_cli, F_SETFL, O_NONBLOCK);
		fcntl(x_srv, F_SETFL, O_NONBLOCK);
	}
	sh.z = &z;
	pthread_create(&th, NULL, rf_waker, &sh);
	rd = *z.cq.khead;
	rt = z.rq.tail;
	t0 = now_s();
	while (now_s() - t0 < secs) {
		unsigned int a = frng_below(&rng, 14), tail, i, n;

		iters++;
		/* Read what the kernel completed since rd (only when stable). */
		tail = zcrx_load_acquire(z.cq.ktail);
		if (!cq_unstable && tail - rd > z.cq.entries) {
			lost += tail - rd;	/* overwritten while the head lied */
			rd = tail;
		}
		for (; !cq_unstable && rd != tail; rd++) {
			struct zcrxdev_cqe e = z.cq.cqes[rd & z.cq.mask];

			seen++;
			if (e.flags & (ZCRXDEV_CQE_EOF | ZCRXDEV_CQE_ERROR)) {
				ends++;
				continue;
			}
			if (e.flags & ZCRXDEV_CQE_SENT) {	/* a SEND's range */
				sent_cqes++;
				if (e.flags != ZCRXDEV_CQE_SENT || e.tag < RF_SENT_TAG ||
				    !e.len || e.off >= z.pool_size ||
				    e.len > z.pool_size - e.off) {
					if (!structural++)
						snprintf(ex, sizeof(ex), "SENT tag=%llu off=%llu "
							 "len=%u flags=%#x",
							 (unsigned long long)e.tag,
							 (unsigned long long)e.off, e.len, e.flags);
				}
				continue;
			}
			if (e.tag >= RF_SOCKS || !e.len ||
			    e.len > z.buf_size || e.off >= z.pool_size ||
			    (e.off & (z.buf_size - 1)) + e.len > z.buf_size ||
			    e.flags != ZCRXDEV_CQE_COPIED || e.error || e.resv) {
				if (!structural++)
					snprintf(ex, sizeof(ex), "tag=%llu off=%llu len=%u "
						 "flags=%#x error=%d", (unsigned long long)e.tag,
						 (unsigned long long)e.off, e.len, e.flags,
						 e.error);
				continue;
			}
			if (nheld < 4096)
				held[nheld++] = e.off & ~(uint64_t)(z.buf_size - 1);
		}
		switch (a) {
		case 0: case 1: case 2: case 3: case 4:	/* behave */
			zcrx_store_release(z.cq.khead, rd);
			if (cq_unstable) {
				/* A pool->lock round trip: no post still uses the lie. */
				zcrx_stats(&z, &st1);
				cq_unstable = false;
			}
			n = frng_below(&rng, 16);
			if (rt - zcrx_load_acquire(z.rq.khead) > z.rq.entries) {
				zcrx_wake(&z);	/* the kernel's head moved on garbage */
				rt = zcrx_load_acquire(z.rq.khead);
			}
			for (i = 0; i < n && nheld &&
			     rt - zcrx_load_acquire(z.rq.khead) < z.rq.entries; i++) {
				struct zcrxdev_rqe *q = &z.rq.rqes[rt & z.rq.mask];

				q->off = held[--nheld];
				q->flags = 0;
				q->resv = 0;
				rt++;
				returned++;
			}
			zcrx_store_release(z.rq.ktail, rt);
			break;
		case 5: case 6:		/* garbage entries, published */
			n = 1 + frng_below(&rng, z.rq.entries);
			for (i = 0; i < n; i++) {
				struct zcrxdev_rqe *q = &z.rq.rqes[(rt + i) & z.rq.mask];

				switch (frng_below(&rng, 5)) {
				case 0:
					q->off = fval(64);
					break;
				case 1:	/* a real buffer: maybe a double return */
					q->off = frng_below(&rng, z.nr_bufs) * z.buf_size;
					break;
				case 2:
					q->off = frng_below(&rng, z.nr_bufs) * z.buf_size +
						 1 + frng_below(&rng, z.buf_size - 1);
					break;
				case 3:
					q->off = z.pool_size + frng_below(&rng, 4) * z.buf_size;
					break;
				default:
					q->off = nheld ? held[--nheld] : 0;
				}
				q->flags = frng_below(&rng, 3) ? 0 : (uint32_t)fval(32);
				q->resv = frng_below(&rng, 3) ? 0 : (uint32_t)fval(32);
			}
			rt += n;
			garbage_rqe += n;
			zcrx_store_release(z.rq.ktail, rt);
			break;
		case 7:			/* a lying refill tail */
			switch (frng_below(&rng, 4)) {
			case 0:
				tail = rt - 1 - frng_below(&rng, 64);
				break;
			case 1:
				tail = rt + z.rq.entries + frng_below(&rng, 1000);
				break;
			case 2:
				tail = rt + 0x80000000u;
				break;
			default:
				tail = (unsigned int)frng_next(&rng);
			}
			zcrx_store_release(z.rq.ktail, tail);
			bad_tail++;
			if (frng_below(&rng, 2))
				zcrx_wake(&z);
			break;
		case 8: case 9:		/* a lying completion head */
			switch (frng_below(&rng, 4)) {
			case 0:
				tail = rd - 1 - frng_below(&rng, 2 * z.cq.entries);
				break;
			case 1:
				tail = rd + 1 + frng_below(&rng, 2 * z.cq.entries);
				break;
			case 2:
				tail = rd + 0x80000000u;
				break;
			default:
				tail = (unsigned int)frng_next(&rng);
			}
			zcrx_store_release(z.cq.khead, tail);
			cq_unstable = true;
			bad_head++;
			break;
		case 10:		/* words only the kernel writes */
			__atomic_store_n(z.rq.khead, (unsigned int)frng_next(&rng),
					 __ATOMIC_RELAXED);
			__atomic_store_n(z.cq.kflags, (unsigned int)frng_next(&rng),
					 __ATOMIC_RELAXED);
			zcrx_wake(&z);
			break;
		case 11:
			if (!zcrx_stats(&z, &st1))
				rf_check_stats(&sh, &st1);
			break;
		case 12: {		/* claim free buffers: held like completions */
			uint64_t offs[8];
			long got = zcrx_claim(&z, offs, 1 + frng_below(&rng, 8));

			for (i = 0; got > 0 && i < got && nheld < 4096; i++)
				held[nheld++] = offs[i];
			claims += got > 0;
			if (got < 0 && got != -ENOBUFS)
				send_bad++;
			break;
		}
		default: {		/* send held bytes to x_srv, drain it */
			static uint8_t sink[65536];
			uint64_t off;
			long sr;

			if (!nheld || x_cli < 0)
				break;
			while (recv(x_srv, sink, sizeof(sink), 0) > 0)
				;
			off = held[frng_below(&rng, nheld)] + frng_below(&rng, z.buf_size);
			sr = zcrx_send(&z, x_cli, off, 1 + frng_below(&rng, z.buf_size -
							     off % z.buf_size),
				       RF_SENT_TAG + sends);
			sends++;
			/* The buffer may be gone already: garbage returned it. */
			if (sr < 0 && sr != -EAGAIN && sr != -EPERM && sr != -ENOBUFS)
				send_bad++;
		}
		}
		if (!(iters & 63))
			usleep(200);
	}
	__atomic_store_n(&sh.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	zcrx_stats(&z, &st1);
	rf_check_stats(&sh, &st1);
	tap_diag("refill fuzz: %.0f s, %lu rounds, %lu garbage entries, %lu lying tails, "
		 "%lu lying heads, %lu completions read (%lu skipped), %lu returned, "
		 "%lu wakes + %lu stats from a 2nd thread; kernel: refill_bad=%llu "
		 "refill_entries=%llu completions=%llu stalls=%llu free=%llu pending=%llu",
		 secs, iters, garbage_rqe, bad_tail, bad_head, (unsigned long)seen, lost,
		 returned, sh.wakes, sh.stats, (unsigned long long)st1.refill_bad,
		 (unsigned long long)st1.refill_entries,
		 (unsigned long long)st1.completions, (unsigned long long)st1.stalls,
		 (unsigned long long)st1.bufs_free, (unsigned long long)st1.bufs_pending);
	CHECK("refill_fuzz_bad_counted", !r && st1.refill_bad > 0 &&
	      !sh.backwards, "attach=%d refill_bad=%llu, went backwards %lu times", r,
	      (unsigned long long)st1.refill_bad, sh.backwards);
	CHECK("refill_fuzz_free_pending_le_nr_bufs", !sh.over,
	      "free+pending > nr_bufs in %lu samples", sh.over);
	CHECK("refill_fuzz_sockets_stay_attached", !sh.not_attached && !ends,
	      "%lu samples with sockets_attached != %u, %lu EOF/error completions",
	      sh.not_attached, sh.attached, ends);
	CHECK("refill_fuzz_completions_well_formed", !structural && seen > 100,
	      "%lu malformed of %llu; first: %s", structural,
	      (unsigned long long)seen, ex);
	tap_diag("refill fuzz: %lu claims, %lu sends from the pool, %lu SENT "
		 "completions, bytes_sent=%llu", claims, sends, sent_cqes,
		 (unsigned long long)st1.bytes_sent);
	CHECK("refill_fuzz_claim_send_answers", !send_bad && claims && sends,
	      "%lu claim/send answers outside ENOBUFS/EAGAIN/EPERM; %lu claims, "
	      "%lu sends", send_bad, claims, sends);
	/* Phase A ends: the context goes with sockets attached, data flowing. */
	zcrx_exit(&z);
	for (k = 0; k < RF_SOCKS; k++) {
		kill_reap(tx[k], NULL);
		if (srv[k] >= 0)
			close(srv[k]);
	}
	if (x_cli >= 0) {
		close(x_cli);
		close(x_srv);
	}
	CHECK("refill_fuzz_context_freed", gauges_zero(5000, why, sizeof(why)), "%s", why);
	/* Phase B: a new context works exactly. */
	CHECK("refill_fuzz_then_clean_stream",
	      clean_stream(2, 8 << 20, frng_next(&rng), why, sizeof(why)), "%s", why);
}


int main(void)
{
	return fuzz_main(test_refill_fuzz, false, true);
}

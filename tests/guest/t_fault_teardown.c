// SPDX-License-Identifier: MIT
/*
 * Faults: pool teardown while zero-copy pages sit in skbs (spliced, or
 * sent by ZCRXDEV_IOC_SEND), the peer reading them afterwards by recv() or
 * into a new pool, or stalled on the same pool; and a forwarder that sends
 * what arrives on to a socket attached to the same pool, returning its
 * buffers after the SEND or after the SENT completion.
 */
#include "fault.h"

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

int main(void)
{
	int defer;

	fault_start();
	/*
	 * PENDING buffers, and a freed pool's pages, wait for skbs to be
	 * freed; the stack may defer that to an idle CPU
	 * (net.core.skb_defer_max, see docs/design.md): the teardown tests'
	 * pages would then stay counted, and a 16-buffer forwarder wait, on
	 * unrelated traffic.  Off here.
	 */
	defer = sysctl_int("/proc/sys/net/core/skb_defer_max", 0);
	test_teardown_zc(TD_RECV);
	test_teardown_zc(TD_NEW_POOL);
	test_teardown_zc(TD_STALLED_SAME_POOL);
	test_teardown_zc(TD_SEND);
	test_forward_same_pool(false);
	test_forward_same_pool(true);
	if (defer >= 0)
		sysctl_int("/proc/sys/net/core/skb_defer_max", defer);
	return tap_exit();
}

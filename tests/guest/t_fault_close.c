// SPDX-License-Identifier: MIT
/*
 * Faults: every order of closing the socket, the /dev/zcrx fd and the
 * three mappings (all 120), with data in flight, completions held and
 * held bytes sent by reference to a peer nobody reads.  Nothing is left.
 */
#include "fault.h"

/* ---- 2. Every close order of socket, fd and the three mappings ---- */

enum { CO_SOCK, CO_FD, CO_POOL, CO_CQ, CO_RQ, CO_N };
static const char *const co_name[CO_N] = { "sock", "fd", "pool", "cq", "rq" };

/* Pages of the buffers this run sent by reference (their folios, whole). */
static long co_sent_pages;
static int co_deferred;	/* orders whose sent pages waited for deferred frees */


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
		/* SENT names no buffer to return and carries no bytes. */
		if (cqe->flags & ZCRXDEV_CQE_SENT)
			continue;
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

/*
 * One close order.  Returns 1 if nothing was left, 0 if something was.
 * co_deferred counts the orders whose sent pages came back only once every
 * CPU had seen traffic: the last skbs that held them were consumed skbs
 * whose freeing the stack had deferred to an idle CPU (docs/design.md,
 * "Known limits"); anything left after that is a leak.
 */
static int close_order_once(const int *order, char *why, size_t len)
{
	struct zcrx_params p = { .nr_bufs = 16, .buf_size = 4096 };
	struct rx_conn c = { .seed = frng_next(&rng) };
	bool open[CO_N] = { true, true, true, true, true }, gz;
	struct held h[3] = { { 0, 0 } };
	int cli, srv, k, r, sink = -1, sink_peer = -1;
	long pages;
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
			if (h[k].len && zcrx_send(&z, sink, h[k].off, h[k].len, k) > 0)
				co_sent_pages += 2;	/* 4 KiB buffers, 8 KiB folios */
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
		pages = sysfs_long("pool_pages");
		if (r || c.bad_at || !c.bytes || sysfs_long("sockets") != 0 ||
		    sysfs_long("pools") != 0 || pages <= 0 || pages > co_sent_pages)
			return 0;
		/*
		 * Only sent pages are left.  Their last skbs may be consumed
		 * skbs whose freeing the stack deferred to an idle CPU
		 * (net.core.skb_defer_max): traffic on every CPU frees them.
		 */
		kick_cpus_net_rx();
		if (!gauges_zero(3000, why, len))
			return 0;
		co_deferred++;
	}
	return 1;
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
		int ppos = -1;
		bool ok;

		co_sent_pages = 0;
		ok = close_order_once(order, why, sizeof(why));

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
		 "{sock, fd, maps}), %.1f s; %d left sent pages that came back once "
		 "every CPU saw traffic (deferred skb freeing)", runs, coarse,
		 now_s() - t0, co_deferred);
	CHECK("close_orders_all_120_no_leak", runs == 120 && coarse == 6 && !bad,
	      "%d of %d orders failed; first %s", bad, runs, first);
}

int main(void)
{
	fault_start();
	test_close_orders();
	return tap_exit();
}

// SPDX-License-Identifier: MIT
/*
 * Sending from the pool by page reference: claim, send, SENT completions,
 * zero-copy local transfer and forwarding (100% zero-copy bytes), and the
 * socket-splice lesson: buffers rewritten and resent as fast as SENT
 * completions allow never change bytes already on their way.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>

#include "tap.h"
#include "rx.h"

static struct zcrx z;
static unsigned int sent_seen;
static uint64_t sent_bytes;

static void count_sent(const struct zcrxdev_cqe *cqe)
{
	sent_seen++;
	sent_bytes += cqe->len;
}

static int pool_init(unsigned int nr_bufs, unsigned int flags)
{
	struct zcrx_params p = { .nr_bufs = nr_bufs, .buf_size = 4096, .flags = flags };

	sent_seen = 0;
	sent_bytes = 0;
	return zcrx_init(&z, &p);
}

/* A writable view of the pool: WRITABLE pools may be mapped PROT_WRITE. */
static uint8_t *pool_rw(void)
{
	void *p = mmap(NULL, z.pool_size, PROT_READ | PROT_WRITE, MAP_SHARED, z.fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static struct zcrxdev_stats stats(void)
{
	struct zcrxdev_stats st;

	zcrx_stats(&z, &st);
	return st;
}

static void test_errors(void)
{
	struct zcrxdev_claim c = { 0 };
	uint64_t offs[4];
	int cli, srv, u;

	pool_init(8, 0);
	CHECK_ERR("claim_zero", zcrx_claim(&z, offs, 0), EINVAL);
	CHECK_ERR("claim_too_many", zcrx_claim(&z, NULL, ZCRXDEV_CLAIM_MAX + 1), EINVAL);
	c.count = 1;
	c.flags = 1;
	c.offs = (uintptr_t)offs;
	CHECK_ERR("claim_flags", xioctl(z.fd, ZCRXDEV_IOC_CLAIM, &c), EINVAL);
	CHECK_ERR("claim_bad_pointer", zcrx_claim(&z, (uint64_t *)8, 2), EFAULT);
	CHECK("claim_bad_pointer_gives_back", stats().bufs_free == 8, "free=%llu",
	      (unsigned long long)stats().bufs_free);
	tcp_pair(AF_INET, &cli, &srv);
	CHECK_ERR("send_unheld_buffer", zcrx_send(&z, cli, 0, 100, 1), EPERM);
	CHECK("claim_four", zcrx_claim(&z, offs, 4) == 4, "claim failed");
	CHECK_ERR("send_len_zero", zcrx_send(&z, cli, offs[0], 0, 1), EINVAL);
	CHECK_ERR("send_past_pool", zcrx_send(&z, cli, z.pool_size - 10, 20, 1), EINVAL);
	CHECK_ERR("send_not_socket", zcrx_send(&z, z.fd, offs[0], 10, 1), ENOTSOCK);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK_ERR("send_udp", zcrx_send(&z, u, offs[0], 10, 1), EPROTONOSUPPORT);
	close(u);
	CHECK_ERR("claim_exhausted", zcrx_claim(&z, offs, 8) == 4 ?
		  zcrx_claim(&z, offs, 1) : -1, ENOBUFS);
	close(cli);
	close(srv);
	zcrx_exit(&z);
}

/*
 * Zero-copy local transfer: claimed buffers filled in place and sent on a
 * socket whose peer is attached to the same pool arrive as ZEROCOPY
 * completions naming the very bytes that were sent.
 */
static void test_local_transfer(void)
{
	const unsigned int nbufs = 64;
	struct rx_conn c = { .seed = 99 };
	struct rx_opts o = { .timeout_s = 30, .on_sent = count_sent };
	uint64_t offs[64], pos = 0;
	struct zcrxdev_stats st;
	unsigned int i;
	uint8_t *rw;
	int cli, srv, r = 0;
	long n;

	pool_init(256, ZCRXDEV_SETUP_WRITABLE);
	rw = pool_rw();
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	CHECK("local_claim", rw && zcrx_claim(&z, offs, nbufs) == (int)nbufs, "claim");
	for (i = 0; i < nbufs && rw; i++) {
		pattern_fill(c.seed, pos, rw + offs[i], 4096);
		n = zcrx_send(&z, cli, offs[i], 4096, 1000 + i);
		if (n != 4096)
			r = n < 0 ? (int)n : -EIO;
		pos += 4096;
	}
	CHECK("local_send_all", !r, "send: %d", r);
	close(cli);
	r = rx_run(&z, &c, 1, &o);
	/* SENT notices come once the receiver let go of the skbs: wait a bit. */
	for (i = 0; i < 100 && sent_seen < nbufs; i++) {
		struct zcrxdev_cqe *cqe;
		unsigned int head, k = 0;

		zcrx_wait(&z, 20);
		zcrx_for_each_cqe(&z, head, cqe) {
			if (cqe->flags & ZCRXDEV_CQE_SENT)
				count_sent(cqe);
			k++;
		}
		zcrx_cq_advance(&z, k);
	}
	st = stats();
	CHECK("local_content", !r && c.bytes == pos && !c.bad_at && c.eof,
	      "r=%d bytes=%llu bad_at=%llu", r, (unsigned long long)c.bytes,
	      (unsigned long long)c.bad_at);
	CHECK("local_all_zerocopy", c.zerocopy == pos && c.copied == 0 &&
	      st.bytes_zerocopy == pos && st.bytes_copied == 0 && st.bytes_sent == pos,
	      "zc=%llu copied=%llu stats zc=%llu copied=%llu sent=%llu",
	      (unsigned long long)c.zerocopy, (unsigned long long)c.copied,
	      (unsigned long long)st.bytes_zerocopy,
	      (unsigned long long)st.bytes_copied, (unsigned long long)st.bytes_sent);
	CHECK("local_sent_completions", sent_seen == nbufs && sent_bytes == pos,
	      "%u SENT for %llu bytes", sent_seen, (unsigned long long)sent_bytes);
	close(srv);
	if (rw)
		munmap(rw, z.pool_size);
	zcrx_exit(&z);
}

/*
 * Forwarding: a stream received into the pool (copied once, by the module)
 * is sent on by reference to a socket whose peer is attached to the same
 * pool: every forwarded byte arrives ZEROCOPY.
 */
static void test_forward(void)
{
	const uint64_t total = 8 << 20;
	struct rx_conn in = { .seed = 7 }, out = { .seed = 7 };
	/* Forwarded A completions, oldest first: buffer offset, stream end. */
	static uint64_t fwd_off[65536], fwd_end[65536];
	unsigned int fwd_head = 0, fwd_tail = 0, head, n;
	int a_cli, a_srv, b_cli, b_srv, done = 0;
	struct zcrxdev_cqe *cqe;
	struct zcrxdev_stats st;
	double t0 = now_s();
	long r = 0;
	pid_t pid;

	pool_init(1024, 0);
	tcp_pair(AF_INET, &a_cli, &a_srv);
	tcp_pair(AF_INET, &b_cli, &b_srv);
	zcrx_attach(&z, a_srv, 0);
	zcrx_attach(&z, b_srv, 1);
	pid = spawn_sender(a_cli, in.seed, total, 65536, SHUT_WR);
	close(a_cli);
	while (done < 2 && now_s() - t0 < 60 && r >= 0) {
		zcrx_wait(&z, 200);
		n = 0;
		zcrx_for_each_cqe(&z, head, cqe) {
			n++;
			if (cqe->flags & ZCRXDEV_CQE_SENT)
				continue;
			if (cqe->flags & (ZCRXDEV_CQE_EOF | ZCRXDEV_CQE_ERROR)) {
				done++;
				if (cqe->tag == 0)
					shutdown(b_cli, SHUT_WR);	/* forward the EOF */
				else
					out.eof = !!(cqe->flags & ZCRXDEV_CQE_EOF);
				continue;
			}
			if (cqe->tag == 0) {
				in.bytes += cqe->len;
				/* Forward in place; keep the buffer until B has it. */
				r = zcrx_send(&z, b_cli, cqe->off, cqe->len, 7);
				if (r != (long)cqe->len)
					r = r < 0 ? r : -EIO;
				if (fwd_tail < 65536) {
					fwd_off[fwd_tail] = cqe->off;
					fwd_end[fwd_tail++] = in.bytes;
				} else {
					zcrx_return_cqe(&z, cqe);
				}
				continue;
			}
			if (!out.bad_at && pattern_check(out.seed, out.bytes,
							 zcrx_cqe_data(&z, cqe),
							 cqe->len) != cqe->len)
				out.bad_at = out.bytes + 1;
			out.bytes += cqe->len;
			if (cqe->flags & ZCRXDEV_CQE_ZEROCOPY)
				out.zerocopy += cqe->len;
			zcrx_return_cqe(&z, cqe);
			/* B's bytes are A's: an A buffer goes back once B has it all. */
			while (fwd_head < fwd_tail && fwd_end[fwd_head] <= out.bytes) {
				struct zcrxdev_cqe back = { .off = fwd_off[fwd_head++], .len = 1 };

				zcrx_return_cqe(&z, &back);
			}
		}
		zcrx_cq_advance(&z, n);
		zcrx_rq_commit(&z);
	}
	while (fwd_head < fwd_tail) {
		struct zcrxdev_cqe back = { .off = fwd_off[fwd_head++], .len = 1 };

		zcrx_return_cqe(&z, &back);
	}
	zcrx_rq_commit(&z);
	waitpid(pid, NULL, 0);
	st = stats();
	CHECK("forward_content", r >= 0 && in.bytes == total && out.bytes == total &&
	      !out.bad_at && out.eof, "r=%ld in=%llu out=%llu bad_at=%llu", r,
	      (unsigned long long)in.bytes, (unsigned long long)out.bytes,
	      (unsigned long long)out.bad_at);
	CHECK("forward_all_zerocopy", out.zerocopy == total &&
	      st.bytes_zerocopy == total && st.bytes_copied == total &&
	      st.bytes_sent == total, "B zc=%llu; stats zc=%llu copied=%llu sent=%llu",
	      (unsigned long long)out.zerocopy, (unsigned long long)st.bytes_zerocopy,
	      (unsigned long long)st.bytes_copied, (unsigned long long)st.bytes_sent);
	tap_diag("forward: %llu bytes in (copied once), %llu out zero-copy",
		 (unsigned long long)in.bytes, (unsigned long long)out.zerocopy);
	close(a_srv);
	close(b_cli);
	close(b_srv);
	zcrx_exit(&z);
}

/* The reader of the reuse test: plain recv(), every byte checked. */
struct reader {
	int fd;
	uint64_t seed, bytes, bad_at;
};

static void *read_all(void *arg)
{
	struct reader *rd = arg;
	uint8_t buf[65536];
	ssize_t n;
	size_t k;

	while ((n = recv(rd->fd, buf, sizeof(buf), 0)) > 0) {
		k = pattern_check(rd->seed, rd->bytes, buf, n);
		if (k != (size_t)n && !rd->bad_at)
			rd->bad_at = rd->bytes + k + 1;
		rd->bytes += n;
	}
	return NULL;
}

/*
 * Rewrite and resend the same few buffers as fast as SENT completions
 * allow: a buffer is rewritten only after its SENT, and the reader must
 * see exactly the stream that was meant, never a later rewrite.
 *
 * A SENT completion needs every skb that shared the pages to be freed.
 * The stack defers freeing a consumed skb to the CPU that allocated it
 * (net.core.skb_defer_max), which may sit idle: with deferral, an idle
 * ping-pong like this one waits for unrelated traffic.  Turned off here;
 * docs/design.md says so.
 */
static void test_reuse(void)
{
	const char *defer = "/proc/sys/net/core/skb_defer_max";
	const unsigned int nbufs = 4, rounds = 2048;
	struct reader rd = { .seed = 1234 };
	uint64_t offs[4], pos = 0;
	unsigned int busy[4] = { 0 }, round = 0, i, head, n;
	struct zcrxdev_cqe *cqe;
	pthread_t th;
	double t0 = now_s();
	int cli, srv, bad = 0, old_defer;
	uint8_t *rw;

	old_defer = sysctl_int(defer, 0);
	pool_init(8, ZCRXDEV_SETUP_WRITABLE);
	rw = pool_rw();
	tcp_pair(AF_INET, &cli, &srv);
	rd.fd = srv;
	pthread_create(&th, NULL, read_all, &rd);
	if (!rw || zcrx_claim(&z, offs, nbufs) != (int)nbufs)
		bad = 1;
	while (!bad && round < rounds && now_s() - t0 < 60) {
		for (i = 0; i < nbufs && round < rounds; i++) {
			if (busy[i])
				continue;
			pattern_fill(rd.seed, pos, rw + offs[i], 4096);
			if (zcrx_send(&z, cli, offs[i], 4096, i) != 4096) {
				bad = 2;
				break;
			}
			busy[i] = 1;
			pos += 4096;
			round++;
		}
		zcrx_wait(&z, 10);
		n = 0;
		zcrx_for_each_cqe(&z, head, cqe) {
			n++;
			if ((cqe->flags & ZCRXDEV_CQE_SENT) && cqe->tag < nbufs)
				busy[cqe->tag] = 0;
		}
		zcrx_cq_advance(&z, n);
	}
	shutdown(cli, SHUT_WR);
	pthread_join(th, NULL);
	CHECK("reuse_stream_exact", !bad && round == rounds && rd.bytes == pos &&
	      !rd.bad_at, "bad=%d rounds=%u bytes=%llu/%llu bad_at=%llu", bad, round,
	      (unsigned long long)rd.bytes, (unsigned long long)pos,
	      (unsigned long long)rd.bad_at);
	tap_diag("reuse: %u sends through %u buffers in %.2f s", round, nbufs,
		 now_s() - t0);
	close(cli);
	close(srv);
	if (rw)
		munmap(rw, z.pool_size);
	zcrx_exit(&z);
	if (old_defer >= 0)
		sysctl_int(defer, old_defer);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	tap_set_group("send");
	test_errors();
	test_local_transfer();
	test_forward();
	test_reuse();
	CHECK("no_leak", sysfs_wait("sockets", 0, 3000) == 0 &&
	      sysfs_wait("pool_pages", 0, 3000) == 0, "sockets=%ld pages=%ld",
	      sysfs_long("sockets"), sysfs_long("pool_pages"));
	return tap_exit();
}

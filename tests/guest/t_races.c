// SPDX-License-Identifier: MIT
/*
 * Races between a process and the module:
 *
 *  - A stream never hangs with data queued: buffers given back while the
 *    module is in the middle of a read pass (after it found none, before
 *    it looks again) must not leave bytes in the socket that nobody will
 *    place: not stalled, not read, no NEED_WAKEUP, nothing for WAKE to do.
 *  - A failed CLAIM gives back exactly what it took, once: a buffer the
 *    process returned while the claim was in progress is not put twice,
 *    so SEND from it stays -EPERM and the pool stays consistent.
 */
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>

#include "tap.h"
#include "rx.h"
#include "fault.h"
#include "uffd.h"

#define PG		4096u

static struct zcrxdev_stats stats_of(struct zcrx *z)
{
	struct zcrxdev_stats st;

	zcrx_stats(z, &st);
	return st;
}

/* ---- 5: lost wakeup ---- */

#define LW_HANG_S	3.0	/* no completion this long, not at EOF: hung */
#define LW_SOCKS_MAX	2

/* One run: nsock streams at once through one tiny pool. */
struct lw_run {
	unsigned int		nbufs, cq, nsock;
	int			rcvbuf;		/* 0: the default */
	uint64_t		each;		/* bytes per stream */
	uint8_t			*data[LW_SOCKS_MAX];	/* what each received */
	struct rx_conn		c[LW_SOCKS_MAX];
	int			hung, writers_alive, woke;
	int			inq;		/* bytes queued in the stuck sockets */
	unsigned int		flags;		/* CQ flags word then */
	struct zcrxdev_stats	st;
	struct zcrxdev_cqe	hold;		/* the completion the receiver holds */
	int			held;
	unsigned int		jitter;
};

/*
 * Consume what is ready, as fast as possible.  The receiver holds one
 * completion (its bytes copied out already) and gives it back the moment
 * the next one shows up, with its own release store: that is when the
 * kernel, which has just filled a buffer, looks for the next one.  A
 * varying short spin moves that moment around.  Then it frees the CQ
 * slot, copies the new bytes out to where they belong in the stream, and
 * holds that one.  When nothing new comes it gives back what it holds.
 * The copies are checked once the run is over.  Returns how many
 * completions it consumed.
 */
static unsigned int lw_drain(struct zcrx *z, struct lw_run *lr)
{
	struct zcrxdev_cqe *cqe, e;
	unsigned int n = 0, spin;
	struct rx_conn *c;

	while ((cqe = zcrx_peek_cqe(z))) {
		e = *cqe;
		n++;
		if (lr->held) {
			for (spin = lr->jitter++ % 256; spin; spin--)
				__asm__ __volatile__("" ::: "memory");
			zcrx_return_cqe(z, &lr->hold);
			zcrx_store_release(z->rq.ktail, z->rq.tail);
			lr->held = 0;
		}
		if (e.tag >= lr->nsock || e.len > z->buf_size) {
			zcrx_cq_advance(z, 1);
			lr->c[0].bad_at = ~0ull;	/* malformed completion */
			continue;
		}
		c = &lr->c[e.tag];
		if (e.flags & (ZCRXDEV_CQE_EOF | ZCRXDEV_CQE_ERROR)) {
			zcrx_cq_advance(z, 1);
			c->ends++;
			c->eof = !!(e.flags & ZCRXDEV_CQE_EOF);
			c->error = (e.flags & ZCRXDEV_CQE_ERROR) ? e.error : 0;
			continue;
		}
		zcrx_cq_advance(z, 1);
		if (c->bytes + e.len <= lr->each)
			memcpy(lr->data[e.tag] + c->bytes, zcrx_cqe_data(z, &e), e.len);
		else if (!c->bad_at)
			c->bad_at = lr->each + 1;	/* more than was sent */
		c->bytes += e.len;
		lr->hold = e;
		lr->held = 1;
	}
	if (!n && lr->held) {
		zcrx_return_cqe(z, &lr->hold);
		zcrx_store_release(z->rq.ktail, z->rq.tail);
		lr->held = 0;
	}
	/*
	 * No WAKE here: the second thread calls it without pause, so one
	 * follows every publish (the ring protocol's WK-2 is met).
	 */
	return n;
}

/* Check what each stream received against its pattern. */
static void lw_verify(struct lw_run *lr)
{
	unsigned int i;
	uint64_t len;
	size_t k;

	for (i = 0; i < lr->nsock; i++) {
		struct rx_conn *c = &lr->c[i];

		len = c->bytes < lr->each ? c->bytes : lr->each;
		k = pattern_check(c->seed, 0, lr->data[i], len);
		if (k != len && !c->bad_at)
			c->bad_at = k + 1;
	}
}

/*
 * The receiver's second thread keeps asking the kernel to take refills
 * and resume stalled sockets (ZCRXDEV_IOC_WAKE may be called any time),
 * so read passes run while the first thread gives buffers back.
 */
struct lw_waker {
	int	fd;
	int	stop;
};

static void *lw_waker_thread(void *arg)
{
	struct lw_waker *w = arg;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
		ioctl(w->fd, ZCRXDEV_IOC_WAKE, 0);
	return NULL;
}

static bool lw_all_ended(const struct lw_run *lr)
{
	unsigned int i;

	for (i = 0; i < lr->nsock; i++)
		if (!lr->c[i].ends)
			return false;
	return true;
}

/*
 * nsock streams at once through one tiny pool.  The receiver's busy loop
 * never sleeps while completions come and gives buffers back as soon as
 * it can (lw_drain()), while its second thread calls WAKE.  Returns when
 * every stream ended, or when nothing came for LW_HANG_S while one had
 * not.
 */
static void lw_run(struct lw_run *lr, uint64_t seed)
{
	struct zcrx_params p = { .nr_bufs = lr->nbufs, .buf_size = PG,
				 .cq_entries = lr->cq };
	int cli, srv[LW_SOCKS_MAX], st, q;
	pid_t pid[LW_SOCKS_MAX];
	struct lw_waker w = { 0 };
	unsigned long idle = 0;
	pthread_t th;
	unsigned int i;
	struct zcrx z;
	double last;

	if (zcrx_init(&z, &p)) {
		lr->c[0].error = ENODEV;
		return;
	}
	for (i = 0; i < lr->nsock; i++) {
		lr->c[i].seed = seed + i;
		pid[i] = -1;
		srv[i] = -1;
		if (tcp_pair(i & 1 ? AF_INET6 : AF_INET, &cli, &srv[i])) {
			lr->c[i].error = ENOTCONN;
			lr->c[i].ends = 1;
			continue;
		}
		if (lr->rcvbuf)
			setsockopt(srv[i], SOL_SOCKET, SO_RCVBUF, &lr->rcvbuf,
				   sizeof(lr->rcvbuf));
		if (zcrx_attach(&z, srv[i], i))
			lr->c[i].ends = 1;
		pid[i] = spawn_writer(cli, lr->c[i].seed, lr->each, 65536, SHUT_WR);
		close(cli);
	}
	w.fd = z.fd;
	pthread_create(&th, NULL, lw_waker_thread, &w);
	last = now_s();
	while (!lw_all_ended(lr)) {
		if (lw_drain(&z, lr)) {
			last = now_s();
			idle = 0;
			continue;
		}
		if (now_s() - last > LW_HANG_S) {
			lr->hung = 1;
			break;
		}
		if (++idle % 65536 == 0)
			usleep(100);
	}
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	if (lr->hung) {
		/* What the sockets and the rings say, and whether WAKE helps. */
		for (i = 0; i < lr->nsock; i++) {
			q = 0;
			if (srv[i] >= 0 && !lr->c[i].ends && !ioctl(srv[i], FIONREAD, &q))
				lr->inq += q;
			if (pid[i] > 0 && waitpid(pid[i], &st, WNOHANG) == 0)
				lr->writers_alive++;
		}
		lr->flags = __atomic_load_n(z.cq.kflags, __ATOMIC_ACQUIRE);
		zcrx_wake(&z);
		lr->woke = zcrx_wait(&z, 500) > 0;
	}
	lr->st = stats_of(&z);
	for (i = 0; i < lr->nsock; i++) {
		if (srv[i] >= 0) {
			zcrx_detach(&z, srv[i]);
			close(srv[i]);
		}
		kill_reap(pid[i], NULL);
	}
	zcrx_exit(&z);
}

/*
 * Runs of one or two streams at once through pools of 2 to 4 buffers and
 * a small CQ, until the time is up or one hangs: none may hang, and every
 * stream that ends is exact.
 */
static void test_lost_wakeup(void)
{
	static const int shapes[][4] = {	/* buffers, CQ, streams, SO_RCVBUF */
		{ 2, 8, 1, 0 }, { 2, 8, 2, 0 }, { 2, 16, 1, 0 },
		{ 2, 8, 1, 65536 }, { 4, 8, 1, 0 }, { 3, 8, 1, 0 },
	};
	const unsigned int nshapes = ARRAY_SIZE(shapes);
	const uint64_t each = (debug_kernel() ? 128 : 256) << 10;
	const double budget = 60;
	unsigned int runs = 0, streams = 0, exact = 0, i, k;
	static uint8_t data[LW_SOCKS_MAX][256 << 10];
	static struct lw_run lr;
	double t0 = now_s();
	uint64_t bytes = 0;

	do {
		i = runs++ % nshapes;
		memset(&lr, 0, sizeof(lr));
		lr.nbufs = shapes[i][0];
		lr.cq = shapes[i][1];
		lr.nsock = shapes[i][2];
		lr.rcvbuf = shapes[i][3];
		lr.each = each;
		for (k = 0; k < LW_SOCKS_MAX; k++)
			lr.data[k] = data[k];
		lw_run(&lr, 1000 + 8 * runs);
		lw_verify(&lr);
		for (k = 0; k < lr.nsock; k++) {
			const struct rx_conn *c = &lr.c[k];

			bytes += c->bytes;
			if (!c->ends)
				continue;	/* hung: not counted */
			streams++;
			if (c->bytes == each && !c->bad_at && c->eof && c->ends == 1)
				exact++;
			else
				tap_diag("run %u (%u bufs) stream %u: bytes=%llu of %llu "
					 "bad_at=%llu eof=%d error=%d", runs, lr.nbufs, k,
					 (unsigned long long)c->bytes,
					 (unsigned long long)each,
					 (unsigned long long)c->bad_at, c->eof, c->error);
		}
	} while (!lr.hung && now_s() - t0 < budget);
	tap_diag("lost wakeup: %u runs, %u streams ended, %llu KiB in %.1f s", runs,
		 streams, (unsigned long long)(bytes >> 10), now_s() - t0);
	if (!streams && !lr.hung) {
		CHECK("no_lost_wakeup", 0, "no stream ran (%u runs)", runs);
		return;
	}
	for (k = 0, bytes = 0; k < lr.nsock; k++)
		bytes += lr.c[k].ends ? 0 : lr.c[k].bytes;
	CHECK("no_lost_wakeup", !lr.hung,
	      "run %u (%u buffers, CQ %u, %u streams) hung after %.1f s: no "
	      "completion for %.0f s with streams not at EOF (%llu KiB of them "
	      "received), %d bytes queued in their sockets, NEED_WAKEUP=%d, %llu "
	      "stalls; ZCRXDEV_IOC_WAKE then %s; %d writers still running", runs,
	      lr.nbufs, lr.cq, lr.nsock, now_s() - t0, LW_HANG_S,
	      (unsigned long long)(bytes >> 10), lr.inq,
	      !!(lr.flags & ZCRXDEV_RING_NEED_WAKEUP),
	      (unsigned long long)lr.st.stalls,
	      lr.woke ? "brought completions" : "did nothing", lr.writers_alive);
	CHECK("lost_wakeup_streams_exact", streams && exact == streams,
	      "%u of %u ended streams exact", exact, streams);
}

/* ---- 6: CLAIM's error path ---- */

/* Drop the page and wake the fault: its retry finds no mapping. */
static void uffd_unmap_and_wake(struct uffd_page *u, uint64_t start)
{
	struct uffdio_range range = { .start = start, .len = PG };

	munmap(u->page, PG);
	u->page = MAP_FAILED;
	if (ioctl(u->fd, UFFDIO_WAKE, &range)) {
		close(u->fd);
		u->fd = -1;
	}
}

struct claim_call {
	int		fd;
	uint64_t	offs;
	unsigned int	count;
	long		ret;
	int		done;
};

static void *claim_thread(void *arg)
{
	struct claim_call *cc = arg;
	struct zcrxdev_claim c;

	memset(&c, 0, sizeof(c));
	c.count = cc->count;
	c.offs = cc->offs;
	cc->ret = rioctl(cc->fd, ZCRXDEV_IOC_CLAIM, &c);
	__atomic_store_n(&cc->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Queue the return of the buffer at off, publish it and have it taken now. */
static void return_now(struct zcrx *z, uint64_t off)
{
	struct zcrxdev_cqe fake = { .off = off, .len = 1 };

	zcrx_return_cqe(z, &fake);
	zcrx_store_release(z->rq.ktail, z->rq.tail);
	zcrx_wake(z);
}

/*
 * After a CLAIM: nobody holds buffer 0, so SEND from it is EPERM; with
 * nothing held every buffer is free; and a verified stream still flows
 * through the pool with no refill entry refused.  Prefix names the checks.
 */
static void claim_aftermath(struct zcrx *z, const char *prefix)
{
	struct rx_opts o = { .timeout_s = 20 };
	struct rx_conn c = { .seed = 61 };
	const uint64_t total = 1 << 20;
	struct zcrxdev_stats st, st2;
	char name[64];
	int cli, srv, r;
	long s = -1;
	pid_t pid;

	if (!tcp_pair(AF_INET, &cli, &srv)) {
		s = zcrx_send(z, cli, 0, PG, 1);
		close(cli);
		close(srv);
	}
	snprintf(name, sizeof(name), "%s_send_unheld_eperm", prefix);
	CHECK(name, s == -EPERM, "SEND from buffer 0, which the process does not "
	      "hold, returned %ld (%s)", s, s < 0 ? strerror((int)-s) : "bytes queued");
	zcrx_wake(z);
	st = stats_of(z);
	snprintf(name, sizeof(name), "%s_all_free", prefix);
	CHECK(name, st.bufs_free == z->nr_bufs && !st.bufs_pending,
	      "%llu of %u buffers free, %llu pending, with none held",
	      (unsigned long long)st.bufs_free, z->nr_bufs,
	      (unsigned long long)st.bufs_pending);
	r = tcp_pair(AF_INET, &cli, &srv);
	if (!r) {
		r = zcrx_attach(z, srv, 0);
		pid = spawn_writer(cli, c.seed, total, 65536, SHUT_WR);
		close(cli);
		if (!r)
			r = rx_run(z, &c, 1, &o);
		kill_reap(pid, NULL);
		close(srv);
	}
	zcrx_wake(z);
	st2 = stats_of(z);
	snprintf(name, sizeof(name), "%s_then_stream_exact", prefix);
	CHECK(name, !r && c.bytes == total && !c.bad_at && c.eof &&
	      st2.refill_bad == st.refill_bad && st2.bufs_free == z->nr_bufs,
	      "r=%d bytes=%llu of %llu bad_at=%llu eof=%d; %llu refill entries "
	      "refused, %llu of %u buffers free after", r,
	      (unsigned long long)c.bytes, (unsigned long long)total,
	      (unsigned long long)c.bad_at, c.eof,
	      (unsigned long long)(st2.refill_bad - st.refill_bad),
	      (unsigned long long)st2.bufs_free, z->nr_bufs);
}

/*
 * Deterministic: the claim's offsets array is a userfaultfd page, so the
 * claim sleeps in copy_to_user with buffer 0 (the top of a fresh pool's
 * free stack) already taken.  Meanwhile the process returns buffer 0
 * (offsets are predictable), then unmaps the page and lets the claim go
 * on: its copy fails.  The failed claim must not give buffer 0 back a
 * second time.
 */
static void test_claim_fault_uffd(void)
{
	static struct claim_call cc;	/* static: see the stuck-thread case */
	struct zcrx_params p = { .nr_bufs = 4, .buf_size = PG };
	struct zcrxdev_stats st = { 0 };
	struct uffd_page u;
	bool faulted;
	pthread_t th;
	struct zcrx z;
	int r;

	r = uffd_page_init(&u);
	if (r) {
		char why[96];

		snprintf(why, sizeof(why), "userfaultfd unavailable: %s", strerror(-r));
		tap_skip("claim_fault_efault", why);
		tap_skip("claim_fault_send_unheld_eperm", why);
		return;
	}
	if (!CHECK("claim_fault_setup", !zcrx_init(&z, &p), "init")) {
		uffd_page_free(&u);
		return;
	}
	cc.fd = z.fd;
	cc.offs = (uintptr_t)u.page;
	cc.count = 1;
	pthread_create(&th, NULL, claim_thread, &cc);
	faulted = uffd_fault_seen(&u, 5000) && !cc.done;
	if (faulted) {
		return_now(&z, 0);
		st = stats_of(&z);
	}
	uffd_unmap_and_wake(&u, cc.offs);
	tap_diag("claim in copy_to_user: the kernel took %llu return(s) of buffer 0 "
		 "(%llu refused)", (unsigned long long)st.refill_entries,
		 (unsigned long long)st.refill_bad);
	wait_flag(&cc.done, 20000);
	CHECK("claim_fault_efault", faulted && cc.done && cc.ret == -EFAULT,
	      "claim %s, returned %ld", faulted ? "slept in its fault" :
	      "never faulted", cc.ret);
	if (cc.done)
		pthread_join(th, NULL);
	claim_aftermath(&z, "claim_fault");
	zcrx_exit(&z);
	uffd_page_free(&u);
}

struct claim_race {
	int		fd;
	unsigned int	count;
	int		stop;
	unsigned long	calls, efault, other;
};

/* Claim every buffer into an unwritable array, again and again. */
static void *claim_race_thread(void *arg)
{
	struct claim_race *cr = arg;
	struct zcrxdev_claim c;
	long r;

	while (!__atomic_load_n(&cr->stop, __ATOMIC_ACQUIRE)) {
		memset(&c, 0, sizeof(c));
		c.count = cr->count;
		c.offs = 8;		/* never writable */
		r = rioctl(cr->fd, ZCRXDEV_IOC_CLAIM, &c);
		cr->calls++;
		if (r == -EFAULT)
			cr->efault++;
		else
			cr->other++;
	}
	return NULL;
}

/* SEND one byte of buffer 0 on a fresh socket pair: its result. */
static long send_buffer0(struct zcrx *z)
{
	int cli, srv;
	long r;

	if (tcp_pair(AF_INET, &cli, &srv))
		return -ENOTCONN;
	r = zcrx_send(z, cli, 0, 1, 2);
	close(cli);
	close(srv);
	return r;
}

/*
 * The same without userfaultfd, by racing: one thread claims every buffer
 * into an unwritable array (each claim fails), the other returns buffer 0
 * as fast as it can.  A return that lands while a claim holds buffer 0 is
 * taken; the failing claim must then not put it again.  Rounds of 100 ms,
 * each followed by a SEND from buffer 0, which nobody holds then.
 */
static void test_claim_fault_race(void)
{
	struct zcrx_params p = { .nr_bufs = 4, .buf_size = PG };
	const unsigned int rounds = debug_kernel() ? 10 : 30;
	unsigned int round, sendable = 0;
	struct claim_race cr = { 0 };
	unsigned long returns = 0;
	struct zcrxdev_stats st;
	long first = 0, r;
	pthread_t th;
	struct zcrx z;
	double t0;

	if (!CHECK("claim_race_setup", !zcrx_init(&z, &p), "init"))
		return;
	cr.fd = z.fd;
	cr.count = p.nr_bufs;
	for (round = 0; round < rounds; round++) {
		__atomic_store_n(&cr.stop, 0, __ATOMIC_RELEASE);
		pthread_create(&th, NULL, claim_race_thread, &cr);
		t0 = now_s();
		while (now_s() - t0 < 0.1) {
			return_now(&z, 0);
			returns++;
		}
		__atomic_store_n(&cr.stop, 1, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
		r = send_buffer0(&z);
		if (r != -EPERM && !sendable++)
			first = r;
	}
	st = stats_of(&z);
	tap_diag("claim race: %lu claims (%lu EFAULT, %lu other), %lu returns of "
		 "buffer 0, %llu taken by the kernel", cr.calls, cr.efault, cr.other,
		 returns, (unsigned long long)st.refill_entries);
	CHECK("claim_race_claims_efault", cr.calls && cr.efault == cr.calls,
	      "%lu of %lu claims into an unwritable array failed EFAULT",
	      cr.efault, cr.calls);
	CHECK("claim_race_no_unheld_send", !sendable,
	      "after %u of %u rounds of failed claims SEND from buffer 0, which "
	      "nobody held, was not EPERM (first: %ld)", sendable, rounds, first);
	/* Each claim held buffer 0 once: at most one return each. */
	CHECK("claim_race_returns_bounded", st.refill_entries <= cr.calls,
	      "%llu returns of buffer 0 taken during %lu claims that each held it "
	      "once: failed claims gave it back again",
	      (unsigned long long)st.refill_entries, cr.calls);
	claim_aftermath(&z, "claim_race");
	zcrx_exit(&z);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	tap_set_group("races");
	test_claim_fault_uffd();
	test_claim_fault_race();
	test_lost_wakeup();
	CHECK("no_leak", sysfs_wait("sockets", 0, 5000) == 0 &&
	      sysfs_wait("pool_pages", 0, 5000) == 0, "sockets=%ld pages=%ld",
	      sysfs_long("sockets"), sysfs_long("pool_pages"));
	return tap_exit();
}

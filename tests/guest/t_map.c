// SPDX-License-Identifier: MIT
/*
 * Mapping whole pages instead of copying them (ZCRXDEV_SETUP_MAP): setup
 * and mmap contract of the window, content of mapped streams, lifetime
 * (a full window falls back to copying, returned pages are unmapped in
 * batches and really gone, munmap() of a busy window), hostile returns,
 * and pages of another pool: mapped here, they keep that pool's send in
 * flight until they are unmapped.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

#include "tap.h"
#include "rx.h"

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif

#define PG 4096u
/* The window's mmap offset, as setup returns it (checked in test_setup). */
#define ZCRX_MMAP_WIN_OFF 0x300000000LL

static struct zcrx z;

static struct zcrxdev_stats stats_of(struct zcrx *x)
{
	struct zcrxdev_stats st;

	zcrx_stats(x, &st);
	return st;
}

static int map_init(struct zcrx *x, unsigned int nr_bufs, unsigned int flags,
		    unsigned int win_pages)
{
	struct zcrx_params p = { .nr_bufs = nr_bufs, .buf_size = PG,
				 .flags = flags, .win_pages = win_pages };

	return zcrx_init(x, &p);
}

/* Read every queued MSG_ZEROCOPY notification; they only say "done". */
static void drain_errqueue(int fd)
{
	char control[128];
	struct msghdr msg;

	do {
		memset(&msg, 0, sizeof(msg));
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
	} while (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) >= 0);
}

/*
 * In a child: send total bytes with MSG_ZEROCOPY from a page-aligned
 * buffer of span bytes (pattern seed) that is never rewritten, span after
 * span; span == total sends the pattern stream itself.  Over loopback the
 * kernel copies such pages into fresh whole pages at delivery
 * (skb_orphan_frags_rx()): the receiver gets whole-page fragments.
 * Exit status 3: the buffer could not be had.
 */
static pid_t spawn_zc_sender_span(int fd, uint64_t seed, uint64_t total,
				  size_t wsize, size_t span)
{
	pid_t pid = fork();
	uint64_t pos;
	uint8_t *buf;
	ssize_t n;
	int one = 1;

	if (pid)
		return pid;
	if (posix_memalign((void **)&buf, PG, span) ||
	    setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)))
		_exit(3);
	pattern_fill(seed, 0, buf, span);
	for (pos = 0; pos < total; pos += n) {
		size_t at = pos % span;
		size_t len = total - pos < wsize ? total - pos : wsize;

		if (len > span - at)
			len = span - at;
		n = send(fd, buf + at, len, MSG_ZEROCOPY);
		if (n < 0 && errno == ENOBUFS) {	/* option memory full */
			n = 0;
			usleep(1000);
		} else if (n < 0) {
			_exit(2);
		}
		drain_errqueue(fd);
	}
	shutdown(fd, SHUT_WR);
	_exit(0);
}

static pid_t spawn_zc_sender(int fd, uint64_t seed, uint64_t total, size_t wsize)
{
	return spawn_zc_sender_span(fd, seed, total, wsize, total);
}

static void test_setup(void)
{
	struct zcrxdev_setup s;
	long r;
	int fd;

	fd = zcrx_open_dev();
	setup_args(&s, 4, PG);
	s.win_pages = 16;
	CHECK_ERR("win_pages_without_map", xioctl(fd, ZCRXDEV_IOC_SETUP, &s), EINVAL);
	setup_args(&s, 4, PG);
	s.flags = ZCRXDEV_SETUP_MAP;
	s.win_pages = ZCRXDEV_WIN_PAGES_MAX + 1;
	CHECK_ERR("win_pages_too_many", xioctl(fd, ZCRXDEV_IOC_SETUP, &s), EINVAL);
	setup_args(&s, 4, PG);
	s.flags = ZCRXDEV_SETUP_MAP_ALWAYS;
	s.win_pages = 8;
	r = xioctl(fd, ZCRXDEV_IOC_SETUP, &s);
	CHECK("map_setup", !r &&
	      (s.flags & ZCRXDEV_SETUP_MAP) && s.win.size == 8 * PG &&
	      s.win.offset == ZCRX_MMAP_WIN_OFF && s.map_threshold == PG &&
	      (s.features & ZCRXDEV_FEAT_MAP), "r=%ld flags=%#x win=%llu@%#llx thr=%u",
	      r, s.flags, (unsigned long long)s.win.size,
	      (unsigned long long)s.win.offset, s.map_threshold);
	close(fd);

	fd = zcrx_open_dev();
	setup_args(&s, 4, PG);
	s.flags = ZCRXDEV_SETUP_MAP;
	CHECK("map_default_window", !xioctl(fd, ZCRXDEV_IOC_SETUP, &s) &&
	      s.win_pages >= 16 && s.win.size == (uint64_t)s.win_pages * PG &&
	      s.map_threshold >= PG, "win_pages=%u thr=%u", s.win_pages,
	      s.map_threshold);
	close(fd);

	fd = zcrx_open_dev();
	setup_args(&s, 4, PG);
	CHECK("copy_pool_has_no_window", !xioctl(fd, ZCRXDEV_IOC_SETUP, &s) &&
	      !s.win.size && !s.win.offset && !s.map_threshold, "win=%llu",
	      (unsigned long long)s.win.size);
	close(fd);
}

static void test_mmap_rules(void)
{
	struct zcrxdev_recv r = { 0 };
	uint8_t *win;
	void *p;

	CHECK("init", !map_init(&z, 8, ZCRXDEV_SETUP_MAP, 0) && z.win_pages,
	      "init failed");
	win = z.pool + z.pool_size;
	p = mmap(NULL, (size_t)z.win_pages * PG, PROT_READ, MAP_SHARED, z.fd,
		 ZCRX_MMAP_WIN_OFF);
	CHECK("second_window_mapping", p == MAP_FAILED && errno == EBUSY,
	      "mmap: %s", p == MAP_FAILED ? strerror(errno) : "succeeded");
	CHECK("window_no_write", mprotect(win, PG * z.win_pages,
					  PROT_READ | PROT_WRITE) && errno == EACCES,
	      "mprotect: %s", strerror(errno));
	CHECK("window_no_split", munmap(win, PG) && errno == EINVAL,
	      "munmap of one page: %s", strerror(errno));
	p = mremap(win, (size_t)z.win_pages * PG, (size_t)z.win_pages * PG,
		   MREMAP_MAYMOVE | MREMAP_FIXED, z.pool + z.pool_size + (1 << 30));
	CHECK("window_no_move", p == MAP_FAILED, "mremap succeeded");
	r.flags = ZCRXDEV_RECV_FLAGS + 1;	/* an unknown bit */
	CHECK_ERR("recv_flags", xioctl(z.fd, ZCRXDEV_IOC_RECV, &r), EINVAL);
	r.flags = 0;
	r.resv[1] = 1;
	CHECK_ERR("recv_resv", xioctl(z.fd, ZCRXDEV_IOC_RECV, &r), EINVAL);
	zcrx_exit(&z);

	/* Once unmapped, the window can be mapped again, but only read-only. */
	CHECK("init_again", !map_init(&z, 8, ZCRXDEV_SETUP_MAP, 0), "init");
	win = z.pool + z.pool_size;
	CHECK("window_unmap_whole", !munmap(win, (size_t)z.win_pages * PG),
	      "munmap: %s", strerror(errno));
	p = mmap(win, (size_t)z.win_pages * PG, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, z.fd, ZCRX_MMAP_WIN_OFF);
	CHECK("window_map_writable", p == MAP_FAILED && errno == EACCES,
	      "mmap: %s", p == MAP_FAILED ? strerror(errno) : "succeeded");
	p = mmap(win, (size_t)z.win_pages * PG, PROT_READ,
		 MAP_PRIVATE | MAP_FIXED, z.fd, ZCRX_MMAP_WIN_OFF);
	CHECK("window_map_private", p == MAP_FAILED && errno == EINVAL,
	      "mmap: %s", p == MAP_FAILED ? strerror(errno) : "succeeded");
	p = mmap(win, (size_t)z.win_pages * PG, PROT_READ,
		 MAP_SHARED | MAP_FIXED, z.fd, ZCRX_MMAP_WIN_OFF);
	CHECK("window_map_again", p == win, "mmap: %s", strerror(errno));
	zcrx_exit(&z);
}

/* One stream through a MAP pool; returns the receive result. */
static int map_stream(unsigned int flags, unsigned int nr_bufs, uint64_t total,
		      int zc_sender, struct rx_conn *c, struct zcrxdev_stats *st)
{
	struct rx_opts o = { .timeout_s = 60 };
	int cli, srv, r, status = -1;
	pid_t pid;

	if (map_init(&z, nr_bufs, flags, 0))
		return -ENODEV;
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	pid = zc_sender ? spawn_zc_sender(cli, c->seed, total, 65536) :
			  spawn_sender(cli, c->seed, total, 65536, SHUT_WR);
	close(cli);
	r = rx_run(&z, c, 1, &o);
	waitpid(pid, &status, 0);
	*st = stats_of(&z);
	close(srv);
	zcrx_exit(&z);
	return r ? r : (status ? -ECHILD : 0);
}

static void test_stream(void)
{
	const uint64_t total = 32ull << 20;
	struct rx_conn c = { .seed = 7 };
	struct zcrxdev_stats st;
	int r;

	r = map_stream(ZCRXDEV_SETUP_MAP_ALWAYS, 256, total, 1, &c, &st);
	CHECK("zc_sender_exact", !r && c.bytes == total && !c.bad_at && c.eof,
	      "r=%d bytes=%llu bad_at=%llu eof=%d", r,
	      (unsigned long long)c.bytes, (unsigned long long)c.bad_at, c.eof);
	CHECK("zc_sender_mapped", st.bytes_mapped >= total / 4 &&
	      st.bytes_mapped == st.bytes_zerocopy && st.bytes_mapped == c.zerocopy,
	      "mapped=%llu zerocopy=%llu of %llu",
	      (unsigned long long)st.bytes_mapped,
	      (unsigned long long)st.bytes_zerocopy, (unsigned long long)total);
	CHECK("zc_sender_accounted", st.bytes_mapped + st.bytes_copied == total &&
	      c.copied == st.bytes_copied, "mapped=%llu copied=%llu",
	      (unsigned long long)st.bytes_mapped,
	      (unsigned long long)st.bytes_copied);
	CHECK("zc_sender_unmapped_all", st.pages_zapped * PG <= st.bytes_mapped &&
	      st.zap_calls && st.zap_calls <= st.pages_zapped && st.recv_calls,
	      "zapped=%llu calls=%llu recv=%llu",
	      (unsigned long long)st.pages_zapped,
	      (unsigned long long)st.zap_calls, (unsigned long long)st.recv_calls);
	tap_diag("zc sender: %llu of %llu bytes mapped, %llu zaps for %llu pages, %llu RECV calls",
		 (unsigned long long)st.bytes_mapped, (unsigned long long)total,
		 (unsigned long long)st.zap_calls,
		 (unsigned long long)st.pages_zapped,
		 (unsigned long long)st.recv_calls);

	/* A plain send() sender: whatever is not whole pages is copied. */
	memset(&c, 0, sizeof(c));
	c.seed = 8;
	r = map_stream(ZCRXDEV_SETUP_MAP, 256, total, 0, &c, &st);
	CHECK("plain_sender_exact", !r && c.bytes == total && !c.bad_at && c.eof,
	      "r=%d bytes=%llu bad_at=%llu", r, (unsigned long long)c.bytes,
	      (unsigned long long)c.bad_at);
	CHECK("plain_sender_accounted", st.bytes_mapped + st.bytes_copied == total,
	      "mapped=%llu copied=%llu", (unsigned long long)st.bytes_mapped,
	      (unsigned long long)st.bytes_copied);
	tap_diag("plain sender: %llu of %llu bytes mapped",
		 (unsigned long long)st.bytes_mapped, (unsigned long long)total);
}

static sigjmp_buf fault_jmp;

static void on_fault(int sig)
{
	siglongjmp(fault_jmp, sig);
}

/* Does reading p fault?  (An unmapped window page raises SIGBUS.) */
static int read_faults(const volatile uint8_t *p)
{
	struct sigaction sa = { .sa_handler = on_fault }, old_bus, old_segv;
	int sig;

	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	sig = sigsetjmp(fault_jmp, 1);
	if (!sig)
		(void)*p;
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	return sig;
}

/* Take up to max completions already posted, without any system call. */
static unsigned int take_ready(struct zcrxdev_cqe *out, unsigned int max)
{
	struct zcrxdev_cqe *cqe;
	unsigned int head, n = 0;

	zcrx_for_each_cqe(&z, head, cqe) {
		if (n == max)
			break;
		out[n++] = *cqe;
	}
	zcrx_cq_advance(&z, n);
	return n;
}

/*
 * Take up to max completions (waiting up to secs for them) without
 * returning them; returns how many were taken.
 */
static unsigned int take_all(struct zcrxdev_cqe *out, unsigned int max,
			     double secs)
{
	double end = now_s() + secs;
	unsigned int n = 0;

	while (now_s() < end && n < max) {
		zcrx_wait(&z, 50);
		n += take_ready(out + n, max - n);
	}
	return n;
}

/*
 * A process that holds on to mapped pages: the window fills, the rest is
 * copied (map_fallbacks), nothing is lost; returned pages are unmapped in
 * batches and reading them afterwards faults.
 */
static void test_lifetime(void)
{
	static struct zcrxdev_cqe cqes[4096];
	const uint64_t total = 8ull << 20;
	struct zcrxdev_stats st, st2;
	uint64_t bytes = 0, mapped = 0, zapped_before;
	unsigned int n, i, runs = 0, bad = 0, wrong = 0;
	const uint8_t *first = NULL;
	int cli, srv, status;
	pid_t pid;

	CHECK("lt_init", !map_init(&z, 2048, ZCRXDEV_SETUP_MAP_ALWAYS, 256) &&
	      z.win_pages == 256,
	      "init");
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	pid = spawn_zc_sender(cli, 11, total, 65536);
	close(cli);
	n = take_all(cqes, 4096, 8);
	for (i = 0; i < n; i++) {
		if (cqes[i].flags & (ZCRXDEV_CQE_EOF | ZCRXDEV_CQE_ERROR))
			continue;
		if (pattern_check(11, bytes, zcrx_cqe_data(&z, &cqes[i]),
				  cqes[i].len) != cqes[i].len)
			wrong++;
		bytes += cqes[i].len;
		if (cqes[i].flags & ZCRXDEV_CQE_MAPPED) {
			mapped += cqes[i].len;
			runs++;
			if (!first)
				first = zcrx_cqe_data(&z, &cqes[i]);
		}
	}
	waitpid(pid, &status, 0);
	st = stats_of(&z);
	CHECK("lt_window_full_copies", bytes == total && !wrong &&
	      mapped <= (uint64_t)z.win_pages * PG && st.map_fallbacks &&
	      st.bytes_copied == total - mapped, "bytes=%llu wrong=%u mapped=%llu "
	      "win=%u fallbacks=%llu", (unsigned long long)bytes, wrong,
	      (unsigned long long)mapped, z.win_pages,
	      (unsigned long long)st.map_fallbacks);

	/* Hostile returns: not a run's start, past the window, twice. */
	zapped_before = st.pages_zapped;
	for (i = 0; i < n; i++)
		if ((cqes[i].flags & ZCRXDEV_CQE_MAPPED) && cqes[i].len > PG)
			break;
	if (i < n) {
		struct zcrxdev_rqe *rqe;

		rqe = &z.rq.rqes[z.rq.tail++ & z.rq.mask];
		*rqe = (struct zcrxdev_rqe){ .off = cqes[i].off + PG };
		rqe = &z.rq.rqes[z.rq.tail++ & z.rq.mask];
		*rqe = (struct zcrxdev_rqe){ .off = z.pool_size +
					     (uint64_t)z.win_pages * PG };
		bad = 2;
	}
	for (i = 0; i < n; i++)
		zcrx_return_cqe(&z, &cqes[i]);
	for (i = 0; i < n; i++)
		if (cqes[i].flags & ZCRXDEV_CQE_MAPPED) {
			zcrx_return_cqe(&z, &cqes[i]);	/* twice */
			bad++;
			break;
		}
	CHECK("lt_recv", zcrx_recv(&z) >= 0, "recv failed");
	st2 = stats_of(&z);
	CHECK("lt_bad_returns_counted", st2.refill_bad == bad, "refill_bad=%llu "
	      "want %u", (unsigned long long)st2.refill_bad, bad);
	CHECK("lt_returned_unmapped", st2.pages_zapped - zapped_before ==
	      mapped / PG && st2.zap_calls > st.zap_calls &&
	      st2.zap_calls - st.zap_calls <= runs,
	      "zapped %llu of %llu pages in %llu calls (%u runs)",
	      (unsigned long long)(st2.pages_zapped - zapped_before),
	      (unsigned long long)(mapped / PG),
	      (unsigned long long)(st2.zap_calls - st.zap_calls), runs);
	CHECK("lt_unmapped_page_faults", first && read_faults(first),
	      "a returned window page is still readable");
	close(srv);
	zcrx_exit(&z);
}

/*
 * munmap() of a window whose pages the process still holds: the pages go
 * with the mapping, later returns are refused, and receiving goes on by
 * copying.  Nothing may leak (the debug kernel's kmemleak scan checks).
 */
static void test_unmap_busy(void)
{
	static struct zcrxdev_cqe cqes[1024];
	struct rx_conn c = { .seed = 12 };
	struct rx_opts o = { .timeout_s = 30 };
	const uint64_t total = 4ull << 20;
	unsigned int n, i, held = 0;
	struct zcrxdev_stats st;
	int cli, srv, r, status;
	uint64_t mapped = 0;
	pid_t pid;

	CHECK("ub_init", !map_init(&z, 256, ZCRXDEV_SETUP_MAP_ALWAYS, 0), "init");
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	pid = spawn_zc_sender(cli, c.seed, total, 65536);
	close(cli);
	/*
	 * Take the first completions, and every one already posted (a MAP
	 * pool places bytes only inside our own zcrx_recv() calls, so none
	 * can come in between), check them, then drop the window.
	 */
	n = take_all(cqes, 64, 2);
	n += take_ready(cqes + n, 1024 - n);
	for (i = 0; i < n; i++) {
		if (!cqes[i].len)
			continue;
		rx_account(&z, &c, &cqes[i]);
		if (cqes[i].flags & ZCRXDEV_CQE_MAPPED) {
			mapped += cqes[i].len;
			held++;
		}
	}
	munmap(z.pool + z.pool_size, (size_t)z.win_pages * PG);
	for (i = 0; i < n; i++)
		zcrx_return_cqe(&z, &cqes[i]);
	zcrx_rq_commit(&z);
	r = rx_run(&z, &c, 1, &o);
	waitpid(pid, &status, 0);
	st = stats_of(&z);
	CHECK("ub_stream_exact", !r && c.bytes == total && !c.bad_at && c.eof,
	      "r=%d bytes=%llu bad_at=%llu", r, (unsigned long long)c.bytes,
	      (unsigned long long)c.bad_at);
	CHECK("ub_held_pages_mapped_first", held && mapped == st.bytes_mapped,
	      "held=%u mapped=%llu stats=%llu", held, (unsigned long long)mapped,
	      (unsigned long long)st.bytes_mapped);
	CHECK("ub_late_returns_refused", st.refill_bad == held,
	      "refill_bad=%llu held=%u", (unsigned long long)st.refill_bad, held);
	close(srv);
	/* zcrx_exit() would unmap the window again: it is gone, that is fine. */
	zcrx_exit(&z);
}

/*
 * Wait on pool x for up to secs (or until *sent reaches stop): count its
 * SENT completions in *sent, and in *early those whose tag is a buffer
 * flagged in mapped[0..nbufs).
 */
static void count_sent_on(struct zcrx *x, double secs, unsigned int stop,
			  const uint8_t *mapped, unsigned int nbufs,
			  unsigned int *sent, unsigned int *early)
{
	double end = now_s() + secs;
	struct zcrxdev_cqe *cqe;
	unsigned int head, k;

	while (now_s() < end && *sent < stop) {
		zcrx_wait(x, 50);
		k = 0;
		zcrx_for_each_cqe(x, head, cqe) {
			if (cqe->flags & ZCRXDEV_CQE_SENT) {
				(*sent)++;
				*early += cqe->tag < nbufs && mapped[cqe->tag];
			}
			k++;
		}
		zcrx_cq_advance(x, k);
	}
}

/* Bytes of completions that no longer match the stream (0: all intact). */
static unsigned int fp_wrong(const struct zcrxdev_cqe *cqes, unsigned int n)
{
	unsigned int i, wrong = 0;
	uint64_t pos;

	for (i = 0, pos = 0; i < n; pos += cqes[i].len, i++)
		if (pattern_check(21, pos, zcrx_cqe_data(&z, &cqes[i]),
				  cqes[i].len) != cqes[i].len)
			wrong++;
	return wrong;
}

/*
 * Pages of another pool (a WRITABLE pool sending claimed buffers) are
 * never mapped here: their owner can still write them.  They are copied
 * (pool pages are compound pages, which no receiver maps), so what this
 * receiver was given stays as it was when the sender rewrites its pages,
 * and the sender's SENT completions come once the copies are made.
 */
static void test_foreign_pool_pages(void)
{
	const char *defer = "/proc/sys/net/core/skb_defer_max";
	const unsigned int nbufs = 16;
	struct zcrx a;
	struct zcrxdev_cqe cqes[64];
	unsigned int n, i, k, sent = 0, mapped = 0, wrong, early = 0;
	uint8_t none_mapped[16] = { 0 };
	uint64_t offs[16], got;
	int cli, srv, old_defer;
	double t0 = now_s();
	uint8_t *rw = NULL;

	old_defer = sysctl_int(defer, 0);
	CHECK("fp_init", !map_init(&a, 64, ZCRXDEV_SETUP_WRITABLE, 0) &&
	      !map_init(&z, 64, ZCRXDEV_SETUP_MAP_ALWAYS, 0), "init");
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	rw = mmap(NULL, a.pool_size, PROT_READ | PROT_WRITE, MAP_SHARED, a.fd, 0);
	CHECK("fp_claim", rw != MAP_FAILED && zcrx_claim(&a, offs, nbufs) == (int)nbufs,
	      "claim");
	for (i = 0; i < nbufs && rw != MAP_FAILED; i++) {
		pattern_fill(21, (uint64_t)i * PG, rw + offs[i], PG);
		zcrx_send(&a, cli, offs[i], PG, i);
		zcrx_return_cqe(&a, &(struct zcrxdev_cqe){ .off = offs[i], .len = PG });
	}
	zcrx_rq_commit(&a);
	/* Every byte, however the stack cut it (6.1 copies a small head). */
	for (n = 0, got = 0; got < nbufs * PG && n < 64 && now_s() - t0 < 10;) {
		zcrx_wait(&z, 50);
		k = take_ready(cqes + n, 64 - n);
		for (i = n; i < n + k; i++)
			got += cqes[i].len;
		n += k;
	}
	for (i = 0; i < n; i++)
		if (cqes[i].flags & ZCRXDEV_CQE_MAPPED)
			mapped += cqes[i].len / PG;
	wrong = fp_wrong(cqes, n);
	CHECK("fp_content", got == nbufs * PG && !wrong,
	      "%u of %u completions wrong, %llu of %u bytes", wrong, n,
	      (unsigned long long)got, nbufs * PG);
	CHECK("fp_never_mapped", !mapped, "%u of %u pages mapped", mapped, nbufs);
	/* Everything was copied: SENT comes while we still hold the bytes. */
	count_sent_on(&a, 10.0, nbufs, none_mapped, nbufs, &sent, &early);
	CHECK("fp_sent_while_held", sent == nbufs, "%u of %u SENT", sent, nbufs);
	/* The sender may now rewrite its pages: ours must not change. */
	for (i = 0; i < nbufs && rw != MAP_FAILED; i++)
		memset(rw + offs[i], 0xee, PG);
	wrong = fp_wrong(cqes, n);
	CHECK("fp_unchanged_after_rewrite", n && !wrong,
	      "%u of %u completions changed after delivery", wrong, n);
	for (i = 0; i < n; i++)
		zcrx_return_cqe(&z, &cqes[i]);
	zcrx_recv(&z);
	close(cli);
	close(srv);
	if (rw != MAP_FAILED)
		munmap(rw, a.pool_size);
	zcrx_exit(&a);
	zcrx_exit(&z);
	if (old_defer >= 0)
		sysctl_int(defer, old_defer);
}

/* ---- a hostile process on a MAP pool ---- */

struct mf_shared {
	int		stop;
	unsigned long	recvs, remaps, child_recvs;
};

/* A second thread: RECV calls, and now and then the window dropped and remapped. */
static void *mf_thread(void *arg)
{
	struct mf_shared *sh = arg;
	uint8_t *win = z.pool + z.pool_size;
	size_t wlen = (size_t)z.win_pages * PG;
	unsigned int n = 0;

	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		xioctl(z.fd, ZCRXDEV_IOC_RECV, &(struct zcrxdev_recv){ 0 });
		sh->recvs++;
		if (++n % 50 == 0) {
			munmap(win, wlen);
			usleep(1000);
			if (mmap(win, wlen, PROT_READ, MAP_SHARED | MAP_FIXED, z.fd,
				 ZCRX_MMAP_WIN_OFF) != win)
				break;
			sh->remaps++;
		}
		if (n % 64 == 0) {	/* another mm: RECV there copies */
			pid_t pid = fork();

			if (!pid) {
				xioctl(z.fd, ZCRXDEV_IOC_RECV, &(struct zcrxdev_recv){ 0 });
				_exit(0);
			}
			waitpid(pid, NULL, 0);
			sh->child_recvs++;
		}
		usleep(200);
	}
	return NULL;
}

/*
 * Ten seconds of a hostile MAP pool owner while a MSG_ZEROCOPY stream
 * flows: every completion is checked for shape, then returned correctly,
 * twice, shifted inside or past the window, or not at all; the refill tail lies; a second thread calls RECV and drops and
 * remaps the window; forked children call RECV from another mm.  The
 * kernel must stay sane (debug kernel: KASAN, lockdep), the counters
 * consistent, and a clean stream must follow on a fresh pool.
 */
static void test_hostile(void)
{
	struct mf_shared sh = { 0 };
	struct zcrxdev_stats st;
	struct rx_conn c = { .seed = 31 };
	unsigned long good = 0, garbage = 0, wrong = 0, mapped = 0, lies = 0;
	uint64_t pos = 0;
	int cli, srv, status, r;
	pthread_t th;
	double t0;
	pid_t pid;

	if (!CHECK("hostile_init", !map_init(&z, 64, ZCRXDEV_SETUP_MAP_ALWAYS, 64),
		   "init"))
		return;
	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 0);
	/* 16 MiB sent 16 times: little memory, on a debug kernel too. */
	pid = spawn_zc_sender_span(cli, 30, 256ull << 20, 65536, 16u << 20);
	close(cli);
	pthread_create(&th, NULL, mf_thread, &sh);
	/* Ten seconds from the first byte (a slow sender start is not ours). */
	t0 = now_s();
	while (now_s() - t0 < (pos ? 10 : 60)) {
		struct zcrxdev_cqe *cqe;
		unsigned int head, n = 0;

		zcrx_wait(&z, 20);
		zcrx_for_each_cqe(&z, head, cqe) {
			struct zcrxdev_cqe e = *cqe;
			struct zcrxdev_rqe *q;
			unsigned int pick = (unsigned int)rand() % 8;

			n++;
			if (!e.len)
				continue;
			/*
			 * The bytes cannot be checked here: a false return can
			 * free a buffer that a completion still names (the
			 * process harming its own data, as documented).  Its
			 * shape can: inside one buffer, or inside the window.
			 */
			if (e.tag || e.error || e.resv ||
			    ((e.flags & ZCRXDEV_CQE_MAPPED) ?
			     e.flags != (ZCRXDEV_CQE_MAPPED | ZCRXDEV_CQE_ZEROCOPY) ||
			     e.off < z.pool_size || e.len % PG ||
			     e.off + e.len > z.pool_size + (uint64_t)z.win_pages * PG :
			     e.flags != ZCRXDEV_CQE_COPIED || e.off >= z.pool_size ||
			     (e.off & (z.buf_size - 1)) + e.len > z.buf_size))
				wrong++;
			mapped += !!(e.flags & ZCRXDEV_CQE_MAPPED);
			if (!pos)
				t0 = now_s();
			pos += e.len;
			if (pick == 7)
				continue;		/* never returned */
			if (!zcrx_rq_space(&z))
				zcrx_wake(&z);
			q = &z.rq.rqes[z.rq.tail & z.rq.mask];
			*q = (struct zcrxdev_rqe){ .off = e.off };
			if (!(e.flags & ZCRXDEV_CQE_MAPPED))
				q->off &= ~(uint64_t)(z.buf_size - 1);
			switch (pick) {
			case 4:
				q->off += PG;			/* inside a run */
				garbage++;
				break;
			case 5:
				q->off = z.pool_size +
					 (uint64_t)(rand() % (2 * z.win_pages)) * PG;
				garbage++;
				break;
			case 6:
				q->off = e.off + (unsigned int)rand() % PG;
				garbage++;
				break;
			default:
				good++;
			}
			z.rq.tail++;
			if (pick == 3 && zcrx_rq_space(&z)) {	/* twice */
				z.rq.rqes[z.rq.tail & z.rq.mask] = *q;
				z.rq.tail++;
				garbage++;
			}
		}
		zcrx_cq_advance(&z, n);
		if (rand() % 16 == 0) {		/* a lying tail, then the truth */
			zcrx_store_release(z.rq.ktail, z.rq.tail + 1000 + rand() % 5000);
			xioctl(z.fd, ZCRXDEV_IOC_RECV, &(struct zcrxdev_recv){ 0 });
			lies++;
		}
		zcrx_rq_commit(&z);
	}
	__atomic_store_n(&sh.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CHECK("hostile_sender_ran", !WIFEXITED(status) || !WEXITSTATUS(status),
	      "sender exit status %d", WEXITSTATUS(status));
	/* A MAP pool places bytes only in RECV calls: nothing comes now. */
	{
		struct zcrxdev_cqe *cqe;
		unsigned int head, n = 0;

		zcrx_for_each_cqe(&z, head, cqe) {
			pos += cqe->len;
			n++;
		}
		zcrx_cq_advance(&z, n);
	}
	r = zcrx_stats(&z, &st);
	tap_diag("hostile: %lu good and %lu bad returns, %lu lying tails, %lu mapped "
		 "completions, %llu MiB; other thread: %lu RECV, %lu remaps, %lu "
		 "child RECV; kernel: refill_bad=%llu mapped=%llu MiB zapped=%llu pages "
		 "fallbacks=%llu", good, garbage, lies, mapped,
		 (unsigned long long)(pos >> 20), sh.recvs, sh.remaps, sh.child_recvs,
		 (unsigned long long)st.refill_bad,
		 (unsigned long long)(st.bytes_mapped >> 20),
		 (unsigned long long)st.pages_zapped,
		 (unsigned long long)st.map_fallbacks);
	CHECK("hostile_completions_well_formed", !r && !wrong && pos > (1u << 20),
	      "%lu malformed completions, %llu bytes", wrong, (unsigned long long)pos);
	CHECK("hostile_counters_consistent", st.bytes_copied + st.bytes_mapped == pos &&
	      st.refill_bad && st.pages_zapped * PG <= st.bytes_mapped &&
	      st.bufs_free + st.bufs_pending <= 64 && sh.remaps,
	      "copied=%llu mapped=%llu pos=%llu bad=%llu garbage=%lu zapped=%llu remaps=%lu",
	      (unsigned long long)st.bytes_copied, (unsigned long long)st.bytes_mapped,
	      (unsigned long long)pos, (unsigned long long)st.refill_bad, garbage,
	      (unsigned long long)st.pages_zapped, sh.remaps);
	close(srv);
	zcrx_exit(&z);
	CHECK("hostile_pool_freed", sysfs_wait("pool_pages", 0, 5000) == 0 &&
	      sysfs_wait("sockets", 0, 5000) == 0, "pages=%ld sockets=%ld",
	      sysfs_long("pool_pages"), sysfs_long("sockets"));

	/* And the module is fine: a clean stream on a fresh MAP pool. */
	r = map_stream(ZCRXDEV_SETUP_MAP_ALWAYS, 128, 16ull << 20, 1, &c, &st);
	CHECK("hostile_then_clean_stream", !r && c.bytes == 16ull << 20 && !c.bad_at &&
	      c.eof && st.bytes_mapped, "r=%d bytes=%llu bad_at=%llu mapped=%llu", r,
	      (unsigned long long)c.bytes, (unsigned long long)c.bad_at,
	      (unsigned long long)st.bytes_mapped);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	tap_set_group("map");
	test_setup();
	test_mmap_rules();
	test_stream();
	test_lifetime();
	test_unmap_busy();
	test_foreign_pool_pages();
	test_hostile();
	CHECK("no_leak", sysfs_wait("sockets", 0, 3000) == 0 &&
	      sysfs_wait("pool_pages", 0, 3000) == 0, "sockets=%ld pages=%ld",
	      sysfs_long("sockets"), sysfs_long("pool_pages"));
	return tap_exit();
}

/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the fault-injection and fuzz guest tests (t_fault.c,
 * t_fuzz.c): a seeded random generator, the debug-kernel switch, the leak
 * check over the module's gauges, a writer child that holds nothing of
 * ours, a one-batch verifying receive step and a clean verified stream.
 */
#ifndef ZCRX_TESTS_FAULT_H
#define ZCRX_TESTS_FAULT_H

#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "tap.h"
#include "rx.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* The send path (CLAIM, SEND, SENT completions), if the UAPI has it. */
#if defined(ZCRXDEV_IOC_CLAIM) && defined(ZCRXDEV_IOC_SEND) && defined(ZCRXDEV_CQE_SENT)
#define FAULT_HAVE_SEND	1
#else
#define FAULT_HAVE_SEND	0
#endif

/* ioctl returning its value (CLAIM and SEND return counts) or -errno. */
static inline long rioctl(int fd, unsigned long cmd, void *arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

/* splitmix64: small, seedable, good enough to pick test cases. */
struct frng {
	uint64_t s;
};

static inline uint64_t frng_next(struct frng *r)
{
	uint64_t x = (r->s += 0x9E3779B97F4A7C15ULL);

	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* Uniform in [0, n); 0 when n is 0. */
static inline uint64_t frng_below(struct frng *r, uint64_t n)
{
	return n ? frng_next(r) % n : 0;
}

/* The seed: env ZCRX_FUZZ_SEED (decimal or 0x hex) or the default. */
static inline uint64_t fault_seed(uint64_t dflt)
{
	const char *e = getenv("ZCRX_FUZZ_SEED");

	return e && *e ? strtoull(e, NULL, 0) : dflt;
}

/* The guest's kernel is the KASAN/lockdep/kmemleak build (slow). */
static inline bool debug_kernel(void)
{
	const char *k = getenv("ZCRX_KERNEL");

	return k && strstr(k, "zcrx-debug");
}

/* n on the Debian kernels, n_debug on the debug kernel. */
static inline long fault_count(long n, long n_debug)
{
	return debug_kernel() ? n_debug : n;
}

/*
 * Nothing left: wait up to ms for each gauge to reach 0 (sockets close
 * lazily, pools go with their last socket).  why gets the values.
 */
static inline bool gauges_zero(int ms, char *why, size_t len)
{
	long s = sysfs_wait("sockets", 0, ms);
	long p = sysfs_wait("pools", 0, ms);
	long pg = sysfs_wait("pool_pages", 0, ms);

	snprintf(why, len, "sockets=%ld pools=%ld pool_pages=%ld", s, p, pg);
	return !s && !p && !pg;
}

/*
 * In a forked child: drop every mapping of /dev/zcrx the parent had, so
 * that the child holds no reference to any pool.
 */
static inline void unmap_zcrx_all(void)
{
	unsigned long lo[64], hi[64];
	char line[512];
	int n = 0, i;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return;
	while (n < 64 && fgets(line, sizeof(line), f))
		if (strstr(line, "/dev/zcrx") &&
		    sscanf(line, "%lx-%lx", &lo[n], &hi[n]) == 2)
			n++;
	fclose(f);
	for (i = 0; i < n; i++)
		munmap((void *)lo[i], hi[i] - lo[i]);
}

/* In a forked child: close every fd from 3 up, except keep. */
static inline void close_fds_except(int keep)
{
	if (keep > 3)
		syscall(SYS_close_range, 3u, (unsigned int)keep - 1, 0u);
	syscall(SYS_close_range, (unsigned int)keep + 1, ~0u, 0u);
}

/*
 * Like spawn_sender(), but the child first lets go of every zcrx mapping
 * and every other fd: it can never keep a pool or a socket of the parent
 * alive.  total = ~0ull writes forever (until killed or the peer goes).
 */
/*
 * fork(); in the child, let go of every zcrx mapping and every fd but keep:
 * the child can never keep a pool or a socket of the parent alive.
 * Returns what fork() returns.
 */
static inline pid_t fork_clean(int keep)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid)
		return pid;
	unmap_zcrx_all();
	close_fds_except(keep);
	return 0;
}

static inline pid_t spawn_writer(int fd, uint64_t seed, uint64_t total,
				 size_t wsize, int close_how)
{
	pid_t pid = fork_clean(fd);

	if (pid)
		return pid;
	sender_child(fd, seed, total, wsize, close_how);
}

static inline void kill_reap(pid_t pid, int *status)
{
	int st = 0;

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	if (status)
		*status = st;
}

/*
 * One batch of the verifying receive loop of rx.h: wait up to timeout_ms,
 * account and return every ready completion.  Returns the number of
 * completions consumed (0 on timeout).  Unknown tags count in *unknown.
 */
static inline unsigned int rx_step(struct zcrx *z, struct rx_conn *c,
				   unsigned int n, int timeout_ms,
				   unsigned int *unknown)
{
	struct zcrxdev_cqe *cqe;
	unsigned int head, got = 0;

	if (zcrx_wait(z, timeout_ms) <= 0)
		return 0;
	zcrx_for_each_cqe(z, head, cqe) {
		struct rx_conn *rc;

		got++;
#if FAULT_HAVE_SEND
		if (cqe->flags & ZCRXDEV_CQE_SENT)
			continue;	/* a send's pages are free: nothing to return */
#endif
		if (cqe->tag >= n) {
			if (unknown)
				(*unknown)++;
			zcrx_return_cqe(z, cqe);
			continue;
		}
		rc = &c[cqe->tag];
		if (cqe->flags & (ZCRXDEV_CQE_EOF | ZCRXDEV_CQE_ERROR)) {
			rc->ends++;
			rc->eof = !!(cqe->flags & ZCRXDEV_CQE_EOF);
			rc->error = cqe->flags & ZCRXDEV_CQE_ERROR ? cqe->error : 0;
			continue;
		}
		rx_account(z, rc, cqe);
		zcrx_return_cqe(z, cqe);
	}
	zcrx_cq_advance(z, got);
	zcrx_rq_commit(z);
	return got;
}

/*
 * A fresh pool, n connections (IPv4 and IPv6 alternating) of each bytes,
 * every byte verified, one EOF each, the counters consistent, no bad
 * refill, and nothing left afterwards.  Returns true if all of that holds.
 */
static inline bool clean_stream(unsigned int n, uint64_t each, uint64_t seed,
				char *why, size_t len)
{
	struct zcrx_params p = { .nr_bufs = 128, .buf_size = 16384 };
	struct rx_opts o = { .timeout_s = 60 };
	struct rx_conn c[8];
	struct zcrxdev_stats st;
	pid_t pid[8];
	int srv[8], cli, r, i, ok = 0, bad_exit = 0, status;
	struct zcrx z;

	if (n > 8)
		n = 8;
	memset(c, 0, sizeof(c));
	r = zcrx_init(&z, &p);
	if (r) {
		snprintf(why, len, "zcrx_init: %s", strerror(-r));
		return false;
	}
	for (i = 0; i < (int)n; i++) {
		c[i].seed = seed + i;
		pid[i] = -1;
		srv[i] = -1;
		r = tcp_pair(i & 1 ? AF_INET6 : AF_INET, &cli, &srv[i]);
		if (r)
			break;
		r = zcrx_attach(&z, srv[i], i);
		pid[i] = spawn_writer(cli, c[i].seed, each, 65536, SHUT_WR);
		close(cli);
		if (r)
			break;
	}
	if (!r)
		r = rx_run(&z, c, n, &o);
	for (i = 0; i < (int)n; i++) {
		if (pid[i] > 0) {
			waitpid(pid[i], &status, 0);
			bad_exit += !WIFEXITED(status) || WEXITSTATUS(status);
		}
		if (srv[i] >= 0)
			close(srv[i]);
		ok += c[i].bytes == each && !c[i].bad_at && c[i].eof &&
		      c[i].ends == 1;
	}
	zcrx_stats(&z, &st);
	zcrx_exit(&z);
	snprintf(why, len, "r=%d intact=%d/%u writers_failed=%d copied+zc=%llu of %llu "
		 "refill_bad=%llu first: bytes=%llu bad_at=%llu ends=%d",
		 r, ok, n, bad_exit,
		 (unsigned long long)(st.bytes_copied + st.bytes_zerocopy),
		 (unsigned long long)(each * n), (unsigned long long)st.refill_bad,
		 (unsigned long long)c[0].bytes, (unsigned long long)c[0].bad_at,
		 c[0].ends);
	return !r && ok == (int)n && !bad_exit && st.refill_bad == 0 &&
	       st.bytes_copied + st.bytes_zerocopy == each * n;
}

#endif /* ZCRX_TESTS_FAULT_H */

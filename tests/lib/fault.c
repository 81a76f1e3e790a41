// SPDX-License-Identifier: MIT
/* See fault.h. */
#include "fault.h"

struct frng rng;

long rioctl(int fd, unsigned long cmd, void *arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

uint64_t frng_next(struct frng *r)
{
	uint64_t x = (r->s += 0x9E3779B97F4A7C15ULL);

	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

uint64_t frng_below(struct frng *r, uint64_t n)
{
	return n ? frng_next(r) % n : 0;
}

uint64_t fault_seed(uint64_t dflt)
{
	const char *e = getenv("ZCRX_FUZZ_SEED");

	return e && *e ? strtoull(e, NULL, 0) : dflt;
}

bool debug_kernel(void)
{
	const char *k = getenv("ZCRX_KERNEL");

	return k && strstr(k, "zcrx-debug");
}

long fault_count(long n, long n_debug)
{
	return debug_kernel() ? n_debug : n;
}

bool gauges_zero(int ms, char *why, size_t len)
{
	long s = sysfs_wait("sockets", 0, ms);
	long p = sysfs_wait("pools", 0, ms);
	long pg = sysfs_wait("pool_pages", 0, ms);

	snprintf(why, len, "sockets=%ld pools=%ld pool_pages=%ld", s, p, pg);
	return !s && !p && !pg;
}

void unmap_zcrx_all(void)
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

void close_fds_except(int keep)
{
	if (keep > 3)
		syscall(SYS_close_range, 3u, (unsigned int)keep - 1, 0u);
	syscall(SYS_close_range, (unsigned int)keep + 1, ~0u, 0u);
}

pid_t fork_clean(int keep)
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

pid_t spawn_writer(int fd, uint64_t seed, uint64_t total,
		   size_t wsize, int close_how)
{
	pid_t pid = fork_clean(fd);

	if (pid)
		return pid;
	sender_child(fd, seed, total, wsize, close_how);
}

void kill_reap(pid_t pid, int *status)
{
	int st = 0;

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	if (status)
		*status = st;
}

unsigned int rx_step(struct zcrx *z, struct rx_conn *c,
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
		if (cqe->flags & ZCRXDEV_CQE_SENT)
			continue;	/* a send's pages are free: nothing to return */
		if (cqe->tag >= n) {
			if (unknown)
				(*unknown)++;
			zcrx_return_cqe(z, cqe);
			continue;
		}
		rc = &c[cqe->tag];
		if (rx_end(rc, cqe))
			continue;
		rx_account(z, rc, cqe);
		zcrx_return_cqe(z, cqe);
	}
	zcrx_cq_advance(z, got);
	zcrx_rq_commit(z);
	return got;
}

bool clean_stream(unsigned int n, uint64_t each, uint64_t seed,
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

int pick(const int *v, int n)
{
	return v[frng_below(&rng, n)];
}

uint64_t recv_rest(int fd, uint64_t seed, uint64_t pos, int *bad)
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

uint64_t recv_some(int fd, uint64_t seed, uint64_t pos, uint64_t want,
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

void fault_begin(const char *group, uint64_t dflt_seed, const char *debug_note)
{
	uint64_t seed = fault_seed(dflt_seed);

	signal(SIGPIPE, SIG_IGN);
	tap_set_group(group);
	rng.s = seed;
	tap_diag("seed %#llx (ZCRX_FUZZ_SEED overrides), kernel %s%s",
		 (unsigned long long)seed, getenv("ZCRX_KERNEL") ?: "?",
		 debug_kernel() ? debug_note : "");
}

void fault_start(void)
{
	fault_begin("fault", 0x7a637278, " (debug kernel: same counts)");
}

void end_checks(void)
{
	char why[WHY_LEN];

	CHECK("end_no_leak", gauges_zero(5000, why, sizeof(why)), "%s", why);
	CHECK("end_clean_stream", clean_stream(2, 8 << 20, frng_next(&rng), why,
					       sizeof(why)), "%s", why);
}

void *shared_board(size_t size)
{
	void *b = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (b != MAP_FAILED)
		return b;
	CHECK("board", 0, "mmap: %s", strerror(errno));
	return NULL;
}

// SPDX-License-Identifier: MIT
/*
 * Faults: RLIMIT_MEMLOCK shared by several processes of one user (exactly
 * the limit fits, a page more does not, four processes get one limit
 * between them and stream at once, all of it comes back), and the rings'
 * memory charged to the memory cgroup.  The last of the fault programs:
 * it ends with the checks that nothing is left.
 */
#include <grp.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "fault.h"

/* Shared with forked children: phases and results. */
struct board {
	int	phase;		/* parent's go signal */
	int	arrived[8];	/* children done with phase i */
	long	res[4][8];	/* per child, per step */
};

static struct board *board;

static void board_reset(void)
{
	memset(board, 0, sizeof(*board));
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

int main(void)
{
	fault_start();
	board = shared_board(sizeof(*board));
	if (!board)
		return tap_exit();
	test_memlock_single();
	test_memlock_procs();
	test_ring_memory_charged();
	end_checks();
	return tap_exit();
}

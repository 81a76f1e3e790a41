// SPDX-License-Identifier: MIT
/* Mapping the pool and rings; memlock accounting; GUP on the pool. */
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "tap.h"
#include "util.h"

#define NBUFS	64
#define BSIZE	16384

static int fd;
static struct zcrxdev_setup s;

static int map_errno(size_t len, int prot, int flags, uint64_t off)
{
	void *p = mmap(NULL, len, prot, flags, fd, (off_t)off);

	if (p == MAP_FAILED)
		return errno;
	munmap(p, len);
	return 0;
}

static void test_regions(void)
{
	static const uint8_t zero[BSIZE];
	uint8_t *pool;
	void *cq, *rq;
	size_t i;
	int bad = 0;

	pool = mmap(NULL, s.pool.size, PROT_READ, MAP_SHARED, fd, s.pool.offset);
	CHECK("pool_map", pool != MAP_FAILED, "%s", strerror(errno));
	if (pool == MAP_FAILED)
		return;
	for (i = 0; i < s.pool.size; i += BSIZE)
		bad += !!memcmp(pool + i, zero, BSIZE);
	CHECK("pool_reads_zero", !bad, "%d buffers not zero", bad);
	CHECK_ERR("pool_mprotect_write",
		  mprotect(pool, s.pool.size, PROT_READ | PROT_WRITE) ? -errno : 0,
		  EACCES);
	munmap(pool, s.pool.size);

	cq = mmap(NULL, s.cq.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, s.cq.offset);
	rq = mmap(NULL, s.rq.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, s.rq.offset);
	CHECK("rings_map", cq != MAP_FAILED && rq != MAP_FAILED, "%s", strerror(errno));
	if (cq != MAP_FAILED) {
		CHECK("cq_starts_empty",
		      *(uint32_t *)((char *)cq + s.cq_off.head) == 0 &&
		      *(uint32_t *)((char *)cq + s.cq_off.tail) == 0 &&
		      *(uint32_t *)((char *)cq + s.cq_off.flags) == 0, "not zero");
		munmap(cq, s.cq.size);
	}
	if (rq != MAP_FAILED)
		munmap(rq, s.rq.size);
}

static void test_bad_maps(void)
{
	CHECK("pool_prot_write",
	      map_errno(s.pool.size, PROT_READ | PROT_WRITE, MAP_SHARED, s.pool.offset) == EACCES,
	      "errno %d", map_errno(s.pool.size, PROT_READ | PROT_WRITE, MAP_SHARED, s.pool.offset));
	CHECK("pool_private",
	      map_errno(s.pool.size, PROT_READ, MAP_PRIVATE, s.pool.offset) == EINVAL, "accepted");
	CHECK("pool_short",
	      map_errno(s.pool.size - 4096, PROT_READ, MAP_SHARED, s.pool.offset) == EINVAL, "accepted");
	CHECK("pool_long",
	      map_errno(s.pool.size + 4096, PROT_READ, MAP_SHARED, s.pool.offset) == EINVAL, "accepted");
	CHECK("pool_offset_inside",
	      map_errno(4096, PROT_READ, MAP_SHARED, s.pool.offset + 4096) == EINVAL, "accepted");
	CHECK("unknown_offset",
	      map_errno(4096, PROT_READ, MAP_SHARED, 0x300000000ull) == EINVAL, "accepted");
	CHECK("cq_short",
	      map_errno(s.cq.size - 4096 ?: 1, PROT_READ, MAP_SHARED, s.cq.offset) == EINVAL, "accepted");
	CHECK("cq_long",
	      map_errno(s.cq.size + 4096, PROT_READ, MAP_SHARED, s.cq.offset) == EINVAL, "accepted");
	CHECK("rq_private",
	      map_errno(s.rq.size, PROT_READ | PROT_WRITE, MAP_PRIVATE, s.rq.offset) == EINVAL, "accepted");
}

/* A store to the read-only pool must fault. */
static void test_write_faults(void)
{
	int status;
	pid_t pid = fork();

	if (!pid) {
		volatile uint8_t *p = mmap(NULL, s.pool.size, PROT_READ,
					   MAP_SHARED, fd, s.pool.offset);
		if (p == MAP_FAILED)
			_exit(3);
		p[100] = 1;
		_exit(0);
	}
	waitpid(pid, &status, 0);
	CHECK("pool_store_segv", WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
	      "child status 0x%x", status);
}

/* O_DIRECT write from the pool mapping: the block layer pins its pages. */
static void test_odirect(void)
{
	const char *img = "/tmp/zcrx-odirect.img", *loopdev = "/dev/loop0";
	char cmd[256];
	uint8_t *pool;
	ssize_t n;
	int bfd, ifd;

	ifd = open(img, O_CREAT | O_TRUNC | O_RDWR, 0600);
	if (ifd < 0 || ftruncate(ifd, 4 << 20)) {
		CHECK("odirect_image", 0, "%s", strerror(errno));
		return;
	}
	close(ifd);
	snprintf(cmd, sizeof(cmd), "losetup %s %s", loopdev, img);
	if (system(cmd)) {
		CHECK("odirect_losetup", 0, "losetup failed (loop module missing?)");
		return;
	}
	pool = mmap(NULL, s.pool.size, PROT_READ, MAP_SHARED, fd, s.pool.offset);
	bfd = open(loopdev, O_WRONLY | O_DIRECT);
	n = bfd >= 0 && pool != MAP_FAILED ? pwrite(bfd, pool, 4 * BSIZE, 0) : -1;
	CHECK("odirect_write_from_pool", n == 4 * BSIZE, "pwrite: %zd (%s)", n,
	      strerror(errno));
	if (bfd >= 0)
		close(bfd);
	if (pool != MAP_FAILED)
		munmap(pool, s.pool.size);
	snprintf(cmd, sizeof(cmd), "losetup -d %s", loopdev);
	if (system(cmd))
		tap_diag("losetup -d failed");
	unlink(img);
}

/* Without CAP_IPC_LOCK, pools count against RLIMIT_MEMLOCK. */
static void test_memlock(void)
{
	struct rlimit rl = { 256 * 1024, 256 * 1024 };
	int status, p[2];
	char res[3] = "xx";
	pid_t pid;

	if (pipe(p))
		return;
	pid = fork();
	if (!pid) {
		struct zcrxdev_setup a, b;
		int f1, f2;

		if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgid(65534) || setuid(65534))
			_exit(3);
		f1 = zcrx_open_dev();
		f2 = zcrx_open_dev();
		setup_args(&a, 32, 4096);	/* 128 KiB: fits */
		setup_args(&b, 48, 4096);	/* +192 KiB: over 256 KiB */
		res[0] = xioctl(f1, ZCRXDEV_IOC_SETUP, &a) == 0 ? 'y' : 'n';
		res[1] = xioctl(f2, ZCRXDEV_IOC_SETUP, &b) == -ENOMEM ? 'y' : 'n';
		close(f1);	/* gives the 128 KiB back */
		setup_args(&b, 48, 4096);
		close(f2);
		f2 = zcrx_open_dev();
		res[2] = xioctl(f2, ZCRXDEV_IOC_SETUP, &b) == 0 ? 'y' : 'n';
		if (write(p[1], res, 3) != 3)
			_exit(4);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], res, 3) != 3)
		res[0] = 'e';
	close(p[0]);
	waitpid(pid, &status, 0);
	CHECK("memlock_within_limit", res[0] == 'y', "setup under limit: %c", res[0]);
	CHECK("memlock_over_limit_enomem", res[1] == 'y', "setup over limit: %c", res[1]);
	CHECK("memlock_released_on_close", res[2] == 'y', "after close: %c", res[2]);
}

/* A process killed while holding a mapped pool frees everything. */
static void test_kill(void)
{
	int status, p[2];
	char c;
	pid_t pid;

	if (pipe(p))
		return;
	pid = fork();
	if (!pid) {
		struct zcrxdev_setup a;
		int f = zcrx_open_dev();

		setup_args(&a, 256, 4096);
		if (xioctl(f, ZCRXDEV_IOC_SETUP, &a) ||
		    mmap(NULL, a.pool.size, PROT_READ, MAP_SHARED, f, a.pool.offset) == MAP_FAILED)
			_exit(3);
		if (write(p[1], "k", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	close(p[1]);
	c = 0;
	if (read(p[0], &c, 1) != 1)
		c = 0;
	close(p[0]);
	CHECK("kill_pool_live", c == 'k' && sysfs_long("pool_pages") >= 256,
	      "pool_pages=%ld", sysfs_long("pool_pages"));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CHECK("kill_frees_pages", sysfs_wait("pool_pages", 0, 3000) == 0 &&
	      sysfs_long("pools") == 0, "pool_pages=%ld pools=%ld",
	      sysfs_long("pool_pages"), sysfs_long("pools"));
}

/* A WRITABLE pool maps PROT_WRITE; io_uring-style FOLL_WRITE pins work. */
static void test_writable(void)
{
	struct zcrxdev_setup w;
	uint8_t *p;
	int wfd = zcrx_open_dev();

	setup_args(&w, 8, 4096);
	w.flags = ZCRXDEV_SETUP_WRITABLE;
	if (!CHECK("writable_setup", xioctl(wfd, ZCRXDEV_IOC_SETUP, &w) == 0, "failed")) {
		close(wfd);
		return;
	}
	p = mmap(NULL, w.pool.size, PROT_READ | PROT_WRITE, MAP_SHARED, wfd, w.pool.offset);
	CHECK("writable_map_rw", p != MAP_FAILED, "%s", strerror(errno));
	if (p != MAP_FAILED) {
		p[0] = 0x5a;
		p[w.pool.size - 1] = 0xa5;
		CHECK("writable_store_sticks", p[0] == 0x5a && p[w.pool.size - 1] == 0xa5,
		      "stores lost");
		munmap(p, w.pool.size);
	}
	CHECK("writable_private_refused",
	      mmap(NULL, w.pool.size, PROT_READ, MAP_PRIVATE, wfd, w.pool.offset) == MAP_FAILED,
	      "MAP_PRIVATE accepted");
	close(wfd);
}

int main(void)
{
	tap_set_group("mmap");
	fd = zcrx_open_dev();
	setup_args(&s, NBUFS, BSIZE);
	if (!CHECK("setup", fd >= 0 && xioctl(fd, ZCRXDEV_IOC_SETUP, &s) == 0,
		   "%s", strerror(errno)))
		return tap_exit();
	test_regions();
	test_bad_maps();
	test_write_faults();
	test_odirect();
	/* The mapping keeps the pool alive after close(fd) until munmap. */
	{
		void *p = mmap(NULL, s.pool.size, PROT_READ, MAP_SHARED, fd, s.pool.offset);

		close(fd);
		CHECK("map_outlives_fd", p != MAP_FAILED && sysfs_long("pools") == 1 &&
		      ((uint8_t *)p)[s.pool.size - 1] == 0, "pools=%ld", sysfs_long("pools"));
		munmap(p, s.pool.size);
		CHECK("munmap_frees_pool", sysfs_wait("pools", 0, 2000) == 0 &&
		      sysfs_long("pool_pages") == 0, "pools=%ld pages=%ld",
		      sysfs_long("pools"), sysfs_long("pool_pages"));
	}
	test_writable();
	test_memlock();
	test_kill();
	return tap_exit();
}

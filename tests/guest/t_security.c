// SPDX-License-Identifier: MIT
/*
 * Security properties: no stale data across pools, unprivileged use within
 * RLIMIT_MEMLOCK and on the caller's own sockets, nothing uninitialised or
 * kernel-internal copied out.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "tap.h"
#include "rx.h"

#define NBUFS	256

/* Receive one verified stream of len bytes into z on a fresh TCP pair. */
static int stream_into(struct zcrx *z, uint64_t seed, uint64_t len)
{
	struct rx_conn c = { .seed = seed };
	struct rx_opts o = { .timeout_s = 30 };
	int cli, srv, r;
	pid_t pid;

	r = tcp_pair(AF_INET, &cli, &srv);
	if (r)
		return r;
	r = zcrx_attach(z, srv, 0);
	if (r)
		goto out;
	pid = spawn_sender(cli, seed, len, 65536, SHUT_WR);
	close(cli);
	cli = -1;
	r = rx_run(z, &c, 1, &o);
	waitpid(pid, NULL, 0);
	if (!r && (c.bytes != len || c.bad_at || !c.eof))
		r = -EIO;
out:
	if (cli >= 0)
		close(cli);
	close(srv);
	return r;
}

static size_t nonzero_bytes(const uint8_t *p, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += p[i] != 0;
	return n;
}

/*
 * Pages that held one pool's payload are zero when the next pool maps
 * them: fill a pool, free it, and map new pools over the freed memory.
 */
static void test_no_stale_data(void)
{
	struct zcrx_params p = { .nr_bufs = NBUFS, .buf_size = 4096 };
	struct zcrx a, b;
	size_t dirty = 0, seen = 0;
	int i, r;

	r = zcrx_init(&a, &p);
	if (!r)
		r = stream_into(&a, 0xabcdef, (uint64_t)NBUFS * 4096 * 2);
	seen = r ? 0 : nonzero_bytes(a.pool, a.pool_size);
	CHECK("first_pool_has_payload", !r && seen > a.pool_size / 2,
	      "r=%d nonzero=%zu", r, seen);
	zcrx_exit(&a);
	/* The freed pages go back to the allocator; new pools may get them. */
	for (i = 0; i < 4; i++) {
		if (zcrx_init(&b, &p))
			break;
		dirty += nonzero_bytes(b.pool, b.pool_size);
		zcrx_exit(&b);
	}
	CHECK("new_pools_read_zero", i == 4 && dirty == 0,
	      "%d pools, %zu non-zero bytes", i, dirty);
}

/* An unprivileged process uses zcrx within its limit, on its own socket. */
static void test_unprivileged(void)
{
	struct rlimit rl = { 1 << 20, 1 << 20 };
	int status, pp[2];
	char res[4] = "xxxx";
	pid_t pid;

	if (pipe(pp))
		return;
	pid = fork();
	if (!pid) {
		struct zcrx_params p = { .nr_bufs = 128, .buf_size = 4096 };
		struct zcrx z;
		void *w;

		if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgid(65534) || setuid(65534))
			_exit(3);
		res[0] = zcrx_init(&z, &p) == 0 ? 'y' : 'n';		/* 512 KiB */
		res[1] = res[0] == 'y' && stream_into(&z, 7, 8 << 20) == 0 ? 'y' : 'n';
		/* Writable pool mappings stay refused without privilege too. */
		w = mmap(NULL, z.pool_size, PROT_READ | PROT_WRITE, MAP_SHARED, z.fd, 0);
		res[2] = w == MAP_FAILED && errno == EACCES ? 'y' : 'n';
		/* Only fds it holds: an fd number it does not have is EBADF. */
		res[3] = zcrx_attach(&z, 1000, 0) == -EBADF ? 'y' : 'n';
		zcrx_exit(&z);
		if (write(pp[1], res, 4) != 4)
			_exit(4);
		_exit(0);
	}
	close(pp[1]);
	if (read(pp[0], res, 4) != 4)
		memset(res, 'e', 4);
	close(pp[0]);
	waitpid(pid, &status, 0);
	CHECK("unprivileged_pool_within_memlock", res[0] == 'y', "%c", res[0]);
	CHECK("unprivileged_verified_stream", res[1] == 'y', "%c", res[1]);
	CHECK("unprivileged_pool_not_writable", res[2] == 'y', "%c", res[2]);
	CHECK("unprivileged_foreign_fd_ebadf", res[3] == 'y', "%c", res[3]);
}

/* What the kernel writes back is the caller's input or defined output. */
static void test_no_uninitialised_copyout(void)
{
	struct zcrx_params p = { .nr_bufs = 16, .buf_size = 4096 };
	struct zcrxdev_setup s;
	struct zcrxdev_stats st;
	struct zcrxdev_cqe *cqe;
	unsigned int head, n = 0, bad = 0;
	struct zcrx z;
	int fd, cli, srv, i;

	fd = zcrx_open_dev();
	memset(&s, 0xa5, sizeof(s));	/* output-only fields start dirty */
	s.flags = 0;
	s.buf_size = 4096;
	s.nr_bufs = 4;
	s.cq_entries = s.rq_entries = 0;
	s.win_pages = 0;
	memset(s.resv1, 0, sizeof(s.resv1));
	CHECK("setup_dirty_outputs", xioctl(fd, ZCRXDEV_IOC_SETUP, &s) == 0, "failed");
	for (i = 0; i < 4; i++)
		bad += (i < 3 && (s.cq_off.resv[i] || s.rq_off.resv[i])) ||
		       (i < 2 && s.resv3[i]) || s.rq_off.wake_min;
	CHECK("setup_output_reserved_zero", !bad && !s.map_threshold &&
	      !s.win.size && !s.win.offset, "%u dirty words", bad);
	close(fd);

	zcrx_init(&z, &p);
	memset(&st, 0x5a, sizeof(st));
	st.flags = 0;
	xioctl(z.fd, ZCRXDEV_IOC_STATS, &st);
	for (i = 0, bad = 0; i < (int)(sizeof(st.resv) / sizeof(st.resv[0])); i++)
		bad += !!st.resv[i];
	CHECK("stats_reserved_zero", !bad && !st.resv0, "%u dirty words", bad);

	tcp_pair(AF_INET, &cli, &srv);
	zcrx_attach(&z, srv, 3);
	if (write(cli, "0123456789", 10) != 10)
		bad++;
	close(cli);
	while (n < 2 && zcrx_wait(&z, 2000) > 0) {
		unsigned int batch = 0;

		zcrx_for_each_cqe(&z, head, cqe) {
			bad += cqe->resv != 0 || cqe->tag != 3;
			if (cqe->len)
				bad += cqe->error != 0 || !(cqe->flags & ZCRXDEV_CQE_COPIED);
			zcrx_return_cqe(&z, cqe);
			batch++;
		}
		n += batch;
		zcrx_cq_advance(&z, batch);
		zcrx_rq_commit(&z);
	}
	CHECK("cqe_fields_defined", n == 2 && !bad, "n=%u bad=%u", n, bad);
	close(srv);
	zcrx_exit(&z);
}

int main(void)
{
	tap_set_group("security");
	test_no_stale_data();
	test_unprivileged();
	test_no_uninitialised_copyout();
	CHECK("no_leak", sysfs_wait("sockets", 0, 3000) == 0 &&
	      sysfs_wait("pool_pages", 0, 3000) == 0, "sockets=%ld pages=%ld",
	      sysfs_long("sockets"), sysfs_long("pool_pages"));
	return tap_exit();
}

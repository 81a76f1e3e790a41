// SPDX-License-Identifier: MIT
/*
 * Faults: fork() with the mappings: children that read the pool, unmap and
 * close, or are killed while reading, while the parent receives a
 * verified stream.
 */
#include "fault.h"

/* ---- 3. fork() with the mappings ---- */

enum { FORK_READ, FORK_EXIT, FORK_KILLED };
static const char *const fork_name[] = { "fork_child_reads_pool",
					 "fork_child_unmaps_and_closes",
					 "fork_child_killed_while_reading" };

static void __attribute__((noreturn)) fork_child(struct zcrx *z, int srv, int how)
{
	volatile uint64_t sum = 0;
	size_t i;

	switch (how) {
	case FORK_READ:
		for (i = 0; i < z->pool_size; i += 64)
			sum += z->pool[i];
		sum += *z->cq.khead + *z->cq.ktail + *z->rq.khead;
		_exit(0);
	case FORK_EXIT:
		for (i = 0; i < z->pool_size; i += 4096)
			sum += z->pool[i];
		zcrx_exit(z);
		close(srv);
		_exit(0);
	default:
		for (;;)
			for (i = 0; i < z->pool_size; i += 64)
				sum += z->pool[i];
	}
}

static void test_fork(int how)
{
	struct zcrx_params p = { .nr_bufs = 64, .buf_size = 16384 };
	const uint64_t total = 32 << 20;
	struct rx_conn c = { .seed = frng_next(&rng) };
	const int want_forks = 20;
	int cli, srv, r, forks = 0, bad_child = 0, live = 0, st, k;
	pid_t kids[32], tx;
	char why[WHY_LEN], name[96];
	double last = now_s();
	struct zcrx z;
	bool gz;

	r = zcrx_init(&z, &p);
	if (r || tcp_pair(AF_INET, &cli, &srv)) {
		CHECK(fork_name[how], 0, "setup failed: %d", r);
		return;
	}
	r = zcrx_attach(&z, srv, 0);
	tx = spawn_writer(cli, c.seed, total, 65536, SHUT_WR);
	close(cli);
	while (!r && !c.ends && now_s() - last < 30) {
		if (rx_step(&z, &c, 1, 100, NULL))
			last = now_s();
		/* A child every 1/(want_forks + 1) of the stream. */
		if (forks < want_forks &&
		    c.bytes >= (forks + 1) * (total / (want_forks + 1))) {
			pid_t pid;

			fflush(stdout);
			fflush(stderr);
			pid = fork();
			if (!pid)
				fork_child(&z, srv, how);
			if (pid > 0)
				kids[live++] = pid;
			forks++;
			if (how == FORK_KILLED && pid > 0) {
				usleep(frng_below(&rng, 2000));
				kill(pid, SIGKILL);
			}
		}
		for (k = 0; k < live; k++) {
			if (waitpid(kids[k], &st, WNOHANG) != kids[k])
				continue;
			if (how == FORK_KILLED ? !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
					       : !(WIFEXITED(st) && !WEXITSTATUS(st)))
				bad_child++;
			kids[k--] = kids[--live];
		}
	}
	for (k = 0; k < live; k++) {
		waitpid(kids[k], &st, 0);
		if (how == FORK_KILLED ? !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
				       : !(WIFEXITED(st) && !WEXITSTATUS(st)))
			bad_child++;
	}
	waitpid(tx, NULL, 0);
	snprintf(name, sizeof(name), "%s_stream_intact", fork_name[how]);
	CHECK(name, !r && c.bytes == total && !c.bad_at && c.eof && c.ends == 1 &&
	      forks == want_forks && !bad_child,
	      "attach=%d bytes=%llu/%llu bad_at=%llu eof=%d ends=%d forks=%d "
	      "bad_children=%d", r, (unsigned long long)c.bytes,
	      (unsigned long long)total, (unsigned long long)c.bad_at, c.eof,
	      c.ends, forks, bad_child);
	close(srv);
	zcrx_exit(&z);
	gz = gauges_zero(3000, why, sizeof(why));
	snprintf(name, sizeof(name), "%s_no_leak", fork_name[how]);
	CHECK(name, gz, "%s", why);
}

int main(void)
{
	fault_start();
	test_fork(FORK_READ);
	test_fork(FORK_EXIT);
	test_fork(FORK_KILLED);
	return tap_exit();
}

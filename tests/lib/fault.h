/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the fault-injection and fuzz guest tests (t_fault_*,
 * t_fuzz_*; fault.c): a seeded random generator, the debug-kernel switch,
 * the leak check over the module's gauges, a writer child that holds
 * nothing of ours, a one-batch verifying receive step, a clean verified
 * stream, and the start and the end every such program shares.
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

#define WHY_LEN		256

/* ioctl returning its value (CLAIM and SEND return counts) or -errno. */
long rioctl(int fd, unsigned long cmd, void *arg);

/* splitmix64: small, seedable, good enough to pick test cases. */
struct frng {
	uint64_t s;
};

uint64_t frng_next(struct frng *r);

/* Uniform in [0, n); 0 when n is 0. */
uint64_t frng_below(struct frng *r, uint64_t n);

/* The program's generator, seeded by fault_begin(). */
extern struct frng rng;

/* One of the n values at v, picked by rng; PICK(array). */
int pick(const int *v, int n);
#define PICK(arr) pick((arr), (int)ARRAY_SIZE(arr))

/* The seed: env ZCRX_FUZZ_SEED (decimal or 0x hex) or the default. */
uint64_t fault_seed(uint64_t dflt);

/* The guest's kernel is the KASAN/lockdep/kmemleak build (slow). */
bool debug_kernel(void);

/* n on the Debian kernels, n_debug on the debug kernel. */
long fault_count(long n, long n_debug);

/*
 * Nothing left: wait up to ms for each gauge to reach 0 (sockets close
 * lazily, pools go with their last socket).  why gets the values.
 */
bool gauges_zero(int ms, char *why, size_t len);

/*
 * In a forked child: drop every mapping of /dev/zcrx the parent had, so
 * that the child holds no reference to any pool.
 */
void unmap_zcrx_all(void);

/* In a forked child: close every fd from 3 up, except keep. */
void close_fds_except(int keep);

/*
 * fork(); in the child, let go of every zcrx mapping and every fd but keep:
 * the child can never keep a pool or a socket of the parent alive.
 * Returns what fork() returns.
 */
pid_t fork_clean(int keep);

/*
 * Like spawn_sender(), but the child first lets go of every zcrx mapping
 * and every other fd: it can never keep a pool or a socket of the parent
 * alive.  total = ~0ull writes forever (until killed or the peer goes).
 */
pid_t spawn_writer(int fd, uint64_t seed, uint64_t total,
		   size_t wsize, int close_how);

void kill_reap(pid_t pid, int *status);

/*
 * One batch of the verifying receive loop of rx.h: wait up to timeout_ms,
 * account and return every ready completion.  Returns the number of
 * completions consumed (0 on timeout).  Unknown tags count in *unknown.
 */
unsigned int rx_step(struct zcrx *z, struct rx_conn *c,
		     unsigned int n, int timeout_ms,
		     unsigned int *unknown);

/*
 * A fresh pool, n connections (IPv4 and IPv6 alternating) of each bytes,
 * every byte verified, one EOF each, the counters consistent, no bad
 * refill, and nothing left afterwards.  Returns true if all of that holds.
 */
bool clean_stream(unsigned int n, uint64_t each, uint64_t seed,
		  char *why, size_t len);

/* A completion kept rather than returned. */
struct held {
	uint64_t	off;
	uint32_t	len;
};

/* recv() the rest after detach; returns bytes read, sets *bad on mismatch. */
uint64_t recv_rest(int fd, uint64_t seed, uint64_t pos, int *bad);
/* recv() exactly want bytes (or until 10 s pass); returns bytes read. */
uint64_t recv_some(int fd, uint64_t seed, uint64_t pos, uint64_t want,
		   int *bad);

/*
 * A program's start: SIGPIPE ignored, the TAP group, rng seeded with
 * ZCRX_FUZZ_SEED or dflt_seed and the seed printed (debug_note added on
 * the debug kernel).
 */
void fault_begin(const char *group, uint64_t dflt_seed, const char *debug_note);
/* That, for the fault programs (group "fault"). */
void fault_start(void);

/*
 * The checks that end the fault and fuzz runs (their last program): no
 * pool, page or socket left, and a new context streams exactly.
 */
void end_checks(void);

/* A zeroed shared anonymous mapping for forked children, or NULL (reported). */
void *shared_board(size_t size);

#endif /* ZCRX_TESTS_FAULT_H */

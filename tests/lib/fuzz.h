/* SPDX-License-Identifier: MIT */
/*
 * What the fuzzers (t_fuzz_ioctl, t_fuzz_race, t_fuzz_mmap, t_fuzz_refill;
 * fuzz.c) share besides the oracle: random and boundary values, the
 * answer bookkeeping, and their start and end: without CAP_IPC_LOCK under
 * a 32 MiB RLIMIT_MEMLOCK, deferred skb freeing off.
 */
#ifndef ZCRX_TESTS_FUZZ_H
#define ZCRX_TESTS_FUZZ_H

#include "fault.h"
#include "oracle.h"

#define FUZZ_MEMLOCK	(32ull << 20)

/* A random or boundary value of the given width. */
uint64_t fval(int bits);

/* Answers counted by command and errno, with the first bad ones. */
struct stats_acc {
	/* [kind][0] success, [1 + slot] errno, [E_N + 1] anything else */
	unsigned long	hist[K_N][E_N + 2];
	unsigned long	undoc, mismatch, bad_out;
	char		undoc_ex[WHY_LEN], mismatch_ex[4][WHY_LEN], bad_out_ex[WHY_LEN];
	unsigned long	enomem_unpredicted;
};

/* Count result r of a call of kind (what: the call, for the first undocumented). */
void acc_result(struct stats_acc *a, int kind, long r, bool efault_ok,
		const char *what);
void acc_mismatch(struct stats_acc *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void acc_bad_out(struct stats_acc *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* One diagnostic line per command: its answers and how often. */
void acc_print(const struct stats_acc *a, const char *title);

/* Have or drop CAP_IPC_LOCK (RLIMIT_MEMLOCK applies without it); 0 or -errno. */
int cap_ipc_lock(bool on);

/*
 * A fuzzer's main: the start (group "fuzz"): seed, limits, CAP_IPC_LOCK
 * dropped (first: print fuzz.fuzz_without_cap_ipc_lock even when that
 * works; one program does, a failure is always printed), skb_defer_max 0;
 * then run(); then the end: CAP_IPC_LOCK back, end_checks() if last,
 * skb_defer_max back.  Returns the exit status.
 */
int fuzz_main(void (*run)(void), bool first, bool last);

#endif /* ZCRX_TESTS_FUZZ_H */

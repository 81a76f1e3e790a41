// SPDX-License-Identifier: MIT
/*
 * receiver.h - what receiver.c shares with the receive methods kept in
 * files of their own (iouzcrx.c): the connections and their checker, the
 * figures every method reports, and the buffer space every method gets.
 */
#ifndef ZCRX_BENCH_RECEIVER_H
#define ZCRX_BENCH_RECEIVER_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

/*
 * The receive buffer space of every buffered method: the zcrx pool, the
 * io_uring provided-buffer ring and the io_uring zcrx area, 16 MiB each.
 */
#define POOL_BUFS	256u
#define POOL_BUF_SIZE	65536u

struct conn {
	int			fd;
	int			done;
	struct bench_verify	v;
	unsigned char		*map;	/* tcpzc mapping; splice-file window */
	uint64_t		base;	/* splice-file: window offset in file */
};

extern struct conn conns[BENCH_MAX_CONNS];
extern int nconns;			/* connections (-n) */
extern int left;			/* connections not yet ended */
extern unsigned long long nsys;		/* receive-loop system calls */
extern unsigned long long copied, zerocopy;	/* bytes the kernel copied / did not */
extern char extra[512];			/* the RESULT line's extra field */

void die(const char *what) __attribute__((noreturn));
void fail(const char *what, int err) __attribute__((noreturn));
/* Connection c's stream has ended (once per connection). */
void conn_end(struct conn *c);
/* p[0..len) are connection c's next len bytes: check them. */
void conn_data(struct conn *c, const void *p, size_t len);

#ifdef BENCH_IOUZCRX
/* iouzcrx.c: io_uring zcrx, device-less copy mode (Linux 7.1+). */
void iouzcrx_setup(void);
void iouzcrx_run(void);
void iouzcrx_run_batch(void);
void iouzcrx_exit(void);
#endif

#endif /* ZCRX_BENCH_RECEIVER_H */

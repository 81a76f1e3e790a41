/* SPDX-License-Identifier: MIT */
/*
 * A verifying receive loop over libzcrx for the guest tests: every byte of
 * every tag is compared with the pattern its sender wrote.
 */
#ifndef ZCRX_TESTS_RX_H
#define ZCRX_TESTS_RX_H

#include <zcrx.h>

#include "tap.h"
#include "util.h"

struct rx_conn {
	uint64_t	seed;
	uint64_t	bytes;		/* received so far */
	uint64_t	bad_at;		/* first wrong byte + 1, or 0 */
	uint64_t	copied, zerocopy;
	int		eof, error;	/* error: errno of an error completion */
	int		ends;		/* EOF/error completions seen */
};

struct rx_opts {
	unsigned int	slow_us;	/* sleep per batch: a slow consumer */
	double		timeout_s;	/* give up after this long without progress */
	double		max_s;		/* stop after this long in any case (0: never) */
	void		(*on_sent)(const struct zcrxdev_cqe *cqe);	/* SENT notices */
};

/* Check and count one payload completion of rc against its pattern. */
void rx_account(const struct zcrx *z, struct rx_conn *rc,
		const struct zcrxdev_cqe *cqe);

/* An EOF or error completion: count it in rc and return true. */
bool rx_end(struct rx_conn *rc, const struct zcrxdev_cqe *cqe);

/* Receive until every connection has ended; returns 0 or -ETIME. */
int rx_run(struct zcrx *z, struct rx_conn *c, unsigned int n,
	   const struct rx_opts *o);

#endif /* ZCRX_TESTS_RX_H */

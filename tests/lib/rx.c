// SPDX-License-Identifier: MIT
/* See rx.h. */
#include "rx.h"

void rx_account(const struct zcrx *z, struct rx_conn *rc,
		const struct zcrxdev_cqe *cqe)
{
	if (!rc->bad_at) {
		size_t k = pattern_check(rc->seed, rc->bytes, zcrx_cqe_data(z, cqe),
					 cqe->len);

		if (k != cqe->len)
			rc->bad_at = rc->bytes + k + 1;
	}
	rc->bytes += cqe->len;
	if (cqe->flags & ZCRXDEV_CQE_ZEROCOPY)
		rc->zerocopy += cqe->len;
	else
		rc->copied += cqe->len;
}

bool rx_end(struct rx_conn *rc, const struct zcrxdev_cqe *cqe)
{
	if (!(cqe->flags & (ZCRXDEV_CQE_EOF | ZCRXDEV_CQE_ERROR)))
		return false;
	rc->ends++;
	rc->eof = !!(cqe->flags & ZCRXDEV_CQE_EOF);
	rc->error = cqe->flags & ZCRXDEV_CQE_ERROR ? cqe->error : 0;
	return true;
}

int rx_run(struct zcrx *z, struct rx_conn *c, unsigned int n,
	   const struct rx_opts *o)
{
	double start = now_s(), last = start;
	double limit = o && o->timeout_s ? o->timeout_s : 60;
	unsigned int left = n, i;

	for (i = 0; i < n; i++)
		if (c[i].ends)
			left--;
	while (left) {
		struct zcrxdev_cqe *cqe;
		unsigned int head, got = 0;
		int r = zcrx_wait(z, 200);

		if (r == -ETIME && now_s() - last > limit)
			return -ETIME;
		if (o && o->max_s && now_s() - start > o->max_s)
			return -ETIME;
		zcrx_for_each_cqe(z, head, cqe) {
			struct rx_conn *rc;

			got++;
			if (cqe->tag >= n && !(cqe->flags & ZCRXDEV_CQE_SENT)) {
				tap_diag("completion with unknown tag %llu",
					 (unsigned long long)cqe->tag);
				continue;
			}
			if (cqe->flags & ZCRXDEV_CQE_SENT) {
				if (o && o->on_sent)
					o->on_sent(cqe);
				continue;
			}
			rc = &c[cqe->tag];
			if (rx_end(rc, cqe)) {
				if (rc->ends == 1)
					left--;
				continue;
			}
			rx_account(z, rc, cqe);
			if (zcrx_return_cqe(z, cqe))
				return -ENOSPC;
		}
		zcrx_cq_advance(z, got);
		if (got) {
			last = now_s();
			if (o && o->slow_us)
				usleep(o->slow_us);
		}
		zcrx_rq_commit(z);
	}
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx's workqueue: read passes deferred from softirq, detaches after
 * EOF, the pools' ticks and the reaper of freed pools' pages.
 */
#include <linux/workqueue.h>

#include "compat.h"
#include "wq.h"

struct workqueue_struct *zcrx_wq;

int zcrx_wq_init(void)
{
	/*
	 * Per-CPU, as no flag meant before 7.x: a read pass is queued from the
	 * softirq that received the data and runs where the skbs are cache-hot.
	 * Every work item (read pass, detach, pool tick, reaper) is short or
	 * calls cond_resched().
	 */
	zcrx_wq = alloc_workqueue("zcrx", WQ_PERCPU, 0);
	return zcrx_wq ? 0 : -ENOMEM;
}

void zcrx_wq_exit(void)
{
	destroy_workqueue(zcrx_wq);
}

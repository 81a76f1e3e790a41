/* SPDX-License-Identifier: GPL-2.0 */
/* zcrx's workqueue (wq.c): every work item of the module runs on it. */
#ifndef ZCRX_MODULE_WQ_H
#define ZCRX_MODULE_WQ_H

#include <linux/workqueue.h>

extern struct workqueue_struct *zcrx_wq;

int zcrx_wq_init(void);
void zcrx_wq_exit(void);

#endif /* ZCRX_MODULE_WQ_H */

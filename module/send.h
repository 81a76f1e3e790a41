/* SPDX-License-Identifier: GPL-2.0 */
/* zcrx send path (send.c): CLAIM, SEND, and the SENT completions. */
#ifndef ZCRX_MODULE_SEND_H
#define ZCRX_MODULE_SEND_H

#include <linux/types.h>

#include <linux/zcrxdev.h>

struct zcrx_pool;

long zcrx_send_claim(struct zcrx_pool *pool, const struct zcrxdev_claim *c);
long zcrx_send_range(struct zcrx_pool *pool, const struct zcrxdev_send *s);
bool zcrx_send_reap(struct zcrx_pool *pool, bool *left);
void zcrx_send_free(struct zcrx_pool *pool);

#endif /* ZCRX_MODULE_SEND_H */

/* SPDX-License-Identifier: GPL-2.0 */
/* zcrx context (ctx.c): one open file of /dev/zcrx and its pool. */
#ifndef ZCRX_MODULE_CTX_H
#define ZCRX_MODULE_CTX_H

#include <linux/mutex.h>
#include <linux/poll.h>

#include <linux/zcrxdev.h>

struct zcrx_pool;

struct zcrx_ctx {
	struct mutex		setup_lock;	/* serialises ZCRXDEV_IOC_SETUP */
	struct zcrx_pool	*pool;		/* set once, under setup_lock */
};

struct zcrx_ctx *zcrx_ctx_alloc(void);
void zcrx_ctx_free(struct zcrx_ctx *ctx);
struct zcrx_pool *zcrx_ctx_pool(struct zcrx_ctx *ctx);
long zcrx_ctx_setup(struct zcrx_ctx *ctx, void __user *arg);
int zcrx_ctx_mmap(struct zcrx_pool *pool, struct vm_area_struct *vma);
__poll_t zcrx_ctx_poll(struct zcrx_pool *pool, struct file *file,
		       poll_table *wait);
void zcrx_ctx_wake(struct zcrx_pool *pool);
long zcrx_ctx_set_pins(struct zcrx_pool *pool, const struct zcrxdev_pins *p);
long zcrx_ctx_recv(struct zcrx_pool *pool, const struct zcrxdev_recv *r);

#endif /* ZCRX_MODULE_CTX_H */

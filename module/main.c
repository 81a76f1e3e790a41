// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx: receive TCP payload into a pinned, user-mapped buffer pool.
 *
 * /dev/zcrx: each open file is one context (ctx.c); ZCRXDEV_IOC_SETUP
 * gives it a pool (pool.c), ZCRXDEV_IOC_ATTACH feeds sockets into it
 * (sock.c).  Every ioctl command is one row of zcrx_ioctls[]: a command
 * that has no row is -ENOTTY.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/uaccess.h>

#include "ctx.h"
#include "mem.h"
#include "pool.h"
#include "send.h"
#include "sock.h"
#include "wq.h"

/* Every argument an ioctl reads and nothing more, copied in by zcrx_ioctl(). */
union zcrx_ioctl_arg {
	struct zcrxdev_attach	attach;
	struct zcrxdev_detach	detach;
	struct zcrxdev_claim	claim;
	struct zcrxdev_send	send;
	struct zcrxdev_recv	recv;
	struct zcrxdev_pins	pins;
};

/* One ioctl: the pool (NULL for SETUP), the copied-in argument, the user's. */
typedef long (*zcrx_ioctl_fn)(struct zcrx_ctx *ctx, struct zcrx_pool *pool,
			      void *karg, void __user *uarg);

struct zcrx_ioctl_desc {
	unsigned int	cmd;
	bool		needs_pool;	/* -ENXIO before setup */
	bool		copy_in;	/* _IOC_SIZE(cmd) bytes into karg */
	zcrx_ioctl_fn	fn;
};

static long zcrx_ioc_setup(struct zcrx_ctx *ctx, struct zcrx_pool *pool,
			   void *karg, void __user *uarg)
{
	return zcrx_ctx_setup(ctx, uarg);
}

static long zcrx_ioc_attach(struct zcrx_ctx *ctx, struct zcrx_pool *pool,
			    void *karg, void __user *uarg)
{
	return zcrx_sock_attach(pool, karg);
}

static long zcrx_ioc_detach(struct zcrx_ctx *ctx, struct zcrx_pool *pool,
			    void *karg, void __user *uarg)
{
	return zcrx_sock_detach_fd(pool, karg);
}

/* _IO: the argument must be 0. */
static long zcrx_ioc_wake(struct zcrx_ctx *ctx, struct zcrx_pool *pool,
			  void *karg, void __user *uarg)
{
	if (uarg)
		return -EINVAL;
	zcrx_ctx_wake(pool);
	return 0;
}

/* Reads only the flags word; writes the whole struct back. */
static long zcrx_ioc_stats(struct zcrx_ctx *ctx, struct zcrx_pool *pool,
			   void *karg, void __user *uarg)
{
	struct zcrxdev_stats st;
	u32 flags;

	if (get_user(flags, (u32 __user *)uarg))
		return -EFAULT;
	if (flags)
		return -EINVAL;
	memset(&st, 0, sizeof(st));
	zcrx_pool_stats(pool, &st);
	return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
}

static long zcrx_ioc_claim(struct zcrx_ctx *ctx, struct zcrx_pool *pool,
			   void *karg, void __user *uarg)
{
	return zcrx_send_claim(pool, karg);
}

static long zcrx_ioc_send(struct zcrx_ctx *ctx, struct zcrx_pool *pool,
			  void *karg, void __user *uarg)
{
	return zcrx_send_range(pool, karg);
}

static long zcrx_ioc_recv(struct zcrx_ctx *ctx, struct zcrx_pool *pool,
			  void *karg, void __user *uarg)
{
	return zcrx_ctx_recv(pool, karg);
}

static long zcrx_ioc_pins(struct zcrx_ctx *ctx, struct zcrx_pool *pool,
			  void *karg, void __user *uarg)
{
	return zcrx_ctx_set_pins(pool, karg);
}

#define ZCRX_IOCTL(name, pool, copy, handler)			\
	[_IOC_NR(ZCRXDEV_IOC_##name)] = {				\
		.cmd = ZCRXDEV_IOC_##name, .needs_pool = (pool),	\
		.copy_in = (copy), .fn = (handler),			\
	}

/* The one list of commands: indexed by _IOC_NR, checked against cmd. */
static const struct zcrx_ioctl_desc zcrx_ioctls[] = {
	ZCRX_IOCTL(SETUP,	false,	false,	zcrx_ioc_setup),
	ZCRX_IOCTL(ATTACH,	true,	true,	zcrx_ioc_attach),
	ZCRX_IOCTL(DETACH,	true,	true,	zcrx_ioc_detach),
	ZCRX_IOCTL(WAKE,	true,	false,	zcrx_ioc_wake),
	ZCRX_IOCTL(STATS,	true,	false,	zcrx_ioc_stats),
	ZCRX_IOCTL(CLAIM,	true,	true,	zcrx_ioc_claim),
	ZCRX_IOCTL(SEND,	true,	true,	zcrx_ioc_send),
	ZCRX_IOCTL(RECV,	true,	true,	zcrx_ioc_recv),
	ZCRX_IOCTL(PINS,	true,	true,	zcrx_ioc_pins),
};

static long zcrx_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct zcrx_ctx *ctx = file->private_data;
	const struct zcrx_ioctl_desc *d;
	union zcrx_ioctl_arg karg;
	struct zcrx_pool *pool;
	unsigned int nr = _IOC_NR(cmd);

	if (_IOC_TYPE(cmd) != ZCRXDEV_IOC_MAGIC || nr >= ARRAY_SIZE(zcrx_ioctls))
		return -ENOTTY;
	d = &zcrx_ioctls[array_index_nospec(nr, ARRAY_SIZE(zcrx_ioctls))];
	if (!d->fn || d->cmd != cmd)
		return -ENOTTY;
	pool = zcrx_ctx_pool(ctx);
	if (d->needs_pool && !pool)
		return -ENXIO;
	if (d->copy_in) {
		if (WARN_ON_ONCE(_IOC_SIZE(cmd) > sizeof(karg)))
			return -ENOTTY;
		if (copy_from_user(&karg, uarg, _IOC_SIZE(cmd)))
			return -EFAULT;
	}
	return d->fn(ctx, pool, &karg, uarg);
}

static int zcrx_open(struct inode *inode, struct file *file)
{
	file->private_data = zcrx_ctx_alloc();
	return file->private_data ? 0 : -ENOMEM;
}

static int zcrx_release(struct inode *inode, struct file *file)
{
	zcrx_ctx_free(file->private_data);
	return 0;
}

static int zcrx_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct zcrx_pool *pool = zcrx_ctx_pool(file->private_data);

	if (!pool)
		return -ENXIO;
	return zcrx_ctx_mmap(pool, vma);
}

static __poll_t zcrx_poll(struct file *file, poll_table *wait)
{
	struct zcrx_pool *pool = zcrx_ctx_pool(file->private_data);

	if (!pool)
		return EPOLLERR;
	return zcrx_ctx_poll(pool, file, wait);
}

static const struct file_operations zcrx_fops = {
	.owner		= THIS_MODULE,
	.open		= zcrx_open,
	.release	= zcrx_release,
	.unlocked_ioctl	= zcrx_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= zcrx_mmap,
	.poll		= zcrx_poll,
	.llseek		= noop_llseek,
};

static ssize_t pools_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&zcrx_pool_total));
}
static DEVICE_ATTR_RO(pools);

static ssize_t pool_pages_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(&zcrx_mem_pages_total));
}
static DEVICE_ATTR_RO(pool_pages);

static ssize_t sockets_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&zcrx_pool_socks_total));
}
static DEVICE_ATTR_RO(sockets);

static struct attribute *zcrx_attrs[] = {
	&dev_attr_pools.attr,
	&dev_attr_pool_pages.attr,
	&dev_attr_sockets.attr,
	NULL,
};
ATTRIBUTE_GROUPS(zcrx);

/*
 * World read-write, like /dev/io_uring's syscalls: pools are charged to
 * RLIMIT_MEMLOCK and a process can only attach sockets it holds.
 */
static struct miscdevice zcrx_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "zcrx",
	.fops	= &zcrx_fops,
	.groups	= zcrx_groups,
	.mode	= 0666,
};

static int __init zcrx_init(void)
{
	int ret;

	ret = zcrx_wq_init();
	if (ret)
		return ret;
	ret = zcrx_sock_init();
	if (ret)
		goto err_destroy_wq;
	ret = misc_register(&zcrx_misc);
	if (ret)
		goto err_sock_exit;
	return 0;

err_sock_exit:
	zcrx_sock_exit();
err_destroy_wq:
	zcrx_wq_exit();
	return ret;
}

static void __exit zcrx_exit(void)
{
	misc_deregister(&zcrx_misc);
	zcrx_sock_exit();
	/* Runs what is still queued (detach after EOF, last puts). */
	flush_workqueue(zcrx_wq);
	/* Freed pools' pages that skbs still hold: their charges end here. */
	zcrx_mem_exit();
	zcrx_wq_exit();
	/* kfree_rcu() of zcrx_sock needs no module text, but be tidy. */
	rcu_barrier();
}

module_init(zcrx_init);
module_exit(zcrx_exit);

MODULE_DESCRIPTION("zcrx: TCP receive into a user-mapped pinned buffer pool");
MODULE_AUTHOR("zcrx developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(ZCRX_VERSION);

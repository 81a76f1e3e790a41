// SPDX-License-Identifier: GPL-2.0
/*
 * zcrx: receive TCP payload into a pinned, user-mapped buffer pool.
 *
 * /dev/zcrx: each open file is one context; ZCRXDEV_IOC_SETUP gives it a
 * pool (pool.c), ZCRXDEV_IOC_ATTACH feeds sockets into it (sock.c).
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "zcrx.h"

struct workqueue_struct *zcrx_wq;

/* Module-wide gauges, shown in /sys/class/misc/zcrx/. */
atomic_long_t zcrx_pool_pages_total = ATOMIC_LONG_INIT(0);
atomic_t zcrx_pools_total = ATOMIC_INIT(0);
atomic_t zcrx_socks_total = ATOMIC_INIT(0);

struct zcrx_ctx {
	struct mutex		setup_lock;	/* serialises ZCRXDEV_IOC_SETUP */
	struct zcrx_pool	*pool;		/* set once, under setup_lock */
};

/* The pool, or NULL before setup. */
static struct zcrx_pool *zcrx_ctx_pool(struct file *file)
{
	struct zcrx_ctx *ctx = file->private_data;

	/* Pairs with smp_store_release() in zcrx_ioctl_setup(). */
	return smp_load_acquire(&ctx->pool);
}

static int zcrx_open(struct inode *inode, struct file *file)
{
	struct zcrx_ctx *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return -ENOMEM;
	mutex_init(&ctx->setup_lock);
	file->private_data = ctx;
	return 0;
}

static int zcrx_release(struct inode *inode, struct file *file)
{
	struct zcrx_ctx *ctx = file->private_data;

	if (ctx->pool)
		zcrx_pool_shutdown(ctx->pool);
	mutex_destroy(&ctx->setup_lock);
	kfree(ctx);
	return 0;
}

static long zcrx_ioctl_setup(struct zcrx_ctx *ctx, void __user *arg)
{
	struct zcrxdev_setup s;
	struct zcrx_pool *pool;
	long ret = 0;

	if (copy_from_user(&s, arg, sizeof(s)))
		return -EFAULT;

	mutex_lock(&ctx->setup_lock);
	if (ctx->pool) {
		ret = -EEXIST;
		goto out_unlock;
	}
	pool = zcrx_pool_create(&s);
	if (IS_ERR(pool)) {
		ret = PTR_ERR(pool);
		goto out_unlock;
	}
	memset(s.resv3, 0, sizeof(s.resv3));
	if (copy_to_user(arg, &s, sizeof(s))) {
		zcrx_pool_shutdown(pool);
		ret = -EFAULT;
		goto out_unlock;
	}
	/* Pairs with the acquire in zcrx_ctx_pool(). */
	smp_store_release(&ctx->pool, pool);
out_unlock:
	mutex_unlock(&ctx->setup_lock);
	return ret;
}

static long zcrx_ioctl_stats(struct zcrx_pool *pool, void __user *arg)
{
	struct zcrxdev_stats st;
	u32 flags;

	if (get_user(flags, (u32 __user *)arg))
		return -EFAULT;
	if (flags)
		return -EINVAL;
	memset(&st, 0, sizeof(st));
	zcrx_pool_stats(pool, &st);
	return copy_to_user(arg, &st, sizeof(st)) ? -EFAULT : 0;
}

static long zcrx_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct zcrxdev_attach a;
	struct zcrxdev_detach d;
	struct zcrxdev_claim c;
	struct zcrxdev_send sd;
	struct zcrxdev_recv r;
	struct zcrxdev_pins pn;
	struct zcrx_pool *pool;

	if (cmd == ZCRXDEV_IOC_SETUP)
		return zcrx_ioctl_setup(file->private_data, uarg);

	switch (cmd) {
	case ZCRXDEV_IOC_ATTACH:
	case ZCRXDEV_IOC_DETACH:
	case ZCRXDEV_IOC_WAKE:
	case ZCRXDEV_IOC_STATS:
	case ZCRXDEV_IOC_CLAIM:
	case ZCRXDEV_IOC_SEND:
	case ZCRXDEV_IOC_RECV:
	case ZCRXDEV_IOC_PINS:
		break;
	default:
		return -ENOTTY;
	}
	pool = zcrx_ctx_pool(file);
	if (!pool)
		return -ENXIO;

	switch (cmd) {
	case ZCRXDEV_IOC_ATTACH:
		if (copy_from_user(&a, uarg, sizeof(a)))
			return -EFAULT;
		return zcrx_sock_attach(pool, &a);
	case ZCRXDEV_IOC_DETACH:
		if (copy_from_user(&d, uarg, sizeof(d)))
			return -EFAULT;
		return zcrx_sock_detach_fd(pool, &d);
	case ZCRXDEV_IOC_WAKE:
		if (arg)
			return -EINVAL;
		zcrx_pool_wake(pool);
		return 0;
	case ZCRXDEV_IOC_CLAIM:
		if (copy_from_user(&c, uarg, sizeof(c)))
			return -EFAULT;
		return zcrx_pool_claim(pool, &c);
	case ZCRXDEV_IOC_SEND:
		if (copy_from_user(&sd, uarg, sizeof(sd)))
			return -EFAULT;
		return zcrx_pool_send(pool, &sd);
	case ZCRXDEV_IOC_RECV:
		if (copy_from_user(&r, uarg, sizeof(r)))
			return -EFAULT;
		return zcrx_pool_recv(pool, &r);
	case ZCRXDEV_IOC_PINS:
		if (copy_from_user(&pn, uarg, sizeof(pn)))
			return -EFAULT;
		return zcrx_pool_set_pins(pool, &pn);
	default: /* ZCRXDEV_IOC_STATS */
		return zcrx_ioctl_stats(pool, uarg);
	}
}

static int zcrx_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct zcrx_pool *pool = zcrx_ctx_pool(file);

	if (!pool)
		return -ENXIO;
	return zcrx_pool_mmap(pool, vma);
}

static __poll_t zcrx_poll(struct file *file, poll_table *wait)
{
	struct zcrx_pool *pool = zcrx_ctx_pool(file);

	if (!pool)
		return EPOLLERR;
	return zcrx_pool_poll(pool, file, wait);
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
	return sysfs_emit(buf, "%d\n", atomic_read(&zcrx_pools_total));
}
static DEVICE_ATTR_RO(pools);

static ssize_t pool_pages_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(&zcrx_pool_pages_total));
}
static DEVICE_ATTR_RO(pool_pages);

static ssize_t sockets_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&zcrx_socks_total));
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

	/*
	 * Per-CPU, as no flag meant before 7.x: a read pass is queued from the
	 * softirq that received the data and runs where the skbs are cache-hot.
	 * Every work item (read pass, detach, pool tick, reaper) is short or
	 * calls cond_resched().
	 */
	zcrx_wq = alloc_workqueue("zcrx", WQ_PERCPU, 0);
	if (!zcrx_wq)
		return -ENOMEM;
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
	destroy_workqueue(zcrx_wq);
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
	destroy_workqueue(zcrx_wq);
	/* kfree_rcu() of zcrx_sock needs no module text, but be tidy. */
	rcu_barrier();
}

module_init(zcrx_init);
module_exit(zcrx_exit);

MODULE_DESCRIPTION("zcrx: TCP receive into a user-mapped pinned buffer pool");
MODULE_AUTHOR("zcrx developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(ZCRX_VERSION);

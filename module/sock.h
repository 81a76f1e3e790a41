/* SPDX-License-Identifier: GPL-2.0 */
/* zcrx sockets' control plane (sock.c): attach, detach, the ULP. */
#ifndef ZCRX_MODULE_SOCK_H
#define ZCRX_MODULE_SOCK_H

#include <linux/zcrxdev.h>

struct zcrx_pool;
struct zcrx_sock;

int zcrx_sock_attach(struct zcrx_pool *pool, const struct zcrxdev_attach *a);
int zcrx_sock_detach_fd(struct zcrx_pool *pool, const struct zcrxdev_detach *d);
void zcrx_sock_detach(struct zcrx_sock *zs);
int zcrx_sock_init(void);
void zcrx_sock_exit(void);

#endif /* ZCRX_MODULE_SOCK_H */

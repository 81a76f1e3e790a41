/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zcrx read engine (read.c): a socket's read pass, in softirq (from its
 * callbacks), in a work item (socket owned by a task) or in the calling
 * process (WAKE, RECV, attach).
 */
#ifndef ZCRX_MODULE_READ_H
#define ZCRX_MODULE_READ_H

struct work_struct;
struct zcrx_sock;

void zcrx_read_pass(struct zcrx_sock *zs);
void zcrx_read_kick(struct zcrx_sock *zs, bool data);
void zcrx_read_resume(struct zcrx_sock *zs);
void zcrx_read_recv(struct zcrx_sock *zs);
void zcrx_read_work(struct work_struct *work);

#endif /* ZCRX_MODULE_READ_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zcrx placement (place.c): how one socket's payload becomes completions.
 * Called with the socket locked, except zcrx_place_mark_ready().
 */
#ifndef ZCRX_MODULE_PLACE_H
#define ZCRX_MODULE_PLACE_H

#include <linux/skbuff.h>
#include <linux/types.h>

struct page;
struct zcrx_sock;

int zcrx_place_copy(struct zcrx_sock *zs, struct sk_buff *skb, u32 off, u32 len);
int zcrx_place_zc(struct zcrx_sock *zs, u32 page_idx, u32 page_off, u32 len);
int zcrx_place_map(struct zcrx_sock *zs, struct page **pages, u32 n);
void zcrx_place_close(struct zcrx_sock *zs);
bool zcrx_place_end(struct zcrx_sock *zs, int error);
void zcrx_place_mark_ready(struct zcrx_sock *zs, bool urgent);

#endif /* ZCRX_MODULE_PLACE_H */

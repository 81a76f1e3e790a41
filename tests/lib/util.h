/* SPDX-License-Identifier: MIT */
/* Helpers shared by the guest tests: device, counters, sockets, data. */
#ifndef ZCRX_TESTS_UTIL_H
#define ZCRX_TESTS_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zcrx/zcrxdev.h>

#define ZCRX_SYSFS "/sys/class/misc/zcrx/"

long sysfs_long(const char *name);

/* ioctl returning -errno, like libzcrx. */
long xioctl(int fd, unsigned long cmd, void *arg);

int zcrx_open_dev(void);

void setup_args(struct zcrxdev_setup *s, unsigned int nr_bufs,
		unsigned int buf_size);

/* Wait up to ms for a sysfs gauge to reach want (sockets close lazily). */
long sysfs_wait(const char *name, long want, int ms);

/* Wait up to ms for *flag (set by another thread) to become non-zero. */
bool wait_flag(const int *flag, int ms);

double now_s(void);

/* A connected loopback TCP pair; returns 0 or -errno. */
int tcp_pair(int family, int *cli, int *srv);

/* Deterministic stream content: byte i of stream seed. */
static inline uint8_t pattern_byte(uint64_t seed, uint64_t i)
{
	uint64_t x = (i >> 3) * 0x9E3779B97F4A7C15ULL + seed;

	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 32;
	return (uint8_t)(x >> ((i & 7) * 8));
}

void pattern_fill(uint64_t seed, uint64_t pos, uint8_t *buf,
		  size_t len);

/* Index of the first byte that differs from the pattern, or len. */
size_t pattern_check(uint64_t seed, uint64_t pos,
		     const uint8_t *buf, size_t len);

/* Write the whole buffer; returns 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);

/* In a child: send total bytes of pattern seed in wsize writes, then exit. */
void __attribute__((noreturn))
sender_child(int fd, uint64_t seed, uint64_t total, size_t wsize, int close_how);

/* Fork a child that sends total bytes of pattern seed in chunks of wsize. */
pid_t spawn_sender(int fd, uint64_t seed, uint64_t total,
		   size_t wsize, int close_how);

/*
 * vmsplice() len bytes at p (pool memory) into a pipe and splice() them
 * into fd: the pages reach the socket by reference.  Returns bytes sent.
 */
size_t splice_out(const void *p, size_t len, int fd);

/*
 * A little loopback traffic from each CPU in turn: each runs its net_rx
 * softirq, which frees the consumed skbs whose freeing the stack deferred
 * to that CPU (net.core.skb_defer_max) and which an idle CPU keeps.
 */
void kick_cpus_net_rx(void);

/* Read or write a sysctl holding one integer; returns the old value or -1. */
int sysctl_int(const char *path, int val);

#endif /* ZCRX_TESTS_UTIL_H */

// SPDX-License-Identifier: MIT
/*
 * bench.h - what the benchmark's sender, receivers and memcpy probe share:
 * the stream pattern and its cheap check, CPU pinning, clocks and CPU-time
 * snapshots.
 *
 * The stream pattern
 * ------------------
 * Byte i of connection c's stream is pattern index (i + c_off) mod PERIOD,
 * where PERIOD = BENCH_LINES * 64 bytes and c_off = line_start(c) * 64.
 * Every 64-byte line holds, at offset BENCH_CHECK_OFF, a byte derived from
 * its line number (bench_expect()); the other 63 bytes are filler.  A
 * receiver proves it got the right bytes in the right order by reading
 * that one byte of every line at its stream position: one load per cache
 * line, independent of how the stream was cut into segments, reads or
 * buffers.  BENCH_LINES is prime, so the period is not a multiple of any
 * write size, buffer size or page size: a shifted, repeated, dropped or
 * misplaced chunk of any such size is caught, as is a chunk of another
 * connection (each starts at a different line).  Byte counts are checked
 * exactly.
 */
#ifndef ZCRX_BENCH_H
#define ZCRX_BENCH_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BENCH_LINE		64u
#define BENCH_LINES		4099u	/* prime */
#define BENCH_PERIOD		(BENCH_LINES * BENCH_LINE)
#define BENCH_CHECK_OFF		37u
#define BENCH_CONN_STRIDE	257u	/* lines between connections' starts */
#define BENCH_MAX_CONNS		64

static inline uint8_t bench_expect(uint32_t line)
{
	return (uint8_t)((line * 2654435761u) >> 24);
}

static inline uint32_t bench_line_start(unsigned int conn)
{
	return (conn * BENCH_CONN_STRIDE) % BENCH_LINES;
}

/* Fill p[0..len) with the pattern from pattern offset 0, repeating it. */
static inline void bench_pattern_fill(unsigned char *p, size_t len)
{
	size_t j;

	for (j = 0; j < len; j++) {
		size_t k = j % BENCH_PERIOD;

		p[j] = (k % BENCH_LINE == BENCH_CHECK_OFF) ?
			bench_expect((uint32_t)(k / BENCH_LINE)) :
			(uint8_t)(k ^ (k >> 7) ^ 0xA5);
	}
}

/* The pattern, PERIOD + extra bytes long so any write of <= extra is contiguous. */
static inline unsigned char *bench_pattern(size_t extra)
{
	size_t len = BENCH_PERIOD + extra;
	unsigned char *p;

	if (posix_memalign((void **)&p, 4096, (len + 4095) & ~(size_t)4095))
		return NULL;
	bench_pattern_fill(p, len);
	return p;
}

/* Pattern offset where connection conn's stream starts. */
static inline size_t bench_conn_offset(unsigned int conn)
{
	return (size_t)bench_line_start(conn) * BENCH_LINE;
}

/* Checker state of one stream. */
struct bench_verify {
	uint64_t	pos;	/* stream bytes seen */
	uint64_t	next;	/* next checked stream position */
	uint32_t	line;	/* pattern line of next, mod BENCH_LINES */
	uint64_t	bad;	/* mismatching lines */
};

static inline void bench_verify_init(struct bench_verify *v, unsigned int conn)
{
	v->pos = 0;
	v->next = BENCH_CHECK_OFF;
	v->line = bench_line_start(conn);
	v->bad = 0;
}

/* Check the bytes p[0..len) that are the stream's next len bytes. */
static inline void bench_verify(struct bench_verify *v, const void *p, size_t len)
{
	const volatile unsigned char *b = p;
	uint64_t end = v->pos + len, next = v->next, pos = v->pos;
	uint32_t line = v->line;
	uint64_t bad = 0;

	while (next < end) {
		bad += b[next - pos] != bench_expect(line);
		next += BENCH_LINE;
		if (++line == BENCH_LINES)
			line = 0;
	}
	v->next = next;
	v->line = line;
	v->pos = end;
	v->bad += bad;
}

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Pin the calling thread to one CPU (-1: leave it alone). */
static inline int bench_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "sched_setaffinity(%d): %s\n", cpu, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * A CPU-time snapshot: the whole machine from /proc/stat's "cpu" line (all
 * CPUs, in seconds), and this process from getrusage().
 *
 * The busy time of the machine is taken as online CPUs x wall time minus
 * idle and iowait: with the tick stopped in idle (NO_HZ), /proc/stat's idle
 * time is measured, not sampled, so this total does not depend on timer
 * ticks arriving on time, which they do not always do in an emulated
 * guest.  user/sys/irq are the kernel's tick-sampled split of it.
 */
struct bench_cpu {
	double	wall;
	double	user;	/* user + nice (guest time is inside user) */
	double	sys;	/* system */
	double	irq;	/* irq + softirq */
	double	steal;
	double	idle;	/* idle + iowait */
	double	core_idle;	/* idle + iowait of one CPU (the receiver's) */
	double	self;	/* this process, user + system */
	int	ncpu;	/* CPUs online */
};

/* Parse one "cpu..." line of /proc/stat into seconds. */
static inline int bench_cpu_line(const char *line, const char *name,
				 unsigned long long v[10])
{
	size_t n = strlen(name);

	if (strncmp(line, name, n) || line[n] != ' ')
		return 0;
	memset(v, 0, 10 * sizeof(v[0]));
	return sscanf(line + n, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
		      &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
		      &v[8], &v[9]) >= 8;
}

/* Snapshot; cpu >= 0 also records that CPU's idle time in core_idle. */
static inline int bench_cpu_snap(struct bench_cpu *c, int cpu)
{
	unsigned long long v[10];
	double hz = (double)sysconf(_SC_CLK_TCK);
	char line[512], name[32];
	struct rusage ru;
	int found = 0;
	FILE *f;

	memset(c, 0, sizeof(*c));
	c->wall = bench_now();
	snprintf(name, sizeof(name), "cpu%d", cpu);
	f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (bench_cpu_line(line, "cpu", v)) {
			c->user = (v[0] + v[1]) / hz;
			c->sys = v[2] / hz;
			c->irq = (v[5] + v[6]) / hz;
			c->steal = v[7] / hz;
			c->idle = (v[3] + v[4]) / hz;
			found = 1;
		} else if (cpu >= 0 && bench_cpu_line(line, name, v)) {
			c->core_idle = (v[3] + v[4]) / hz;
		}
	}
	fclose(f);
	c->ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	getrusage(RUSAGE_SELF, &ru);
	c->self = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		  ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	return found ? 0 : -1;
}

/* Parse "64k", "1m", "256M", "1g" or a plain number of bytes. */
static inline unsigned long long bench_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	switch (*end) {
	case 'k': case 'K': v <<= 10; break;
	case 'm': case 'M': v <<= 20; break;
	case 'g': case 'G': v <<= 30; break;
	default: break;
	}
	return v;
}

#endif /* ZCRX_BENCH_H */

// SPDX-License-Identifier: MIT
/*
 * memcpy - single-thread copy bandwidth: the one-copy ceiling.
 *
 *   memcpy [-c CPU] [-s SECONDS]
 *
 * Prints "MEMCPY <large>,<small>,<verify>" in MB/s (10^6 bytes/s):
 *   large   memcpy() between two 64 MiB buffers (memory to memory);
 *   small   memcpy() between two 256 KiB buffers (stays in cache), the
 *           case of a receive copy whose source was just written;
 *   verify  bench_verify() over a 64 MiB buffer: the cost the benchmark's
 *           check adds to every receiver (one load per 64-byte line).
 * Each figure is the best of repeated passes lasting SECONDS (default 0.5)
 * in total.
 */
#include <getopt.h>
#include <sys/mman.h>

#include "bench.h"

static unsigned char *area(size_t len)
{
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	memset(p, 0x5a, len);
	return p;
}

/* Best MB/s of copies of len bytes, passes of at least 16 MiB each. */
static double copy_rate(size_t len, double seconds)
{
	unsigned char *src = area(len), *dst = area(len);
	size_t reps = len >= (16u << 20) ? 1 : (16u << 20) / len, r;
	double best = 0, end = bench_now() + seconds, t0, t;

	do {
		t0 = bench_now();
		for (r = 0; r < reps; r++) {
			memcpy(dst, src, len);
			/* Keep the compiler from dropping or merging copies. */
			__asm__ __volatile__("" : : "r"(dst) : "memory");
		}
		t = bench_now() - t0;
		if (t > 0 && reps * len / 1e6 / t > best)
			best = reps * len / 1e6 / t;
	} while (bench_now() < end);
	munmap(src, len);
	munmap(dst, len);
	return best;
}

static double verify_rate(double seconds)
{
	size_t len = 64u << 20;
	unsigned char *p = area(len);
	double best = 0, end = bench_now() + seconds, t0, t;
	struct bench_verify v;

	do {
		bench_verify_init(&v, 0);
		t0 = bench_now();
		bench_verify(&v, p, len);
		t = bench_now() - t0;
		if (t > 0 && len / 1e6 / t > best)
			best = len / 1e6 / t;
	} while (bench_now() < end);
	/* v.bad depends on every load: the checks cannot be optimised away. */
	if (v.bad == ~0ull)
		puts("impossible");
	munmap(p, len);
	return best;
}

int main(int argc, char **argv)
{
	double seconds = 0.5, big, small, ver;
	int cpu = -1, opt;

	while ((opt = getopt(argc, argv, "c:s:")) != -1) {
		switch (opt) {
		case 'c': cpu = atoi(optarg); break;
		case 's': seconds = atof(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-c cpu] [-s seconds]\n", argv[0]);
			return 2;
		}
	}
	if (bench_pin(cpu))
		return 1;
	big = copy_rate(64u << 20, seconds);
	small = copy_rate(256u << 10, seconds);
	ver = verify_rate(seconds);
	printf("MEMCPY %.1f,%.1f,%.1f\n", big, small, ver);
	return 0;
}

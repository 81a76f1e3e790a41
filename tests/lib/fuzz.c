// SPDX-License-Identifier: MIT
/* See fuzz.h. */
#include <linux/capability.h>
#include <sys/resource.h>

#include "fuzz.h"

static const uint64_t boundary[] = {
	0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 63, 64, 255, 256,
	4095, 4096, 4097, 8191, 8192, 8193, 16383, 16384, 32767, 32768, 32769,
	65535, 65536, 65537, 131072, 0x7fffffff, 0x80000000, 0x80000001,
	0xfffffffe, 0xffffffff, 0x100000000ull, 0x100000001ull, 0x100001000ull,
	0x200000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull,
	0xfffffffffffff000ull, 0xffffffffffffffffull, 0xffff888000000000ull,
};

uint64_t fval(int bits)
{
	uint64_t v, mask = bits == 64 ? ~0ull : (1ull << bits) - 1;

	switch (frng_below(&rng, 6)) {
	case 0:
	case 1:
		v = boundary[frng_below(&rng, ARRAY_SIZE(boundary))];
		break;
	case 2:
		v = frng_below(&rng, 70000);
		break;
	case 3:		/* a power of two, +-1 */
		v = (1ull << frng_below(&rng, bits)) + frng_below(&rng, 3) - 1;
		break;
	case 4:		/* the top of the range, minus a little */
		v = mask - frng_below(&rng, 4097);
		break;
	default:
		v = frng_next(&rng);
	}
	return v & mask;
}

void acc_result(struct stats_acc *a, int kind, long r, bool efault_ok,
		const char *what)
{
	int s = r < 0 ? eslot((int)-r) : -2;

	if (r >= 0) {
		a->hist[kind][0]++;
		return;
	}
	a->hist[kind][s >= 0 ? 1 + s : E_N + 1]++;
	/* Documented: the header's list; EFAULT only for a bad pointer. */
	if (!oracle_documented(kind, r, efault_ok)) {
		if (!a->undoc++)
			snprintf(a->undoc_ex, WHY_LEN, "%s -> %s", what,
				 strerrorname_np((int)-r) ?: "?");
	}
}

void acc_mismatch(struct stats_acc *a, const char *fmt, ...)
{
	va_list ap;

	if (a->mismatch < 4) {
		va_start(ap, fmt);
		vsnprintf(a->mismatch_ex[a->mismatch], WHY_LEN, fmt, ap);
		va_end(ap);
	}
	a->mismatch++;
}

void acc_bad_out(struct stats_acc *a, const char *fmt, ...)
{
	va_list ap;

	if (!a->bad_out++) {
		va_start(ap, fmt);
		vsnprintf(a->bad_out_ex, WHY_LEN, fmt, ap);
		va_end(ap);
	}
}

void acc_print(const struct stats_acc *a, const char *title)
{
	char line[512];
	int k, s;
	size_t l;

	for (k = 0; k < K_N; k++) {
		unsigned long sum = 0;

		for (s = 0; s < E_N + 2; s++)
			sum += a->hist[k][s];
		if (!sum)
			continue;
		l = snprintf(line, sizeof(line), "%s %-6s:", title, kname[k]);
		if (a->hist[k][0])
			l += snprintf(line + l, sizeof(line) - l, " ok=%lu", a->hist[k][0]);
		for (s = 0; s < E_N; s++)
			if (a->hist[k][1 + s])
				l += snprintf(line + l, sizeof(line) - l, " %s=%lu",
					      strerrorname_np(oracle_eno[s]),
					      a->hist[k][1 + s]);
		if (a->hist[k][E_N + 1])
			snprintf(line + l, sizeof(line) - l, " UNDOCUMENTED=%lu",
				 a->hist[k][E_N + 1]);
		tap_diag("%s", line);
	}
}

int cap_ipc_lock(bool on)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	if (on)
		d[0].effective |= 1u << CAP_IPC_LOCK;
	else
		d[0].effective &= ~(1u << CAP_IPC_LOCK);
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

int fuzz_main(void (*run)(void), bool first, bool last)
{
	struct rlimit rl = { FUZZ_MEMLOCK, FUZZ_MEMLOCK }, nof = { 4096, 4096 };
	int capr, defer;

	fault_begin("fuzz", 0x7a637278667a7a, " (debug: 500000 ioctl calls)");
	setrlimit(RLIMIT_NOFILE, &nof);
	/* Pools count against a 32 MiB RLIMIT_MEMLOCK: no OOM by huge setups. */
	setrlimit(RLIMIT_MEMLOCK, &rl);
	capr = cap_ipc_lock(false);
	if ((first || capr) &&
	    !CHECK("fuzz_without_cap_ipc_lock", capr == 0, "capset: %s",
		   strerror(-capr)))
		return tap_exit();
	/*
	 * A freed pool's pages stay counted until the skbs holding them are
	 * freed, which the stack may defer to an idle CPU
	 * (net.core.skb_defer_max, see docs/design.md): the leak checks
	 * would wait on unrelated traffic.  Off here.
	 */
	defer = sysctl_int("/proc/sys/net/core/skb_defer_max", 0);
	run();
	cap_ipc_lock(true);
	if (last)
		end_checks();
	if (defer >= 0)
		sysctl_int("/proc/sys/net/core/skb_defer_max", defer);
	return tap_exit();
}

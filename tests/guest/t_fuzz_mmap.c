// SPDX-License-Identifier: MIT
/*
 * The mmap() fuzzer of /dev/zcrx: random offsets, lengths, protections and
 * flags on contexts with a read-only pool, a writable one and none.  Every
 * answer is checked against the contract and mm's own rules
 * (tests/lib/oracle.c); a read-only pool never becomes writable and no
 * region grows.
 */
#include "fuzz.h"

#define RESV_SIZE	(1ul << 20)

static void test_mmap_fuzz(void)
{
	static const int types[] = { MAP_SHARED, MAP_SHARED, MAP_SHARED, MAP_PRIVATE,
				     MAP_SHARED_VALIDATE, 0, 0x0f };
	static const int extra[] = { MAP_POPULATE, MAP_NORESERVE, MAP_FIXED,
				     MAP_FIXED_NOREPLACE, MAP_HUGETLB, MAP_SYNC,
				     MAP_NONBLOCK, MAP_GROWSDOWN };
	const unsigned long n = 20000;
	unsigned long i, okc = 0, undoc = 0, mism = 0, postbad = 0, hist[M_N] = { 0 };
	char undoc_ex[WHY_LEN] = "", mism_ex[WHY_LEN] = "", post_ex[WHY_LEN] = "";
	struct zcrxdev_setup s, sw;
	struct oracle_maps maps;
	uint64_t *off = maps.off, *size = maps.size;
	int fd, wfd, nopool, k;
	uint8_t *resv;
	double t0 = now_s();
	char why[WHY_LEN];

	/* The same shape twice: read-only, and WRITABLE. */
	fd = zcrx_open_dev();
	wfd = zcrx_open_dev();
	nopool = zcrx_open_dev();
	setup_args(&s, 8, 16384);
	s.cq_entries = 256;
	s.rq_entries = 128;
	sw = s;
	sw.flags = SETUP_FLAGS_OK;
	resv = mmap(NULL, RESV_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fd < 0 || wfd < 0 || nopool < 0 || xioctl(fd, ZCRXDEV_IOC_SETUP, &s) ||
	    xioctl(wfd, ZCRXDEV_IOC_SETUP, &sw) || resv == MAP_FAILED) {
		CHECK("mmap_fuzz_setup", 0, "setup: %s", strerror(errno));
		return;
	}
	off[0] = s.pool.offset;
	off[1] = s.cq.offset;
	off[2] = s.rq.offset;
	size[0] = s.pool.size;
	size[1] = s.cq.size;
	size[2] = s.rq.size;
	for (i = 0; i < n; i++) {
		int reg = frng_below(&rng, 3), prot = 0, flags, e = 0, sl;
		bool nopool_ctx = !frng_below(&rng, 20), fixed = false, okp;
		bool writable = !nopool_ctx && SETUP_FLAGS_OK && frng_below(&rng, 2);
		struct oracle_mmap_answer ans;
		unsigned int mod, emm;	/* the module's and mm's answers */
		uint64_t o, len, alen;
		void *hint = NULL, *m;

		switch (frng_below(&rng, 8)) {
		case 0:
			o = off[frng_below(&rng, 3)] + 4096 * frng_below(&rng, 5) - 8192;
			break;
		case 1:
			o = fval(64);
			break;
		case 2:
			o = off[frng_below(&rng, 3)] + 1 + frng_below(&rng, 4095);
			break;
		default:
			o = off[reg];
		}
		switch (frng_below(&rng, 8)) {
		case 0:
			len = size[reg] + frng_below(&rng, 3) * 4096 - 4096;
			break;
		case 1:
			len = fval(64);
			break;
		case 2:
			len = size[reg] - frng_below(&rng, 4095);	/* rounds up */
			break;
		default:
			len = size[reg];
		}
		if (frng_below(&rng, 4))
			prot |= PROT_READ;
		if (!frng_below(&rng, 3))
			prot |= PROT_WRITE;
		if (!frng_below(&rng, 8))
			prot |= PROT_EXEC;
		flags = types[frng_below(&rng, ARRAY_SIZE(types))];
		for (k = 0; k < 3; k++)
			if (!frng_below(&rng, 4))
				flags |= extra[frng_below(&rng, ARRAY_SIZE(extra))];
		alen = (len + 4095) & ~4095ull;
		/* MAP_FIXED only inside our reservation: never over anything else. */
		if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
			if (!alen || alen > RESV_SIZE || len > RESV_SIZE) {
				flags &= ~(MAP_FIXED | MAP_FIXED_NOREPLACE);
			} else {
				hint = resv;
				fixed = true;
			}
		}

		ans = oracle_mmap(&maps, nopool_ctx, writable, o, len, prot, flags);
		mod = ans.mod;
		emm = ans.mm;
		okp = ans.ok;

		m = mmap(hint, len, prot, flags, nopool_ctx ? nopool : writable ? wfd : fd,
			 (off_t)o);
		if (m != MAP_FAILED) {
			volatile uint8_t x;

			okc++;
			if (!okp && !mism++)
				snprintf(mism_ex, WHY_LEN, "mmap(len=%#llx prot=%d flags=%#x "
					 "off=%#llx%s) succeeded", (unsigned long long)len,
					 prot, flags, (unsigned long long)o,
					 writable ? ", writable pool" : "");
			if (prot & PROT_READ) {
				x = ((uint8_t *)m)[0];
				x = ((uint8_t *)m)[alen - 1];
				(void)x;
			}
			/* A read-only pool never becomes writable; no region grows. */
			if (o == off[0] && !writable &&
			    mprotect(m, alen, PROT_READ | PROT_WRITE) != -1 && !postbad++)
				snprintf(post_ex, WHY_LEN, "mprotect(pool, RW) succeeded");
			if (mremap(m, alen, alen + 4096, 0) != MAP_FAILED && !postbad++)
				snprintf(post_ex, WHY_LEN, "mremap grew the region at %#llx",
					 (unsigned long long)o);
			munmap(m, alen);
		} else {
			e = errno;
			sl = mslot(e);
			if (sl >= 0)
				hist[sl]++;
			if (sl < 0 && !undoc++)
				snprintf(undoc_ex, WHY_LEN, "mmap errno %s",
					 strerrorname_np(e) ?: "?");
			if (sl >= 0 && !((mod | emm) & EB(sl)) && !mism++)
				snprintf(mism_ex, WHY_LEN, "mmap(len=%#llx prot=%d flags=%#x "
					 "off=%#llx%s) -> %s", (unsigned long long)len, prot,
					 flags, (unsigned long long)o, nopool_ctx ?
					 ", no pool" : writable ? ", writable pool" : "",
					 strerrorname_np(e));
		}
		if (fixed)	/* put the reservation back, whatever happened */
			mmap(resv, RESV_SIZE, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	}
	tap_diag("mmap fuzz: %lu calls, %lu mapped, EINVAL=%lu EACCES=%lu ENXIO=%lu "
		 "ENOMEM=%lu EOVERFLOW=%lu EOPNOTSUPP=%lu EEXIST=%lu EPERM=%lu, %.1f s",
		 n, okc, hist[M_INVAL], hist[M_ACCES], hist[M_NXIO], hist[M_NOMEM],
		 hist[M_OVERFLOW], hist[M_OPNOTSUPP], hist[M_EXIST], hist[M_PERM],
		 now_s() - t0);
	CHECK("mmap_fuzz_only_known_errnos", !undoc, "%lu: %s", undoc, undoc_ex);
	CHECK("mmap_fuzz_results_match_contract", !mism && okc > 0,
	      "%lu mismatches, %lu mapped; first: %s", mism, okc, mism_ex);
	CHECK("mmap_fuzz_pool_stays_readonly_fixed_size", !postbad, "%s", post_ex);
	munmap(resv, RESV_SIZE);
	close(fd);
	close(wfd);
	close(nopool);
	CHECK("mmap_fuzz_no_leak", gauges_zero(3000, why, sizeof(why)), "%s", why);
}


int main(void)
{
	return fuzz_main(test_mmap_fuzz, false, false);
}

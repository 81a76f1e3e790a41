// SPDX-License-Identifier: MIT
/* ZCRXDEV_IOC_SETUP and friends: every documented result. */
#include <sys/mman.h>

#include "tap.h"
#include "util.h"

static long try_setup(struct zcrxdev_setup *s)
{
	int fd = zcrx_open_dev();
	long ret;

	if (fd < 0)
		return -1000 - errno;
	ret = xioctl(fd, ZCRXDEV_IOC_SETUP, s);
	close(fd);
	return ret;
}

static void test_no_pool(void)
{
	struct zcrxdev_attach a = { .fd = 0 };
	struct zcrxdev_detach d = { .fd = 0 };
	struct zcrxdev_stats st = { 0 };
	int fd = zcrx_open_dev();
	void *p;

	CHECK("open", fd >= 0, "open /dev/zcrx: %s", strerror(errno));
	CHECK_ERR("stats_before_setup", xioctl(fd, ZCRXDEV_IOC_STATS, &st), ENXIO);
	CHECK_ERR("attach_before_setup", xioctl(fd, ZCRXDEV_IOC_ATTACH, &a), ENXIO);
	CHECK_ERR("detach_before_setup", xioctl(fd, ZCRXDEV_IOC_DETACH, &d), ENXIO);
	CHECK_ERR("wake_before_setup", xioctl(fd, ZCRXDEV_IOC_WAKE, NULL), ENXIO);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	CHECK("mmap_before_setup", p == MAP_FAILED && errno == ENXIO,
	      "mmap gave %p errno %d", p, errno);
	CHECK_ERR("unknown_ioctl", xioctl(fd, _IOWR(ZCRXDEV_IOC_MAGIC, 0x1f, struct zcrxdev_setup), &st), ENOTTY);
	CHECK_ERR("foreign_ioctl", xioctl(fd, TCGETS, &st), ENOTTY);
	CHECK_ERR("bad_pointer", xioctl(fd, ZCRXDEV_IOC_SETUP, (void *)8), EFAULT);
	close(fd);
}

static void test_good(void)
{
	static const unsigned int sizes[] = { 4096, 8192, 16384, 65536 };
	struct zcrxdev_setup s;
	char name[64];
	unsigned int i;
	long r;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		setup_args(&s, 16, sizes[i]);
		r = try_setup(&s);
		snprintf(name, sizeof(name), "good_buf_%u", sizes[i]);
		CHECK(name, r == 0 && s.pool.size == 16ull * sizes[i] &&
		      s.cq_entries == 32 && s.rq_entries == 32 &&
		      s.cq.size && s.rq.size && s.pool.offset != s.cq.offset &&
		      s.cq.offset != s.rq.offset &&
		      s.cq_off.entries >= s.cq_off.flags + 4 &&
		      (s.features & ZCRXDEV_FEAT_ZEROCOPY_POOL_PAGES),
		      "r=%ld pool=%llu cq=%u rq=%u", r,
		      (unsigned long long)s.pool.size, s.cq_entries,
		      s.rq_entries);
	}
}

static void test_reserved(void)
{
	struct zcrxdev_setup s;
	char name[64];
	unsigned int bit, i;
	int bad = 0;

	for (bit = 0; bit < 32; bit++) {
		if ((1u << bit) & ZCRXDEV_SETUP_FLAGS)
			continue;
		setup_args(&s, 4, 4096);
		s.flags = 1u << bit;
		if (try_setup(&s) != -EINVAL) {
			bad++;
			tap_diag("flag bit %u accepted", bit);
		}
	}
	CHECK("every_unknown_flag_bit_rejected", !bad, "%d flag bits not rejected", bad);
	setup_args(&s, 4, 4096);
	s.flags = ZCRXDEV_SETUP_WRITABLE;
	CHECK("flag_writable_accepted", try_setup(&s) == 0, "refused");

	setup_args(&s, 4, 4096);
	s.win_pages = 1;	/* a window needs ZCRXDEV_SETUP_MAP */
	CHECK_ERR("win_pages_without_map", try_setup(&s), EINVAL);
	for (i = 0; i < 4; i++) {
		setup_args(&s, 4, 4096);
		s.resv1[i] = 1ull << 63;
		snprintf(name, sizeof(name), "resv1_%u", i);
		CHECK_ERR(name, try_setup(&s), EINVAL);
	}
}

static void test_sizes(void)
{
	static const unsigned int bad_sizes[] = {
		0, 1, 2048, 4095, 4097, 6144, 131072, 0x80000000u, 0xffffffffu
	};
	struct zcrxdev_setup s;
	char name[64];
	unsigned int i;

	for (i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		setup_args(&s, 4, bad_sizes[i]);
		snprintf(name, sizeof(name), "bad_buf_size_%u", bad_sizes[i]);
		CHECK_ERR(name, try_setup(&s), EINVAL);
	}
	setup_args(&s, 0, 4096);
	CHECK_ERR("zero_bufs", try_setup(&s), EINVAL);
	setup_args(&s, 0xffffffffu, 65536);
	CHECK_ERR("huge_pool", try_setup(&s), E2BIG);
	setup_args(&s, (1u << 20) + 1, 4096);
	CHECK_ERR("pool_just_over_max", try_setup(&s), E2BIG);

	/* Ring sizes are clamped and rounded up, then reported. */
	setup_args(&s, 4, 4096);
	s.cq_entries = 1;
	s.rq_entries = 1000;
	CHECK("ring_clamp_small", try_setup(&s) == 0 && s.cq_entries == 8 &&
	      s.rq_entries == 1024, "cq=%u rq=%u", s.cq_entries, s.rq_entries);
	setup_args(&s, 4, 4096);
	s.cq_entries = 0xffffffffu;
	s.rq_entries = 0x80000001u;
	CHECK("ring_clamp_huge", try_setup(&s) == 0 && s.cq_entries == 32768 &&
	      s.rq_entries == 32768, "cq=%u rq=%u", s.cq_entries, s.rq_entries);
}

static void test_twice(void)
{
	struct zcrxdev_setup s;
	struct zcrxdev_stats st;
	int fd = zcrx_open_dev();

	setup_args(&s, 4, 4096);
	CHECK("first_setup", xioctl(fd, ZCRXDEV_IOC_SETUP, &s) == 0, "failed");
	setup_args(&s, 4, 4096);
	CHECK_ERR("second_setup", xioctl(fd, ZCRXDEV_IOC_SETUP, &s), EEXIST);
	CHECK_ERR("wake_with_arg", ioctl(fd, ZCRXDEV_IOC_WAKE, 1) < 0 ? -errno : 0, EINVAL);
	CHECK("wake", xioctl(fd, ZCRXDEV_IOC_WAKE, NULL) == 0, "failed");
	memset(&st, 0, sizeof(st));
	st.flags = 1;
	CHECK_ERR("stats_flags", xioctl(fd, ZCRXDEV_IOC_STATS, &st), EINVAL);
	memset(&st, 0xff, sizeof(st));
	st.flags = 0;
	CHECK("stats_fresh", xioctl(fd, ZCRXDEV_IOC_STATS, &st) == 0 &&
	      st.bufs_free == 4 && st.completions == 0 && st.wakeups == 1 &&
	      st.resv[0] == 0 && st.resv[12] == 0 && st.resv0 == 0,
	      "free=%llu wakeups=%llu", (unsigned long long)st.bufs_free,
	      (unsigned long long)st.wakeups);
	/* ZCRXDEV_IOC_PINS: its contract (its effect: store.registered_*). */
	{
		struct zcrxdev_pins pn = { .count = ZCRXDEV_PINS_MAX + 1 };

		CHECK_ERR("pins_too_many", xioctl(fd, ZCRXDEV_IOC_PINS, &pn), EINVAL);
		pn.count = 1;
		pn.flags = 1;
		CHECK_ERR("pins_flags", xioctl(fd, ZCRXDEV_IOC_PINS, &pn), EINVAL);
		pn.flags = 0;
		pn.resv[1] = 1;
		CHECK_ERR("pins_resv", xioctl(fd, ZCRXDEV_IOC_PINS, &pn), EINVAL);
		pn.resv[1] = 0;
		CHECK("pins_declared_and_undone", !xioctl(fd, ZCRXDEV_IOC_PINS, &pn) &&
		      !xioctl(fd, ZCRXDEV_IOC_PINS, &(struct zcrxdev_pins){ 0 }),
		      "failed");
	}
	close(fd);
}

int main(void)
{
	tap_set_group("setup");
	test_no_pool();
	test_good();
	test_reserved();
	test_sizes();
	test_twice();
	CHECK("pages_back_to_zero", sysfs_wait("pool_pages", 0, 2000) == 0,
	      "pool_pages=%ld", sysfs_long("pool_pages"));
	CHECK("pools_back_to_zero", sysfs_long("pools") == 0, "pools=%ld",
	      sysfs_long("pools"));
	return tap_exit();
}

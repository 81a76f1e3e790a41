// SPDX-License-Identifier: MIT
/*
 * Host tests of libzcrx's ABI promises (group "abi"), no module needed:
 *   - struct zcrx and struct zcrx_params keep their sizes (256 and 64
 *     bytes on LP64) and the offsets of their public fields: later fields
 *     come out of the reserved space;
 *   - a non-zero reserved field of struct zcrx_params is refused with
 *     -EINVAL before anything is opened;
 *   - zcrx_init's failures on the host (no device, a file that is not the
 *     device, a device the caller may not open) return the errno that
 *     zcrx_strerror() explains, with the hint for it, and leave z->fd -1;
 *   - zcrx_strerror() takes -errno and errno alike, has a hint for each
 *     error a pool setup fails with, and falls back on strerror().
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zcrx.h>

#include "tap.h"

#if __SIZEOF_POINTER__ == 8 && __SIZEOF_LONG__ == 8
_Static_assert(sizeof(struct zcrx) == 256, "struct zcrx changed size");
_Static_assert(sizeof(struct zcrx_params) == 64, "struct zcrx_params changed size");
#endif

/* Fields of the public structures as released: name, offset (LP64). */
#define ZCRX_FIELDS(X)					\
	X(zcrx, fd, 0) X(zcrx, flags, 4)		\
	X(zcrx, buf_size, 8) X(zcrx, nr_bufs, 12)	\
	X(zcrx, pool, 16) X(zcrx, pool_size, 24)	\
	X(zcrx, cq, 32) X(zcrx, rq, 96)			\
	X(zcrx, features, 160) X(zcrx, win_pages, 164)	\
	X(zcrx, win_returned, 168)			\
	X(zcrx_params, nr_bufs, 0) X(zcrx_params, buf_size, 4)	\
	X(zcrx_params, cq_entries, 8) X(zcrx_params, rq_entries, 12) \
	X(zcrx_params, flags, 16) X(zcrx_params, win_pages, 20)	\
	X(zcrx_params, device, 24) X(zcrx_params, resv, 32)

static void check_layout(void)
{
	char name[80];

	if (sizeof(void *) != 8 || sizeof(long) != 8) {
		tap_skip("layout", "offsets are written down for LP64");
		return;
	}
	CHECK("sizeof_zcrx_256", sizeof(struct zcrx) == 256, "%zu",
	      sizeof(struct zcrx));
	CHECK("sizeof_zcrx_params_64", sizeof(struct zcrx_params) == 64, "%zu",
	      sizeof(struct zcrx_params));
#define X(s, f, off)							\
	snprintf(name, sizeof(name), "offset.%s.%s", #s, #f);		\
	CHECK(name, offsetof(struct s, f) == (off), "at %zu, was %d",	\
	      offsetof(struct s, f), (off));
	ZCRX_FIELDS(X)
#undef X
}

/* zcrx_init on device dev: the return, and that nothing stays open. */
static int init_on(const char *dev, struct zcrx *z)
{
	struct zcrx_params p = { .nr_bufs = 8, .device = dev };

	return zcrx_init(z, &p);
}

static void check_hint(const char *name, int err, const char *needle)
{
	const char *neg, *pos;

	err = err < 0 ? -err : err;
	neg = zcrx_strerror(-err);
	pos = zcrx_strerror(err);

	CHECK(name, neg && pos && !strcmp(neg, pos) && strstr(neg, needle),
	      "zcrx_strerror(-%s) = \"%s\", zcrx_strerror(%s) = \"%s\", no \"%s\"",
	      strerrorname_np(err), neg ? neg : "(null)", strerrorname_np(err),
	      pos ? pos : "(null)", needle);
}

static void check_resv(void)
{
	struct zcrx_params p = { .nr_bufs = 8, .device = "/nonexistent/zcrx" };
	struct zcrx z;
	unsigned int i;
	int bad = -1;

	/* Zero reserved space: the device is tried, and is not there. */
	CHECK_ERR("resv_zero_opens_device", zcrx_init(&z, &p), ENOENT);
	for (i = 0; i < sizeof(p.resv) / sizeof(p.resv[0]); i++) {
		p.resv[i] = 1u << i;
		if (zcrx_init(&z, &p) != -EINVAL || z.fd != -1)
			bad = (int)i;
		p.resv[i] = 0;
	}
	CHECK("resv_nonzero_einval", bad < 0, "resv[%d] != 0 was not refused", bad);
}

/* A file mode 0600 of root's, opened by uid 65534: EACCES. */
static void check_eacces(void)
{
	char path[] = "/tmp/zcrx-abi-XXXXXX";
	int fd = mkstemp(path), status = 0;
	pid_t pid;

	if (fd < 0) {
		CHECK("init_eacces", 0, "mkstemp: %s", strerror(errno));
		return;
	}
	close(fd);
	if (geteuid() != 0)
		chmod(path, 0);		/* unprivileged: a mode-0 file */
	pid = fork();
	if (pid == 0) {
		struct zcrx z;
		int ret;

		if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(100);
		ret = init_on(path, &z);
		_exit(ret == -EACCES && z.fd == -1 ? 0 : 101);
	}
	waitpid(pid, &status, 0);
	unlink(path);
	CHECK("init_eacces", WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "child status %d (100: cannot drop root, 101: not -EACCES)", status);
	check_hint("hint_eacces_udev_rule", EACCES, "udev rule");
}

int main(void)
{
	struct zcrx z;
	int ret;

	tap_set_group("abi");
	check_layout();
	check_resv();

	ret = init_on("/nonexistent/zcrx", &z);
	CHECK("init_enoent", ret == -ENOENT && z.fd == -1, "ret %d fd %d", ret, z.fd);
	check_hint("hint_enoent_modprobe", ret, "modprobe zcrx");
	check_hint("hint_enodev_modprobe", ENODEV, "modprobe zcrx");

	/* A character device that is not zcrx: its SETUP ioctl is unknown. */
	ret = init_on("/dev/null", &z);
	CHECK("init_enotty", ret == -ENOTTY && z.fd == -1, "ret %d fd %d", ret, z.fd);
	check_hint("hint_enotty_versions", ret, "different versions");

	check_eacces();
	check_hint("hint_enomem_memlock", ENOMEM, "ulimit -l");
	check_hint("hint_eperm_policy", EPERM, "device cgroup");
	check_hint("hint_einval_params", EINVAL, "reserved field");
	check_hint("hint_e2big", E2BIG, "4 GiB");
	CHECK("strerror_fallback", !strcmp(zcrx_strerror(-EISDIR), strerror(EISDIR)),
	      "\"%s\"", zcrx_strerror(-EISDIR));
	CHECK("strerror_unknown_not_null", zcrx_strerror(-100000) != NULL &&
	      zcrx_strerror(-2147483647 - 1) != NULL, "NULL");
	return tap_exit();
}
